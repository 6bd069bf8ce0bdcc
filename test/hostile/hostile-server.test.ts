/**
 * A hostile hub, part 2, through the emulator's raw-bytes control: the largest Remaining Length MQTT allows, a 10 MB
 * twin response, endless garbage, a CONNACK trickled one byte at a time (connect timeout), a PUBLISH trickled after
 * READY (assembled, or timed out by keepalive), packets before CONNACK, acknowledgements for unknown ids, an
 * oversized cloud-to-device message the hub keeps redelivering, and a TLS close before the first CONNACK. The client
 * reports a coded error, follows its reconnect policy, never crashes, and its memory stays bounded (measured after
 * forced garbage collection).
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../../src/emulator/emulator.js';
import type { AzureIotHubError } from '../../src/errors.js';
import { MQTT_CHANNELS, type MqttWarningMessage } from '../../src/transport/diagnostics.js';
import {
  closeClients,
  configFor,
  connectedClient,
  createClient,
  packets,
  sasDevice,
  text,
  until,
  type TestDevice,
} from '../azure/client/harness.js';
import { bytes, packetBytes, seededRandom, str, u16 } from '../helpers/fixtures.js';
import { expectErrorThenReady, expectMemoryGrowthBelow, memory, MiB, publishBytes, trickle } from './helpers.js';

let emu: Emulator;
let n = 0;

beforeAll(async () => {
  emu = await startEmulator({ firmware: false, c2dRedeliveryMs: 0, c2dMaxDeliveryCount: 3 });
});
afterEach(async () => {
  await closeClients();
});
afterAll(async () => {
  await emu.close();
});

function device(): TestDevice {
  return sasDevice(emu, `hs-${++n}`);
}

/** A retry after at most 1 ms (the default policy with 0.1 % jitter). */
const quick = { random: () => 0.001 };

/** Resolves on the emulator's next `connect` of `deviceId` (its CONNACK is written, or suppressed, by then). */
function nextConnect(deviceId: string): Promise<unknown> {
  return emu.waitFor('connect', (e) => e.clientId === deviceId, 5000);
}

function connectCount(deviceId: string): number {
  return packets(emu, deviceId).filter((e) => e.type === 'connect' && e.direction === 'in').length;
}

describe('huge lengths and payloads', () => {
  it('Remaining Length 268435455 (FF FF FF 7F) under the default 256 KiB limit: the PUBLISH is skipped, only its topic is kept, memory bounded', async () => {
    const d = device();
    const { hub, rec } = await connectedClient(configFor(emu, d, { autoTwinRequest: false }), quick);
    const before = await memory();
    const mark = rec.mark();
    // The header, then 1 MiB of what would be the body: read past, never kept.
    emu.faults.sendRaw(d.deviceId, bytes(0x30, [0xff, 0xff, 0xff, 0x7f], str('devices/x'), new Uint8Array(MiB)));
    await new Promise((r) => setTimeout(r, 100)); // let the 1 MiB cross the loopback
    expect(hub.state).toBe('CONNECTED');
    expect(rec.types(mark)).toEqual([]); // nothing delivered: the rest of the 256 MiB never comes
    await expectMemoryGrowthBelow(before, 2 * MiB, 'a 256 MiB announcement');
    // The stream cannot make progress until the 256 MiB arrive: the application (or keepalive) ends the link.
    emu.faults.dropConnection(d.deviceId);
    await rec.waitFor('READY', { since: mark });
  });

  it('Remaining Length 268435455 with maxPayloadBytes at its maximum: memory follows the bytes received (not the length announced) and is freed when the link ends', async () => {
    const d = device();
    const { rec } = await connectedClient(configFor(emu, d, { autoTwinRequest: false, maxPayloadBytes: 268_435_455 }), quick);
    const before = await memory();
    const header = bytes(0x30, [0xff, 0xff, 0xff, 0x7f], str('devices/x'));
    emu.faults.sendRaw(d.deviceId, header);
    const chunk = new Uint8Array(256 * 1024).fill(0x61);
    for (let i = 0; i < 8; i++) emu.faults.sendRaw(d.deviceId, chunk); // 2 MiB of body
    await until(() => emu.deviceStatus(d.deviceId).connected, 'the link', 1000);
    await new Promise((r) => setTimeout(r, 50)); // let the 2 MiB cross the loopback
    const during = await memory();
    const held = during.arrayBuffers - before.arrayBuffers;
    // The decoder grows its buffer geometrically with what it received: at most ~2x the 2 MiB, far from 256 MiB.
    expect(held, `held ${(held / MiB).toFixed(2)} MiB`).toBeLessThan(8 * MiB);
    expect(held).toBeGreaterThan(MiB); // and it really is assembling the packet
    const mark = rec.mark();
    emu.faults.dropConnection(d.deviceId);
    await rec.waitFor('READY', { since: mark });
    expect(rec.types(mark)).toEqual(['DISCONNECTED', 'CONNECTING', 'CONNECTED', 'READY']);
    await expectMemoryGrowthBelow(before, 2 * MiB, 'after the partial 256 MiB packet was dropped');
  });

  it('a 10 MB twin response to a pending getTwin(): read past without buffering, ERROR and getTwin() rejected with EMSGSIZE, the link kept, memory bounded', async () => {
    const d = device();
    const { hub, rec } = await connectedClient(configFor(emu, d), quick);
    emu.faults.stopAnswering(d.deviceId);
    const twin = hub.getTwin().then(() => undefined, (e: unknown) => e as AzureIotHubError);
    await until(() => packets(emu, d.deviceId).some((e) => e.topic === '$iothub/twin/GET/?$rid=2'), 'the twin GET');
    emu.faults.resume(d.deviceId);
    const before = await memory();
    const mark = rec.mark();
    // Built and handed over in a function, so that the test itself holds no reference to the 10 MB afterwards.
    ((): void => {
      const doc = `{"desired":{"big":"${'x'.repeat(10 * 1000 * 1000)}","$version":1},"reported":{"$version":1}}`;
      emu.faults.sendRaw(d.deviceId, publishBytes('$iothub/twin/res/200/?$rid=2', doc));
    })();
    const rejected = await twin;
    expect(rejected).toMatchObject({ code: 'EMSGSIZE', rule: 'maxPayloadBytes' });
    expect(rejected!.message).toContain('$iothub/twin/res/200/?$rid=2');
    expect(rec.types(mark)).toEqual(['ERROR']);
    expect(rec.all('ERROR', mark)[0]!.data.err).toBe(rejected);
    expect(hub.state).toBe('CONNECTED');
    await expectMemoryGrowthBelow(before, 4 * MiB, 'a 10 MB twin response');
    expect(await hub.getTwin()).toMatchObject({ desired: { $version: 1 } });
  });

  it('a twin response of exactly maxPayloadBytes is accepted; one byte more is EMSGSIZE', async () => {
    const d = device();
    const { hub, rec } = await connectedClient(configFor(emu, d, { maxPayloadBytes: 4096 }), quick);
    const body = (size: number): string => {
      const head = '{"desired":{"$version":1,"p":"';
      const tail = '"},"reported":{"$version":1}}';
      return head + 'p'.repeat(size - head.length - tail.length) + tail;
    };
    emu.faults.stopAnswering(d.deviceId);
    const exact = hub.getTwin();
    await until(() => packets(emu, d.deviceId).some((e) => e.topic === '$iothub/twin/GET/?$rid=2'), 'the twin GET');
    emu.faults.resume(d.deviceId);
    emu.faults.sendRaw(d.deviceId, publishBytes('$iothub/twin/res/200/?$rid=2', body(4096)));
    expect(((await exact).desired['p'] as string).length).toBeGreaterThan(4000);
    const mark = rec.mark();
    emu.faults.sendRaw(d.deviceId, publishBytes('$iothub/twin/res/200/?$rid=99', body(4097)));
    const err = (await rec.waitFor('ERROR', { since: mark })).data.err;
    expect(err).toMatchObject({ code: 'EMSGSIZE', rule: 'maxPayloadBytes' });
    expect(rec.types(mark)).toEqual(['ERROR']);
    expect(hub.state).toBe('CONNECTED');
  });

  it('endless garbage: 40 rounds of 64 KiB of random bytes, each answered by EPROTO and a reconnection; memory bounded', async () => {
    const d = device();
    const { hub, rec } = await connectedClient(configFor(emu, d, { autoTwinRequest: false }), quick);
    const random = seededRandom(9);
    const before = await memory();
    const codes = new Set<string>();
    let waited = 0;
    for (let round = 0; round < 40; round++) {
      const garbage = new Uint8Array(64 * 1024);
      for (let i = 0; i < garbage.length; i++) garbage[i] = Math.floor(random() * 256);
      // A valid-looking first byte half the time, so that the garbage gets past the fixed-header checks too.
      if (round % 2 === 0) garbage[0] = 0x30;
      const mark = rec.mark();
      emu.faults.sendRaw(d.deviceId, garbage);
      const reaction = await rec.waitFor('DISCONNECTED', { since: mark, timeoutMs: 300 }).catch(() => undefined);
      if (reaction === undefined) {
        // A random length that fits the limit and runs past the 64 KiB: the client waits for the rest. Cut the link.
        expect(rec.types(mark)).toEqual([]);
        emu.faults.dropConnection(d.deviceId);
        await rec.waitFor('READY', { since: mark });
        waited++;
        continue;
      }
      const err = await expectErrorThenReady(rec, mark);
      codes.add(err.code);
    }
    expect([...codes].every((c) => c === 'EPROTO' || c === 'EMSGSIZE')).toBe(true);
    expect(codes.has('EPROTO')).toBe(true);
    expect(waited).toBeLessThan(20);
    expect(hub.state).toBe('CONNECTED');
    await expectMemoryGrowthBelow(before, 4 * MiB, '40 rounds of garbage');
  });
});

describe('trickles', () => {
  it('a CONNACK trickled one byte per 250 ms with connectTimeoutMs 500: CONNECTION_FAILED with ETIMEDOUT, then the policy retries and connects', async () => {
    const d = device();
    emu.faults.stopAnswering(d.deviceId); // no CONNACK of its own: the trickle is the only answer
    const { hub, rec } = createClient(configFor(emu, d, { autoTwinRequest: false }), { ...quick, session: { connectTimeoutMs: 500 } });
    const accepted = nextConnect(d.deviceId);
    await hub.connect();
    await accepted;
    const t = trickle(emu, d.deviceId, bytes(0x20, 2, 0, 0), 250);
    const failed = await rec.waitFor('CONNECTION_FAILED');
    const sent = await t.done;
    expect(sent).toBeGreaterThan(0);
    expect(sent).toBeLessThan(4); // the deadline passed before the CONNACK was complete
    expect(failed.data.err).toMatchObject({ code: 'ETIMEDOUT', message: 'no CONNACK within 500 ms' });
    emu.faults.resume(d.deviceId);
    await rec.waitFor('READY');
    expect(rec.types()).toEqual(['CONNECTING', 'CONNECTION_FAILED', 'CONNECTING', 'CONNECTED', 'READY']);
    expect(hub.state).toBe('CONNECTED');
  });

  it('a C2D PUBLISH trickled one byte per ms after READY is assembled correctly (every byte keeps the link alive)', async () => {
    const d = device();
    const { rec } = await connectedClient(configFor(emu, d, { autoTwinRequest: false }), quick);
    emu.faults.stopAnswering(d.deviceId); // nothing else interleaves with the trickle
    const payload = 'trickled payload ' + 'é'.repeat(20);
    const topic = `devices/${d.deviceId}/messages/devicebound/a%26b=c%3Dd&k`;
    const t = trickle(emu, d.deviceId, publishBytes(topic, payload), 1);
    const got = await rec.waitFor('DATA_RECEIVED');
    expect(await t.done).toBe(publishBytes(topic, payload).length);
    expect(text(got.data.msg.payload)).toBe(payload);
    expect(got.topic.propBag).toEqual([{ key: 'a&b', value: 'c=d' }, { key: 'k', value: null }]);
    emu.faults.resume(d.deviceId);
  });

  it('a PUBLISH trickled slower than the ping deadline (keepalive 1 s, pingTimeoutMs 150, a byte every 1.5 s): DISCONNECTED with ETIMEDOUT, then READY', async () => {
    const d = device();
    const { hub, rec } = await connectedClient(configFor(emu, d, { autoTwinRequest: false, keepaliveSeconds: 1 }), {
      ...quick,
      session: { pingTimeoutMs: 150 },
    });
    emu.faults.stopAnswering(d.deviceId); // no PINGRESP: only the trickle could prove the link alive
    const mark = rec.mark();
    // The first byte at once, the second after the PINGREQ's deadline (~1.15 s): the partial packet cannot save the link.
    const t = trickle(emu, d.deviceId, publishBytes(`devices/${d.deviceId}/messages/devicebound/`, 'x'.repeat(64)), 1500);
    const lost = await rec.waitFor('DISCONNECTED', { since: mark, timeoutMs: 5000 });
    expect(await t.done).toBe(1);
    expect(lost.data?.err?.code).toBe('ETIMEDOUT');
    emu.faults.resume(d.deviceId);
    await rec.waitFor('READY', { since: mark });
    expect(rec.all('DATA_RECEIVED', mark)).toEqual([]); // the partial packet was dropped with the link
    expect(hub.state).toBe('CONNECTED');
  });
});

describe('before CONNACK', () => {
  it('a SUBSCRIBE before CONNACK: CONNECTION_FAILED with EPROTO (MQTT-3.2.0-1), the policy retries, READY', async () => {
    const d = device();
    emu.faults.stopAnswering(d.deviceId);
    const { hub, rec } = createClient(configFor(emu, d, { autoTwinRequest: false }), quick);
    const accepted = nextConnect(d.deviceId);
    await hub.connect();
    await accepted;
    emu.faults.resume(d.deviceId); // the next connection is answered normally
    emu.faults.sendRaw(d.deviceId, packetBytes(0x82, u16(1), str('devices/#'), 1));
    const failed = await rec.waitFor('CONNECTION_FAILED');
    expect(failed.data.err).toMatchObject({ code: 'EPROTO', rule: 'MQTT-3.2.0-1' });
    await rec.waitFor('READY');
    expect(rec.types()).toEqual(['CONNECTING', 'CONNECTION_FAILED', 'CONNECTING', 'CONNECTED', 'READY']);
  });

  it('garbage before CONNACK: CONNECTION_FAILED with EPROTO, the policy retries, READY', async () => {
    const d = device();
    emu.faults.stopAnswering(d.deviceId);
    const { hub, rec } = createClient(configFor(emu, d, { autoTwinRequest: false }), quick);
    const accepted = nextConnect(d.deviceId);
    await hub.connect();
    await accepted;
    emu.faults.resume(d.deviceId);
    emu.faults.sendRaw(d.deviceId, bytes(0x20, 2, 0x00, 0x07)); // CONNACK with a reserved return code
    const failed = await rec.waitFor('CONNECTION_FAILED');
    expect(failed.data.err).toMatchObject({ code: 'EPROTO', rule: 'MQTT-3.2.2.3' });
    await rec.waitFor('READY');
  });

  it('design limit: a TLS close before the first CONNACK is EACCES (a rejected certificate looks like this) and is not retried', async () => {
    const d = device();
    emu.faults.stopAnswering(d.deviceId);
    const { hub, rec } = createClient(configFor(emu, d), quick);
    const accepted = nextConnect(d.deviceId);
    await hub.connect();
    await accepted;
    emu.faults.resume(d.deviceId);
    emu.faults.dropConnection(d.deviceId);
    const failed = await rec.waitFor('CONNECTION_FAILED');
    expect(failed.data.err).toMatchObject({ code: 'EACCES' });
    expect(((failed.data.err as AzureIotHubError).cause as AzureIotHubError).code).toBe('ECONNRESET');
    await new Promise((r) => setTimeout(r, 30));
    expect(hub.state).toBe('INIT');
    expect(rec.types()).toEqual(['CONNECTING', 'CONNECTION_FAILED']);
    expect(connectCount(d.deviceId)).toBe(1);
  });
});

describe('acknowledgements for unknown ids', () => {
  it('a PUBACK and a SUBACK for ids never used: ignored with a warning on the diagnostics channel, the connection stays up', async () => {
    const d = device();
    const { hub, rec } = await connectedClient(configFor(emu, d), quick);
    const warnings: MqttWarningMessage[] = [];
    const onWarning = (m: unknown): void => {
      if ((m as MqttWarningMessage).clientId === d.deviceId) warnings.push(m as MqttWarningMessage);
    };
    subscribe(MQTT_CHANNELS.warning, onWarning);
    try {
      const mark = rec.mark();
      emu.faults.sendRaw(d.deviceId, bytes(0x40, 2, u16(4242)));
      emu.faults.sendRaw(d.deviceId, bytes(0x90, 3, u16(4243), 0));
      emu.faults.sendRaw(d.deviceId, bytes(0xb0, 2, u16(4244)));
      await until(() => warnings.length === 3, 'three warnings');
      expect(warnings.map((w) => w.message)).toEqual([
        'PUBACK for unknown packet identifier 4242 ignored',
        'SUBACK for unknown packet identifier 4243 ignored',
        'UNSUBACK for unknown packet identifier 4244 ignored',
      ]);
      await hub.sendEvent({ after: 'stray acks' });
      expect(rec.types(mark)).toEqual(['PUBACK']);
      expect(connectCount(d.deviceId)).toBe(1);
    } finally {
      unsubscribe(MQTT_CHANNELS.warning, onWarning);
    }
  });
});

describe('reconnect policy after hostile packets', () => {
  it('reconnect: false: ERROR, DISCONNECTED, back to INIT, no new CONNECT; connect() works again', async () => {
    const d = device();
    const { hub, rec } = await connectedClient(configFor(emu, d, { reconnect: false }));
    const mark = rec.mark();
    emu.faults.sendRaw(d.deviceId, bytes(0x20, 2, 0, 0)); // a second CONNACK
    await rec.waitFor('DISCONNECTED', { since: mark });
    expect(rec.types(mark)).toEqual(['ERROR', 'DISCONNECTED']);
    expect(rec.all('ERROR', mark)[0]!.data.err).toMatchObject({ code: 'EPROTO', rule: 'MQTT-4.8.0-1' });
    await new Promise((r) => setTimeout(r, 30));
    expect(hub.state).toBe('INIT');
    expect(connectCount(d.deviceId)).toBe(1);
    await hub.connect();
    await rec.waitFor('READY', { since: mark });
  });

  it('a policy with backoff: the retry waits the jittered delay (initialDelayMs 200, random 0.5: 100 ms)', async () => {
    const d = device();
    const { rec } = await connectedClient(configFor(emu, d, { autoTwinRequest: false, reconnect: { initialDelayMs: 200 } }), {
      random: () => 0.5,
    });
    const mark = rec.mark();
    const t0 = Date.now();
    emu.faults.sendRaw(d.deviceId, bytes(0xf0, 0));
    await rec.waitFor('DISCONNECTED', { since: mark });
    const reconnected = await nextConnect(d.deviceId).then(() => Date.now());
    expect(reconnected - t0).toBeGreaterThanOrEqual(95);
    await rec.waitFor('READY', { since: mark });
  });
});

describe('an oversized cloud-to-device message', () => {
  it('is not delivered but acknowledged once: ERROR with EMSGSIZE, no redelivery loop, the link kept, later messages arrive', async () => {
    const d = device();
    const { hub, rec } = await connectedClient(configFor(emu, d, { maxPayloadBytes: 100, autoTwinRequest: false }), quick);
    const mark = rec.mark();
    const completed = emu.waitFor('c2d', (e) => e.deviceId === d.deviceId && e.kind === 'completed', 5000);
    emu.sendC2D(d.deviceId, 'x'.repeat(200));
    expect((await completed).deliveryCount).toBe(1);
    const err = (await rec.waitFor('ERROR', { since: mark })).data.err;
    expect(err).toMatchObject({ code: 'EMSGSIZE', rule: 'maxPayloadBytes' });
    expect(err.message).toMatch(/^dropped an incoming message of 200 bytes on devices\/.+: larger than maxPayloadBytes 100 \(acknowledged/);
    emu.sendC2D(d.deviceId, 'fits');
    await rec.waitFor('DATA_RECEIVED', { since: mark });
    expect(rec.types(mark)).toEqual(['ERROR', 'DATA_RECEIVED']);
    expect(hub.state).toBe('CONNECTED');
    expect(connectCount(d.deviceId)).toBe(1);
  });

  it('an oversized direct-method request is answered 413, so the service is not left waiting', async () => {
    const d = device();
    const { rec } = await connectedClient(configFor(emu, d, { maxPayloadBytes: 100, autoTwinRequest: false }), quick);
    const result = await emu.invokeMethod(d.deviceId, 'big', { blob: 'y'.repeat(300) }, { timeoutMs: 3000 });
    expect(result.status).toBe(413);
    expect(rec.all('ERROR').map((e) => e.data.err.code)).toEqual(['EMSGSIZE']);
    expect(rec.all('DIRECT_METHOD')).toEqual([]);
  });
});
