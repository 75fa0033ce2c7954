/**
 * `npm run build:workflows [-- out]`: bundles workflows/ (with their tracing interceptors) once, so
 * workers start fast and without webpack's memory peak (set WORKFLOW_BUNDLE_PATH to the output).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { bundleWorkflowsWith, workflowInterceptorModules, workflowsPath } from '../worker/worker.js';

export async function bundleWorkflows(outPath: string): Promise<string> {
  const { code } = await bundleWorkflowCode({ workflowsPath, workflowInterceptorModules, ...bundleWorkflowsWith, logger: new DefaultLogger('WARN') });
  mkdirSync(dirname(outPath), { recursive: true });
  writeFileSync(outPath, code);
  return outPath;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const out = resolve(process.argv[2] ?? 'dist/workflow-bundle.js');
  console.log(`workflow bundle written to ${await bundleWorkflows(out)}`);
}
