import { DefaultLogger, type LogEntry, type LogLevel } from '@temporalio/worker';
import { pino, type Logger } from 'pino';

export function createLogger(level: string, name = 'campaigns'): Logger {
  return pino({ name, level });
}

const pinoLevel: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
};

/** Routes the Temporal SDK's logs (worker, workflows, activities) into pino. */
export function temporalLogger(logger: Logger): DefaultLogger {
  const level = logger.level === 'silent' ? 'ERROR' : (logger.level.toUpperCase() as LogLevel);
  const known = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'].includes(level) ? level : 'INFO';
  return new DefaultLogger(known, (entry: LogEntry) => {
    logger[pinoLevel[entry.level]](entry.meta ?? {}, entry.message);
  });
}
