import { describe, expect, it } from 'vitest';
import { decode, encode, encodeChunks, encodedLength, PACKET_TYPE, type Packet } from '../../src/codec/index.js';
import { concat, hex, testFixtures } from '../helpers/fixtures.js';
import {
  ACK_FIXTURES,
  ALL_FIXTURES,
  CONNACK_FIXTURES,
  CONNECT_FIXTURES,
  EMPTY_FIXTURES,
  PUBLISH_FIXTURES,
  SUBSCRIPTION_FIXTURES,
} from './fixture-data.js';

describe('CONNECT', () => testFixtures(CONNECT_FIXTURES));
describe('CONNACK', () => testFixtures(CONNACK_FIXTURES));
describe('PUBLISH', () => testFixtures(PUBLISH_FIXTURES));
describe('PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK', () => testFixtures(ACK_FIXTURES));
describe('SUBSCRIBE, SUBACK, UNSUBSCRIBE', () => testFixtures(SUBSCRIPTION_FIXTURES));
describe('PINGREQ, PINGRESP, DISCONNECT', () => testFixtures(EMPTY_FIXTURES));

describe('fixture coverage', () => {
  it('covers all 14 packet types, with the type nibble PACKET_TYPE gives', () => {
    const types = new Set(ALL_FIXTURES.map((f) => f.packet.type));
    expect([...types].sort()).toEqual(Object.keys(PACKET_TYPE).sort());
    for (const f of ALL_FIXTURES) expect(f.bytes[0]! >> 4).toBe(PACKET_TYPE[f.packet.type]);
  });
});

describe('decoded views', () => {
  it('a decoded PUBLISH payload, Will message and password are views of the input, not copies', () => {
    const pub = PUBLISH_FIXTURES[0]!.bytes.slice();
    const p = decode(pub);
    if (p.type !== 'publish') throw new Error('not a PUBLISH');
    expect(p.payload.buffer).toBe(pub.buffer);
    expect(p.payload.byteOffset).toBe(pub.length - p.payload.length);

    const con = CONNECT_FIXTURES[1]!.bytes.slice();
    const c = decode(con);
    if (c.type !== 'connect' || c.will === undefined || c.password === undefined) throw new Error('bad fixture');
    expect(c.will.payload.buffer).toBe(con.buffer);
    expect(c.password.buffer).toBe(con.buffer);
  });

  it('decode() accepts a view into a larger buffer (non-zero byteOffset)', () => {
    const f = PUBLISH_FIXTURES[1]!;
    const big = new Uint8Array(f.bytes.length + 10);
    big.set(f.bytes, 5);
    expect(decode(big.subarray(5, 5 + f.bytes.length))).toEqual(f.packet);
  });
});

describe('encode', () => {
  it('returns a fresh array each time, owned by the caller (constant packets too)', () => {
    for (const packet of [{ type: 'pingreq' }, { type: 'pingresp' }, { type: 'disconnect' }] as Packet[]) {
      const a = encode(packet);
      const b = encode(packet);
      expect(a).not.toBe(b);
      a[0] = 0xff;
      expect(encode(packet)[0]).not.toBe(0xff);
    }
  });

  it('encodeChunks returns [header, payload] with the caller\'s own payload array (zero copy)', () => {
    const payload = new Uint8Array(1000).fill(7);
    const packet: Packet = { type: 'publish', topic: 'a/b', payload, qos: 1, dup: false, retain: false, messageId: 9 };
    const chunks = encodeChunks(packet);
    expect(chunks).toHaveLength(2);
    expect(chunks[1]).toBe(payload);
    expect(chunks[0]!.length).toBe(encodedLength(packet) - payload.length);
    expect(decode(concat(...chunks))).toEqual(packet);
  });

  it('encodeChunks gives one chunk for a PUBLISH with an empty payload and for other packets', () => {
    const empty: Packet = { type: 'publish', topic: 't', payload: new Uint8Array(0), qos: 0, dup: false, retain: false };
    expect(encodeChunks(empty)).toHaveLength(1);
    for (const f of ALL_FIXTURES.filter((x) => x.packet.type !== 'publish')) {
      expect(encodeChunks(f.packet)).toHaveLength(1);
    }
  });

  it('encode copies the payload: later changes to the caller\'s array do not alter the encoded bytes', () => {
    const payload = Uint8Array.of(1, 2, 3);
    const out = encode({ type: 'publish', topic: 't', payload, qos: 0, dup: false, retain: false });
    payload[0] = 9;
    expect(out.at(-3)).toBe(1);
  });

  it('encodes the same topic twice in a row and then another one correctly (topic length cache)', () => {
    const p = (topic: string): Packet => ({ type: 'publish', topic, payload: Uint8Array.of(1), qos: 0, dup: false, retain: false });
    for (const t of ['a', 'a', 'é/x', 'é/x', 'a', 'bb']) expect(decode(encode(p(t)))).toEqual(p(t));
  });
});

describe('UTF-8 strings', () => {
  it('keeps a BOM (U+FEFF) wherever it is, in every string field (MQTT-1.5.3-3)', () => {
    const packets: Packet[] = [
      { type: 'connect', clientId: '\uFEFF', keepalive: 0, cleanSession: true, username: '\uFEFFuser\uFEFF' },
      { type: 'subscribe', messageId: 1, subscriptions: [{ topic: '\uFEFF/+', qos: 1 }] },
      { type: 'unsubscribe', messageId: 1, unsubscriptions: ['a/\uFEFF'] },
      { type: 'publish', topic: '\uFEFF\uFEFF', payload: new Uint8Array(0), qos: 0, dup: false, retain: false },
    ];
    for (const p of packets) {
      const b = encode(p);
      expect(hex(b)).toContain('ef bb bf');
      expect(decode(b)).toEqual(p);
    }
  });

  it('round-trips topic names of exactly 65535 bytes, ASCII (past the short-string fast path) and multi-byte', () => {
    const ascii = 'a/'.repeat(32767) + 'b'; // 65535 bytes
    const mixed = '😀'.repeat(16383) + 'abc'; // 16383 * 4 + 3 = 65535 bytes
    for (const topic of [ascii, mixed, 'x'.repeat(2049)]) {
      const p: Packet = { type: 'publish', topic, payload: Uint8Array.of(1), qos: 0, dup: false, retain: false };
      const b = encode(p);
      expect(decode(b)).toEqual(p);
    }
  });
});
