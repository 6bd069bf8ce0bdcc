/**
 * The emulator's IoT Hub messaging rules, with raw packets: subscriptions, telemetry, the violations that close
 * the connection, twin, direct methods, cloud-to-device delivery and sessions, Will messages.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PublishPacket } from '../../src/codec/index.js';
import { startEmulator, type Emulator } from '../../src/emulator/emulator.js';
import { connectDevice, subscribe, text, utf8, type RawClient } from './raw-client.js';

let emu: Emulator;
let n = 0;

beforeAll(async () => {
  emu = await startEmulator({ firmware: false, c2dRedeliveryMs: 0 });
});

afterAll(async () => {
  await emu.close();
});

/** A fresh SAS device, connected. */
async function device(o: { cleanSession?: boolean; id?: string } = {}): Promise<{ id: string; key: string; client: RawClient }> {
  const id = o.id ?? `dev-${++n}`;
  const key = emu.getDevice(id)?.primaryKey ?? emu.registerDevice({ deviceId: id, auth: { type: 'sas' } }).primaryKey!;
  const { client, connack } = await connectDevice(emu, { deviceId: id, sasKey: key, cleanSession: o.cleanSession ?? false });
  expect(connack.returnCode).toBe(0);
  return { id, key, client };
}

async function reconnect(id: string, key: string, cleanSession = false): Promise<RawClient> {
  const { client, connack } = await connectDevice(emu, { deviceId: id, sasKey: key, cleanSession });
  expect(connack.returnCode).toBe(0);
  return client;
}

function publish(client: RawClient, topic: string, payload: string | Uint8Array, qos: 0 | 1 | 2 = 0, messageId?: number,
  retain = false): void {
  const p: PublishPacket = { type: 'publish', topic, payload: typeof payload === 'string' ? utf8(payload) : payload, qos,
    dup: false, retain };
  if (qos > 0) p.messageId = messageId ?? 1;
  client.send(p);
}

describe('emulator hub: subscriptions', () => {
  it('grants only the Azure filters, QoS 2 as 1, anything else 0x80', async () => {
    const { id, client } = await device();
    const seen = emu.waitFor('subscribe', (e) => e.clientId === id);
    client.send({ type: 'subscribe', messageId: 7, subscriptions: [
      { topic: `devices/${id}/messages/devicebound/#`, qos: 2 },
      { topic: '$iothub/twin/res/#', qos: 0 },
      { topic: '$iothub/twin/PATCH/properties/desired/#', qos: 1 },
      { topic: '$iothub/methods/POST/#', qos: 0 },
      { topic: 'devices/+/messages/devicebound/#', qos: 1 },
      { topic: '#', qos: 0 },
      { topic: 'devices/other/messages/devicebound/#', qos: 1 },
      { topic: `devices/${id}/messages/events/#`, qos: 0 },
      { topic: '$iothub/twin/PATCH/properties/reported/#', qos: 0 },
    ] });
    const suback = await client.nextOf('suback');
    expect(suback).toEqual({ type: 'suback', messageId: 7, granted: [1, 0, 1, 0, 1, 0x80, 0x80, 0x80, 0x80] });
    expect((await seen).subscriptions.map((s) => s.granted)).toEqual([1, 0, 1, 0, 1, 0x80, 0x80, 0x80, 0x80]);
    expect(Object.keys(emu.deviceStatus(id).subscriptions)).toHaveLength(5);
    client.send({ type: 'unsubscribe', messageId: 8, unsubscriptions: ['$iothub/twin/res/#'] });
    expect(await client.nextOf('unsuback')).toEqual({ type: 'unsuback', messageId: 8 });
    expect(emu.deviceStatus(id).subscriptions).not.toHaveProperty('$iothub/twin/res/#');
    client.close();
  });
});

describe('emulator hub: telemetry', () => {
  it('stores messages with decoded application and system properties, acknowledging QoS 1', async () => {
    const { id, client } = await device();
    publish(client, `devices/${id}/messages/events/%24.mid=m1&%24.ct=application%2Fjson&%24.ce=utf-8&temp=21%2E5&flag&empty=&sp%20ace=a%26b`,
      '{"t":1}', 1, 42);
    expect(await client.nextOf('puback')).toEqual({ type: 'puback', messageId: 42 });
    const [m] = await emu.waitForTelemetry(id, 1);
    expect(m).toMatchObject({ deviceId: id, hub: emu.hub.host, qos: 1, dup: false, retain: false });
    expect(text(m!.payload)).toBe('{"t":1}');
    expect(m!.properties).toEqual({ temp: '21.5', flag: null, empty: '', 'sp ace': 'a&b' });
    expect(m!.systemProperties).toMatchObject({ '$.mid': 'm1', '$.ct': 'application/json', '$.ce': 'utf-8',
      'iothub-connection-device-id': id, 'iothub-message-source': 'Telemetry' });
    expect(JSON.parse(m!.systemProperties['iothub-connection-auth-method']!)).toMatchObject({ type: 'sas' });
    client.close();
  });

  it('accepts topics without a bag, sends no PUBACK for QoS 0, sets mqtt-retain for RETAIN', async () => {
    const { id, client } = await device();
    publish(client, `devices/${id}/messages/events/`, 'a', 0);
    publish(client, `devices/${id}/messages/events`, 'b', 0, undefined, true);
    await client.barrier();
    expect(client.received).toEqual([]);
    const [a, b] = await emu.waitForTelemetry(id, 2);
    expect(a!.properties).toEqual({});
    expect(b!.properties).toEqual({ 'mqtt-retain': 'true' });
    expect(b!.retain).toBe(true);
    client.close();
  });

  it('records DUP on a resent message', async () => {
    const { id, client } = await device();
    client.send({ type: 'publish', topic: `devices/${id}/messages/events/`, payload: utf8('x'), qos: 1, dup: true,
      retain: false, messageId: 9 });
    await client.nextOf('puback');
    expect((await emu.waitForTelemetry(id, 1))[0]!.dup).toBe(true);
    client.close();
  });

  it('awaits telemetry of any device and times out with ETIMEDOUT', async () => {
    await expect(emu.waitForTelemetry('nobody', 1, 20)).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    const { id, client } = await device();
    const any = emu.waitForTelemetry(undefined, emu.telemetry().length + 1);
    publish(client, `devices/${id}/messages/events/`, 'z');
    expect((await any).at(-1)!.deviceId).toBe(id);
    emu.clearTelemetry(id);
    expect(emu.telemetry(id)).toEqual([]);
    client.close();
  });
});

describe('emulator hub: rules whose violation closes the connection', () => {
  const cases: [string, (id: string, c: RawClient) => void][] = [
    ['PUBLISH QoS 2', (id, c) => publish(c, `devices/${id}/messages/events/`, 'x', 2)],
    ['telemetry of another device', (_id, c) => publish(c, 'devices/someone-else/messages/events/', 'x')],
    ['a topic outside the Azure set', (_id, c) => publish(c, 'sensors/temperature', 'x')],
    ['a devicebound topic', (id, c) => publish(c, `devices/${id}/messages/devicebound/`, 'x')],
    ['twin GET without $rid', (_id, c) => publish(c, '$iothub/twin/GET/', '')],
    ['twin PATCH without $rid', (_id, c) => publish(c, '$iothub/twin/PATCH/properties/reported/?$version=1', '{}')],
    ['an unknown twin operation', (_id, c) => publish(c, '$iothub/twin/PATCH/properties/desired/?$rid=1', '{}')],
    ['method response without $rid', (_id, c) => publish(c, '$iothub/methods/res/200/', '{}')],
    ['method response without a status', (_id, c) => publish(c, '$iothub/methods/res/ok/?$rid=1', '{}')],
    ['a message above 256 KiB', (id, c) => publish(c, `devices/${id}/messages/events/`, new Uint8Array(256 * 1024 + 1))],
    ['PUBREL (QoS 2 flow)', (_id, c) => c.send({ type: 'pubrel', messageId: 1 })],
    ['a server-only packet', (_id, c) => c.send({ type: 'pingresp' })],
    ['a malformed packet', (_id, c) => c.write(Uint8Array.of(0x30, 0x02, 0x00, 0x05))],
  ];
  for (const [name, act] of cases) {
    it(`closes on ${name}`, async () => {
      const { id, client } = await device();
      const violation = emu.waitFor('protocolViolation', (e) => e.clientId === id);
      const gone = emu.waitFor('disconnect', (e) => e.clientId === id);
      act(id, client);
      await client.closed;
      expect((await violation).reason.length).toBeGreaterThan(0);
      expect((await gone).graceful).toBe(false);
      expect(emu.telemetry(id)).toEqual([]);
    });
  }
});

describe('emulator hub: twin', () => {
  it('answers GET with both documents and their versions, PATCH with 204 and the new version', async () => {
    const { id, client } = await device();
    emu.updateDesired(id, { interval: 5 });
    await subscribe(client, ['$iothub/twin/res/#'], 0);
    publish(client, '$iothub/twin/GET/?$rid=1', '');
    const get = await client.nextPublish('$iothub/twin/res/');
    expect(get.topic).toBe('$iothub/twin/res/200/?$rid=1');
    expect(get.qos).toBe(0);
    expect(JSON.parse(text(get.payload))).toEqual({ desired: { interval: 5, $version: 2 }, reported: { $version: 1 } });

    const reported = emu.waitFor('twinReported', (e) => e.deviceId === id);
    publish(client, '$iothub/twin/PATCH/properties/reported/?$rid=abc-2', '{"fw":{"v":"1.0","tmp":1},"battery":90}', 1, 5);
    expect(await client.nextOf('puback')).toEqual({ type: 'puback', messageId: 5 });
    const patch = await client.nextPublish('$iothub/twin/res/');
    expect(patch.topic).toBe('$iothub/twin/res/204/?$rid=abc-2&$version=2');
    expect(patch.payload.length).toBe(0);
    expect(await reported).toMatchObject({ version: 2, patch: { fw: { v: '1.0', tmp: 1 }, battery: 90 } });

    publish(client, '$iothub/twin/PATCH/properties/reported/?$rid=3', '{"fw":{"tmp":null},"battery":null}');
    expect((await client.nextPublish('$iothub/twin/res/')).topic).toBe('$iothub/twin/res/204/?$rid=3&$version=3');
    expect(emu.getTwin(id).reported).toEqual({ fw: { v: '1.0' }, $version: 3 });
    client.close();
  });

  it('answers 400 for a patch that is not a JSON object and keeps the version', async () => {
    const { id, client } = await device();
    await subscribe(client, ['$iothub/twin/res/#'], 0);
    const requests: number[] = [];
    emu.on('twinRequest', (e) => e.deviceId === id && requests.push(e.status));
    for (const [rid, body] of [['a', '{not json'], ['b', '[1,2]'], ['c', '7']]) {
      publish(client, `$iothub/twin/PATCH/properties/reported/?$rid=${rid!}`, body!);
      const res = await client.nextPublish('$iothub/twin/res/');
      expect(res.topic).toBe(`$iothub/twin/res/400/?$rid=${rid!}`);
      expect(JSON.parse(text(res.payload))).toHaveProperty('message');
    }
    expect(emu.getTwin(id).reported.$version).toBe(1);
    expect(requests).toEqual([400, 400, 400]);
    client.close();
  });

  it('sends no response to a device not subscribed to twin responses', async () => {
    const { client } = await device();
    publish(client, '$iothub/twin/GET/?$rid=1', '');
    await client.barrier();
    expect(client.received).toEqual([]);
    client.close();
  });

  it('pushes desired patches to a subscribed device only', async () => {
    const { id, client } = await device();
    emu.updateDesired(id, { a: 1 }); // not subscribed: stored, not pushed
    await subscribe(client, ['$iothub/twin/PATCH/properties/desired/#'], 0);
    const twin = emu.updateDesired(id, { b: { c: 2 }, a: null });
    expect(twin.desired).toEqual({ b: { c: 2 }, $version: 3 });
    const push = await client.nextPublish('$iothub/twin/PATCH/properties/desired/');
    expect(push.topic).toBe('$iothub/twin/PATCH/properties/desired/?$version=3');
    expect(JSON.parse(text(push.payload))).toEqual({ b: { c: 2 }, a: null, $version: 3 });
    expect(client.received).toEqual([]);
    client.close();
  });
});

describe('emulator hub: direct methods', () => {
  it('delivers the request and resolves with the device\'s response', async () => {
    const { id, client } = await device();
    await subscribe(client, ['$iothub/methods/POST/#'], 0);
    const result = emu.invokeMethod(id, 'reboot', { delay: 3 });
    const req = await client.nextPublish('$iothub/methods/POST/');
    const m = /^\$iothub\/methods\/POST\/reboot\/\?\$rid=(.+)$/.exec(req.topic);
    expect(m).not.toBeNull();
    expect(JSON.parse(text(req.payload))).toEqual({ delay: 3 });
    publish(client, `$iothub/methods/res/201/?$rid=${m![1]!}`, '{"ok":true}');
    expect(await result).toMatchObject({ status: 201, payload: { ok: true } });

    const second = emu.invokeMethod(id, 'text', null);
    const req2 = await client.nextPublish('$iothub/methods/POST/text/');
    expect(text(req2.payload)).toBe('null');
    publish(client, `$iothub/methods/res/500/?$rid=${req2.topic.split('$rid=')[1]!}`, 'not json');
    expect(await second).toMatchObject({ status: 500, payload: 'not json' });
    client.close();
  });

  it('answers 504 when the device does not respond in time, ignoring a late response', async () => {
    const { id, client } = await device();
    await subscribe(client, ['$iothub/methods/POST/#'], 0);
    const result = emu.invokeMethod(id, 'slow', {}, { timeoutMs: 30 });
    const req = await client.nextPublish('$iothub/methods/POST/slow/');
    expect(await result).toMatchObject({ status: 504, payload: { errorCode: 504101 } });
    publish(client, `$iothub/methods/res/200/?$rid=${req.topic.split('$rid=')[1]!}`, '{}');
    await client.barrier(); // a late response is ignored, the connection stays
    client.close();
  });

  it('answers 404 when the device is offline or not subscribed', async () => {
    const { id, client } = await device();
    expect(await emu.invokeMethod(id, 'm')).toMatchObject({ status: 404, payload: { errorCode: 404103 } });
    const gone = emu.waitFor('disconnect', (e) => e.clientId === id);
    client.close();
    await gone;
    expect((await emu.invokeMethod(id, 'm')).status).toBe(404);
    await expect(emu.invokeMethod(id, 'a/b')).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(emu.invokeMethod('nobody', 'm')).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('emulator hub: cloud-to-device', () => {
  it('delivers queued messages with URL-encoded system and application properties at QoS 1', async () => {
    const { id, client } = await device();
    emu.sendC2D(id, 'hello', { messageId: 'm 1', correlationId: 'c/1', contentType: 'text/plain', ack: 'full',
      properties: { 'a b': 'x&y', bare: null, empty: '' } });
    expect(emu.deviceStatus(id).c2dPending).toBe(1); // not subscribed yet: queued
    await subscribe(client, [`devices/${id}/messages/devicebound/#`], 1);
    const p = await client.nextPublish(`devices/${id}/messages/devicebound/`);
    expect(p.topic).toBe(`devices/${id}/messages/devicebound/%24.mid=m%201&%24.to=%2Fdevices%2F${id}%2Fmessages%2FdeviceBound` +
      '&%24.cid=c%2F1&%24.ct=text%2Fplain&iothub-ack=full&a%20b=x%26y&bare&empty=');
    expect(p.qos).toBe(1);
    expect(p.dup).toBe(false);
    expect(text(p.payload)).toBe('hello');
    const completed = emu.waitFor('c2d', (e) => e.deviceId === id && e.kind === 'completed');
    client.send({ type: 'puback', messageId: p.messageId! });
    expect(await completed).toMatchObject({ messageId: 'm 1', deliveryCount: 1 });
    expect(emu.c2dQueue(id)).toEqual([]);
    client.close();
  });

  it('redelivers an unacknowledged message with DUP=1 after a persistent reconnect, without resubscribing', async () => {
    const { id, key, client } = await device();
    await subscribe(client, [`devices/${id}/messages/devicebound/#`], 1);
    emu.sendC2D(id, 'one');
    const first = await client.nextPublish(`devices/${id}/messages/devicebound/`);
    client.close();
    await emu.waitFor('disconnect', (e) => e.clientId === id);
    emu.sendC2D(id, 'two'); // while offline
    const again = await reconnect(id, key);
    const re = await again.nextPublish(`devices/${id}/messages/devicebound/`);
    expect(re).toMatchObject({ dup: true, messageId: first.messageId });
    expect(text(re.payload)).toBe('one');
    const next = await again.nextPublish(`devices/${id}/messages/devicebound/`);
    expect(next.dup).toBe(false);
    expect(text(next.payload)).toBe('two');
    again.send({ type: 'puback', messageId: re.messageId! });
    again.send({ type: 'puback', messageId: next.messageId! });
    await again.barrier();
    expect(emu.c2dQueue(id)).toEqual([]);
    again.close();
  });

  it('drops queued and unacknowledged messages on a clean-session CONNECT', async () => {
    const { id, key, client } = await device();
    await subscribe(client, [`devices/${id}/messages/devicebound/#`], 1);
    emu.sendC2D(id, 'in flight');
    await client.nextPublish(`devices/${id}/messages/devicebound/`);
    client.close();
    await emu.waitFor('disconnect', (e) => e.clientId === id);
    emu.sendC2D(id, 'queued');
    const dropped: string[] = [];
    emu.on('c2d', (e) => e.deviceId === id && e.kind === 'dropped' && dropped.push(e.messageId));
    const clean = await reconnect(id, key, true);
    expect(dropped).toHaveLength(2);
    expect(emu.deviceStatus(id)).toMatchObject({ c2dPending: 0, persistentSession: false, subscriptions: {} });
    await subscribe(clean, [`devices/${id}/messages/devicebound/#`], 1);
    await clean.barrier();
    expect(clean.received).toEqual([]);
    clean.close();
  });

  it('keeps messages of a clean session that ended for the next connection', async () => {
    const { id, key, client } = await device({ cleanSession: true });
    await subscribe(client, [`devices/${id}/messages/devicebound/#`], 1);
    emu.sendC2D(id, 'unacked');
    await client.nextPublish(`devices/${id}/messages/devicebound/`);
    client.close();
    await emu.waitFor('disconnect', (e) => e.clientId === id);
    expect(emu.deviceStatus(id)).toMatchObject({ c2dPending: 1, persistentSession: false });
    const next = await reconnect(id, key, false);
    await subscribe(next, [`devices/${id}/messages/devicebound/#`], 1);
    const p = await next.nextPublish(`devices/${id}/messages/devicebound/`);
    expect(text(p.payload)).toBe('unacked');
    next.close();
  });

  it('delivers at QoS 0 to a QoS 0 subscription and completes at once', async () => {
    const { id, client } = await device();
    await subscribe(client, ['devices/+/messages/devicebound/#'], 0);
    emu.sendC2D(id, Uint8Array.of(1, 2, 3));
    const p = await client.nextPublish(`devices/${id}/messages/devicebound/`);
    expect(p.qos).toBe(0);
    expect([...p.payload]).toEqual([1, 2, 3]);
    expect(emu.c2dQueue(id)).toEqual([]);
    client.close();
  });

  it('refuses more than the queue limit with ENOBUFS', async () => {
    const small = await startEmulator({ firmware: false, c2dQueueLimit: 2, ca: { cert: emu.ca.cert, key: emu.ca.key! },
      serverCertificate: emu.serverCertificate });
    try {
      small.registerDevice({ deviceId: 'q', auth: { type: 'sas' } });
      small.sendC2D('q', 'a');
      small.sendC2D('q', 'b');
      expect(() => small.sendC2D('q', 'c')).toThrow(expect.objectContaining({ code: 'ENOBUFS' }) as Error);
      expect(() => small.sendC2D('nobody', 'c')).toThrow(expect.objectContaining({ code: 'ENOENT' }) as Error);
    } finally {
      await small.close();
    }
  });

  it('redelivers on the same connection after c2dRedeliveryMs and dead-letters after the delivery limit', async () => {
    const quick = await startEmulator({ firmware: false, c2dRedeliveryMs: 20, c2dMaxDeliveryCount: 3,
      ca: { cert: emu.ca.cert, key: emu.ca.key! }, serverCertificate: emu.serverCertificate });
    try {
      const key = quick.registerDevice({ deviceId: 'r', auth: { type: 'sas' } }).primaryKey!;
      const { client } = await connectDevice(quick, { deviceId: 'r', sasKey: key, servername: 'localhost',
        username: `${quick.hub.host}/r/?api-version=2021-04-12` });
      await subscribe(client, ['devices/r/messages/devicebound/#'], 1);
      const dead = quick.waitFor('c2d', (e) => e.kind === 'deadLettered');
      quick.sendC2D('r', 'x', { messageId: 'dl' });
      const deliveries = [
        await client.nextPublish('devices/r/messages/devicebound/'),
        await client.nextPublish('devices/r/messages/devicebound/'),
        await client.nextPublish('devices/r/messages/devicebound/'),
      ];
      expect(deliveries.map((d) => d.dup)).toEqual([false, true, true]);
      expect(new Set(deliveries.map((d) => d.messageId)).size).toBe(1);
      expect(await dead).toMatchObject({ messageId: 'dl', deliveryCount: 3 });
      expect(quick.c2dQueue('r')).toEqual([]);
      client.close();
    } finally {
      await quick.close();
    }
  });
});

describe('emulator hub: Will', () => {
  it('forwards the Will as telemetry with iothub-MessageType=Will when the connection is lost', async () => {
    const id = `will-${++n}`;
    const key = emu.registerDevice({ deviceId: id, auth: { type: 'sas' } }).primaryKey!;
    const { client } = await connectDevice(emu, { deviceId: id, sasKey: key,
      will: { topic: `devices/${id}/messages/events/reason=lost`, payload: utf8('bye'), qos: 1, retain: false } });
    client.close();
    const [m] = await emu.waitForTelemetry(id, 1);
    expect(m!.properties).toEqual({ reason: 'lost', 'iothub-MessageType': 'Will' });
    expect(text(m!.payload)).toBe('bye');
  });

  it('discards the Will after a DISCONNECT', async () => {
    const id = `will-${++n}`;
    const key = emu.registerDevice({ deviceId: id, auth: { type: 'sas' } }).primaryKey!;
    const { client } = await connectDevice(emu, { deviceId: id, sasKey: key,
      will: { topic: `devices/${id}/messages/events/`, payload: utf8('bye'), qos: 0, retain: false } });
    const gone = emu.waitFor('disconnect', (e) => e.clientId === id);
    client.send({ type: 'disconnect' });
    expect(await gone).toMatchObject({ graceful: true, reason: 'client disconnected' });
    expect(emu.telemetry(id)).toEqual([]);
  });
});
