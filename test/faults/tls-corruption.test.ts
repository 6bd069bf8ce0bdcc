/**
 * Regression: bytes lost inside an established TLS connection (the fault proxy's black hole swallows a record, then
 * the path heals) make the next record fail its integrity check: the hub answers with a bad_record_mac alert, or the
 * client's own decryption fails. Those were classified as EACCES ("TLS handshake or certificate failure"), an
 * authentication failure that is never retried, so the client gave up for good (INIT) and rejected its QoS 1
 * messages. Fixed in `src/transport/mqtt-session.ts` (`#lost`): after CONNACK 0 on the same connection a TLS failure
 * is ECONNRESET (cause: the TLS error) and the reconnect policy applies; QoS 1 messages are sent again.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../../src/emulator/emulator.js';
import type { AzureIotHubError } from '../../src/errors.js';
import { backToReady, errOf, FaultClient, hubConfigVia, lossIndexes, seeded, sleep, tappedProxy, until } from './harness.js';

let emu: Emulator;
beforeAll(async () => {
  emu = await startEmulator({ firmware: false });
});
afterAll(async () => {
  await emu.close();
});

describe('a record lost inside an established TLS connection', () => {
  it.each(['up', 'down'] as const)('direction %s: ECONNRESET (TLS cause), reconnected, QoS 1 delivered', async (direction) => {
    const id = `tls-gap-${direction}`;
    const { proxy, tap } = await tappedProxy(emu.hub.port);
    const c = new FaultClient(proxy, tap, hubConfigVia(emu, proxy, id), { random: seeded(3) });
    try {
      await c.hub.connect();
      await c.rec.waitFor('TWIN_RECEIVED');
      const s = c.settlements;
      proxy.faults.blackhole = true;
      // Swallowed: a telemetry record (up) or a desired-properties push (down).
      if (direction === 'up') s.track('sendEvent(0)', c.hub.sendEvent({ m: 0 }, { m: '0' }));
      else emu.updateDesired(id, { push: 1 });
      await sleep(50);
      proxy.faults.blackhole = false;
      // The next record in the same direction cannot be decrypted by the receiver.
      if (direction === 'up') s.track('sendEvent(1)', c.hub.sendEvent({ m: 1 }, { m: '1' }));
      else emu.updateDesired(id, { push: 2 });
      await until(() => lossIndexes(c).length > 0, 'the broken link noticed');
      const loss = c.rec.events[lossIndexes(c)[0]!]!;
      expect(loss.type).toBe('DISCONNECTED');
      const err = errOf(loss) as AzureIotHubError;
      expect(err.code).toBe('ECONNRESET');
      expect((err.cause as AzureIotHubError).code).toBe('EACCES');
      expect(err.message).toMatch(/after it was established \((ERR_SSL_|ERR_TLS_)/);
      await until(() => backToReady(c), 'READY again');
      if (direction === 'up') {
        await s.settledWithin(3000);
        expect(s.rejected).toEqual([]);
        const stored = new Set(emu.telemetry(id).map((t) => t.properties['m']));
        expect([...stored].sort()).toEqual(['0', '1']);
      } else {
        // The twin fetched after READY carries what the lost push said.
        const twin = await c.hub.getTwin();
        expect(twin.desired['push']).toBe(2);
      }
      expect(c.hub.state).toBe('CONNECTED');
    } finally {
      await c.close();
    }
  });
});
