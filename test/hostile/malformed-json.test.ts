/**
 * A hostile hub and DPS, part 3: well-formed MQTT carrying malformed JSON. Twin documents (GET answers, PATCH
 * answers, desired updates), direct-method payloads, DPS answers and FOTA desired `firmware` objects that are not
 * JSON, not UTF-8, of the wrong shape, of the wrong field types, or nested tens of thousands of levels deep. Each is a
 * coded error (or a documented pass-through), the connection stays up, and nothing throws out of the library.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { provisionDevice, type ProvisionOptions } from '../../src/azure/dps/provision.js';
import { MemoryFirmwareSlot } from '../../src/azure/fota/memory-slot.js';
import { startEmulator, type Emulator } from '../../src/emulator/emulator.js';
import { AzureIotHubError } from '../../src/errors.js';
import {
  closeClients,
  configFor,
  connectedClient,
  packets,
  sasDevice,
  text,
  until,
  type TestDevice,
} from '../azure/client/harness.js';
import { FakeDps, type FakeConnection, type FakeRequest } from '../azure/dps/fake-dps.js';
import { publishBytes } from './helpers.js';

let emu: Emulator;
let n = 0;

beforeAll(async () => {
  emu = await startEmulator({ c2dRedeliveryMs: 0 });
});
afterEach(async () => {
  await closeClients();
});
afterAll(async () => {
  await emu.close();
});

function device(): TestDevice {
  return sasDevice(emu, `mj-${++n}`);
}

const quick = { random: () => 0.001 };
/** 40 000 nested objects: valid JSON that overflows the stack of any recursive walker. */
const DEEP = '{"a":'.repeat(40_000) + '1' + '}'.repeat(40_000);

function connectCount(deviceId: string): number {
  return packets(emu, deviceId).filter((e) => e.type === 'connect' && e.direction === 'in').length;
}

/** Hold the device's answers while `request` goes out, then answer its `$rid` with `topicFor(rid)` and `body`. */
async function answerTwin<T>(
  d: TestDevice,
  request: () => Promise<T>,
  topicFor: (rid: string) => string,
  body: string | Uint8Array,
): Promise<T | AzureIotHubError> {
  emu.faults.stopAnswering(d.deviceId);
  const since = packets(emu, d.deviceId).length;
  const pending = request().then((v) => v, (e: unknown) => e as AzureIotHubError);
  let rid = '';
  await until(() => {
    const sent = packets(emu, d.deviceId).slice(since).find((e) => e.direction === 'in' && e.topic?.startsWith('$iothub/twin/'));
    if (sent === undefined) return false;
    rid = /\$rid=([^&]+)/.exec(sent.topic!)![1]!;
    return true;
  }, 'the twin request');
  emu.faults.resume(d.deviceId);
  emu.faults.sendRaw(d.deviceId, publishBytes(topicFor(rid), body));
  return pending;
}

describe('twin GET answers', () => {
  const CASES: Array<[name: string, body: string | Uint8Array, message: string]> = [
    ['not JSON', '{"desired":', 'the twin document is not valid JSON'],
    ['not UTF-8', Uint8Array.of(0x7b, 0xff, 0xfe, 0x7d), 'the twin document is not valid JSON'],
    ['a JSON array', '[1,2]', 'the twin document lacks "desired" or "reported" objects'],
    ['JSON null', 'null', 'the twin document lacks "desired" or "reported" objects'],
    ['desired as a string', '{"desired":"x","reported":{"$version":1}}', 'the twin document lacks "desired" or "reported" objects'],
    ['$version as a string', '{"desired":{"$version":"1"},"reported":{"$version":1}}', 'the twin document lacks a numeric $version'],
    ['an empty body', '', 'the twin document is not valid JSON'],
  ];

  it(`${CASES.length} malformed documents: getTwin() rejects with EPROTO naming the problem, TWIN_RECEIVED carries the raw bytes, the link stays up`, async () => {
    const d = device();
    const { hub, rec } = await connectedClient(configFor(emu, d), quick);
    for (const [name, body, message] of CASES) {
      const mark = rec.mark();
      const err = await answerTwin(d, () => hub.getTwin(), (rid) => `$iothub/twin/res/200/?$rid=${rid}`, body);
      expect(err, name).toBeInstanceOf(AzureIotHubError);
      expect({ name, code: (err as AzureIotHubError).code, message: (err as AzureIotHubError).message }).toEqual({ name, code: 'EPROTO', message });
      const evt = await rec.waitFor('TWIN_RECEIVED', { since: mark });
      expect(evt.data.msg.payload).toEqual(typeof body === 'string' ? new TextEncoder().encode(body) : body);
    }
    expect(connectCount(d.deviceId)).toBe(1);
    expect(rec.all('ERROR')).toEqual([]);
  });

  it('a document nested 40 000 levels deep inside desired is parsed (JSON.parse is not recursive) and returned', async () => {
    const d = device();
    const { hub } = await connectedClient(configFor(emu, d), quick);
    const body = `{"desired":{"$version":3,"deep":${DEEP}},"reported":{"$version":1}}`;
    const twin = await answerTwin(d, () => hub.getTwin(), (rid) => `$iothub/twin/res/200/?$rid=${rid}`, body);
    expect(twin).not.toBeInstanceOf(AzureIotHubError);
    expect((twin as { desired: { $version: number } }).desired.$version).toBe(3);
  });

  it('an error status with a non-JSON body: getTwin() rejects with the status-derived code (500 -> EIO) and status', async () => {
    const d = device();
    const { hub } = await connectedClient(configFor(emu, d), quick);
    const err = await answerTwin(d, () => hub.getTwin(), (rid) => `$iothub/twin/res/500/?$rid=${rid}`, '<html>oops');
    expect(err).toMatchObject({ code: 'EIO', status: 500 });
  });
});

describe('twin PATCH answers', () => {
  it('204 without $version: updateReported() rejects with EPROTO', async () => {
    const d = device();
    const { hub } = await connectedClient(configFor(emu, d), quick);
    const err = await answerTwin(d, () => hub.updateReported({ a: 1 }), (rid) => `$iothub/twin/res/204/?$rid=${rid}`, '');
    expect(err).toMatchObject({ code: 'EPROTO', message: 'the twin PATCH response carries no $version' });
  });

  it('204 with a non-decimal $version: the topic is malformed, passed on as DATA_RECEIVED, and the request times out (ETIMEDOUT)', async () => {
    const d = device();
    const { hub, rec } = await connectedClient(configFor(emu, d, { requestTimeoutMs: 200 }), quick);
    const err = await answerTwin(d, () => hub.updateReported({ a: 1 }), (rid) => `$iothub/twin/res/204/?$rid=${rid}&$version=1e3`, '');
    expect(err).toMatchObject({ code: 'ETIMEDOUT' });
    const passed = rec.all('DATA_RECEIVED').map((e) => e.topic.str);
    expect(passed).toHaveLength(1);
    expect(passed[0]).toMatch(/^\$iothub\/twin\/res\/204\/\?\$rid=\d+&\$version=1e3$/);
  });
});

describe('desired-property updates', () => {
  it('not JSON, not UTF-8, an array, and 40 000 levels deep: each is passed on as TWIN_DESIRED_RECEIVED with its raw bytes, no ERROR', async () => {
    const d = device();
    const { rec } = await connectedClient(configFor(emu, d), quick);
    const bodies: Array<string | Uint8Array> = ['{"x":', Uint8Array.of(0xc3, 0x28), '[]', DEEP];
    for (const body of bodies) {
      const mark = rec.mark();
      emu.faults.sendRaw(d.deviceId, publishBytes('$iothub/twin/PATCH/properties/desired/?$version=9', body));
      const evt = await rec.waitFor('TWIN_DESIRED_RECEIVED', { since: mark });
      expect(evt.data.msg.payload.length).toBe(typeof body === 'string' ? new TextEncoder().encode(body).length : body.length);
    }
    expect(rec.all('ERROR')).toEqual([]);
  });

  it('with FOTA on: the same documents are ignored by FOTA (debug "invalid" for the unparsable ones), no FOTA event, no ERROR, TWIN_DESIRED_RECEIVED each time [regression: deep-desired-patch]', async () => {
    const d = device();
    const debug: unknown[] = [];
    const { rec } = await connectedClient(
      configFor(emu, d, { fota: { currentVersion: 'v1', storage: new MemoryFirmwareSlot(), ca: emu.ca.cert, onDebug: (m) => debug.push(m) } }),
      quick,
    );
    const bodies: Array<string | Uint8Array> = ['{"x":', Uint8Array.of(0xc3, 0x28), '[]', DEEP, `{"firmware":${DEEP}}`];
    for (const body of bodies) {
      const mark = rec.mark();
      emu.faults.sendRaw(d.deviceId, publishBytes('$iothub/twin/PATCH/properties/desired/?$version=9', body));
      await rec.waitFor('TWIN_DESIRED_RECEIVED', { since: mark });
    }
    expect(rec.all('ERROR')).toEqual([]);
    expect(rec.types().filter((t) => t.startsWith('FOTA_'))).toEqual([]);
    const ignored = debug.filter((m) => (m as { event: string }).event === 'ignored') as Array<{ reason: string; error?: AzureIotHubError }>;
    expect(ignored.filter((m) => m.reason === 'invalid').map((m) => m.error?.code)).toEqual(['ENOMSG', 'ENOMSG', 'ENOMSG', 'EINVAL']);
  });
});

describe('direct-method payloads', () => {
  it('not JSON: the handler gets body undefined and the raw payload, and its answer goes out', async () => {
    const d = device();
    const { hub } = await connectedClient(configFor(emu, d), quick);
    const seen: Array<[unknown, string]> = [];
    hub.onMethod('m', (req) => {
      seen.push([req.body, text(req.payload)]);
      return { status: 200, payload: { ok: true } };
    });
    const result = await emu.invokeMethod(d.deviceId, 'm', new TextEncoder().encode('{not json'), { timeoutMs: 3000 });
    expect(result).toMatchObject({ status: 200, payload: { ok: true } });
    expect(seen).toEqual([[undefined, '{not json']]);
  });

  it('40 000 levels deep, echoed back by the handler: the response cannot be serialised, so the library answers 500 (no throw, no ERROR)', async () => {
    const d = device();
    const { hub, rec } = await connectedClient(configFor(emu, d), quick);
    hub.onMethod('echo', (req) => ({ status: 200, payload: req.body }));
    const result = await emu.invokeMethod(d.deviceId, 'echo', new TextEncoder().encode(DEEP), { timeoutMs: 3000 });
    expect(result.status).toBe(500);
    expect((result.payload as { error: string }).error).toMatch(/^the method response is not JSON-serialisable/);
    expect(rec.all('ERROR')).toEqual([]);
  });

  it('a request whose $rid cannot be echoed (contains "="): not a method request; passed on as DATA_RECEIVED, never answered', async () => {
    const d = device();
    const { hub, rec } = await connectedClient(configFor(emu, d), quick);
    let called = 0;
    hub.onMethod('m', () => {
      called++;
      return { status: 200 };
    });
    emu.faults.sendRaw(d.deviceId, publishBytes('$iothub/methods/POST/m/?$rid=a=b', '{}'));
    const evt = await rec.waitFor('DATA_RECEIVED');
    expect(evt.topic.str).toBe('$iothub/methods/POST/m/?$rid=a=b');
    await new Promise((r) => setTimeout(r, 20));
    expect(called).toBe(0);
    expect(packets(emu, d.deviceId).filter((e) => e.topic?.startsWith('$iothub/methods/res/'))).toEqual([]);
  });
});

describe('FOTA desired firmware objects of the wrong shape', () => {
  const fw = (over: Record<string, unknown>, loc: Record<string, unknown> = {}): Record<string, unknown> => ({
    firmware: { fwVersion: 'v2', jobId: 'j', fwLocation: { protocol: 'https:', host: 'fw.example', path: 'a.bin', ...loc }, ...over },
  });
  const CASES: Array<[doc: Record<string, unknown> | string, field: string]> = [
    [{ firmware: 'v2' }, 'firmware must be an object'],
    [fw({ fwVersion: {} }), 'firmware.fwVersion'],
    [fw({ fwVersion: '' }), 'firmware.fwVersion'],
    [fw({ jobId: 5 }), 'firmware.jobId'],
    [fw({ fwLocation: 'https://fw.example/a.bin' }), 'firmware.fwLocation'],
    [fw({}, { protocol: 'ftp:' }), 'firmware.fwLocation.protocol'],
    [fw({}, { host: 'a b' }), 'firmware.fwLocation.host'],
    [fw({}, { host: 'h:99999' }), 'firmware.fwLocation.host'],
    [fw({}, { path: 'a\nb.bin?sig=SECRET-SIG' }), 'firmware.fwLocation.path'],
    [fw({ sha256: 'zz' }), 'firmware.sha256'],
    [fw({ size: -1 }), 'firmware.size'],
    [fw({ fwVersion: 'v'.repeat(129) }), 'firmware.fwVersion'],
  ];

  it(`${CASES.length} invalid jobs: no FOTA_START, a debug "ignored/invalid" with EINVAL naming the field and never the value, the link stays up`, async () => {
    const d = device();
    const debug: Array<{ event: string; reason?: string; error?: AzureIotHubError }> = [];
    const { rec } = await connectedClient(
      configFor(emu, d, { fota: { currentVersion: 'v1', storage: new MemoryFirmwareSlot(), ca: emu.ca.cert, onDebug: (m) => debug.push(m as never) } }),
      quick,
    );
    const ignoredSince = (i: number): Array<{ reason?: string; error?: AzureIotHubError }> =>
      debug.slice(i).filter((m) => m.event === 'ignored');
    for (const [doc, field] of CASES) {
      let before = debug.length;
      emu.updateDesired(d.deviceId, doc as never);
      await until(() => ignoredSince(before).length > 0, `the FOTA decision on ${field}`);
      const ignored = ignoredSince(before)[0]!;
      expect(ignored.reason, field).toBe('invalid');
      expect(ignored.error?.code, field).toBe('EINVAL');
      expect(ignored.error?.message, field).toContain(field);
      expect(ignored.error?.message).not.toContain('SECRET');
      // Delete the job before the next case (a null deletes a member).
      before = debug.length;
      emu.updateDesired(d.deviceId, { firmware: null });
      await until(() => ignoredSince(before).some((m) => m.reason === 'no-firmware'), 'the job deleted');
    }
    expect(rec.types().filter((t) => t.startsWith('FOTA_'))).toEqual([]);
    expect(rec.all('ERROR')).toEqual([]);
    expect(connectCount(d.deviceId)).toBe(1);
  });
});

describe('DPS answers', () => {
  let dps: FakeDps;
  beforeAll(async () => {
    dps = await FakeDps.start();
  });
  afterAll(async () => {
    await dps.close();
  });

  function options(): ProvisionOptions {
    return {
      idScope: '0ne0000000A',
      registrationId: 'dev-json',
      hostname: 'dps.example',
      address: '127.0.0.1',
      port: dps.port,
      tls: false,
      symmetricKey: Buffer.alloc(32, 7).toString('base64'),
      timeoutMs: 3000,
      defaultRetryAfterMs: 1,
      retry: { initialDelayMs: 1, maxDelayMs: 2 },
    };
  }

  const pending = { operationId: 'op', status: 'assigning' };
  const CASES: Array<[name: string, status: number, body: string, message: string]> = [
    ['not JSON', 202, '{"operationId":', 'malformed DPS response: body is not JSON'],
    ['not UTF-8', 202, '\u00ff', 'malformed DPS response'],
    ['a JSON array', 200, '[]', 'malformed DPS response: body is not a JSON object'],
    ['operationId as a number', 202, '{"operationId":5,"status":"assigning"}', 'malformed DPS response: operationId is not a string'],
    ['pending without operationId', 202, '{"status":"assigning","errorCode":1}', 'malformed DPS response: a pending response has no operationId'],
    ['registrationState as an array', 200, '{"operationId":"op","status":"assigned","registrationState":[]}', 'malformed DPS response: registrationState is not an object'],
    ['assigned without a hub', 200, '{"operationId":"op","status":"assigned","registrationState":{"status":"assigned"}}', 'DPS reported assigned without an assignedHub and deviceId'],
    ['an assigned hub that is no host name', 200, '{"operationId":"op","status":"assigned","registrationState":{"assignedHub":"a/b#c","deviceId":"d"}}', 'DPS assigned a hub whose name is not a valid host name'],
    ['an assigned device id IoT Hub refuses', 200, '{"operationId":"op","status":"assigned","registrationState":{"assignedHub":"h.example","deviceId":"a#b"}}', 'DPS assigned a device id that IoT Hub does not accept'],
    ['errorCode as a string', 200, '{"errorCode":"401002"}', 'malformed DPS response: errorCode is not a number'],
    ['40 000 levels deep', 200, `{"operationId":"op","status":"assigned","registrationState":{"assignedHub":"h.example","deviceId":"d","x":${DEEP}}}`, ''],
  ];

  it.each(CASES)('%s: provisionDevice() rejects with EPROTO naming the problem (or, for valid deep JSON, resolves)', async (_name, status, body, message) => {
    dps.onRequest = (req: FakeRequest, conn: FakeConnection) => {
      const raw = body === '\u00ff' ? Uint8Array.of(0xff) : body;
      if (req.kind === 'register' && status === 200) {
        conn.answer(202, `$rid=${req.rid}&retry-after=0`, pending);
        return;
      }
      if (typeof raw === 'string') conn.answer(status, `$rid=${req.rid}`, raw);
      else conn.send({ type: 'publish', topic: `$dps/registrations/res/${status}/?$rid=${req.rid}`, payload: raw, qos: 0, dup: false, retain: false });
    };
    const result = await provisionDevice(options()).then((r) => r, (e: unknown) => e as AzureIotHubError);
    if (message === '') {
      expect(result).toMatchObject({ assignedHub: 'h.example', deviceId: 'd' });
      return;
    }
    expect(result).toBeInstanceOf(AzureIotHubError);
    expect((result as AzureIotHubError).code).toBe('EPROTO');
    expect((result as AzureIotHubError).message).toContain(message);
  });

  const HOSTILE: Array<[name: string, answer: (conn: FakeConnection, req: FakeRequest) => void, rule: string]> = [
    ['a QoS 2 answer', (c, r) => c.send({ type: 'publish', topic: `$dps/registrations/res/202/?$rid=${r.rid}`, payload: new Uint8Array(0), qos: 2, dup: false, retain: false, messageId: 5 }), 'MQTT-3.8.4'],
    ['a SUBSCRIBE from DPS', (c) => c.send({ type: 'subscribe', messageId: 3, subscriptions: [{ topic: '#', qos: 0 }] }), 'MQTT-2.2.1'],
    ['a second CONNACK', (c) => c.send({ type: 'connack', sessionPresent: false, returnCode: 0 }), 'MQTT-4.8.0-1'],
    ['a PUBREL', (c) => c.send({ type: 'pubrel', messageId: 9 }), 'MQTT-4.3.3'],
  ];

  it.each(HOSTILE)('%s instead of an answer: provisionDevice() rejects with EPROTO and the rule', async (_name, answer, rule) => {
    dps.onRequest = (req, conn) => answer(conn, req);
    const result = await provisionDevice(options()).then((r) => r, (e: unknown) => e as AzureIotHubError);
    expect(result).toMatchObject({ code: 'EPROTO', rule });
  });
});
