/**
 * The link cut at every TLS record boundary, and in the middle of every record, of connect / subscribe / twin GET
 * (plus an explicit getTwin() and updateReported()), in both directions, through the fault proxy over TLS:
 *
 * - on the first connection: a cut before the first CONNACK ever is not retried by the library, by design (a close
 *   right after the TLS handshake is how a rejected client certificate looks under TLS 1.3): connect() rejects with
 *   ECONNRESET (TLS not up yet) or CONNECTION_FAILED carries EACCES (CONNECT written); no second attempt is made;
 *   the application's next connect() reaches READY. A cut after CONNACK is a network blip: the library reconnects.
 * - on a later connection (after one accepted CONNACK): every cut, also during the TLS handshake and the
 *   CONNECT/CONNACK exchange, is retried by the library, which reaches READY again by itself.
 *
 * Invariants in every case: the cut happened; the client came back to READY (state CONNECTED); every promise the test
 * created settled within a bound after READY, resolved or rejected with ENOTCONN (never a timeout, never a hang);
 * a request that was rejected works when repeated.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AzureIotHubConfig } from '../../src/azure/types.js';
import { startEmulator, type Emulator } from '../../src/emulator/emulator.js';
import { AzureIotHubError } from '../../src/errors.js';
import {
  backToReady,
  codeOf,
  CUT_CODES,
  cutTargets,
  expectCut,
  FaultClient,
  hubConfigVia,
  lossIndexes,
  markOf,
  recordsOf,
  runMatrix,
  seeded,
  sleep,
  tappedProxy,
  until,
  type CaseOutcome,
  type CleanRun,
} from './harness.js';
import type { CutTarget } from './tls-records.js';

let emu: Emulator;
let n = 0;

beforeAll(async () => {
  emu = await startEmulator({ firmware: false });
});
afterAll(async () => {
  await emu.close();
});

/** Variants: the device authenticates with X.509 (a client certificate in the handshake) instead of SAS; the
 * application reads and pings itself (`autoInput: false`, input() every 2 ms, ping() when keepaliveTimeLeft() is 0). */
interface Variant {
  x509?: boolean;
  manual?: boolean;
}

/**
 * One run of the scenario. With `dropFirst`, the first connection is dropped by the hub once READY and the twin
 * arrived, so that the exchange under test is the reconnection. `target` undefined is the clean run.
 */
async function session(target: CutTarget | undefined, dropFirst: boolean, variant: Variant = {}, clean?: CleanRun): Promise<CaseOutcome> {
  const k = ++n;
  const id = `cut-${dropFirst ? 'r' : 'f'}${variant.x509 === true ? 'x' : ''}${variant.manual === true ? 'm' : ''}-${k}`;
  const { proxy, tap } = await tappedProxy(emu.hub.port);
  const overrides: Partial<AzureIotHubConfig> = {};
  if (variant.manual === true) overrides.autoInput = false;
  const config = hubConfigVia(emu, proxy, id, overrides);
  if (variant.x509 === true) {
    emu.registerDevice({ deviceId: id }); // replaces the SAS registration: X.509, CA-signed
    const cred = await emu.createDeviceCredentials(id);
    delete config.sasKey;
    config.credentials = { ca: emu.ca.cert, cert: cred.chain, key: cred.key };
  }
  const c = new FaultClient(proxy, tap, config, { random: seeded(k) });
  const stopPump = variant.manual === true ? pumpInput(c) : (): void => undefined;
  const s = c.settlements;
  if (target !== undefined) tap.arm(target);
  let recovery: CaseOutcome['recovery'] = 'none';
  let code: string | undefined;
  try {
    s.track('connect()', c.hub.connect());
    if (dropFirst) {
      await c.rec.waitFor('TWIN_RECEIVED');
      expect(emu.faults.dropConnection(id)).toBe(true);
      await until(() => c.count('READY') === 2 || proxy.cuts > 0, 'the reconnection or the cut');
    }
    // READY, or the client gave up for good (connect() settled, state INIT).
    await until(
      () => backToReady(c) || (c.hub.state === 'INIT' && s.pending.length === 0 && c.count('CONNECTION_FAILED') > 0),
      'READY or a final failure',
    );
    if (!backToReady(c)) {
      // Not retried by design: only before the first CONNACK ever.
      expect(dropFirst, 'a reconnection must never give up after a cut').toBe(false);
      expect(c.count('CONNECTED')).toBe(0);
      const err = c.rec.all('CONNECTION_FAILED')[0]!.data.err;
      expect(err).toBeInstanceOf(AzureIotHubError);
      code = (err as AzureIotHubError).code;
      // ECONNRESET while TLS is not up (connect() rejects with it), EACCES once CONNECT was written.
      expect(['ECONNRESET', 'EACCES']).toContain(code);
      const rejected = s.rejected.find((t) => t.what === 'connect()');
      if (code === 'ECONNRESET') expect(rejected?.error).toBe(err);
      else expect(rejected).toBeUndefined(); // connect() had resolved: CONNECT was written
      const links = proxy.links.length;
      await sleep(120); // the fast policy would have retried within 20 ms
      expect(proxy.links.length, 'no blind retry').toBe(links);
      expect(c.hub.state).toBe('INIT');
      recovery = 'application';
      s.track('connect() again', c.hub.connect());
      await until(() => backToReady(c), 'READY after the application connected again');
    }
    const mark = markOf(tap, proxy.links.length - 1);
    // One after the other, so that each request and each answer is a record of its own in every run.
    await s.track('getTwin()', c.hub.getTwin()).catch(() => undefined);
    await s.track('updateReported()', c.hub.updateReported({ attempt: k })).catch(() => undefined);
    if (target === undefined) {
      expect(s.rejected).toEqual([]);
      clean!.marks['twin'] = mark;
      clean!.records = recordsOf(tap);
      return { target: { link: 0, direction: 'up', record: -1, at: 'end' }, recovery };
    }
    await until(() => proxy.cuts > 0, 'the cut');
    expectCut(proxy, target);
    // The drop of the first connection (dropFirst) is a loss too; the cut's is the one after it.
    const nth = dropFirst ? 1 : 0;
    await until(() => lossIndexes(c).length > nth, 'the client noticing the cut');
    await until(() => backToReady(c), 'READY after the cut');
    if (recovery === 'none') {
      recovery = 'library';
      const i = lossIndexes(c)[nth]!;
      const loss = c.rec.events[i]!;
      code = codeOf(loss);
      expect(code).toBe('ECONNRESET');
      // Retried by the library whatever the phase: DISCONNECTED when CONNACK had been accepted on that connection,
      // CONNECTION_FAILED when the cut hit a reconnection attempt before its CONNACK; then CONNECTING..READY.
      const after = c.rec.types(i).slice(0, 4);
      expect(after.slice(1)).toEqual(['CONNECTING', 'CONNECTED', 'READY']);
      expect(after[0] === 'DISCONNECTED' || (dropFirst && after[0] === 'CONNECTION_FAILED'), after.join()).toBe(true);
    }
    await s.settledWithin(3000);
    expect(s.badRejections(new Set([...CUT_CODES, 'EACCES']))).toEqual([]);
    // A request the cut cost is answered when the application repeats it.
    if (s.rejected.some((t) => t.what === 'getTwin()')) await c.hub.getTwin();
    if (s.rejected.some((t) => t.what === 'updateReported()')) await c.hub.updateReported({ attempt: k });
    const twin = await c.hub.getTwin();
    expect(twin.reported['attempt']).toBe(k);
    expect(c.hub.state).toBe('CONNECTED');
    const outcome: CaseOutcome = { target, recovery, counts: { requestsLost: s.rejected.filter((t) => t.what !== 'connect()').length } };
    if (code !== undefined) outcome.code = code;
    return outcome;
  } finally {
    stopPump();
    await c.close();
  }
}

/** The application's loop with `autoInput: false`: input() every 2 ms, ping() when keepalive asks for it. */
function pumpInput(c: FaultClient): () => void {
  const timer = setInterval(() => {
    c.hub.input();
    if (c.hub.state === 'CONNECTED' && c.hub.keepaliveTimeLeft() === 0) c.hub.ping();
  }, 2);
  return () => clearInterval(timer);
}

async function cleanRun(dropFirst: boolean, variant: Variant = {}): Promise<CleanRun> {
  const clean: CleanRun = { records: [], marks: {} };
  await session(undefined, dropFirst, variant, clean);
  return clean;
}

describe('link cut during connect, subscribe and twin GET', () => {
  it('first connection: every record boundary and mid-record, both directions', async () => {
    const clean = await cleanRun(false);
    // TLS 1.3: ClientHello, CCS, (empty) Certificate, Finished, CONNECT, SUBSCRIBE, twin GET(s), ... up.
    expect(clean.records[0]!.up).toBeGreaterThanOrEqual(7);
    expect(clean.records[0]!.down).toBeGreaterThanOrEqual(11);
    const targets = cutTargets(clean, 0);
    const report = await runMatrix('connect, first connection', targets, (t) => session(t, false), 4);
    // Both behaviours occur: cuts before the first CONNACK (not retried, the application connects again) and after
    // (the library reconnects).
    expect(report.recovery.application).toBeGreaterThan(0);
    expect(report.recovery.library).toBeGreaterThan(0);
    expect(report.codes['EACCES']).toBeGreaterThan(0);
  });

  it('reconnection: every cut is retried by the library, also during the TLS handshake and CONNECT/CONNACK', async () => {
    const clean = await cleanRun(true);
    expect(clean.records).toHaveLength(2);
    const targets = cutTargets(clean, 1);
    const report = await runMatrix('connect, reconnection', targets, (t) => session(t, true), 4);
    expect(report.recovery.library).toBe(targets.length);
    expect(report.recovery.application).toBe(0);
  });

  it('first connection of an X.509 device (client certificate in the handshake): the same two behaviours', async () => {
    const clean = await cleanRun(false, { x509: true });
    const targets = cutTargets(clean, 0);
    const report = await runMatrix('connect, first connection, X.509', targets, (t) => session(t, false, { x509: true }), 4);
    expect(report.recovery.application).toBeGreaterThan(0);
    expect(report.recovery.library).toBeGreaterThan(0);
    expect(report.codes['EACCES']).toBeGreaterThan(0);
  });

  it('reconnection with autoInput: false (the application calls input() and ping()): every cut retried', async () => {
    const clean = await cleanRun(true, { manual: true });
    expect(clean.records).toHaveLength(2);
    const targets = cutTargets(clean, 1);
    const report = await runMatrix('connect, reconnection, manual input', targets, (t) => session(t, true, { manual: true }), 4);
    expect(report.recovery.library).toBe(targets.length);
  });
});
