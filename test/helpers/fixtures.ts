/**
 * Annotated byte fixtures for the MQTT codec, in the style of mqtt-packet's test helper: every fixture is written
 * once, as a packet object and as its bytes with a comment per field, and becomes several test cases (parse,
 * encode, round trip, streaming). Negative fixtures name the MQTT 3.1.1 rule the codec must report.
 */
import { describe, expect, it } from 'vitest';
import {
  decode,
  encode,
  encodeChunks,
  encodedLength,
  MqttProtocolError,
  PacketDecoder,
  type Packet,
} from '../../src/codec/index.js';
import { seededRandom } from './random.js';

/**
 * One field of a fixture: a byte, a list of bytes, a `Uint8Array`, or text, which stands for its UTF-8 bytes
 * (without a length prefix: write the prefix as its own field, so that each gets its own comment).
 */
export type Field = number | readonly number[] | Uint8Array | string;

const textEncoder = new TextEncoder();

/** Concatenate fields into one `Uint8Array`. Throws on a number that is not a byte, to catch typos in fixtures. */
export function bytes(...fields: Field[]): Uint8Array {
  const parts: Uint8Array[] = fields.map((f) => {
    if (typeof f === 'string') return textEncoder.encode(f);
    if (f instanceof Uint8Array) return f;
    const list = typeof f === 'number' ? [f] : f;
    for (const b of list) {
      if (!Number.isInteger(b) || b < 0 || b > 255) throw new RangeError(`fixture byte ${b} is not 0..255`);
    }
    return Uint8Array.from(list);
  });
  return concat(...parts);
}

/**
 * A whole packet: the first byte, the Remaining Length computed from `body` (minimal varint), then `body`.
 * For negative fixtures, where the fault is elsewhere than in the length.
 */
export function packetBytes(first: number, ...body: Field[]): Uint8Array {
  const rest = bytes(...body);
  const len: number[] = [];
  let n = rest.length;
  do {
    len.push((n % 128) | (n >= 128 ? 0x80 : 0));
    n = Math.floor(n / 128);
  } while (n > 0);
  return bytes(first, len, rest);
}

/** A length-prefixed UTF-8 string field (2-byte big-endian byte length, then the bytes). */
export function str(s: string): Uint8Array {
  const b = textEncoder.encode(s);
  return bytes(u16(b.length), b);
}

/** A 16-bit big-endian number as two bytes (string lengths, packet identifiers, keepalive). */
export function u16(n: number): [number, number] {
  return [(n >> 8) & 0xff, n & 0xff];
}

/** Concatenate byte arrays. */
export function concat(...parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

/** Bytes as spaced hex (`30 02 00 01`): readable diffs when an encoding is wrong. Long arrays are elided. */
export function hex(b: Uint8Array, max = 4096): string {
  const shown = b.length > max ? b.subarray(0, max) : b;
  const text = Array.from(shown, (x) => x.toString(16).padStart(2, '0')).join(' ');
  return b.length > max ? `${text} ... (${b.length} bytes)` : text;
}

/**
 * `x` with every `Uint8Array` replaced by a string of its class and bytes (base64), so that packets compare with
 * `toEqual` quickly (vitest compares typed arrays element by element, seconds for megabytes) and a `Buffer` is still
 * told apart from a plain `Uint8Array`.
 */
export function comparable(x: unknown): unknown {
  if (x instanceof Uint8Array) {
    return `${x.constructor.name}(${x.length}):${Buffer.from(x.buffer, x.byteOffset, x.byteLength).toString('base64')}`;
  }
  if (Array.isArray(x)) return x.map(comparable);
  if (x !== null && typeof x === 'object') {
    return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, comparable(v)]));
  }
  return x;
}

/** Assert that two packets (or lists of packets) are equal, fields and bytes. */
export function expectSamePackets(actual: unknown, expected: unknown): void {
  expect(comparable(actual)).toEqual(comparable(expected));
}

export { seededRandom };

/** Split `b` before each offset in `cuts` (sorted, inside the array). Chunks are views (`subarray`). */
export function splitAt(b: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const c of cuts) {
    out.push(b.subarray(prev, c));
    prev = c;
  }
  out.push(b.subarray(prev));
  return out;
}

/** `b` as chunks of random sizes 0..maxChunk (empty chunks included on purpose: the decoder must accept them). */
export function randomChunks(b: Uint8Array, random: () => number, maxChunk = 7): Uint8Array[] {
  const out: Uint8Array[] = [];
  let pos = 0;
  while (pos < b.length) {
    const n = Math.floor(random() * (maxChunk + 1));
    out.push(b.subarray(pos, Math.min(b.length, pos + n)));
    pos += n;
  }
  return out;
}

/** `b` one byte per chunk. */
export function byteChunks(b: Uint8Array): Uint8Array[] {
  return Array.from({ length: b.length }, (_, i) => b.subarray(i, i + 1));
}

/** Feed `chunks` to a fresh {@link PacketDecoder} and return every packet it delivered; it must end idle. */
export function decodeStream(chunks: readonly Uint8Array[], decoder = new PacketDecoder()): Packet[] {
  const out: Packet[] = [];
  for (const c of chunks) decoder.push(c, (p) => out.push(p));
  expect(decoder.buffered, 'bytes left in the decoder after the last chunk').toBe(0);
  return out;
}

/** Run `fn` and return the {@link MqttProtocolError} it throws; fails the test if it throws nothing or another error. */
export function protocolError(fn: () => unknown): MqttProtocolError {
  try {
    fn();
  } catch (err) {
    if (err instanceof MqttProtocolError) return err;
    throw new Error(`expected an MqttProtocolError, got ${String(err)}`, { cause: err });
  }
  throw new Error('expected an MqttProtocolError, nothing was thrown');
}

// ---------------------------------------------------------------------------------------------------------------

/** A valid packet: its object form and its exact bytes. */
export interface Fixture {
  name: string;
  packet: Packet;
  bytes: Uint8Array;
}

/** Bytes the decoder must refuse under `rule`. */
export interface DecodeErrorFixture {
  name: string;
  bytes: Uint8Array;
  /** MQTT 3.1.1 statement or section id, as `MqttProtocolError.rule`. */
  rule: string;
  /** Byte offset of the offending field from the start of the packet, when the test pins it. */
  offset?: number;
  /**
   * How a {@link PacketDecoder} sees the same bytes. `'same'` (default): it throws the same rule, fed whole and one
   * byte at a time. `'waits'`: the bytes are a valid prefix (the packet is truncated), so it only buffers them.
   * `'decode-only'`: the fault is the length of the array given to `decode()`, which a stream cannot see.
   */
  stream?: 'same' | 'waits' | 'decode-only';
}

/** A packet object the encoder must refuse under `rule`. `packet` is `unknown`: many are ill-typed on purpose. */
export interface EncodeErrorFixture {
  name: string;
  packet: unknown;
  rule: string;
}

/** Each fixture: parse, encode, round trip (both ways), `encodedLength` and `encodeChunks`. */
export function testFixtures(fixtures: readonly Fixture[]): void {
  for (const f of fixtures) {
    describe(f.name, () => {
      it('parse: decode(bytes) equals the packet', () => {
        expectSamePackets(decode(f.bytes), f.packet);
      });
      it('encode: encode(packet) equals the bytes', () => {
        expect(hex(encode(f.packet))).toBe(hex(f.bytes));
      });
      it('round trip: decode(encode(packet)) and encode(decode(bytes))', () => {
        expectSamePackets(decode(encode(f.packet)), f.packet);
        expect(hex(encode(decode(f.bytes)))).toBe(hex(f.bytes));
      });
      it('encodedLength and encodeChunks agree with encode', () => {
        expect(encodedLength(f.packet)).toBe(f.bytes.length);
        expect(hex(concat(...encodeChunks(f.packet)))).toBe(hex(f.bytes));
      });
    });
  }
}

/** Each fixture through {@link PacketDecoder}: one chunk, one byte at a time, seeded random chunkings, many per chunk. */
export function testStreamFixtures(fixtures: readonly Fixture[], seed = 1): void {
  const random = seededRandom(seed);
  for (const f of fixtures) {
    describe(f.name, () => {
      it('stream: one chunk', () => {
        expectSamePackets(decodeStream([f.bytes]), [f.packet]);
      });
      it('stream: one byte at a time', () => {
        expectSamePackets(decodeStream(byteChunks(f.bytes)), [f.packet]);
      });
      it('stream: random chunkings', () => {
        for (let i = 0; i < 8; i++) {
          const max = 1 + Math.floor(random() * Math.min(64, f.bytes.length + 2));
          expectSamePackets(decodeStream(randomChunks(f.bytes, random, max)), [f.packet]);
        }
      });
      it('stream: three copies in one chunk, and split between copies', () => {
        const three = concat(f.bytes, f.bytes, f.bytes);
        expectSamePackets(decodeStream([three]), [f.packet, f.packet, f.packet]);
        const cut = f.bytes.length + 1;
        expectSamePackets(decodeStream(splitAt(three, [cut, cut + f.bytes.length])), [f.packet, f.packet, f.packet]);
      });
    });
  }
}

/** Each negative fixture through `decode()` and through a {@link PacketDecoder}, asserting the rule. */
export function testDecodeErrors(fixtures: readonly DecodeErrorFixture[]): void {
  for (const f of fixtures) {
    describe(`${f.rule}: ${f.name}`, () => {
      it('decode() throws the rule', () => {
        const err = protocolError(() => decode(f.bytes));
        expect(err.rule).toBe(f.rule);
        expect(err.code).toBe('EPROTO');
        expect(err.message).toContain(`[${f.rule}]`);
        if (f.offset !== undefined) expect(err.offset).toBe(f.offset);
      });
      const mode = f.stream ?? 'same';
      if (mode === 'same') {
        it('PacketDecoder throws the rule, whole and byte by byte, and stays failed', () => {
          for (const chunks of [[f.bytes], byteChunks(f.bytes)]) {
            const decoder = new PacketDecoder();
            const delivered: Packet[] = [];
            const err = protocolError(() => {
              for (const c of chunks) decoder.push(c, (p) => delivered.push(p));
            });
            expect(err.rule).toBe(f.rule);
            expect(delivered).toEqual([]);
            expect(protocolError(() => decoder.push(Uint8Array.of(0xc0, 0), () => {}))).toBe(err);
          }
        });
      } else if (mode === 'waits') {
        it('PacketDecoder buffers the truncated packet and delivers nothing', () => {
          const decoder = new PacketDecoder();
          expect(decoder.push(f.bytes, () => expect.fail('no packet expected'))).toBe(0);
          expect(decoder.buffered).toBe(f.bytes.length);
        });
      }
    });
  }
}

/** Each negative packet through `encode()`, `encodeChunks()` and `encodedLength()`, asserting the rule. */
export function testEncodeErrors(fixtures: readonly EncodeErrorFixture[]): void {
  for (const f of fixtures) {
    it(`${f.rule}: ${f.name}`, () => {
      const packet = f.packet as Packet;
      for (const fn of [encode, encodeChunks, encodedLength]) {
        const err = protocolError(() => fn(packet));
        expect(err.rule).toBe(f.rule);
        expect(err.code).toBe('EPROTO');
      }
    });
  }
}
