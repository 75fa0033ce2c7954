import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

/**
 * The image runs the worker, the API and the CLI from the sources the Dockerfile copies: every
 * folder their imports reach must be copied (there is no Docker engine here to build it).
 */

const root = fileURLToPath(new URL('../..', import.meta.url));
const ENTRY_POINTS = ['worker/main.ts', 'api/main.ts', 'client/cli.ts', 'scripts/bundle-workflows.ts', 'scripts/build-worker.ts', 'workflows/index.ts'];

function localImports(file: string): string[] {
  const text = readFileSync(join(root, file), 'utf8');
  return [...text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)].map((m) => {
    const target = normalize(join(dirname(file), m[1] ?? '')).replace(/\.js$/, '');
    for (const candidate of [`${target}.ts`, `${target}.tsx`, `${target}/index.ts`]) {
      try {
        readFileSync(join(root, candidate));
        return candidate;
      } catch {
        // try the next
      }
    }
    return `${target}.ts`;
  });
}

test('the Dockerfile copies every source folder the worker, API and CLI import', () => {
  const seen = new Set<string>();
  const queue = [...ENTRY_POINTS];
  while (queue.length > 0) {
    const file = queue.pop() as string;
    if (seen.has(file)) continue;
    seen.add(file);
    queue.push(...localImports(file));
  }
  const folders = new Set([...seen].map((file) => relative(root, join(root, file)).split('/')[0] ?? ''));
  const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
  const copied = new Set([...dockerfile.matchAll(/^COPY (\S+) \.\/(\S+)$/gm)].map((m) => m[1] ?? ''));
  const scripts = [...dockerfile.matchAll(/^COPY ((?:scripts\/\S+ )+)\.\/scripts\/$/gm)].flatMap((m) => (m[1] ?? '').trim().split(' '));
  const missing = [...folders].filter((folder) => folder !== 'scripts' && !copied.has(folder));
  assert.deepEqual(missing, [], `folders imported but not copied into the image`);
  const neededScripts = [...seen].filter((file) => file.startsWith('scripts/'));
  assert.deepEqual(neededScripts.filter((file) => !scripts.includes(file)), []);
  assert.match(dockerfile, /^FROM node:(22|24)-/m, 'a supported Node LTS');
});
