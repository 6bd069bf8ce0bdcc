/**
 * The input/ping loop in both modes. Manual (`autoInput: false`, the C API): nothing is read or pinged before the
 * application calls `input()` / `ping()`. Automatic: pings on time and dead-connection detection. Time is virtual.
 */
import { once } from 'node:events';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { MqttSession } from '../../src/transport/index.js';
import { FakeBroker } from './fake-broker.js';
import { connected, nextFailure, plainSession, record, until } from './helpers.js';
import { VirtualClock } from './virtual-clock.js';

let broker: FakeBroker;
let clock: VirtualClock;
const sessions: MqttSession[] = [];
function session(options: Parameters<typeof plainSession>[1] = {}): MqttSession {
  const s = plainSession(broker, { clock, ...options });
  sessions.push(s);
  return s;
}
const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 30));

beforeEach(async () => {
  broker = await FakeBroker.start();
  clock = new VirtualClock();
});
afterEach(async () => {
  for (const s of sessions.splice(0)) s.destroy();
  await broker.close();
});

describe('manual mode (autoInput: false)', () => {
  it('reads nothing before input(); input() handles what is buffered and returns the packet count', async () => {
    broker.behaviour.connack = () => undefined;
    broker.on('packet', (p: { type: string }) => {
      if (p.type !== 'connect') return;
      broker.send({ type: 'connack', returnCode: 0, sessionPresent: false });
      broker.send({ type: 'publish', topic: 'c2d', payload: Buffer.from('hi'), qos: 1, dup: false, retain: false, messageId: 9 });
    });
    const s = session({ autoInput: false });
    const log = record(s);
    await s.connect();
    await broker.waitFor((p) => p.type === 'connect');
    await settle();
    expect(s.state).toBe('connecting'); // the CONNACK sits unread in the socket
    expect(log.map((e) => e[0])).toEqual(['connecting']);
    expect(broker.packets('puback')).toHaveLength(0);
    let handled = 0;
    await until(() => (handled += s.input()) >= 2); // both packets may take a moment to reach the socket buffer
    expect(handled).toBe(2);
    expect(s.state).toBe('connected');
    expect(log.map((e) => e[0])).toEqual(['connecting', 'connected', 'message']);
    await broker.waitFor((p) => p.type === 'puback' && p.messageId === 9);
    expect(s.input()).toBe(0); // nothing more buffered: returns at once
  });

  it('keepaliveTimeLeft() counts down and resets on traffic; nothing is pinged automatically', async () => {
    broker.behaviour.pingresp = true;
    const s = session({ autoInput: false, keepaliveSeconds: 10, pingTimeoutMs: 2000 });
    expect(s.keepaliveTimeLeft()).toBe(-1); // not connected
    await s.connect();
    await until(() => s.input() === 1);
    expect(s.keepaliveTimeLeft()).toBe(10_000);
    clock.advance(3000);
    expect(s.keepaliveTimeLeft()).toBe(7000);
    await s.publish('t', 'x'); // resolves when written: the send resets the countdown
    expect(s.keepaliveTimeLeft()).toBe(10_000);
    clock.advance(25_000);
    expect(s.keepaliveTimeLeft()).toBe(0);
    await settle();
    expect(broker.packets('pingreq')).toHaveLength(0); // overdue, but the application has not called ping()
    s.ping();
    expect(s.keepaliveTimeLeft()).toBe(2000); // the PINGREQ deadline comes before the next period
    await broker.waitFor((p) => p.type === 'pingreq');
    await until(() => s.input() === 1); // the PINGRESP
    expect(s.keepaliveTimeLeft()).toBe(10_000);
  });

  it('ping() after an unanswered PINGREQ past its deadline declares the connection dead (ETIMEDOUT)', async () => {
    broker.behaviour.pingresp = false;
    const s = session({ autoInput: false, keepaliveSeconds: 10, pingTimeoutMs: 2000 });
    await s.connect();
    await until(() => s.input() === 1);
    s.ping();
    clock.advance(1999);
    s.ping(); // still within the deadline: a second PINGREQ
    clock.advance(1);
    expect(s.keepaliveTimeLeft()).toBe(0);
    const failed = nextFailure(s);
    s.ping();
    expect(await failed).toMatchObject({ code: 'ETIMEDOUT' });
    expect(() => s.ping()).toThrowError(expect.objectContaining({ code: 'ENOTCONN' }) as Error);
  });

  it('the CONNACK deadline is checked by input(), never by a timer', async () => {
    broker.behaviour.connack = () => undefined;
    const s = session({ autoInput: false, connectTimeoutMs: 5000 });
    const log = record(s);
    await s.connect();
    clock.advance(60_000);
    expect(s.state).toBe('connecting');
    const failed = nextFailure(s);
    expect(s.input()).toBe(0);
    expect(await failed).toMatchObject({ code: 'ETIMEDOUT' });
    expect(log.map((e) => e[0])).toEqual(['connecting', 'connectionFailed']);
  });

  it('input() called from a message listener does not re-enter the decoder', async () => {
    const s = session({ autoInput: false });
    const topics: string[] = [];
    const nested: number[] = [];
    s.on('message', (p) => {
      topics.push(p.topic);
      nested.push(s.input());
    });
    await s.connect();
    await until(() => s.input() === 1);
    for (const t of ['a', 'b', 'c']) broker.send({ type: 'publish', topic: t, payload: new Uint8Array(0), qos: 0, dup: false, retain: false });
    let handled = 0;
    await until(() => (handled += s.input()) >= 3);
    expect(handled).toBe(3);
    expect(topics).toEqual(['a', 'b', 'c']);
    expect(nested).toEqual([0, 0, 0]);
  });

  it('input() returns 0 when there is no connection', () => {
    const s = session({ autoInput: false });
    expect(s.input()).toBe(0);
  });
});

describe('automatic mode keepalive', () => {
  it('sends PINGREQ after a silent period and not while traffic flows', async () => {
    const s = session({ keepaliveSeconds: 5, pingTimeoutMs: 3000 });
    await connected(s);
    clock.advance(4000);
    await s.publish('t', 'keeps it alive');
    clock.advance(4000);
    await settle();
    expect(broker.packets('pingreq')).toHaveLength(0);
    clock.advance(1000);
    await broker.waitFor((p) => p.type === 'pingreq');
    expect(s.keepaliveTimeLeft()).toBe(3000); // the PINGRESP deadline
    await until(() => s.keepaliveTimeLeft() === 5000); // PINGRESP arrived: back to the period
    clock.advance(5000);
    await until(() => broker.packets('pingreq').length === 2);
    expect(s.state).toBe('connected');
  });

  it('declares the connection dead when nothing answers a PINGREQ within pingTimeoutMs', async () => {
    broker.behaviour.pingresp = false;
    const s = session({ keepaliveSeconds: 5, pingTimeoutMs: 1000 });
    await connected(s);
    const failed = nextFailure(s);
    const closed = once(broker, 'connectionClosed');
    clock.advance(5000);
    await broker.waitFor((p) => p.type === 'pingreq');
    clock.advance(999);
    await settle();
    expect(s.state).toBe('connected');
    clock.advance(1);
    expect(await failed).toMatchObject({ code: 'ETIMEDOUT' });
    await closed;
  });

  it('keepalive 0 disables pings and keepaliveTimeLeft() is -1', async () => {
    const s = session({ keepaliveSeconds: 0 });
    await connected(s);
    expect(s.keepaliveTimeLeft()).toBe(-1);
    clock.advance(10 * 60_000);
    await settle();
    expect(broker.packets('pingreq')).toHaveLength(0);
    expect(clock.pending).toBe(0);
  });

  it('uses one keepalive timer per connection', async () => {
    const s = session({ keepaliveSeconds: 5, connectTimeoutMs: 0 });
    await connected(s);
    expect(clock.pending).toBe(1);
    for (let i = 0; i < 100; i++) void s.publish('t', 'x');
    await settle();
    expect(clock.pending).toBe(1);
  });
});
