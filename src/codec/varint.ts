/**
 * The Remaining Length field (MQTT 3.1.1 section 2.2.3): 7 bits per byte, least significant group first, the high
 * bit set on every byte but the last; 1 to 4 bytes, so at most 268,435,455.
 */
import { fail } from './errors.js';

/** Largest Remaining Length MQTT 3.1.1 can express (`FF FF FF 7F`). */
export const MAX_REMAINING_LENGTH = 268_435_455;

/** Bytes needed to encode `n` as a Remaining Length. */
export function varintSize(n: number): number {
  return n < 128 ? 1 : n < 16_384 ? 2 : n < 2_097_152 ? 3 : 4;
}

/** Write `n` at `pos` and return the next offset. `n` must be in range (checked by the caller). */
export function writeVarint(out: Uint8Array, pos: number, n: number): number {
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out[pos++] = b;
  } while (n > 0);
  return pos;
}

/** Refuse a Remaining Length that cannot be encoded. */
export function checkRemainingLength(n: number): void {
  if (n > MAX_REMAINING_LENGTH) {
    fail('MQTT-2.2.3', `packet needs a remaining length of ${n} bytes; MQTT 3.1.1 allows at most ${MAX_REMAINING_LENGTH}`);
  }
}

/** Result slots of {@link readVarint} (module-level so the hot path allocates nothing). */
export const varint = { value: 0, next: 0 };

/**
 * Read a Remaining Length starting at `pos` (the byte after the packet's first byte) in `buf[.., end)`.
 * Returns false when the bytes end before the varint does. Sets `varint.value` and `varint.next` on success.
 * Throws on a fifth byte, and on a non-minimal encoding (such as `80 00` for 0): MQTT 3.1.1 has no statement id
 * against the latter (MQTT 5 added one), rejecting it is this codec's deliberate strictness.
 */
export function readVarint(buf: Uint8Array, pos: number, end: number, base: number): boolean {
  let value = 0;
  let mul = 1;
  for (let i = 0; i < 4; i++) {
    if (pos + i >= end) return false;
    const b = buf[pos + i]!;
    value += (b & 0x7f) * mul;
    if ((b & 0x80) === 0) {
      if (b === 0 && i > 0) fail('MQTT-2.2.3', 'remaining length is not minimally encoded', pos + i - base);
      varint.value = value;
      varint.next = pos + i + 1;
      return true;
    }
    mul *= 128;
  }
  return fail('MQTT-2.2.3', 'remaining length is longer than 4 bytes', pos + 4 - base);
}
