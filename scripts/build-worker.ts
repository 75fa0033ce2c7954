/**
 * `npm run build:worker`: the worker process as one plain JavaScript file,
 * dist/worker.js (packages stay in node_modules), which `npm run worker` and
 * the Docker image run with node alone. Run through tsx instead, every worker
 * would carry tsx's loader thread and transpile at start: about 20 MB more RSS.
 */
import { renameSync, writeFileSync, mkdirSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const entry = fileURLToPath(new URL('../worker/main.ts', import.meta.url));
/** At the project's root level, so worker/worker.ts still finds ../workflows from it. */
export const workerOutfile = fileURLToPath(new URL('../dist/worker.js', import.meta.url));

/**
 * Builds the worker. Each file is written whole and renamed into place, so a
 * worker starting meanwhile (another test process, a benchmark) never reads
 * half a file.
 */
export async function buildWorker(outfile = workerOutfile): Promise<string> {
  const { outputFiles } = await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    packages: 'external',
    platform: 'node',
    format: 'esm',
    target: 'node20',
    sourcemap: 'linked',
    keepNames: true,
    write: false,
    logLevel: 'warning',
  });
  mkdirSync(dirname(outfile), { recursive: true });
  for (const file of outputFiles) {
    const partial = `${file.path}.${process.pid}.partial`;
    writeFileSync(partial, file.contents);
    renameSync(partial, file.path);
  }
  return outfile;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(`${basename(await buildWorker())} built in ${dirname(workerOutfile)}`);
}
