import { describe, expect, it } from 'vitest';
import { Fifo, Outgoing, OutgoingPublish } from '../../src/transport/outgoing.js';

const noop = (): void => {};
const pub = (qos: 0 | 1, id: number, size = 10): OutgoingPublish =>
  new OutgoingPublish('t', new Uint8Array(size), qos, id, new Uint8Array(4), noop, noop);

describe('Fifo', () => {
  it('is first in, first out across compaction', () => {
    const f = new Fifo<number>();
    for (let i = 0; i < 5000; i++) f.push(i);
    const out: number[] = [];
    for (let i = 0; i < 3000; i++) out.push(f.shift()!);
    for (let i = 5000; i < 6000; i++) f.push(i);
    expect(f.length).toBe(3000);
    while (f.length > 0) out.push(f.shift()!);
    expect(out).toEqual(Array.from({ length: 6000 }, (_, i) => i));
    expect(f.shift()).toBeUndefined();
  });

  it('unshiftAll puts items back at the front in order; drain empties', () => {
    const f = new Fifo<string>();
    f.push('c');
    f.push('d');
    f.shift();
    f.unshiftAll(['a', 'b']);
    expect(f.drain()).toEqual(['a', 'b', 'd']);
    expect(f.length).toBe(0);
  });
});

describe('Outgoing', () => {
  it('bounds the queue by count and bytes', () => {
    const o = new Outgoing(2, 3, 25);
    expect(o.hasRoom(10)).toBe(true);
    o.enqueue(pub(0, 0));
    o.enqueue(pub(0, 0));
    expect(o.queuedBytes).toBe(20);
    expect(o.hasRoom(6)).toBe(false); // bytes
    expect(o.hasRoom(5)).toBe(true);
    o.enqueue(pub(0, 0, 5));
    expect(o.hasRoom(0)).toBe(false); // count
  });

  it('next() is FIFO and holds a QoS 1 head while the window is full', () => {
    const o = new Outgoing(1, 10, 1000);
    const a = pub(1, 1);
    const b = pub(1, 2);
    const c = pub(0, 0);
    o.enqueue(a);
    o.enqueue(b);
    o.enqueue(c);
    expect(o.next()).toBe(a);
    o.inFlight.set(1, a);
    expect(o.windowOpen).toBe(false);
    expect(o.next()).toBeUndefined(); // b waits; c stays behind it (order is kept)
    o.inFlight.delete(1);
    expect(o.next()).toBe(b);
    expect(o.next()).toBe(c);
    expect(o.queuedBytes).toBe(0);
  });

  it('takeAll returns in-flight (send order) then queued, and empties both', () => {
    const o = new Outgoing(5, 10, 1000);
    const a = pub(1, 7);
    const b = pub(1, 3);
    const c = pub(0, 0);
    o.inFlight.set(7, a);
    o.inFlight.set(3, b);
    o.enqueue(c);
    expect(o.takeAll()).toEqual([a, b, c]);
    expect(o.inFlight.size + o.queue.length + o.queuedBytes).toBe(0);
  });

  it('requeueFront restores order and byte count', () => {
    const o = new Outgoing(5, 10, 1000);
    const a = pub(0, 0, 3);
    const b = pub(0, 0, 4);
    const c = pub(0, 0, 5);
    o.enqueue(c);
    o.requeueFront([a, b]);
    expect(o.queuedBytes).toBe(12);
    expect([o.next(), o.next(), o.next()]).toEqual([a, b, c]);
  });
});
