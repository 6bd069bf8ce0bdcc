/**
 * End-to-end benchmarks: our client against Microsoft's device SDK (azure-iot-device + azure-iot-device-mqtt) and
 * raw MQTT.js 5, against the same emulator over TLS on loopback. Writes the e2e section of `bench/RESULTS.md`.
 *
 *   npm run bench:e2e                                  every group (a few minutes), rewrites the e2e section
 *   BENCH_E2E_GROUPS=throughput npm run bench:e2e      some groups only: prints the section, leaves RESULTS.md alone
 *   BENCH_E2E_PROFILE=/tmp/prof npm run bench:e2e      CPU profiles of every worker and of the emulator
 *   BENCH_E2E_RERENDER=1 npm run bench:e2e             render the last run's raw results (.tmp/bench-e2e/results.json)
 *                                                      into RESULTS.md again, without measuring
 *
 * Every setting is in config.ts. The emulator runs in its own process (emulator-process.ts) and every case in a
 * fresh worker process (worker.ts), so that `process.cpuUsage()` in the worker is the client's CPU alone.
 */
import { execSync } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeSection } from '../lib/results-file.js';
import { envOverrides, GROUPS, readConfig } from './config.js';
import { bundle, coldImport, installedSize, packedSize, runBundle, type Footprint } from './footprint.js';
import { buildPrograms, EmulatorProcess, OUT_DIR, runWorker } from './lib/processes.js';
import type { LatencyResult, RegisteredBenchDevice, RoundTripResult, ScaleResult, SideName, ThroughputResult } from './lib/types.js';
import { renderE2e, type E2eResults, type ThroughputCase } from './report.js';

const config = readConfig();
const rawFile = join(OUT_DIR, 'results.json');
// BENCH_E2E_RERENDER=1: render the last run's raw results again (after a change to report.ts), without measuring.
if (process.env['BENCH_E2E_RERENDER'] === '1') {
  const raw = JSON.parse(await readFile(rawFile, 'utf8')) as E2eResults & { startedAt: string; overrides: string[] };
  const file = fileURLToPath(new URL('../RESULTS.md', import.meta.url));
  await writeSection(file, 'e2e', renderE2e({ ...raw, startedAt: new Date(raw.startedAt) }, raw.overrides));
  console.log(`re-rendered the e2e section of ${file} from ${rawFile}`);
  process.exit(0);
}
const startedAt = new Date();
const t0 = performance.now();
const loadBefore = loadavg();
const results: E2eResults = {
  config,
  startedAt,
  seconds: 0,
  loadBefore,
  loadAfter: loadBefore,
  openFiles: openFileLimit(),
  throughput: [],
  connect: {},
  roundtrip: {},
  scale: [],
  errors: [],
};

function openFileLimit(): string {
  try {
    return execSync('ulimit -n', { shell: '/bin/sh', encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

function log(line: string): void {
  console.log(`[${((performance.now() - t0) / 1000).toFixed(0).padStart(4)} s] ${line}`);
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message.split('\n')[0]! : String(err);
}

const wants = (g: (typeof GROUPS)[number]): boolean => config.groups.includes(g);
if (config.profileDir !== undefined) await mkdir(config.profileDir, { recursive: true });
const programs = await buildPrograms();
const emu = await EmulatorProcess.start(programs.emulator, config.profileDir);
log(`emulator on ${emu.info.address}:${emu.info.port} (pid ${String(emu.child.pid)})`);
const workerOptions = (timeoutMs: number): { timeoutMs: number; profileDir?: string } =>
  config.profileDir === undefined ? { timeoutMs } : { timeoutMs, profileDir: config.profileDir };

try {
  if (wants('throughput')) {
    const cases: ThroughputCase[] = [];
    for (const qos of [1, 0] as const) {
      for (const payloadBytes of [256, 4096]) {
        const sides: SideName[] = qos === 1 ? ['ours', 'sdk', 'mqttjs'] : ['ours', 'mqttjs']; // the SDK sends QoS 1 only
        for (const side of sides) {
          const c: ThroughputCase = { side, payloadBytes, qos, rounds: [] };
          cases.push(c);
          results.throughput.push(c);
        }
      }
    }
    // Rounds interleave the sides, so that a noisy moment on the shared machine does not hit one side only.
    for (let round = 0; round < config.rounds; round++) {
      for (const c of cases) {
        try {
          const r = await runWorker<ThroughputResult>(programs.worker, {
            kind: 'throughput', side: c.side, payloadBytes: c.payloadBytes, qos: c.qos, inFlight: config.inFlight,
            warmupSeconds: config.warmupSeconds, seconds: config.seconds,
          }, emu, workerOptions(60_000 + (config.seconds + config.warmupSeconds) * 1000));
          c.rounds.push(r);
          log(`throughput ${c.side} ${c.payloadBytes} B QoS ${c.qos} round ${round + 1}: ${Math.round(r.messagesPerSecond)} msg/s, ` +
            `${r.cpuMicrosPerMessage.toFixed(2)} us/msg, emulator ${r.emulatorCores.toFixed(2)} cores`);
        } catch (err) {
          c.error = errorText(err);
          log(`throughput ${c.side} ${c.payloadBytes} B QoS ${c.qos}: FAILED ${c.error}`);
        }
      }
    }
  }

  if (wants('connect')) {
    for (const side of ['ours', 'sdk', 'mqttjs'] as const) {
      try {
        const r = await runWorker<LatencyResult>(programs.worker, { kind: 'connect', side, samples: config.connectSamples, warmup: 5 }, emu,
          workerOptions(300_000));
        results.connect[side] = r.samples;
        log(`connect-to-ready ${side}: ${r.samples.length} samples`);
      } catch (err) {
        results.errors.push(`connect ${side}: ${errorText(err)}`);
        log(`connect ${side}: FAILED ${errorText(err)}`);
      }
    }
  }

  if (wants('roundtrip')) {
    for (const side of ['ours', 'sdk'] as const) {
      try {
        results.roundtrip[side] = await runWorker<RoundTripResult>(programs.worker, { kind: 'roundtrip', side, samples: config.rttSamples, warmup: 20 },
          emu, workerOptions(300_000));
        log(`round trips ${side}: done`);
      } catch (err) {
        results.errors.push(`round trips ${side}: ${errorText(err)}`);
        log(`round trips ${side}: FAILED ${errorText(err)}`);
      }
    }
  }

  if (wants('scale')) {
    for (const devices of config.scale) {
      for (const side of ['ours', 'sdk', 'tls'] as const) {
        if (side === 'sdk' && devices > config.sdkMaxDevices) continue;
        if (side === 'tls' && devices < 100) continue; // the floor matters where per-device costs dominate
        const connectTimeoutMs = Math.max(60_000, devices * 120);
        try {
          const r = await runWorker<ScaleResult>(programs.worker, {
            kind: 'scale', side, devices, connectConcurrency: config.connectConcurrency, loadSeconds: side === 'tls' ? 0 : config.scaleSeconds,
            payloadBytes: 256, connectTimeoutMs,
          }, emu, workerOptions(connectTimeoutMs * 2 + config.scaleSeconds * 1000 + 120_000));
          results.scale.push({ side, devices, result: r });
          const perDevice = (r.idle.rss - r.baseline.rss) / Math.max(1, r.connected) / 1024;
          log(`scale ${side} ${devices} devices: ${r.connected} connected in ${r.connectSeconds.toFixed(1)} s, ` +
            `${perDevice.toFixed(0)} KiB RSS per idle device${r.load ? `, p99 ack ${r.load.ackP99.toFixed(2)} ms, ${r.load.clientCores.toFixed(3)} cores` : ''}` +
            `${r.error ? ` (${r.error})` : ''}`);
        } catch (err) {
          results.scale.push({ side, devices, error: errorText(err) });
          log(`scale ${side} ${devices}: FAILED ${errorText(err)}`);
        }
      }
    }
  }

  if (wants('footprint')) {
    const fp: Partial<Footprint> = {};
    try {
      fp.ours = packedSize();
    } catch (err) {
      fp.oursError = errorText(err);
    }
    fp.sdk = installedSize(['azure-iot-device', 'azure-iot-device-mqtt']);
    fp.mqttjs = installedSize(['mqtt']);
    const here = fileURLToPath(new URL('./', import.meta.url));
    const root = fileURLToPath(new URL('../../', import.meta.url));
    const oursFile = join(OUT_DIR, 'bundle-ours.mjs');
    const sdkFile = join(OUT_DIR, 'bundle-sdk.mjs');
    const ours = await bundle(join(here, 'bundle', 'ours.ts'), 'node', oursFile);
    const sdk = await bundle(join(here, 'bundle', 'sdk.ts'), 'node', sdkFile);
    const codec = await bundle(join(root, 'src', 'codec', 'index.ts'), 'neutral', join(OUT_DIR, 'bundle-codec.mjs'));
    // Run both bundles against the emulator: the sizes are of programs that work.
    const [a, b] = await emu.request<RegisteredBenchDevice[]>('register', { prefix: `bundle-${process.pid}`, count: 2 });
    const ranOurs = runBundle(oursFile, {
      HUB_HOST: emu.info.host, HUB_ADDRESS: emu.info.address, HUB_PORT: String(emu.info.port), DEVICE_ID: a!.deviceId,
      SAS_KEY: a!.primaryKey, CA_PEM: emu.info.ca,
    });
    ours.ran = ranOurs.ok;
    if (ranOurs.error !== undefined) ours.error = ranOurs.error;
    const ranSdk = runBundle(sdkFile, { CONNECTION_STRING: b!.connectionString, CA_PEM: emu.info.ca });
    sdk.ran = ranSdk.ok;
    if (ranSdk.error !== undefined) sdk.error = ranSdk.error;
    fp.bundles = { ours, sdk, codec };
    log(`bundles: ours ${ours.minifiedBytes} B (${ours.gzipBytes} gz, ran: ${String(ours.ran)}), sdk ${sdk.minifiedBytes} B (ran: ${String(sdk.ran)}), codec ${codec.minifiedBytes} B`);
    if (fp.ours !== undefined) {
      try {
        fp.cold = await coldImport(config.coldSamples);
        log(`cold import: baseline ${fp.cold.baselineMs.toFixed(1)} ms, ours ${fp.cold.oursMs.toFixed(1)} ms, sdk ${fp.cold.sdkMs.toFixed(1)} ms`);
      } catch (err) {
        fp.coldError = errorText(err);
      }
    } else {
      fp.coldError = 'not measured: the build (npm pack) failed';
    }
    results.footprint = fp as Footprint;
  }
} finally {
  await emu.close();
}

results.seconds = (performance.now() - t0) / 1000;
results.loadAfter = loadavg();
await writeFile(rawFile, JSON.stringify({ ...results, overrides: envOverrides() }, null, 1));
const markdown = renderE2e(results, envOverrides());
const all = GROUPS.every((g) => config.groups.includes(g));
if (all) {
  const file = fileURLToPath(new URL('../RESULTS.md', import.meta.url));
  await writeSection(file, 'e2e', markdown);
  log(`wrote the e2e section of ${file}`);
} else {
  console.log(`\n${markdown}`);
}
