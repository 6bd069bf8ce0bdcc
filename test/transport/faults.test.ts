/**
 * Faults between the session and the broker, injected by a TCP proxy: 1-byte re-chunking, delays, resets, a black
 * hole (keepalive must notice), and connections cut at many points of a QoS 1 exchange (every message delivered at
 * least once, retransmissions with DUP=1 and the same id, every promise settled exactly once).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { PublishPacket } from '../../src/codec/index.js';
import { MqttSession, type MqttSessionOptions } from '../../src/transport/index.js';
import { FaultProxy } from '../helpers/fault-proxy.js';
import { FakeBroker } from './fake-broker.js';
import { connected, nextFailure, record, track, until } from './helpers.js';
import { VirtualClock } from './virtual-clock.js';

let broker: FakeBroker;
let proxy: FaultProxy;
const sessions: MqttSession[] = [];

function session(options: Partial<MqttSessionOptions> = {}): MqttSession {
  const s = new MqttSession({
    host: '127.0.0.1',
    port: proxy.port,
    tls: false,
    clientId: 'dev1',
    reconnect: { initialDelayMs: 5 },
    random: () => 0,
    ...options,
  });
  sessions.push(s);
  return s;
}

beforeEach(async () => {
  broker = await FakeBroker.start();
  proxy = await FaultProxy.start(broker.port);
});
afterEach(async () => {
  for (const s of sessions.splice(0)) s.destroy();
  await proxy.close();
  await broker.close();
});

describe('fault proxy', () => {
  it('1-byte pieces both ways: connect, subscribe, QoS 1 both ways still work', async () => {
    proxy.faults.oneByte = true;
    const s = session();
    const got: string[] = [];
    s.on('message', (p) => got.push(Buffer.from(p.payload).toString()));
    await connected(s);
    expect(await s.subscribe([{ topic: 'devices/dev1/messages/devicebound/#', qos: 1 }])).toEqual([1]);
    await s.publish('devices/dev1/messages/events/', 'up-1', { qos: 1 });
    broker.send({ type: 'publish', topic: 'devices/dev1/messages/devicebound/a', payload: Buffer.from('down-1'), qos: 1, dup: false, retain: false, messageId: 4 });
    await broker.waitFor((p) => p.type === 'puback' && p.messageId === 4);
    expect(got).toEqual(['down-1']);
    expect(broker.packets('publish').map((p) => Buffer.from(p.payload).toString())).toEqual(['up-1']);
  });

  it('delays: PUBACKs come late but everything settles', async () => {
    proxy.faults.delayMs = 20;
    const s = session();
    await connected(s);
    const ps = [1, 2, 3].map((i) => s.publish('t', `m${i}`, { qos: 1 }));
    await Promise.all(ps);
    expect(broker.packets('publish')).toHaveLength(3);
  });

  it('a reset (TCP RST) is a network error: the session reconnects and resends with DUP=1', async () => {
    broker.behaviour.puback = (conn) => conn > 0;
    const s = session();
    const log = record(s);
    await connected(s);
    const p = track(s.publish('t', 'x', { qos: 1 }));
    await until(() => broker.packets('publish').length === 1);
    proxy.resetAll();
    await until(() => p.settled === 1);
    expect(p.error).toBeUndefined();
    expect(log.find((e) => e[0] === 'disconnected')?.[1]).toMatchObject({ code: 'ECONNRESET' });
    expect(broker.packets('publish', 1)[0]).toMatchObject({ dup: true, messageId: broker.packets('publish', 0)[0]!.messageId });
  });

  it('a black hole is detected by keepalive (ETIMEDOUT) and the session comes back when the path heals', async () => {
    const clock = new VirtualClock();
    const s = session({ clock, keepaliveSeconds: 10, pingTimeoutMs: 3000 });
    await connected(s);
    proxy.faults.blackhole = true;
    const failed = nextFailure(s);
    clock.advance(10_000); // PINGREQ (swallowed)
    await new Promise((r) => setTimeout(r, 20));
    expect(s.state).toBe('connected');
    clock.advance(3000);
    expect(await failed).toMatchObject({ code: 'ETIMEDOUT' });
    proxy.faults.blackhole = false;
    const back = new Promise((r) => s.once('connected', r));
    clock.advance(5); // the backoff delay (random 0 -> 0 ms, but the timer runs on the virtual clock)
    await back;
    expect(s.state).toBe('connected');
  });
});

describe('connection cut at many points of a QoS 1 exchange', () => {
  const MESSAGES = 5;

  async function exchange(direction: 'up' | 'down', at: number): Promise<void> {
    proxy.faults.cutAfter = { [direction]: at };
    proxy.faults.cutConnections = 1;
    const s = session();
    const pubacks: number[] = [];
    s.on('puback', (id) => pubacks.push(id));
    const connsBefore = broker.sockets.length;
    await s.connect();
    const ps = Array.from({ length: MESSAGES }, (_, i) => track(s.publish('t', `msg-${i}`, { qos: 1 })));
    await until(() => ps.every((p) => p.settled >= 1), 5000, `all promises (cut ${direction} at ${at})`);
    await new Promise((r) => setImmediate(r));
    // every promise settled exactly once, successfully
    expect(ps.map((p) => [p.settled, p.error])).toEqual(ps.map(() => [1, undefined]));
    expect(pubacks).toHaveLength(MESSAGES);
    expect(new Set(pubacks).size).toBe(MESSAGES);
    // every message delivered at least once; each copy after the first is DUP=1 with the same packet id
    const byPayload = new Map<string, PublishPacket[]>();
    for (const p of broker.packets('publish')) {
      const key = Buffer.from(p.payload).toString();
      byPayload.set(key, [...(byPayload.get(key) ?? []), p]);
    }
    for (let i = 0; i < MESSAGES; i++) {
      const copies = byPayload.get(`msg-${i}`);
      expect(copies, `msg-${i} delivered (cut ${direction} at ${at})`).toBeDefined();
      const ids = new Set(copies!.map((c) => c.messageId));
      expect(ids.size, `msg-${i} keeps its packet id`).toBe(1);
      expect(copies!.slice(1).every((c) => c.dup)).toBe(true);
      if (copies!.length > 1) duplicated++;
    }
    // the cut really happened and the session really reconnected
    expect(proxy.cuts).toBe(1);
    await until(() => broker.sockets.length - connsBefore >= 2, 5000, 'a second connection');
    s.destroy();
  }
  let duplicated = 0;

  // The exchange: CONNECT (18 bytes) + 5 PUBLISH (12 bytes each) up; CONNACK (4) + 5 PUBACK (4 each) down.
  const upPoints = Array.from({ length: 27 }, (_, i) => i * 3); // 0..78
  const downPoints = Array.from({ length: 25 }, (_, i) => i); // 0..24

  it('client -> server cut at every 3rd byte', async () => {
    for (const at of upPoints) {
      await exchange('up', at);
      broker.received.length = 0;
      await proxy.close();
      proxy = await FaultProxy.start(broker.port);
    }
    expect(upPoints.at(-1)).toBe(18 + MESSAGES * 12);
    expect(duplicated).toBeGreaterThan(0); // some cuts fell between a PUBLISH and its PUBACK
  });

  it('server -> client cut at every byte', async () => {
    duplicated = 0;
    for (const at of downPoints) {
      await exchange('down', at);
      broker.received.length = 0;
      await proxy.close();
      proxy = await FaultProxy.start(broker.port);
    }
    expect(downPoints.at(-1)).toBe(4 + MESSAGES * 4);
    expect(duplicated).toBeGreaterThan(0); // PUBACKs lost on the way: the messages were sent again with DUP=1
  });
});
