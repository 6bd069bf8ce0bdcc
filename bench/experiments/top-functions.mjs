// Summarise a .cpuprofile: self time per function (name, file:line) and per line, highest first.
//   node bench/experiments/top-functions.mjs <file.cpuprofile | directory> [rows]
// Given a directory (--cpu-prof-dir), it reads the profile with the most samples (tsx adds a loader thread's).
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const arg = process.argv[2];
const files = statSync(arg).isDirectory()
  ? readdirSync(arg).filter((f) => f.endsWith('.cpuprofile')).map((f) => join(arg, f))
  : [arg];
const profile = files
  .map((f) => JSON.parse(readFileSync(f, 'utf8')))
  .sort((a, b) => b.samples.length - a.samples.length)[0];
const self = new Map();
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const dt = profile.timeDeltas;
let total = 0;
for (let i = 0; i < profile.samples.length; i++) {
  const node = byId.get(profile.samples[i]);
  const cf = node.callFrame;
  const key = `${cf.functionName || '(anonymous)'}  ${cf.url.split('/').slice(-2).join('/')}:${cf.lineNumber + 1}`;
  self.set(key, (self.get(key) ?? 0) + (dt[i] ?? 0));
  total += dt[i] ?? 0;
}
for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, Number(process.argv[3] ?? 20))) {
  console.log(`${((100 * v) / total).toFixed(1).padStart(5)}%  ${k}`);
}

// Hot lines (positionTicks), when the profile has them.
const lines = new Map();
for (const n of profile.nodes) {
  for (const t of n.positionTicks ?? []) {
    const key = `${n.callFrame.functionName || '(anonymous)'}  ${n.callFrame.url.split('/').slice(-1)[0]}:${t.line}`;
    lines.set(key, (lines.get(key) ?? 0) + t.ticks);
  }
}
const tickTotal = [...lines.values()].reduce((a, b) => a + b, 0);
if (tickTotal > 0) {
  console.log('--- hot lines');
  for (const [k, v] of [...lines].sort((a, b) => b[1] - a[1]).slice(0, Number(process.argv[3] ?? 20))) {
    console.log(`${((100 * v) / tickTotal).toFixed(1).padStart(5)}%  ${k}`);
  }
}
