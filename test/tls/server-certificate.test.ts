/**
 * The hub's server certificate is wrong: signed by a CA the device does not trust, expired, not yet valid, or
 * without the hub's name. In each case, on the first connection and on a reconnection after a good one, the client
 * reports EACCES with the precise cause (CONNECTION_FAILED, back to INIT) and makes no second attempt; with
 * `retryOnAuthFailure` (the control) it does retry. Certificates are minted with past or future dates (no faketime
 * needed: OpenSSL checks them against the real clock).
 */
import { afterAll, afterEach, beforeAll, describe, it } from 'vitest';
import { createCa, createServerCertificate, type CertificateAndKey } from '../../src/emulator/certs.js';
import { startEmulator, type Emulator } from '../../src/emulator/emulator.js';
import { closeClients, refusedOnFirstConnect, refusedOnReconnect } from './cases.js';
import { BadTlsServer } from './helpers.js';

let emu: Emulator;
const servers = new Map<string, BadTlsServer>();
let n = 0;

const CASES = [
  { name: 'signed by a CA the device does not trust (root sent)', kind: 'wrong-ca', cause: 'SELF_SIGNED_CERT_IN_CHAIN' },
  { name: 'signed by a CA the device does not trust (leaf only)', kind: 'wrong-ca-leaf', cause: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' },
  { name: 'expired', kind: 'expired', cause: 'CERT_HAS_EXPIRED' },
  { name: 'not yet valid', kind: 'not-yet-valid', cause: 'CERT_NOT_YET_VALID' },
  { name: "without the hub's name (host name mismatch)", kind: 'mismatch', cause: 'ERR_TLS_CERT_ALTNAME_INVALID' },
] as const;

beforeAll(async () => {
  emu = await startEmulator({ firmware: false });
  const ca: CertificateAndKey = { cert: emu.ca.cert, key: emu.ca.key!, chain: emu.ca.cert };
  const hub = { dnsNames: [emu.hub.host], ipAddresses: [] };
  const otherCa = await createCa('another root CA');
  const wrong = await createServerCertificate(otherCa, emu.hub.host, hub);
  const certs: Record<(typeof CASES)[number]['kind'], CertificateAndKey> = {
    'wrong-ca': wrong,
    'wrong-ca-leaf': { ...wrong, chain: wrong.cert },
    expired: await createServerCertificate(ca, emu.hub.host, { ...hub, notBefore: '20200101000000Z', notAfter: '20210101000000Z' }),
    'not-yet-valid': await createServerCertificate(ca, emu.hub.host, { ...hub, notBefore: '20900101000000Z', notAfter: '20991231000000Z' }),
    mismatch: await createServerCertificate(ca, 'other.azure-devices.net', { dnsNames: ['other.azure-devices.net'], ipAddresses: [] }),
  };
  for (const [kind, c] of Object.entries(certs)) {
    servers.set(kind, await BadTlsServer.start({ cert: c.chain, key: c.key }));
  }
});
afterEach(async () => {
  await closeClients();
  for (const s of servers.values()) {
    s.connections = 0;
    s.secured = 0;
  }
});
afterAll(async () => {
  await Promise.all([...servers.values()].map((s) => s.close()));
  await emu.close();
});

describe.each(CASES)('server certificate $name', ({ kind, cause }) => {
  it(`first connection: EACCES (${cause}), CONNECTION_FAILED, INIT, not retried`, async () => {
    await refusedOnFirstConnect(emu, servers.get(kind)!, `srv-${kind}-${++n}`, cause);
  });

  it(`reconnection after a good connection: EACCES (${cause}), INIT, not retried; queued QoS 1 rejected`, async () => {
    await refusedOnReconnect(emu, servers.get(kind)!, `srv-${kind}-${++n}`, cause);
  });

  it('control: with retryOnAuthFailure the library does retry', async () => {
    await refusedOnReconnect(emu, servers.get(kind)!, `srv-${kind}-${++n}`, cause, true);
  });
});
