/**
 * The session against a scriptable broker (our codec, plain TCP on loopback): connect, refusals, protocol errors,
 * subscribe, publish QoS 0/1, the in-flight window and queue, incoming messages, limits, disconnect.
 */
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { encode, type ConnectPacket, type Packet } from '../../src/codec/index.js';
import { AzureIotHubError } from '../../src/errors.js';
import { MqttSession, PUBLISH_OVERHEAD_BYTES } from '../../src/transport/index.js';
import { FakeBroker } from './fake-broker.js';
import { connected, nextFailure, plainSession, record, track, until } from './helpers.js';
import { VirtualClock } from './virtual-clock.js';

let broker: FakeBroker;
const sessions: MqttSession[] = [];
function session(options: Parameters<typeof plainSession>[1] = {}): MqttSession {
  const s = plainSession(broker, options);
  sessions.push(s);
  return s;
}

beforeEach(async () => {
  broker = await FakeBroker.start();
});
afterEach(async () => {
  for (const s of sessions.splice(0)) s.destroy();
  await broker.close();
});

describe('options', () => {
  it.each([
    [{ clientId: 5 }, 'clientId'],
    [{ keepaliveSeconds: 70000 }, 'keepaliveSeconds'],
    [{ keepaliveSeconds: 1.5 }, 'keepaliveSeconds'],
    [{ inFlightWindow: 0 }, 'inFlightWindow'],
    [{ password: 'x', username: undefined }, 'password'],
    [{ port: 0 }, 'port'],
    [{ host: undefined }, 'host'],
    [{ tls: { cert: 'x' } }, 'tls.cert'],
    [{ reconnect: { factor: 0 } }, 'factor'],
    [{ clientId: 'a\u0000b' }, 'CONNECT'],
  ])('%j -> EINVAL naming %s', (bad, field) => {
    let error: unknown;
    try {
      plainSession(broker, bad as never);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(AzureIotHubError);
    expect((error as AzureIotHubError).code).toBe('EINVAL');
    expect((error as AzureIotHubError).message).toContain(field);
  });
});

describe('connect', () => {
  it('resolves once CONNECT is written; connected follows after CONNACK', async () => {
    const s = session({ username: 'hub/dev1/?api-version=2020-09-30', password: 'SharedAccessSignature sr=x', keepaliveSeconds: 30, cleanSession: false });
    const log = record(s);
    let connack: (() => void) | undefined;
    broker.behaviour.connack = () => undefined; // hold the CONNACK back
    broker.on('packet', (p: Packet) => {
      if (p.type === 'connect') connack = () => broker.send({ type: 'connack', returnCode: 0, sessionPresent: true });
    });
    await s.connect();
    expect(s.state).toBe('connecting');
    const connect = (await broker.waitFor((p) => p.type === 'connect')) as ConnectPacket;
    expect(connect).toMatchObject({ clientId: 'dev1', keepalive: 30, cleanSession: false, username: 'hub/dev1/?api-version=2020-09-30' });
    expect(Buffer.from(connect.password!).toString()).toBe('SharedAccessSignature sr=x');
    expect(log.map((e) => e[0])).toEqual(['connecting']);
    connack!();
    await once(s, 'connected');
    expect(s.state).toBe('connected');
    expect(log).toContainEqual(['connected', { sessionPresent: true, reconnect: false }]);
  });

  it('EALREADY when connected, EINPROGRESS while connecting', async () => {
    const s = session();
    const p = s.connect();
    await expect(s.connect()).rejects.toMatchObject({ code: 'EINPROGRESS' });
    await p;
    await once(s, 'connected');
    await expect(s.connect()).rejects.toMatchObject({ code: 'EALREADY' });
  });

  it('a refused TCP connection rejects connect() with ECONNREFUSED (no connack) and does not retry', async () => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1');
    await once(srv, 'listening');
    const port = (srv.address() as AddressInfo).port;
    await new Promise<void>((r) => srv.close(() => r()));
    const s = plainSession({ port }, { reconnect: {} });
    sessions.push(s);
    const log = record(s);
    const err = await s.connect().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AzureIotHubError);
    expect(err).toMatchObject({ code: 'ECONNREFUSED', connack: undefined });
    expect(s.state).toBe('idle');
    expect(log.map((e) => e[0])).toEqual(['connecting', 'connectionFailed']);
  });

  it.each([1, 2, 4, 5])('CONNACK %i -> connectionFailed ECONNREFUSED with the code, no retry by default', async (rc) => {
    broker.behaviour.connack = () => ({ returnCode: rc });
    const s = session({ reconnect: {} });
    const log = record(s);
    const failed = nextFailure(s);
    await s.connect();
    const err = await failed;
    expect(err).toMatchObject({ code: 'ECONNREFUSED', connack: rc });
    expect(s.state).toBe('idle');
    expect(log.map((e) => e[0])).toEqual(['connecting', 'connectionFailed']);
  });

  it('CONNACK 3 (server unavailable) is retried with backoff; the next attempt succeeds', async () => {
    const clock = new VirtualClock();
    broker.behaviour.connack = (conn) => ({ returnCode: conn === 0 ? 3 : 0 });
    const s = session({ reconnect: { initialDelayMs: 1000 }, clock, random: () => 0.5 });
    const log = record(s);
    const failed = nextFailure(s);
    await s.connect();
    expect(await failed).toMatchObject({ code: 'ECONNREFUSED', connack: 3 });
    expect(s.state).toBe('reconnecting');
    expect(log.at(-1)).toEqual(['reconnecting', { attempt: 1, delayMs: 500, error: expect.objectContaining({ connack: 3 }) }]);
    const up = once(s, 'connected');
    clock.advance(499);
    expect(s.state).toBe('reconnecting');
    clock.advance(1);
    expect(s.state).toBe('connecting');
    expect((await up)[0]).toEqual({ sessionPresent: false, reconnect: false });
  });

  it('CONNACK 5 is retried when the policy says retryOnAuthFailure', async () => {
    const clock = new VirtualClock();
    broker.behaviour.connack = (conn) => ({ returnCode: conn === 0 ? 5 : 0 });
    const s = session({ reconnect: { retryOnAuthFailure: true }, clock, random: () => 0 });
    const failed = nextFailure(s);
    await s.connect();
    await failed;
    expect(s.state).toBe('reconnecting');
    const up = once(s, 'connected');
    clock.advance(0);
    await up;
  });

  it('times out without CONNACK (ETIMEDOUT) and closes the socket', async () => {
    const clock = new VirtualClock();
    broker.behaviour.connack = () => undefined;
    const s = session({ clock, connectTimeoutMs: 5000 });
    const failed = nextFailure(s);
    await s.connect();
    await broker.waitFor((p) => p.type === 'connect');
    const closed = once(broker, 'connectionClosed');
    clock.advance(5000);
    expect(await failed).toMatchObject({ code: 'ETIMEDOUT', message: expect.stringContaining('CONNACK') });
    await closed;
  });
});

describe('protocol errors from the server close the connection with EPROTO and the rule (MQTT-4.8.0-1)', () => {
  const afterConnack: [string, Packet | Uint8Array, string][] = [
    ['CONNECT', { type: 'connect', clientId: 'x', keepalive: 0, cleanSession: true }, 'MQTT-2.2.1'],
    ['SUBSCRIBE', { type: 'subscribe', messageId: 1, subscriptions: [{ topic: 'a', qos: 0 }] }, 'MQTT-2.2.1'],
    ['UNSUBSCRIBE', { type: 'unsubscribe', messageId: 1, unsubscriptions: ['a'] }, 'MQTT-2.2.1'],
    ['PINGREQ', { type: 'pingreq' }, 'MQTT-2.2.1'],
    ['DISCONNECT', { type: 'disconnect' }, 'MQTT-2.2.1'],
    ['a second CONNACK', { type: 'connack', returnCode: 0, sessionPresent: false }, 'MQTT-4.8.0-1'],
    ['PUBREC', { type: 'pubrec', messageId: 1 }, 'MQTT-4.3.3'],
    ['PUBREL', { type: 'pubrel', messageId: 1 }, 'MQTT-4.3.3'],
    ['PUBCOMP', { type: 'pubcomp', messageId: 1 }, 'MQTT-4.3.3'],
    ['QoS 2 PUBLISH', { type: 'publish', topic: 't', payload: new Uint8Array(1), qos: 2, dup: false, retain: false, messageId: 9 }, 'MQTT-3.8.4'],
    ['reserved packet type 15', Uint8Array.of(0xf0, 0), 'MQTT-2.2.1'],
    ['PUBLISH with QoS 3', Uint8Array.of(0x36, 5, 0, 1, 0x74, 0, 1), 'MQTT-3.3.1-4'],
    ['PUBACK with flags', Uint8Array.of(0x42, 2, 0, 1), 'MQTT-2.2.2-1'],
    ['PUBACK with id 0', Uint8Array.of(0x40, 2, 0, 0), 'MQTT-2.3.1-1'],
    ['a 5-byte remaining length', Uint8Array.of(0x30, 0xff, 0xff, 0xff, 0xff, 0x01), 'MQTT-2.2.3'],
    ['SUBACK with return code 3', Uint8Array.of(0x90, 3, 0, 1, 3), 'MQTT-3.9.3-2'],
  ];
  it.each(afterConnack)('%s', async (_name, data, rule) => {
    const s = session();
    const log = record(s);
    await connected(s);
    const failed = nextFailure(s);
    const closed = once(broker, 'connectionClosed');
    broker.send(data);
    const err = await failed;
    expect(err).toBeInstanceOf(AzureIotHubError);
    expect(err).toMatchObject({ code: 'EPROTO', rule });
    await closed; // the client closed the network connection
    expect(s.state).toBe('idle');
    expect(log.filter((e) => e[0] === 'disconnected')).toHaveLength(1);
  });

  it('a packet other than CONNACK first (MQTT-3.2.0-1)', async () => {
    broker.behaviour.connack = () => undefined;
    broker.on('packet', (p: Packet) => {
      if (p.type === 'connect') broker.send({ type: 'pingresp' });
    });
    const s = session();
    const failed = nextFailure(s);
    await s.connect();
    expect(await failed).toMatchObject({ code: 'EPROTO', rule: 'MQTT-3.2.0-1' });
  });

  it('Session Present with CleanSession=1 (MQTT-3.2.2-1)', async () => {
    broker.behaviour.connack = () => ({ returnCode: 0, sessionPresent: true });
    const s = session({ cleanSession: true });
    const failed = nextFailure(s);
    await s.connect();
    expect(await failed).toMatchObject({ code: 'EPROTO', rule: 'MQTT-3.2.2-1' });
  });

  it('a malformed packet after good ones in the same chunk: the good ones are delivered first', async () => {
    const s = session();
    const got: string[] = [];
    s.on('message', (p) => got.push(p.topic));
    await connected(s);
    const failed = nextFailure(s);
    const good = encode({ type: 'publish', topic: 'a/b', payload: new Uint8Array(0), qos: 0, dup: false, retain: false });
    broker.send(Buffer.concat([good, good, Uint8Array.of(0x00, 0x00)]));
    expect(await failed).toMatchObject({ code: 'EPROTO' });
    expect(got).toEqual(['a/b', 'a/b']);
  });
});

describe('subscribe / unsubscribe', () => {
  it('resolves with one return code per filter, 0x80 for a refused one', async () => {
    broker.behaviour.suback = (topics) => topics.map((t) => (t.startsWith('bad') ? 0x80 : 1));
    const s = session();
    await connected(s);
    const codes = await s.subscribe([
      { topic: 'devices/dev1/messages/devicebound/#', qos: 1 },
      { topic: 'bad/#', qos: 0 },
      { topic: '$iothub/methods/POST/#', qos: 0 },
    ]);
    expect(codes).toEqual([1, 0x80, 1]);
    const sub = broker.packets('subscribe')[0]!;
    expect(sub.messageId).toBeGreaterThan(0);
    expect(sub.subscriptions.map((x) => x.qos)).toEqual([1, 0, 0]);
    await s.unsubscribe(['bad/#']);
    expect(broker.packets('unsubscribe')[0]!.unsubscriptions).toEqual(['bad/#']);
  });

  it('a SUBACK with the wrong number of return codes is a protocol error (MQTT-3.9.3-1)', async () => {
    broker.behaviour.suback = () => [0];
    const s = session();
    await connected(s);
    const failed = nextFailure(s);
    const sub = s.subscribe([
      { topic: 'a', qos: 0 },
      { topic: 'b', qos: 0 },
    ]);
    expect(await failed).toMatchObject({ code: 'EPROTO', rule: 'MQTT-3.9.3-1' });
    await expect(sub).rejects.toMatchObject({ code: 'ENOTCONN' });
  });

  it('refuses QoS 2, bad filters, empty lists and use while not connected', async () => {
    const s = session();
    await expect(s.subscribe([{ topic: 'a', qos: 0 }])).rejects.toMatchObject({ code: 'ENOTCONN' });
    await connected(s);
    await expect(s.subscribe([{ topic: 'a', qos: 2 }])).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(s.subscribe([])).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(s.subscribe([{ topic: 'a/#/b', qos: 0 }])).rejects.toMatchObject({ code: 'EINVAL', rule: 'MQTT-4.7.1-2' });
    await expect(s.unsubscribe([])).rejects.toMatchObject({ code: 'EINVAL' });
    expect(broker.packets('subscribe')).toHaveLength(0);
  });
});

describe('publish', () => {
  it('QoS 0 resolves when written; QoS 1 on PUBACK with a puback event; ids are never 0', async () => {
    const s = session();
    const log = record(s);
    await connected(s);
    await s.publish('devices/dev1/messages/events/', 'hello');
    await s.publish('devices/dev1/messages/events/', Uint8Array.of(1, 2, 3), { qos: 1, retain: true });
    await until(() => broker.packets('publish').length === 2);
    const [p0, p1] = broker.packets('publish');
    expect(p0).toMatchObject({ qos: 0, dup: false, retain: false });
    expect(p0!.messageId).toBeUndefined();
    expect(Buffer.from(p0!.payload).toString()).toBe('hello');
    expect(p1).toMatchObject({ qos: 1, dup: false, retain: true });
    expect(p1!.messageId).toBeGreaterThan(0);
    expect([...p1!.payload]).toEqual([1, 2, 3]);
    expect(log.filter((e) => e[0] === 'puback')).toEqual([['puback', p1!.messageId]]);
    expect(s.inFlightCount).toBe(0);
  });

  it('many publishes in one tick go out in few writes, in order', async () => {
    const s = session();
    await connected(s);
    const all = Array.from({ length: 500 }, (_, i) => s.publish('t', `m${i}`, { qos: (i % 2) as 0 | 1 }));
    await Promise.all(all);
    const got = broker.packets('publish').map((p) => Buffer.from(p.payload).toString());
    expect(got).toEqual(Array.from({ length: 500 }, (_, i) => `m${i}`));
  });

  it('the in-flight window holds at most N QoS 1 publishes; the rest wait in order; a full queue rejects ENOBUFS', async () => {
    const held: number[] = [];
    broker.behaviour.puback = (_c, id) => {
      held.push(id);
      return false;
    };
    const s = session({ inFlightWindow: 3, maxQueued: 2 });
    await connected(s);
    const ps = [0, 1, 2, 3, 4].map((i) => track(s.publish('t', `m${i}`, { qos: 1 })));
    const over = s.publish('t', 'm5', { qos: 1 });
    await expect(over).rejects.toMatchObject({ code: 'ENOBUFS' });
    await until(() => held.length === 3);
    expect(s.inFlightCount).toBe(3);
    expect(s.queuedCount).toBe(2);
    // a QoS 0 publish queues behind the waiting QoS 1 ones too: the queue is full
    await expect(s.publish('t', 'q0')).rejects.toMatchObject({ code: 'ENOBUFS' });
    broker.send({ type: 'puback', messageId: held[1]! });
    await until(() => held.length === 4);
    expect(ps.map((p) => p.settled)).toEqual([0, 1, 0, 0, 0]);
    for (const id of [held[0]!, held[2]!, held[3]!]) broker.send({ type: 'puback', messageId: id });
    await until(() => held.length === 5);
    broker.send({ type: 'puback', messageId: held[4]! });
    await until(() => ps.every((p) => p.settled === 1));
    expect(broker.packets('publish').map((p) => Buffer.from(p.payload).toString())).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
    expect(new Set(held).size).toBe(5);
  });

  it('accepts a caller-chosen packet id, refuses one in flight (EALREADY), and never allocates it', async () => {
    broker.behaviour.puback = () => false;
    const s = session();
    await connected(s);
    const mine = track(s.publish('t', 'a', { qos: 1, messageId: 2 }));
    await expect(s.publish('t', 'b', { qos: 1, messageId: 2 })).rejects.toMatchObject({ code: 'EALREADY' });
    await expect(s.publish('t', 'b', { qos: 1, messageId: 0 })).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(s.publish('t', 'b', { qos: 0, messageId: 3 })).rejects.toMatchObject({ code: 'EINVAL' });
    void s.publish('t', 'c', { qos: 1 }).catch(() => {});
    void s.publish('t', 'd', { qos: 1 }).catch(() => {});
    await until(() => broker.packets('publish').length === 3);
    expect(broker.packets('publish').map((p) => p.messageId)).toEqual([2, 1, 3]);
    broker.send({ type: 'puback', messageId: 2 });
    await until(() => mine.settled === 1);
    expect(mine.error).toBeUndefined();
  });

  it('refuses QoS 2, bad topics (EINVAL with the rule) and publishing while idle (ENOTCONN)', async () => {
    const s = session();
    await expect(s.publish('t', 'x')).rejects.toMatchObject({ code: 'ENOTCONN' });
    await connected(s);
    await expect(s.publish('t', 'x', { qos: 2 as 1 })).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(s.publish('a/+', 'x')).rejects.toMatchObject({ code: 'EINVAL', rule: 'MQTT-3.3.2-2' });
    await expect(s.publish('', 'x', { qos: 1 })).rejects.toMatchObject({ code: 'EINVAL', rule: 'MQTT-4.7.3-1' });
    await expect(s.publish('t', 42 as unknown as string)).rejects.toMatchObject({ code: 'EINVAL' });
    expect(s.inFlightCount).toBe(0);
  });

  it('a PUBACK for an unknown id is ignored (the connection stays up)', async () => {
    const s = session();
    const log = record(s);
    await connected(s);
    broker.send({ type: 'puback', messageId: 4242 });
    await s.publish('t', 'after', { qos: 1 });
    expect(s.state).toBe('connected');
    expect(log.filter((e) => e[0] === 'puback')).toHaveLength(1);
  });
});

describe('incoming PUBLISH', () => {
  it('delivers QoS 0 and 1 (any topic, MQTT-3.3.2-3 not enforced) and PUBACKs QoS 1 after the listeners ran', async () => {
    const s = session();
    const got: [string, number, string][] = [];
    const order: string[] = [];
    s.on('message', (p) => {
      got.push([p.topic, p.qos, Buffer.from(p.payload).toString()]);
      order.push(`handler ${p.messageId ?? '-'}`);
    });
    broker.on('packet', (p: Packet) => {
      if (p.type === 'puback') order.push(`puback ${p.messageId}`);
    });
    await connected(s);
    broker.send({ type: 'publish', topic: '$iothub/twin/res/200/?$rid=1', payload: Buffer.from('{}'), qos: 0, dup: false, retain: false });
    broker.send({ type: 'publish', topic: 'devices/dev1/messages/devicebound/x', payload: Buffer.from('c2d'), qos: 1, dup: true, retain: false, messageId: 77 });
    await broker.waitFor((p) => p.type === 'puback');
    expect(got).toEqual([
      ['$iothub/twin/res/200/?$rid=1', 0, '{}'],
      ['devices/dev1/messages/devicebound/x', 1, 'c2d'],
    ]);
    expect(order).toEqual(['handler -', 'handler 77', 'puback 77']);
  });

  it('a listener that throws does not crash or stop the session: error event (EIO), PUBACK still sent', async () => {
    const s = session();
    const errors: AzureIotHubError[] = [];
    s.on('error', (e) => errors.push(e));
    s.on('message', () => {
      throw new Error('app bug');
    });
    await connected(s);
    broker.send({ type: 'publish', topic: 't', payload: new Uint8Array(0), qos: 1, dup: false, retain: false, messageId: 5 });
    await broker.waitFor((p) => p.type === 'puback' && p.messageId === 5);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ code: 'EIO' });
    expect((errors[0]!.cause as Error).message).toBe('app bug');
    expect(s.state).toBe('connected');
  });

  it('without an error listener a throwing listener is only reported on the diagnostics channel', async () => {
    const s = session();
    s.on('message', () => {
      throw new Error('app bug');
    });
    await connected(s);
    broker.send({ type: 'publish', topic: 't', payload: new Uint8Array(0), qos: 1, dup: false, retain: false, messageId: 6 });
    await broker.waitFor((p) => p.type === 'puback' && p.messageId === 6);
    expect(s.state).toBe('connected');
  });

  it('received payloads stay valid after more data arrives', async () => {
    const s = session();
    const payloads: Uint8Array[] = [];
    s.on('message', (p) => payloads.push(p.payload));
    await connected(s);
    for (let i = 0; i < 50; i++) {
      broker.send({ type: 'publish', topic: 't', payload: Buffer.alloc(100, i), qos: 0, dup: false, retain: false });
    }
    await until(() => payloads.length === 50);
    payloads.forEach((p, i) => expect(p.every((b) => b === i)).toBe(true));
  });
});

describe('limits', () => {
  it('an incoming PUBLISH larger than maxPayloadBytes + overhead is skipped without buffering: error EMSGSIZE, PUBACK, link kept', async () => {
    const s = session({ maxPayloadBytes: 1000 });
    const errors: AzureIotHubError[] = [];
    const got: string[] = [];
    s.on('error', (e) => errors.push(e));
    s.on('message', (p) => got.push(p.topic));
    await connected(s);
    const big = { type: 'publish', topic: 'c2d/big', payload: new Uint8Array(1000 + PUBLISH_OVERHEAD_BYTES + 10), qos: 1, dup: false, retain: false, messageId: 9 } as const;
    broker.send(big);
    broker.send({ type: 'publish', topic: 'c2d/small', payload: new Uint8Array(5), qos: 0, dup: false, retain: false });
    await until(() => got.length === 1);
    expect(got).toEqual(['c2d/small']);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ code: 'EMSGSIZE', rule: 'maxPayloadBytes' });
    expect(errors[0]!.message).toContain('c2d/big');
    await until(() => broker.packets('puback').length === 1);
    expect(broker.packets('puback')[0]!.messageId).toBe(9);
    expect(s.state).toBe('connected');
  });

  it('an oversized packet that is not a PUBLISH is refused from its fixed header (EMSGSIZE) and closes the link', async () => {
    const s = session({ maxPayloadBytes: 1000 });
    await connected(s);
    const failed = nextFailure(s);
    // Only the fixed header of a 1 MiB SUBACK: the session must not wait for (or buffer) the body.
    const rem = 1024 * 1024;
    broker.send(Uint8Array.of(0x90, (rem & 0x7f) | 0x80, ((rem >> 7) & 0x7f) | 0x80, rem >> 14));
    expect(await failed).toMatchObject({ code: 'EMSGSIZE' });
    expect(rem).toBeGreaterThan(1000 + PUBLISH_OVERHEAD_BYTES);
  });

  it('a payload above maxPayloadBytes (within the packet bound) is not delivered: error EMSGSIZE, PUBACK, link kept', async () => {
    const s = session({ maxPayloadBytes: 1000 });
    const got: number[] = [];
    const errors: AzureIotHubError[] = [];
    s.on('message', (p) => got.push(p.payload.length));
    s.on('error', (e) => errors.push(e));
    await connected(s);
    broker.send({ type: 'publish', topic: 't', payload: new Uint8Array(1000), qos: 0, dup: false, retain: false });
    broker.send({ type: 'publish', topic: 't', payload: new Uint8Array(1001), qos: 1, dup: false, retain: false, messageId: 3 });
    broker.send({ type: 'publish', topic: 't', payload: new Uint8Array(7), qos: 0, dup: false, retain: false });
    await until(() => got.length === 2);
    expect(got).toEqual([1000, 7]);
    expect(errors.map((e) => e.code)).toEqual(['EMSGSIZE']);
    await until(() => broker.packets('puback').length === 1);
    expect(s.state).toBe('connected');
  });
});

describe('disconnect', () => {
  it('sends DISCONNECT last, closes, rejects what is unacknowledged with ENOTCONN and emits disconnected()', async () => {
    broker.behaviour.puback = () => false;
    const s = session();
    const log = record(s);
    await connected(s);
    const pending = s.publish('t', 'never acked', { qos: 1 });
    await until(() => broker.packets('publish').length === 1);
    const closed = once(broker, 'connectionClosed');
    await s.disconnect();
    await expect(pending).rejects.toMatchObject({ code: 'ENOTCONN' });
    await closed;
    const types = broker.received.map((r) => r.packet.type);
    expect(types.at(-1)).toBe('disconnect');
    expect(s.state).toBe('idle');
    expect(log.at(-1)).toEqual(['disconnected', undefined]);
    await expect(s.publish('t', 'x')).rejects.toMatchObject({ code: 'ENOTCONN' });
    // nothing is written after DISCONNECT (MQTT-3.14.4-2), whatever arrives
    expect(() => s.ping()).toThrow(AzureIotHubError);
    expect(broker.received.map((r) => r.packet.type).at(-1)).toBe('disconnect');
  });

  it('a PUBLISH arriving during disconnect is not answered', async () => {
    const s = session();
    await connected(s);
    broker.behaviour.connack = () => undefined;
    const done = s.disconnect();
    broker.send({ type: 'publish', topic: 't', payload: new Uint8Array(0), qos: 1, dup: false, retain: false, messageId: 3 });
    await done;
    expect(broker.packets('puback')).toHaveLength(0);
  });

  it('disconnect() while connecting or reconnecting stops everything; when idle it resolves at once', async () => {
    const s = session();
    await s.disconnect();
    broker.behaviour.connack = () => undefined;
    const log = record(s);
    await s.connect();
    const q = s.publish('t', 'queued', { qos: 1 });
    await s.disconnect();
    await expect(q).rejects.toMatchObject({ code: 'ENOTCONN' });
    expect(s.state).toBe('idle');
    expect(log.map((e) => e[0])).toEqual(['connecting', 'disconnected']);
  });

  it('destroy() closes without DISCONNECT', async () => {
    const s = session();
    await connected(s);
    const closed = once(broker, 'connectionClosed');
    s.destroy();
    await closed;
    expect(broker.packets('disconnect')).toHaveLength(0);
    expect(s.state).toBe('idle');
  });
});
