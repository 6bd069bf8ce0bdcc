/**
 * AzureIotHub with `autoInput: false` (the C API's own poll loop): nothing is read or pinged until the application
 * calls `input()` and `ping()`; CONNACK, SUBACK and every response are processed only by `input()`. The whole API
 * works over an application-driven input loop, with X.509 and SAS.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../../../src/emulator/emulator.js';
import { AzureIotHubError } from '../../../src/errors.js';
import {
  closeClients,
  configFor,
  createClient,
  lastSeq,
  packets,
  pump,
  sasDevice,
  text,
  until,
  x509Device,
  type TestDevice,
} from './harness.js';

let emu: Emulator;
let x509: TestDevice[] = [];
let n = 0;
const stops: (() => void)[] = [];

beforeAll(async () => {
  emu = await startEmulator({ firmware: false, c2dRedeliveryMs: 0 });
  x509 = await Promise.all([x509Device(emu, 'manual-x509-0'), x509Device(emu, 'manual-x509-1')]);
});
afterEach(async () => {
  for (const stop of stops.splice(0)) stop();
  await closeClients();
});
afterAll(async () => {
  await emu.close();
});

function device(kind: 'x509' | 'sas' = 'sas'): TestDevice {
  return kind === 'sas' ? sasDevice(emu, `manual-${++n}`) : x509.shift()!;
}

/** Let the socket receive what the hub sent (without anyone reading it). */
async function settle(): Promise<void> {
  await new Promise((r) => setTimeout(r, 20));
}

function hasOut(deviceId: string, type: string, topicPrefix = ''): boolean {
  return packets(emu, deviceId).some((e) => e.direction === 'out' && e.type === type && (e.topic ?? '').startsWith(topicPrefix));
}

describe.each([
  ['X.509', 'x509'],
  ['SAS', 'sas'],
] as const)('autoInput: false with %s', (_name, kind) => {
  it('CONNACK, SUBACK and the twin response are processed only by input()', async () => {
    const d = device(kind);
    const { hub, rec } = createClient(configFor(emu, d, { autoInput: false }));
    await hub.connect();
    await until(() => hasOut(d.deviceId, 'connack'), 'the CONNACK');
    await settle();
    expect(rec.types()).toEqual(['CONNECTING']);
    expect(hub.state).toBe('CONNECTING');
    expect(hub.keepaliveTimeLeft()).toBe(-1);

    expect(hub.input()).toBe(1); // the CONNACK
    expect(rec.types()).toEqual(['CONNECTING', 'CONNECTED']);
    expect(hub.state).toBe('CONNECTED');
    await until(() => hasOut(d.deviceId, 'suback'), 'the SUBACK');
    await settle();
    expect(rec.types()).toEqual(['CONNECTING', 'CONNECTED']);

    expect(hub.input()).toBe(1); // the SUBACK
    // READY follows the SUBACK through the subscribe promise: a microtask after input() returns, not inside it.
    await Promise.resolve();
    expect(rec.types()).toEqual(['CONNECTING', 'CONNECTED', 'READY']);
    await until(() => hasOut(d.deviceId, 'publish', '$iothub/twin/res/200/'), 'the twin response');
    await settle();
    expect(rec.types()).toEqual(['CONNECTING', 'CONNECTED', 'READY']);

    expect(hub.input()).toBe(1);
    expect(rec.types()).toEqual(['CONNECTING', 'CONNECTED', 'READY', 'TWIN_RECEIVED']);
    expect(hub.input()).toBe(0); // nothing buffered
  });

  it('the whole API over an input loop: telemetry with PUBACK, twin, desired, C2D, methods, disconnect', async () => {
    const d = device(kind);
    const { hub, rec } = createClient(configFor(emu, d, { autoInput: false }));
    stops.push(pump(hub));
    await hub.connect();
    await rec.waitFor('TWIN_RECEIVED');

    await hub.sendEvent({ t: 1 });
    expect(rec.all('PUBACK')).toHaveLength(1);
    expect((await emu.waitForTelemetry(d.deviceId, 1))[0]!.qos).toBe(1);

    expect(await hub.updateReported({ mode: 'manual' })).toEqual({ version: 2 });
    expect(await hub.getTwin()).toEqual({ desired: { $version: 1 }, reported: { mode: 'manual', $version: 2 } });
    emu.updateDesired(d.deviceId, { x: 1 });
    expect(JSON.parse(text((await rec.waitFor('TWIN_DESIRED_RECEIVED')).data.msg.payload))).toEqual({ x: 1, $version: 2 });

    emu.sendC2D(d.deviceId, 'c2d', { properties: { k: 'v' } });
    const c2d = await rec.waitFor('DATA_RECEIVED');
    expect(c2d.topic.propBag?.at(-1)).toEqual({ key: 'k', value: 'v' });
    await emu.waitFor('c2d', (e) => e.deviceId === d.deviceId && e.kind === 'completed');

    hub.onMethod('ping', () => ({ status: 200, payload: { pong: true } }));
    expect(await emu.invokeMethod(d.deviceId, 'ping')).toMatchObject({ status: 200, payload: { pong: true } });

    await hub.disconnect();
    expect(rec.types().at(-1)).toBe('DISCONNECTED');
    expect(hub.state).toBe('INIT');
  });
});

describe('autoInput: false across a link drop', () => {
  it('a C2D message whose PUBACK was lost is delivered again after reconnecting, with dup: true', async () => {
    const d = device();
    const { hub, rec } = createClient(configFor(emu, d, { autoInput: false, autoTwinRequest: false }), { random: () => 0.01 });
    let stop = pump(hub);
    await hub.connect();
    await rec.waitFor('READY');
    stop();
    emu.sendC2D(d.deviceId, 'important');
    await until(() => hasOut(d.deviceId, 'publish', `devices/${d.deviceId}/messages/devicebound/`), 'the C2D delivery');
    const mark = rec.mark();
    emu.faults.dropConnection(d.deviceId); // before the application read the message: its PUBACK cannot arrive
    stop = pump(hub);
    stops.push(stop);
    const again = await rec.waitFor('DATA_RECEIVED', { since: mark, where: (e) => e.data.msg.dup === true });
    expect(text(again.data.msg.payload)).toBe('important');
    expect(again.data.msg.qos).toBe(1);
    await emu.waitFor('c2d', (e) => e.deviceId === d.deviceId && e.kind === 'completed');
    expect(emu.c2dQueue(d.deviceId)).toEqual([]);
    // input() may still have read the first delivery before it saw the link end (a PUBACK into a dead socket).
    const dups = rec.all('DATA_RECEIVED', mark).map((e) => e.data.msg.dup);
    expect([[true], [false, true]]).toContainEqual(dups);
    expect(rec.types(mark).indexOf('DISCONNECTED')).toBeLessThan(rec.events.indexOf(again) - mark);
    await rec.waitFor('READY', { since: mark });
  });
});

describe('autoInput: false keepalive', () => {
  it('never pings by itself: keepaliveTimeLeft() counts down to 0; ping() sends PINGREQ and input() reads PINGRESP', async () => {
    const d = device();
    const { hub, rec } = createClient(configFor(emu, d, { autoInput: false, keepaliveSeconds: 1, autoTwinRequest: false }));
    const stop = pump(hub);
    await hub.connect();
    await rec.waitFor('READY');
    stop();
    const first = hub.keepaliveTimeLeft();
    expect(first).toBeGreaterThan(0);
    expect(first).toBeLessThanOrEqual(1000);
    await until(() => hub.keepaliveTimeLeft() === 0, 'keepaliveTimeLeft() to reach 0', 3000);
    expect(packets(emu, d.deviceId).some((e) => e.type === 'pingreq')).toBe(false);

    const since = lastSeq(emu, d.deviceId);
    hub.ping();
    expect(hub.keepaliveTimeLeft()).toBeGreaterThan(0); // the PINGREQ counts as sent (or its answer deadline does)
    await until(() => packets(emu, d.deviceId, since).some((e) => e.type === 'pingresp'), 'PINGRESP');
    await new Promise((r) => setTimeout(r, 5));
    expect(hub.input()).toBe(1);
    expect(packets(emu, d.deviceId, since).map((e) => `${e.direction} ${e.type}`)).toEqual(['in pingreq', 'out pingresp']);
    expect(hub.state).toBe('CONNECTED');
  });

  it('ping() after a PINGREQ left unanswered past its deadline declares the link dead: DISCONNECTED with ETIMEDOUT', async () => {
    const d = device();
    const { hub, rec } = createClient(configFor(emu, d, { autoInput: false, reconnect: false, autoTwinRequest: false }), {
      session: { pingTimeoutMs: 30 },
    });
    const stop = pump(hub);
    await hub.connect();
    await rec.waitFor('READY');
    stop();
    emu.faults.stopAnswering(d.deviceId);
    hub.ping();
    await new Promise((r) => setTimeout(r, 50));
    expect(hub.input()).toBe(0);
    hub.ping();
    const evt = await rec.waitFor('DISCONNECTED');
    expect(evt.data?.err).toBeInstanceOf(AzureIotHubError);
    expect(evt.data?.err?.code).toBe('ETIMEDOUT');
    expect(hub.state).toBe('INIT');
    emu.faults.resume(d.deviceId);
  });

  it('no CONNACK within connectTimeoutMs: input() notices, CONNECTION_FAILED with ETIMEDOUT', async () => {
    const d = device();
    emu.faults.stopAnswering(d.deviceId);
    const { hub, rec } = createClient(configFor(emu, d, { autoInput: false, reconnect: false }), { session: { connectTimeoutMs: 30 } });
    await hub.connect();
    await new Promise((r) => setTimeout(r, 50));
    expect(rec.types()).toEqual(['CONNECTING']); // nothing happens without input()
    hub.input();
    expect(rec.types()).toEqual(['CONNECTING', 'CONNECTION_FAILED']);
    const err = rec.all('CONNECTION_FAILED')[0]!.data.err;
    expect(err).toBeInstanceOf(AzureIotHubError);
    expect((err as AzureIotHubError).code).toBe('ETIMEDOUT');
    expect(hub.state).toBe('INIT');
    emu.faults.resume(d.deviceId);
  });
});
