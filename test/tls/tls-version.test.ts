/**
 * TLS below 1.2 is refused. A server that offers at most TLS 1.1 (or 1.0), with a certificate the device would
 * otherwise accept, answers the client's TLS 1.2+ hello with a protocol_version alert: the client reports EACCES
 * (ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION), on the first connection and on a reconnection, and does not retry. A
 * legacy client proves the server really speaks TLS 1.1 on this machine's OpenSSL (OpenSSL 3 needs `SECLEVEL=0` for
 * it); a TLS 1.2-only server with the same certificate is accepted; and the transport cannot be configured below
 * TLS 1.2.
 */
import { once } from 'node:events';
import * as tls from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createServerCertificate, type CertificateAndKey } from '../../src/emulator/certs.js';
import { startEmulator, type Emulator } from '../../src/emulator/emulator.js';
import { MqttSession } from '../../src/transport/index.js';
import { clientFor, closeClients, refusedOnFirstConnect, refusedOnReconnect } from './cases.js';
import { BadTlsServer } from './helpers.js';

let emu: Emulator;
let good: CertificateAndKey;
let tls11: BadTlsServer;
let tls10: BadTlsServer;
let n = 0;

/** What OpenSSL 3 needs to negotiate TLS 1.0/1.1 at all (their ciphers are below the default security level). */
const LEGACY = { minVersion: 'TLSv1', ciphers: 'DEFAULT@SECLEVEL=0' } as const;
const PROTOCOL_ALERT = 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION';

beforeAll(async () => {
  emu = await startEmulator({ firmware: false });
  good = await createServerCertificate({ cert: emu.ca.cert, key: emu.ca.key!, chain: emu.ca.cert }, emu.hub.host, {
    dnsNames: [emu.hub.host],
    ipAddresses: [],
  });
  tls11 = await BadTlsServer.start({ cert: good.chain, key: good.key, ...LEGACY, maxVersion: 'TLSv1.1' });
  tls10 = await BadTlsServer.start({ cert: good.chain, key: good.key, ...LEGACY, maxVersion: 'TLSv1' });
});
afterEach(async () => {
  await closeClients();
  for (const s of [tls11, tls10]) {
    s.connections = 0;
    s.secured = 0;
  }
});
afterAll(async () => {
  await Promise.all([tls11.close(), tls10.close()]);
  await emu.close();
});

/** Handshake with a legacy client allowing TLS 1.0..`max`: the negotiated protocol, or the error code. */
async function legacyHandshake(port: number, max: 'TLSv1' | 'TLSv1.1'): Promise<string> {
  const socket = tls.connect({ host: '127.0.0.1', port, servername: emu.hub.host, ca: emu.ca.cert, ...LEGACY, maxVersion: max });
  try {
    await once(socket, 'secureConnect');
    return socket.getProtocol() ?? 'unknown';
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? 'error';
  } finally {
    socket.destroy();
  }
}

describe('TLS below 1.2', () => {
  it('the legacy servers really speak TLS 1.1 and 1.0 here (the refusal below is about the version)', async () => {
    // If this machine's OpenSSL could not do TLS 1.1 at all, the client would still be refused (the tests below),
    // but for a different reason; this check makes the difference visible.
    expect(await legacyHandshake(tls11.port, 'TLSv1.1')).toBe('TLSv1.1');
    expect(await legacyHandshake(tls10.port, 'TLSv1')).toBe('TLSv1');
    expect(tls11.secured + tls10.secured).toBe(2);
  });

  it.each([
    ['TLS 1.1', () => tls11],
    ['TLS 1.0', () => tls10],
  ])('first connection to a %s-only server: EACCES (protocol_version alert), not retried', async (_name, server) => {
    await refusedOnFirstConnect(emu, server(), `v-first-${++n}`, PROTOCOL_ALERT);
    // The server saw a hello it could not serve.
    expect(server().handshakeErrors.at(-1)).toBe('ERR_SSL_UNSUPPORTED_PROTOCOL');
  });

  it('reconnection that lands on a TLS 1.1-only server: EACCES, INIT, not retried', async () => {
    await refusedOnReconnect(emu, tls11, `v-re-${++n}`, PROTOCOL_ALERT);
  });

  it('control: a TLS 1.2-only server with the same certificate is accepted (the handshake completes)', async () => {
    const tls12 = await BadTlsServer.start({ cert: good.chain, key: good.key, minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' });
    try {
      const { hub } = clientFor(emu, `v-12-${++n}`, tls12.port, { reconnect: false });
      // The server never answers CONNECT; resolving connect() means TLS 1.2 was accepted and CONNECT written.
      await hub.connect();
      expect(tls12.secured).toBe(1);
    } finally {
      await closeClients();
      await tls12.close();
    }
  });

  it('the transport cannot be configured below TLS 1.2', () => {
    for (const v of ['TLSv1', 'TLSv1.1']) {
      expect(
        () => new MqttSession({ host: emu.hub.host, clientId: 'x', tls: { minVersion: v as 'TLSv1.2' } }),
      ).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    }
  });
});
