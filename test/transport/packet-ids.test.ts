import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AzureIotHubError } from '../../src/errors.js';
import { isPacketId, MAX_PACKET_ID, PacketIdAllocator } from '../../src/transport/packet-ids.js';

describe('PacketIdAllocator', () => {
  it('hands out 1, 2, 3 ... and never 0 (MQTT-2.3.1-1)', () => {
    const a = new PacketIdAllocator();
    expect([a.allocate(), a.allocate(), a.allocate()]).toEqual([1, 2, 3]);
    expect(a.size).toBe(3);
    expect(a.has(0)).toBe(false);
  });

  it('wraps from 65535 to 1, skipping ids still in use (MQTT-2.3.1-2)', () => {
    const a = new PacketIdAllocator();
    const first = a.allocate(); // 1 stays in use
    for (let i = 2; i <= MAX_PACKET_ID; i++) a.release(a.allocate());
    expect(a.size).toBe(1);
    // the cursor is at 65535; 1 is taken, so the next is 2
    expect(a.allocate()).toBe(2);
    expect(first).toBe(1);
  });

  it('does not reuse a freed id before walking the whole space', () => {
    const a = new PacketIdAllocator();
    const x = a.allocate();
    a.release(x);
    expect(a.allocate()).not.toBe(x);
  });

  it('reserve() refuses an id in use, and allocate() skips a reserved id', () => {
    const a = new PacketIdAllocator();
    expect(a.reserve(2)).toBe(true);
    expect(a.reserve(2)).toBe(false);
    expect(a.allocate()).toBe(1);
    expect(a.allocate()).toBe(3);
    a.release(2);
    expect(a.reserve(2)).toBe(true);
  });

  it('throws ENOBUFS when all 65535 ids are in use', () => {
    const a = new PacketIdAllocator();
    for (let i = 0; i < MAX_PACKET_ID; i++) a.allocate();
    expect(() => a.allocate()).toThrowError(expect.objectContaining({ code: 'ENOBUFS' }) as Error);
    try {
      a.allocate();
    } catch (err) {
      expect(err).toBeInstanceOf(AzureIotHubError);
    }
    a.release(777);
    expect(a.allocate()).toBe(777);
  });

  it('property: never hands out 0 or an id in use, whatever the sequence of operations', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.constant<'alloc'>('alloc'), fc.integer({ min: 0, max: 40 })), { maxLength: 300 }),
        (ops) => {
          const a = new PacketIdAllocator();
          const live = new Set<number>();
          for (const op of ops) {
            if (op === 'alloc') {
              const id = a.allocate();
              expect(id).toBeGreaterThan(0);
              expect(id).toBeLessThanOrEqual(MAX_PACKET_ID);
              expect(live.has(id)).toBe(false);
              live.add(id);
            } else {
              const victim = [...live][op % Math.max(1, live.size)];
              if (victim !== undefined) {
                a.release(victim);
                live.delete(victim);
              }
            }
            expect(a.size).toBe(live.size);
          }
        },
      ),
    );
  });

  it('isPacketId accepts exactly the integers 1..65535', () => {
    expect([1, 65535, 42].every(isPacketId)).toBe(true);
    expect([0, 65536, -1, 1.5, Number.NaN, '1', undefined].some(isPacketId)).toBe(false);
  });
});
