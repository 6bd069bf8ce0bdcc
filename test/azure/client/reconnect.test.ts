/**
 * AzureIotHub across link failures, against the emulator over TLS: reconnection with the default policy (the
 * subscriptions restored, READY again, the twin fetched again), desired properties changed while offline, a link
 * drop in the middle of a QoS 1 burst (at-least-once, DUP=1, every promise settled once), refusals after a drop,
 * `reconnect: false`, and SAS token renewal before expiry (fake timers) without losing QoS 1 messages.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { startEmulator, type Emulator } from '../../../src/emulator/emulator.js';
import { AzureIotHubError } from '../../../src/errors.js';
import {
  closeClients,
  configFor,
  connectedClient,
  createClient,
  lastSeq,
  packets,
  sasDevice,
  text,
  until,
  x509Device,
  type TestDevice,
} from './harness.js';

let emu: Emulator;
let x509: TestDevice;
let n = 0;
/** Added to the clock of the emulator (SAS expiry) and of SAS clients that use `now`. */
let skewMs = 0;

beforeAll(async () => {
  emu = await startEmulator({ firmware: false, c2dRedeliveryMs: 0, now: () => Date.now() + skewMs });
  x509 = await x509Device(emu, 'rc-x509');
});
afterEach(async () => {
  vi.useRealTimers();
  skewMs = 0;
  await closeClients();
});
afterAll(async () => {
  await emu.close();
});

function device(): TestDevice {
  return sasDevice(emu, `rc-${++n}`);
}

/** The default policy with 1 % jitter: a retry after at most 10 ms. */
const quick = { random: () => 0.01 };

describe('reconnection with the default policy', () => {
  it.each([['X.509'], ['SAS']])('after a dropped link (%s): DISCONNECTED, CONNECTING, CONNECTED, READY, the same subscriptions, the twin fetched again', async (kind) => {
    const d = kind === 'SAS' ? device() : x509;
    const { hub, rec } = await connectedClient(configFor(emu, d), quick);
    const since = lastSeq(emu, d.deviceId);
    const mark = rec.mark();
    const resubscribed = emu.waitFor('subscribe', (e) => e.clientId === d.deviceId);
    expect(emu.faults.dropConnection(d.deviceId)).toBe(true);
    await rec.waitFor('TWIN_RECEIVED', { since: mark });
    expect(rec.types(mark)).toEqual(['DISCONNECTED', 'CONNECTING', 'CONNECTED', 'READY', 'TWIN_RECEIVED']);
    const dropped = rec.all('DISCONNECTED', mark)[0]!;
    expect(dropped.data?.err).toBeInstanceOf(AzureIotHubError);
    expect(dropped.data?.err?.code).toBe('ECONNRESET');
    expect(rec.all('CONNECTED', mark)[0]).toEqual({ type: 'CONNECTED', sessionPresent: true });
    expect((await resubscribed).subscriptions.map((s) => [s.topic, s.qos, s.granted])).toEqual([
      [`devices/${d.deviceId}/messages/devicebound/#`, 1, 1],
      ['$iothub/twin/res/#', 0, 0],
      ['$iothub/twin/PATCH/properties/desired/#', 0, 0],
      ['$iothub/methods/POST/#', 0, 0],
    ]);
    expect(packets(emu, d.deviceId, since).map((e) => `${e.direction} ${e.type} ${e.topic ?? ''}`.trim())).toEqual([
      'in connect',
      'out connack',
      'in subscribe',
      'out suback',
      // Request ids keep increasing across automatic reconnections (connect() starts again from 1).
      'in publish $iothub/twin/GET/?$rid=2',
      'out publish $iothub/twin/res/200/?$rid=2',
    ]);
    expect(hub.state).toBe('CONNECTED');
    // Everything works on the new connection.
    hub.onMethod('m', () => ({ status: 200 }));
    expect(await emu.invokeMethod(d.deviceId, 'm')).toMatchObject({ status: 200 });
    expect(await hub.updateReported({ after: 'reconnect' })).toEqual({ version: 2 });
  });

  it('desired properties changed while offline: no push, and the twin fetched after reconnecting (TWIN_RECEIVED) has them', async () => {
    const d = device();
    const { rec } = await connectedClient(configFor(emu, d), quick);
    const mark = rec.mark();
    const offline = emu.waitFor('disconnect', (e) => e.clientId === d.deviceId);
    emu.faults.dropConnection(d.deviceId);
    await offline;
    emu.updateDesired(d.deviceId, { setpoint: 21 });
    const twin = await rec.waitFor('TWIN_RECEIVED', { since: mark });
    expect(JSON.parse(text(twin.data.msg.payload)).desired).toEqual({ setpoint: 21, $version: 2 });
    expect(rec.all('TWIN_DESIRED_RECEIVED')).toEqual([]);
    // Pushes resume on the new connection.
    emu.updateDesired(d.deviceId, { setpoint: 22 });
    expect(JSON.parse(text((await rec.waitFor('TWIN_DESIRED_RECEIVED')).data.msg.payload))).toEqual({ setpoint: 22, $version: 3 });
  });

  it('a link drop in the middle of a QoS 1 burst: every message arrives, resends carry DUP=1 and the same id, every promise settles once', async () => {
    const d = device();
    const { hub, rec } = await connectedClient(configFor(emu, d), quick);
    const total = 40; // more than the in-flight window (32): some wait in the queue
    emu.faults.withholdPubacks(d.deviceId);
    const settled = new Array<number>(total).fill(0);
    const outcomes: string[] = [];
    const mark = rec.mark();
    const sends = Array.from({ length: total }, (_, i) =>
      hub.sendEvent(`m-${i}`).then(
        () => {
          settled[i]!++;
          outcomes[i] = 'ok';
        },
        (err: unknown) => {
          settled[i]!++;
          outcomes[i] = (err as AzureIotHubError).code;
        },
      ),
    );
    await emu.waitForTelemetry(d.deviceId, 32);
    const firstIds = new Map(
      packets(emu, d.deviceId)
        .filter((e) => e.direction === 'in' && e.topic?.includes('/messages/events/'))
        .map((e, i) => [i, e.messageId!]),
    );
    expect(firstIds.size).toBe(32);
    const since = lastSeq(emu, d.deviceId);
    emu.faults.dropConnection(d.deviceId);
    emu.faults.resume(d.deviceId);
    await Promise.all(sends);
    expect(settled).toEqual(new Array<number>(total).fill(1));
    expect(outcomes).toEqual(new Array<string>(total).fill('ok'));
    expect(rec.types(mark).slice(0, 4)).toEqual(['DISCONNECTED', 'CONNECTING', 'CONNECTED', 'READY']);

    const received = emu.telemetry(d.deviceId).map((m) => [text(m.payload), m.dup] as const);
    for (let i = 0; i < total; i++) expect(received.some(([p]) => p === `m-${i}`), `m-${i}`).toBe(true);
    // The 32 in flight were sent again, first, in order, with DUP=1 and their packet ids; then the 8 queued ones.
    const after = packets(emu, d.deviceId, since).filter((e) => e.direction === 'in' && e.topic?.includes('/messages/events/'));
    expect(after).toHaveLength(total);
    after.slice(0, 32).forEach((e, i) => {
      expect(e.dup, `resend ${i}`).toBe(true);
      expect(e.messageId, `resend ${i}`).toBe(firstIds.get(i));
    });
    expect(after.slice(32).every((e) => e.dup === false)).toBe(true);
    expect(received.filter(([, dup]) => dup).map(([p]) => p)).toEqual(Array.from({ length: 32 }, (_, i) => `m-${i}`));
    expect(rec.all('PUBACK', mark)).toHaveLength(total);
  });

  it('messages sent while reconnecting wait in the queue and go out after the new SUBACK', async () => {
    const d = device();
    const { hub, rec } = await connectedClient(configFor(emu, d, { autoTwinRequest: false }), { random: () => 0.05 });
    const mark = rec.mark();
    emu.faults.dropConnection(d.deviceId);
    await rec.waitFor('DISCONNECTED', { since: mark });
    expect(hub.state).toBe('CONNECTING');
    const since = lastSeq(emu, d.deviceId);
    await Promise.all([hub.sendEvent('queued-1'), hub.sendEvent('queued-2', undefined, { qos: 0 })]);
    expect(packets(emu, d.deviceId, since).filter((e) => e.direction === 'in').map((e) => e.type)).toEqual([
      'connect', 'subscribe', 'publish', 'publish',
    ]);
    const seq = (type: string): number => packets(emu, d.deviceId, since).find((e) => e.type === type)!.seq;
    expect(seq('publish')).toBeGreaterThan(seq('suback'));
    expect((await emu.waitForTelemetry(d.deviceId, 2)).map((m) => text(m.payload))).toEqual(['queued-1', 'queued-2']);
  });

  it('a pending getTwin rejects ENOTCONN (caused by the drop) when the link drops', async () => {
    const d = device();
    const { hub, rec } = await connectedClient(configFor(emu, d), quick);
    emu.faults.stopAnswering(d.deviceId);
    const twin = hub.getTwin().then(() => undefined, (e: unknown) => e as AzureIotHubError);
    await until(() => packets(emu, d.deviceId).some((e) => e.topic === '$iothub/twin/GET/?$rid=2'), 'the twin GET');
    emu.faults.resume(d.deviceId);
    const mark = rec.mark();
    emu.faults.dropConnection(d.deviceId);
    const err = await twin;
    expect(err).toMatchObject({ code: 'ENOTCONN' });
    expect((err!.cause as AzureIotHubError).code).toBe('ECONNRESET');
    await rec.waitFor('READY', { since: mark });
  });

  it('a malformed packet from the hub: ERROR with EPROTO and its rule, DISCONNECTED, then the policy reconnects', async () => {
    const d = device();
    const { hub, rec } = await connectedClient(configFor(emu, d), quick);
    const mark = rec.mark();
    expect(emu.faults.sendRaw(d.deviceId, Uint8Array.of(0xf0, 0x00))).toBe(true); // reserved packet type 15
    await rec.waitFor('READY', { since: mark });
    expect(rec.types(mark).slice(0, 5)).toEqual(['ERROR', 'DISCONNECTED', 'CONNECTING', 'CONNECTED', 'READY']);
    const err = rec.all('ERROR', mark)[0]!.data.err;
    expect(err).toMatchObject({ code: 'EPROTO', rule: 'MQTT-2.2.1' });
    expect(rec.all('DISCONNECTED', mark)[0]!.data?.err).toBe(err);
    expect(hub.state).toBe('CONNECTED');
  });

  it('automatic keepalive: PINGREQ when idle; a hub that stops answering is detected (ETIMEDOUT) and the link re-established', async () => {
    const d = device();
    const { hub, rec } = await connectedClient(configFor(emu, d, { keepaliveSeconds: 1 }), { ...quick, session: { pingTimeoutMs: 100 } });
    const since = lastSeq(emu, d.deviceId);
    await until(() => packets(emu, d.deviceId, since).some((e) => e.type === 'pingresp'), 'a PINGREQ answered', 3000);
    expect(packets(emu, d.deviceId, since).slice(0, 2).map((e) => `${e.direction} ${e.type}`)).toEqual(['in pingreq', 'out pingresp']);
    const mark = rec.mark();
    emu.faults.stopAnswering(d.deviceId);
    const lost = await rec.waitFor('DISCONNECTED', { since: mark, timeoutMs: 3000 });
    emu.faults.resume(d.deviceId);
    expect(lost.data?.err?.code).toBe('ETIMEDOUT');
    await rec.waitFor('READY', { since: mark });
    expect(hub.state).toBe('CONNECTED');
  });

  it('CONNACK 5 after a drop: CONNECTION_FAILED with 5, back to INIT, no further attempt', async () => {
    const d = device();
    const { hub, rec } = await connectedClient(configFor(emu, d), quick);
    emu.faults.refuseNextConnect(d.deviceId, 5);
    const mark = rec.mark();
    emu.faults.dropConnection(d.deviceId);
    const failed = await rec.waitFor('CONNECTION_FAILED', { since: mark });
    expect(failed.data.err).toBe(5);
    expect(rec.types(mark)).toEqual(['DISCONNECTED', 'CONNECTING', 'CONNECTION_FAILED']);
    expect(hub.state).toBe('INIT');
    await new Promise((r) => setTimeout(r, 40));
    expect(packets(emu, d.deviceId).filter((e) => e.type === 'connect')).toHaveLength(2);
  });

  it('reconnect: false (the C behaviour): DISCONNECTED with the cause, INIT, and the application reconnects', async () => {
    const d = device();
    const { hub, rec } = await connectedClient(configFor(emu, d, { reconnect: false }));
    const mark = rec.mark();
    emu.faults.dropConnection(d.deviceId);
    const evt = await rec.waitFor('DISCONNECTED', { since: mark });
    expect(evt.data?.err?.code).toBe('ECONNRESET');
    expect(hub.state).toBe('INIT');
    await new Promise((r) => setTimeout(r, 30));
    expect(rec.types(mark)).toEqual(['DISCONNECTED']);
    await hub.connect();
    await rec.waitFor('READY', { since: mark });
  });

  it('disconnect() while waiting to retry stops reconnection: DISCONNECTED, INIT, no new CONNECT', async () => {
    const d = device();
    const { hub, rec } = await connectedClient(configFor(emu, d, { reconnect: { initialDelayMs: 60_000, maxDelayMs: 60_000 } }), { random: () => 0.5 });
    const mark = rec.mark();
    emu.faults.dropConnection(d.deviceId);
    await rec.waitFor('DISCONNECTED', { since: mark });
    expect(hub.state).toBe('CONNECTING');
    await hub.disconnect();
    expect(rec.types(mark)).toEqual(['DISCONNECTED', 'DISCONNECTED']);
    expect(rec.events.at(-1)).toEqual({ type: 'DISCONNECTED' });
    expect(hub.state).toBe('INIT');
    expect(packets(emu, d.deviceId).filter((e) => e.type === 'connect')).toHaveLength(1);
  });
});

describe('SAS token renewal', () => {
  /** Poll without timers (setTimeout is faked in these tests). */
  async function immediateUntil(cond: () => boolean, what: string): Promise<void> {
    for (let i = 0; i < 100_000; i++) {
      if (cond()) return;
      await new Promise((r) => setImmediate(r));
    }
    throw new Error(`timed out waiting for ${what}`);
  }

  it('reconnects with a fresh token at 80 % of its lifetime, keeping unacknowledged and queued QoS 1 messages', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const d = device();
    const seenFirst = emu.waitFor('connect', (e) => e.clientId === d.deviceId);
    const { hub, rec } = createClient(configFor(emu, d, { sasTokenTtlSeconds: 60 }), { now: () => Date.now() + skewMs });
    await hub.connect();
    await immediateUntil(() => rec.types().includes('TWIN_RECEIVED'), 'TWIN_RECEIVED');
    expect((await seenFirst).auth).toBe('sas');

    emu.faults.withholdPubacks(d.deviceId);
    const early = [hub.sendEvent('before-1'), hub.sendEvent('before-2')];
    await immediateUntil(() => emu.telemetry(d.deviceId).length === 2, 'two messages at the hub');
    // Move both clocks past the first token's expiry: only a freshly minted token is accepted now.
    skewMs = 70_000;
    vi.advanceTimersByTime(47_000);
    expect(rec.all('DISCONNECTED')).toEqual([]);
    emu.faults.resume(d.deviceId);
    const mark = rec.mark();
    vi.advanceTimersByTime(1_000); // 48 s = 80 % of 60 s
    expect(rec.types(mark)).toEqual(['DISCONNECTED', 'CONNECTING']);
    expect(rec.events[mark]).toEqual({ type: 'DISCONNECTED' }); // a renewal, not a failure
    const late = hub.sendEvent('during-renewal');
    await Promise.all([...early, late]);
    await immediateUntil(() => rec.types(mark).includes('TWIN_RECEIVED'), 'TWIN_RECEIVED');
    // The resends go first, then the queue in order: the message sent during the renewal, then the twin GET.
    expect(rec.types(mark)).toEqual(['DISCONNECTED', 'CONNECTING', 'CONNECTED', 'READY', 'PUBACK', 'PUBACK', 'PUBACK', 'TWIN_RECEIVED']);
    expect(rec.all('CONNECTION_FAILED')).toEqual([]);

    const connects = packets(emu, d.deviceId).filter((e) => e.type === 'connack');
    expect(connects.map((e) => e.returnCode)).toEqual([0, 0]);
    const log = packets(emu, d.deviceId);
    expect(log.filter((e) => e.direction === 'in' && e.type === 'disconnect')).toHaveLength(1);
    const telemetry = emu.telemetry(d.deviceId).map((m) => `${text(m.payload)}${m.dup ? ' (dup)' : ''}`);
    expect(telemetry).toEqual(['before-1', 'before-2', 'before-1 (dup)', 'before-2 (dup)', 'during-renewal']);
    expect(hub.state).toBe('CONNECTED');
  });
});
