/**
 * The emulator's CONNECT rules, with raw packets: X.509 (CA-signed, intermediates, thumbprints) and SAS identities,
 * the username, several hubs on one listener, CONNACK codes, sessions, one connection per device.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encode } from '../../src/codec/index.js';
import { createCa, createDeviceCertificate, type CertificateAndKey } from '../../src/emulator/certs.js';
import { startEmulator, type Emulator } from '../../src/emulator/emulator.js';
import { certificateThumbprint } from '../../src/emulator/auth.js';
import { createSasToken } from '../../src/emulator/sas.js';
import { connectDevice, RawClient, utf8 } from './raw-client.js';

const HUB = 'hub-a.azure-devices.net';
const HUB_B = 'hub-b.azure-devices.net';

let emu: Emulator;
let skewMs = 0;
let key: string;
let dev: CertificateAndKey;
let viaIntermediate: CertificateAndKey;
let untrusted: CertificateAndKey;
let expired: CertificateAndKey;
let otherRoot: CertificateAndKey;

beforeAll(async () => {
  emu = await startEmulator({ hubs: [HUB, HUB_B], firmware: false, now: () => Date.now() + skewMs });
  const root = { cert: emu.ca.cert, key: emu.ca.key!, chain: emu.ca.cert };
  const intermediate = await createCa('intermediate', { issuer: root });
  otherRoot = await createCa('someone else');
  [dev, viaIntermediate, untrusted, expired] = await Promise.all([
    emu.createDeviceCredentials('x509-dev'),
    createDeviceCertificate(intermediate, 'x509-int'),
    createDeviceCertificate(otherRoot, 'thumb-dev'),
    createDeviceCertificate(root, 'x509-old', { notBefore: '20200101000000Z', notAfter: '20210101000000Z' }),
  ]);
  key = emu.registerDevice({ deviceId: 'sas-dev', hub: HUB, auth: { type: 'sas' } }).primaryKey!;
  emu.registerDevice({ deviceId: 'x509-dev', hub: HUB });
  emu.registerDevice({ deviceId: 'x509-int', hub: HUB });
  emu.registerDevice({ deviceId: 'x509-old', hub: HUB });
  emu.registerDevice({ deviceId: 'thumb-dev', hub: HUB,
    auth: { type: 'x509-thumbprint', thumbprint: certificateThumbprint(untrusted.cert, 'sha1') } });
  emu.registerDevice({ deviceId: 'b-dev', hub: HUB_B, auth: { type: 'sas', primaryKey: key } });
});

afterAll(async () => {
  await emu.close();
});

async function expectRefused(code: number, o: Parameters<typeof connectDevice>[1]): Promise<void> {
  const { client, connack } = await connectDevice(emu, { hub: HUB, ...o });
  expect(connack).toEqual({ type: 'connack', sessionPresent: false, returnCode: code });
  await client.closed; // the server closes after a refusing CONNACK (MQTT-3.2.2-5)
}

describe('emulator hub: CONNECT', () => {
  it('accepts a SAS device and records api-version and model-id', async () => {
    const seen = emu.waitFor('connect', (e) => e.clientId === 'sas-dev');
    const { client, connack } = await connectDevice(emu, {
      hub: HUB, deviceId: 'sas-dev', sasKey: key,
      username: `${HUB}/sas-dev/?api-version=2021-04-12&model-id=dtmi%3Acom%3Aexample%3AThermostat%3B1&DeviceClientType=t`,
    });
    expect(connack.returnCode).toBe(0);
    const e = await seen;
    expect(e).toMatchObject({ service: 'hub', host: HUB, auth: 'sas', apiVersion: '2021-04-12',
      modelId: 'dtmi:com:example:Thermostat;1', servername: HUB, cleanSession: false, keepalive: 60 });
    expect(emu.deviceStatus('sas-dev').connection).toEqual(e);
    client.close();
  });

  it('accepts a CA-signed certificate whose CN is the device id, also through an intermediate', async () => {
    for (const [id, cert] of [['x509-dev', dev], ['x509-int', viaIntermediate]] as const) {
      const { client, connack } = await connectDevice(emu, { hub: HUB, deviceId: id, cert });
      expect(connack.returnCode, id).toBe(0);
      client.close();
    }
  });

  it('accepts a self-signed (untrusted) certificate by its registered thumbprint, SHA-1 or SHA-256', async () => {
    const { client, connack } = await connectDevice(emu, { hub: HUB, deviceId: 'thumb-dev', cert: untrusted });
    expect(connack.returnCode).toBe(0);
    client.close();
    emu.registerDevice({ deviceId: 'thumb-dev', hub: HUB,
      auth: { type: 'x509-thumbprint', thumbprint: 'ab', secondaryThumbprint: certificateThumbprint(untrusted.cert) } });
    const second = await connectDevice(emu, { hub: HUB, deviceId: 'thumb-dev', cert: untrusted });
    expect(second.connack.returnCode).toBe(0);
    second.client.close();
    emu.registerDevice({ deviceId: 'thumb-dev', hub: HUB, auth: { type: 'x509-thumbprint', thumbprint: 'AB:CD' } });
    await expectRefused(5, { deviceId: 'thumb-dev', cert: untrusted });
  });

  it('refuses bad identities with CONNACK 5', async () => {
    await expectRefused(5, { deviceId: 'nobody', sasKey: key }); // unknown device
    await expectRefused(5, { deviceId: 'sas-dev', sasKey: key, username: 'unknown.azure-devices.net/sas-dev/?api-version=2021-04-12' });
    await expectRefused(5, { deviceId: 'sas-dev', sasKey: key, username: `${HUB}/other/?api-version=2021-04-12` });
    await expectRefused(5, { deviceId: 'sas-dev', sasKey: key, username: `${HUB}/sas-dev/` }); // no api-version
    await expectRefused(5, { deviceId: 'sas-dev', sasKey: key, username: `${HUB}/sas-dev/api-version=2021-04-12` });
    await expectRefused(5, { deviceId: 'sas-dev' }); // SAS device without a token
    await expectRefused(5, { deviceId: 'x509-dev', sasKey: key }); // X.509 device with a token
    await expectRefused(5, { deviceId: 'x509-dev' }); // no certificate
    await expectRefused(5, { deviceId: 'x509-int', cert: dev }); // CN is another device
    await expectRefused(5, { deviceId: 'thumb-dev', cert: dev }); // wrong thumbprint
    await expectRefused(5, { deviceId: 'x509-old', cert: expired }); // expired
  });

  it('refuses a certificate from an untrusted CA unless the CA is trusted', async () => {
    emu.registerDevice({ deviceId: 'thumb-dev', hub: HUB, auth: { type: 'x509-ca' } });
    await expectRefused(5, { deviceId: 'thumb-dev', cert: untrusted });
    emu.trustCa(otherRoot.cert);
    const { client, connack } = await connectDevice(emu, { hub: HUB, deviceId: 'thumb-dev', cert: untrusted });
    expect(connack.returnCode).toBe(0);
    client.close();
  });

  it('refuses bad SAS tokens with CONNACK 4', async () => {
    const now = Math.floor(Date.now() / 1000);
    await expectRefused(4, { deviceId: 'sas-dev', sasKey: Buffer.alloc(32, 3).toString('base64') });
    await expectRefused(4, { deviceId: 'sas-dev', password: createSasToken({ resource: `${HUB}/devices/sas-dev`, key, expiry: now - 1 }) });
    await expectRefused(4, { deviceId: 'sas-dev', password: createSasToken({ resource: `${HUB}/devices/x509-dev`, key }) });
    await expectRefused(4, { deviceId: 'sas-dev', password: createSasToken({ resource: `${HUB}/devices/sas-dev`, key, keyName: 'device' }) });
    await expectRefused(4, { deviceId: 'sas-dev', password: 'not a token' });
  });

  it('accepts a hub-scoped SAS resource (segment prefix) and aliases of the default hub', async () => {
    const a = await connectDevice(emu, { hub: HUB, deviceId: 'sas-dev', password: createSasToken({ resource: HUB, key }) });
    expect(a.connack.returnCode).toBe(0);
    a.client.close();
    const alias = `127.0.0.1:${emu.hub.port}`;
    const b = await connectDevice(emu, { hub: HUB, deviceId: 'sas-dev', servername: 'localhost',
      username: `${alias}/sas-dev/?api-version=2021-04-12`, password: createSasToken({ resource: `${alias}/devices/sas-dev`, key }) });
    expect(b.connack.returnCode).toBe(0);
    b.client.close();
  });

  it('tells hubs apart on one listener: a device of one hub is refused on another', async () => {
    const ok = await connectDevice(emu, { hub: HUB_B, deviceId: 'b-dev', password: createSasToken({ resource: `${HUB_B}/devices/b-dev`, key }) });
    expect(ok.connack.returnCode).toBe(0);
    ok.client.close();
    await expectRefused(5, { hub: HUB, deviceId: 'b-dev', password: createSasToken({ resource: `${HUB}/devices/b-dev`, key }) });
    // SNI names hub B while the username names hub A.
    await expectRefused(5, { hub: HUB, servername: HUB_B, deviceId: 'sas-dev', sasKey: key });
    // A token for hub A does not open hub B.
    await expectRefused(4, { hub: HUB_B, deviceId: 'b-dev', password: createSasToken({ resource: `${HUB}/devices/b-dev`, key }) });
  });

  it('refuses an empty client id with CONNACK 2, with or without CleanSession (MQTT-3.1.3-8)', async () => {
    await expectRefused(2, { deviceId: 'sas-dev', clientId: '', cleanSession: true, sasKey: key });
    const raw = await RawClient.open({ port: emu.hub.port, ca: emu.ca.cert, servername: HUB });
    const bytes = encode({ type: 'connect', clientId: '', keepalive: 60, cleanSession: true, username: `${HUB}/x/?api-version=1` });
    bytes[9]! &= ~0x02; // CleanSession=0, which our encoder refuses to write
    raw.write(bytes);
    expect(await raw.nextOf('connack')).toEqual({ type: 'connack', sessionPresent: false, returnCode: 2 });
    await raw.closed;
  });

  it('answers a CONNECT of another protocol level with CONNACK 1 (MQTT-3.1.2-2)', async () => {
    const raw = await RawClient.open({ port: emu.hub.port, ca: emu.ca.cert, servername: HUB });
    const bytes = encode({ type: 'connect', clientId: 'sas-dev', keepalive: 60, cleanSession: true });
    expect(bytes[8]).toBe(4);
    bytes[8] = 5; // MQTT 5
    raw.write(bytes);
    expect(await raw.nextOf('connack')).toEqual({ type: 'connack', sessionPresent: false, returnCode: 1 });
    await raw.closed;
  });

  it('reports session present for a persistent session only', async () => {
    const first = await connectDevice(emu, { hub: HUB, deviceId: 'x509-dev', cert: dev, cleanSession: true });
    expect(first.connack.sessionPresent).toBe(false);
    first.client.send({ type: 'disconnect' });
    await first.client.closed;
    const p1 = await connectDevice(emu, { hub: HUB, deviceId: 'x509-dev', cert: dev, cleanSession: false });
    expect(p1.connack.sessionPresent).toBe(false);
    p1.client.send({ type: 'disconnect' });
    await p1.client.closed;
    const p2 = await connectDevice(emu, { hub: HUB, deviceId: 'x509-dev', cert: dev, cleanSession: false });
    expect(p2.connack.sessionPresent).toBe(true);
    expect(emu.deviceStatus('x509-dev').persistentSession).toBe(true);
    p2.client.send({ type: 'disconnect' });
    await p2.client.closed;
    const c = await connectDevice(emu, { hub: HUB, deviceId: 'x509-dev', cert: dev, cleanSession: true });
    expect(c.connack.sessionPresent).toBe(false);
    c.client.close();
  });

  it('keeps one connection per device: a new CONNECT drops the old connection', async () => {
    const first = await connectDevice(emu, { hub: HUB, deviceId: 'sas-dev', sasKey: key });
    const dropped = emu.waitFor('disconnect', (e) => e.clientId === 'sas-dev');
    const second = await connectDevice(emu, { hub: HUB, deviceId: 'sas-dev', sasKey: key });
    expect(second.connack.returnCode).toBe(0);
    await first.client.closed;
    expect((await dropped).reason).toBe('replaced by a new connection');
    await second.client.barrier(); // the new connection still works
    expect(emu.isConnected('sas-dev')).toBe(true);
    second.client.close();
  });

  it('closes on a second CONNECT and on packets before CONNECT', async () => {
    const { client } = await connectDevice(emu, { hub: HUB, deviceId: 'sas-dev', sasKey: key });
    const violation = emu.waitFor('protocolViolation', (e) => e.clientId === 'sas-dev');
    client.send({ type: 'connect', clientId: 'sas-dev', keepalive: 60, cleanSession: false });
    await client.closed;
    expect((await violation).reason).toMatch(/MQTT-3\.1\.0-2/);

    const raw = await RawClient.open({ port: emu.hub.port, ca: emu.ca.cert, servername: HUB });
    raw.send({ type: 'publish', topic: 'devices/sas-dev/messages/events/', payload: utf8('x'), qos: 0, dup: false, retain: false });
    await raw.closed;
    expect(raw.received).toEqual([]);
  });

  it('closes the connection when the SAS token expires', async () => {
    // The emulator's clock runs ahead so that the token has about 500 ms left when it is checked.
    const expiry = Math.floor(Date.now() / 1000) + 3600;
    skewMs = expiry * 1000 - Date.now() - 500;
    try {
      const { client, connack } = await connectDevice(emu, { hub: HUB, deviceId: 'sas-dev',
        password: createSasToken({ resource: `${HUB}/devices/sas-dev`, key, expiry }) });
      expect(connack.returnCode).toBe(0);
      const gone = emu.waitFor('disconnect', (e) => e.clientId === 'sas-dev');
      await client.closed;
      expect((await gone).reason).toBe('SAS token expired');
    } finally {
      skewMs = 0;
    }
  });

  it('closes a connection that sends no CONNECT in time', async () => {
    const quick = await startEmulator({ firmware: false, connectTimeoutMs: 50, ca: { cert: emu.ca.cert, key: emu.ca.key! },
      serverCertificate: emu.serverCertificate });
    try {
      const raw = await RawClient.open({ port: quick.hub.port, ca: quick.ca.cert, servername: 'localhost' });
      await raw.closed;
      expect(raw.received).toEqual([]);
    } finally {
      await quick.close();
    }
  });
});
