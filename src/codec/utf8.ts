/**
 * UTF-8 for MQTT strings (MQTT 3.1.1 section 1.5.3): well-formed, no surrogates (MQTT-1.5.3-1), no U+0000
 * (MQTT-1.5.3-2), a BOM kept as U+FEFF and never stripped (MQTT-1.5.3-3). ASCII, the common case for Azure topics,
 * takes a fast path that never touches TextEncoder/TextDecoder.
 */
import { fail } from './errors.js';

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const encoder = new TextEncoder();

/** Largest string or binary field: a 2-byte length prefix (MQTT 3.1.1 section 1.5.3). */
export const MAX_STRING_BYTES = 65535;

/**
 * UTF-8 byte length of `s`. Throws on a lone surrogate (MQTT-1.5.3-1) or U+0000 (MQTT-1.5.3-2), which a JS string
 * can hold but an MQTT string cannot.
 */
export function utf8Length(s: string, what: string): number {
  const n = s.length;
  let len = n;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) {
      if (c === 0) fail('MQTT-1.5.3-2', `${what} contains U+0000`);
    } else if (c < 0x800) {
      len += 1;
    } else if (c >= 0xd800 && c <= 0xdfff) {
      const d = i + 1 < n ? s.charCodeAt(i + 1) : 0;
      if (c > 0xdbff || d < 0xdc00 || d > 0xdfff) fail('MQTT-1.5.3-1', `${what} contains an unpaired surrogate`);
      i++;
      len += 2;
    } else {
      len += 2;
    }
  }
  if (len > MAX_STRING_BYTES) fail('MQTT-1.5.3', `${what} is ${len} bytes; the limit is ${MAX_STRING_BYTES}`);
  return len;
}

/** Write `s` (whose UTF-8 length is `byteLength`, from {@link utf8Length}) at `pos`; returns the next offset. */
export function writeUtf8(out: Uint8Array, pos: number, s: string, byteLength: number): number {
  if (byteLength === s.length) {
    for (let i = 0; i < byteLength; i++) out[pos + i] = s.charCodeAt(i);
  } else {
    encoder.encodeInto(s, out.subarray(pos, pos + byteLength));
  }
  return pos + byteLength;
}

/** `s` as UTF-8 bytes, validated as an MQTT string. */
export function utf8Bytes(s: string, what = 'string'): Uint8Array {
  const len = utf8Length(s, what);
  const out = new Uint8Array(len);
  writeUtf8(out, 0, s, len);
  return out;
}

/**
 * Decode `buf[start, end)` as an MQTT string. `base` is the packet's first byte, for error offsets.
 * With `wildcardRule` (the string is a topic name), also refuse `+` and `#` under that rule: MQTT-3.3.2-2 for a
 * PUBLISH topic, MQTT-4.7.1-1 for a Will topic. Checked in the same scan.
 */
export function readUtf8(
  buf: Uint8Array,
  start: number,
  end: number,
  base: number,
  what: string,
  wildcardRule?: string,
): string {
  const len = end - start;
  if (len === 0) return '';
  let s: string;
  try {
    // fatal: ill-formed UTF-8, encoded surrogates (MQTT-1.5.3-1) and overlong forms are refused in native code.
    // A plain Uint8Array view: Buffer#subarray is a slower JS override, and this view never escapes.
    s = decoder.decode(new Uint8Array(buf.buffer, buf.byteOffset + start, len));
  } catch {
    return fail('MQTT-1.5.3-1', `${what} is not well-formed UTF-8`, start - base);
  }
  // String#indexOf is vectorised; a JS loop over the bytes costs ~1.3 ns per byte.
  if (s.indexOf('\0') !== -1) fail('MQTT-1.5.3-2', `${what} contains U+0000`, buf.indexOf(0, start) - base);
  if (wildcardRule !== undefined && (s.indexOf('+') !== -1 || s.indexOf('#') !== -1)) {
    fail(wildcardRule, `${what} contains a wildcard (+ or #)`, start - base);
  }
  return s;
}
