/**
 * The outbox log format: annotated byte fixtures, round trips, and the recovery rules (a torn last record cut at every
 * byte offset, a CRC mismatch in every byte, impossible lengths, unknown types, bodies that do not parse).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ACK_RECORD_BYTES,
  checkHeader,
  encodeAckRecords,
  encodeMessageRecord,
  MAX_RECORD_LENGTH,
  MAX_RECORD_PAYLOAD_BYTES,
  OUTBOX_FILE_HEADER,
  scanRecords,
} from '../../../src/azure/outbox/log-format.js';
import { crc32 } from '../../../src/azure/outbox/crc32.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+|#.*$/gm, ''), 'hex'));
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const concat = (...parts: Uint8Array[]): Uint8Array => Uint8Array.from(Buffer.concat(parts));
const file = (...records: Uint8Array[]): Uint8Array => concat(OUTBOX_FILE_HEADER, ...records);

/** Message record: id 1, properties "a=b", payload "hi". */
const MESSAGE_1 = hex(`
  00000010   # length: 16 bytes follow the CRC (type 1 + id 8 + properties length 2 + "a=b" 3 + "hi" 2)
  88d8b8cd   # CRC-32 of the length field and the 16 bytes after the CRC
  01         # type: message
  0000000000000001 # id 1
  0003       # properties length
  613d62     # "a=b"
  6869       # payload "hi"
`);
/** Ack record for id 1. */
const ACK_1 = hex(`
  00000009   # length: type + id
  aa907558   # CRC-32
  02         # type: ack
  0000000000000001 # id 1
`);

describe('fixtures', () => {
  it('the header is "AZOB", version 1, three zero bytes', () => {
    expect([...OUTBOX_FILE_HEADER]).toEqual([0x41, 0x5a, 0x4f, 0x42, 1, 0, 0, 0]);
  });

  it('a message record encodes to the annotated bytes and decodes back', () => {
    expect(encodeMessageRecord(1, 'a=b', utf8('hi'))).toEqual(MESSAGE_1);
    const scan = scanRecords(file(MESSAGE_1));
    expect(scan.stop).toBeUndefined();
    expect(scan.validLength).toBe(8 + MESSAGE_1.length);
    expect(scan.records).toEqual([{ type: 'message', id: 1, properties: 'a=b', payload: utf8('hi'), offset: 8, size: 24 }]);
  });

  it('an ack record encodes to the annotated bytes and decodes back; several acks share one buffer', () => {
    expect(encodeAckRecords([1])).toEqual(ACK_1);
    expect(ACK_1.length).toBe(ACK_RECORD_BYTES);
    const two = encodeAckRecords([1, 2 ** 53 - 1]);
    expect(two.length).toBe(2 * ACK_RECORD_BYTES);
    expect(scanRecords(file(two)).records.map((r) => [r.type, r.id])).toEqual([['ack', 1], ['ack', 2 ** 53 - 1]]);
  });

  it('ids use 64 bits: 2^40 + 5 is stored as 00000100 00000005', () => {
    const r = encodeMessageRecord(2 ** 40 + 5, '', new Uint8Array(0));
    expect(Buffer.from(r.subarray(9, 17)).toString('hex')).toBe('0000010000000005');
    expect(scanRecords(file(r)).records[0]).toMatchObject({ id: 2 ** 40 + 5, properties: '', payload: new Uint8Array(0) });
  });

  it('refuses ids that are not positive safe integers, properties over 65535 bytes and oversized payloads', () => {
    for (const id of [0, -1, 1.5, 2 ** 53, Number.NaN]) {
      expect(() => encodeMessageRecord(id, '', new Uint8Array(0))).toThrow(RangeError);
      expect(() => encodeAckRecords([id])).toThrow(RangeError);
    }
    expect(() => encodeMessageRecord(1, 'x'.repeat(65536), new Uint8Array(0))).toThrow(/65535/);
    expect(() => encodeMessageRecord(1, 'x'.repeat(65535), new Uint8Array(0))).not.toThrow();
    expect(() => encodeMessageRecord(1, '', new Uint8Array(MAX_RECORD_PAYLOAD_BYTES + 1))).toThrow(RangeError);
  });
});

describe('checkHeader', () => {
  it('ok for a full header; empty for nothing or a header cut short; foreign otherwise', () => {
    expect(checkHeader(file())).toBe('ok');
    expect(checkHeader(file(MESSAGE_1))).toBe('ok');
    for (let n = 0; n < 8; n++) expect(checkHeader(OUTBOX_FILE_HEADER.subarray(0, n)), `${n} bytes`).toBe('empty');
    expect(checkHeader(utf8('{"version":1}'))).toBe('foreign');
    expect(checkHeader(Uint8Array.of(0x41, 0x5a, 0x4f, 0x42, 2, 0, 0, 0))).toBe('foreign'); // version 2
    expect(checkHeader(Uint8Array.of(0x41, 0x5a, 0x58))).toBe('foreign'); // a short file that is not our prefix
  });
});

describe('scanRecords', () => {
  const first = encodeMessageRecord(1, 'k=v', utf8('first'));
  const ack = encodeAckRecords([1]);
  const last = encodeMessageRecord(2, '%24.ct=application%2Fjson', utf8('{"n":2}'));
  const good = file(first, ack);

  it('reads every record of a well-formed file, with offsets and sizes', () => {
    const scan = scanRecords(file(first, ack, last));
    expect(scan.stop).toBeUndefined();
    expect(scan.records.map((r) => [r.type, r.id, r.offset, r.size])).toEqual([
      ['message', 1, 8, first.length],
      ['ack', 1, 8 + first.length, ack.length],
      ['message', 2, 8 + first.length + ack.length, last.length],
    ]);
  });

  it('a torn last record, cut at every byte offset, is dropped and everything before it kept', () => {
    for (let cut = 1; cut < last.length; cut++) {
      const scan = scanRecords(file(first, ack, last.subarray(0, cut)));
      expect(scan.stop, `cut after ${cut} bytes`).toBe('torn');
      expect(scan.validLength, `cut after ${cut} bytes`).toBe(good.length);
      expect(scan.records.map((r) => r.id), `cut after ${cut} bytes`).toEqual([1, 1]);
    }
  });

  it('a flipped bit in any byte of a record stops the scan at that record (CRC, or a length/type check)', () => {
    for (let i = 0; i < last.length; i++) {
      for (const bit of [0x01, 0x80]) {
        const bad = last.slice();
        bad[i]! ^= bit;
        const scan = scanRecords(file(first, ack, bad, encodeAckRecords([2])));
        expect(scan.stop, `byte ${i} bit ${bit}`).toBeDefined();
        expect(scan.validLength, `byte ${i} bit ${bit}`).toBe(good.length);
        expect(scan.records).toHaveLength(2);
      }
    }
  });

  it('a CRC mismatch is reported as crc', () => {
    const bad = last.slice();
    bad[bad.length - 1]! ^= 0xff; // the last payload byte
    expect(scanRecords(file(bad)).stop).toBe('crc');
    const badCrc = last.slice();
    badCrc[4]! ^= 0xff; // the CRC itself
    expect(scanRecords(file(badCrc)).stop).toBe('crc');
  });

  /** A record with a correct CRC over whatever bytes follow the length. */
  function sealed(length: number, rest: Uint8Array): Uint8Array {
    const r = new Uint8Array(8 + rest.length);
    new DataView(r.buffer).setUint32(0, length);
    r.set(rest, 8);
    new DataView(r.buffer).setUint32(4, crc32(rest, crc32(r.subarray(0, 4))));
    return r;
  }

  it('impossible lengths (below 9, above the maximum) are length errors, even before the bytes are there', () => {
    expect(scanRecords(file(sealed(8, new Uint8Array(8)))).stop).toBe('length');
    const huge = new Uint8Array(8);
    new DataView(huge.buffer).setUint32(0, MAX_RECORD_LENGTH + 1);
    expect(scanRecords(file(huge))).toMatchObject({ stop: 'length', validLength: 8 });
    expect(scanRecords(file(first, huge))).toMatchObject({ stop: 'length', validLength: 8 + first.length, records: [{ id: 1 }] });
  });

  it('an unknown type, a zero id, an ack with a body, and malformed message bodies stop the scan', () => {
    const id1 = hex('0000000000000001');
    expect(scanRecords(file(sealed(9, concat(Uint8Array.of(3), id1)))).stop).toBe('type');
    expect(scanRecords(file(sealed(9, concat(Uint8Array.of(2), new Uint8Array(8))))).stop).toBe('body'); // id 0
    expect(scanRecords(file(sealed(10, concat(Uint8Array.of(2), id1, Uint8Array.of(0))))).stop).toBe('body'); // ack + 1 byte
    expect(scanRecords(file(sealed(10, concat(Uint8Array.of(1), id1, Uint8Array.of(0))))).stop).toBe('body'); // no props length
    expect(scanRecords(file(sealed(12, concat(Uint8Array.of(1), id1, hex('0005 61'))))).stop).toBe('body'); // props run past the end
    expect(scanRecords(file(sealed(12, concat(Uint8Array.of(1), id1, hex('0001 ff'))))).stop).toBe('body'); // not UTF-8
    expect(scanRecords(file(sealed(11, concat(Uint8Array.of(1), id1, hex('0000'))))).records).toHaveLength(1); // empty message is fine
  });

  it('payloads are copies that do not share memory with the file bytes', () => {
    const bytes = Buffer.from(file(first));
    const [r] = scanRecords(bytes).records;
    expect(r?.type).toBe('message');
    const payload = (r as { payload: Uint8Array }).payload;
    expect(Object.getPrototypeOf(payload)).toBe(Uint8Array.prototype);
    bytes.fill(0);
    expect(new TextDecoder().decode(payload)).toBe('first');
  });

  it('round-trips arbitrary messages and acks', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.record({ type: fc.constant('message' as const), id: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), properties: fc.string({ maxLength: 40 }), payload: fc.uint8Array({ maxLength: 64 }) }),
            fc.record({ type: fc.constant('ack' as const), id: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }) }),
          ),
          { maxLength: 20 },
        ),
        (records) => {
          const bytes = file(...records.map((r) => (r.type === 'ack' ? encodeAckRecords([r.id]) : encodeMessageRecord(r.id, r.properties, r.payload))));
          const scan = scanRecords(bytes);
          expect(scan.stop).toBeUndefined();
          expect(scan.validLength).toBe(bytes.length);
          expect(scan.records.map(({ offset: _o, size: _s, ...r }) => r)).toEqual(records);
        },
      ),
    );
  });
});
