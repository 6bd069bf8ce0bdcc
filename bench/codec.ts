/**
 * Codec benchmarks: our MQTT 3.1.1 codec against mqtt-packet 9 (MQTT.js 5), mqtt-packet 6.10 (Microsoft's
 * azure-iot-device-mqtt) and an ideal framer, in one run. Writes `bench/RESULTS.md`.
 *
 *   npm run bench                      every group, rewrites the codec section of bench/RESULTS.md
 *   BENCH_FILTER=decode npm run bench  only groups whose title matches the regular expression (prints the tables,
 *                                      leaves RESULTS.md alone)
 *   BENCH_MAX_TIME=3 BENCH_MIN_SAMPLES=20 npm run bench   longer sampling on a noisy machine
 *   BENCH_CODEC=path/index.ts npm run bench   measure another build of the codec as "ours"; prints the tables
 *                                             instead of writing RESULTS.md
 *
 * Each group runs in a fresh child process (lib/run-group.ts), so that no group inherits the JIT state or the heap
 * of the ones before it. Every case checks after each operation that all packets (and payload bytes) came out, and
 * before measuring, both libraries' outputs are compared, so that every side does the same work.
 */
import { fork } from 'node:child_process';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { SLOW_SAMPLING, allGroups, baselineNames } from './lib/groups.js';
import { renderResults } from './lib/report.js';
import { writeSection } from './lib/results-file.js';
import type { Row } from './lib/report.js';
import type { GroupResult } from './lib/run-group.js';
import type { Measured, Sampling } from './lib/run.js';

const sampling: Sampling = {
  minSamples: Number(process.env['BENCH_MIN_SAMPLES'] ?? 10),
  maxTime: Number(process.env['BENCH_MAX_TIME'] ?? 1.5),
  minTime: 0.05,
};
const filter = process.env['BENCH_FILTER'] ? new RegExp(process.env['BENCH_FILTER'], 'i') : undefined;
const root = fileURLToPath(new URL('../', import.meta.url));
const child = fileURLToPath(new URL('./lib/run-group.ts', import.meta.url));

function measure(index: number): Promise<Measured[]> {
  return new Promise((resolve, reject) => {
    const proc = fork(child, [String(index), JSON.stringify(sampling)], { cwd: root, execArgv: ['--import', 'tsx'] });
    let result: GroupResult | undefined;
    proc.on('message', (msg) => {
      result = msg as GroupResult;
    });
    proc.on('error', reject);
    proc.on('exit', (code) => {
      if (result?.ok === true) resolve(result.results);
      else reject(new Error(result?.ok === false ? result.error : `group ${index} exited with code ${String(code)}`));
    });
  });
}

const rows: Row[] = [];
const loadBefore = loadavg();
const startedAt = new Date();
const t0 = performance.now();
const groups = allGroups();
for (let i = 0; i < groups.length; i++) {
  const group = groups[i]!;
  if (filter !== undefined && !filter.test(group.title)) continue;
  const results = await measure(i);
  rows.push({ ...group.row, results: new Map(results.map((m) => [m.name, m])) });
}
const seconds = (performance.now() - t0) / 1000;

const markdown = renderResults(rows, {
  startedAt,
  seconds,
  sampling,
  slowSampling: SLOW_SAMPLING,
  loadBefore,
  loadAfter: loadavg(),
  baselines: baselineNames(),
});
if (filter === undefined && process.env['BENCH_CODEC'] === undefined) {
  const file = fileURLToPath(new URL('./RESULTS.md', import.meta.url));
  await writeSection(file, 'codec', markdown); // the e2e benchmark owns the other section
  console.log(`\nwrote ${file} (${seconds.toFixed(0)} s)`);
} else {
  console.log(`\n${markdown}`);
}
