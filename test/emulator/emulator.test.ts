/**
 * The emulator facade: options, certificates, the device registry API, the firmware server it composes, and
 * `close()` leaving nothing behind.
 */
import { X509Certificate } from 'node:crypto';
import * as https from 'node:https';
import * as http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../../src/emulator/emulator.js';
import { connectDevice, subscribe } from './raw-client.js';

let emu: Emulator;

beforeAll(async () => {
  emu = await startEmulator({ hubs: ['one.azure-devices.net', 'two.azure-devices.net'], dpsHost: 'dps.example.net',
    idScope: '0ne0000TEST' });
});

afterAll(async () => {
  await emu.close();
});

function get(url: string, headers: Record<string, string>, ca?: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const lib = url.startsWith('https:') ? https : http;
    const req = lib.get(url, { headers, ...(ca === undefined ? {} : { ca }), agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
  });
}

describe('emulator facade', () => {
  it('describes its endpoints and mints a server certificate for every host name', () => {
    expect(emu.hub).toMatchObject({ host: 'one.azure-devices.net', hosts: ['one.azure-devices.net', 'two.azure-devices.net'],
      address: '127.0.0.1' });
    expect(emu.hub.port).toBeGreaterThan(0);
    expect(emu.dps).toMatchObject({ host: 'dps.example.net', idScope: '0ne0000TEST', address: '127.0.0.1' });
    expect(emu.dps.port).not.toBe(emu.hub.port);
    const san = new X509Certificate(emu.serverCertificate.cert).subjectAltName ?? '';
    for (const name of ['DNS:one.azure-devices.net', 'DNS:two.azure-devices.net', 'DNS:dps.example.net', 'DNS:localhost',
      'IP Address:127.0.0.1']) {
      expect(san).toContain(name);
    }
    expect(new X509Certificate(emu.serverCertificate.cert).verify(new X509Certificate(emu.ca.cert).publicKey)).toBe(true);
  });

  it('registers devices with generated keys and ready-made connection strings', () => {
    const sas = emu.registerDevice({ deviceId: 'f-sas', auth: { type: 'sas' } });
    expect(Buffer.from(sas.primaryKey!, 'base64')).toHaveLength(32);
    expect(sas.connectionString).toBe(`HostName=one.azure-devices.net;DeviceId=f-sas;SharedAccessKey=${sas.primaryKey!};` +
      `GatewayHostName=127.0.0.1:${emu.hub.port}`);
    expect(emu.registerDevice({ deviceId: "A-z.0%_*?!(),:=@$'" }).deviceId).toBe("A-z.0%_*?!(),:=@$'");
    const x = emu.registerDevice({ deviceId: 'f-x', hub: 'TWO.azure-devices.net' });
    expect(x).toMatchObject({ hub: 'two.azure-devices.net', auth: { type: 'x509-ca' } });
    expect(x.connectionString).toContain('x509=true');
    expect(emu.getDevice('f-x', 'two.azure-devices.net')?.deviceId).toBe('f-x');
    expect(emu.getDevice('f-x')).toBeUndefined(); // the default hub
    for (const bad of ['', 'a/b', 'a b', 'a#', 'a+', 'é', 'x'.repeat(129)]) {
      expect(() => emu.registerDevice({ deviceId: bad }), bad).toThrow(expect.objectContaining({ code: 'EINVAL' }) as Error);
    }
    expect(() => emu.registerDevice({ deviceId: 'z', hub: 'three.azure-devices.net' }))
      .toThrow(expect.objectContaining({ code: 'EINVAL' }) as Error);
  });

  it('keeps twin and queue when re-registering, loses them when removing; removing disconnects', async () => {
    const key = emu.registerDevice({ deviceId: 'f-keep', auth: { type: 'sas' } }).primaryKey!;
    emu.updateDesired('f-keep', { a: 1 });
    emu.registerDevice({ deviceId: 'f-keep', auth: { type: 'sas', primaryKey: key } });
    expect(emu.getTwin('f-keep').desired).toEqual({ a: 1, $version: 2 });
    const { client } = await connectDevice(emu, { deviceId: 'f-keep', sasKey: key });
    await subscribe(client, ['$iothub/twin/res/#']);
    expect(emu.deviceStatus('f-keep')).toMatchObject({ connected: true, subscriptions: { '$iothub/twin/res/#': 1 } });
    expect(emu.removeDevice('f-keep')).toBe(true);
    await client.closed;
    expect(emu.removeDevice('f-keep')).toBe(false);
    expect(() => emu.getTwin('f-keep')).toThrow(expect.objectContaining({ code: 'ENOENT' }) as Error);
  });

  it('asks for the hub when a device id is registered on several hubs', () => {
    emu.registerDevice({ deviceId: 'twice' });
    emu.registerDevice({ deviceId: 'twice', hub: 'two.azure-devices.net' });
    expect(() => emu.getTwin('twice')).toThrow(expect.objectContaining({ code: 'EINVAL' }) as Error);
    expect(emu.getTwin('twice', { hub: 'two.azure-devices.net' }).desired.$version).toBe(1);
  });

  it('serves published firmware over HTTPS with Range requests', async () => {
    const image = new Uint8Array(1000).map((_, i) => i % 251);
    const published = emu.publishFirmware('fw/app-1.2.bin', image);
    expect(published).toMatchObject({ path: '/fw/app-1.2.bin', size: 1000, url: `${emu.firmware!.origin}/fw/app-1.2.bin`,
      host: `127.0.0.1:${emu.firmware!.port}` });
    expect(emu.firmware!.protocol).toBe('https:');
    const part = await get(published.url, { Range: 'bytes=100-199' }, emu.ca.cert);
    expect(part.status).toBe(206);
    expect(part.headers['content-range']).toBe('bytes 100-199/1000');
    expect([...part.body]).toEqual([...image.subarray(100, 200)]);
    expect((await get(published.url, { Range: 'bytes=5000-' }, emu.ca.cert)).status).toBe(416);
    expect(emu.firmwareServer!.requests).toHaveLength(2);
    emu.faults.firmware!.failNext(503);
    expect((await get(published.url, {}, emu.ca.cert)).status).toBe(503);
  });

  it('runs without a firmware server, or with plain HTTP, and takes the caller\'s CA and server certificate', async () => {
    const none = await startEmulator({ firmware: false, ca: { cert: emu.ca.cert, key: emu.ca.key! },
      serverCertificate: emu.serverCertificate, hubs: ['one.azure-devices.net'] });
    expect(none.firmware).toBeUndefined();
    expect(none.faults.firmware).toBeUndefined();
    expect(() => none.publishFirmware('a.bin', new Uint8Array(1))).toThrow(expect.objectContaining({ code: 'ENOENT' }) as Error);
    expect(none.ca.cert).toBe(emu.ca.cert);
    await none.close();
    const plain = await startEmulator({ firmware: { plainHttp: true }, ca: { cert: emu.ca.cert, key: emu.ca.key! },
      serverCertificate: emu.serverCertificate });
    const p = plain.publishFirmware('b.bin', Uint8Array.of(1, 2, 3));
    expect(p.url.startsWith('http://127.0.0.1:')).toBe(true);
    expect([...(await get(p.url, {})).body]).toEqual([1, 2, 3]);
    await plain.close();
    await expect(startEmulator({ ca: { cert: emu.ca.cert } })).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(startEmulator({ dpsRetryAfterSeconds: -1 })).rejects.toMatchObject({ code: 'EINVAL' });
  });

  it('closes everything: connections, listeners, pending calls and waiters', async () => {
    const e = await startEmulator({ firmware: false, ca: { cert: emu.ca.cert, key: emu.ca.key! },
      serverCertificate: emu.serverCertificate, hubs: ['one.azure-devices.net'] });
    const key = e.registerDevice({ deviceId: 'c', auth: { type: 'sas' } }).primaryKey!;
    const { client } = await connectDevice(e, { deviceId: 'c', sasKey: key });
    await subscribe(client, ['$iothub/methods/POST/#'], 0);
    const pending = e.invokeMethod('c', 'never', null, { timeoutMs: 60_000 });
    // Settle-capturing promises, so the rejections during close() are handled.
    const waiting = e.waitFor('telemetry').then(() => undefined, (err: unknown) => err);
    const telemetry = e.waitForTelemetry('c', 1, 60_000).then(() => undefined, (err: unknown) => err);
    await client.nextPublish('$iothub/methods/POST/never/');
    await e.close();
    await client.closed;
    expect((await pending).status).toBe(504);
    expect(await waiting).toMatchObject({ code: 'ECANCELED' });
    expect(await telemetry).toMatchObject({ code: 'ECANCELED' });
    expect(() => e.registerDevice({ deviceId: 'x' })).toThrow(expect.objectContaining({ code: 'ENOTCONN' }) as Error);
    await e.close(); // idempotent
  });

  it('times out a waitFor with ETIMEDOUT', async () => {
    await expect(emu.waitFor('dpsRegistration', () => true, 10)).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    expect(emu.listenerCount('dpsRegistration')).toBe(0);
  });
});
