/**
 * PacketDecoder: the annotated fixtures in every chunking, zero-copy views, maxPacketSize before the body, a
 * throwing onPacket, sticky errors and reset().
 */
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_MAX_PACKET_SIZE,
  encode,
  MqttProtocolError,
  PacketDecoder,
  type Packet,
  type PublishPacket,
} from '../../src/codec/index.js';
import {
  byteChunks,
  concat,
  decodeStream,
  expectSamePackets,
  protocolError,
  randomChunks,
  seededRandom,
  splitAt,
  testStreamFixtures,
} from '../helpers/fixtures.js';
import { ALL_FIXTURES } from './fixture-data.js';

const PINGREQ = Uint8Array.of(0xc0, 0);
const PINGRESP = Uint8Array.of(0xd0, 0);

function publish(topic: string, payload: Uint8Array, messageId?: number): PublishPacket {
  return messageId === undefined
    ? { type: 'publish', topic, payload, qos: 0, dup: false, retain: false }
    : { type: 'publish', topic, payload, qos: 1, dup: false, retain: false, messageId };
}

/** First byte and Remaining Length of a PUBLISH QoS 0 claiming `rem` body bytes. */
function publishHeader(rem: number): Uint8Array {
  const out = [0x30];
  do {
    out.push((rem % 128) | (rem >= 128 ? 0x80 : 0));
    rem = Math.floor(rem / 128);
  } while (rem > 0);
  return Uint8Array.from(out);
}

describe('every fixture, in every chunking', () => testStreamFixtures(ALL_FIXTURES, 2024));

describe('all fixtures back to back', () => {
  const all = concat(...ALL_FIXTURES.map((f) => f.bytes));
  const expected = ALL_FIXTURES.map((f) => f.packet);

  it('in one chunk: every packet in order, push returns the count', () => {
    const decoder = new PacketDecoder();
    const out: Packet[] = [];
    expect(decoder.push(all, (p) => out.push(p))).toBe(expected.length);
    expectSamePackets(out, expected);
    expect(decoder.buffered).toBe(0);
  });

  it('one byte at a time', () => {
    expectSamePackets(decodeStream(byteChunks(all)), expected);
  });

  it('in seeded random chunkings, small and large', () => {
    const random = seededRandom(7);
    for (const max of [2, 5, 13, 100, 1000, 5000, 40000]) {
      expectSamePackets(decodeStream(randomChunks(all, random, max)), expected);
    }
  });

  it('decodeAll returns the packets a chunk completed', () => {
    const decoder = new PacketDecoder();
    const half = Math.floor(all.length / 2);
    const first = decoder.decodeAll(all.subarray(0, half));
    const second = decoder.decodeAll(all.subarray(half));
    expectSamePackets([...first, ...second], expected);
  });
});

describe('Remaining Length boundaries through the stream', () => {
  it('a PUBLISH with a 4-byte Remaining Length (2097152), the header split at every offset', () => {
    const big = publish('a', new Uint8Array(2_097_152 - 3).fill(0x5a));
    const b = encode(big);
    expect(Array.from(b.subarray(0, 5))).toEqual([0x30, 0x80, 0x80, 0x80, 0x01]);
    for (let cut = 1; cut <= 6; cut++) {
      const decoder = new PacketDecoder({ maxPacketSize: 4 * 1024 * 1024 });
      const out = decodeStream(splitAt(b, [cut, cut + 65536]), decoder);
      expect(out).toHaveLength(1);
      expect((out[0] as PublishPacket).payload.length).toBe(2_097_152 - 3);
      expect((out[0] as PublishPacket).payload.every((x) => x === 0x5a)).toBe(true);
    }
  });

  it('a PUBLISH with a 3-byte Remaining Length (2097151) in 64 KiB chunks', () => {
    const big = publish('a', new Uint8Array(2_097_151 - 3).fill(0x11));
    const b = encode(big);
    expect(Array.from(b.subarray(0, 4))).toEqual([0x30, 0xff, 0xff, 0x7f]);
    const chunks: Uint8Array[] = [];
    for (let i = 0; i < b.length; i += 65536) chunks.push(b.subarray(i, i + 65536));
    expectSamePackets(decodeStream(chunks, new PacketDecoder({ maxPacketSize: 4 * 1024 * 1024 })), [big]);
  });
});

describe('zero copy and memory ownership', () => {
  it('a packet that lies in one chunk has its payload as a view of that chunk', () => {
    const chunk = concat(PINGREQ, encode(publish('t', Uint8Array.of(1, 2, 3))), PINGRESP);
    const out = new PacketDecoder().decodeAll(chunk);
    const p = out[1] as PublishPacket;
    expect(p.payload.buffer).toBe(chunk.buffer);
    expect(p.payload.byteOffset).toBe(2 + 2 + 2 + 1);
  });

  it('payloads of split packets are never overwritten by later pushes', () => {
    const decoder = new PacketDecoder();
    const kept: PublishPacket[] = [];
    const random = seededRandom(3);
    for (let i = 0; i < 20; i++) {
      const b = encode(publish('a/b', new Uint8Array(300 + i).fill(i), i + 1));
      for (const c of randomChunks(b, random, 50)) decoder.push(c, (p) => kept.push(p as PublishPacket));
    }
    expect(kept).toHaveLength(20);
    kept.forEach((p, i) => {
      expect(p.payload.length).toBe(300 + i);
      expect(p.payload.every((x) => x === i)).toBe(true);
      expect(p.messageId).toBe(i + 1);
    });
    // Each split packet got memory of its own: small ones share slabs, but no two payloads' byte ranges overlap.
    const ranges = kept
      .map((p) => ({ buffer: p.payload.buffer, start: p.payload.byteOffset, end: p.payload.byteOffset + p.payload.length }))
      .sort((a, b) => a.start - b.start);
    for (let i = 0; i < ranges.length; i++) {
      for (let j = i + 1; j < ranges.length; j++) {
        if (ranges[i]!.buffer !== ranges[j]!.buffer) continue;
        expect(ranges[j]!.start >= ranges[i]!.end || ranges[i]!.start >= ranges[j]!.end).toBe(true);
      }
    }
  });

  it('the decoder never writes into the chunks it is given', () => {
    const b = concat(...ALL_FIXTURES.map((f) => f.bytes));
    const copy = b.slice();
    const random = seededRandom(11);
    decodeStream(randomChunks(b, random, 9));
    expect(b).toEqual(copy);
  });
});

describe('maxPacketSize', () => {
  it('defaults to 1 MiB', () => {
    expect(new PacketDecoder().maxPacketSize).toBe(DEFAULT_MAX_PACKET_SIZE);
    expect(DEFAULT_MAX_PACKET_SIZE).toBe(1024 * 1024);
  });

  it('refuses a 100 MB PUBLISH from its fixed header alone, without allocating its body', () => {
    const header = publishHeader(100 * 1024 * 1024);
    expect(header).toHaveLength(5);
    for (const chunks of [[header], byteChunks(header)]) {
      const before = process.memoryUsage().arrayBuffers;
      const decoder = new PacketDecoder();
      const err = protocolError(() => {
        for (const c of chunks) decoder.push(c, () => expect.fail('no packet expected'));
      });
      expect(err.code).toBe('EMSGSIZE');
      expect(err.rule).toBe('maxPacketSize');
      expect(err.message).toContain(String(100 * 1024 * 1024 + 5));
      expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(1024 * 1024);
    }
  });

  it('a hostile length under the limit does not make the decoder allocate it: the buffer tracks bytes received', () => {
    const decoder = new PacketDecoder({ maxPacketSize: 256 * 1024 * 1024 });
    const before = process.memoryUsage().arrayBuffers;
    decoder.push(publishHeader(200 * 1024 * 1024), () => expect.fail('no packet expected'));
    decoder.push(Uint8Array.of(0, 1, 0x74, 1, 2, 3), () => expect.fail('no packet expected'));
    expect(decoder.buffered).toBe(5 + 6);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(1024 * 1024);
  });

  it('accepts a packet of exactly maxPacketSize and refuses one byte more, whole or split', () => {
    const max = 200;
    const exact = encode(publish('t', new Uint8Array(max - 3 - 3)));
    const over = encode(publish('t', new Uint8Array(max - 3 - 3 + 1)));
    expect(exact).toHaveLength(max);
    for (const split of [false, true]) {
      const chunks = (b: Uint8Array): Uint8Array[] => (split ? splitAt(b, [1, 2]) : [b]);
      expect(decodeStream(chunks(exact), new PacketDecoder({ maxPacketSize: max }))).toHaveLength(1);
      const decoder = new PacketDecoder({ maxPacketSize: max });
      const err = protocolError(() => {
        for (const c of chunks(over)) decoder.push(c, () => {});
      });
      expect(err.code).toBe('EMSGSIZE');
    }
  });

  it('rejects an invalid maxPacketSize', () => {
    for (const bad of [0, 1, 1.5, Number.NaN, -5]) {
      expect(() => new PacketDecoder({ maxPacketSize: bad })).toThrow(RangeError);
    }
  });
});

describe('a throwing onPacket', () => {
  it('propagates, and the rest of the chunk is decoded on the next push', () => {
    const decoder = new PacketDecoder();
    const seen: string[] = [];
    const chunk = concat(PINGREQ, PINGRESP, PINGREQ);
    expect(() =>
      decoder.push(chunk, (p) => {
        seen.push(p.type);
        throw new Error('handler failed');
      }),
    ).toThrow('handler failed');
    expect(seen).toEqual(['pingreq']);
    expect(decoder.push(new Uint8Array(0), (p) => seen.push(p.type))).toBe(2);
    expect(seen).toEqual(['pingreq', 'pingresp', 'pingreq']);
  });

  it('keeps a new chunk pushed while a backlog is pending, even when onPacket throws again', () => {
    const decoder = new PacketDecoder();
    const seen: string[] = [];
    const throwing = (p: Packet): void => {
      seen.push(p.type);
      throw new Error('again');
    };
    expect(() => decoder.push(concat(PINGREQ, PINGREQ, PINGREQ), throwing)).toThrow('again');
    expect(() => decoder.push(concat(PINGRESP, PINGRESP), throwing)).toThrow('again');
    expect(() => decoder.push(Uint8Array.of(0xe0, 0), throwing)).toThrow('again');
    decoder.push(new Uint8Array(0), (p) => seen.push(p.type));
    expect(seen).toEqual(['pingreq', 'pingreq', 'pingreq', 'pingresp', 'pingresp', 'disconnect']);
  });

  it('keeps the rest of the chunk after a packet assembled from several chunks', () => {
    const decoder = new PacketDecoder();
    const pub = encode(publish('t', Uint8Array.of(9)));
    decoder.push(pub.subarray(0, 3), () => expect.fail('not complete yet'));
    const seen: string[] = [];
    expect(() =>
      decoder.push(concat(pub.subarray(3), PINGRESP), (p) => {
        seen.push(p.type);
        throw new Error('boom');
      }),
    ).toThrow('boom');
    decoder.push(new Uint8Array(0), (p) => seen.push(p.type));
    expect(seen).toEqual(['publish', 'pingresp']);
  });

  it('does not put the decoder in the failed state, even when it throws an MqttProtocolError of its own', () => {
    const decoder = new PacketDecoder();
    const mine = new MqttProtocolError('MQTT-2.3.1-1', 'the handler refused something');
    expect(() =>
      decoder.push(concat(PINGREQ, PINGRESP), () => {
        throw mine;
      }),
    ).toThrow(mine);
    const seen: string[] = [];
    expect(decoder.push(PINGREQ, (p) => seen.push(p.type))).toBe(2);
    expect(seen).toEqual(['pingresp', 'pingreq']);
  });
});

describe('errors', () => {
  it('packets before the malformed one are delivered, then the error is thrown', () => {
    const decoder = new PacketDecoder();
    const seen: string[] = [];
    const err = protocolError(() => decoder.push(concat(PINGREQ, PINGRESP, Uint8Array.of(0xf0, 0)), (p) => seen.push(p.type)));
    expect(err.rule).toBe('MQTT-2.2.1');
    expect(seen).toEqual(['pingreq', 'pingresp']);
  });

  it('stick until reset(): every later push throws the same error, whatever it carries', () => {
    const decoder = new PacketDecoder();
    const err = protocolError(() => decoder.push(Uint8Array.of(0x60, 2, 0, 1), () => {}));
    expect(err.rule).toBe('MQTT-3.6.1-1');
    for (const chunk of [PINGREQ, new Uint8Array(0), encode(publish('t', Uint8Array.of(1)))]) {
      expect(protocolError(() => decoder.push(chunk, () => expect.fail('failed decoder delivered')))).toBe(err);
    }
    decoder.reset();
    expect(decoder.decodeAll(PINGREQ)).toEqual([{ type: 'pingreq' }]);
  });

  it('an error in the middle of a split packet sticks too', () => {
    const decoder = new PacketDecoder();
    decoder.push(Uint8Array.of(0x30, 5, 0, 2), () => {});
    const err = protocolError(() => decoder.push(Uint8Array.of(0x61, 0x2b, 0x78), () => {}));
    expect(err.rule).toBe('MQTT-3.3.2-2');
    expect(protocolError(() => decoder.push(PINGREQ, () => {}))).toBe(err);
  });

  it('offsets count from the first byte of the packet, also for a packet assembled from chunks', () => {
    const bad = Uint8Array.of(0x32, 5, 0, 1, 0x74, 0, 0); // PUBLISH QoS 1, packet identifier 0 at offset 5
    const whole = protocolError(() => new PacketDecoder().push(concat(PINGREQ, bad), () => {}));
    const split = protocolError(() => decodeStream(byteChunks(bad)));
    expect(whole.rule).toBe('MQTT-2.3.1-1');
    expect(whole.offset).toBe(5);
    expect(split.offset).toBe(5);
  });
});

describe('reset() and buffered', () => {
  it('buffered counts the bytes of an incomplete packet, header and body', () => {
    const decoder = new PacketDecoder();
    const b = encode(publish('t', new Uint8Array(200), 1)); // 3-byte header
    expect(decoder.buffered).toBe(0);
    decoder.push(b.subarray(0, 2), () => {});
    expect(decoder.buffered).toBe(2);
    decoder.push(b.subarray(2, 50), () => {});
    expect(decoder.buffered).toBe(50);
    decoder.push(b.subarray(50), () => {});
    expect(decoder.buffered).toBe(0);
  });

  it('reset() forgets a partial packet', () => {
    const decoder = new PacketDecoder();
    decoder.push(encode(publish('t', new Uint8Array(50))).subarray(0, 20), () => expect.fail('incomplete'));
    decoder.reset();
    expect(decoder.buffered).toBe(0);
    expect(decoder.decodeAll(PINGRESP)).toEqual([{ type: 'pingresp' }]);
  });

  it('reset() called from inside onPacket ends the push: no packet of the old chunk follows', () => {
    const decoder = new PacketDecoder();
    const seen: string[] = [];
    const n = decoder.push(concat(PINGREQ, Uint8Array.of(0xe0, 0), PINGRESP, PINGRESP), (p) => {
      seen.push(p.type);
      if (p.type === 'disconnect') decoder.reset();
    });
    expect(n).toBe(2);
    expect(seen).toEqual(['pingreq', 'disconnect']);
    expect(decoder.buffered).toBe(0);
    expect(decoder.decodeAll(PINGREQ)).toEqual([{ type: 'pingreq' }]);
  });

  it('reset() from inside onPacket drops the pending backlog, the new chunk included', () => {
    const decoder = new PacketDecoder();
    expect(() =>
      decoder.push(concat(PINGREQ, PINGREQ, PINGREQ), () => {
        throw new Error('first');
      }),
    ).toThrow('first');
    const seen: string[] = [];
    const n = decoder.push(PINGRESP, (p) => {
      seen.push(p.type);
      decoder.reset();
    });
    expect(n).toBe(1);
    expect(seen).toEqual(['pingreq']);
    expect(decoder.decodeAll(Uint8Array.of(0xe0, 0))).toEqual([{ type: 'disconnect' }]);
  });

  it('reset() then a throw from inside onPacket, on a packet assembled from chunks, keeps nothing of the chunk', () => {
    const decoder = new PacketDecoder();
    const pub = encode(publish('t', Uint8Array.of(1)));
    decoder.push(pub.subarray(0, 2), () => expect.fail('incomplete'));
    const seen: string[] = [];
    expect(() =>
      decoder.push(concat(pub.subarray(2), PINGRESP), (p) => {
        seen.push(p.type);
        decoder.reset();
        throw new Error('handler failed after reset');
      }),
    ).toThrow('handler failed after reset');
    expect(seen).toEqual(['publish']);
    expect(decoder.decodeAll(PINGREQ)).toEqual([{ type: 'pingreq' }]);
  });

  it('reset() drops a backlog left by a throwing onPacket', () => {
    const decoder = new PacketDecoder();
    expect(() =>
      decoder.push(concat(PINGREQ, PINGREQ), () => {
        throw new Error('x');
      }),
    ).toThrow('x');
    decoder.reset();
    expect(decoder.decodeAll(PINGRESP)).toEqual([{ type: 'pingresp' }]);
  });
});

describe('plain Uint8Array payloads', () => {
  it('a Buffer chunk yields plain Uint8Array payloads that still view the same memory', async () => {
    const { Buffer } = await import('node:buffer');
    const bytes = encode(publish('t', Uint8Array.of(7, 8, 9)));
    const chunk = Buffer.from(bytes);
    const [p] = new PacketDecoder().decodeAll(chunk) as PublishPacket[];
    expect(p!.payload.constructor).toBe(Uint8Array);
    expect(p!.payload.buffer).toBe(chunk.buffer);
    expect([...p!.payload]).toEqual([7, 8, 9]);
  });
});

describe('skipping an oversized PUBLISH (onOversizedPublish)', () => {
  const big = encode(publish('devices/d/messages/devicebound/%24.mid=1', new Uint8Array(5000).fill(9), 42));
  const after = encode(publish('t/after', Uint8Array.of(1, 2), 43));
  const stream = concat(PINGRESP, big, after, PINGRESP);

  function run(chunks: Uint8Array[], max = 1000): { packets: Packet[]; skipped: unknown[]; decoder: PacketDecoder } {
    const skipped: unknown[] = [];
    const decoder = new PacketDecoder({ maxPacketSize: max, onOversizedPublish: (info) => skipped.push(info) });
    const packets: Packet[] = [];
    for (const c of chunks) decoder.push(c, (p) => packets.push(p));
    return { packets, skipped, decoder };
  }

  for (const [name, chunks] of [
    ['one chunk', [stream]],
    ['byte at a time', byteChunks(stream)],
    ['random chunks', randomChunks(stream, seededRandom(5), 700)],
  ] as const) {
    it(`reports it once, keeps the stream in step and buffers at most its header (${name})`, () => {
      const { packets, skipped, decoder } = run([...chunks]);
      expect(skipped).toEqual([
        { topic: 'devices/d/messages/devicebound/%24.mid=1', qos: 1, dup: false, retain: false, messageId: 42, size: big.length },
      ]);
      expect(packets.map((p) => p.type)).toEqual(['pingresp', 'publish', 'pingresp']);
      expect((packets[1] as PublishPacket).messageId).toBe(43);
      expect(decoder.buffered).toBe(0);
    });
  }

  it('holds only the variable header while skipping, however much payload has arrived', () => {
    const decoder = new PacketDecoder({ maxPacketSize: 1000, onOversizedPublish: () => undefined });
    decoder.push(big.subarray(0, 4000), () => undefined);
    expect(decoder.buffered).toBeLessThan(100);
  });

  it('an oversized packet of another type still fails with EMSGSIZE', () => {
    const decoder = new PacketDecoder({ maxPacketSize: 10, onOversizedPublish: () => undefined });
    const suback = encode({ type: 'suback', messageId: 1, granted: new Array(20).fill(0) });
    const err = protocolError(() => decoder.push(suback, () => undefined));
    expect(err.code).toBe('EMSGSIZE');
  });

  it('a malformed topic in a skipped PUBLISH is still a protocol error', () => {
    const bad = big.slice();
    bad[5] = 0x23; // '#' inside the topic name
    const decoder = new PacketDecoder({ maxPacketSize: 1000, onOversizedPublish: () => undefined });
    expect(protocolError(() => decoder.push(bad, () => undefined)).rule).toBe('MQTT-3.3.2-2');
  });

  it('without onOversizedPublish the limit still throws EMSGSIZE', () => {
    const err = protocolError(() => new PacketDecoder({ maxPacketSize: 1000 }).push(big, () => undefined));
    expect(err.code).toBe('EMSGSIZE');
  });
});
