/**
 * The transport half of the overflow policy (`queueOverflow` of MqttSession, which `config.queue.overflow` maps to):
 * `drop-oldest` drops the oldest queued publishes (never one in flight) with ENOBUFS and a `dropped` event, by count
 * and by bytes; `bypassQueueLimit` queues carried-over publishes past the bound; `canPublish` predicts admission.
 * Against the transport tests' scriptable broker (our codec, plain TCP on loopback).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AzureIotHubError } from '../../../src/errors.js';
import type { DroppedPublish } from '../../../src/transport/options.js';
import { MqttSession } from '../../../src/transport/index.js';
import { Outgoing, OutgoingPublish } from '../../../src/transport/outgoing.js';
import { FakeBroker } from '../../transport/fake-broker.js';
import { connected, plainSession, track, until } from '../../transport/helpers.js';

const noop = (): void => {};
const pub = (id: number, size: number): OutgoingPublish => new OutgoingPublish('t', new Uint8Array(size), 1, id, new Uint8Array(4), noop, noop);

describe('Outgoing.dropOldestFor', () => {
  it('removes the oldest queued publishes until the new one fits, by count and by bytes', () => {
    const o = new Outgoing(1, 3, 30);
    const [a, b, c] = [pub(1, 10), pub(2, 10), pub(3, 5)];
    o.enqueue(a);
    o.enqueue(b);
    o.enqueue(c);
    expect(o.dropOldestFor(1)).toEqual([a]); // count: 3 of 3
    expect(o.queuedBytes).toBe(15);
    o.enqueue(pub(4, 5));
    expect(o.dropOldestFor(25)).toEqual([b, c]); // bytes: 20 + 25 > 30, 10 + 25 > 30, 5 + 25 <= 30 (count 1 < 3)
    expect(o.queuedBytes).toBe(5);
    expect(o.queue.length).toBe(1);
  });

  it('returns undefined and removes nothing when the publish cannot fit even in an empty queue', () => {
    const o = new Outgoing(1, 2, 30);
    o.enqueue(pub(1, 10));
    expect(o.dropOldestFor(31)).toBeUndefined();
    expect(o.queue.length).toBe(1);
    expect(new Outgoing(1, 0, 30).dropOldestFor(0)).toBeUndefined();
    expect(o.dropOldestFor(5)).toEqual([]); // fits already
  });
});

let broker: FakeBroker;
const sessions: MqttSession[] = [];
let held: number[];
function session(options: Parameters<typeof plainSession>[1] = {}): MqttSession {
  const s = plainSession(broker, options);
  sessions.push(s);
  return s;
}
function release(): void {
  for (const id of held.splice(0)) broker.send({ type: 'puback', messageId: id });
}
const payloads = (): string[] => broker.packets('publish').map((p) => Buffer.from(p.payload).toString());

beforeEach(async () => {
  broker = await FakeBroker.start();
  held = [];
  broker.behaviour.puback = (_c, id) => {
    held.push(id);
    return false;
  };
});
afterEach(async () => {
  for (const s of sessions.splice(0)) s.destroy();
  await broker.close();
});

describe("queueOverflow: 'drop-oldest'", () => {
  it('drops the oldest queued publishes (never the in-flight ones): ENOBUFS for each, one dropped event per publish', async () => {
    const s = session({ inFlightWindow: 2, maxQueued: 3, queueOverflow: 'drop-oldest' });
    const events: DroppedPublish[][] = [];
    s.on('dropped', (d) => events.push(d));
    await connected(s);
    const ps = Array.from({ length: 8 }, (_, i) => track(s.publish('t', `m${i}`, { qos: 1 })));
    await until(() => held.length === 2);
    expect([s.inFlightCount, s.queuedCount]).toEqual([2, 3]);
    // m5, m6 and m7 each pushed out the oldest queued one: m2, m3, m4. m0 and m1 were in flight.
    expect(events.map((e) => e.map((d) => d.payloadBytes))).toEqual([[2], [2], [2]]);
    expect(events.flat().every((d) => d.topic === 't' && d.qos === 1 && d.messageId > 0)).toBe(true);
    await until(() => ps.filter((p) => p.settled === 1).length === 3);
    expect(ps.map((p) => (p.error as AzureIotHubError | undefined)?.code)).toEqual([undefined, undefined, 'ENOBUFS', 'ENOBUFS', 'ENOBUFS', undefined, undefined, undefined]);
    expect((ps[2]!.error as AzureIotHubError).message).toMatch(/drop-oldest/);
    // The dropped ones' packet ids are free again.
    const freed = events[0]![0]!.messageId;
    const again = track(s.publish('t', 'reuse', { qos: 1, messageId: freed }));
    expect(events).toHaveLength(4); // the queue was full again: m5 went
    while (ps.some((p, i) => i >= 6 && p.settled === 0) || again.settled === 0) {
      release();
      await new Promise((r) => setTimeout(r, 2));
    }
    expect(payloads()).toEqual(['m0', 'm1', 'm6', 'm7', 'reuse']);
    expect(ps.map((p) => p.settled)).toEqual([1, 1, 1, 1, 1, 1, 1, 1]);
  });

  it('drops by bytes as well as by count; a publish larger than the whole queue is refused without dropping anything', async () => {
    const s = session({ inFlightWindow: 1, maxQueued: 100, maxQueuedBytes: 10, queueOverflow: 'drop-oldest' });
    const events: DroppedPublish[][] = [];
    s.on('dropped', (d) => events.push(d));
    await connected(s);
    const first = track(s.publish('t', 'inflight', { qos: 1 }));
    const a = track(s.publish('t', 'aaaa', { qos: 1 }));
    const b = track(s.publish('t', 'bbbb', { qos: 0 }));
    const c = track(s.publish('t', 'cccccc', { qos: 1 })); // 4 + 4 + 6 > 10: 'aaaa' goes
    expect(events).toEqual([[{ topic: 't', qos: 1, messageId: expect.any(Number) as number, payloadBytes: 4 }]]);
    await expect(s.publish('t', 'x'.repeat(11), { qos: 1 })).rejects.toMatchObject({ code: 'ENOBUFS' });
    expect(s.queuedCount).toBe(2);
    const d = track(s.publish('t', 'dddddddddd', { qos: 0 })); // 10 bytes: both queued ones go, in one event
    expect(events[1]!.map((e) => [e.qos, e.payloadBytes])).toEqual([[0, 4], [1, 6]]);
    expect(events[1]![0]!.messageId).toBe(0);
    await until(() => [a, b, c].every((p) => p.settled === 1));
    expect([a, b, c].map((p) => (p.error as AzureIotHubError).code)).toEqual(['ENOBUFS', 'ENOBUFS', 'ENOBUFS']);
    await until(() => held.length === 1);
    release();
    await until(() => first.settled === 1 && d.settled === 1);
    expect(payloads()).toEqual(['inflight', 'dddddddddd']);
  });

  it('with maxQueued 0 nothing can wait: a publish that cannot go now is refused', async () => {
    const s = session({ inFlightWindow: 1, maxQueued: 0, queueOverflow: 'drop-oldest' });
    await connected(s);
    void s.publish('t', 'a', { qos: 1 }).catch(noop);
    await expect(s.publish('t', 'b', { qos: 1 })).rejects.toMatchObject({ code: 'ENOBUFS' });
  });

  it("'reject' (the default) never drops: the new publish is refused", async () => {
    const s = session({ inFlightWindow: 1, maxQueued: 1 });
    const events: unknown[] = [];
    s.on('dropped', (d) => events.push(d));
    await connected(s);
    const a = track(s.publish('t', 'a', { qos: 1 }));
    const b = track(s.publish('t', 'b', { qos: 1 }));
    await expect(s.publish('t', 'c', { qos: 1 })).rejects.toMatchObject({ code: 'ENOBUFS', message: expect.stringContaining('full') as string });
    expect(events).toEqual([]);
    await until(() => held.length === 1);
    release();
    await until(() => held.length === 1);
    release();
    await until(() => a.settled === 1 && b.settled === 1);
    expect(payloads()).toEqual(['a', 'b']);
  });

  it('queueOverflow is checked (EINVAL naming it)', () => {
    expect(() => session({ queueOverflow: 'drop-newest' as never })).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringContaining('queueOverflow') }) as Error);
  });
});

describe('bypassQueueLimit and canPublish', () => {
  it('bypassQueueLimit queues past the bound, in order; the bound still applies to later publishes', async () => {
    const s = session({ inFlightWindow: 1, maxQueued: 1 });
    await connected(s);
    const ps = ['a', 'b', 'c', 'd'].map((m, i) => track(s.publish('t', m, { qos: 1, bypassQueueLimit: i > 0 })));
    expect(s.queuedCount).toBe(3);
    await expect(s.publish('t', 'e', { qos: 1 })).rejects.toMatchObject({ code: 'ENOBUFS' });
    while (ps.some((p) => p.settled === 0)) {
      release();
      await new Promise((r) => setTimeout(r, 2));
    }
    expect(payloads()).toEqual(['a', 'b', 'c', 'd']);
  });

  it('canPublish: false when idle or disconnecting; by room with reject; by fitting at all with drop-oldest', async () => {
    const r = session({ inFlightWindow: 1, maxQueued: 1, maxQueuedBytes: 8 });
    expect(r.canPublish(1)).toBe(false); // idle
    await connected(r);
    expect(r.canPublish(100)).toBe(true); // goes out now: no queue bound applies
    void r.publish('t', 'a', { qos: 1 }).catch(noop);
    expect(r.canPublish(9)).toBe(false); // bytes
    expect(r.canPublish(8)).toBe(true);
    expect(r.canPublish(8, 0)).toBe(true); // QoS 0 too waits behind: still room for one
    void r.publish('t', 'b', { qos: 1 }).catch(noop);
    expect(r.canPublish(1)).toBe(false); // count
    const d = session({ inFlightWindow: 1, maxQueued: 1, maxQueuedBytes: 8, queueOverflow: 'drop-oldest' });
    await connected(d);
    void d.publish('t', 'a', { qos: 1 }).catch(noop);
    void d.publish('t', 'b', { qos: 1 }).catch(noop);
    expect(d.canPublish(8)).toBe(true);
    expect(d.canPublish(9)).toBe(false);
    void d.disconnect();
    expect(d.canPublish(1)).toBe(false);
  });
});
