/**
 * The link cut at every TLS record boundary and in the middle of every record of three direct-method calls (each a
 * request record down and a response record up), both directions, through the fault proxy over TLS.
 *
 * Invariants in every case: the cut happened; the client reconnected by itself to READY; no request id was handled
 * or answered twice (the handler's calls and the emulator's packet log of method responses, per `$rid`); every call
 * ended with the device's 200 or, when the cut lost the request or the response, IoT Hub's 504 (never a hang);
 * a call made after the link came back is answered 200.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../../src/emulator/emulator.js';
import type { MethodResult } from '../../src/emulator/methods.js';
import {
  backToReady,
  cutTargets,
  expectCut,
  FaultClient,
  hubConfigVia,
  lossIndexes,
  markOf,
  recordsOf,
  runMatrix,
  seeded,
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

const CALLS = 3;
/** How long the service waits for an answer: a lost request or response ends as 504 after this. */
const METHOD_TIMEOUT_MS = 800;

function ridOf(topic: string | undefined): string {
  return /[?&]\$rid=([^&]+)/.exec(topic ?? '')?.[1] ?? '';
}

async function methods(target: CutTarget | undefined, clean?: CleanRun): Promise<CaseOutcome> {
  const k = ++n;
  const id = `method-${k}`;
  const { proxy, tap } = await tappedProxy(emu.hub.port);
  const c = new FaultClient(proxy, tap, hubConfigVia(emu, proxy, id), { random: seeded(k) });
  const handled = new Map<string, number>();
  c.hub.onMethod('act', (req) => {
    handled.set(req.rid, (handled.get(req.rid) ?? 0) + 1);
    return { status: 200, payload: { call: (req.body as { call: number }).call } };
  });
  try {
    await c.settlements.track('connect()', c.hub.connect());
    await c.rec.waitFor('TWIN_RECEIVED');
    const mark = markOf(tap, 0);
    if (target !== undefined) tap.arm(target);
    const results: MethodResult[] = [];
    for (let call = 0; call < CALLS; call++) {
      // The service calls a device it sees online (after a cut: once the client is READY again).
      await until(() => backToReady(c) && emu.isConnected(id), 'the device online');
      results.push(await emu.invokeMethod(id, 'act', { call }, { timeoutMs: METHOD_TIMEOUT_MS }));
    }
    if (target === undefined) {
      expect(results.map((r) => r.status)).toEqual([200, 200, 200]);
      clean!.marks['methods'] = mark;
      clean!.records = recordsOf(tap);
      return { target: { link: 0, direction: 'up', record: -1, at: 'end' }, recovery: 'none' };
    }
    await until(() => proxy.cuts > 0, 'the cut');
    expectCut(proxy, target);
    await until(() => lossIndexes(c).length > 0, 'the client noticing the cut');
    await until(() => backToReady(c), 'READY after the cut');
    expect(c.rec.types(lossIndexes(c)[0]!).slice(0, 4)).toEqual(['DISCONNECTED', 'CONNECTING', 'CONNECTED', 'READY']);
    // Each call: the device's answer, or 504 when the cut lost the request or the response.
    results.forEach((r, call) => {
      expect([200, 504]).toContain(r.status);
      if (r.status === 200) expect(r.payload).toEqual({ call });
    });
    // No request handled twice, none answered twice.
    expect([...handled.values()].every((times) => times === 1)).toBe(true);
    const log = emu.packetLog(id);
    const delivered = log.filter((e) => e.direction === 'out' && e.type === 'publish' && e.topic?.startsWith('$iothub/methods/POST/'));
    const responses = log.filter((e) => e.direction === 'in' && e.type === 'publish' && e.topic?.startsWith('$iothub/methods/res/'));
    const answered = new Map<string, number>();
    for (const r of responses) answered.set(ridOf(r.topic), (answered.get(ridOf(r.topic)) ?? 0) + 1);
    expect([...answered.entries()].filter(([, times]) => times > 1)).toEqual([]);
    expect(delivered).toHaveLength(CALLS);
    // After the link came back, a call is answered.
    const after = await emu.invokeMethod(id, 'act', { call: CALLS }, { timeoutMs: 3000 });
    expect(after).toMatchObject({ status: 200, payload: { call: CALLS } });
    expect(c.hub.state).toBe('CONNECTED');
    const lost = results.filter((r) => r.status === 504).length;
    return { target, recovery: 'library', code: 'ECONNRESET', counts: { calls: CALLS, answered: CALLS - lost, lost504: lost, answeredTwice: 0 } };
  } finally {
    await c.close();
  }
}

describe('link cut during direct-method requests and responses', () => {
  it('every record boundary and mid-record of three calls: no request answered twice, every call ends', async () => {
    const clean: CleanRun = { records: [], marks: {} };
    await methods(undefined, clean);
    const from = clean.marks['methods']!;
    expect(clean.records[0]!.up - from.up).toBe(CALLS);
    expect(clean.records[0]!.down - from.down).toBe(CALLS);
    const targets = cutTargets(clean, 0, from);
    const report = await runMatrix('direct methods', targets, (t) => methods(t), 6);
    expect(report.recovery.library).toBe(targets.length);
    // Some cuts cost a request or a response (504), and some came after all three answers.
    expect(report.counts['lost504']).toBeGreaterThan(0);
    expect(report.counts['answered']).toBeGreaterThan(0);
  });
});
