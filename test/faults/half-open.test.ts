/**
 * Regression: a stall in the direction server -> client while the device keeps sending (a half-open link, a hub
 * that stopped answering). Keepalive pings only after a period without *sending* (MQTT-3.1.2-23), so a device
 * streaming telemetry never pinged and never noticed: QoS 0 went into the void for ever, QoS 1 until the in-flight
 * window filled. Fixed in `src/transport/keepalive.ts`: with the automatic timer the client also pings after
 * {@link RECEIVE_SILENCE_PERIODS} keepalive periods without receiving anything, and the PINGREQ deadline then
 * declares the link dead (ETIMEDOUT) and the reconnect policy applies.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../../src/emulator/emulator.js';
import { Keepalive, RECEIVE_SILENCE_PERIODS } from '../../src/transport/keepalive.js';
import { VirtualClock } from '../transport/virtual-clock.js';
import { backToReady, codeOf, FaultClient, hubConfigVia, seeded, tappedProxy, until } from './harness.js';

let emu: Emulator;
beforeAll(async () => {
  emu = await startEmulator({ firmware: false });
});
afterAll(async () => {
  await emu.close();
});

describe('Keepalive: receive silence while sending (virtual clock)', () => {
  it('pings after RECEIVE_SILENCE_PERIODS periods without receiving, however much is sent, then declares death', () => {
    const clock = new VirtualClock();
    const events: string[] = [];
    const start = clock.now();
    const ka: Keepalive = new Keepalive(1000, 300, clock, {
      keepalivePing: () => {
        events.push(`ping@${clock.now() - start}`);
        ka.pinged(clock.now());
      },
      keepaliveDead: () => events.push(`dead@${clock.now() - start}`),
    });
    ka.start(true);
    for (let t = 100; t < 3000; t += 100) {
      clock.advance(100);
      ka.sent(clock.now()); // a publish every 100 ms: the send-based rule never fires
    }
    const due = 1000 * RECEIVE_SILENCE_PERIODS;
    expect(events).toEqual([`ping@${due}`, `dead@${due + 300}`]);
    expect(clock.pending).toBe(0);
  });

  it('anything received restarts the silence period; the manual mode keeps the send-based timeLeft()', () => {
    const clock = new VirtualClock();
    const events: number[] = [];
    const ka: Keepalive = new Keepalive(1000, 300, clock, {
      keepalivePing: () => {
        events.push(clock.now());
        ka.pinged(clock.now());
      },
      keepaliveDead: () => events.push(-1),
    });
    ka.start(true);
    for (let i = 0; i < 30; i++) {
      clock.advance(100);
      ka.sent(clock.now());
      if (i % 10 === 9) ka.received(); // a PUBACK now and then
    }
    expect(events).toEqual([]);
    ka.stop();
    const manual = new Keepalive(1000, 300, clock, { keepalivePing: () => undefined, keepaliveDead: () => undefined });
    manual.start(false);
    clock.advance(900);
    manual.sent(clock.now());
    clock.advance(900);
    expect(manual.timeLeft(clock.now())).toBe(100);
  });
});

describe('a hub that stops answering while the device streams telemetry', () => {
  it.each([0, 1] as const)('QoS %i every 50 ms: ETIMEDOUT, reconnection, nothing lost at QoS 1', async (qos) => {
    const id = `half-open-${qos}`;
    const { proxy, tap } = await tappedProxy(emu.hub.port);
    const c = new FaultClient(proxy, tap, hubConfigVia(emu, proxy, id, { keepaliveSeconds: 1 }), {
      random: seeded(qos + 1),
      session: { pingTimeoutMs: 300 },
    });
    let seq = 0;
    const timer = setInterval(() => {
      const m = seq++;
      c.settlements.track(`sendEvent(${m})`, c.hub.sendEvent({ m }, { m: String(m) }, { qos }));
    }, 50);
    try {
      await c.hub.connect();
      await c.rec.waitFor('TWIN_RECEIVED');
      const mark = c.rec.mark();
      emu.faults.stopAnswering(id);
      const lost = await c.rec.waitFor('DISCONNECTED', { since: mark, timeoutMs: 10_000 });
      expect(codeOf(lost)).toBe('ETIMEDOUT');
      // The hub saw the PINGREQ that went unanswered, sent while telemetry kept flowing.
      const log = emu.packetLog(id);
      const ping = log.filter((e) => e.direction === 'in' && e.type === 'pingreq').at(-1);
      expect(ping).toBeDefined();
      expect(log.some((e) => e.direction === 'in' && e.type === 'publish' && e.seq > ping!.seq - 40 && e.seq < ping!.seq)).toBe(true);
      emu.faults.resume(id);
      await until(() => backToReady(c), 'READY after the stall', 10_000);
    } finally {
      clearInterval(timer);
    }
    await c.settlements.settledWithin(3000);
    if (qos === 1) {
      expect(c.settlements.rejected).toEqual([]);
      const stored = new Set(emu.telemetry(id).map((t) => t.properties['m']));
      for (let m = 0; m < seq; m++) expect(stored.has(String(m)), `message ${m}`).toBe(true);
    }
    await c.close();
  });
});
