/**
 * AzureIotHub against the emulator over TLS: connecting with X.509 and SAS (events in the documented order and the
 * exact CONNECT / SUBSCRIBE / twin GET the hub logged), the CONNECT fields (cleanSession, keepalive, model id),
 * disconnecting, the state machine and its error codes, connection failures (CONNACK refused, wrong CA, expired
 * SAS token), a throwing event handler, keepalive and ping.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AzureIotHub } from '../../../src/azure/client.js';
import type { AzureIotHubEvt } from '../../../src/azure/types.js';
import { createCa, createDeviceCertificate, type CertificateAndKey } from '../../../src/emulator/certs.js';
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
  tick,
  until,
  x509Device,
  type TestDevice,
} from './harness.js';

let emu: Emulator;
let otherCa: CertificateAndKey;
let untrusted: TestDevice;
const x509Pool: TestDevice[] = [];
let n = 0;

beforeAll(async () => {
  emu = await startEmulator({ firmware: false });
  const minted = await Promise.all([
    createCa('not the emulator'),
    ...Array.from({ length: 4 }, (_, i) => x509Device(emu, `life-x509-${i}`)),
  ]);
  otherCa = minted[0] as CertificateAndKey;
  x509Pool.push(...(minted.slice(1) as TestDevice[]));
  // A device certificate with the right CN from a CA the hub does not trust.
  emu.registerDevice({ deviceId: 'life-untrusted' });
  const c = await createDeviceCertificate(otherCa, 'life-untrusted');
  untrusted = { deviceId: 'life-untrusted', auth: 'x509', cert: c.chain, key: c.key };
});
afterEach(closeClients);
afterAll(async () => {
  await emu.close();
});

function device(kind: 'x509' | 'sas' = 'sas'): TestDevice {
  if (kind === 'sas') return sasDevice(emu, `life-sas-${++n}`);
  const d = x509Pool.shift();
  if (d === undefined) throw new Error('mint more X.509 devices in beforeAll');
  return d;
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(AzureIotHubError);
    return (err as AzureIotHubError).code;
  }
  return undefined;
}

async function rejectCode(p: Promise<unknown>): Promise<string> {
  const err = await p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AzureIotHubError);
  return (err as AzureIotHubError).code;
}

describe.each([
  ['X.509', 'x509'],
  ['SAS', 'sas'],
] as const)('connecting with %s', (_name, kind) => {
  it('emits CONNECTING, CONNECTED, READY (after SUBACK), TWIN_RECEIVED; the hub logs CONNECT, one SUBSCRIBE and the twin GET', async () => {
    const d = device(kind);
    const host = emu.hub.host;
    const seenConnect = emu.waitFor('connect', (e) => e.clientId === d.deviceId);
    const seenSubscribe = emu.waitFor('subscribe', (e) => e.clientId === d.deviceId);
    const { hub, rec } = createClient(configFor(emu, d));
    expect(hub.state).toBe('INIT');
    await hub.connect();
    // connect() resolves once CONNECT is written: the CONNACK has not been read yet.
    expect(rec.types()).toEqual(['CONNECTING']);
    expect(hub.state).toBe('CONNECTING');
    expect(hub.hubHostname).toBe(host);
    await rec.waitFor('TWIN_RECEIVED');
    expect(rec.types()).toEqual(['CONNECTING', 'CONNECTED', 'READY', 'TWIN_RECEIVED']);
    expect(rec.events[1]).toEqual({ type: 'CONNECTED', sessionPresent: false });
    expect(hub.state).toBe('CONNECTED');

    expect(await seenConnect).toMatchObject({
      service: 'hub',
      auth: kind,
      host,
      servername: host,
      cleanSession: false,
      keepalive: 60,
      apiVersion: '2021-04-12',
      username: `${host}/${d.deviceId}/?api-version=2021-04-12`,
    });
    expect((await seenSubscribe).subscriptions).toEqual([
      { topic: `devices/${d.deviceId}/messages/devicebound/#`, qos: 1, granted: 1 },
      { topic: '$iothub/twin/res/#', qos: 0, granted: 0 },
      { topic: '$iothub/twin/PATCH/properties/desired/#', qos: 0, granted: 0 },
      { topic: '$iothub/methods/POST/#', qos: 0, granted: 0 },
    ]);
    const log = packets(emu, d.deviceId).map(({ direction, type, topic, qos, dup, messageId, returnCode }) => ({
      direction, type, topic, qos, dup, messageId, returnCode,
    }));
    const subscribeId = log[2]?.messageId;
    expect(subscribeId).toBeGreaterThan(0); // never 0 (MQTT-2.3.1-1)
    expect(log).toEqual([
      { direction: 'in', type: 'connect' },
      { direction: 'out', type: 'connack', returnCode: 0 },
      { direction: 'in', type: 'subscribe', messageId: subscribeId },
      { direction: 'out', type: 'suback', messageId: subscribeId },
      { direction: 'in', type: 'publish', topic: '$iothub/twin/GET/?$rid=1', qos: 0, dup: false },
      { direction: 'out', type: 'publish', topic: '$iothub/twin/res/200/?$rid=1', qos: 0, dup: false },
    ]); // toEqual: fields a packet does not have are undefined on both sides

    const twinEvt = rec.events[3] as Extract<AzureIotHubEvt, { type: 'TWIN_RECEIVED' }>;
    expect(twinEvt.topic).toEqual({ type: 'TWIN_REQUEST', str: '$iothub/twin/res/200/?$rid=1' });
    expect(twinEvt.data.msg.payload).toBeInstanceOf(Uint8Array);
    expect(JSON.parse(new TextDecoder().decode(twinEvt.data.msg.payload as Uint8Array))).toEqual(emu.getTwin(d.deviceId));
  });

  it('disconnect(): DISCONNECT on the wire, DISCONNECTED without an error, INIT; connect() again resumes the persistent session', async () => {
    const d = device(kind);
    const { hub, rec } = await connectedClient(configFor(emu, d));
    const gone = emu.waitFor('disconnect', (e) => e.clientId === d.deviceId);
    const mark = rec.mark();
    await hub.disconnect();
    expect(rec.events.slice(mark)).toEqual([{ type: 'DISCONNECTED' }]);
    expect(hub.state).toBe('INIT');
    expect(await gone).toMatchObject({ graceful: true, reason: 'client disconnected' });
    expect(packets(emu, d.deviceId).at(-1)).toMatchObject({ direction: 'in', type: 'disconnect' });
    expect(hub.keepaliveTimeLeft()).toBe(-1);

    const again = rec.mark();
    await hub.connect();
    await rec.waitFor('TWIN_RECEIVED', { since: again });
    expect(rec.types(again)).toEqual(['CONNECTING', 'CONNECTED', 'READY', 'TWIN_RECEIVED']);
    expect(rec.events[again + 1]).toEqual({ type: 'CONNECTED', sessionPresent: true });
    // A new connection starts request ids again from 1.
    expect(packets(emu, d.deviceId).filter((e) => e.topic?.startsWith('$iothub/twin/GET/')).map((e) => e.topic)).toEqual([
      '$iothub/twin/GET/?$rid=1',
      '$iothub/twin/GET/?$rid=1',
    ]);
  });
});

describe('CONNECT fields and the READY sequence', () => {
  it('telemetry sent from the READY handler goes out after the automatic twin GET', async () => {
    const d = device();
    const { hub, rec } = createClient(configFor(emu, d));
    rec.hook = (evt) => {
      if (evt.type === 'READY') void hub.sendEvent('from READY', undefined, { qos: 0 });
    };
    await hub.connect();
    await emu.waitForTelemetry(d.deviceId, 1);
    const ins = packets(emu, d.deviceId).filter((e) => e.direction === 'in' && e.type === 'publish');
    expect(ins.map((e) => e.topic)).toEqual(['$iothub/twin/GET/?$rid=1', `devices/${d.deviceId}/messages/events/`]);
  });

  it('autoTwinRequest: false sends no twin GET: READY follows SUBACK alone', async () => {
    const d = device();
    const { rec } = await connectedClient(configFor(emu, d, { autoTwinRequest: false }));
    await tick();
    expect(rec.types()).toEqual(['CONNECTING', 'CONNECTED', 'READY']);
    expect(packets(emu, d.deviceId).map((e) => e.type)).toEqual(['connect', 'connack', 'subscribe', 'suback']);
  });

  it('sends cleanSession, keepaliveSeconds and the model id (URL-encoded in the username) as configured', async () => {
    const d = device();
    const seen = emu.waitFor('connect', (e) => e.clientId === d.deviceId);
    await connectedClient(configFor(emu, d, { cleanSession: true, keepaliveSeconds: 1177, modelId: 'dtmi:com:example:Thermostat;1' }));
    const e = await seen;
    expect(e).toMatchObject({ cleanSession: true, keepalive: 1177, modelId: 'dtmi:com:example:Thermostat;1' });
    expect(e.username).toBe(`${emu.hub.host}/${d.deviceId}/?api-version=2021-04-12&model-id=dtmi%3Acom%3Aexample%3AThermostat%3B1`);
    expect(emu.deviceStatus(d.deviceId).persistentSession).toBe(false);
    expect(packets(emu, d.deviceId)[0]).toMatchObject({ type: 'connect', cleanSession: true, keepalive: 1177 });
  });

  it('defaults to a persistent session (CleanSession=0): a C2D message sent while offline arrives after connect()', async () => {
    const d = device();
    const { hub, rec } = await connectedClient(configFor(emu, d));
    expect(emu.deviceStatus(d.deviceId).persistentSession).toBe(true);
    await hub.disconnect();
    emu.sendC2D(d.deviceId, 'queued while offline', { messageId: 'offline-1' });
    const mark = rec.mark();
    await hub.connect();
    const msg = await rec.waitFor('DATA_RECEIVED', { since: mark });
    expect(new TextDecoder().decode(msg.data.msg.payload as Uint8Array)).toBe('queued while offline');
    expect(rec.all('CONNECTED', mark)[0]?.sessionPresent).toBe(true);
  });
});

describe('state machine and error codes', () => {
  it('before init: every call is ENOENT, keepaliveTimeLeft() is -1, the state is IDLE', async () => {
    const hub = new AzureIotHub();
    expect(hub.state).toBe('IDLE');
    expect(hub.keepaliveTimeLeft()).toBe(-1);
    expect(codeOf(() => hub.input())).toBe('ENOENT');
    expect(codeOf(() => hub.ping())).toBe('ENOENT');
    expect(await rejectCode(hub.connect())).toBe('ENOENT');
    expect(await rejectCode(hub.disconnect())).toBe('ENOENT');
    expect(await rejectCode(hub.send({ topic: { type: 'EVENT' }, payload: 'x' }))).toBe('ENOENT');
    expect(await rejectCode(hub.sendEvent({ a: 1 }))).toBe('ENOENT');
    expect(await rejectCode(hub.methodRespond({ rid: '1', status: 200 }))).toBe('ENOENT');
    expect(await rejectCode(hub.getTwin())).toBe('ENOENT');
    expect(await rejectCode(hub.updateReported({ a: 1 }))).toBe('ENOENT');
    expect(await rejectCode(hub.dpsReset())).toBe('ENOENT');
    expect(hub.state).toBe('IDLE');
  });

  it('init: a bad config is EINVAL naming the field and leaves the client IDLE; a second init is EALREADY', () => {
    const hub = new AzureIotHub();
    const d = device();
    const bad = configFor(emu, d, { keepaliveSeconds: 5000 });
    let err: unknown;
    try {
      hub.init(bad, () => undefined);
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'EINVAL', message: expect.stringMatching(/^config\.keepaliveSeconds /) });
    expect(hub.state).toBe('IDLE');
    expect(codeOf(() => hub.init(configFor(emu, d), 'not a function' as never))).toBe('EINVAL');
    expect(hub.state).toBe('IDLE');
    hub.init(configFor(emu, d), () => undefined);
    expect(hub.state).toBe('INIT');
    expect(codeOf(() => hub.init(configFor(emu, d), () => undefined))).toBe('EALREADY');
  });

  it('initialised but not connected: send, twin, methodRespond, ping and disconnect are ENOTCONN; input() is 0', async () => {
    const { hub } = createClient(configFor(emu, device()));
    expect(await rejectCode(hub.send({ topic: { type: 'EVENT' }, payload: 'x' }))).toBe('ENOTCONN');
    expect(await rejectCode(hub.sendEvent('x'))).toBe('ENOTCONN');
    expect(await rejectCode(hub.getTwin())).toBe('ENOTCONN');
    expect(await rejectCode(hub.updateReported({ a: 1 }))).toBe('ENOTCONN');
    expect(await rejectCode(hub.methodRespond({ rid: '1', status: 200 }))).toBe('ENOTCONN');
    expect(await rejectCode(hub.disconnect())).toBe('ENOTCONN');
    expect(codeOf(() => hub.ping())).toBe('ENOTCONN');
    expect(hub.input()).toBe(0);
    expect(hub.keepaliveTimeLeft()).toBe(-1);
    expect(await rejectCode(hub.dpsReset())).toBe('EINVAL'); // no DPS configured
  });

  it('connect() while connecting is EINPROGRESS; while connected EALREADY', async () => {
    const { hub, rec } = createClient(configFor(emu, device()));
    const first = hub.connect();
    expect(hub.state).toBe('CONNECTING');
    expect(await rejectCode(hub.connect())).toBe('EINPROGRESS');
    await first;
    expect(await rejectCode(hub.connect())).toBe('EINPROGRESS'); // CONNECT written, CONNACK not read yet
    await rec.waitFor('READY');
    expect(await rejectCode(hub.connect())).toBe('EALREADY');
    expect(rec.all('CONNECTING')).toHaveLength(1);
  });

  it('disconnect() in the same tick as connect() (state CONNECTING) cancels the connection', async () => {
    const d = device();
    const { hub, rec } = createClient(configFor(emu, d));
    const connecting = hub.connect().then(() => 'connected', (e: unknown) => (e as AzureIotHubError).code);
    expect(hub.state).toBe('CONNECTING');
    await hub.disconnect();
    expect(hub.state).toBe('INIT');
    expect(await connecting).not.toBe('connected');
    await new Promise((r) => setTimeout(r, 50));
    expect(rec.types().at(-1)).toBe('DISCONNECTED');
    expect(emu.isConnected(d.deviceId)).toBe(false);
  });

  it('disconnect() during the TLS handshake: DISCONNECTED, INIT, connect() rejects ENOTCONN, nothing reaches the hub', async () => {
    const d = device();
    const { hub, rec } = createClient(configFor(emu, d));
    const connecting = hub.connect().then(() => 'connected', (e: unknown) => (e as AzureIotHubError).code);
    await until(() => rec.types().includes('CONNECTING'), 'CONNECTING');
    await hub.disconnect();
    expect(await connecting).toBe('ENOTCONN');
    expect(rec.types()).toEqual(['CONNECTING', 'DISCONNECTED']);
    expect(hub.state).toBe('INIT');
    await new Promise((r) => setTimeout(r, 30));
    expect(packets(emu, d.deviceId)).toEqual([]);
  });

  it('disconnect() rejects a pending getTwin and an unacknowledged QoS 1 message with ENOTCONN', async () => {
    const d = device();
    const { hub, rec } = await connectedClient(configFor(emu, d));
    emu.faults.stopAnswering(d.deviceId);
    const twin = hub.getTwin();
    const event = hub.sendEvent('never acked');
    const twinOutcome = rejectCode(twin);
    const eventOutcome = rejectCode(event);
    await until(() => packets(emu, d.deviceId).some((e) => e.topic === '$iothub/twin/GET/?$rid=2'), 'the twin GET');
    await hub.disconnect();
    expect(await twinOutcome).toBe('ENOTCONN');
    expect(await eventOutcome).toBe('ENOTCONN');
    expect(rec.types().at(-1)).toBe('DISCONNECTED');
    emu.faults.resume(d.deviceId);
  });

  it('send() checks its message: topic type (ENOMSG), QoS, message id, property bag (EINVAL)', async () => {
    const { hub } = await connectedClient(configFor(emu, device()));
    expect(await rejectCode(hub.send({ topic: { type: 'DEVICEBOUND' }, payload: 'x' }))).toBe('ENOMSG');
    expect(await rejectCode(hub.send({ topic: { type: 'EVENT' }, payload: 'x', qos: 2 as never }))).toBe('EINVAL');
    expect(await rejectCode(hub.send({ topic: { type: 'EVENT' }, payload: 'x', qos: 1, messageId: 0 }))).toBe('EINVAL');
    expect(await rejectCode(hub.send({ topic: { type: 'EVENT' }, payload: 'x', qos: 1, messageId: 65536 }))).toBe('EINVAL');
    expect(await rejectCode(hub.send({ topic: { type: 'EVENT', propBag: [{ key: '' }] }, payload: 'x' }))).toBe('EINVAL');
    expect(await rejectCode(hub.send({ topic: { type: 'EVENT', propBag: [{ key: 'a', value: 'b\u0000' }] }, payload: 'x' }))).toBe('EINVAL');
    expect(await rejectCode(hub.send({ topic: { type: 'TWIN_REQUEST', propBag: [{ key: '$rid', value: 'a&b' }] }, payload: '' }))).toBe('EINVAL');
    expect(await rejectCode(hub.send({ topic: { type: 'EVENT' }, payload: 42 as never }))).toBe('EINVAL');
    expect(await rejectCode(hub.send(null as never))).toBe('EINVAL');
  });
});

describe('connection failures', () => {
  it('CONNACK 5 (not authorized): CONNECTION_FAILED with the code, INIT, and no retry (default policy, zero jitter)', async () => {
    const d = device();
    emu.faults.refuseNextConnect(d.deviceId, 5);
    const { hub, rec } = createClient(configFor(emu, d), { random: () => 0 });
    await hub.connect();
    const failed = await rec.waitFor('CONNECTION_FAILED');
    expect(failed.data.err).toBe(5);
    expect(hub.state).toBe('INIT');
    await new Promise((r) => setTimeout(r, 30)); // a retry would start at once (jitter 0)
    expect(packets(emu, d.deviceId).filter((e) => e.type === 'connect')).toHaveLength(1);
    expect(rec.types()).toEqual(['CONNECTING', 'CONNECTION_FAILED']);
    // The application may try again itself.
    await hub.connect();
    await rec.waitFor('READY');
  });

  it('CONNACK 4 (bad user name or password) is not retried either', async () => {
    const d = device();
    emu.faults.refuseNextConnect(d.deviceId, 4);
    const { hub, rec } = createClient(configFor(emu, d), { random: () => 0 });
    await hub.connect();
    expect((await rec.waitFor('CONNECTION_FAILED')).data.err).toBe(4);
    expect(hub.state).toBe('INIT');
    await new Promise((r) => setTimeout(r, 30));
    expect(packets(emu, d.deviceId).filter((e) => e.type === 'connect')).toHaveLength(1);
  });

  it('CONNACK 3 (server unavailable) is retried by the default policy: CONNECTING, CONNECTED, READY follow', async () => {
    const d = device();
    emu.faults.refuseNextConnect(d.deviceId, 3);
    const { hub, rec } = createClient(configFor(emu, d), { random: () => 0 });
    await hub.connect();
    await rec.waitFor('TWIN_RECEIVED');
    expect(rec.types()).toEqual(['CONNECTING', 'CONNECTION_FAILED', 'CONNECTING', 'CONNECTED', 'READY', 'TWIN_RECEIVED']);
    expect(rec.all('CONNECTION_FAILED')[0]?.data.err).toBe(3);
    expect(hub.state).toBe('CONNECTED');
  });

  it('a server certificate from another CA: connect() rejects EACCES, CONNECTION_FAILED carries it, nothing reached the hub', async () => {
    const d = device();
    const cfg = configFor(emu, d, { credentials: { ca: otherCa.cert } });
    const { hub, rec } = createClient(cfg);
    const err = await hub.connect().then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(AzureIotHubError);
    expect((err as AzureIotHubError).code).toBe('EACCES');
    expect(rec.types()).toEqual(['CONNECTING', 'CONNECTION_FAILED']);
    const failed = rec.all('CONNECTION_FAILED')[0]!;
    expect(failed.data.err).toBeInstanceOf(AzureIotHubError);
    expect((failed.data.err as AzureIotHubError).code).toBe('EACCES');
    expect(hub.state).toBe('INIT');
    expect(packets(emu, d.deviceId)).toEqual([]);
  });

  it('an expired SAS token (minted with a clock two hours behind): CONNACK 4, no retry, no token in any event', async () => {
    const d = device();
    const refused = emu.waitFor('connectRefused', (e) => e.clientId === d.deviceId);
    const { hub, rec } = createClient(configFor(emu, d), { now: () => Date.now() - 2 * 3600_000, random: () => 0 });
    await hub.connect();
    expect((await rec.waitFor('CONNECTION_FAILED')).data.err).toBe(4);
    expect((await refused).reason).toMatch(/expired/);
    expect(hub.state).toBe('INIT');
    expect(JSON.stringify(rec.events)).not.toMatch(/SharedAccessSignature|sig=/);
  });

  it('a SAS device with a wrong key: CONNACK 4, and the key never appears in events', async () => {
    const d = device();
    const wrong = Buffer.from('not the right key, not at all!!').toString('base64');
    const { hub, rec } = createClient(configFor(emu, d, { sasKey: wrong }), { random: () => 0 });
    await hub.connect();
    expect((await rec.waitFor('CONNECTION_FAILED')).data.err).toBe(4);
    expect(JSON.stringify(rec.events)).not.toContain(wrong);
  });

  it('a device certificate from a CA the hub does not trust: CONNACK 5, no retry', async () => {
    const refused = emu.waitFor('connectRefused', (e) => e.clientId === untrusted.deviceId);
    const { hub, rec } = createClient(configFor(emu, untrusted), { random: () => 0 });
    await hub.connect();
    expect((await rec.waitFor('CONNECTION_FAILED')).data.err).toBe(5);
    expect((await refused).returnCode).toBe(5);
    expect(hub.state).toBe('INIT');
    await new Promise((r) => setTimeout(r, 30));
    expect(packets(emu, untrusted.deviceId).filter((e) => e.type === 'connect')).toHaveLength(1);
  });

  it('nothing listening: connect() rejects ECONNREFUSED and CONNECTION_FAILED carries it', async () => {
    const net = await import('node:net');
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    await new Promise<void>((r) => server.close(() => r()));
    const { hub, rec } = createClient(configFor(emu, device(), { port }));
    expect(await rejectCode(hub.connect())).toBe('ECONNREFUSED');
    const err = rec.all('CONNECTION_FAILED')[0]?.data.err;
    expect(err).toBeInstanceOf(AzureIotHubError);
    expect((err as AzureIotHubError).code).toBe('ECONNREFUSED');
    expect((err as AzureIotHubError).connack).toBeUndefined();
    expect(hub.state).toBe('INIT');
  });
});

describe('calls from the event handler', () => {
  it('the application reconnects from its DISCONNECTED handler (reconnect: false, the C pattern)', async () => {
    const d = device();
    const { hub, rec } = await connectedClient(configFor(emu, d, { reconnect: false }));
    let again: Promise<void> | undefined;
    rec.hook = (evt) => {
      if (evt.type === 'DISCONNECTED' && again === undefined) again = hub.connect();
    };
    const mark = rec.mark();
    emu.faults.dropConnection(d.deviceId);
    await rec.waitFor('TWIN_RECEIVED', { since: mark });
    await again;
    expect(rec.types(mark)).toEqual(['DISCONNECTED', 'CONNECTING', 'CONNECTED', 'READY', 'TWIN_RECEIVED']);
    expect(rec.all('ERROR')).toEqual([]);
  });

  it('disconnect() from the READY handler: DISCONNECT right after SUBACK, DISCONNECTED, INIT', async () => {
    const d = device();
    const { hub, rec } = createClient(configFor(emu, d));
    let closing: Promise<void> | undefined;
    rec.hook = (evt) => {
      if (evt.type === 'READY') closing = hub.disconnect();
    };
    await hub.connect();
    await rec.waitFor('DISCONNECTED');
    await closing;
    expect(rec.types()).toEqual(['CONNECTING', 'CONNECTED', 'READY', 'DISCONNECTED']);
    expect(hub.state).toBe('INIT');
    // Nothing is written after DISCONNECT (MQTT-3.14.4-2): the queued twin GET is dropped.
    expect(packets(emu, d.deviceId).filter((e) => e.direction === 'in').map((e) => e.type)).toEqual(['connect', 'subscribe', 'disconnect']);
  });
});

describe('event handler, keepalive, ping', () => {
  it('a throwing handler is reported as ERROR (EIO naming the event, the throw as cause); the library keeps working', async () => {
    const d = device();
    const { hub, rec } = createClient(configFor(emu, d));
    const bug = new Error('application bug');
    rec.hook = (evt) => {
      if (evt.type === 'READY' || evt.type === 'ERROR') throw bug; // a throw while handling ERROR is dropped, no loop
    };
    await hub.connect();
    await rec.waitFor('TWIN_RECEIVED');
    expect(rec.types()).toEqual(['CONNECTING', 'CONNECTED', 'READY', 'ERROR', 'TWIN_RECEIVED']);
    const err = rec.all('ERROR')[0]!.data.err;
    expect(err).toMatchObject({ code: 'EIO', message: 'the event handler threw on READY: application bug' });
    expect(err.cause).toBe(bug);
    rec.hook = undefined;
    await hub.sendEvent({ still: 'working' });
    expect((await emu.waitForTelemetry(d.deviceId, 1))[0]?.properties).toEqual({});
    expect(hub.state).toBe('CONNECTED');
  });

  it('keepaliveTimeLeft(): the period while connected, -1 before and after, -1 when keepalive is disabled', async () => {
    const a = await connectedClient(configFor(emu, device(), { keepaliveSeconds: 60 }));
    const left = a.hub.keepaliveTimeLeft();
    expect(left).toBeGreaterThan(55_000);
    expect(left).toBeLessThanOrEqual(60_000);
    await a.hub.disconnect();
    expect(a.hub.keepaliveTimeLeft()).toBe(-1);
    const b = await connectedClient(configFor(emu, device(), { keepaliveSeconds: 0 }));
    expect(b.hub.keepaliveTimeLeft()).toBe(-1);
    expect(b.hub.input()).toBe(0); // automatic mode: the library has read everything already
  });

  it('ping() sends PINGREQ now and the hub answers PINGRESP, with keepalive enabled or disabled', async () => {
    for (const keepaliveSeconds of [60, 0]) {
      const d = device();
      const { hub } = await connectedClient(configFor(emu, d, { keepaliveSeconds }));
      const since = lastSeq(emu, d.deviceId);
      hub.ping();
      await until(() => packets(emu, d.deviceId, since).some((e) => e.type === 'pingresp'), 'PINGRESP');
      expect(packets(emu, d.deviceId, since).map((e) => `${e.direction} ${e.type}`)).toEqual(['in pingreq', 'out pingresp']);
      expect(hub.state).toBe('CONNECTED');
    }
  });
});
