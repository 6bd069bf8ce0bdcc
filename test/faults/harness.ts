/**
 * The fault matrix's machinery: a client reaching the emulator through the fault proxy over TLS, a tracker that
 * proves every promise a scenario creates settles, the enumeration of cut points from a clean run (every TLS record
 * boundary and the middle of every record, both directions), a runner that executes the cases a few at a time on
 * separate devices, and the per-scenario tally the README's Reliability section quotes.
 */
import { AzureIotHub, type AzureIotHubOptions } from '../../src/azure/client.js';
import type { AzureIotHubConfig, AzureIotHubEvt } from '../../src/azure/types.js';
import type { Emulator } from '../../src/emulator/emulator.js';
import { AzureIotHubError } from '../../src/errors.js';
import { EventRecorder } from '../azure/client/harness.js';
import { FaultProxy } from '../helpers/fault-proxy.js';
import { describeTarget, RecordTap, type CutTarget, type Direction } from './tls-records.js';

/** A small deterministic PRNG for the reconnect jitter of each case (the shared mulberry32). */
export { seededRandom as seeded } from '../helpers/random.js';

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Poll `cond` every few ms until it holds; reject naming `what` after `timeoutMs`. */
export async function until(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(2);
  }
}

/** A fast reconnect policy: the first retry within 20 ms, never more than 80 ms apart; jitter from `random`. */
export const FAST_RECONNECT = { initialDelayMs: 20, maxDelayMs: 80 } as const;

/** Codes a promise may reject with after a cut: the link ended before the answer (never a timeout, never a hang). */
export const CUT_CODES = new Set(['ENOTCONN', 'ECONNRESET']);

interface Tracked {
  what: string;
  settled: number;
  error: unknown;
  at: number;
}

/**
 * Tracks the promises a scenario creates (sendEvent, getTwin, updateReported, connect, invokeMethod): each must
 * settle, resolved or rejected with a coded {@link AzureIotHubError}, within a bound.
 */
export class Settlements {
  readonly all: Tracked[] = [];

  /** Track `p`; returns it (its rejection is handled here, so callers may ignore it). */
  track<T>(what: string, p: Promise<T>): Promise<T> {
    const t: Tracked = { what, settled: 0, error: undefined, at: 0 };
    this.all.push(t);
    p.then(
      () => {
        t.settled++;
        t.at = Date.now();
      },
      (err: unknown) => {
        t.settled++;
        t.error = err;
        t.at = Date.now();
      },
    );
    return p;
  }

  get pending(): Tracked[] {
    return this.all.filter((t) => t.settled === 0);
  }

  get rejected(): Tracked[] {
    return this.all.filter((t) => t.settled > 0 && t.error !== undefined);
  }

  /** Wait until everything tracked has settled; throws naming what is still pending after `boundMs`. */
  async settledWithin(boundMs: number): Promise<void> {
    const end = Date.now() + boundMs;
    while (this.pending.length > 0) {
      if (Date.now() > end) {
        throw new Error(`promises still pending ${boundMs} ms after the link came back: ${this.pending.map((t) => t.what).join(', ')}`);
      }
      await sleep(2);
    }
  }

  /** Rejections that are not coded errors, or carry a code outside `allowed`: always a bug. */
  badRejections(allowed: ReadonlySet<string>): string[] {
    return this.rejected
      .filter((t) => !(t.error instanceof AzureIotHubError) || !allowed.has(t.error.code))
      .map((t) => `${t.what}: ${t.error instanceof AzureIotHubError ? t.error.code : String(t.error)}`);
  }
}

/** One client behind its own fault proxy, with its recorder and tracked promises. */
export class FaultClient {
  readonly hub: AzureIotHub;
  readonly rec = new EventRecorder();
  readonly settlements = new Settlements();

  constructor(
    readonly proxy: FaultProxy,
    readonly tap: RecordTap,
    config: AzureIotHubConfig,
    options: AzureIotHubOptions,
  ) {
    this.hub = new AzureIotHub(options);
    this.hub.init(config, this.rec.handler);
  }

  /** Index (in the recorder) of the `n`-th event of `type`, or -1. */
  indexOf(type: string, n = 1): number {
    let seen = 0;
    for (let i = 0; i < this.rec.events.length; i++) {
      if (this.rec.events[i]!.type === type && ++seen === n) return i;
    }
    return -1;
  }

  count(type: string): number {
    return this.rec.events.filter((e) => e.type === type).length;
  }

  /** Disconnect (if up) and close the proxy. */
  async close(): Promise<void> {
    const s = this.hub.state;
    if (s === 'CONNECTED' || s === 'CONNECTING' || s === 'DISCONNECTING') await this.hub.disconnect().catch(() => undefined);
    await this.proxy.close();
  }
}

/** Events after which the client is not READY until it sees READY again. */
export const LOSS: ReadonlySet<string> = new Set(['DISCONNECTED', 'CONNECTION_FAILED']);

/** Whether the last READY came after the last loss of the link and the client is CONNECTED. */
export function backToReady(c: FaultClient): boolean {
  let lastLoss = -1;
  let lastReady = -1;
  c.rec.events.forEach((e, i) => {
    if (LOSS.has(e.type)) lastLoss = i;
    if (e.type === 'READY') lastReady = i;
  });
  return lastReady > lastLoss && c.hub.state === 'CONNECTED';
}

/** The `err` an event carries (DISCONNECTED, CONNECTION_FAILED, ERROR, DPS_FAILED), if any. */
export function errOf(evt: AzureIotHubEvt | undefined): unknown {
  return evt !== undefined && 'data' in evt ? (evt.data as { err?: unknown } | undefined)?.err : undefined;
}

/** The code of the coded error an event carries, if any. */
export function codeOf(evt: AzureIotHubEvt | undefined): string | undefined {
  const err = errOf(evt);
  return err instanceof AzureIotHubError ? err.code : undefined;
}

/** Indexes (in the recorder) of the events that report a loss of the link. */
export function lossIndexes(c: FaultClient): number[] {
  return c.rec.events.flatMap((e, i) => (LOSS.has(e.type) ? [i] : []));
}

/** Start a fault proxy with a record tap in front of `port`. */
export async function tappedProxy(port: number): Promise<{ proxy: FaultProxy; tap: RecordTap }> {
  const proxy = await FaultProxy.start(port);
  return { proxy, tap: new RecordTap(proxy) };
}

/** A SAS device's config that reaches the emulator's hub through `proxy` (the hub name stays SNI and username host). */
export function hubConfigVia(
  emu: Emulator,
  proxy: FaultProxy,
  deviceId: string,
  overrides: Partial<AzureIotHubConfig> = {},
): AzureIotHubConfig {
  const reg = emu.registerDevice({ deviceId, auth: { type: 'sas' } });
  return {
    deviceId,
    hostname: emu.hub.host,
    address: '127.0.0.1',
    port: proxy.port,
    credentials: { ca: emu.ca.cert },
    sasKey: reg.primaryKey!,
    reconnect: { ...FAST_RECONNECT },
    requestTimeoutMs: 10_000,
    ...overrides,
  };
}

/** Record counts of one connection in both directions: where a scenario's interesting part starts. */
export type Mark = Record<Direction, number>;

/** What a clean run saw: the record counts per connection and direction, and the marks the scenario took. */
export interface CleanRun {
  records: Mark[];
  marks: Record<string, Mark>;
}

/** Snapshot of the tap's record counts on `link`. */
export function markOf(tap: RecordTap, link: number): Mark {
  return { up: tap.records(link, 'up').length, down: tap.records(link, 'down').length };
}

/** Every record count seen by `tap`. */
export function recordsOf(tap: RecordTap): Mark[] {
  return tap.links.map((_, i) => markOf(tap, i));
}

/**
 * Cut points of `link` from record `from` (per direction) on: before the first byte (when `from` is 0), after
 * every record, and in the middle of every record.
 */
export function cutTargets(clean: CleanRun, link: number, from: Mark = { up: 0, down: 0 }, to?: Mark): CutTarget[] {
  const targets: CutTarget[] = [];
  const counts = clean.records[link];
  if (counts === undefined) throw new Error(`the clean run had no connection ${link}`);
  for (const direction of ['up', 'down'] as const) {
    const first = from[direction];
    const last = to?.[direction] ?? counts[direction];
    if (first === 0) targets.push({ link, direction, record: -1, at: 'end' });
    for (let r = first; r < last; r++) {
      targets.push({ link, direction, record: r, at: 'mid' });
      targets.push({ link, direction, record: r, at: 'end' });
    }
  }
  return targets;
}

/** The result of one case, for the tally. */
export interface CaseOutcome {
  target: CutTarget;
  /** How the client came back: `library` (reconnected by itself), `application` (connect() again after a refusal
   * the library does not retry by design), or `none` (the cut changed nothing the client had to recover from). */
  recovery: 'library' | 'application' | 'none';
  /** Extra facts counted in the tally (messages sent, duplicates, methods answered, ...). */
  counts?: Record<string, number>;
  /** The code of the failure the client reported, if any. */
  code?: string;
}

/** The tally of one scenario. */
export interface ScenarioReport {
  scenario: string;
  cases: number;
  cuts: number;
  recovery: Record<CaseOutcome['recovery'], number>;
  codes: Record<string, number>;
  counts: Record<string, number>;
}

/** Print a scenario's tally as one line of a table. */
export function printReport(r: ScenarioReport): void {
  const codes = Object.entries(r.codes).map(([c, n]) => `${c}x${n}`).join(' ') || '-';
  const counts = Object.entries(r.counts).map(([k, n]) => `${k}=${n}`).join(' ');
  // One line per scenario, greppable in CI logs.
  console.log(
    `[fault-matrix] ${r.scenario}: ${r.cases} cases, ${r.cuts} cuts; recovered by library ${r.recovery.library}, ` +
      `by application ${r.recovery.application}, nothing to recover ${r.recovery.none}; codes ${codes}; ${counts}`,
  );
}

/**
 * Run `runCase` for every target, `parallel` at a time (each case uses its own device and proxy), and tally the
 * outcomes. A failing case fails the whole run with the target named.
 */
export async function runMatrix(
  scenario: string,
  targets: readonly CutTarget[],
  runCase: (target: CutTarget, index: number) => Promise<CaseOutcome>,
  parallel = 4,
): Promise<ScenarioReport> {
  const report: ScenarioReport = {
    scenario,
    cases: 0,
    cuts: 0,
    recovery: { library: 0, application: 0, none: 0 },
    codes: {},
    counts: {},
  };
  let next = 0;
  const failures: string[] = [];
  const worker = async (): Promise<void> => {
    while (next < targets.length) {
      const i = next++;
      const target = targets[i]!;
      try {
        const o = await runCase(target, i);
        report.cases++;
        report.cuts++;
        report.recovery[o.recovery]++;
        if (o.code !== undefined) report.codes[o.code] = (report.codes[o.code] ?? 0) + 1;
        for (const [k, n] of Object.entries(o.counts ?? {})) report.counts[k] = (report.counts[k] ?? 0) + n;
      } catch (err) {
        failures.push(`${describeTarget(target)}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, targets.length) }, worker));
  printReport(report);
  if (failures.length > 0) throw new Error(`${failures.length} of ${targets.length} cases failed:\n${failures.join('\n')}`);
  return report;
}

/** Assert the proxy cut exactly once (the target was reached) and name the case otherwise. */
export function expectCut(proxy: FaultProxy, target: CutTarget): void {
  if (proxy.cuts !== 1) throw new Error(`${describeTarget(target)}: expected one cut, saw ${proxy.cuts} (target never reached)`);
}
