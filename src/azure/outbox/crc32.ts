/**
 * CRC-32 (IEEE 802.3: reflected polynomial 0xEDB88320, initial value and final XOR 0xFFFFFFFF), the checksum of zlib,
 * PNG and Ethernet, table-driven. Written here because `node:zlib` has `crc32` only from Node 22.
 *
 * Check value: `crc32(ascii('123456789')) === 0xCBF43926`.
 * @see https://www.rfc-editor.org/rfc/rfc1952#section-8
 */

const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/**
 * The CRC-32 of `bytes[start..end)`, as an unsigned 32-bit number. Pass the result of an earlier call as `previous`
 * to continue over data that follows it (`crc32(b) === crc32(b.subarray(k), crc32(b.subarray(0, k)))`).
 */
export function crc32(bytes: Uint8Array, previous = 0, start = 0, end = bytes.length): number {
  let c = ~previous;
  for (let i = start; i < end; i++) c = TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}
