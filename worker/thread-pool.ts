import { availableParallelism } from 'node:os';

/**
 * Imported first by the worker's entry point, before anything can start libuv's
 * thread pool (its size is read once, when it starts): CloudFront signatures
 * run there, so it gets a thread per core, never fewer than libuv's default 4
 * (files and DNS lookups share it). An explicit UV_THREADPOOL_SIZE wins.
 */
process.env['UV_THREADPOOL_SIZE'] ??= String(Math.max(4, availableParallelism()));
