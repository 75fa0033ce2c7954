import type { Client } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import { workflowCode } from '../../worker/worker.js';

export interface ReplayReport {
  /** Workflow runs replayed. */
  replayed: number;
  /** `workflowId (runId): error` for each run that did not replay. */
  failures: string[];
  /** `workflowId (runId): needle` for each run whose history holds one of the needles. */
  mentions: string[];
}

/** Every text a history holds: payloads (decoded), failure messages, summaries. */
export function textsOf(value: unknown, into: string[] = []): string[] {
  if (typeof value === 'string') into.push(value);
  else if (value instanceof Uint8Array) into.push(Buffer.from(value).toString('utf8'));
  else if (Array.isArray(value)) for (const item of value) textsOf(item, into);
  else if (typeof value === 'object' && value !== null) for (const item of Object.values(value)) textsOf(item, into);
  return into;
}

/**
 * Replays every run of every workflow the Temporal server holds (running ones
 * up to where they are) through the current workflow code: any
 * nondeterminism a test provoked — kills while queries ran, restarts, races —
 * shows up here, and not first in production.
 */
export async function replayEveryHistory(client: Client, workflowBundlePath: string, needles: readonly string[] = []): Promise<ReplayReport> {
  const report: ReplayReport = { replayed: 0, failures: [], mentions: [] };
  const wanted = new Set(needles.map((n) => n.toLowerCase()));
  async function* histories() {
    for await (const execution of client.workflow.list()) {
      const history = await client.workflow.getHandle(execution.workflowId, execution.runId).fetchHistory();
      const workflowId = `${execution.workflowId} (${execution.runId})`;
      if (wanted.size > 0) {
        const text = textsOf(history.events).join('\n').toLowerCase();
        const found = new Set([...text.matchAll(/[a-z0-9._%+-]+@[a-z0-9.-]+/g)].map((m) => m[0].replace(/\.+$/, '')).filter((e) => wanted.has(e)));
        for (const address of found) report.mentions.push(`${workflowId}: ${address}`);
      }
      yield { workflowId, history };
    }
  }
  for await (const result of Worker.runReplayHistories(workflowCode(workflowBundlePath), histories())) {
    report.replayed++;
    if (result.error) report.failures.push(`${result.workflowId}: ${String(result.error)}`);
  }
  return report;
}
