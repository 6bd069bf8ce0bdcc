/**
 * Soak test: the emulator, one fault proxy per client and N clients in one process. Each client streams QoS 1
 * telemetry, updates and reads its twin, and answers direct methods the service keeps invoking, while each proxy
 * injects random faults: connection resets, cuts after a random number of bytes (mostly mid-record), drops by the
 * hub, delays, 1-byte re-chunking, black holes (bytes lost: the TLS integrity check turns the gap into a broken
 * link), hub stalls (the hub writes nothing; the client's keepalive must notice, else the stall ends with the hub
 * dropping the connection, since what it did not write is lost), a slow hub (every packet to the device delayed by up
 * to 2 s) and "server unavailable" refusals (CONNACK 3).
 *
 * Invariants (any violation makes the run fail and the process exit non-zero):
 * - telemetry: sent = acknowledged = received at the hub (unique), no sendEvent() rejected or left pending;
 * - twin: every request settled, resolved or rejected with ENOTCONN / ETIMEDOUT (never pending, never another code);
 * - methods: no request handled twice or answered twice; every invocation ended (200, or 404 / 504 around faults);
 * - every client back to READY once the faults stop, none gave up (INIT) on the way;
 * - heap flat (after GC: end vs end of warm-up) and handle counts flat (open sockets equal, timers within a bound);
 * - after shutdown no socket, server or timer is left (the process exits by itself).
 *
 * Usage: `npm run soak` (2.5 minutes), `npm run soak -- --duration 10m --clients 8 --seed 7`.
 * Run with `--expose-gc` for exact heap figures (the npm script does); otherwise GC is enabled through `node:v8`.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { pathToFileURL } from 'node:url';
import { AzureIotHub } from '../src/azure/client.js';
import type { AzureIotHubEvt } from '../src/azure/types.js';
import { startEmulator, type Emulator } from '../src/emulator/emulator.js';
import { AzureIotHubError } from '../src/errors.js';
import { FaultProxy } from '../test/helpers/fault-proxy.js';
import { seededRandom } from '../test/helpers/random.js';
import { RecordTap } from '../test/faults/tls-records.js';

/** Options of {@link runSoak}; every field has a default. */
export interface SoakOptions {
  /** Length of the run including warm-up, ms (default 150 000). */
  durationMs?: number;
  /** Warm-up without faults before the baseline is taken, ms (default 10% of the duration, 2..10 s). */
  warmupMs?: number;
  /** Clients (default 6). */
  clients?: number;
  /** Seed of every random decision (default 1). */
  seed?: number;
  /** Per client: one telemetry message every this many ms (default 100). */
  telemetryMs?: number;
  /** Per client: one twin request every this many ms (default 400). */
  twinMs?: number;
  /** Per client: one method invocation every this many ms (default 500). */
  methodMs?: number;
  /** Per client: pause between faults, a random value in [min, max] ms (default 300..2000). */
  faultMinMs?: number;
  faultMaxMs?: number;
  /** Client keepalive, seconds (default 2: stalls are noticed within seconds). */
  keepaliveSeconds?: number;
  /** Where progress and the summary go (default console.log); `() => {}` for silence. */
  log?: (line: string) => void;
}

/** Faults the soak injects. */
export const FAULT_KINDS = ['reset', 'cut', 'drop', 'delay', 'rechunk', 'blackhole', 'hubStall', 'hubSlow', 'unavailable'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** Per-client figures. */
export interface SoakClientReport {
  id: string;
  sent: number;
  acked: number;
  received: number;
  duplicates: number;
  twinOk: number;
  twinFailed: number;
  methods200: number;
  methods404: number;
  methods504: number;
  disconnects: number;
  ready: number;
  faults: Record<FaultKind, number>;
}

/** What {@link runSoak} found. */
export interface SoakResult {
  ok: boolean;
  violations: string[];
  clients: SoakClientReport[];
  totals: Omit<SoakClientReport, 'id'>;
  heap: { warmMb: number; endMb: number; gc: boolean };
  handles: { warm: Record<string, number>; end: Record<string, number>; before: Record<string, number>; after: Record<string, number> };
  durationMs: number;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** `global.gc`, exposed through `node:v8` when the process was not started with `--expose-gc`. */
function getGc(): (() => void) | undefined {
  const g = (globalThis as { gc?: () => void }).gc;
  if (typeof g === 'function') return g;
  try {
    setFlagsFromString('--expose-gc');
    return runInNewContext('gc') as () => void;
  } catch {
    return undefined;
  }
}

function resources(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) out[r] = (out[r] ?? 0) + 1;
  return out;
}

function heapMb(gc: (() => void) | undefined): number {
  if (gc !== undefined) {
    gc();
    gc();
  }
  return process.memoryUsage().heapUsed / 1_048_576;
}

/** A growable bit set of received sequence numbers (one bit per message keeps the heap flat). */
class SeqSet {
  #bits = new Uint8Array(1024);
  size = 0;
  /** Add `n`; false when it was there already. */
  add(n: number): boolean {
    const byte = n >>> 3;
    if (byte >= this.#bits.length) {
      const next = new Uint8Array(Math.max(this.#bits.length * 2, byte + 1));
      next.set(this.#bits);
      this.#bits = next;
    }
    const mask = 1 << (n & 7);
    if ((this.#bits[byte]! & mask) !== 0) return false;
    this.#bits[byte]! |= mask;
    this.size++;
    return true;
  }
}

const TWIN_CODES = new Set(['ENOTCONN', 'ETIMEDOUT']);

class SoakClient {
  readonly hub: AzureIotHub;
  readonly report: SoakClientReport;
  readonly received = new SeqSet();
  /** Method request ids handled, bounded (the oldest are forgotten; ids only grow). */
  readonly handled = new Set<string>();
  readonly answered = new Map<string, number>();
  pendingSends = 0;
  pendingTwin = 0;
  pendingMethods = 0;
  seq = 0;
  /** Connections the hub accepted for this client. */
  connects = 0;
  state: 'running' | 'stopping' = 'running';
  lastLoss = -1;
  lastReady = -1;
  events = 0;
  readonly errors: Record<string, number> = {};

  constructor(
    readonly id: string,
    readonly proxy: FaultProxy,
    readonly tap: RecordTap,
    readonly violations: string[],
    config: ConstructorParameters<typeof AzureIotHub>[0],
  ) {
    this.hub = new AzureIotHub(config);
    this.report = {
      id,
      sent: 0,
      acked: 0,
      received: 0,
      duplicates: 0,
      twinOk: 0,
      twinFailed: 0,
      methods200: 0,
      methods404: 0,
      methods504: 0,
      disconnects: 0,
      ready: 0,
      faults: Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>,
    };
  }

  onEvent = (evt: AzureIotHubEvt): void => {
    const i = this.events++;
    switch (evt.type) {
      case 'READY':
        this.report.ready++;
        this.lastReady = i;
        break;
      case 'DISCONNECTED':
      case 'CONNECTION_FAILED':
        this.report.disconnects++;
        this.lastLoss = i;
        if (this.hub.state === 'INIT' && this.state === 'running') {
          const err = (evt.data as { err?: unknown } | undefined)?.err;
          const code = err instanceof AzureIotHubError ? err.code : String(err);
          this.violations.push(`${this.id}: the library gave up (INIT) after ${evt.type} ${code}`);
        }
        break;
      case 'ERROR': {
        const code = evt.data.err.code;
        this.errors[code] = (this.errors[code] ?? 0) + 1;
        break;
      }
      default:
        break;
    }
  };

  get ready(): boolean {
    return this.lastReady > this.lastLoss && this.hub.state === 'CONNECTED';
  }

  sendTelemetry(): void {
    const s = this.hub.state;
    if (s !== 'CONNECTED' && s !== 'CONNECTING') return;
    const n = this.seq++;
    this.report.sent++;
    this.pendingSends++;
    this.hub.sendEvent({ n, at: Date.now() }, { n: String(n) }).then(
      () => {
        this.pendingSends--;
        this.report.acked++;
      },
      (err: unknown) => {
        this.pendingSends--;
        this.violations.push(`${this.id}: sendEvent(${n}) rejected: ${err instanceof AzureIotHubError ? err.code : String(err)}`);
      },
    );
  }

  twinRequest(k: number): void {
    if (this.hub.state !== 'CONNECTED') return;
    this.pendingTwin++;
    const p = k % 2 === 0 ? this.hub.getTwin() : this.hub.updateReported({ soak: k });
    p.then(
      () => {
        this.pendingTwin--;
        this.report.twinOk++;
      },
      (err: unknown) => {
        this.pendingTwin--;
        this.report.twinFailed++;
        if (!(err instanceof AzureIotHubError) || !TWIN_CODES.has(err.code)) {
          this.violations.push(`${this.id}: twin request rejected with ${err instanceof AzureIotHubError ? err.code : String(err)}`);
        }
      },
    );
  }
}

/** Run the soak; resolves with the figures and the violations (empty when every invariant held). */
export async function runSoak(options: SoakOptions = {}): Promise<SoakResult> {
  const durationMs = options.durationMs ?? 150_000;
  const warmupMs = options.warmupMs ?? Math.min(10_000, Math.max(2000, Math.round(durationMs / 10)));
  const count = options.clients ?? 6;
  const random = seededRandom(options.seed ?? 1); // mulberry32: a failing run repeats with its seed
  const telemetryMs = options.telemetryMs ?? 100;
  const twinMs = options.twinMs ?? 400;
  const methodMs = options.methodMs ?? 500;
  const faultMin = options.faultMinMs ?? 300;
  const faultMax = options.faultMaxMs ?? 2000;
  const keepaliveSeconds = options.keepaliveSeconds ?? 2;
  const log = options.log ?? ((line: string) => console.log(line));
  const between = (a: number, b: number): number => a + Math.floor(random() * (b - a + 1));
  const violations: string[] = [];
  const gc = getGc();
  const started = Date.now();

  const before = resources();
  const emu: Emulator = await startEmulator({ firmware: false, telemetryLimit: 256, packetLogLimit: 64 });
  const clients: SoakClient[] = [];
  const timers: ReturnType<typeof setInterval>[] = [];
  let faulting = false;
  const faultLoops: Promise<void>[] = [];
  // Ends the waits of the fault loops at once when the faults stop (their timers are cleared, not left behind).
  const stopFaults = new AbortController();
  const wait = (ms: number): Promise<void> => delay(ms, undefined, { signal: stopFaults.signal }).catch(() => undefined);
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => (closing ??= shutdown(emu, clients));
  try {
    emu.on('telemetry', (m) => {
      const c = clients.find((x) => x.id === m.deviceId);
      const n = Number(m.properties['n']);
      if (c === undefined || !Number.isInteger(n)) return;
      if (c.received.add(n)) c.report.received++;
      else c.report.duplicates++;
    });
    emu.on('connect', (e) => {
      const c = clients.find((x) => x.id === e.clientId);
      if (c !== undefined) c.connects++;
    });
    emu.on('packet', (e) => {
      const topic = e.topic ?? '';
      if (e.direction !== 'in' || e.type !== 'publish' || !topic.startsWith('$iothub/methods/res/')) return;
      const c = clients.find((x) => x.id === e.clientId);
      const rid = /[?&]\$rid=([^&]+)/.exec(topic)?.[1] ?? '';
      if (c === undefined) return;
      const times = (c.answered.get(rid) ?? 0) + 1;
      c.answered.set(rid, times);
      if (times > 1) violations.push(`${c.id}: method request ${rid} answered ${times} times`);
      if (c.answered.size > 512) c.answered.delete(c.answered.keys().next().value!);
    });

    for (let i = 0; i < count; i++) {
      const id = `soak-${i}`;
      const reg = emu.registerDevice({ deviceId: id, auth: { type: 'sas' } });
      const proxy = await FaultProxy.start(emu.hub.port);
      const tap = new RecordTap(proxy, false); // byte offsets only: the soak must not hoard records
      const c = new SoakClient(id, proxy, tap, violations, {
        random,
        session: { pingTimeoutMs: 1000, connectTimeoutMs: 5000 },
      });
      c.hub.init(
        {
          deviceId: id,
          hostname: emu.hub.host,
          address: '127.0.0.1',
          port: proxy.port,
          credentials: { ca: emu.ca.cert },
          sasKey: reg.primaryKey!,
          keepaliveSeconds,
          reconnect: { initialDelayMs: 50, maxDelayMs: 1000 },
          requestTimeoutMs: 4000,
        },
        c.onEvent,
      );
      c.hub.onMethod('soak', (req) => {
        if (c.handled.has(req.rid)) violations.push(`${id}: method request ${req.rid} handled twice`);
        c.handled.add(req.rid);
        if (c.handled.size > 512) c.handled.delete(c.handled.values().next().value!);
        return { status: 200, payload: { rid: req.rid } };
      });
      clients.push(c);
      await c.hub.connect();
    }
    await waitFor(() => clients.every((c) => c.ready), 10_000, 'every client READY at start');
    log(`soak: ${count} clients READY; warm-up ${warmupMs} ms, then faults until ${durationMs} ms (seed ${options.seed ?? 1})`);

    // Workload.
    let twinK = 0;
    for (const c of clients) {
      timers.push(setInterval(() => c.sendTelemetry(), telemetryMs));
      timers.push(setInterval(() => c.twinRequest(twinK++), twinMs));
      timers.push(
        setInterval(() => {
          if (!emu.isConnected(c.id)) return;
          c.pendingMethods++;
          emu.invokeMethod(c.id, 'soak', { at: Date.now() }, { timeoutMs: 2000 }).then(
            (r) => {
              c.pendingMethods--;
              if (r.status === 200) c.report.methods200++;
              else if (r.status === 404) c.report.methods404++;
              else if (r.status === 504) c.report.methods504++;
              else violations.push(`${c.id}: method answered ${r.status}`);
            },
            (err: unknown) => {
              c.pendingMethods--;
              violations.push(`${c.id}: invokeMethod failed: ${String(err)}`);
            },
          );
        }, methodMs),
      );
    }
    await sleep(warmupMs);
    const warmMb = heapMb(gc);
    const warm = resources();

    // Faults: one loop per client, one fault at a time.
    faulting = true;
    const inject = async (c: SoakClient): Promise<void> => {
      while (faulting) {
        await wait(between(faultMin, faultMax));
        if (!faulting) return;
        const kind = FAULT_KINDS[Math.floor(random() * FAULT_KINDS.length)]!;
        c.report.faults[kind]++;
        const f = c.proxy.faults;
        switch (kind) {
          case 'reset':
            c.proxy.resetAll();
            break;
          case 'cut': {
            const link = c.proxy.links.at(-1);
            const parsers = link === undefined ? undefined : c.tap.links[link.index];
            if (link === undefined || parsers === undefined) break;
            const dir = random() < 0.5 ? 'up' : 'down';
            f.cutConnections = link.index + 1;
            f.cutAfter = { [dir]: parsers[dir].offset + between(1, 3000) };
            break;
          }
          case 'drop':
            emu.faults.dropConnection(c.id);
            break;
          case 'delay':
            f.delayMs = between(5, 60);
            await wait(between(300, 2000));
            f.delayMs = 0;
            break;
          case 'rechunk':
            f.oneByte = true;
            await wait(between(200, 1000));
            f.oneByte = false;
            break;
          case 'blackhole':
            f.blackhole = true;
            await wait(between(300, 5000));
            f.blackhole = false;
            break;
          case 'hubStall': {
            const connects = c.connects;
            emu.faults.stopAnswering(c.id);
            await wait(between(1000, 7000));
            emu.faults.resume(c.id);
            // The hub dropped what it did not write (PUBACKs, answers): a connection with a hole in it cannot go on.
            // A real stuck hub would end it too; MQTT 3.1.1 sends unacknowledged PUBLISHes again only on reconnection.
            if (c.connects === connects) emu.faults.dropConnection(c.id);
            break;
          }
          case 'hubSlow':
            emu.faults.delayResponses(c.id, between(100, 2000));
            await wait(between(500, 3000));
            emu.faults.resume(c.id);
            break;
          case 'unavailable':
            emu.faults.refuseNextConnect(c.id, 3, 1);
            emu.faults.dropConnection(c.id);
            break;
        }
      }
    };
    for (const c of clients) faultLoops.push(inject(c));
    const faultEnd = started + durationMs;
    let nextReport = Date.now() + 30_000;
    while (Date.now() < faultEnd) {
      await sleep(Math.min(1000, Math.max(0, faultEnd - Date.now())));
      for (const c of clients) c.proxy.forgetClosed();
      if (Date.now() >= nextReport) {
        nextReport += 30_000;
        const t = totalsOf(clients.map((c) => c.report));
        log(`soak: ${Math.round((Date.now() - started) / 1000)} s: sent ${t.sent}, acked ${t.acked}, received ${t.received}, ` +
          `disconnects ${t.disconnects}, heap ${heapMb(gc).toFixed(1)} MB, violations ${violations.length}`);
      }
    }

    // Heal: no new faults, undo the active ones, let everything settle.
    faulting = false;
    stopFaults.abort();
    await Promise.all(faultLoops);
    for (const c of clients) {
      Object.assign(c.proxy.faults, { oneByte: false, delayMs: 0, blackhole: false, cutAfter: undefined });
    }
    emu.faults.reset();
    await waitFor(() => clients.every((c) => c.ready), 30_000, 'every client READY after the faults').catch((err: Error) => {
      violations.push(`${err.message}: ${clients.filter((c) => !c.ready).map((c) => `${c.id} ${c.hub.state}`).join(', ')}`);
    });
    for (const t of timers.splice(0)) clearInterval(t);
    await waitFor(
      () => clients.every((c) => c.pendingSends === 0 && c.pendingTwin === 0 && c.pendingMethods === 0),
      20_000,
      'every promise settled',
    ).catch((err: Error) => {
      for (const c of clients) {
        if (c.pendingSends + c.pendingTwin + c.pendingMethods > 0) {
          violations.push(`${err.message}: ${c.id} has ${c.pendingSends} sends, ${c.pendingTwin} twin requests, ${c.pendingMethods} method calls pending`);
        }
      }
    });
    // The last PUBACKs are in: the hub stored everything acknowledged.
    await waitFor(() => clients.every((c) => c.report.received >= c.report.acked), 5000, 'telemetry stored').catch(() => undefined);
    for (const c of clients) {
      const r = c.report;
      if (!(r.sent === r.acked && r.acked === r.received)) {
        violations.push(`${c.id}: sent ${r.sent}, acknowledged ${r.acked}, received ${r.received} differ`);
      }
    }
    for (const c of clients) c.proxy.forgetClosed();
    const endMb = heapMb(gc);
    const end = resources();
    // Heap: the stores are bounded, so growth beyond noise means a leak.
    const heapSlackMb = Math.max(16, warmMb * 0.5);
    if (endMb - warmMb > heapSlackMb) violations.push(`heap grew from ${warmMb.toFixed(1)} MB to ${endMb.toFixed(1)} MB`);
    if ((end['TCPSocketWrap'] ?? 0) !== (warm['TCPSocketWrap'] ?? 0)) {
      violations.push(`open sockets: ${warm['TCPSocketWrap'] ?? 0} after warm-up, ${end['TCPSocketWrap'] ?? 0} at the end`);
    }
    if ((end['Timeout'] ?? 0) > (warm['Timeout'] ?? 0) + 2 * count) {
      violations.push(`timers: ${warm['Timeout'] ?? 0} after warm-up, ${end['Timeout'] ?? 0} at the end`);
    }

    // Shutdown, then nothing may be left.
    await close();
    await sleep(50);
    const after = resources();
    for (const [kind, n] of Object.entries(after)) {
      if (n > (before[kind] ?? 0)) violations.push(`after shutdown: ${n - (before[kind] ?? 0)} ${kind} left`);
    }
    const reports = clients.map((c) => c.report);
    const result: SoakResult = {
      ok: violations.length === 0,
      violations,
      clients: reports,
      totals: totalsOf(reports),
      heap: { warmMb, endMb, gc: gc !== undefined },
      handles: { before, warm, end, after },
      durationMs: Date.now() - started,
    };
    for (const c of clients) {
      for (const [code, n] of Object.entries(c.errors)) log(`soak: ${c.id}: ${n} ERROR events ${code}`);
    }
    log(formatSummary(result));
    return result;
  } finally {
    faulting = false;
    stopFaults.abort();
    for (const t of timers) clearInterval(t);
    await close();
  }
}

async function shutdown(emu: Emulator, clients: SoakClient[]): Promise<void> {
  await Promise.all(
    clients.map(async (c) => {
      c.state = 'stopping';
      const s = c.hub.state;
      if (s === 'CONNECTED' || s === 'CONNECTING' || s === 'DISCONNECTING') await c.hub.disconnect().catch(() => undefined);
      await c.proxy.close().catch(() => undefined);
    }),
  );
  await emu.close();
}

async function waitFor(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(10);
  }
}

function totalsOf(reports: SoakClientReport[]): Omit<SoakClientReport, 'id'> {
  const t: Omit<SoakClientReport, 'id'> = {
    sent: 0, acked: 0, received: 0, duplicates: 0, twinOk: 0, twinFailed: 0, methods200: 0, methods404: 0, methods504: 0,
    disconnects: 0, ready: 0, faults: Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>,
  };
  for (const r of reports) {
    for (const k of ['sent', 'acked', 'received', 'duplicates', 'twinOk', 'twinFailed', 'methods200', 'methods404', 'methods504', 'disconnects', 'ready'] as const) {
      t[k] += r[k];
    }
    for (const k of FAULT_KINDS) t.faults[k] += r.faults[k];
  }
  return t;
}

/** The summary table (one row per client and a total), the heap and handle figures, and the verdict. */
export function formatSummary(r: SoakResult): string {
  const head = ['client', 'sent', 'acked', 'received', 'dup', 'twin ok', 'twin fail', 'm 200', 'm 404', 'm 504', 'faults', 'drops', 'READY'];
  const row = (id: string, x: Omit<SoakClientReport, 'id'>): string[] => [
    id, x.sent, x.acked, x.received, x.duplicates, x.twinOk, x.twinFailed, x.methods200, x.methods404, x.methods504,
    Object.values(x.faults).reduce((a, b) => a + b, 0), x.disconnects, x.ready,
  ].map(String);
  const rows = [head, ...r.clients.map((c) => row(c.id, c)), row('total', r.totals)];
  const widths = head.map((_, i) => Math.max(...rows.map((x) => x[i]!.length)));
  const lines = rows.map((x) => x.map((v, i) => (i === 0 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join('  '));
  lines.splice(1, 0, widths.map((w) => '-'.repeat(w)).join('  '));
  const faults = Object.entries(r.totals.faults).map(([k, n]) => `${k} ${n}`).join(', ');
  const fmt = (h: Record<string, number>): string => Object.entries(h).map(([k, n]) => `${k}=${n}`).join(' ') || '-';
  lines.push(
    '',
    `faults: ${faults}`,
    `heap: ${r.heap.warmMb.toFixed(1)} MB after warm-up, ${r.heap.endMb.toFixed(1)} MB at the end${r.heap.gc ? ' (after GC)' : ' (no GC available)'}`,
    `handles after warm-up: ${fmt(r.handles.warm)}; at the end: ${fmt(r.handles.end)}; after shutdown: ${fmt(r.handles.after)}`,
    `duration: ${(r.durationMs / 1000).toFixed(1)} s`,
    r.ok ? 'soak: OK, every invariant held' : `soak: ${r.violations.length} violation(s):\n  ${r.violations.slice(0, 50).join('\n  ')}`,
  );
  return lines.join('\n');
}

/** `150`, `150s`, `3m`, `1h` -> ms. */
export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (m === null) throw new Error(`--duration: expected a number of seconds or 90s / 3m / 1h, got ${text}`);
  const unit = m[2] ?? 's';
  const factor = unit === 'ms' ? 1 : unit === 's' ? 1000 : unit === 'm' ? 60_000 : 3_600_000;
  return Math.round(Number(m[1]) * factor);
}

/** Parse the command line (`--duration`, `--clients`, `--seed`). */
export function parseArgs(argv: readonly string[]): SoakOptions {
  const o: SoakOptions = {};
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split('=', 2) as [string, string | undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    const int = (name: string, v: string, min: number): number => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < min) throw new Error(`${name}: expected an integer >= ${min}, got ${v}`);
      return n;
    };
    switch (flag) {
      case '--duration':
        o.durationMs = parseDuration(value());
        break;
      case '--clients':
        o.clients = int('--clients', value(), 1);
        break;
      case '--seed':
        o.seed = int('--seed', value(), 0);
        break;
      case '--help':
      case '-h':
        throw new Error(USAGE);
      default:
        throw new Error(`unknown option ${flag} (try --help)`);
    }
  }
  return o;
}

const USAGE = 'usage: npm run soak -- [--duration 150s|3m|1h] [--clients 6] [--seed 1]';

async function main(): Promise<void> {
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    console.log(USAGE);
    return;
  }
  let options: SoakOptions;
  try {
    options = parseArgs(process.argv.slice(2));
  } catch (err) {
    console.error((err as Error).message);
    process.exitCode = 2;
    return;
  }
  const result = await runSoak(options);
  process.exitCode = result.ok ? 0 : 1;
  // Everything was closed: the process ends by itself. If something still holds it, say what and fail.
  setTimeout(() => {
    console.error(`soak: the process did not exit; still active: ${process.getActiveResourcesInfo().join(', ')}`);
    process.exit(1);
  }, 5000).unref();
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
