/**
 * Reconnection: retransmission with DUP=1 and the same ids, the onConnect hook's place in the order, fresh passwords
 * per CONNECT, reconnectNow(), backoff under vitest fake timers, giving up.
 */
import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ConnectPacket, Packet } from '../../src/codec/index.js';
import { reconnectDelay, type MqttSession } from '../../src/transport/index.js';
import { FakeBroker } from './fake-broker.js';
import { connected, nextFailure, plainSession, record, track, until, untilImmediate } from './helpers.js';

let broker: FakeBroker;
const sessions: MqttSession[] = [];
function session(options: Parameters<typeof plainSession>[1] = {}): MqttSession {
  const s = plainSession(broker, { reconnect: {}, random: () => 0, ...options });
  sessions.push(s);
  return s;
}

beforeEach(async () => {
  broker = await FakeBroker.start();
});
afterEach(async () => {
  vi.useRealTimers();
  for (const s of sessions.splice(0)) s.destroy();
  await broker.close();
});

describe('retransmission after a lost connection', () => {
  it('resends unacknowledged QoS 1 publishes with DUP=1 and the same ids, in order, then the queue; each promise settles once', async () => {
    broker.behaviour.puback = (conn) => conn > 0;
    const s = session({ inFlightWindow: 2 });
    const log = record(s);
    await connected(s);
    const ps = ['a', 'b', 'c', 'd'].map((m) => track(s.publish('t', m, { qos: 1 })));
    await until(() => broker.packets('publish', 0).length === 2);
    const first = broker.packets('publish', 0);
    broker.sockets[0]!.destroy(); // the network drops
    await until(() => ps.every((p) => p.settled === 1), 5000, 'all PUBACKs');
    const second = broker.packets('publish', 1);
    expect(second.map((p) => [Buffer.from(p.payload).toString(), p.dup])).toEqual([
      ['a', true],
      ['b', true],
      ['c', false],
      ['d', false],
    ]);
    expect(second.slice(0, 2).map((p) => p.messageId)).toEqual(first.map((p) => p.messageId));
    expect(ps.every((p) => p.error === undefined)).toBe(true);
    const names = log.map((e) => e[0]);
    expect(names.slice(0, 7)).toEqual(['connecting', 'connected', 'disconnected', 'reconnecting', 'connecting', 'connected', 'puback']);
    expect(log[2]![1]).toMatchObject({ code: 'ECONNRESET' });
    expect(log[5]).toEqual(['connected', { sessionPresent: false, reconnect: true }]);
    expect(log.filter((e) => e[0] === 'puback')).toHaveLength(4);
  });

  it('the attempt counter restarts after every accepted CONNACK', async () => {
    const s = session({ random: () => 0.5, reconnect: { initialDelayMs: 10 } });
    const attempts: number[] = [];
    s.on('reconnecting', (info) => attempts.push(info.attempt));
    await connected(s);
    for (let i = 0; i < 3; i++) {
      const up = once(s, 'connected');
      broker.sockets.at(-1)!.destroy();
      await up;
    }
    expect(attempts).toEqual([1, 1, 1]);
  });

  it('publishes made while reconnecting wait in the queue and go out after CONNACK', async () => {
    broker.behaviour.connack = (conn) => (conn === 1 ? undefined : { returnCode: 0 });
    const s = session();
    await connected(s);
    broker.sockets[0]!.destroy();
    await until(() => broker.sockets.length === 2);
    const q0 = track(s.publish('t', 'q0'));
    const q1 = track(s.publish('t', 'q1', { qos: 1 }));
    await new Promise((r) => setTimeout(r, 20));
    expect(s.state).toBe('connecting');
    expect(broker.packets('publish')).toHaveLength(0);
    expect(s.queuedCount).toBe(2);
    broker.send({ type: 'connack', returnCode: 0, sessionPresent: false }, 1);
    await until(() => q0.settled + q1.settled === 2);
    expect(broker.packets('publish', 1).map((p) => Buffer.from(p.payload).toString())).toEqual(['q0', 'q1']);
  });

  it('a duplicate PUBACK (for the original and for the DUP) settles the promise once', async () => {
    const held: number[] = [];
    broker.behaviour.puback = (conn, id) => {
      if (conn === 0) held.push(id);
      return conn > 0;
    };
    const s = session();
    const log = record(s);
    await connected(s);
    const p = track(s.publish('t', 'x', { qos: 1 }));
    await until(() => held.length === 1);
    broker.sockets[0]!.destroy();
    await until(() => p.settled === 1);
    broker.send({ type: 'puback', messageId: held[0]! }, 1); // late duplicate
    await s.publish('t', 'y', { qos: 1 });
    expect(p.settled).toBe(1);
    expect(log.filter((e) => e[0] === 'puback')).toHaveLength(2);
  });
});

describe('the onConnect hook', () => {
  it('runs before connected and before anything queued is sent: its SUBSCRIBE goes first', async () => {
    broker.behaviour.puback = (conn) => conn > 0;
    const s = session();
    const order: string[] = [];
    s.onConnect = (info) => {
      order.push(`hook reconnect=${info.reconnect}`);
      void s.subscribe([{ topic: 'devices/dev1/messages/devicebound/#', qos: 1 }]);
    };
    s.on('connected', () => order.push('connected'));
    await connected(s);
    const p = track(s.publish('t', 'm', { qos: 1 }));
    await until(() => broker.packets('publish', 0).length === 1);
    broker.sockets[0]!.destroy();
    await until(() => p.settled === 1);
    expect(order).toEqual(['hook reconnect=false', 'connected', 'hook reconnect=true', 'connected']);
    const conn1 = broker.received.filter((r) => r.conn === 1).map((r) => r.packet.type);
    expect(conn1).toEqual(['connect', 'subscribe', 'publish']);
  });

  it('an async hook holds queued and unacknowledged publishes until it settles (here: until SUBACK)', async () => {
    broker.behaviour.suback = () => null; // SUBACK is sent by the test below
    const s = session();
    s.onConnect = async () => {
      await s.subscribe([{ topic: 'a/#', qos: 0 }]);
    };
    await connected(s);
    const p = track(s.publish('t', 'after-suback', { qos: 1 }));
    const sub = (await broker.waitFor((x) => x.type === 'subscribe')) as { messageId: number };
    await new Promise((r) => setTimeout(r, 20));
    expect(broker.packets('publish')).toHaveLength(0);
    broker.send({ type: 'suback', messageId: sub.messageId, granted: [0] });
    await until(() => p.settled === 1);
    expect(broker.received.map((r) => r.packet.type)).toEqual(['connect', 'subscribe', 'publish']);
  });

  it('publishes made by the hook or a connected listener queue behind the retransmissions', async () => {
    broker.behaviour.puback = (conn) => conn > 0;
    const s = session();
    await connected(s);
    const old = track(s.publish('t', 'old', { qos: 1 }));
    await until(() => broker.packets('publish', 0).length === 1);
    const fresh: ReturnType<typeof track>[] = [];
    s.onConnect = () => {
      fresh.push(track(s.publish('t', 'from-hook', { qos: 1 })));
    };
    s.on('connected', () => fresh.push(track(s.publish('t', 'from-listener'))));
    broker.sockets[0]!.destroy();
    await until(() => old.settled === 1 && fresh.length === 2 && fresh.every((p) => p.settled === 1));
    expect(broker.packets('publish', 1).map((p) => [Buffer.from(p.payload).toString(), p.dup])).toEqual([
      ['old', true],
      ['from-hook', false],
      ['from-listener', false],
    ]);
  });

  it('a hook rejected because the connection ended is not reported as an error', async () => {
    broker.behaviour.suback = () => null;
    const s = session({ reconnect: false });
    const errors: unknown[] = [];
    s.on('error', (e) => errors.push(e));
    s.onConnect = () => s.subscribe([{ topic: 'a', qos: 0 }]);
    await connected(s);
    await broker.waitFor((p) => p.type === 'subscribe');
    const failed = nextFailure(s);
    broker.sockets[0]!.destroy();
    await failed;
    await new Promise((r) => setTimeout(r, 10));
    expect(errors).toEqual([]);
  });

  it('a pending async hook really holds the queue', async () => {
    const s = session();
    let release!: () => void;
    s.onConnect = () => new Promise<void>((r) => (release = r));
    await connected(s);
    const p = track(s.publish('t', 'held', { qos: 0 }));
    await new Promise((r) => setTimeout(r, 20));
    expect(p.settled).toBe(0);
    expect(broker.packets('publish')).toHaveLength(0);
    release();
    await until(() => p.settled === 1);
    expect(broker.packets('publish')).toHaveLength(1);
  });

  it('a rejecting hook is reported as an error event and the queue is released anyway', async () => {
    const s = session();
    const errors: unknown[] = [];
    s.on('error', (e) => errors.push(e));
    s.onConnect = () => Promise.reject(new Error('subscribe failed'));
    await connected(s);
    await s.publish('t', 'x', { qos: 1 });
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ code: 'EIO' });
  });
});

describe('credentials per attempt', () => {
  it('calls the password function for every CONNECT (fresh SAS token per connection)', async () => {
    let n = 0;
    const s = session({ username: 'u', password: async () => `token-${++n}` });
    await connected(s);
    broker.sockets[0]!.destroy();
    await until(() => broker.packets('connect').length === 2);
    const passwords = broker.packets('connect').map((c: ConnectPacket) => Buffer.from(c.password!).toString());
    expect(passwords).toEqual(['token-1', 'token-2']);
  });

  it('a throwing password function fails the attempt with EINVAL, without the password in the message', async () => {
    const s = session({ username: 'u', password: () => { throw new Error('vault down'); } });
    const err = await s.connect().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'EINVAL' });
    expect(broker.sockets).toHaveLength(0);
  });
});

describe('reconnectNow()', () => {
  it('DISCONNECTs, reconnects at once with a fresh password and resends what is unacknowledged (DUP=1)', async () => {
    broker.behaviour.puback = (conn) => conn > 0;
    let n = 0;
    const s = session({ reconnect: false, username: 'u', password: () => `sas-${++n}` });
    const log = record(s);
    await connected(s);
    const p = track(s.publish('t', 'm', { qos: 1 }));
    await until(() => broker.packets('publish', 0).length === 1);
    const closed = once(broker, 'connectionClosed');
    s.reconnectNow();
    await closed;
    await until(() => p.settled === 1);
    expect(p.error).toBeUndefined();
    expect(broker.received.filter((r) => r.conn === 0).map((r) => r.packet.type)).toEqual(['connect', 'publish', 'disconnect']);
    const again = broker.packets('publish', 1)[0]!;
    expect(again.dup).toBe(true);
    expect(again.messageId).toBe(broker.packets('publish', 0)[0]!.messageId);
    expect(Buffer.from(broker.packets('connect', 1)[0]!.password!).toString()).toBe('sas-2');
    expect(log.map((e) => e[0]).slice(2, 6)).toEqual(['disconnected', 'reconnecting', 'connecting', 'connected']);
    expect(log[2]).toEqual(['disconnected', undefined]);
    expect(log[3]).toEqual(['reconnecting', { attempt: 1, delayMs: 0, error: undefined }]);
  });

  it('throws ENOTCONN when idle and EINPROGRESS while connecting', async () => {
    const s = session();
    expect(() => s.reconnectNow()).toThrowError(expect.objectContaining({ code: 'ENOTCONN' }) as Error);
    broker.behaviour.connack = () => undefined;
    await s.connect();
    expect(() => s.reconnectNow()).toThrowError(expect.objectContaining({ code: 'EINPROGRESS' }) as Error);
  });
});

describe('backoff (vitest fake timers)', () => {
  it('waits reconnectDelay(attempt) between attempts and gives up after maxAttempts', async () => {
    const policy = { initialDelayMs: 1000, maxDelayMs: 8000, factor: 2, maxAttempts: 4 };
    const s = session({ reconnect: policy, random: () => 0.5 });
    const log = record(s);
    await connected(s);
    const queued = track(s.publish('t', 'x', { qos: 1 }));
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    await broker.close(); // nobody listens any more: every attempt is refused
    broker.sockets[0]?.destroy();
    const delays: number[] = [];
    s.on('reconnecting', (info) => delays.push(info.delayMs));
    for (let i = 0; i < 4; i++) {
      await untilImmediate(() => s.state === 'reconnecting');
      const before = delays.length;
      expect(before).toBe(i + 1);
      vi.advanceTimersByTime(delays[i]! - 1);
      expect(s.state).toBe('reconnecting');
      vi.advanceTimersByTime(1);
      expect(s.state).toBe('connecting');
    }
    await untilImmediate(() => s.state === 'idle');
    expect(delays).toEqual([0, 1, 2, 3].map((a) => reconnectDelay(a, policy, () => 0.5)));
    expect(delays).toEqual([500, 1000, 2000, 4000]);
    const failures = log.filter((e) => e[0] === 'connectionFailed').map((e) => (e[1] as { code: string }).code);
    expect(failures).toEqual(['ECONNREFUSED', 'ECONNREFUSED', 'ECONNREFUSED', 'ECONNREFUSED']);
    vi.useRealTimers();
    await until(() => queued.settled === 1);
    expect(queued.error).toMatchObject({ code: 'ENOTCONN' });
    broker = await FakeBroker.start(); // for afterEach
  });

  it('reconnection off: a lost connection ends the session and rejects what is pending', async () => {
    broker.behaviour.puback = () => false;
    const s = session({ reconnect: false });
    await connected(s);
    const p = s.publish('t', 'x', { qos: 1 });
    await until(() => broker.packets('publish').length === 1);
    const failed = nextFailure(s);
    broker.sockets[0]!.destroy();
    expect(await failed).toMatchObject({ code: 'ECONNRESET' });
    await expect(p).rejects.toMatchObject({ code: 'ENOTCONN', cause: expect.objectContaining({ code: 'ECONNRESET' }) });
    expect(s.state).toBe('idle');
  });
});

describe('caller-supplied sockets', () => {
  it('a single Duplex serves one connection: losing it ends the session even with a policy', async () => {
    const { connect } = await import('node:net');
    const sock = connect(broker.port, '127.0.0.1');
    await once(sock, 'connect');
    const s = session({ socket: sock, host: undefined, reconnect: {} });
    await connected(s);
    const failed = nextFailure(s);
    broker.sockets[0]!.destroy();
    await failed;
    expect(s.state).toBe('idle');
  });

  it('a socket function is called for every attempt, so reconnection works', async () => {
    const { connect } = await import('node:net');
    let calls = 0;
    const s = session({
      host: undefined,
      socket: async () => {
        calls++;
        const sock = connect(broker.port, '127.0.0.1');
        await once(sock, 'connect');
        return sock;
      },
    });
    await connected(s);
    broker.sockets[0]!.destroy();
    await until(() => s.state === 'connected' && calls === 2);
    expect(broker.packets('connect')).toHaveLength(2);
  });

  it('writes a large payload without copying it: the same memory reaches the stream', async () => {
    const written: Uint8Array[] = [];
    const duplex = new PassThrough();
    const origWrite = duplex.write.bind(duplex);
    duplex.write = ((chunk: Uint8Array, ...rest: never[]) => {
      written.push(chunk);
      return origWrite(chunk, ...rest);
    }) as typeof duplex.write;
    // Feed the session a CONNACK as soon as it writes CONNECT (PassThrough echoes writes back, so read our own side).
    const s = session({ socket: duplex, host: undefined, reconnect: false, autoInput: false });
    await s.connect();
    // The stream echoes CONNECT back; drain it and inject a CONNACK instead.
    duplex.read();
    duplex.unshift(Buffer.from([0x20, 2, 0, 0]));
    expect(s.input()).toBe(1);
    expect(s.state).toBe('connected');
    const payload = new Uint8Array(100_000).fill(7);
    const p = s.publish('t', payload, { qos: 0 });
    await p;
    expect(written.some((c) => c.buffer === payload.buffer && c.byteOffset === payload.byteOffset)).toBe(true);
  });
});

export type { Packet };
