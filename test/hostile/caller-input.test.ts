/**
 * Bad input from the application, against a real connection to the emulator: invalid device ids; property keys and
 * values holding `& = / # + ?`, spaces, percent signs, NUL, unpaired surrogates and non-ASCII; huge payloads; and
 * every public method called with the wrong types (null, numbers, objects, missing fields), as a JavaScript caller
 * can. Each call is refused with a coded error that names the problem (`EINVAL`, `EMSGSIZE`, ...) and nothing
 * reaches the wire (the emulator's packet log is unchanged), or the value is encoded so that the hub reads back
 * exactly what the caller gave (the emulator decodes the topic independently of the library).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AzureIotHub, MAX_SEND_PAYLOAD_BYTES } from '../../src/azure/client.js';
import type { AzureIotHubConfig, AzureIotHubPropBag } from '../../src/azure/types.js';
import { startEmulator, type Emulator } from '../../src/emulator/emulator.js';
import { AzureIotHubError } from '../../src/errors.js';
import { closeClients, configFor, connectedClient, packets, sasDevice, type TestDevice } from '../azure/client/harness.js';

let emu: Emulator;
let n = 0;

beforeAll(async () => {
  emu = await startEmulator({ firmware: false, c2dRedeliveryMs: 0 });
});
afterEach(async () => {
  await closeClients();
});
afterAll(async () => {
  await emu.close();
});

function device(): TestDevice {
  return sasDevice(emu, `ci-${++n}`);
}

/** What a call did: the coded error it was refused with, or `ok`. */
async function outcome(call: () => unknown): Promise<{ code: string; message: string } | 'ok'> {
  try {
    await call();
    return 'ok';
  } catch (err) {
    if (!(err instanceof AzureIotHubError)) throw new Error(`not a coded error: ${String(err)}`, { cause: err });
    return { code: err.code, message: err.message };
  }
}

/** Packets the device sent so far (the emulator's log). */
function sentCount(deviceId: string): number {
  return packets(emu, deviceId).filter((e) => e.direction === 'in').length;
}

const SAS_KEY = Buffer.alloc(32, 1).toString('base64');
const base: AzureIotHubConfig = { deviceId: 'd', hostname: 'h.example', sasKey: SAS_KEY };

describe('device ids and config fields from JavaScript callers', () => {
  const BAD_IDS: Array<[name: string, id: unknown, message: RegExp]> = [
    ['empty', '', /must not be empty/],
    ['a slash (a topic level)', 'a/b', /may only contain/],
    ['a # (MQTT wildcard)', 'a#b', /may only contain/],
    ['a + (MQTT wildcard)', 'a+b', /may only contain/],
    ['an ampersand', 'a&b', /may only contain/],
    ['a space', 'a b', /may only contain/],
    ['NUL', 'a\u0000b', /may only contain/],
    ['an unpaired surrogate', 'a\ud800', /may only contain/],
    ['non-ASCII', 'é', /may only contain/],
    ['129 characters', 'a'.repeat(129), /is 129 characters long; the limit is 128/],
    ['a number', 42, /must be a string/],
    ['null', null, /must be a string/],
    ['an object', { id: 'x' }, /must be a string/],
  ];

  it.each(BAD_IDS)('deviceId %s: init() throws EINVAL naming config.deviceId', (_name, id, message) => {
    const err = (() => {
      try {
        new AzureIotHub().init({ ...base, deviceId: id } as AzureIotHubConfig, () => undefined);
      } catch (e) {
        return e as AzureIotHubError;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(AzureIotHubError);
    expect(err!.code).toBe('EINVAL');
    expect(err!.message).toMatch(/^config\.deviceId /);
    expect(err!.message).toMatch(message);
  });

  it('moduleId with a slash, and every config field given null, a number, an object, an array: EINVAL naming the field', () => {
    const fields = [
      'moduleId', 'hostname', 'port', 'address', 'credentials', 'sasKey', 'sasTokenTtlSeconds', 'dps', 'keepaliveSeconds',
      'cleanSession', 'autoInput', 'autoTwinRequest', 'maxPayloadBytes', 'reconnect', 'fota', 'socket', 'modelId',
      'requestTimeoutMs',
    ];
    const wrong: unknown[] = [null, -1, { x: 1 }, ['a'], 'not-valid/\u0000'];
    let cases = 0;
    for (const field of fields) {
      for (const value of wrong) {
        // Values some fields legitimately take: a string for the string fields, true/false for booleans.
        if (typeof value === 'string' && ['moduleId', 'hostname', 'address', 'sasKey', 'modelId'].includes(field) === false) continue;
        const init = (): void => new AzureIotHub().init({ ...base, [field]: value } as AzureIotHubConfig, () => undefined);
        let err: unknown;
        try {
          init();
        } catch (e) {
          err = e;
        }
        expect(err, `${field} = ${JSON.stringify(value)}`).toBeInstanceOf(AzureIotHubError);
        expect((err as AzureIotHubError).code, field).toBe('EINVAL');
        expect((err as AzureIotHubError).message, field).toContain(`config.${field}`);
        cases++;
      }
    }
    expect(cases).toBeGreaterThan(70);
  });

  it('init() with null, a number or a string as config, or without a handler: EINVAL', () => {
    for (const cfg of [null, undefined, 5, 'deviceId=d', []]) {
      expect(() => new AzureIotHub().init(cfg as unknown as AzureIotHubConfig, () => undefined)).toThrow(/^config must be an object$/);
    }
    for (const handler of [undefined, null, 5, {}]) {
      expect(() => new AzureIotHub().init(base, handler as never)).toThrow('handler must be a function');
    }
  });

  it('constructor options of the wrong type: EINVAL at once [regression: random-not-a-function]', () => {
    const CASES: Array<[unknown, string]> = [
      [null, 'options must be an object'],
      [5, 'options must be an object'],
      [{ random: 'x' }, 'options.random must be a function'],
      [{ now: 5 }, 'options.now must be a function'],
      [{ session: 5 }, 'options.session must be an object'],
      [{ fota: null }, 'options.fota must be an object'],
    ];
    for (const [options, message] of CASES) {
      expect(() => new AzureIotHub(options as never), message).toThrow(message);
    }
  });
});

describe('property bags: every character is either encoded so the hub reads it back exactly, or refused', () => {
  const AWKWARD = ['&', '=', '/', '#', '+', '?', ' ', '%', '%24', '$', '$.x', 'é', '😀', '\u2028', 'a=b&c=d', '../..', '__proto__', '%zz'];

  it(`${AWKWARD.length} awkward keys and values through send() and sendEvent(): one topic level, no wildcard, and the emulator decodes them to the original`, async () => {
    const d = device();
    const { hub } = await connectedClient(configFor(emu, d, { autoTwinRequest: false }));
    const bag: AzureIotHubPropBag[] = AWKWARD.map((s, i) => ({ key: `k${i}${s}`, value: `v${s}` }));
    bag.push({ key: 'bare', value: null }, { key: 'empty', value: '' }, { key: 'undef' });
    await hub.send({ topic: { type: 'EVENT', propBag: bag }, payload: 'p', qos: 1 });
    const record: Record<string, string | null> = Object.fromEntries(AWKWARD.map((s, i) => [`r${i}${s}`, `w${s}`]));
    await hub.sendEvent('q', record);
    // `__proto__` as a key must also survive the records both sides build.
    await hub.sendEvent('r', [{ key: '__proto__', value: 'x' }]);

    const [first, second, third] = emu.telemetry(d.deviceId);
    const prefix = `devices/${d.deviceId}/messages/events/`;
    for (const m of [first!, second!, third!]) {
      expect(m.topic.startsWith(prefix)).toBe(true);
      const bagText = m.topic.slice(prefix.length);
      // Nothing that Azure would read as a topic level, a wildcard or a leading query marker.
      expect(bagText).not.toMatch(/[/#+?\s\u2028]/);
      expect(bagText).toMatch(/^[A-Za-z0-9\-._~%&=]*$/);
    }
    const expected: Record<string, string | null> = {};
    for (const p of bag) expected[p.key] = p.value ?? null;
    expect(first!.properties).toEqual(expected);
    expect(first!.topic.slice(prefix.length).split('&')).toHaveLength(bag.length);
    expect(second!.properties).toEqual(record);
    expect(Object.getOwnPropertyNames(third!.properties)).toEqual(['__proto__']);
    expect(Object.getOwnPropertyDescriptor(third!.properties, '__proto__')?.value).toBe('x');
  });

  const REFUSED: Array<[name: string, bag: unknown, message: string]> = [
    ['NUL in a key', [{ key: 'a\u0000b', value: 'v' }], 'propBag[0].key contains U+0000 (NUL) at index 1'],
    ['NUL in a value', [{ key: 'k', value: 'x' }, { key: 'k2', value: '\u0000' }], 'propBag[1].value contains U+0000 (NUL) at index 0'],
    ['a lone high surrogate in a key', [{ key: 'k\ud83d', value: 'v' }], 'propBag[0].key contains an unpaired surrogate at index 1'],
    ['a lone low surrogate in a value', [{ key: 'k', value: '\ude00x' }], 'propBag[0].value contains an unpaired surrogate at index 0'],
    ['an empty key', [{ key: '', value: 'v' }], 'propBag[0].key must not be empty'],
    ['a number as key', [{ key: 5, value: 'v' }], 'propBag[0].key must be a string'],
    ['a number as value', [{ key: 'k', value: 5 }], 'propBag[0].value must be a string'],
    ['an object as value', [{ key: 'k', value: { toString: () => 'x' } }], 'propBag[0].value must be a string'],
    ['null as an entry', [null], 'propBag[0] must be { key, value? }'],
    ['a string as the bag', 'k=v', 'topic.propBag must be an array'],
  ];

  it(`${REFUSED.length} bags that no encoding can carry or that have the wrong types: EINVAL naming the entry, nothing sent`, async () => {
    const d = device();
    const { hub } = await connectedClient(configFor(emu, d, { autoTwinRequest: false }));
    const before = sentCount(d.deviceId);
    for (const [name, bag, message] of REFUSED) {
      const r = await outcome(() => hub.send({ topic: { type: 'EVENT', propBag: bag as AzureIotHubPropBag[] }, payload: 'p' }));
      expect(r, name).toEqual({ code: 'EINVAL', message });
    }
    // The record form of sendEvent() names the same problems.
    expect(await outcome(() => hub.sendEvent('p', { 'a\u0000': 'v' }))).toEqual({ code: 'EINVAL', message: 'propBag[0].key contains U+0000 (NUL) at index 1' });
    expect(await outcome(() => hub.sendEvent('p', { k: 5 as never }))).toEqual({ code: 'EINVAL', message: 'propBag[0].value must be a string' });
    expect(sentCount(d.deviceId)).toBe(before);
  });

  it('a bag that makes the topic longer than MQTT allows (65 535 bytes): refused with EINVAL naming the limit, nothing sent', async () => {
    const d = device();
    const { hub } = await connectedClient(configFor(emu, d, { autoTwinRequest: false }));
    const before = sentCount(d.deviceId);
    const r = await outcome(() => hub.sendEvent('p', { big: '/'.repeat(22_000) })); // each '/' becomes %2F
    expect(r).toMatchObject({ code: 'EINVAL' });
    expect((r as { message: string }).message).toMatch(/topic name is 66\d{3} bytes; the limit is 65535/);
    expect(sentCount(d.deviceId)).toBe(before);
  });
});

describe('caller-chosen request ids', () => {
  it('a twin $rid with percent signs ("a%2Fb", "%00") is echoed verbatim by the hub and settles its own request [regression: emulator-rid-decoded]', async () => {
    const d = device();
    const { hub, rec } = await connectedClient(configFor(emu, d, { autoTwinRequest: false }));
    for (const rid of ['a%2Fb', '%00', '%zz', 'x%20y']) {
      const mark = rec.mark();
      await hub.send({ topic: { type: 'TWIN_REPORTED', propBag: [{ key: '$rid', value: rid }] }, payload: '{"r":1}' });
      const result = await rec.waitFor('TWIN_RESULT_SUCCESS', { since: mark });
      expect(result.data.result).toMatchObject({ rid, status: 204 });
      expect(result.topic?.str).toBe(`$iothub/twin/res/204/?$rid=${rid}&$version=${result.topic!.str!.split('$version=')[1]}`);
      expect(result.topic!.str!.split('$version=')[1]).toMatch(/^\d+$/);
    }
    expect(rec.all('DATA_RECEIVED')).toEqual([]);
    expect(emu.isConnected(d.deviceId)).toBe(true);
  });
});

describe('payload sizes', () => {
  it('exactly 256 KiB is sent; one byte more (bytes, or UTF-8 of a string) is EMSGSIZE for send(), sendEvent(), methodRespond() and updateReported(), and nothing is sent', async () => {
    const d = device();
    const { hub } = await connectedClient(configFor(emu, d, { autoTwinRequest: false }));
    await hub.sendEvent(new Uint8Array(MAX_SEND_PAYLOAD_BYTES));
    expect(emu.telemetry(d.deviceId)[0]!.payload.length).toBe(262_144);
    const before = sentCount(d.deviceId);
    const over = new Uint8Array(MAX_SEND_PAYLOAD_BYTES + 1);
    const calls: Array<[string, () => Promise<unknown>]> = [
      ['send bytes', () => hub.send({ topic: { type: 'EVENT' }, payload: over })],
      ['send a string of 2-byte characters', () => hub.send({ topic: { type: 'EVENT' }, payload: 'é'.repeat(MAX_SEND_PAYLOAD_BYTES / 2 + 1) })],
      ['sendEvent', () => hub.sendEvent(over)],
      ['sendEvent JSON', () => hub.sendEvent({ s: 'x'.repeat(MAX_SEND_PAYLOAD_BYTES) })],
      ['methodRespond', () => hub.methodRespond({ rid: '1', status: 200, payload: over })],
      ['updateReported', () => hub.updateReported({ s: 'x'.repeat(MAX_SEND_PAYLOAD_BYTES) })],
    ];
    for (const [name, call] of calls) {
      const r = await outcome(call);
      expect(r, name).toMatchObject({ code: 'EMSGSIZE' });
      expect((r as { message: string }).message, name).toMatch(/262144/);
    }
    expect(sentCount(d.deviceId)).toBe(before);
  });
});

describe('every public method with the wrong types', () => {
  const WRONG: unknown[] = [undefined, null, 0, NaN, 'x', true, {}, [], () => 1, Symbol('s'), 10n];

  it('send(), methodRespond(), sendEvent(), updateReported(), onMethod() with null, numbers, objects and missing fields: coded errors naming the problem, nothing sent', async () => {
    const d = device();
    const { hub } = await connectedClient(configFor(emu, d, { autoTwinRequest: false }));
    const before = sentCount(d.deviceId);
    const refused: Array<[name: string, call: () => unknown, code: string, message: RegExp]> = [];
    for (const v of WRONG) {
      const label = typeof v === 'symbol' || typeof v === 'bigint' || typeof v === 'function' ? typeof v : JSON.stringify(v) ?? 'undefined';
      refused.push([`send(${label})`, () => hub.send(v as never), 'EINVAL', /^data\.topic is required$/]);
      if (!(typeof v === 'object' && v !== null && !Array.isArray(v))) {
        refused.push([`send({ topic: ${label} })`, () => hub.send({ topic: v } as never), 'EINVAL', /^data\.topic is required$/]);
        refused.push([`methodRespond(${label})`, () => hub.methodRespond(v as never), 'EINVAL', /^result must be \{ rid, status, payload\? \}$/]);
        refused.push([`updateReported(${label})`, () => hub.updateReported(v as never), 'EINVAL', /^patch must be a JSON object$/]);
      }
      if (v !== undefined) {
        refused.push([`send({ topic: { type: ${label} } })`, () => hub.send({ topic: { type: v }, payload: 'x' } as never), 'ENOMSG', /^cannot send to topic type /]);
      }
      if (v !== undefined && v !== null && typeof v !== 'string') {
        refused.push([`send payload ${label}`, () => hub.send({ topic: { type: 'EVENT' }, payload: v } as never), 'EINVAL', /^data\.payload must be a string or a Uint8Array$/]);
        refused.push([`methodRespond rid ${label}`, () => hub.methodRespond({ rid: v, status: 200 } as never), 'EINVAL', /^result\.rid must be a string$/]);
        refused.push([`methodRespond payload ${label}`, () => hub.methodRespond({ rid: `p${refused.length}`, status: 200, payload: v } as never), 'EINVAL', /^result\.payload must be a string or a Uint8Array$/]);
        if (v !== 0) refused.push([`methodRespond status ${label}`, () => hub.methodRespond({ rid: `s${refused.length}`, status: v } as never), 'EINVAL', /^status must be a 32-bit integer$/]);
        refused.push([`twin $rid ${label}`, () => hub.send({ topic: { type: 'TWIN_REPORTED', propBag: [{ key: '$rid', value: v }] }, payload: '{}' } as never), 'EINVAL', /^propBag \$rid must be a string$/]);
      }
      if (v !== undefined && v !== null && v !== 0) {
        refused.push([`send qos ${label}`, () => hub.send({ topic: { type: 'EVENT' }, payload: 'x', qos: v } as never), 'EINVAL', /^data\.qos must be 0 or 1$/]);
        refused.push([`sendEvent qos ${label}`, () => hub.sendEvent('x', undefined, { qos: v } as never), 'EINVAL', /^data\.qos must be 0 or 1$/]);
      }
      if (v !== undefined && !Array.isArray(v) && !(typeof v === 'object' && v !== null)) {
        refused.push([`sendEvent properties ${label}`, () => hub.sendEvent('x', v as never), 'EINVAL', /properties must be an object or a property bag|must be an array/]);
      }
      if (typeof v !== 'string' || v === '') {
        refused.push([`onMethod name ${label}`, () => hub.onMethod(v as never, () => ({ status: 200 })), 'EINVAL', /^method name must be a non-empty string$/]);
      }
      if (v !== undefined && typeof v !== 'function') {
        refused.push([`onMethod handler ${label}`, () => hub.onMethod('m', v as never), 'EINVAL', /^handler must be a function$/]);
      }
      if (v !== undefined && v !== null && typeof v !== 'object' && typeof v !== 'function') {
        refused.push([`sendEvent options ${label}`, () => hub.sendEvent('x', undefined, v as never), 'EINVAL', /^options must be an object \{ qos\? \}$/]);
      }
    }
    // Values JSON cannot express [regression: sendEvent-undefined-payload], and a handful of single mistakes.
    for (const v of [undefined, () => 1, Symbol('s')]) {
      refused.push([`sendEvent(${typeof v})`, () => hub.sendEvent(v), 'EINVAL', /^payload is not JSON-serialisable \((undefined|function|symbol)\)$/]);
    }
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    refused.push(
      ['sendEvent(a BigInt)', () => hub.sendEvent(10n), 'EINVAL', /^payload is not JSON-serialisable$/],
      ['sendEvent(a cycle)', () => hub.sendEvent(cyclic), 'EINVAL', /^payload is not JSON-serialisable$/],
      ['updateReported(a cycle)', () => hub.updateReported(cyclic), 'EINVAL', /^patch is not JSON-serialisable$/],
      ['send messageId 0', () => hub.send({ topic: { type: 'EVENT' }, payload: 'x', qos: 1, messageId: 0 }), 'EINVAL', /^messageId must be an integer 1\.\.65535$/],
      ['send messageId 65536', () => hub.send({ topic: { type: 'EVENT' }, payload: 'x', qos: 1, messageId: 65_536 }), 'EINVAL', /^messageId must be an integer 1\.\.65535$/],
      ['send messageId "1"', () => hub.send({ topic: { type: 'EVENT' }, payload: 'x', qos: 1, messageId: '1' as never }), 'EINVAL', /^messageId must be an integer 1\.\.65535$/],
      ['twin $rid with &', () => hub.send({ topic: { type: 'TWIN_REQUEST', propBag: [{ key: '$rid', value: 'a&b' }] }, payload: '' }), 'EINVAL', /^propBag \$rid must not contain & = \/ \? # or \+$/],
      ['methodRespond rid with /', () => hub.methodRespond({ rid: 'a/b', status: 200 }), 'EINVAL', /^result\.rid must not contain & = \/ \? # or \+$/],
      ['methodRespond rid of 129 characters', () => hub.methodRespond({ rid: 'r'.repeat(129), status: 200 }), 'EINVAL', /^result\.rid is 129 characters long; the limit is 128$/],
      ['methodRespond status 1.5', () => hub.methodRespond({ rid: 'x1', status: 1.5 }), 'EINVAL', /^status must be a 32-bit integer$/],
      ['methodRespond status 2^31', () => hub.methodRespond({ rid: 'x2', status: 2 ** 31 }), 'EINVAL', /^status must be a 32-bit integer$/],
      ['send to DEVICEBOUND', () => hub.send({ topic: { type: 'DEVICEBOUND' }, payload: 'x' }), 'ENOMSG', /^cannot send to topic type DEVICEBOUND$/],
    );
    for (const [name, call, code, message] of refused) {
      const r = await outcome(call);
      expect(r, name).not.toBe('ok');
      expect((r as { code: string }).code, name).toBe(code);
      expect((r as { message: string }).message, name).toMatch(message);
    }
    expect(refused.length).toBeGreaterThan(100);
    expect(sentCount(d.deviceId)).toBe(before);
    // The connection is unharmed.
    await hub.sendEvent({ fine: true });
    expect(emu.telemetry(d.deviceId)).toHaveLength(1);
  });

  it('methods that take no arguments ignore extra ones; before init() every method refuses with ENOENT', async () => {
    const hub = new AzureIotHub();
    const calls: Array<[string, () => unknown]> = [
      ['connect', () => hub.connect()],
      ['disconnect', () => hub.disconnect()],
      ['send', () => hub.send({ topic: { type: 'EVENT' }, payload: 'x' })],
      ['input', () => hub.input()],
      ['ping', () => hub.ping()],
      ['methodRespond', () => hub.methodRespond({ rid: '1', status: 200 })],
      ['dpsReset', () => hub.dpsReset()],
      ['getTwin', () => hub.getTwin()],
      ['updateReported', () => hub.updateReported({})],
      ['sendEvent', () => hub.sendEvent('x')],
    ];
    for (const [name, call] of calls) expect(await outcome(call), name).toMatchObject({ code: 'ENOENT' });
    expect(hub.keepaliveTimeLeft()).toBe(-1);
    // Initialised but not connected: ENOTCONN, and dpsReset() without DPS is EINVAL.
    hub.init(base, () => undefined);
    expect(await outcome(() => hub.send({ topic: { type: 'EVENT' }, payload: 'x' }))).toMatchObject({ code: 'ENOTCONN' });
    expect(await outcome(() => hub.ping())).toMatchObject({ code: 'ENOTCONN' });
    expect(await outcome(() => hub.disconnect())).toMatchObject({ code: 'ENOTCONN' });
    expect(await outcome(() => hub.getTwin())).toMatchObject({ code: 'ENOTCONN' });
    expect(await outcome(() => hub.dpsReset())).toMatchObject({ code: 'EINVAL', message: expect.stringContaining('config.dps is not set') as unknown as string });
    expect(await outcome(() => hub.init(base, () => undefined))).toMatchObject({ code: 'EALREADY' });
  });
});
