/**
 * The link cut at every TLS record boundary and in the middle of every record of a QoS 1 telemetry burst (eight
 * sendEvent() calls over five ticks: single and coalesced PUBLISH records up, PUBACK records down), both
 * directions, through the fault proxy over TLS.
 *
 * Invariants in every case: the cut happened; the client reconnected by itself to READY; every sendEvent() promise
 * resolved (QoS 1 survives a link loss: none rejected, none pending) within a bound after READY; exactly one PUBACK
 * event per message; the hub stored every message at least once (no QoS 1 telemetry lost) and every extra copy is
 * a retransmission (DUP=1).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../../src/emulator/emulator.js';
import {
  backToReady,
  codeOf,
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

/** Messages per tick: single PUBLISH records and records holding several. */
const TICKS = [1, 2, 1, 3, 1];
const MESSAGES = TICKS.reduce((a, b) => a + b, 0);

/**
 * One run. `mode: 'burst'` cuts the burst's own connection. `mode: 'retransmission'`: the hub withholds the burst's
 * PUBACKs and drops the link once it stored every message, so the reconnection (connection 1) carries the whole
 * retransmission (DUP=1) and its PUBACKs; that connection is the one cut.
 */
async function burst(target: CutTarget | undefined, mode: 'burst' | 'retransmission', clean?: CleanRun): Promise<CaseOutcome> {
  const k = ++n;
  const id = `burst-${k}`;
  const { proxy, tap } = await tappedProxy(emu.hub.port);
  const c = new FaultClient(proxy, tap, hubConfigVia(emu, proxy, id), { random: seeded(k) });
  const s = c.settlements;
  try {
    await s.track('connect()', c.hub.connect());
    await c.rec.waitFor('TWIN_RECEIVED');
    const mark = markOf(tap, 0);
    if (target !== undefined) tap.arm(target);
    if (mode === 'retransmission') emu.faults.withholdPubacks(id, MESSAGES);
    let seq = 0;
    for (const count of TICKS) {
      for (let i = 0; i < count; i++) {
        const m = seq++;
        s.track(`sendEvent(${m})`, c.hub.sendEvent({ seq: m, device: id }, { seq: String(m) }));
      }
      await new Promise((r) => setImmediate(r));
    }
    const nth = mode === 'retransmission' ? 1 : 0;
    if (mode === 'retransmission') {
      await until(() => emu.telemetry(id).length === MESSAGES, 'the burst stored');
      expect(emu.faults.dropConnection(id)).toBe(true);
    }
    if (target === undefined) {
      await s.settledWithin(3000);
      clean!.marks['burst'] = mark;
      clean!.records = recordsOf(tap);
      return { target: { link: 0, direction: 'up', record: -1, at: 'end' }, recovery: 'none' };
    }
    await until(() => proxy.cuts > 0, 'the cut');
    expectCut(proxy, target);
    await until(() => lossIndexes(c).length > nth, 'the client noticing the cut');
    await until(() => backToReady(c), 'READY after the cut');
    const loss = lossIndexes(c)[nth]!;
    const after = c.rec.types(loss).slice(0, 4);
    expect(after.slice(1)).toEqual(['CONNECTING', 'CONNECTED', 'READY']);
    // A cut before CONNACK on the reconnection is a failed attempt, retried all the same.
    expect(after[0] === 'DISCONNECTED' || (nth === 1 && after[0] === 'CONNECTION_FAILED'), after.join()).toBe(true);
    expect(codeOf(c.rec.events[loss])).toBe('ECONNRESET');
    await s.settledWithin(3000);
    // QoS 1 is never given up on a link loss: every send resolved.
    expect(s.rejected.map((t) => t.what)).toEqual([]);
    const pubacks = c.rec.all('PUBACK').map((e) => e.data.messageId);
    expect(pubacks).toHaveLength(MESSAGES);
    expect(new Set(pubacks).size).toBe(MESSAGES);
    // At least once at the hub; extra copies are retransmissions with DUP=1.
    const stored = emu.telemetry(id);
    let duplicates = 0;
    for (let m = 0; m < MESSAGES; m++) {
      const copies = stored.filter((t) => t.properties['seq'] === String(m));
      expect(copies.length, `message ${m} stored`).toBeGreaterThanOrEqual(1);
      expect(copies.slice(1).every((t) => t.dup)).toBe(true);
      duplicates += copies.length - 1;
    }
    const retransmitted = emu.packetLog(id).filter((e) => e.direction === 'in' && e.type === 'publish' && e.dup === true).length;
    expect(c.hub.state).toBe('CONNECTED');
    return { target, recovery: 'library', code: 'ECONNRESET', counts: { sent: MESSAGES, acked: pubacks.length, stored: stored.length, duplicates, retransmitted, lost: 0 } };
  } finally {
    await c.close();
  }
}

describe('link cut during a QoS 1 telemetry burst', () => {
  it('every record boundary and mid-record of the burst and its PUBACKs: nothing lost, every promise resolved once', async () => {
    const clean: CleanRun = { records: [], marks: {} };
    await burst(undefined, 'burst', clean);
    const from = clean.marks['burst']!;
    // The burst's PUBLISH records up and PUBACK records down.
    expect(clean.records[0]!.up - from.up).toBeGreaterThanOrEqual(TICKS.length);
    expect(clean.records[0]!.down - from.down).toBeGreaterThanOrEqual(2);
    const targets = cutTargets(clean, 0, from);
    const report = await runMatrix('QoS 1 telemetry burst', targets, (t) => burst(t, 'burst'), 4);
    expect(report.recovery.library).toBe(targets.length);
    expect(report.counts['sent']).toBe(report.counts['acked']);
    // Some cuts fell between a PUBLISH and its PUBACK: the message was sent again with DUP=1.
    expect(report.counts['retransmitted']).toBeGreaterThan(0);
  });

  it('every record boundary and mid-record of the reconnection that retransmits the whole burst', async () => {
    const clean: CleanRun = { records: [], marks: {} };
    await burst(undefined, 'retransmission', clean);
    expect(clean.records).toHaveLength(2);
    const targets = cutTargets(clean, 1);
    const report = await runMatrix('QoS 1 retransmission after a drop', targets, (t) => burst(t, 'retransmission'), 4);
    expect(report.recovery.library).toBe(targets.length);
    expect(report.counts['sent']).toBe(report.counts['acked']);
    // Every message went twice at least: withheld on the first connection, retransmitted after.
    expect(report.counts['retransmitted']).toBeGreaterThanOrEqual(targets.length * MESSAGES);
  });
});
