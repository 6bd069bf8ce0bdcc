/**
 * Negative fixtures: at least one per validation rule of the codec, in both directions. Each asserts the rule id
 * (`MqttProtocolError.rule`, the MQTT 3.1.1 normative statement or section).
 */
import { describe, expect, it, vi } from 'vitest';
import { decode, encode, encodedLength, MAX_REMAINING_LENGTH, MqttProtocolError, type Packet } from '../../src/codec/index.js';
import {
  bytes,
  packetBytes,
  protocolError,
  str,
  testDecodeErrors,
  testEncodeErrors,
  u16,
  type DecodeErrorFixture,
  type EncodeErrorFixture,
} from '../helpers/fixtures.js';

/** CONNECT variable header up to the flags: protocol name "MQTT", level 4. */
const MQTT4 = bytes(u16(4), 'MQTT', 0x04);
const KEEPALIVE = u16(60);

// ---------------------------------------------------------------------------------------------------------------
// Decode direction

const FIXED_HEADER: DecodeErrorFixture[] = [
  { name: 'packet type 0 is reserved', bytes: bytes(0x00, 0x00), rule: 'MQTT-2.2.1', offset: 0 },
  { name: 'packet type 15 is reserved (AUTH exists only in MQTT 5)', bytes: bytes(0xf0, 0x00), rule: 'MQTT-2.2.1' },
  { name: 'CONNECT flags 0001', bytes: packetBytes(0x11, MQTT4, 0x02, KEEPALIVE, str('a')), rule: 'MQTT-2.2.2-1' },
  { name: 'CONNACK flags 1000', bytes: bytes(0x28, 2, 0, 0), rule: 'MQTT-2.2.2-1' },
  { name: 'PUBACK flags 0001', bytes: bytes(0x41, 2, u16(1)), rule: 'MQTT-2.2.2-1' },
  { name: 'PUBREC flags 0010', bytes: bytes(0x52, 2, u16(1)), rule: 'MQTT-2.2.2-1' },
  { name: 'PUBCOMP flags 1000', bytes: bytes(0x78, 2, u16(1)), rule: 'MQTT-2.2.2-1' },
  { name: 'SUBACK flags 0001', bytes: bytes(0x91, 3, u16(1), 0), rule: 'MQTT-2.2.2-1' },
  { name: 'UNSUBACK flags 0100', bytes: bytes(0xb4, 2, u16(1)), rule: 'MQTT-2.2.2-1' },
  { name: 'PINGREQ flags 0001', bytes: bytes(0xc1, 0), rule: 'MQTT-2.2.2-1' },
  { name: 'PINGRESP flags 1000', bytes: bytes(0xd8, 0), rule: 'MQTT-2.2.2-1' },
  { name: 'DISCONNECT flags 0010 (MQTT-3.14.1-1)', bytes: bytes(0xe2, 0), rule: 'MQTT-2.2.2-1' },
  { name: 'PUBREL flags 0000', bytes: bytes(0x60, 2, u16(1)), rule: 'MQTT-3.6.1-1' },
  { name: 'PUBREL flags 0011', bytes: bytes(0x63, 2, u16(1)), rule: 'MQTT-3.6.1-1' },
  { name: 'SUBSCRIBE flags 0000', bytes: packetBytes(0x80, u16(1), str('a'), 0), rule: 'MQTT-3.8.1-1' },
  { name: 'SUBSCRIBE flags 1010', bytes: packetBytes(0x8a, u16(1), str('a'), 0), rule: 'MQTT-3.8.1-1' },
  { name: 'UNSUBSCRIBE flags 0000', bytes: packetBytes(0xa0, u16(1), str('a')), rule: 'MQTT-3.10.1-1' },
  { name: 'PUBLISH QoS 3', bytes: packetBytes(0x36, str('t'), u16(1)), rule: 'MQTT-3.3.1-4', offset: 0 },
  { name: 'PUBLISH QoS 3 with DUP and RETAIN', bytes: packetBytes(0x3f, str('t'), u16(1)), rule: 'MQTT-3.3.1-4' },
  { name: 'PUBLISH QoS 0 with DUP', bytes: packetBytes(0x38, str('t'), 'x'), rule: 'MQTT-3.3.1-2' },
  { name: 'PUBLISH QoS 0 with DUP and RETAIN', bytes: packetBytes(0x39, str('t')), rule: 'MQTT-3.3.1-2' },
];

const REMAINING_LENGTH: DecodeErrorFixture[] = [
  {
    name: 'Remaining Length with a fifth byte',
    bytes: bytes(0x30, [0xff, 0xff, 0xff, 0xff, 0x01]),
    rule: 'MQTT-2.2.3',
    offset: 5,
  },
  { name: 'Remaining Length whose fourth byte has the continuation bit', bytes: bytes(0x30, [0x80, 0x80, 0x80, 0x80]), rule: 'MQTT-2.2.3' },
  { name: 'non-minimal Remaining Length: 0 as 80 00', bytes: bytes(0xc0, [0x80, 0x00]), rule: 'MQTT-2.2.3', offset: 2 },
  {
    name: 'non-minimal Remaining Length: 3 as 83 80 00',
    bytes: bytes(0x30, [0x83, 0x80, 0x00], str('t'), 'x'),
    rule: 'MQTT-2.2.3',
  },
  {
    name: 'non-minimal Remaining Length: 2 as 82 80 80 00 (PUBACK)',
    bytes: bytes(0x40, [0x82, 0x80, 0x80, 0x00], u16(1)),
    rule: 'MQTT-2.2.3',
  },
  { name: 'empty input', bytes: bytes(), rule: 'MQTT-2.2.3', stream: 'waits' },
  { name: 'only the first byte', bytes: bytes(0x30), rule: 'MQTT-2.2.3', stream: 'waits' },
  { name: 'Remaining Length cut short', bytes: bytes(0x30, 0x80), rule: 'MQTT-2.2.3', stream: 'waits' },
  { name: 'body shorter than the Remaining Length', bytes: bytes(0x30, 10, str('a/b'), 'hi'), rule: 'MQTT-2.2.3', stream: 'waits' },
  {
    name: 'bytes after the packet (decode() takes exactly one packet)',
    bytes: bytes(0x40, 2, u16(1), 0x00),
    rule: 'MQTT-2.2.3',
    stream: 'decode-only',
  },
  { name: 'PUBLISH topic length runs past the packet', bytes: bytes(0x30, 3, u16(5), 'a'), rule: 'MQTT-2.2.3' },
  { name: 'PUBLISH too short for its topic length field', bytes: bytes(0x30, 1, 0x00), rule: 'MQTT-2.2.3' },
  { name: 'PUBLISH QoS 1 without room for the packet identifier', bytes: bytes(0x32, 4, str('t'), 0x00), rule: 'MQTT-2.2.3' },
  { name: 'SUBSCRIBE shorter than a packet identifier', bytes: bytes(0x82, 1, 0x00), rule: 'MQTT-2.2.3' },
  { name: 'SUBSCRIBE filter without its QoS byte', bytes: packetBytes(0x82, u16(1), str('a')), rule: 'MQTT-2.2.3' },
  { name: 'SUBSCRIBE filter length runs past the packet', bytes: packetBytes(0x82, u16(1), u16(9), 'a', 0), rule: 'MQTT-2.2.3' },
  { name: 'UNSUBSCRIBE shorter than a packet identifier', bytes: bytes(0xa2, 1, 0x00), rule: 'MQTT-2.2.3' },
  { name: 'UNSUBSCRIBE half a length field', bytes: packetBytes(0xa2, u16(1), str('a'), 0x00), rule: 'MQTT-2.2.3' },
  { name: 'CONNECT shorter than its variable header', bytes: packetBytes(0x10, MQTT4, 0x02), rule: 'MQTT-2.2.3' },
  { name: 'CONNECT without a client identifier', bytes: packetBytes(0x10, MQTT4, 0x02, KEEPALIVE), rule: 'MQTT-2.2.3' },
  { name: 'CONNECT Will flag set but no Will fields', bytes: packetBytes(0x10, MQTT4, 0x06, KEEPALIVE, str('a')), rule: 'MQTT-2.2.3' },
  {
    name: 'CONNECT user name flag set but no user name',
    bytes: packetBytes(0x10, MQTT4, 0x82, KEEPALIVE, str('a')),
    rule: 'MQTT-2.2.3',
  },
  {
    name: 'CONNECT password length runs past the packet',
    bytes: packetBytes(0x10, MQTT4, 0xc2, KEEPALIVE, str('a'), str('u'), u16(3), 'p'),
    rule: 'MQTT-2.2.3',
  },
];

const FIXED_LENGTHS: DecodeErrorFixture[] = [
  { name: 'CONNACK remaining length 3', bytes: bytes(0x20, 3, 0, 0, 0), rule: 'MQTT-3.2.1' },
  { name: 'CONNACK remaining length 1', bytes: bytes(0x20, 1, 0), rule: 'MQTT-3.2.1' },
  { name: 'PUBACK remaining length 3 (an MQTT 5 reason code)', bytes: bytes(0x40, 3, u16(1), 0), rule: 'MQTT-3.4.1' },
  { name: 'PUBACK remaining length 0', bytes: bytes(0x40, 0), rule: 'MQTT-3.4.1' },
  { name: 'PUBREC remaining length 1', bytes: bytes(0x50, 1, 1), rule: 'MQTT-3.5.1' },
  { name: 'PUBREL remaining length 3', bytes: bytes(0x62, 3, u16(1), 0), rule: 'MQTT-3.6.1' },
  { name: 'PUBCOMP remaining length 0', bytes: bytes(0x70, 0), rule: 'MQTT-3.7.1' },
  { name: 'UNSUBACK remaining length 3', bytes: bytes(0xb0, 3, u16(1), 0), rule: 'MQTT-3.11.1' },
  { name: 'PINGREQ remaining length 1', bytes: bytes(0xc0, 1, 0), rule: 'MQTT-3.12.1' },
  { name: 'PINGRESP remaining length 1', bytes: bytes(0xd0, 1, 0), rule: 'MQTT-3.13.1' },
  { name: 'DISCONNECT remaining length 1 (an MQTT 5 reason code)', bytes: bytes(0xe0, 1, 0), rule: 'MQTT-3.14.1' },
  { name: 'SUBACK without a return code', bytes: bytes(0x90, 2, u16(1)), rule: 'MQTT-3.9.3-1' },
];

const CONNACK: DecodeErrorFixture[] = [
  { name: 'acknowledge flags bit 1 set', bytes: bytes(0x20, 2, 0x02, 0), rule: 'MQTT-3.2.2.1', offset: 2 },
  { name: 'acknowledge flags bit 7 set', bytes: bytes(0x20, 2, 0x80, 0), rule: 'MQTT-3.2.2.1' },
  { name: 'return code 6 is reserved', bytes: bytes(0x20, 2, 0, 6), rule: 'MQTT-3.2.2.3', offset: 3 },
  { name: 'return code 255 is reserved', bytes: bytes(0x20, 2, 0, 0xff), rule: 'MQTT-3.2.2.3' },
  { name: 'session present with return code 5', bytes: bytes(0x20, 2, 1, 5), rule: 'MQTT-3.2.2-4' },
  { name: 'session present with return code 1', bytes: bytes(0x20, 2, 1, 1), rule: 'MQTT-3.2.2-4' },
];

const PACKET_IDS: DecodeErrorFixture[] = [
  { name: 'PUBLISH QoS 1 with packet identifier 0', bytes: packetBytes(0x32, str('t'), u16(0), 'x'), rule: 'MQTT-2.3.1-1', offset: 5 },
  { name: 'PUBLISH QoS 2 with packet identifier 0', bytes: packetBytes(0x34, str('t'), u16(0)), rule: 'MQTT-2.3.1-1' },
  { name: 'PUBACK packet identifier 0', bytes: bytes(0x40, 2, u16(0)), rule: 'MQTT-2.3.1-1', offset: 2 },
  { name: 'PUBREC packet identifier 0', bytes: bytes(0x50, 2, u16(0)), rule: 'MQTT-2.3.1-1' },
  { name: 'PUBREL packet identifier 0', bytes: bytes(0x62, 2, u16(0)), rule: 'MQTT-2.3.1-1' },
  { name: 'PUBCOMP packet identifier 0', bytes: bytes(0x70, 2, u16(0)), rule: 'MQTT-2.3.1-1' },
  { name: 'UNSUBACK packet identifier 0', bytes: bytes(0xb0, 2, u16(0)), rule: 'MQTT-2.3.1-1' },
  { name: 'SUBSCRIBE packet identifier 0', bytes: packetBytes(0x82, u16(0), str('a'), 0), rule: 'MQTT-2.3.1-1' },
  { name: 'SUBACK packet identifier 0', bytes: bytes(0x90, 3, u16(0), 0), rule: 'MQTT-2.3.1-1' },
  { name: 'UNSUBSCRIBE packet identifier 0', bytes: packetBytes(0xa2, u16(0), str('a')), rule: 'MQTT-2.3.1-1' },
];

const SUBSCRIPTIONS: DecodeErrorFixture[] = [
  { name: 'SUBACK return code 3', bytes: bytes(0x90, 3, u16(1), 0x03), rule: 'MQTT-3.9.3-2', offset: 4 },
  { name: 'SUBACK return code 0x81 after a valid one', bytes: bytes(0x90, 4, u16(1), 0x00, 0x81), rule: 'MQTT-3.9.3-2' },
  { name: 'SUBSCRIBE without a topic filter', bytes: bytes(0x82, 2, u16(1)), rule: 'MQTT-3.8.3-3' },
  { name: 'UNSUBSCRIBE without a topic filter', bytes: bytes(0xa2, 2, u16(1)), rule: 'MQTT-3.10.3-2' },
  { name: 'SUBSCRIBE requested QoS 3', bytes: packetBytes(0x82, u16(1), str('a'), 0x03), rule: 'MQTT-3.8.3-4' },
  { name: 'SUBSCRIBE requested QoS byte with a reserved bit', bytes: packetBytes(0x82, u16(1), str('a'), 0x04), rule: 'MQTT-3.8.3-4' },
  {
    name: 'SUBSCRIBE requested QoS byte with MQTT 5 options (0x81) after a valid filter',
    bytes: packetBytes(0x82, u16(1), str('a'), 0x00, str('b'), 0x81),
    rule: 'MQTT-3.8.3-4',
  },
  { name: 'SUBSCRIBE filter a/#/b: # not last', bytes: packetBytes(0x82, u16(1), str('a/#/b'), 0), rule: 'MQTT-4.7.1-2' },
  { name: 'SUBSCRIBE filter a#: # not a whole level', bytes: packetBytes(0x82, u16(1), str('a#'), 0), rule: 'MQTT-4.7.1-2' },
  { name: 'SUBSCRIBE filter #/: # not last', bytes: packetBytes(0x82, u16(1), str('#/'), 0), rule: 'MQTT-4.7.1-2' },
  { name: 'SUBSCRIBE filter a+: + not a whole level', bytes: packetBytes(0x82, u16(1), str('a+'), 0), rule: 'MQTT-4.7.1-3' },
  { name: 'SUBSCRIBE filter a/+b/c: + not a whole level', bytes: packetBytes(0x82, u16(1), str('a/+b/c'), 0), rule: 'MQTT-4.7.1-3' },
  { name: 'UNSUBSCRIBE filter x/#/y', bytes: packetBytes(0xa2, u16(1), str('x/#/y')), rule: 'MQTT-4.7.1-2' },
  { name: 'UNSUBSCRIBE filter +x', bytes: packetBytes(0xa2, u16(1), str('ok'), str('+x')), rule: 'MQTT-4.7.1-3' },
  { name: 'SUBSCRIBE empty topic filter', bytes: packetBytes(0x82, u16(1), u16(0), 0), rule: 'MQTT-4.7.3-1' },
  { name: 'UNSUBSCRIBE empty topic filter', bytes: packetBytes(0xa2, u16(1), u16(0)), rule: 'MQTT-4.7.3-1' },
];

const TOPICS: DecodeErrorFixture[] = [
  { name: 'PUBLISH empty topic name', bytes: packetBytes(0x30, u16(0), 'x'), rule: 'MQTT-4.7.3-1', offset: 2 },
  { name: 'PUBLISH topic name a/+', bytes: packetBytes(0x30, str('a/+'), 'x'), rule: 'MQTT-3.3.2-2' },
  { name: 'PUBLISH topic name a/#', bytes: packetBytes(0x32, str('a/#'), u16(1)), rule: 'MQTT-3.3.2-2' },
  { name: 'PUBLISH topic name #', bytes: packetBytes(0x30, str('#')), rule: 'MQTT-3.3.2-2' },
  {
    name: 'CONNECT Will topic with a wildcard',
    bytes: packetBytes(0x10, MQTT4, 0x04, KEEPALIVE, str('c'), str('w/+'), str('m')),
    rule: 'MQTT-4.7.1-1',
  },
  {
    name: 'CONNECT empty Will topic',
    bytes: packetBytes(0x10, MQTT4, 0x04, KEEPALIVE, str('c'), u16(0), str('m')),
    rule: 'MQTT-4.7.3-1',
  },
];

const UTF8: DecodeErrorFixture[] = [
  { name: 'topic with byte 0xff', bytes: packetBytes(0x30, u16(3), [0x61, 0xff, 0x62]), rule: 'MQTT-1.5.3-1', offset: 4 },
  { name: 'topic with an overlong "/" (c0 af)', bytes: packetBytes(0x30, u16(2), [0xc0, 0xaf]), rule: 'MQTT-1.5.3-1' },
  { name: 'topic with an overlong U+0000 (c0 80)', bytes: packetBytes(0x30, u16(2), [0xc0, 0x80]), rule: 'MQTT-1.5.3-1' },
  { name: 'topic with an encoded surrogate U+D800 (ed a0 80)', bytes: packetBytes(0x30, u16(3), [0xed, 0xa0, 0x80]), rule: 'MQTT-1.5.3-1' },
  { name: 'topic with a truncated 3-byte sequence', bytes: packetBytes(0x30, u16(3), [0x61, 0xe2, 0x98]), rule: 'MQTT-1.5.3-1' },
  { name: 'topic with a lone continuation byte', bytes: packetBytes(0x30, u16(1), [0x80]), rule: 'MQTT-1.5.3-1' },
  { name: 'topic with a code point above U+10FFFF', bytes: packetBytes(0x30, u16(4), [0xf4, 0x90, 0x80, 0x80]), rule: 'MQTT-1.5.3-1' },
  {
    name: 'long ASCII topic (past the fast path) ending with 0xff',
    bytes: packetBytes(0x30, u16(3001), 'a'.repeat(3000), [0xff]),
    rule: 'MQTT-1.5.3-1',
  },
  {
    name: 'client identifier not UTF-8',
    bytes: packetBytes(0x10, MQTT4, 0x02, KEEPALIVE, u16(1), [0xfe]),
    rule: 'MQTT-1.5.3-1',
  },
  {
    name: 'user name not UTF-8',
    bytes: packetBytes(0x10, MQTT4, 0x82, KEEPALIVE, str('c'), u16(2), [0xc3, 0x28]),
    rule: 'MQTT-1.5.3-1',
  },
  {
    name: 'Will topic not UTF-8',
    bytes: packetBytes(0x10, MQTT4, 0x04, KEEPALIVE, str('c'), u16(1), [0xff], str('m')),
    rule: 'MQTT-1.5.3-1',
  },
  { name: 'SUBSCRIBE filter not UTF-8', bytes: packetBytes(0x82, u16(1), u16(1), [0xff], 0), rule: 'MQTT-1.5.3-1' },
  { name: 'UNSUBSCRIBE filter not UTF-8', bytes: packetBytes(0xa2, u16(1), u16(1), [0xc0]), rule: 'MQTT-1.5.3-1' },
  { name: 'topic with U+0000', bytes: packetBytes(0x30, u16(3), [0x61, 0x00, 0x62]), rule: 'MQTT-1.5.3-2', offset: 5 },
  { name: 'client identifier with U+0000', bytes: packetBytes(0x10, MQTT4, 0x02, KEEPALIVE, u16(1), [0x00]), rule: 'MQTT-1.5.3-2' },
  {
    name: 'user name with U+0000',
    bytes: packetBytes(0x10, MQTT4, 0x82, KEEPALIVE, str('c'), u16(2), [0x75, 0x00]),
    rule: 'MQTT-1.5.3-2',
  },
  { name: 'SUBSCRIBE filter with U+0000', bytes: packetBytes(0x82, u16(1), u16(1), [0x00], 0), rule: 'MQTT-1.5.3-2' },
];

const CONNECT: DecodeErrorFixture[] = [
  {
    name: 'protocol name MQIsdp (MQTT 3.1)',
    bytes: packetBytes(0x10, str('MQIsdp'), 0x03, 0x02, KEEPALIVE, str('c')),
    rule: 'MQTT-3.1.2-1',
    offset: 2,
  },
  { name: 'protocol name in lower case', bytes: packetBytes(0x10, str('mqtt'), 0x04, 0x02, KEEPALIVE, str('c')), rule: 'MQTT-3.1.2-1' },
  { name: 'protocol name MQTTX', bytes: packetBytes(0x10, str('MQTTX'), 0x04, 0x02, KEEPALIVE, str('c')), rule: 'MQTT-3.1.2-1' },
  { name: 'protocol level 3', bytes: packetBytes(0x10, str('MQTT'), 0x03, 0x02, KEEPALIVE, str('c')), rule: 'MQTT-3.1.2-2', offset: 8 },
  { name: 'protocol level 5 (MQTT 5)', bytes: packetBytes(0x10, str('MQTT'), 0x05, 0x02, KEEPALIVE, str('c')), rule: 'MQTT-3.1.2-2' },
  { name: 'protocol level 0x84 (bridge bit)', bytes: packetBytes(0x10, str('MQTT'), 0x84, 0x02, KEEPALIVE, str('c')), rule: 'MQTT-3.1.2-2' },
  { name: 'reserved connect flag set', bytes: packetBytes(0x10, MQTT4, 0x03, KEEPALIVE, str('c')), rule: 'MQTT-3.1.2-3', offset: 9 },
  { name: 'Will QoS 1 without the Will flag', bytes: packetBytes(0x10, MQTT4, 0x0a, KEEPALIVE, str('c')), rule: 'MQTT-3.1.2-13' },
  {
    name: 'Will QoS 3',
    bytes: packetBytes(0x10, MQTT4, 0x1e, KEEPALIVE, str('c'), str('w'), str('m')),
    rule: 'MQTT-3.1.2-14',
  },
  { name: 'Will Retain without the Will flag', bytes: packetBytes(0x10, MQTT4, 0x22, KEEPALIVE, str('c')), rule: 'MQTT-3.1.2-15' },
  {
    name: 'password flag without the user name flag',
    bytes: packetBytes(0x10, MQTT4, 0x42, KEEPALIVE, str('c'), str('p')),
    rule: 'MQTT-3.1.2-22',
  },
  {
    name: 'a user name present but its flag 0 (bytes after the last field)',
    bytes: packetBytes(0x10, MQTT4, 0x02, KEEPALIVE, str('c'), str('u')),
    rule: 'MQTT-3.1.3-1',
  },
  {
    name: 'one stray byte after the password',
    bytes: packetBytes(0x10, MQTT4, 0xc2, KEEPALIVE, str('c'), str('u'), str('p'), 0x00),
    rule: 'MQTT-3.1.3-1',
  },
];

describe('decode: input type', () => {
  it('decode() refuses anything but a Uint8Array (MQTT-2.2)', () => {
    for (const bad of ['c000', [0xc0, 0], null, new ArrayBuffer(2)]) {
      expect(protocolError(() => decode(bad as unknown as Uint8Array)).rule).toBe('MQTT-2.2');
    }
  });
});

describe('decode: accepted on purpose', () => {
  it('a zero-length client identifier with CleanSession 0: a server must read it to answer 0x02 (MQTT-3.1.3-8)', () => {
    const b = packetBytes(0x10, MQTT4, 0x00, KEEPALIVE, u16(0));
    expect(decode(b)).toEqual({ type: 'connect', clientId: '', keepalive: 60, cleanSession: false });
    // ...but the encoder refuses to send it (MQTT-3.1.3-7).
    expect(protocolError(() => encode(decode(b))).rule).toBe('MQTT-3.1.3-7');
  });
});

describe('decode: fixed header (type and flags)', () => testDecodeErrors(FIXED_HEADER));
describe('decode: Remaining Length and field bounds', () => testDecodeErrors(REMAINING_LENGTH));
describe('decode: fixed remaining lengths', () => testDecodeErrors(FIXED_LENGTHS));
describe('decode: CONNACK', () => testDecodeErrors(CONNACK));
describe('decode: packet identifiers', () => testDecodeErrors(PACKET_IDS));
describe('decode: SUBSCRIBE, SUBACK, UNSUBSCRIBE', () => testDecodeErrors(SUBSCRIPTIONS));
describe('decode: topic names', () => testDecodeErrors(TOPICS));
describe('decode: UTF-8 strings', () => testDecodeErrors(UTF8));
describe('decode: CONNECT', () => testDecodeErrors(CONNECT));

// ---------------------------------------------------------------------------------------------------------------
// Encode direction

const payload = Uint8Array.of(1);
const pub = (over: Record<string, unknown>): unknown => ({
  type: 'publish',
  topic: 't',
  payload,
  qos: 0,
  dup: false,
  retain: false,
  ...over,
});
const con = (over: Record<string, unknown>): unknown => ({ type: 'connect', clientId: 'c', keepalive: 60, cleanSession: true, ...over });
const will = (over: Record<string, unknown>): Record<string, unknown> => ({
  topic: 'w',
  payload,
  qos: 0,
  retain: false,
  ...over,
});

/** A Uint8Array that claims `length` bytes without allocating them. */
function hugePayload(length: number): Uint8Array {
  return new Proxy(new Uint8Array(0), {
    get: (target, key) => (key === 'length' ? length : Reflect.get(target, key)),
  });
}

const ENCODE_ERRORS: EncodeErrorFixture[] = [
  { name: 'unknown packet type auth', packet: { type: 'auth' }, rule: 'MQTT-2.2.1' },
  { name: 'unknown packet type undefined', packet: {}, rule: 'MQTT-2.2.1' },
  { name: 'PUBLISH QoS 3', packet: pub({ qos: 3, messageId: 1 }), rule: 'MQTT-3.3.1-4' },
  { name: 'PUBLISH QoS "1" (a string)', packet: pub({ qos: '1', messageId: 1 }), rule: 'MQTT-3.3.1-4' },
  { name: 'PUBLISH QoS 0 with DUP', packet: pub({ dup: true }), rule: 'MQTT-3.3.1-2' },
  { name: 'PUBLISH QoS 0 with a packet identifier', packet: pub({ messageId: 1 }), rule: 'MQTT-2.3.1-5' },
  { name: 'PUBLISH QoS 1 without a packet identifier', packet: pub({ qos: 1 }), rule: 'MQTT-2.3.1-1' },
  { name: 'PUBLISH QoS 1 with packet identifier 0', packet: pub({ qos: 1, messageId: 0 }), rule: 'MQTT-2.3.1-1' },
  { name: 'PUBLISH QoS 2 with packet identifier 65536', packet: pub({ qos: 2, messageId: 65536 }), rule: 'MQTT-2.3.1-1' },
  { name: 'PUBLISH QoS 1 with packet identifier 1.5', packet: pub({ qos: 1, messageId: 1.5 }), rule: 'MQTT-2.3.1-1' },
  { name: 'PUBACK packet identifier 0', packet: { type: 'puback', messageId: 0 }, rule: 'MQTT-2.3.1-1' },
  { name: 'PUBREC packet identifier -1', packet: { type: 'pubrec', messageId: -1 }, rule: 'MQTT-2.3.1-1' },
  { name: 'PUBREL packet identifier 70000', packet: { type: 'pubrel', messageId: 70000 }, rule: 'MQTT-2.3.1-1' },
  { name: 'PUBCOMP without a packet identifier', packet: { type: 'pubcomp' }, rule: 'MQTT-2.3.1-1' },
  { name: 'UNSUBACK packet identifier 0', packet: { type: 'unsuback', messageId: 0 }, rule: 'MQTT-2.3.1-1' },
  {
    name: 'SUBSCRIBE packet identifier 0',
    packet: { type: 'subscribe', messageId: 0, subscriptions: [{ topic: 'a', qos: 0 }] },
    rule: 'MQTT-2.3.1-1',
  },
  { name: 'SUBACK packet identifier 0', packet: { type: 'suback', messageId: 0, granted: [0] }, rule: 'MQTT-2.3.1-1' },
  { name: 'UNSUBSCRIBE packet identifier 0', packet: { type: 'unsubscribe', messageId: 0, unsubscriptions: ['a'] }, rule: 'MQTT-2.3.1-1' },
  { name: 'PUBLISH empty topic', packet: pub({ topic: '' }), rule: 'MQTT-4.7.3-1' },
  { name: 'PUBLISH topic not a string', packet: pub({ topic: 42 }), rule: 'MQTT-4.7.3-1' },
  { name: 'PUBLISH topic #', packet: pub({ topic: '#' }), rule: 'MQTT-3.3.2-2' },
  { name: 'PUBLISH topic +', packet: pub({ topic: '+' }), rule: 'MQTT-3.3.2-2' },
  { name: 'PUBLISH topic a/+/b', packet: pub({ topic: 'a/+/b' }), rule: 'MQTT-3.3.2-2' },
  { name: 'PUBLISH payload that is a string', packet: pub({ payload: 'text' }), rule: 'MQTT-3.3.3' },
  { name: 'PUBLISH topic with a lone high surrogate', packet: pub({ topic: 'a\ud800' }), rule: 'MQTT-1.5.3-1' },
  { name: 'PUBLISH topic with a lone low surrogate', packet: pub({ topic: '\udc00a' }), rule: 'MQTT-1.5.3-1' },
  { name: 'PUBLISH topic with a reversed surrogate pair', packet: pub({ topic: '\ude00\ud83d' }), rule: 'MQTT-1.5.3-1' },
  { name: 'PUBLISH topic with U+0000', packet: pub({ topic: 'a\u0000b' }), rule: 'MQTT-1.5.3-2' },
  { name: 'PUBLISH topic of 65536 bytes', packet: pub({ topic: 'a'.repeat(65536) }), rule: 'MQTT-1.5.3' },
  { name: 'PUBLISH topic of 21846 three-byte characters (65538 bytes)', packet: pub({ topic: '☃'.repeat(21846) }), rule: 'MQTT-1.5.3' },
  {
    name: 'PUBLISH whose Remaining Length would be 268435456',
    packet: pub({ payload: hugePayload(MAX_REMAINING_LENGTH - 2) }),
    rule: 'MQTT-2.2.3',
  },
  { name: 'CONNACK return code 6', packet: { type: 'connack', sessionPresent: false, returnCode: 6 }, rule: 'MQTT-3.2.2.3' },
  { name: 'CONNACK return code -1', packet: { type: 'connack', sessionPresent: false, returnCode: -1 }, rule: 'MQTT-3.2.2.3' },
  { name: 'CONNACK return code 0.5', packet: { type: 'connack', sessionPresent: false, returnCode: 0.5 }, rule: 'MQTT-3.2.2.3' },
  { name: 'CONNACK session present with return code 4', packet: { type: 'connack', sessionPresent: true, returnCode: 4 }, rule: 'MQTT-3.2.2-4' },
  {
    name: 'SUBSCRIBE without filters',
    packet: { type: 'subscribe', messageId: 1, subscriptions: [] },
    rule: 'MQTT-3.8.3-3',
  },
  { name: 'SUBSCRIBE requested QoS 3', packet: { type: 'subscribe', messageId: 1, subscriptions: [{ topic: 'a', qos: 3 }] }, rule: 'MQTT-3.8.3-4' },
  {
    name: 'SUBSCRIBE filter a/#/b',
    packet: { type: 'subscribe', messageId: 1, subscriptions: [{ topic: 'a/#/b', qos: 0 }] },
    rule: 'MQTT-4.7.1-2',
  },
  {
    name: 'SUBSCRIBE filter a+ as the second filter',
    packet: { type: 'subscribe', messageId: 1, subscriptions: [{ topic: 'ok', qos: 0 }, { topic: 'a+', qos: 0 }] },
    rule: 'MQTT-4.7.1-3',
  },
  { name: 'SUBSCRIBE empty filter', packet: { type: 'subscribe', messageId: 1, subscriptions: [{ topic: '', qos: 0 }] }, rule: 'MQTT-4.7.3-1' },
  {
    name: 'SUBSCRIBE filter not a string',
    packet: { type: 'subscribe', messageId: 1, subscriptions: [{ topic: null, qos: 0 }] },
    rule: 'MQTT-3.8.3-1',
  },
  {
    name: 'SUBSCRIBE filter with a lone surrogate',
    packet: { type: 'subscribe', messageId: 1, subscriptions: [{ topic: 'a/\ud83d', qos: 0 }] },
    rule: 'MQTT-1.5.3-1',
  },
  { name: 'SUBACK without return codes', packet: { type: 'suback', messageId: 1, granted: [] }, rule: 'MQTT-3.9.3-1' },
  { name: 'SUBACK return code 3', packet: { type: 'suback', messageId: 1, granted: [0, 3] }, rule: 'MQTT-3.9.3-2' },
  { name: 'SUBACK return code 0x81', packet: { type: 'suback', messageId: 1, granted: [0x81] }, rule: 'MQTT-3.9.3-2' },
  { name: 'UNSUBSCRIBE without filters', packet: { type: 'unsubscribe', messageId: 1, unsubscriptions: [] }, rule: 'MQTT-3.10.3-2' },
  { name: 'UNSUBSCRIBE filter #/a', packet: { type: 'unsubscribe', messageId: 1, unsubscriptions: ['#/a'] }, rule: 'MQTT-4.7.1-2' },
  { name: 'UNSUBSCRIBE filter +a', packet: { type: 'unsubscribe', messageId: 1, unsubscriptions: ['+a'] }, rule: 'MQTT-4.7.1-3' },
  { name: 'UNSUBSCRIBE filter not a string', packet: { type: 'unsubscribe', messageId: 1, unsubscriptions: [7] }, rule: 'MQTT-3.10.3-1' },
  { name: 'UNSUBSCRIBE filter with U+0000', packet: { type: 'unsubscribe', messageId: 1, unsubscriptions: ['\u0000'] }, rule: 'MQTT-1.5.3-2' },
  { name: 'CONNECT client identifier missing', packet: con({ clientId: undefined }), rule: 'MQTT-3.1.3-3' },
  { name: 'CONNECT empty client identifier without clean session', packet: con({ clientId: '', cleanSession: false }), rule: 'MQTT-3.1.3-7' },
  { name: 'CONNECT client identifier with U+0000', packet: con({ clientId: 'a\u0000' }), rule: 'MQTT-1.5.3-2' },
  { name: 'CONNECT client identifier with a lone surrogate', packet: con({ clientId: '\udfff' }), rule: 'MQTT-1.5.3-1' },
  { name: 'CONNECT keepalive 65536', packet: con({ keepalive: 65536 }), rule: 'MQTT-3.1.2.10' },
  { name: 'CONNECT keepalive -1', packet: con({ keepalive: -1 }), rule: 'MQTT-3.1.2.10' },
  { name: 'CONNECT keepalive 1.5', packet: con({ keepalive: 1.5 }), rule: 'MQTT-3.1.2.10' },
  { name: 'CONNECT password without a user name', packet: con({ password: payload }), rule: 'MQTT-3.1.2-22' },
  { name: 'CONNECT password not a Uint8Array', packet: con({ username: 'u', password: 'secret' }), rule: 'MQTT-3.1.3.5' },
  { name: 'CONNECT password of 65536 bytes', packet: con({ username: 'u', password: new Uint8Array(65536) }), rule: 'MQTT-3.1.3.5' },
  { name: 'CONNECT user name not a string', packet: con({ username: 5 }), rule: 'MQTT-3.1.3-11' },
  { name: 'CONNECT user name with U+0000', packet: con({ username: '\u0000' }), rule: 'MQTT-1.5.3-2' },
  { name: 'CONNECT Will QoS 3', packet: con({ will: will({ qos: 3 }) }), rule: 'MQTT-3.1.2-14' },
  { name: 'CONNECT empty Will topic', packet: con({ will: will({ topic: '' }) }), rule: 'MQTT-4.7.3-1' },
  { name: 'CONNECT Will topic with #', packet: con({ will: will({ topic: 'a/#' }) }), rule: 'MQTT-4.7.1-1' },
  { name: 'CONNECT Will topic with a lone surrogate', packet: con({ will: will({ topic: '\ud800' }) }), rule: 'MQTT-1.5.3-1' },
  { name: 'CONNECT Will message not a Uint8Array', packet: con({ will: will({ payload: 'bye' }) }), rule: 'MQTT-3.1.3.3' },
  { name: 'CONNECT Will message of 65536 bytes', packet: con({ will: will({ payload: new Uint8Array(65536) }) }), rule: 'MQTT-3.1.3.3' },
];

describe('encode refuses packets MQTT 3.1.1 forbids', () => {
  testEncodeErrors(ENCODE_ERRORS);

  it('every error is an MqttProtocolError with code EPROTO and a message naming the rule', () => {
    const err = protocolError(() => encode(pub({ qos: 3 }) as Packet));
    expect(err).toBeInstanceOf(MqttProtocolError);
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe('MqttProtocolError');
    expect(err.message).toMatch(/\[MQTT-3\.3\.1-4\]$/);
  });

  it('a freshly loaded encoder refuses # as its very first PUBLISH topic (topic cache starts empty)', async () => {
    // Regression: the one-entry topic-length cache once started with '#' as its "impossible" key, so the first
    // PUBLISH to '#' hit the cache and went out with an empty topic instead of failing.
    vi.resetModules();
    const fresh = await import('../../src/codec/encode.js');
    // The fresh module graph has its own MqttProtocolError class, so check the fields, not instanceof.
    expect(() => fresh.encode(pub({ topic: '#' }) as Packet)).toThrow(
      expect.objectContaining({ name: 'MqttProtocolError', rule: 'MQTT-3.3.2-2' }),
    );
  });

  it('encodedLength of a PUBLISH at exactly the largest Remaining Length, without allocating the payload', () => {
    // 2 (topic length) + 1 (topic 't') + payload = 268435455
    const p = pub({ payload: hugePayload(MAX_REMAINING_LENGTH - 3) }) as Packet;
    expect(encodedLength(p)).toBe(1 + 4 + MAX_REMAINING_LENGTH);
  });
});
