/**
 * Integration against Debian's mosquitto (an independent C implementation of MQTT) over mutual TLS: connect,
 * subscribe, QoS 0 and 1 both ways, 256 KiB payloads, keepalive with a short period, rejected client certificates
 * (foreign CA, none), a wrong server CA, and QoS 1 across a reset through the fault proxy.
 */
import { subscribe as dcSubscribe, unsubscribe as dcUnsubscribe } from 'node:diagnostics_channel';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { PublishPacket } from '../../src/codec/index.js';
import {
  createCa,
  createDeviceCertificate,
  createServerCertificate,
  type CertificateAndKey,
} from '../../src/emulator/certs.js';
import { AzureIotHubError } from '../../src/errors.js';
import { MQTT_CHANNELS, MqttSession, type MqttPacketMessage, type MqttSessionOptions } from '../../src/transport/index.js';
import { FaultProxy } from '../helpers/fault-proxy.js';
import { hasMosquitto, startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { connected, nextFailure, until } from './helpers.js';

const available = hasMosquitto();

let ca: CertificateAndKey;
let foreignCa: CertificateAndKey;
let serverCert: CertificateAndKey;
const devices: Record<string, CertificateAndKey> = {};
let foreignDevice: CertificateAndKey;
let broker: Mosquitto;
const sessions: MqttSession[] = [];

describe.skipIf(!available)('mosquitto over mutual TLS', () => {
  beforeAll(async () => {
    ca = await createCa('Mosquitto Test CA');
    foreignCa = await createCa('Someone Else CA');
    serverCert = await createServerCertificate(ca, 'localhost');
    for (const id of ['dev-a', 'dev-b']) devices[id] = await createDeviceCertificate(ca, id);
    foreignDevice = await createDeviceCertificate(foreignCa, 'dev-a');
    broker = await startMosquitto({ ca: ca.cert, cert: serverCert.chain, key: serverCert.key });
  });
  afterEach(() => {
    for (const s of sessions.splice(0)) s.destroy();
  });
  afterAll(async () => {
    await broker?.stop();
  });

  function device(id: 'dev-a' | 'dev-b', options: Partial<MqttSessionOptions> = {}): MqttSession {
    const cert = devices[id]!;
    const s = new MqttSession({
      host: 'localhost',
      address: '127.0.0.1',
      port: broker.port,
      clientId: id,
      reconnect: false,
      tls: { ca: ca.cert, cert: cert.chain, key: cert.key },
      ...options,
    });
    sessions.push(s);
    return s;
  }

  /** The error of a failed attempt, whether connect() rejects (TLS 1.2) or the failure follows CONNECT (TLS 1.3). */
  async function connectFailure(s: MqttSession): Promise<AzureIotHubError | undefined> {
    const failed = nextFailure(s);
    try {
      await s.connect();
    } catch (err) {
      return err as AzureIotHubError;
    }
    return failed;
  }

  it('connects with the device certificate (CN becomes the user name)', async () => {
    const s = device('dev-a');
    const info = new Promise((r) => s.once('connected', r));
    await s.connect();
    expect(await info).toEqual({ sessionPresent: false, reconnect: false });
    expect(broker.log()).toMatch(/as dev-a .*u'dev-a'/);
  });

  it('subscribe, then QoS 0 and QoS 1 both ways', async () => {
    const a = device('dev-a');
    const b = device('dev-b');
    const atA: PublishPacket[] = [];
    const atB: PublishPacket[] = [];
    a.on('message', (p) => atA.push(p));
    b.on('message', (p) => atB.push(p));
    await connected(a);
    await connected(b);
    expect(await a.subscribe([{ topic: 'to/a/#', qos: 1 }])).toEqual([1]);
    expect(await b.subscribe([{ topic: 'to/b/#', qos: 0 }, { topic: 'to/b2', qos: 1 }])).toEqual([0, 1]);
    await b.publish('to/a/x', 'b->a qos1', { qos: 1 });
    await b.publish('to/a/y', 'b->a qos0');
    await a.publish('to/b/z', 'a->b qos1 (granted 0)', { qos: 1 });
    await a.publish('to/b2', 'a->b qos1', { qos: 1 });
    await until(() => atA.length === 2 && atB.length === 2);
    expect(atA.map((p) => [p.topic, p.qos, Buffer.from(p.payload).toString()])).toEqual([
      ['to/a/x', 1, 'b->a qos1'],
      ['to/a/y', 0, 'b->a qos0'],
    ]);
    expect(atB.map((p) => [p.topic, p.qos])).toEqual([
      ['to/b/z', 0],
      ['to/b2', 1],
    ]);
    expect(atA[0]!.messageId).toBeGreaterThan(0);
  });

  it('256 KiB payloads both ways (QoS 1)', async () => {
    const a = device('dev-a');
    const b = device('dev-b');
    const big = new Uint8Array(256 * 1024);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31 + 7) & 0xff;
    const atA: Uint8Array[] = [];
    const atB: Uint8Array[] = [];
    a.on('message', (p) => atA.push(p.payload));
    b.on('message', (p) => atB.push(p.payload));
    await connected(a);
    await connected(b);
    await a.subscribe([{ topic: 'big/a', qos: 1 }]);
    await b.subscribe([{ topic: 'big/b', qos: 1 }]);
    await Promise.all([a.publish('big/b', big, { qos: 1 }), b.publish('big/a', big, { qos: 1 })]);
    await until(() => atA.length === 1 && atB.length === 1);
    expect(Buffer.compare(atA[0]!, big)).toBe(0);
    expect(Buffer.compare(atB[0]!, big)).toBe(0);
  });

  it('keepalive with a short period: PINGREQ goes out and PINGRESP comes back', async () => {
    const seen: string[] = [];
    const onSent = (m: unknown): void => {
      const msg = m as MqttPacketMessage;
      if (msg.clientId === 'dev-b' && msg.type === 'pingreq') seen.push('pingreq');
    };
    const onReceived = (m: unknown): void => {
      const msg = m as MqttPacketMessage;
      if (msg.clientId === 'dev-b' && msg.type === 'pingresp') seen.push('pingresp');
    };
    dcSubscribe(MQTT_CHANNELS.packetSent, onSent);
    dcSubscribe(MQTT_CHANNELS.packetReceived, onReceived);
    try {
      const s = device('dev-b', { keepaliveSeconds: 1 });
      await connected(s);
      await until(() => seen.includes('pingresp'), 5000, 'a PINGRESP');
      expect(seen.slice(0, 2)).toEqual(['pingreq', 'pingresp']);
      expect(s.state).toBe('connected');
    } finally {
      dcUnsubscribe(MQTT_CHANNELS.packetSent, onSent);
      dcUnsubscribe(MQTT_CHANNELS.packetReceived, onReceived);
    }
  });

  it.each(['TLSv1.3', 'TLSv1.2'] as const)('a client certificate from a foreign CA is rejected: EACCES (%s)', async (v) => {
    const s = device('dev-a', {
      reconnect: {},
      tls: { ca: ca.cert, cert: foreignDevice.chain, key: foreignDevice.key, maxVersion: v },
    });
    const err = await connectFailure(s);
    expect(err).toBeInstanceOf(AzureIotHubError);
    expect(err!.code).toBe('EACCES');
    expect(s.state).toBe('idle'); // not retried blindly
  });

  it.each(['TLSv1.3', 'TLSv1.2'] as const)('no client certificate is rejected: EACCES (%s)', async (v) => {
    const s = device('dev-a', { tls: { ca: ca.cert, maxVersion: v } });
    const err = await connectFailure(s);
    expect(err).toMatchObject({ code: 'EACCES' });
  });

  it('a wrong server CA is rejected by the client: EACCES', async () => {
    const s = device('dev-a', { tls: { ca: foreignCa.cert, cert: devices['dev-a']!.chain, key: devices['dev-a']!.key } });
    const err = await connectFailure(s);
    expect(err).toMatchObject({ code: 'EACCES' });
    expect((err!.cause as { code?: string }).code).toMatch(/SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER/);
  });

  it('QoS 1 across a connection reset through the fault proxy: every message arrives at least once', async () => {
    const proxy = await FaultProxy.start(broker.port);
    try {
      const sub = device('dev-b');
      const got: string[] = [];
      sub.on('message', (p) => got.push(Buffer.from(p.payload).toString()));
      await connected(sub);
      await sub.subscribe([{ topic: 'proxy/t', qos: 1 }]);
      const pub = device('dev-a', { port: proxy.port, reconnect: { initialDelayMs: 10 }, random: () => 0 });
      let reconnected = 0;
      pub.on('connected', (i) => (reconnected += i.reconnect ? 1 : 0));
      await connected(pub);
      const all = Array.from({ length: 40 }, (_, i) => pub.publish('proxy/t', `m${i}`, { qos: 1 }));
      await until(() => got.length >= 5);
      proxy.resetAll();
      await Promise.all(all);
      const want = Array.from({ length: 40 }, (_, i) => `m${i}`);
      await until(() => want.every((m) => got.includes(m)), 5000, 'all messages at the subscriber');
      expect(reconnected).toBeGreaterThanOrEqual(1);
    } finally {
      await proxy.close();
    }
  });
});
