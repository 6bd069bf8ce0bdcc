/**
 * The device's own certificate is expired or not yet valid. The emulator, like IoT Hub, completes the TLS handshake
 * (client certificates are judged per device at CONNECT) and answers CONNACK 5 (not authorized): the client reports
 * CONNECTION_FAILED with `5`, goes back to INIT and does not retry. Also a self-signed (thumbprint) certificate that
 * expires while the device is connected: the reconnection is refused with CONNACK 5 and not retried.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AzureIotHub } from '../../src/azure/client.js';
import { certificateThumbprint } from '../../src/emulator/auth.js';
import { createCa } from '../../src/emulator/certs.js';
import { startEmulator, type Emulator } from '../../src/emulator/emulator.js';
import type { ConnectRefusedEvent } from '../../src/emulator/types.js';
import { EventRecorder } from '../azure/client/harness.js';
import { FAST, NO_RETRY_WINDOW_MS } from './cases.js';
import { sleep } from './helpers.js';

let emu: Emulator;
/** Added to the emulator's clock (thumbprint certificate validity). */
let skewMs = 0;
const clients: AzureIotHub[] = [];
const refusals: ConnectRefusedEvent[] = [];

beforeAll(async () => {
  emu = await startEmulator({ firmware: false, now: () => Date.now() + skewMs });
  emu.on('connectRefused', (e) => refusals.push(e));
});
afterEach(async () => {
  skewMs = 0;
  await Promise.all(
    clients.splice(0).map(async (hub) => {
      if (hub.state === 'CONNECTED' || hub.state === 'CONNECTING') await hub.disconnect().catch(() => undefined);
    }),
  );
});
afterAll(async () => {
  await emu.close();
});

function x509Client(deviceId: string, cert: string, key: string): { hub: AzureIotHub; rec: EventRecorder } {
  const hub = new AzureIotHub({ random: () => 0.5 });
  const rec = new EventRecorder();
  hub.init(
    {
      deviceId,
      hostname: emu.hub.host,
      address: emu.hub.address,
      port: emu.hub.port,
      credentials: { ca: emu.ca.cert, cert, key },
      reconnect: FAST,
    },
    rec.handler,
  );
  clients.push(hub);
  return { hub, rec };
}

function connects(deviceId: string): number {
  return emu.packetLog(deviceId).filter((e) => e.direction === 'in' && e.type === 'connect').length;
}

describe('device certificate outside its validity', () => {
  it.each([
    ['expired', { notBefore: '20200101000000Z', notAfter: '20210101000000Z' }, 'CERT_HAS_EXPIRED'],
    ['not yet valid', { notBefore: '20900101000000Z', notAfter: '20991231000000Z' }, 'CERT_NOT_YET_VALID'],
  ] as const)('%s (CA-signed): CONNACK 5, CONNECTION_FAILED(5), INIT, not retried', async (_name, validity, reason) => {
    const deviceId = `cc-${reason.toLowerCase()}`;
    emu.registerDevice({ deviceId });
    const c = await emu.createDeviceCredentials(deviceId, validity);
    const { hub, rec } = x509Client(deviceId, c.chain, c.key);
    await hub.connect(); // TLS completes and CONNECT is written: the verdict comes in CONNACK
    const failed = await rec.waitFor('CONNECTION_FAILED');
    expect(failed.data.err).toBe(5);
    expect(rec.types()).toEqual(['CONNECTING', 'CONNECTION_FAILED']);
    expect(hub.state).toBe('INIT');
    expect(refusals.find((r) => r.clientId === deviceId)).toMatchObject({ returnCode: 5, reason: expect.stringContaining(reason) });
    await sleep(NO_RETRY_WINDOW_MS);
    expect(connects(deviceId)).toBe(1);
    expect(rec.types()).toEqual(['CONNECTING', 'CONNECTION_FAILED']);
  });

  it('a self-signed certificate that expires while connected: the reconnection gets CONNACK 5 and is not retried', async () => {
    const deviceId = 'cc-thumbprint';
    const self = await createCa(deviceId, { days: 1 });
    emu.registerDevice({ deviceId, auth: { type: 'x509-thumbprint', thumbprint: certificateThumbprint(self.cert) } });
    const { hub, rec } = x509Client(deviceId, self.cert, self.key);
    await hub.connect();
    await rec.waitFor('READY');
    skewMs = 2 * 86_400_000; // two days later, for the emulator
    const mark = rec.mark();
    expect(emu.faults.dropConnection(deviceId)).toBe(true);
    const failed = await rec.waitFor('CONNECTION_FAILED', { since: mark });
    expect(failed.data.err).toBe(5);
    expect(rec.types(mark)).toEqual(['DISCONNECTED', 'CONNECTING', 'CONNECTION_FAILED']);
    expect(hub.state).toBe('INIT');
    expect(refusals.find((r) => r.clientId === deviceId)).toMatchObject({ returnCode: 5, reason: 'certificate expired or not yet valid' });
    await sleep(NO_RETRY_WINDOW_MS);
    expect(connects(deviceId)).toBe(2);
    // The clock back to now: the application's connect() works again (the library did not give up for ever).
    skewMs = 0;
    await hub.connect();
    await rec.waitFor('READY', { since: mark });
  });
});
