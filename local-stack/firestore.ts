import { createRequire } from 'node:module';
import { FirestoreServer } from '@firestore-emulator/server';
import { freePort } from './ports.js';

export interface FirestoreEmulatorOptions {
  projectId?: string;
  port?: number;
}

export interface FirestoreEmulator {
  /** '127.0.0.1:port', for Firestore `settings({ host, ssl: false })` or FIRESTORE_EMULATOR_HOST */
  host: string;
  projectId: string;
  stop(): Promise<void>;
}

/** The parts of @grpc/grpc-js's Server we use. */
interface GrpcServer {
  bindAsync(address: string, credentials: unknown, callback: (error: Error | null, port: number) => void): void;
  forceShutdown(): void;
}

interface GrpcModule {
  ServerCredentials: { createInsecure(): unknown };
}

/**
 * FirestoreServer.start() binds 0.0.0.0, so bind its (private) gRPC server ourselves. The credentials must come from
 * the very copy of @grpc/grpc-js the emulator uses (it has its own nested version): bindAsync checks `instanceof`.
 */
const emulatorRequire = createRequire(createRequire(import.meta.url).resolve('@firestore-emulator/server'));
const grpc = emulatorRequire('@grpc/grpc-js') as GrpcModule;

/** Starts the in-process Firestore emulator (gRPC) on 127.0.0.1. State lives in memory and is lost on stop. */
export async function startFirestoreEmulator(opts: FirestoreEmulatorOptions = {}): Promise<FirestoreEmulator> {
  const projectId = opts.projectId ?? 'demo-campaigns';
  const port = opts.port ?? (await freePort());
  const emulator = new FirestoreServer();
  const server: unknown = Reflect.get(emulator, 'server');
  if (typeof server !== 'object' || server === null || !('bindAsync' in server)) {
    throw new Error('@firestore-emulator/server internals changed: no gRPC server to bind');
  }
  const grpcServer = server as GrpcServer;
  await new Promise<void>((resolve, reject) => {
    grpcServer.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err) => {
      if (err) {
        grpcServer.forceShutdown();
        reject(new Error(`Firestore emulator could not bind 127.0.0.1:${port}: ${err.message}`));
      } else {
        resolve();
      }
    });
  });

  return {
    host: `127.0.0.1:${port}`,
    projectId,
    // forceShutdown: clients keep HTTP/2 connections open, which a graceful tryShutdown would wait for.
    stop: () => {
      grpcServer.forceShutdown();
      return Promise.resolve();
    },
  };
}
