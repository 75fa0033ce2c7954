import type { Client } from '@temporalio/client';
import { Worker } from '@temporalio/worker';

export interface ReplayReport {
  /** Workflow runs replayed. */
  replayed: number;
  /** `workflowId (runId): error` for each run that did not replay. */
  failures: string[];
}

/**
 * Replays every run of every workflow the Temporal server holds (running ones
 * up to where they are) through the current workflow code: any
 * nondeterminism a test provoked — kills while queries ran, restarts, races —
 * shows up here, and not first in production.
 */
export async function replayEveryHistory(client: Client, workflowBundlePath: string): Promise<ReplayReport> {
  async function* histories() {
    for await (const execution of client.workflow.list()) {
      const history = await client.workflow.getHandle(execution.workflowId, execution.runId).fetchHistory();
      yield { workflowId: `${execution.workflowId} (${execution.runId})`, history };
    }
  }
  const report: ReplayReport = { replayed: 0, failures: [] };
  for await (const result of Worker.runReplayHistories({ workflowBundle: { codePath: workflowBundlePath } }, histories())) {
    report.replayed++;
    if (result.error) report.failures.push(`${result.workflowId}: ${String(result.error)}`);
  }
  return report;
}
