import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { crc32 } from '../../../src/azure/outbox/crc32.js';

const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);

/** Bit-by-bit CRC-32 straight from the definition: the reference the table-driven one must equal. */
function bitwise(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

describe('crc32', () => {
  it('has the standard check value: crc32("123456789") = 0xCBF43926', () => {
    expect(crc32(ascii('123456789'))).toBe(0xcbf43926);
  });

  it('known vectors: empty = 0, "a" = 0xE8B7BE43, 32 zero bytes = 0x190A55AD, "The quick brown fox..." = 0x414FA339', () => {
    expect(crc32(new Uint8Array(0))).toBe(0);
    expect(crc32(ascii('a'))).toBe(0xe8b7be43);
    expect(crc32(new Uint8Array(32))).toBe(0x190a55ad);
    expect(crc32(ascii('The quick brown fox jumps over the lazy dog'))).toBe(0x414fa339);
  });

  it('equals the bit-by-bit definition and is unsigned, for arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const c = crc32(bytes);
        expect(c).toBe(bitwise(bytes));
        expect(c).toBeGreaterThanOrEqual(0);
      }),
    );
  });

  it('continues over split data and honours start/end', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(), (bytes, cut) => {
        const k = bytes.length === 0 ? 0 : cut % (bytes.length + 1);
        expect(crc32(bytes.subarray(k), crc32(bytes.subarray(0, k)))).toBe(crc32(bytes));
        expect(crc32(bytes, 0, k, bytes.length)).toBe(crc32(bytes.subarray(k)));
        expect(crc32(bytes, crc32(bytes, 0, 0, k), k)).toBe(crc32(bytes));
      }),
    );
  });
});
