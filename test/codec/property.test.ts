/**
 * Property tests (fast-check, fixed seed, bounded by numRuns and time): round trips for all 14 packet types,
 * chunking invariance, arbitrary and mutated bytes either decode or throw MqttProtocolError, varint boundaries.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decode,
  encode,
  encodeChunks,
  encodedLength,
  MAX_REMAINING_LENGTH,
  MqttProtocolError,
  PacketDecoder,
  type Packet,
} from '../../src/codec/index.js';
import { checkRemainingLength, readVarint, varint, varintSize, writeVarint } from '../../src/codec/varint.js';
import { comparable, concat, expectSamePackets, hex, protocolError, splitAt } from '../helpers/fixtures.js';
import {
  ackPacket,
  anyPacket,
  boundaryPublish,
  connackPacket,
  connectPacket,
  emptyPacket,
  packetLikeBytes,
  publishPacket,
  runs,
  subackPacket,
  subscribePacket,
  unsubscribePacket,
  VARINT_BOUNDARIES,
} from './arbitraries.js';

/** Decode `bytes` fed as `chunks`: the packets delivered, and the rule of the error that stopped it (or null). */
function streamOutcome(chunks: readonly Uint8Array[]): { packets: Packet[]; rule: string | null } {
  // Large enough for the 2 MiB boundary packets the arbitraries make.
  const decoder = new PacketDecoder({ maxPacketSize: 4 * 1024 * 1024 });
  const packets: Packet[] = [];
  try {
    for (const c of chunks) decoder.push(c, (p) => packets.push(p));
  } catch (err) {
    if (!(err instanceof MqttProtocolError)) throw err;
    return { packets, rule: err.rule };
  }
  return { packets, rule: null };
}

/** `decode(bytes)` either returns a packet that encodes back to exactly `bytes`, or throws MqttProtocolError. */
function decodesCanonicallyOrThrows(bytes: Uint8Array): void {
  let packet: Packet;
  try {
    packet = decode(bytes);
  } catch (err) {
    if (!(err instanceof MqttProtocolError)) throw err;
    expect(err.code).toBe('EPROTO');
    return;
  }
  // The one packet decode() accepts and encode() refuses: a zero-length client identifier with CleanSession 0. A
  // server must read it to answer CONNACK 0x02 (MQTT-3.1.3-8); a client must not send it (MQTT-3.1.3-7).
  if (packet.type === 'connect' && packet.clientId === '' && !packet.cleanSession) {
    expect(protocolError(() => encode(packet)).rule).toBe('MQTT-3.1.3-7');
    return;
  }
  // The codec is strict, so every packet it accepts has exactly one encoding: the one it was given.
  expect(hex(encode(packet))).toBe(hex(bytes));
}

/** Cut points (sorted, unique, inside `length`) from arbitrary numbers. */
function cutsFor(length: number, raw: readonly number[]): number[] {
  return [...new Set(raw.map((r) => r % (length + 1)))].sort((a, b) => a - b);
}

const ARBITRARIES: Array<[string, fc.Arbitrary<Packet>]> = [
  ['CONNECT', connectPacket()],
  ['CONNACK', connackPacket()],
  ['PUBLISH', publishPacket()],
  ['PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK', ackPacket()],
  ['SUBSCRIBE', subscribePacket()],
  ['SUBACK', subackPacket()],
  ['UNSUBSCRIBE', unsubscribePacket()],
  ['PINGREQ, PINGRESP, DISCONNECT', emptyPacket()],
];

describe('round trip: decode(encode(p)) equals p', () => {
  for (const [name, arb] of ARBITRARIES) {
    it(name, () => {
      fc.assert(
        fc.property(arb, (p) => {
          const bytes = encode(p);
          expectSamePackets(decode(bytes), p);
          expect(encodedLength(p)).toBe(bytes.length);
          const chunks = encodeChunks(p);
          expect(hex(concat(...chunks))).toBe(hex(bytes));
          if (p.type === 'publish' && p.payload.length > 0) expect(chunks[1]).toBe(p.payload);
        }),
        runs(300, 700),
      );
    });
  }

  it('PUBLISH with a Remaining Length at each varint boundary, one byte either side', () => {
    fc.assert(
      fc.property(boundaryPublish(), (p) => {
        const bytes = encode(p);
        expect(readVarint(bytes, 1, bytes.length, 0)).toBe(true);
        expect(varint.value).toBe(bytes.length - varint.next);
        expect(varint.next - 1).toBe(varintSize(varint.value));
        expectSamePackets(decode(bytes), p);
      }),
      runs(40, 1500),
    );
  });

  it('all 14 types are generated', () => {
    const seen = new Set(fc.sample(anyPacket(), { numRuns: 2000, seed: 1 }).map((p) => p.type));
    expect(seen.size).toBe(14);
  });
});

describe('chunking invariance', () => {
  it('packets back to back, cut anywhere, decode to the same packets', () => {
    fc.assert(
      fc.property(fc.array(anyPacket(), { minLength: 1, maxLength: 8 }), fc.array(fc.nat(), { maxLength: 12 }), (packets, raw) => {
        const all = concat(...packets.map((p) => encode(p)));
        const out = streamOutcome(splitAt(all, cutsFor(all.length, raw)));
        expect(out.rule).toBeNull();
        expectSamePackets(out.packets, packets);
      }),
      runs(300, 1500),
    );
  });

  it('arbitrary bytes give the same packets and the same error whatever the chunking', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 120 }), fc.array(fc.nat(), { maxLength: 10 }), (bytes, raw) => {
        const whole = streamOutcome([bytes]);
        const split = streamOutcome(splitAt(bytes, cutsFor(bytes.length, raw)));
        expect(comparableOutcome(split)).toEqual(comparableOutcome(whole));
      }),
      runs(2000, 1000),
    );
  });
});

function comparableOutcome(o: { packets: Packet[]; rule: string | null }): unknown {
  return { packets: comparable(o.packets), rule: o.rule };
}

describe('hostile input: decode or MqttProtocolError, never another exception', () => {
  it('arbitrary bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 100 }), decodesCanonicallyOrThrows), runs(5000, 800));
  });

  it('packet-shaped bytes: a valid first byte, a matching Remaining Length, a loosely typed body', () => {
    fc.assert(fc.property(packetLikeBytes(), decodesCanonicallyOrThrows), runs(8000, 1200));
  });

  it('the packet-shaped generator reaches every packet type and most rules (so the fuzzing above means something)', () => {
    const types = new Set<string>();
    const rules = new Set<string>();
    for (const b of fc.sample(packetLikeBytes(), { numRuns: 8000, seed: 1 })) {
      try {
        types.add(decode(b).type);
      } catch (err) {
        rules.add((err as MqttProtocolError).rule);
      }
    }
    expect(types.size).toBe(14);
    expect(rules.size).toBeGreaterThanOrEqual(30);
  });

  it('mutated valid packets: a byte changed, inserted or deleted, or the packet cut short', () => {
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 7 }) }),
      fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), value: fc.constant(0) }),
      fc.record({ kind: fc.constant('cut' as const), at: fc.nat(), value: fc.constant(0) }),
    );
    fc.assert(
      fc.property(anyPacket(), fc.array(mutation, { minLength: 1, maxLength: 3 }), fc.array(fc.nat(), { maxLength: 6 }), (p, ms, raw) => {
        let b = encode(p);
        for (const m of ms) {
          const at = m.at % (b.length + 1);
          if (m.kind === 'set' && at < b.length) b[at] = m.value;
          else if (m.kind === 'flip' && at < b.length) b[at]! ^= 1 << m.value;
          else if (m.kind === 'insert') b = concat(b.subarray(0, at), Uint8Array.of(m.value), b.subarray(at));
          else if (m.kind === 'delete' && at < b.length) b = concat(b.subarray(0, at), b.subarray(at + 1));
          else if (m.kind === 'cut') b = b.slice(0, at);
        }
        decodesCanonicallyOrThrows(b);
        const whole = streamOutcome([b]);
        expect(comparableOutcome(streamOutcome(splitAt(b, cutsFor(b.length, raw))))).toEqual(comparableOutcome(whole));
      }),
      runs(3000, 1500),
    );
  });
});

describe('Remaining Length varint (src/codec/varint.ts)', () => {
  const roundTrip = (n: number): number[] => {
    const out = new Uint8Array(4);
    const end = writeVarint(out, 0, n);
    expect(end).toBe(varintSize(n));
    expect(readVarint(out, 0, end, 0)).toBe(true);
    expect(varint.value).toBe(n);
    expect(varint.next).toBe(end);
    return Array.from(out.subarray(0, end));
  };

  it('encodes each boundary with the expected bytes', () => {
    expect(VARINT_BOUNDARIES.map(roundTrip)).toEqual([
      [0x00],
      [0x7f],
      [0x80, 0x01],
      [0xff, 0x7f],
      [0x80, 0x80, 0x01],
      [0xff, 0xff, 0x7f],
      [0x80, 0x80, 0x80, 0x01],
      [0xff, 0xff, 0xff, 0x7f],
    ]);
    expect(MAX_REMAINING_LENGTH).toBe(268_435_455);
  });

  it('round-trips every value from 0 to 268435455, minimally', () => {
    fc.assert(
      fc.property(fc.oneof(fc.integer({ min: 0, max: MAX_REMAINING_LENGTH }), fc.constantFrom(...VARINT_BOUNDARIES)), (n) => {
        const b = roundTrip(n);
        // Minimal: no trailing zero group.
        if (b.length > 1) expect(b.at(-1)).not.toBe(0);
      }),
      runs(3000, 500),
    );
  });

  it('reports an incomplete varint as "need more bytes", not as an error', () => {
    expect(readVarint(Uint8Array.of(0x80, 0x80, 0x80), 0, 3, 0)).toBe(false);
    expect(readVarint(Uint8Array.of(0xff), 0, 1, 0)).toBe(false);
    expect(readVarint(new Uint8Array(0), 0, 0, 0)).toBe(false);
  });

  it('refuses values above 268435455: encoder check and the 5-byte form', () => {
    expect(() => checkRemainingLength(MAX_REMAINING_LENGTH)).not.toThrow();
    expect(protocolError(() => checkRemainingLength(MAX_REMAINING_LENGTH + 1)).rule).toBe('MQTT-2.2.3');
    const five = new Uint8Array(5);
    expect(writeVarint(five, 0, MAX_REMAINING_LENGTH + 1)).toBe(5);
    expect(Array.from(five)).toEqual([0x80, 0x80, 0x80, 0x80, 0x01]);
    const err = protocolError(() => readVarint(five, 0, 5, 0));
    expect(err.rule).toBe('MQTT-2.2.3');
    expect(err.message).toContain('longer than 4 bytes');
  });

  it('refuses every non-minimal encoding (a trailing zero group)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2_097_151 }), fc.integer({ min: 1, max: 3 }), (n, extra) => {
        const minimal = new Uint8Array(4);
        const len = writeVarint(minimal, 0, n);
        if (len + extra > 4) return;
        const padded = [...minimal.subarray(0, len)];
        padded[padded.length - 1]! |= 0x80;
        for (let i = 1; i < extra; i++) padded.push(0x80);
        padded.push(0x00);
        const err = protocolError(() => readVarint(Uint8Array.from(padded), 0, padded.length, 0));
        expect(err.rule).toBe('MQTT-2.2.3');
        expect(err.message).toContain('not minimally encoded');
      }),
      runs(1000, 400),
    );
  });
});
