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

test('the Dockerfile copies every source file the worker, API and CLI import', () => {
  const seen = new Set<string>();
  const queue = [...ENTRY_POINTS];
  while (queue.length > 0) {
    const file = queue.pop() as string;
    if (seen.has(file)) continue;
    seen.add(file);
    queue.push(...localImports(file));
  }
  const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
  // Every source of every COPY line (the last word is the destination): folders and single files.
  const sources = [...dockerfile.matchAll(/^COPY (.+)$/gm)].flatMap((m) => (m[1] ?? '').trim().split(/\s+/).slice(0, -1));
  const inImage = (file: string) => sources.some((source) => file === source || file.startsWith(`${source.replace(/\/$/, '')}/`));
  const missing = [...seen].map((file) => relative(root, join(root, file))).filter((file) => !inImage(file));
  assert.deepEqual(missing, [], 'files imported but not copied into the image');
  assert.match(dockerfile, /^FROM node:(22|24)-/m, 'a supported Node LTS');
});
