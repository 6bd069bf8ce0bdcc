/**
 * Opening the stream: TLS verification by default, SNI = the logical host even with an explicit address, mutual
 * TLS, loudly named opt-out, credential errors, and the classification of failures (EACCES vs network errors).
 */
import { createPrivateKey } from 'node:crypto';
import { once } from 'node:events';
import type { TLSSocket } from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  createCa,
  createDeviceCertificate,
  createServerCertificate,
  type CertificateAndKey,
} from '../../src/emulator/certs.js';
import { AzureIotHubError } from '../../src/errors.js';
import { classifySocketError, isTlsErrorCode, MqttSession, type MqttSessionOptions } from '../../src/transport/index.js';
import { FakeBroker } from './fake-broker.js';
import { connected, nextFailure } from './helpers.js';

let ca: CertificateAndKey;
let foreignCa: CertificateAndKey;
let server: CertificateAndKey;
let device: CertificateAndKey;
let foreignDevice: CertificateAndKey;
let broker: FakeBroker;
const sessions: MqttSession[] = [];
const servernames: (string | false | null)[] = [];
const clientCns: (string | undefined)[] = [];

beforeAll(async () => {
  ca = await createCa('Transport Test CA');
  foreignCa = await createCa('Foreign CA');
  server = await createServerCertificate(ca, 'localhost');
  device = await createDeviceCertificate(ca, 'dev1');
  foreignDevice = await createDeviceCertificate(foreignCa, 'dev1');
  broker = await FakeBroker.start({
    cert: server.chain,
    key: server.key,
    ca: ca.cert,
    requestCert: true,
    rejectUnauthorized: false, // the tests check what the client sent; the session's own checks are under test
  });
  broker.server.on('secureConnection', (s: TLSSocket) => {
    servernames.push(s.servername);
    const peer = s.getPeerCertificate();
    clientCns.push(s.authorized ? (peer.subject?.CN as string | undefined) : undefined);
  });
});
afterEach(() => {
  for (const s of sessions.splice(0)) s.destroy();
  servernames.length = 0;
  clientCns.length = 0;
  broker.behaviour.connack = () => ({ returnCode: 0 });
});
afterAll(async () => {
  await broker?.close();
});

function tlsSession(options: Partial<MqttSessionOptions> = {}): MqttSession {
  const s = new MqttSession({
    host: 'localhost',
    address: '127.0.0.1',
    port: broker.port,
    clientId: 'dev1',
    reconnect: false,
    tls: { ca: ca.cert, cert: device.chain, key: device.key },
    ...options,
  });
  sessions.push(s);
  return s;
}

describe('TLS', () => {
  it('verifies the server, sends SNI = host while connecting to address, and presents the client certificate', async () => {
    const s = tlsSession();
    await connected(s);
    expect(servernames).toEqual(['localhost']);
    expect(clientCns).toEqual(['dev1']);
  });

  it('verifies the certificate against the logical host, not the address (ERR_TLS_CERT_ALTNAME_INVALID -> EACCES)', async () => {
    const s = tlsSession({ host: 'not-this-host.example' });
    const err = await s.connect().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AzureIotHubError);
    expect(err).toMatchObject({ code: 'EACCES', cause: expect.objectContaining({ code: 'ERR_TLS_CERT_ALTNAME_INVALID' }) });
  });

  it('an IP host gets no SNI (RFC 6066) and is verified against the IP SAN', async () => {
    const s = tlsSession({ host: '127.0.0.1' });
    await connected(s);
    expect(servernames).toEqual([false]);
  });

  it('rejects a server certificate from an unknown CA (EACCES), unless verification is loudly disabled', async () => {
    const bad = tlsSession({ tls: { ca: foreignCa.cert, cert: device.chain, key: device.key } });
    const err = await bad.connect().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'EACCES' });
    expect(isTlsErrorCode((err as AzureIotHubError & { cause: { code: string } }).cause.code)).toBe(true);
    expect(bad.state).toBe('idle');
    const trusting = tlsSession({
      host: 'anything.example',
      tls: { ca: foreignCa.cert, cert: device.chain, key: device.key, dangerouslyDisableServerCertificateVerification: true },
    });
    await connected(trusting);
  });

  it('the default trust store (no ca) does not trust a private CA', async () => {
    const s = tlsSession({ tls: { cert: device.chain, key: device.key } });
    await expect(s.connect()).rejects.toMatchObject({ code: 'EACCES' });
  });

  it('a server that closes the TLS connection before CONNACK is an authentication failure (EACCES), not retried', async () => {
    broker.behaviour.connack = () => undefined;
    broker.once('packet', () => broker.sockets.at(-1)!.destroy());
    const s = tlsSession({ tls: { ca: ca.cert, cert: foreignDevice.chain, key: foreignDevice.key }, reconnect: {} });
    const failed = nextFailure(s);
    await s.connect();
    const err = await failed;
    expect(err).toMatchObject({ code: 'EACCES' });
    expect(err!.message).toContain('before CONNACK');
    expect(s.state).toBe('idle');
  });

  it('credentials that do not load fail with EINVAL, and the message holds no key material', async () => {
    const s = tlsSession({ tls: { ca: ca.cert, cert: device.chain, key: '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n' } });
    const err = (await s.connect().catch((e: unknown) => e)) as AzureIotHubError;
    expect(err).toMatchObject({ code: 'EINVAL' });
    expect(err.message).not.toContain('AAAA');
    expect(err.message).not.toContain(device.key.slice(30, 60));
  });

  it('an encrypted key works with its passphrase; a wrong passphrase is EINVAL', async () => {
    const encrypted = createPrivateKey(device.key)
      .export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase: 'correct horse' })
      .toString();
    const good = tlsSession({ tls: { ca: ca.cert, cert: device.chain, key: encrypted, passphrase: 'correct horse' } });
    await connected(good);
    expect(clientCns).toEqual(['dev1']);
    const bad = tlsSession({ tls: { ca: ca.cert, cert: device.chain, key: encrypted, passphrase: 'wrong' } });
    const err = (await bad.connect().catch((e: unknown) => e)) as AzureIotHubError;
    expect(err).toMatchObject({ code: 'EINVAL' });
    expect(err.message).not.toContain('wrong');
    expect(err.message).not.toContain('correct horse');
  });

  it('minVersion TLSv1.3 against a TLS 1.2-only server fails with EACCES', async () => {
    const old = await FakeBroker.start({ cert: server.chain, key: server.key, maxVersion: 'TLSv1.2' });
    try {
      const s = new MqttSession({
        host: 'localhost',
        port: old.port,
        clientId: 'dev1',
        reconnect: false,
        tls: { ca: ca.cert, minVersion: 'TLSv1.3' },
      });
      sessions.push(s);
      await expect(s.connect()).rejects.toMatchObject({ code: 'EACCES' });
      const ok = new MqttSession({ host: 'localhost', port: old.port, clientId: 'dev1', reconnect: false, tls: { ca: ca.cert } });
      sessions.push(ok);
      await connected(ok);
    } finally {
      await old.close();
    }
  });

  it('a plain socket closed before CONNACK is a network error (ECONNRESET)', async () => {
    const plain = await FakeBroker.start();
    try {
      plain.behaviour.connack = () => undefined;
      plain.once('packet', () => plain.sockets.at(-1)!.destroy());
      const s = new MqttSession({ host: '127.0.0.1', port: plain.port, tls: false, clientId: 'x', reconnect: false });
      sessions.push(s);
      const failed = nextFailure(s);
      await s.connect();
      expect(await failed).toMatchObject({ code: 'ECONNRESET' });
    } finally {
      await plain.close();
    }
  });

  it('a connect timeout during the TLS handshake gives ETIMEDOUT', async () => {
    const { createServer } = await import('node:net');
    const silent = createServer(() => {}); // accepts TCP, never speaks TLS
    silent.listen(0, '127.0.0.1');
    await once(silent, 'listening');
    const port = (silent.address() as { port: number }).port;
    try {
      const s = new MqttSession({ host: 'localhost', address: '127.0.0.1', port, clientId: 'x', reconnect: false, connectTimeoutMs: 100, tls: { ca: ca.cert } });
      sessions.push(s);
      const err = (await s.connect().catch((e: unknown) => e)) as AzureIotHubError;
      expect(err).toMatchObject({ code: 'ETIMEDOUT', message: expect.stringContaining('could not be opened') });
    } finally {
      silent.close();
    }
  });
});

describe('classifySocketError', () => {
  const table: [string, boolean, string][] = [
    ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', true, 'EACCES'],
    ['DEPTH_ZERO_SELF_SIGNED_CERT', true, 'EACCES'],
    ['SELF_SIGNED_CERT_IN_CHAIN', true, 'EACCES'],
    ['CERT_HAS_EXPIRED', true, 'EACCES'],
    ['CERT_NOT_YET_VALID', true, 'EACCES'],
    ['ERR_TLS_CERT_ALTNAME_INVALID', true, 'EACCES'],
    ['ERR_SSL_TLSV1_ALERT_UNKNOWN_CA', true, 'EACCES'],
    ['ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED', true, 'EACCES'],
    ['ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE', true, 'EACCES'],
    ['ERR_OSSL_BAD_DECRYPT', true, 'EINVAL'],
    ['ECONNREFUSED', true, 'ECONNREFUSED'],
    ['ETIMEDOUT', false, 'ETIMEDOUT'],
    ['ECONNRESET', true, 'ECONNRESET'],
    ['EPIPE', false, 'ECONNRESET'],
    ['ENOTFOUND', true, 'ECONNRESET'],
    ['EHOSTUNREACH', false, 'ECONNRESET'],
  ];
  it.each(table)('%s (tls=%s) -> %s', (code, secure, expected) => {
    const cause = Object.assign(new Error('x'), { code });
    const err = classifySocketError(cause, secure);
    expect(err).toBeInstanceOf(AzureIotHubError);
    expect(err.code).toBe(expected);
    expect(err.cause).toBe(cause);
    expect(err.connack).toBeUndefined();
  });

  it('keeps an AzureIotHubError as it is', () => {
    const e = new AzureIotHubError('EPROTO', 'x');
    expect(classifySocketError(e, true)).toBe(e);
  });
});
