import { availableParallelism } from 'node:os';

/**
 * Imported first by the worker's entry point, before the worker does any work
 * (npm packages load earlier, as esbuild keeps them imports, but none of them
 * starts libuv's thread pool, whose size is read once, when it starts): CloudFront signatures
 * run there, so it gets a thread per core, never fewer than libuv's default 4
 * (files and DNS lookups share it). An explicit UV_THREADPOOL_SIZE wins.
 */
process.env['UV_THREADPOOL_SIZE'] ??= String(Math.max(4, availableParallelism()));
