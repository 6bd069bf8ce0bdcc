/**
 * Annotated byte fixtures: every MQTT 3.1.1 packet type, each written as a packet object and as its bytes with a
 * comment per field. Used by fixtures.test.ts (parse, encode, round trip) and stream.test.ts (chunkings).
 * Byte layouts: MQTT 3.1.1 chapters 2 and 3, http://docs.oasis-open.org/mqtt/mqtt/v3.1.1/os/mqtt-v3.1.1-os.html
 */
import { bytes, u16, type Fixture } from '../helpers/fixtures.js';

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const filled = (n: number, b: number): Uint8Array => new Uint8Array(n).fill(b);

export const CONNECT_FIXTURES: Fixture[] = [
  {
    name: 'CONNECT minimal: clean session, keepalive 60',
    packet: { type: 'connect', clientId: 'dev1', keepalive: 60, cleanSession: true },
    bytes: bytes(
      0x10, // type 1 CONNECT, flags 0000
      16, // remaining length
      u16(4), // protocol name length
      'MQTT', // protocol name (MQTT-3.1.2-1)
      0x04, // protocol level 4 = 3.1.1 (MQTT-3.1.2-2)
      0x02, // connect flags: clean session
      u16(60), // keepalive, seconds
      u16(4), // client identifier length
      'dev1', // client identifier
    ),
  },
  {
    name: 'CONNECT with every field: Will QoS 1 retained, user name, binary password, keepalive 65535',
    packet: {
      type: 'connect',
      clientId: 'client-1',
      keepalive: 65535,
      cleanSession: false,
      will: { topic: 'w/t', payload: text('bye'), qos: 1, retain: true },
      username: 'user',
      password: Uint8Array.of(0x00, 0xff, 0x7f),
    },
    bytes: bytes(
      0x10, // CONNECT
      41, // remaining length
      u16(4), // protocol name length
      'MQTT', // protocol name
      0x04, // protocol level 4
      0xec, // flags: user name 0x80 | password 0x40 | Will retain 0x20 | Will QoS 1 0x08 | Will 0x04; clean 0
      u16(65535), // keepalive, the largest
      u16(8), // client identifier length
      'client-1', // client identifier
      u16(3), // Will topic length
      'w/t', // Will topic
      u16(3), // Will message length
      'bye', // Will message
      u16(4), // user name length
      'user', // user name
      u16(3), // password length
      [0x00, 0xff, 0x7f], // password: binary data, not UTF-8
    ),
  },
  {
    name: 'CONNECT with a zero-length client identifier and clean session (MQTT-3.1.3-7), keepalive 0',
    packet: { type: 'connect', clientId: '', keepalive: 0, cleanSession: true },
    bytes: bytes(
      0x10, // CONNECT
      12, // remaining length
      u16(4), // protocol name length
      'MQTT', // protocol name
      0x04, // protocol level 4
      0x02, // flags: clean session
      u16(0), // keepalive 0: disabled
      u16(0), // client identifier length 0: the server assigns one
    ),
  },
  {
    name: 'CONNECT with a UTF-8 client identifier, Will QoS 2 with an empty message, user name without password',
    packet: {
      type: 'connect',
      clientId: 'Gerät',
      keepalive: 1177,
      cleanSession: false,
      will: { topic: 'a', payload: new Uint8Array(0), qos: 2, retain: false },
      username: 'u',
    },
    bytes: bytes(
      0x10, // CONNECT
      26, // remaining length
      u16(4), // protocol name length
      'MQTT', // protocol name
      0x04, // protocol level 4
      0x94, // flags: user name 0x80 | Will QoS 2 0x10 | Will 0x04
      u16(1177), // keepalive: Azure's maximum
      u16(6), // client identifier length in bytes (5 characters)
      [0x47, 0x65, 0x72, 0xc3, 0xa4, 0x74], // client identifier 'Gerät': 'ä' is c3 a4
      u16(1), // Will topic length
      'a', // Will topic
      u16(0), // Will message length 0
      u16(1), // user name length
      'u', // user name
    ),
  },
];

export const CONNACK_FIXTURES: Fixture[] = [
  {
    name: 'CONNACK accepted, no session',
    packet: { type: 'connack', sessionPresent: false, returnCode: 0 },
    bytes: bytes(
      0x20, // type 2 CONNACK, flags 0000
      2, // remaining length
      0x00, // acknowledge flags: session present 0
      0x00, // return code 0: accepted
    ),
  },
  {
    name: 'CONNACK accepted, session present',
    packet: { type: 'connack', sessionPresent: true, returnCode: 0 },
    bytes: bytes(
      0x20, // CONNACK
      2, // remaining length
      0x01, // acknowledge flags: session present 1
      0x00, // return code 0: accepted
    ),
  },
  {
    name: 'CONNACK refused: not authorized',
    packet: { type: 'connack', sessionPresent: false, returnCode: 5 },
    bytes: bytes(
      0x20, // CONNACK
      2, // remaining length
      0x00, // acknowledge flags: session present 0 (MQTT-3.2.2-4)
      0x05, // return code 5: not authorized (what Azure sends for a bad SAS token or certificate)
    ),
  },
];

export const PUBLISH_FIXTURES: Fixture[] = [
  {
    name: 'PUBLISH QoS 0',
    packet: { type: 'publish', topic: 'a/b', payload: text('hello'), qos: 0, dup: false, retain: false },
    bytes: bytes(
      0x30, // type 3 PUBLISH, flags: DUP 0, QoS 0, RETAIN 0
      10, // remaining length
      u16(3), // topic name length
      'a/b', // topic name
      'hello', // payload: the rest of the packet, no length prefix
    ),
  },
  {
    name: 'PUBLISH QoS 1, DUP, RETAIN',
    packet: {
      type: 'publish',
      topic: 'a/b',
      payload: Uint8Array.of(1, 2),
      qos: 1,
      dup: true,
      retain: true,
      messageId: 10,
    },
    bytes: bytes(
      0x3b, // PUBLISH, flags 1011: DUP 1, QoS 01, RETAIN 1
      9, // remaining length
      u16(3), // topic name length
      'a/b', // topic name
      u16(10), // packet identifier
      [1, 2], // payload
    ),
  },
  {
    name: 'PUBLISH QoS 2 with packet identifier 65535 and an empty payload',
    packet: { type: 'publish', topic: 't', payload: new Uint8Array(0), qos: 2, dup: false, retain: false, messageId: 65535 },
    bytes: bytes(
      0x34, // PUBLISH, flags 0100: QoS 2
      5, // remaining length
      u16(1), // topic name length
      't', // topic name
      u16(65535), // packet identifier, the largest
      // payload: empty (allowed, section 3.3.3)
    ),
  },
  {
    name: 'PUBLISH QoS 0 retained with an empty payload (clears a retained message)',
    packet: { type: 'publish', topic: 't', payload: new Uint8Array(0), qos: 0, dup: false, retain: true },
    bytes: bytes(
      0x31, // PUBLISH, flags 0001: RETAIN
      3, // remaining length
      u16(1), // topic name length
      't', // topic name
    ),
  },
  {
    name: 'PUBLISH with a BOM and non-ASCII characters in the topic (BOM kept, MQTT-1.5.3-3)',
    packet: { type: 'publish', topic: '\uFEFFcafé/☃/😀', payload: text('x'), qos: 0, dup: false, retain: false },
    bytes: bytes(
      0x30, // PUBLISH QoS 0
      20, // remaining length
      u16(17), // topic name length in bytes (11 UTF-16 code units)
      [0xef, 0xbb, 0xbf], // U+FEFF BOM: part of the topic, never stripped
      'caf', // ASCII
      [0xc3, 0xa9], // 'é' U+00E9, 2 bytes
      '/', // level separator
      [0xe2, 0x98, 0x83], // '☃' U+2603, 3 bytes
      '/', // level separator
      [0xf0, 0x9f, 0x98, 0x80], // '😀' U+1F600, 4 bytes (a surrogate pair in JavaScript)
      'x', // payload
    ),
  },
  {
    name: 'PUBLISH Azure telemetry with a property bag, QoS 1',
    packet: {
      type: 'publish',
      topic: 'devices/dev1/messages/events/%24.ct=application%2Fjson&a=1',
      payload: text('{"t":21.5}'),
      qos: 1,
      dup: false,
      retain: false,
      messageId: 1,
    },
    bytes: bytes(
      0x32, // PUBLISH, flags 0010: QoS 1
      72, // remaining length
      u16(58), // topic name length
      'devices/dev1/messages/events/', // Azure device-to-cloud topic
      '%24.ct=application%2Fjson&a=1', // property bag: content type (URL-encoded) and a user property
      u16(1), // packet identifier
      '{"t":21.5}', // payload
    ),
  },
  {
    name: 'PUBLISH with remaining length 127, the largest 1-byte Remaining Length',
    packet: { type: 'publish', topic: 'a', payload: filled(124, 0x61), qos: 0, dup: false, retain: false },
    bytes: bytes(
      0x30, // PUBLISH QoS 0
      0x7f, // remaining length 127: one byte
      u16(1), // topic name length
      'a', // topic name
      filled(124, 0x61), // payload: 124 bytes 'a'
    ),
  },
  {
    name: 'PUBLISH with remaining length 128, the smallest 2-byte Remaining Length',
    packet: { type: 'publish', topic: 'a', payload: filled(125, 0x62), qos: 0, dup: false, retain: false },
    bytes: bytes(
      0x30, // PUBLISH QoS 0
      [0x80, 0x01], // remaining length 128 = 0 + 1 * 128
      u16(1), // topic name length
      'a', // topic name
      filled(125, 0x62), // payload: 125 bytes 'b'
    ),
  },
  {
    name: 'PUBLISH with remaining length 16383, the largest 2-byte Remaining Length',
    packet: { type: 'publish', topic: 'a', payload: filled(16380, 0x63), qos: 0, dup: false, retain: false },
    bytes: bytes(
      0x30, // PUBLISH QoS 0
      [0xff, 0x7f], // remaining length 16383 = 127 + 127 * 128
      u16(1), // topic name length
      'a', // topic name
      filled(16380, 0x63), // payload: 16380 bytes 'c'
    ),
  },
  {
    name: 'PUBLISH with remaining length 16384, the smallest 3-byte Remaining Length',
    packet: {
      type: 'publish',
      topic: 'a',
      payload: filled(16379, 0x64),
      qos: 1,
      dup: false,
      retain: false,
      messageId: 2,
    },
    bytes: bytes(
      0x32, // PUBLISH QoS 1
      [0x80, 0x80, 0x01], // remaining length 16384 = 0 + 0 * 128 + 1 * 128^2
      u16(1), // topic name length
      'a', // topic name
      u16(2), // packet identifier
      filled(16379, 0x64), // payload: 16379 bytes 'd'
    ),
  },
];

export const ACK_FIXTURES: Fixture[] = [
  {
    name: 'PUBACK',
    packet: { type: 'puback', messageId: 1 },
    bytes: bytes(
      0x40, // type 4 PUBACK, flags 0000
      2, // remaining length: always 2
      u16(1), // packet identifier of the PUBLISH (MQTT-2.3.1-6)
    ),
  },
  {
    name: 'PUBREC',
    packet: { type: 'pubrec', messageId: 0x1234 },
    bytes: bytes(
      0x50, // type 5 PUBREC, flags 0000
      2, // remaining length
      [0x12, 0x34], // packet identifier 0x1234
    ),
  },
  {
    name: 'PUBREL',
    packet: { type: 'pubrel', messageId: 65535 },
    bytes: bytes(
      0x62, // type 6 PUBREL, flags 0010 (MQTT-3.6.1-1)
      2, // remaining length
      u16(65535), // packet identifier
    ),
  },
  {
    name: 'PUBCOMP',
    packet: { type: 'pubcomp', messageId: 128 },
    bytes: bytes(
      0x70, // type 7 PUBCOMP, flags 0000
      2, // remaining length
      u16(128), // packet identifier
    ),
  },
  {
    name: 'UNSUBACK',
    packet: { type: 'unsuback', messageId: 2 },
    bytes: bytes(
      0xb0, // type 11 UNSUBACK, flags 0000
      2, // remaining length
      u16(2), // packet identifier of the UNSUBSCRIBE (MQTT-2.3.1-7)
    ),
  },
];

export const SUBSCRIPTION_FIXTURES: Fixture[] = [
  {
    name: 'SUBSCRIBE one filter (Azure cloud-to-device)',
    packet: { type: 'subscribe', messageId: 1, subscriptions: [{ topic: 'devices/dev1/messages/devicebound/#', qos: 1 }] },
    bytes: bytes(
      0x82, // type 8 SUBSCRIBE, flags 0010 (MQTT-3.8.1-1)
      40, // remaining length
      u16(1), // packet identifier
      u16(35), // topic filter length
      'devices/dev1/messages/devicebound/#', // topic filter, # as the whole last level
      0x01, // requested QoS 1
    ),
  },
  {
    name: 'SUBSCRIBE three filters with QoS 0, 1, 2',
    packet: {
      type: 'subscribe',
      messageId: 0x0102,
      subscriptions: [
        { topic: '$iothub/twin/res/#', qos: 0 },
        { topic: '+/b/+', qos: 1 },
        { topic: '#', qos: 2 },
      ],
    },
    bytes: bytes(
      0x82, // SUBSCRIBE
      35, // remaining length
      [0x01, 0x02], // packet identifier 0x0102
      u16(18), // topic filter 1 length
      '$iothub/twin/res/#', // topic filter 1
      0x00, // requested QoS 0
      u16(5), // topic filter 2 length
      '+/b/+', // topic filter 2: + as whole levels
      0x01, // requested QoS 1
      u16(1), // topic filter 3 length
      '#', // topic filter 3: everything (but not $ topics, MQTT-4.7.2-1)
      0x02, // requested QoS 2
    ),
  },
  {
    name: 'SUBACK with every allowed return code',
    packet: { type: 'suback', messageId: 1, granted: [0, 1, 2, 0x80] },
    bytes: bytes(
      0x90, // type 9 SUBACK, flags 0000
      6, // remaining length
      u16(1), // packet identifier of the SUBSCRIBE
      0x00, // granted QoS 0
      0x01, // granted QoS 1
      0x02, // granted QoS 2
      0x80, // failure (MQTT-3.9.3-2)
    ),
  },
  {
    name: 'UNSUBSCRIBE two filters',
    packet: { type: 'unsubscribe', messageId: 2, unsubscriptions: ['a/b', '$iothub/methods/POST/#'] },
    bytes: bytes(
      0xa2, // type 10 UNSUBSCRIBE, flags 0010 (MQTT-3.10.1-1)
      31, // remaining length
      u16(2), // packet identifier
      u16(3), // topic filter 1 length
      'a/b', // topic filter 1
      u16(22), // topic filter 2 length
      '$iothub/methods/POST/#', // topic filter 2
    ),
  },
];

export const EMPTY_FIXTURES: Fixture[] = [
  {
    name: 'PINGREQ',
    packet: { type: 'pingreq' },
    bytes: bytes(
      0xc0, // type 12 PINGREQ, flags 0000
      0, // remaining length: always 0
    ),
  },
  {
    name: 'PINGRESP',
    packet: { type: 'pingresp' },
    bytes: bytes(
      0xd0, // type 13 PINGRESP, flags 0000
      0, // remaining length
    ),
  },
  {
    name: 'DISCONNECT',
    packet: { type: 'disconnect' },
    bytes: bytes(
      0xe0, // type 14 DISCONNECT, flags 0000 (MQTT-3.14.1-1)
      0, // remaining length
    ),
  },
];

/** Every valid fixture, all 14 packet types. */
export const ALL_FIXTURES: Fixture[] = [
  ...CONNECT_FIXTURES,
  ...CONNACK_FIXTURES,
  ...PUBLISH_FIXTURES,
  ...ACK_FIXTURES,
  ...SUBSCRIPTION_FIXTURES,
  ...EMPTY_FIXTURES,
];
