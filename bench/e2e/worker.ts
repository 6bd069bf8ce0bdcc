/**
 * One benchmark case for one side, in a fresh process (forked by bench/e2e/main.ts with `--expose-gc`): no case
 * inherits the JIT state, heap or sockets of another, and `process.cpuUsage()` here is the client's CPU alone (the
 * emulator runs in its own process).
 */
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import { IpcPeer } from './lib/ipc.js';
import { median, sleep } from './lib/stats.js';
import type {
  ConnectSpec,
  EmulatorInfo,
  LatencyResult,
  MemorySnapshot,
  RegisteredBenchDevice,
  RoundTripResult,
  RoundTripSpec,
  ScaleResult,
  ScaleSpec,
  SideName,
  ThroughputResult,
  ThroughputSpec,
  UsageSnapshot,
  WorkerSpec,
} from './lib/types.js';
import type { BenchClient, Side } from './sides/side.js';
import { PING_METHOD, payloadOf } from './sides/side.js';

const parent = new IpcPeer(process);
let runCounter = 0;

function emulator<T>(op: string, args: unknown = null): Promise<T> {
  return parent.request<T>('emulator', { op, args });
}

async function loadSide(name: SideName): Promise<Side> {
  if (name === 'ours') return (await import('./sides/ours.js')).ours;
  if (name === 'tls') return (await import('./sides/tls-floor.js')).tlsFloor;
  // Our client sets TCP_NODELAY on its sockets; the other libraries do not. On loopback Nagle's algorithm would add
  // ~40 ms to their round trips, so switch it off for them too (both look up `tls.connect` at call time).
  const tls = createRequire(import.meta.url)('node:tls') as { connect: (...args: unknown[]) => Socket };
  const connect = tls.connect;
  tls.connect = function noDelayConnect(this: unknown, ...args: unknown[]): Socket {
    const socket = connect.apply(this, args);
    socket.setNoDelay(true);
    return socket;
  };
  if (name === 'sdk') return (await import('./sides/sdk.js')).sdk;
  return (await import('./sides/mqttjs.js')).mqttjs;
}

async function devices(side: SideName, what: string, count: number): Promise<RegisteredBenchDevice[]> {
  return emulator<RegisteredBenchDevice[]>('register', { prefix: `${side}-${what}-${process.pid}-${++runCounter}`, count });
}

function cpuMicros(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

function cores(cpuDeltaMicros: number, wallDeltaMs: number): number {
  return cpuDeltaMicros / (wallDeltaMs * 1000);
}

function memory(): MemorySnapshot {
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers };
}

async function settledMemory(): Promise<MemorySnapshot> {
  const gc = (globalThis as { gc?: () => void }).gc;
  for (let i = 0; i < 3; i++) {
    gc?.();
    await sleep(50);
  }
  return memory();
}

// ---------------------------------------------------------------------------------------------------------------
// Throughput: one device, a closed loop keeping `inFlight` sends outstanding.

async function throughput(spec: ThroughputSpec, emu: EmulatorInfo): Promise<ThroughputResult> {
  const side = await loadSide(spec.side);
  const [device] = await devices(spec.side, 'tp', 1);
  const client = await side.connect(device!, emu, { inFlight: spec.inFlight });
  const payload = payloadOf(spec.payloadBytes);
  const qos = spec.qos;
  let running = true;
  let completed = 0;
  let observedInFlight = -1;
  const loop = async (): Promise<void> => {
    while (running) {
      await client.send(payload, qos);
      completed++;
      if ((completed & 127) === 0) observedInFlight = Math.max(observedInFlight, client.inFlight());
    }
  };
  let loops: Promise<void>[] = [];
  const start = (): void => {
    running = true;
    loops = Array.from({ length: spec.inFlight }, loop);
  };
  // QoS 0 is "done" when written, not when the hub has it: stop, let every loop finish, then one QoS 1 message
  // whose PUBACK proves the hub processed everything before it (one TCP stream, handled in order).
  const quiesce = async (): Promise<void> => {
    running = false;
    await Promise.all(loops);
    await client.send(payload, 1);
  };
  start();
  await sleep(spec.warmupSeconds * 1000);
  if (qos === 0) {
    await quiesce();
    start();
  }
  const e0 = await emulator<UsageSnapshot>('usage');
  const c0 = completed;
  const cpu0 = cpuMicros();
  const t0 = performance.now();
  await sleep(spec.seconds * 1000);
  if (qos === 0) await quiesce();
  const c1 = completed;
  const cpu1 = cpuMicros();
  const t1 = performance.now();
  const e1 = await emulator<UsageSnapshot>('usage');
  running = false;
  await Promise.all(loops);
  await client.close();
  const messages = c1 - c0;
  const seconds = (t1 - t0) / 1000;
  const result: ThroughputResult = {
    messagesPerSecond: messages / seconds,
    cpuMicrosPerMessage: (cpu1 - cpu0) / messages,
    clientCores: cores(cpu1 - cpu0, t1 - t0),
    emulatorCores: cores(e1.cpuMicros - e0.cpuMicros, e1.wallMs - e0.wallMs),
    messages,
    seconds,
  };
  if (observedInFlight >= 0) result.observedInFlight = observedInFlight;
  return result;
}

// ---------------------------------------------------------------------------------------------------------------
// Connect to ready, sequentially, a fresh client each time.

async function connectLatency(spec: ConnectSpec, emu: EmulatorInfo): Promise<LatencyResult> {
  const side = await loadSide(spec.side);
  const all = await devices(spec.side, 'conn', spec.warmup + spec.samples);
  const samples: number[] = [];
  for (let i = 0; i < all.length; i++) {
    const t0 = performance.now();
    const client = await side.connect(all[i]!, emu, { inFlight: 32 });
    const dt = performance.now() - t0;
    if (i >= spec.warmup) samples.push(dt);
    await client.close();
  }
  return { samples };
}

// ---------------------------------------------------------------------------------------------------------------
// Round trips: twin reported update (timed here), direct method (timed by the emulator, the service side).

async function roundTrips(spec: RoundTripSpec, emu: EmulatorInfo): Promise<RoundTripResult> {
  const side = await loadSide(spec.side);
  const [device] = await devices(spec.side, 'rt', 1);
  const client = await side.connect(device!, emu, { inFlight: 32 });
  const twinReported: number[] = [];
  for (let i = 0; i < spec.warmup + spec.samples; i++) {
    const t0 = performance.now();
    await client.updateReported({ seq: i, temperature: 21.5 });
    const dt = performance.now() - t0;
    if (i >= spec.warmup) twinReported.push(dt);
  }
  const method = await emulator<number[]>('invokeMethods', { deviceId: device!.deviceId, name: PING_METHOD, count: spec.warmup + spec.samples });
  await client.close();
  return { twinReported, method: method.slice(spec.warmup) };
}

// ---------------------------------------------------------------------------------------------------------------
// Scale: N devices in this process; idle memory, then one message per second per device.

async function scale(spec: ScaleSpec, emu: EmulatorInfo): Promise<ScaleResult> {
  const side = await loadSide(spec.side);
  const all = await devices(spec.side, `scale${spec.devices}`, spec.devices);
  const payload = payloadOf(spec.payloadBytes);
  // Warm up with as many devices as are connected at once below, connected and closed: the baseline then holds the
  // loaded modules, the compiled code and the heap's working size (V8 grows its young generation under the
  // allocation burst of concurrent connects), so that the difference is the devices' own memory.
  const warmCount = Math.min(spec.connectConcurrency, spec.devices);
  const warm = await devices(spec.side, 'warm', warmCount);
  const warmClients = await Promise.all(warm.map((d) => side.connect(d, emu, { inFlight: 32 })));
  await Promise.all(warmClients.map((c) => c.close()));
  await sleep(200);
  const baseline = await settledMemory();

  const clients: BenchClient[] = [];
  const t0 = performance.now();
  const deadline = t0 + spec.connectTimeoutMs;
  let next = 0;
  let error: string | undefined;
  const opener = async (): Promise<void> => {
    while (next < all.length && performance.now() < deadline && error === undefined) {
      const d = all[next++]!;
      try {
        clients.push(await side.connect(d, emu, { inFlight: 32 }));
      } catch (err) {
        error = `connecting ${d.deviceId}: ${err instanceof Error ? err.message : String(err)}`;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(spec.connectConcurrency, all.length) }, opener));
  const connectSeconds = (performance.now() - t0) / 1000;
  if (error === undefined && clients.length < all.length) {
    error = `only ${clients.length} of ${all.length} devices connected within ${spec.connectTimeoutMs / 1000} s`;
  }
  await sleep(1000); // let connection set-up finish (timers, late allocations) before measuring idle memory
  const idle = await settledMemory();
  const result: ScaleResult = { devices: spec.devices, connected: clients.length, connectSeconds, baseline, idle };
  if (error !== undefined) result.error = error;

  if (spec.loadSeconds > 0 && clients.length === all.length) {
    const latencies: number[] = [];
    let sent = 0;
    let failed = 0;
    let outstanding = 0;
    let peakRss = process.memoryUsage().rss;
    const timers: NodeJS.Timeout[] = [];
    const sendOne = (c: BenchClient): void => {
      const ts = performance.now();
      sent++;
      outstanding++;
      c.send(payload, 1).then(
        () => {
          latencies.push(performance.now() - ts);
          outstanding--;
        },
        () => {
          failed++;
          outstanding--;
        },
      );
    };
    const n = clients.length;
    const e0 = await emulator<UsageSnapshot>('usage');
    const cpu0 = cpuMicros();
    const l0 = performance.now();
    // Each device sends once a second, the devices' phases spread evenly over the second.
    clients.forEach((c, i) => {
      const first = setTimeout(() => {
        sendOne(c);
        timers.push(setInterval(() => sendOne(c), 1000));
      }, (i * 1000) / n);
      timers.push(first);
    });
    const rssTimer = setInterval(() => {
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
    }, 250);
    await sleep(spec.loadSeconds * 1000);
    for (const t of timers) clearTimeout(t);
    const cpu1 = cpuMicros();
    const l1 = performance.now();
    const e1 = await emulator<UsageSnapshot>('usage');
    const drainUntil = performance.now() + 10_000;
    while (outstanding > 0 && performance.now() < drainUntil) await sleep(20);
    clearInterval(rssTimer);
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
    const sorted = [...latencies].sort((a, b) => a - b);
    const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? Number.NaN;
    result.load = {
      seconds: (l1 - l0) / 1000,
      sent,
      acked: latencies.length,
      failed: failed + outstanding,
      clientCores: cores(cpu1 - cpu0, l1 - l0),
      emulatorCores: cores(e1.cpuMicros - e0.cpuMicros, e1.wallMs - e0.wallMs),
      cpuMicrosPerMessage: (cpu1 - cpu0) / Math.max(1, sent),
      peakRss,
      endHeapUsed: process.memoryUsage().heapUsed,
      ackP50: median(latencies),
      ackP99: at(0.99),
      ackMax: sorted[sorted.length - 1] ?? Number.NaN,
    };
  }

  let closing = 0;
  const closer = async (): Promise<void> => {
    while (closing < clients.length) {
      const c = clients[closing++]!;
      await c.close().catch(() => undefined);
    }
  };
  await Promise.all(Array.from({ length: spec.connectConcurrency }, closer));
  await emulator('remove', all.concat(warm).map((d) => d.deviceId));
  return result;
}

parent.serve(async (op, args) => {
  if (op !== 'run') throw new Error(`unknown op ${op}`);
  const { spec, emu } = args as { spec: WorkerSpec; emu: EmulatorInfo };
  switch (spec.kind) {
    case 'throughput':
      return throughput(spec, emu);
    case 'connect':
      return connectLatency(spec, emu);
    case 'roundtrip':
      return roundTrips(spec, emu);
    case 'scale':
      return scale(spec, emu);
  }
});
// Exit when the orchestrator closes the channel, whatever timers the libraries left (a CPU profile is written then).
process.on('disconnect', () => process.exit(0));
process.send?.({ kind: 'ready' });
