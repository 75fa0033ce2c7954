import { readFileSync } from 'node:fs';
import { startHarness } from '../helpers/harness.js';
const h = await startHarness({ settings: { LOG_LEVEL: 'warn' } });
try {
  const w = await h.spawnWorker();
  await new Promise((r) => setTimeout(r, 3000));
  const s = readFileSync(`/proc/${w.process.pid}/status`, 'utf8');
  console.log(s.split('\n').filter((l) => /Vm(HWM|RSS)|Rss/.test(l)).join('\n'));
  await w.stop();
} finally { await h.stop(); }
