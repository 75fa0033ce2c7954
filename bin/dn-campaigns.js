#!/usr/bin/env node
// Runs the TypeScript CLI through tsx, so `npx dn-campaigns ...` works without a build step.
import { register } from 'tsx/esm/api';

register();
const { runCli } = await import('../client/cli.ts');
process.exitCode = await runCli(process.argv);
