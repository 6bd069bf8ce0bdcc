/**
 * The outbox log: an append-only file of checksummed records, pure functions over bytes (no I/O here).
 *
 * ```text
 * file    = header record*
 * header  = "AZOB" version:u8 (1) reserved:u8[3] (0)                                  8 bytes
 * record  = length:u32 crc:u32 type:u8 id:u64 body                                    8 + length bytes
 *           length = bytes after the crc field (9 + body)
 *           crc    = CRC-32 (IEEE) of the length field followed by type, id and body
 * body    = message: propertiesLength:u16 properties:u8[propertiesLength] payload:u8[rest]
 *           ack:     (empty)
 * ```
 * Integers are big-endian; `id` is a positive safe integer (below 2^53), increasing in append order. `properties` is
 * the telemetry topic's encoded property bag (what follows `messages/events/`), so a record never holds the device
 * id, a key or a token. A message record stores one telemetry message; an ack record says that the message with that
 * id was acknowledged by the hub (or dropped) and must not be sent again.
 *
 * A crash can leave the last record torn (a power cut mid-write). Reading stops at the first record whose length runs
 * past the end of the file or whose CRC does not match; everything from there on is discarded (the file store
 * truncates it).
 */
import { crc32 } from './crc32.js';

/** The file's first 8 bytes: "AZOB", the format version, three zero bytes. */
export const OUTBOX_FILE_HEADER: Readonly<Uint8Array> = Uint8Array.of(0x41, 0x5a, 0x4f, 0x42, 1, 0, 0, 0);
/** The format version in the header. */
export const OUTBOX_FILE_VERSION = 1;
/** Length and CRC fields before each record's type. */
export const RECORD_PREFIX_BYTES = 8;
/** Type and id. */
const RECORD_FIXED_BYTES = 9;
/** Record type of a stored message. */
export const RECORD_MESSAGE = 1;
/** Record type of an acknowledgement. */
export const RECORD_ACK = 2;
/** Largest payload a record holds (16 MiB; the client sends at most Azure's 256 KiB). */
export const MAX_RECORD_PAYLOAD_BYTES = 16 * 1024 * 1024;
/** Largest `length` field a valid record has; anything larger is corruption. */
export const MAX_RECORD_LENGTH = RECORD_FIXED_BYTES + 2 + 0xffff + MAX_RECORD_PAYLOAD_BYTES;
/** Size in bytes of an ack record. */
export const ACK_RECORD_BYTES = RECORD_PREFIX_BYTES + RECORD_FIXED_BYTES;

const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder('utf-8', { fatal: true });

/** A decoded record. */
export type OutboxLogRecord =
  | { type: 'message'; id: number; properties: string; payload: Uint8Array }
  | { type: 'ack'; id: number };

/** A decoded record with its place in the file. */
export type ScannedRecord = OutboxLogRecord & {
  /** Byte offset of the record's length field. */
  offset: number;
  /** Bytes the record takes (prefix included). */
  size: number;
};

/** Why a scan stopped before the end of the bytes. */
export type ScanStop = 'torn' | 'length' | 'crc' | 'type' | 'body';

/** What {@link scanRecords} found. */
export interface ScanResult {
  records: ScannedRecord[];
  /** Where the valid records end: the bytes' length when all of them are valid. */
  validLength: number;
  /**
   * Why reading stopped at `validLength` before the end: a record cut short (`torn`), an impossible length, a CRC
   * mismatch, an unknown type, or a message body that does not parse. Undefined when every byte was read.
   */
  stop: ScanStop | undefined;
}

/**
 * Classify a file's first bytes: `ok` (a version 1 header), `empty` (nothing, or the start of a header cut short by a
 * crash while the file was created: safe to write afresh), or `foreign` (another file, or another version: never
 * overwritten).
 */
export function checkHeader(bytes: Uint8Array): 'ok' | 'empty' | 'foreign' {
  const n = Math.min(bytes.length, OUTBOX_FILE_HEADER.length);
  for (let i = 0; i < n; i++) if (bytes[i] !== OUTBOX_FILE_HEADER[i]) return 'foreign';
  return n === OUTBOX_FILE_HEADER.length ? 'ok' : 'empty';
}

function checkId(id: number): void {
  if (!Number.isSafeInteger(id) || id < 1) throw new RangeError(`record id must be a positive safe integer, not ${id}`);
}

/** Write the length, CRC, type and id of a record whose body (`length - 9` bytes) is already at `at + 17`. */
function seal(buf: Uint8Array, at: number, type: number, id: number, length: number): void {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  view.setUint32(at, length);
  buf[at + 8] = type;
  view.setUint32(at + 9, Math.floor(id / 2 ** 32));
  view.setUint32(at + 13, id >>> 0);
  let crc = crc32(buf, 0, at, at + 4);
  crc = crc32(buf, crc, at + RECORD_PREFIX_BYTES, at + RECORD_PREFIX_BYTES + length);
  view.setUint32(at + 4, crc);
}

/**
 * Encode a message record.
 * @throws RangeError for an id that is not a positive safe integer, properties over 65535 bytes, or a payload over
 * {@link MAX_RECORD_PAYLOAD_BYTES}.
 */
export function encodeMessageRecord(id: number, properties: string, payload: Uint8Array): Uint8Array {
  checkId(id);
  const props = utf8.encode(properties);
  if (props.length > 0xffff) throw new RangeError(`properties are ${props.length} bytes; a record holds at most 65535`);
  if (payload.length > MAX_RECORD_PAYLOAD_BYTES) {
    throw new RangeError(`payload is ${payload.length} bytes; a record holds at most ${MAX_RECORD_PAYLOAD_BYTES}`);
  }
  const length = RECORD_FIXED_BYTES + 2 + props.length + payload.length;
  const buf = new Uint8Array(RECORD_PREFIX_BYTES + length);
  const body = RECORD_PREFIX_BYTES + RECORD_FIXED_BYTES;
  buf[body] = props.length >>> 8;
  buf[body + 1] = props.length & 0xff;
  buf.set(props, body + 2);
  buf.set(payload, body + 2 + props.length);
  seal(buf, 0, RECORD_MESSAGE, id, length);
  return buf;
}

/** Encode ack records for `ids`, one after the other, in one buffer. */
export function encodeAckRecords(ids: readonly number[]): Uint8Array {
  const buf = new Uint8Array(ids.length * ACK_RECORD_BYTES);
  ids.forEach((id, i) => {
    checkId(id);
    seal(buf, i * ACK_RECORD_BYTES, RECORD_ACK, id, RECORD_FIXED_BYTES);
  });
  return buf;
}

/**
 * Decode the records of `bytes` from `start` (default: just after the header) until the end or the first record
 * that is torn or corrupt. Payloads are copies (they do not keep `bytes` alive).
 */
export function scanRecords(bytes: Uint8Array, start: number = OUTBOX_FILE_HEADER.length): ScanResult {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const records: ScannedRecord[] = [];
  let at = start;
  const stopAt = (stop: ScanStop): ScanResult => ({ records, validLength: at, stop });
  while (at < bytes.length) {
    if (bytes.length - at < RECORD_PREFIX_BYTES) return stopAt('torn');
    const length = view.getUint32(at);
    if (length < RECORD_FIXED_BYTES || length > MAX_RECORD_LENGTH) return stopAt('length');
    const end = at + RECORD_PREFIX_BYTES + length;
    if (end > bytes.length) return stopAt('torn');
    let crc = crc32(bytes, 0, at, at + 4);
    crc = crc32(bytes, crc, at + RECORD_PREFIX_BYTES, end);
    if (crc !== view.getUint32(at + 4)) return stopAt('crc');
    const type = bytes[at + 8];
    const id = view.getUint32(at + 9) * 2 ** 32 + view.getUint32(at + 13);
    if (!Number.isSafeInteger(id) || id < 1) return stopAt('body');
    const body = at + RECORD_PREFIX_BYTES + RECORD_FIXED_BYTES;
    const size = end - at;
    if (type === RECORD_ACK) {
      if (length !== RECORD_FIXED_BYTES) return stopAt('body');
      records.push({ type: 'ack', id, offset: at, size });
    } else if (type === RECORD_MESSAGE) {
      if (end - body < 2) return stopAt('body');
      const propsLength = (bytes[body]! << 8) | bytes[body + 1]!;
      if (body + 2 + propsLength > end) return stopAt('body');
      let properties: string;
      try {
        properties = utf8Strict.decode(bytes.subarray(body + 2, body + 2 + propsLength));
      } catch {
        return stopAt('body');
      }
      const payload = new Uint8Array(bytes.subarray(body + 2 + propsLength, end)); // a copy, also of a Buffer
      records.push({ type: 'message', id, properties, payload, offset: at, size });
    } else {
      return stopAt('type');
    }
    at = end;
  }
  return { records, validLength: at, stop: undefined };
}
