/**
 * AzureIotHub messaging against the emulator over TLS: telemetry (QoS 0/1, property bags, PUBACK, caller-chosen
 * message ids, the 256 KiB limit), cloud-to-device messages with every kind of property, twin round trips with
 * versions (helpers and raw `send`), desired updates, and direct methods (handlers, 404, 500, 504 and a late answer,
 * DIRECT_METHOD with methodRespond, EALREADY).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MAX_SEND_PAYLOAD_BYTES } from '../../../src/azure/client.js';
import { encode } from '../../../src/codec/index.js';
import type { AzureIotHubPropBag } from '../../../src/azure/types.js';
import { startEmulator, type Emulator } from '../../../src/emulator/emulator.js';
import { AzureIotHubError } from '../../../src/errors.js';
import {
  closeClients,
  configFor,
  connectedClient,
  lastSeq,
  packets,
  sasDevice,
  text,
  tick,
  until,
  x509Device,
  type TestDevice,
} from './harness.js';

let emu: Emulator;
let x509: TestDevice;
let n = 0;

beforeAll(async () => {
  emu = await startEmulator({ firmware: false, c2dRedeliveryMs: 0 });
  x509 = await x509Device(emu, 'msg-x509');
});
afterEach(closeClients);
afterAll(async () => {
  await emu.close();
});

function device(): TestDevice {
  return sasDevice(emu, `msg-${++n}`);
}

async function failure(p: Promise<unknown>): Promise<AzureIotHubError> {
  const err = await p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AzureIotHubError);
  return err as AzureIotHubError;
}

describe('telemetry', () => {
  it('a property bag with key, key=, key=value, system properties and characters that need percent-encoding', async () => {
    const d = device();
    const { hub } = await connectedClient(configFor(emu, d));
    const odd = 'sp ace&=?/#+%';
    const bag: AzureIotHubPropBag[] = [
      { key: 'bare' },
      { key: 'nul', value: null },
      { key: 'empty', value: '' },
      { key: 'plain', value: 'v' },
      { key: odd, value: 'ü€ a=b&c' },
      { key: '$.mid', value: 'm-1' },
      { key: '$.cid', value: 'c-1' },
      { key: '$.ct', value: 'text/plain; charset=utf-8' },
    ];
    await hub.send({ topic: { type: 'EVENT', propBag: bag }, payload: 'hello', qos: 1 });
    const [m] = await emu.waitForTelemetry(d.deviceId, 1);
    expect(m!.topic).toBe(
      `devices/${d.deviceId}/messages/events/bare&nul&empty=&plain=v&sp%20ace%26%3D%3F%2F%23%2B%25=%C3%BC%E2%82%AC%20a%3Db%26c` +
        '&%24.mid=m-1&%24.cid=c-1&%24.ct=text%2Fplain%3B%20charset%3Dutf-8',
    );
    expect(m!.properties).toEqual({ bare: null, nul: null, empty: '', plain: 'v', [odd]: 'ü€ a=b&c' });
    expect(m!.systemProperties).toMatchObject({ '$.mid': 'm-1', '$.cid': 'c-1', '$.ct': 'text/plain; charset=utf-8' });
    expect(text(m!.payload)).toBe('hello');
    expect(m).toMatchObject({ qos: 1, dup: false, retain: false });
  });

  it('QoS 1: resolves on PUBACK, PUBACK event with the packet id; QoS 0: no id, no PUBACK; retain becomes mqtt-retain', async () => {
    const d = device();
    const { hub, rec } = await connectedClient(configFor(emu, d));
    const since = lastSeq(emu, d.deviceId);
    await hub.send({ topic: { type: 'EVENT' }, payload: 'one', qos: 1 });
    const pubacks = rec.all('PUBACK');
    expect(pubacks).toHaveLength(1); // emitted before the promise resolved
    const log = packets(emu, d.deviceId, since);
    expect(log[0]).toMatchObject({ direction: 'in', type: 'publish', qos: 1, dup: false, topic: `devices/${d.deviceId}/messages/events/` });
    expect(log[1]).toEqual(expect.objectContaining({ direction: 'out', type: 'puback', messageId: log[0]!.messageId }));
    expect(pubacks[0]!.data.messageId).toBe(log[0]!.messageId);

    await hub.send({ topic: { type: 'EVENT' }, payload: 'zero', qos: 0, retain: true });
    await emu.waitForTelemetry(d.deviceId, 2);
    const zero = packets(emu, d.deviceId, log[1]!.seq);
    expect(zero).toHaveLength(1);
    expect(zero[0]).toMatchObject({ type: 'publish', qos: 0, retain: true });
    expect(zero[0]!.messageId).toBeUndefined();
    expect(emu.telemetry(d.deviceId)[1]!.properties).toEqual({ 'mqtt-retain': 'true' });
    await tick();
    expect(rec.all('PUBACK')).toHaveLength(1);
  });

  it('a caller-chosen messageId is used on the wire and in the PUBACK event; the same id in flight is EALREADY', async () => {
    const d = device();
    const { hub, rec } = await connectedClient(configFor(emu, d));
    await hub.send({ topic: { type: 'EVENT' }, payload: 'mine', qos: 1, messageId: 4242 });
    expect(packets(emu, d.deviceId).filter((e) => e.messageId === 4242).map((e) => `${e.direction} ${e.type}`)).toEqual(['in publish', 'out puback']);
    expect(rec.all('PUBACK').map((e) => e.data.messageId)).toEqual([4242]);

    emu.faults.withholdPubacks(d.deviceId, 1);
    const pending = hub.send({ topic: { type: 'EVENT' }, payload: 'held', qos: 1, messageId: 7 });
    const settled = pending.then(() => 'resolved', (e: unknown) => (e as AzureIotHubError).code);
    expect((await failure(hub.send({ topic: { type: 'EVENT' }, payload: 'dup id', qos: 1, messageId: 7 }))).code).toBe('EALREADY');
    await hub.disconnect();
    expect(await settled).toBe('ENOTCONN');
  });

  it('the outgoing queue is bounded: beyond the in-flight window and the queue, send() is ENOBUFS', async () => {
    const d = device();
    const { hub } = await connectedClient(configFor(emu, d), { session: { inFlightWindow: 1, maxQueued: 1 } });
    emu.faults.withholdPubacks(d.deviceId, 1);
    const inFlight = hub.sendEvent('1');
    const queued = hub.sendEvent('2');
    expect((await failure(hub.sendEvent('3'))).code).toBe('ENOBUFS');
    const outcomes = Promise.all([failure(inFlight), failure(queued)]);
    await emu.waitForTelemetry(d.deviceId, 1);
    await hub.disconnect();
    expect((await outcomes).map((e) => e.code)).toEqual(['ENOTCONN', 'ENOTCONN']);
  });

  it('sendEvent: an object goes as JSON with $.ct/$.ce; a string as it is; record and bag properties', async () => {
    const d = device();
    const { hub } = await connectedClient(configFor(emu, d));
    await hub.sendEvent({ t: 21.5 }, { room: 'kitchen', flag: null });
    await hub.sendEvent('raw text', [{ key: 'k', value: 'v' }, { key: 'k', value: 'w' }]);
    await hub.sendEvent(new Uint8Array([1, 2, 3]), undefined, { qos: 0 });
    await hub.sendEvent({ a: 1 }, { '$.ct': 'application/vnd.custom+json' });
    const [a, b, c, e] = await emu.waitForTelemetry(d.deviceId, 4);
    expect(text(a!.payload)).toBe('{"t":21.5}');
    expect(a!.properties).toEqual({ room: 'kitchen', flag: null });
    expect(a!.systemProperties).toMatchObject({ '$.ct': 'application/json', '$.ce': 'utf-8' });
    expect(a!.qos).toBe(1);
    expect(b!.topic).toBe(`devices/${d.deviceId}/messages/events/k=v&k=w`);
    expect(b!.systemProperties['$.ct']).toBeUndefined();
    expect([...c!.payload]).toEqual([1, 2, 3]);
    expect(c!.qos).toBe(0);
    expect(e!.systemProperties).toMatchObject({ '$.ct': 'application/vnd.custom+json', '$.ce': 'utf-8' });
    expect((await failure(hub.sendEvent({ big: 1n }))).code).toBe('EINVAL');
  });

  it(`accepts exactly ${MAX_SEND_PAYLOAD_BYTES} bytes; one more is EMSGSIZE before anything is sent`, async () => {
    const d = device();
    const { hub } = await connectedClient(configFor(emu, d));
    const since = lastSeq(emu, d.deviceId);
    const tooBig = new Uint8Array(MAX_SEND_PAYLOAD_BYTES + 1);
    expect((await failure(hub.send({ topic: { type: 'EVENT' }, payload: tooBig, qos: 1 }))).code).toBe('EMSGSIZE');
    expect((await failure(hub.sendEvent(tooBig))).code).toBe('EMSGSIZE');
    // UTF-8 bytes count, not characters: 87382 three-byte characters are 262146 bytes.
    expect((await failure(hub.sendEvent('€'.repeat(87_382), undefined, { qos: 0 })))).toMatchObject({ code: 'EMSGSIZE' });
    expect((await failure(hub.updateReported({ blob: 'x'.repeat(MAX_SEND_PAYLOAD_BYTES) }))).code).toBe('EMSGSIZE');
    expect((await failure(hub.methodRespond({ rid: '1', status: 200, payload: tooBig }))).code).toBe('EMSGSIZE');
    await tick();
    expect(packets(emu, d.deviceId, since)).toEqual([]);
    expect(emu.telemetry(d.deviceId)).toEqual([]);

    await hub.send({ topic: { type: 'EVENT' }, payload: new Uint8Array(MAX_SEND_PAYLOAD_BYTES).fill(7), qos: 1 });
    const [m] = await emu.waitForTelemetry(d.deviceId, 1);
    expect(m!.payload.length).toBe(MAX_SEND_PAYLOAD_BYTES);
    expect(hub.state).toBe('CONNECTED');
  });
});

describe('cloud-to-device', () => {
  it('DATA_RECEIVED with every kind of property (key, key=, key=value, percent-encoded, system properties) and PUBACK to the hub', async () => {
    const d = device();
    const { hub, rec } = await connectedClient(configFor(emu, d));
    const completed = emu.waitFor('c2d', (e) => e.deviceId === d.deviceId && e.kind === 'completed');
    const odd = 'sp ace&=?/#+%';
    emu.sendC2D(d.deviceId, '{"cmd":"on"}', {
      messageId: 'mid 1/ü',
      correlationId: 'cid-1',
      userId: 'user-1',
      contentType: 'application/json',
      contentEncoding: 'utf-8',
      expiryTimeUtc: '2030-01-01T00:00:00.000Z',
      ack: 'full',
      properties: { bare: null, empty: '', plain: 'value', [odd]: 'ü€ a=b&c%' },
    });
    const evt = await rec.waitFor('DATA_RECEIVED');
    expect(evt.topic.type).toBe('DEVICEBOUND');
    expect(evt.topic.str).toMatch(new RegExp(`^devices/${d.deviceId}/messages/devicebound/%24\\.mid=mid%201%2F%C3%BC&`));
    expect(evt.topic.propBag).toEqual([
      { key: '$.mid', value: 'mid 1/ü' },
      { key: '$.to', value: `/devices/${d.deviceId}/messages/deviceBound` },
      { key: '$.cid', value: 'cid-1' },
      { key: '$.uid', value: 'user-1' },
      { key: '$.ct', value: 'application/json' },
      { key: '$.ce', value: 'utf-8' },
      { key: '$.exp', value: '2030-01-01T00:00:00.000Z' },
      { key: 'iothub-ack', value: 'full' },
      { key: 'bare', value: null },
      { key: 'empty', value: '' },
      { key: 'plain', value: 'value' },
      { key: odd, value: 'ü€ a=b&c%' },
    ]);
    expect(evt.data.msg.topic).toBe(evt.topic);
    expect(text(evt.data.msg.payload)).toBe('{"cmd":"on"}');
    expect(evt.data.msg).toMatchObject({ qos: 1, dup: false, retain: false });
    expect((await completed).deliveryCount).toBe(1);
    const id = evt.data.msg.messageId!;
    expect(packets(emu, d.deviceId).filter((e) => e.messageId === id && e.type !== 'subscribe' && e.type !== 'suback').map((e) => `${e.direction} ${e.type} ${e.qos ?? ''}`))
      .toEqual(['out publish 1', 'in puback ']);
    expect(hub.state).toBe('CONNECTED');
  });

  it('an empty payload is an empty Uint8Array; received payloads stay valid after the handler returns', async () => {
    const d = device();
    const { rec } = await connectedClient(configFor(emu, d));
    emu.sendC2D(d.deviceId, new Uint8Array(0));
    emu.sendC2D(d.deviceId, 'first');
    emu.sendC2D(d.deviceId, 'second');
    await until(() => rec.all('DATA_RECEIVED').length === 3, 'three C2D messages');
    const [empty, first, second] = rec.all('DATA_RECEIVED').map((e) => e.data.msg.payload);
    expect(empty).toBeInstanceOf(Uint8Array);
    expect((empty as Uint8Array).length).toBe(0);
    // Later packets did not overwrite earlier payloads.
    expect(text(first!)).toBe('first');
    expect(text(second!)).toBe('second');
  });

  it('a PUBLISH on a topic the library does not know is passed on as DATA_RECEIVED (as the C library does)', async () => {
    const d = device();
    const { rec } = await connectedClient(configFor(emu, d));
    const bytes = encode({ type: 'publish', topic: 'custom/topic/x', payload: new TextEncoder().encode('?'), qos: 0, dup: false, retain: false });
    expect(emu.faults.sendRaw(d.deviceId, bytes)).toBe(true);
    const evt = await rec.waitFor('DATA_RECEIVED');
    expect(evt.topic).toEqual({ type: 'DEVICEBOUND', str: 'custom/topic/x', propBag: [] });
    expect(text(evt.data.msg.payload)).toBe('?');
  });

  it('a handler that throws on DATA_RECEIVED: ERROR, and the message is still acknowledged (no redelivery)', async () => {
    const d = device();
    const { rec } = await connectedClient(configFor(emu, d));
    rec.hook = (evt) => {
      if (evt.type === 'DATA_RECEIVED') throw new Error('cannot handle');
    };
    const completed = emu.waitFor('c2d', (e) => e.deviceId === d.deviceId && e.kind === 'completed');
    emu.sendC2D(d.deviceId, 'x');
    expect((await completed).deliveryCount).toBe(1);
    expect(rec.all('ERROR')[0]!.data.err.message).toBe('the event handler threw on DATA_RECEIVED: cannot handle');
  });

  it('an incoming payload over maxPayloadBytes: ERROR with EMSGSIZE, acknowledged (no redelivery loop), link kept', async () => {
    const d = device();
    const { hub, rec } = await connectedClient(configFor(emu, d, { maxPayloadBytes: 100, reconnect: false }));
    const mark = rec.mark();
    const completed = emu.waitFor('c2d', (e) => e.deviceId === d.deviceId && e.kind === 'completed');
    emu.sendC2D(d.deviceId, 'x'.repeat(101));
    expect((await completed).deliveryCount).toBe(1);
    const err = (await rec.waitFor('ERROR', { since: mark })).data.err;
    expect(err).toMatchObject({ code: 'EMSGSIZE', rule: 'maxPayloadBytes' });
    emu.sendC2D(d.deviceId, 'small');
    const next = await rec.waitFor('DATA_RECEIVED', { since: mark });
    expect(text(next.data.msg.payload)).toBe('small');
    expect(rec.types(mark)).toEqual(['ERROR', 'DATA_RECEIVED']);
    expect(hub.state).toBe('CONNECTED');
  });
});

describe('twin', () => {
  it('getTwin and updateReported round trips with versions; null deletes; TWIN_* events carry rid and status', async () => {
    const d = device();
    const { hub, rec } = await connectedClient(configFor(emu, d));
    emu.updateDesired(d.deviceId, { fw: '1.0' });
    await rec.waitFor('TWIN_DESIRED_RECEIVED');
    const twin = await hub.getTwin();
    expect(twin).toEqual({ desired: { fw: '1.0', $version: 2 }, reported: { $version: 1 } });

    const mark = rec.mark();
    expect(await hub.updateReported({ a: 1, nested: { b: 2 } })).toEqual({ version: 2 });
    expect(await hub.updateReported({ a: null, c: 'x' })).toEqual({ version: 3 });
    expect(emu.getTwin(d.deviceId).reported).toEqual({ nested: { b: 2 }, c: 'x', $version: 3 });
    expect((await hub.getTwin()).reported).toEqual({ nested: { b: 2 }, c: 'x', $version: 3 });

    const results = rec.all('TWIN_RESULT_SUCCESS', mark);
    expect(results).toHaveLength(2);
    const patches = packets(emu, d.deviceId).filter((e) => e.topic?.startsWith('$iothub/twin/PATCH/properties/reported/'));
    expect(patches.map((e) => e.qos)).toEqual([0, 0]);
    results.forEach((r, i) => {
      expect(patches[i]!.topic).toBe(`$iothub/twin/PATCH/properties/reported/?$rid=${r.data.result.rid}`);
      expect(r.data.result.status).toBe(204);
      expect(r.topic?.str).toBe(`$iothub/twin/res/204/?$rid=${r.data.result.rid}&$version=${i + 2}`);
    });
  });

  it('desired updates while connected: TWIN_DESIRED_RECEIVED with the version in topic and body', async () => {
    const d = device();
    const { rec } = await connectedClient(configFor(emu, d));
    emu.updateDesired(d.deviceId, { interval: 5 });
    emu.updateDesired(d.deviceId, { interval: null, mode: 'eco' });
    await until(() => rec.all('TWIN_DESIRED_RECEIVED').length === 2, 'two desired updates');
    const [a, b] = rec.all('TWIN_DESIRED_RECEIVED');
    expect(a!.topic).toEqual({ type: 'TWIN_DESIRED', str: '$iothub/twin/PATCH/properties/desired/?$version=2' });
    expect(JSON.parse(text(a!.data.msg.payload))).toEqual({ interval: 5, $version: 2 });
    expect(b!.topic.str).toBe('$iothub/twin/PATCH/properties/desired/?$version=3');
    expect(JSON.parse(text(b!.data.msg.payload))).toEqual({ interval: null, mode: 'eco', $version: 3 });
  });

  it('send() TWIN_REQUEST with the caller\'s $rid and TWIN_REPORTED with a generated one', async () => {
    const d = device();
    const { hub, rec } = await connectedClient(configFor(emu, d));
    const mark = rec.mark();
    await hub.send({ topic: { type: 'TWIN_REQUEST', propBag: [{ key: '$rid', value: 'my-rid' }] }, payload: '' });
    const got = await rec.waitFor('TWIN_RECEIVED', { since: mark });
    expect(got.topic.str).toBe('$iothub/twin/res/200/?$rid=my-rid');
    expect(JSON.parse(text(got.data.msg.payload))).toEqual(emu.getTwin(d.deviceId));

    await hub.send({ topic: { type: 'TWIN_REPORTED' }, payload: '{"via":"send"}', qos: 0 });
    const ok = await rec.waitFor('TWIN_RESULT_SUCCESS', { since: mark });
    expect(ok.data.result.status).toBe(204);
    const sent = packets(emu, d.deviceId).filter((e) => e.topic?.startsWith('$iothub/twin/PATCH/'));
    expect(sent.map((e) => e.topic)).toEqual([`$iothub/twin/PATCH/properties/reported/?$rid=${ok.data.result.rid}`]);
    expect(emu.getTwin(d.deviceId).reported).toMatchObject({ via: 'send', $version: 2 });

    await hub.send({ topic: { type: 'TWIN_REPORTED' }, payload: 'not json' });
    const bad = await rec.waitFor('TWIN_RESULT_FAIL', { since: mark });
    expect(bad.data.result.status).toBe(400);
    expect(JSON.parse(text(bad.data.result.payload!))).toMatchObject({ errorCode: 400001 });
  });

  it('send() refuses a caller $rid that a pending getTwin uses (EALREADY), and getTwin still gets its answer', async () => {
    const d = device();
    const { hub } = await connectedClient(configFor(emu, d));
    const twin = hub.getTwin(); // the automatic GET used rid 1, so this one is rid 2
    await expect(
      hub.send({ topic: { type: 'TWIN_REQUEST', propBag: [{ key: '$rid', value: '2' }] }, payload: '' }),
    ).rejects.toMatchObject({ code: 'EALREADY' });
    expect(await twin).toEqual(emu.getTwin(d.deviceId));
  });

  it('hub failures: getTwin 429 -> ENOBUFS, updateReported 500 -> EIO, each with the status and a TWIN_RESULT_FAIL', async () => {
    const d = device();
    const { hub, rec } = await connectedClient(configFor(emu, d));
    const mark = rec.mark();
    emu.faults.failNextTwin(d.deviceId, 429);
    expect(await failure(hub.getTwin())).toMatchObject({ code: 'ENOBUFS', status: 429 });
    emu.faults.failNextTwin(d.deviceId, 500);
    expect(await failure(hub.updateReported({ a: 1 }))).toMatchObject({ code: 'EIO', status: 500 });
    const fails = rec.all('TWIN_RESULT_FAIL', mark);
    expect(fails.map((f) => f.data.result.status)).toEqual([429, 500]);
    expect(JSON.parse(text(fails[0]!.data.result.payload!))).toMatchObject({ errorCode: 429001 });
    expect(await hub.getTwin()).toMatchObject({ reported: { $version: 1 } }); // the twin is unchanged and usable
  });

  it('a twin request without an answer in requestTimeoutMs rejects ETIMEDOUT; the late answer breaks nothing', async () => {
    const d = device();
    const { hub, rec } = await connectedClient(configFor(emu, d, { requestTimeoutMs: 50 }));
    emu.faults.delayResponses(d.deviceId, 150);
    const mark = rec.mark();
    expect(await failure(hub.getTwin())).toMatchObject({ code: 'ETIMEDOUT', message: 'no response to twin request 2 within 50 ms' });
    await rec.waitFor('TWIN_RECEIVED', { since: mark }); // the late answer is still shown to the application
    emu.faults.resume(d.deviceId);
    expect((await hub.getTwin()).desired.$version).toBe(1);
    expect(rec.all('ERROR')).toEqual([]);
  });

  it('concurrent requests get distinct request ids and each its own answer', async () => {
    const d = device();
    const { hub } = await connectedClient(configFor(emu, d));
    const [t1, v1, t2, v2] = await Promise.all([hub.getTwin(), hub.updateReported({ a: 1 }), hub.getTwin(), hub.updateReported({ b: 2 })]);
    expect(t1!.desired.$version).toBe(1);
    expect(t2!.desired.$version).toBe(1);
    expect([v1, v2]).toEqual([{ version: 2 }, { version: 3 }]);
    const rids = packets(emu, d.deviceId).filter((e) => e.direction === 'in' && e.topic?.startsWith('$iothub/twin/')).map((e) => e.topic!.split('$rid=')[1]);
    expect(rids).toEqual(['1', '2', '3', '4', '5']);
  });

  it('malformed answers: a 200 without a twin document and a 204 without $version reject EPROTO', async () => {
    const d = device();
    const { hub } = await connectedClient(configFor(emu, d));
    emu.faults.failNextTwin(d.deviceId, 200); // a 200 whose body is an error document
    expect(await failure(hub.getTwin())).toMatchObject({ code: 'EPROTO', message: 'the twin document lacks "desired" or "reported" objects' });
    emu.faults.failNextTwin(d.deviceId, 204); // a 204 whose topic has no $version
    expect(await failure(hub.updateReported({ a: 1 }))).toMatchObject({ code: 'EPROTO', message: 'the twin PATCH response carries no $version' });
    expect(hub.state).toBe('CONNECTED');
  });

  it('updateReported refuses what is not a JSON object', async () => {
    const { hub } = await connectedClient(configFor(emu, device()));
    expect((await failure(hub.updateReported([] as never))).code).toBe('EINVAL');
    expect((await failure(hub.updateReported({ n: 1n }))).code).toBe('EINVAL');
  });
});

describe('direct methods', () => {
  it('handlers answer with their status and payload; unknown -> 404; throw or rejection -> 500; no status -> 500', async () => {
    const d = device();
    const { hub, rec } = await connectedClient(configFor(emu, d));
    hub.onMethod('echo', ({ body, name }) => ({ status: 200, payload: { echo: body, name } }));
    hub.onMethod('async', async () => ({ status: 201, payload: 'raw text' }));
    hub.onMethod('throws', () => {
      throw new Error('boom');
    });
    hub.onMethod('rejects', async () => {
      throw new Error('async boom');
    });
    hub.onMethod('nostatus', () => ({}) as never);
    hub.onMethod('bytes', () => ({ status: 200, payload: new TextEncoder().encode('{"b":1}') }));

    expect(await emu.invokeMethod(d.deviceId, 'echo', { a: 1 })).toMatchObject({ status: 200, payload: { echo: { a: 1 }, name: 'echo' } });
    expect(await emu.invokeMethod(d.deviceId, 'async')).toMatchObject({ status: 201, payload: 'raw text' });
    expect(await emu.invokeMethod(d.deviceId, 'nope')).toMatchObject({ status: 404, payload: { error: 'method nope is not implemented' } });
    expect(await emu.invokeMethod(d.deviceId, 'throws')).toMatchObject({ status: 500, payload: { error: 'boom' } });
    expect(await emu.invokeMethod(d.deviceId, 'rejects')).toMatchObject({ status: 500, payload: { error: 'async boom' } });
    expect(await emu.invokeMethod(d.deviceId, 'nostatus')).toMatchObject({ status: 500 });
    expect(await emu.invokeMethod(d.deviceId, 'bytes')).toMatchObject({ status: 200, payload: { b: 1 } });
    expect(rec.all('DIRECT_METHOD')).toEqual([]);
    expect(rec.all('ERROR')).toEqual([]);
    const responses = packets(emu, d.deviceId).filter((e) => e.topic?.startsWith('$iothub/methods/res/'));
    expect(responses.map((e) => e.topic!.replace(/\$rid=\d+$/, '$rid=N'))).toEqual([
      '$iothub/methods/res/200/?$rid=N',
      '$iothub/methods/res/201/?$rid=N',
      '$iothub/methods/res/404/?$rid=N',
      '$iothub/methods/res/500/?$rid=N',
      '$iothub/methods/res/500/?$rid=N',
      '$iothub/methods/res/500/?$rid=N',
      '$iothub/methods/res/200/?$rid=N',
    ]);
    expect(responses.every((e) => e.qos === 0)).toBe(true);
  });

  it('a handler answer that cannot go on the wire (BigInt payload, status beyond 32 bits) is answered 500, not left to time out', async () => {
    const d = device();
    const { hub, rec } = await connectedClient(configFor(emu, d));
    hub.onMethod('bigint', () => ({ status: 200, payload: { n: 1n } }));
    hub.onMethod('huge', () => ({ status: 2 ** 40 }));
    expect(await emu.invokeMethod(d.deviceId, 'bigint', null, { timeoutMs: 1000 })).toMatchObject({
      status: 500, payload: { error: expect.stringMatching(/^the method response is not JSON-serialisable/) },
    });
    expect(await emu.invokeMethod(d.deviceId, 'huge', null, { timeoutMs: 1000 })).toMatchObject({
      status: 500, payload: { error: 'the method handler returned no valid { status } (a 32-bit integer)' },
    });
    expect(rec.all('ERROR')).toEqual([]);
  });

  it('a slow handler: the service gets 504, the late answer is sent and ignored, and nothing breaks', async () => {
    const d = device();
    const { hub, rec } = await connectedClient(configFor(emu, d));
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let calls = 0;
    hub.onMethod('slow', async () => {
      calls++;
      await gate;
      return { status: 200, payload: { late: true } };
    });
    expect(await emu.invokeMethod(d.deviceId, 'slow', null, { timeoutMs: 50 })).toMatchObject({ status: 504 });
    const since = lastSeq(emu, d.deviceId);
    release();
    await until(() => packets(emu, d.deviceId, since).some((e) => e.topic?.startsWith('$iothub/methods/res/200/')), 'the late answer');
    hub.onMethod('fast', () => ({ status: 200 }));
    expect(await emu.invokeMethod(d.deviceId, 'fast')).toMatchObject({ status: 200, payload: null });
    await hub.sendEvent('still fine');
    expect(calls).toBe(1);
    expect(rec.all('ERROR')).toEqual([]);
    expect(rec.all('DISCONNECTED')).toEqual([]);
    expect(emu.isConnected(d.deviceId)).toBe(true);
  });

  it('a catch-all handler ("*") gets every method without its own; removing handlers brings back DIRECT_METHOD', async () => {
    const d = device();
    const { hub, rec } = await connectedClient(configFor(emu, d));
    hub.onMethod('*', ({ name }) => ({ status: 202, payload: { name } }));
    hub.onMethod('own', () => ({ status: 200 }));
    expect(await emu.invokeMethod(d.deviceId, 'anything')).toMatchObject({ status: 202, payload: { name: 'anything' } });
    expect(await emu.invokeMethod(d.deviceId, 'own')).toMatchObject({ status: 200 });
    hub.onMethod('*', undefined);
    expect(await emu.invokeMethod(d.deviceId, 'anything')).toMatchObject({ status: 404 });
    hub.onMethod('own', undefined);
    const pending = emu.invokeMethod(d.deviceId, 'anything', null, { timeoutMs: 1000 });
    const evt = await rec.waitFor('DIRECT_METHOD');
    await hub.methodRespond({ rid: evt.data.method.rid, status: 200 });
    expect(await pending).toMatchObject({ status: 200 });
    expect(() => hub.onMethod('', () => ({ status: 200 }))).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => hub.onMethod('x', 'no' as never)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });

  it.each([['X.509'], ['SAS']])('without handlers (%s): DIRECT_METHOD, then methodRespond answers; a second answer is EALREADY', async (kind) => {
    const d = kind === 'SAS' ? device() : x509;
    const { hub, rec } = await connectedClient(configFor(emu, d));
    const result = emu.invokeMethod(d.deviceId, 'reboot', { delay: 3 });
    const evt = await rec.waitFor('DIRECT_METHOD');
    expect(evt.data.method.name).toBe('reboot');
    expect(JSON.parse(text(evt.data.method.payload))).toEqual({ delay: 3 });
    expect(evt.topic?.str).toBe(`$iothub/methods/POST/reboot/?$rid=${evt.data.method.rid}`);
    const rid = evt.data.method.rid;
    expect((await failure(hub.methodRespond({ rid: 'a b', status: 200 }))).code).toBe('EINVAL');
    expect((await failure(hub.methodRespond({ rid, status: 1.5 }))).code).toBe('EINVAL');
    await hub.methodRespond({ rid, status: 201, payload: '{"ok":true}' });
    expect(await result).toMatchObject({ status: 201, payload: { ok: true } });
    expect((await failure(hub.methodRespond({ rid, status: 200 }))).code).toBe('EALREADY');
    expect(packets(emu, d.deviceId).filter((e) => e.topic === `$iothub/methods/res/201/?$rid=${rid}`)).toHaveLength(1);
    expect(packets(emu, d.deviceId).filter((e) => e.topic?.startsWith('$iothub/methods/res/200/'))).toHaveLength(0);
  });
});
