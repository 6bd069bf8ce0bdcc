/**
 * Bytes -> packet, for one whole packet whose fixed header has been read. Views, not copies: a PUBLISH payload, a
 * password and a Will message are `subarray`s of the input.
 */
import { fail } from './errors.js';
import { validateTopicFilter } from './topic.js';
import type {
  ConnackPacket,
  ConnectPacket,
  Packet,
  PublishPacket,
  QoS,
  SubackPacket,
  SubackReturnCode,
  SubscribePacket,
  Subscription,
  UnsubscribePacket,
  Will,
} from './types.js';
import { readUtf8 } from './utf8.js';
import { readVarint, varint } from './varint.js';

const PINGREQ: Packet = Object.freeze({ type: 'pingreq' });
const PINGRESP: Packet = Object.freeze({ type: 'pingresp' });
const DISCONNECT: Packet = Object.freeze({ type: 'disconnect' });

/**
 * Check the first byte of a packet: reserved types 0 and 15 (section 2.2.1), the flags of Table 2.2
 * (MQTT-2.2.2-1; `0010` for PUBREL, SUBSCRIBE, UNSUBSCRIBE: MQTT-3.6.1-1, MQTT-3.8.1-1, MQTT-3.10.1-1) and the
 * PUBLISH QoS/DUP rules (MQTT-3.3.1-4, MQTT-3.3.1-2). Done before any of the body is buffered.
 */
export function checkFirstByte(first: number, offset: number): void {
  const type = first >> 4;
  const flags = first & 0x0f;
  switch (type) {
    case 3:
      if ((flags & 0x06) === 0x06) fail('MQTT-3.3.1-4', 'PUBLISH QoS bits are both set (QoS 3)', offset);
      if ((flags & 0x0e) === 0x08) fail('MQTT-3.3.1-2', 'DUP is set on a QoS 0 PUBLISH', offset);
      return;
    case 6:
      if (flags !== 2) fail('MQTT-3.6.1-1', 'PUBREL fixed header flags must be 0010', offset);
      return;
    case 8:
      if (flags !== 2) fail('MQTT-3.8.1-1', 'SUBSCRIBE fixed header flags must be 0010', offset);
      return;
    case 10:
      if (flags !== 2) fail('MQTT-3.10.1-1', 'UNSUBSCRIBE fixed header flags must be 0010', offset);
      return;
    case 0:
    case 15:
      fail('MQTT-2.2.1', `packet type ${type} is reserved`, offset);
    // eslint-disable-next-line no-fallthrough
    default:
      if (flags !== 0) fail('MQTT-2.2.2-1', `reserved flags of packet type ${type} must be 0000`, offset);
  }
}

/**
 * Decode the body `buf[start, end)` of a packet whose first byte is `first` and which begins at `base`.
 * `checkFirstByte(first)` must have passed.
 */
export function decodeBody(first: number, buf: Uint8Array, start: number, end: number, base: number): Packet {
  const len = end - start;
  switch (first >> 4) {
    case 3:
      return decodePublish(first, buf, start, end, base);
    case 4:
      return { type: 'puback', messageId: ackId(buf, start, len, base, 'MQTT-3.4.1') };
    case 5:
      return { type: 'pubrec', messageId: ackId(buf, start, len, base, 'MQTT-3.5.1') };
    case 6:
      return { type: 'pubrel', messageId: ackId(buf, start, len, base, 'MQTT-3.6.1') };
    case 7:
      return { type: 'pubcomp', messageId: ackId(buf, start, len, base, 'MQTT-3.7.1') };
    case 11:
      return { type: 'unsuback', messageId: ackId(buf, start, len, base, 'MQTT-3.11.1') };
    case 12:
      if (len !== 0) fail('MQTT-3.12.1', 'PINGREQ remaining length must be 0', 1);
      return PINGREQ;
    case 13:
      if (len !== 0) fail('MQTT-3.13.1', 'PINGRESP remaining length must be 0', 1);
      return PINGRESP;
    case 14:
      if (len !== 0) fail('MQTT-3.14.1', 'DISCONNECT remaining length must be 0', 1);
      return DISCONNECT;
    case 2:
      return decodeConnack(buf, start, len, base);
    case 9:
      return decodeSuback(buf, start, end, base);
    case 8:
      return decodeSubscribe(buf, start, end, base);
    case 10:
      return decodeUnsubscribe(buf, start, end, base);
    default:
      return decodeConnect(buf, start, end, base);
  }
}

/**
 * Decode exactly one packet from `bytes` (fixed header included). Payloads are views of `bytes`.
 * @throws MqttProtocolError when the bytes are not exactly one valid MQTT 3.1.1 packet.
 */
export function decode(bytes: Uint8Array): Packet {
  if (!(bytes instanceof Uint8Array)) fail('MQTT-2.2', 'decode() needs a Uint8Array');
  if (bytes.length < 2) fail('MQTT-2.2.3', 'a packet needs at least 2 bytes', bytes.length);
  const first = bytes[0]!;
  checkFirstByte(first, 0);
  if (!readVarint(bytes, 1, bytes.length, 0)) fail('MQTT-2.2.3', 'remaining length is truncated', bytes.length);
  const start = varint.next;
  const end = start + varint.value;
  if (end !== bytes.length) {
    fail('MQTT-2.2.3', `remaining length says ${varint.value} bytes but ${bytes.length - start} follow`, 1);
  }
  return decodeBody(first, bytes, start, end, 0);
}

// ---------------------------------------------------------------------------------------------------------------

function u16(buf: Uint8Array, pos: number): number {
  return (buf[pos]! << 8) | buf[pos + 1]!;
}

function ackId(buf: Uint8Array, start: number, len: number, base: number, rule: string): number {
  if (len !== 2) fail(rule, `remaining length must be 2, not ${len}`, 1);
  const id = u16(buf, start);
  if (id === 0) fail('MQTT-2.3.1-1', 'packet identifier is 0', start - base);
  return id;
}

/** Read a length-prefixed field `buf[pos..]` ending at or before `end`; returns the offset after its length. */
function field(buf: Uint8Array, pos: number, end: number, base: number, what: string): number {
  if (pos + 2 > end) fail('MQTT-2.2.3', `${what} runs past the end of the packet`, pos - base);
  const n = u16(buf, pos);
  if (pos + 2 + n > end) fail('MQTT-2.2.3', `${what} runs past the end of the packet`, pos - base);
  return n;
}

function decodePublish(first: number, buf: Uint8Array, start: number, end: number, base: number): PublishPacket {
  const qos = ((first >> 1) & 3) as QoS;
  const tl = field(buf, start, end, base, 'PUBLISH topic name');
  if (tl === 0) fail('MQTT-4.7.3-1', 'PUBLISH topic name is empty', start - base);
  let pos = start + 2;
  const topic = readUtf8(buf, pos, pos + tl, base, 'PUBLISH topic name', 'MQTT-3.3.2-2');
  pos += tl;
  if (qos === 0) {
    return {
      type: 'publish',
      topic,
      payload: buf.subarray(pos, end),
      qos,
      dup: false,
      retain: (first & 1) === 1,
    };
  }
  if (pos + 2 > end) fail('MQTT-2.2.3', 'PUBLISH packet identifier runs past the end of the packet', pos - base);
  const messageId = u16(buf, pos);
  if (messageId === 0) fail('MQTT-2.3.1-1', 'PUBLISH packet identifier is 0', pos - base);
  return {
    type: 'publish',
    topic,
    payload: buf.subarray(pos + 2, end),
    qos,
    dup: (first & 8) !== 0,
    retain: (first & 1) === 1,
    messageId,
  };
}

function decodeConnack(buf: Uint8Array, start: number, len: number, base: number): ConnackPacket {
  if (len !== 2) fail('MQTT-3.2.1', `CONNACK remaining length must be 2, not ${len}`, 1);
  const ack = buf[start]!;
  const returnCode = buf[start + 1]!;
  if ((ack & 0xfe) !== 0) fail('MQTT-3.2.2.1', 'CONNACK acknowledge flags bits 7-1 are reserved', start - base);
  if (returnCode > 5) fail('MQTT-3.2.2.3', `CONNACK return code ${returnCode} is reserved`, start + 1 - base);
  const sessionPresent = ack === 1;
  if (sessionPresent && returnCode !== 0) {
    fail('MQTT-3.2.2-4', 'Session Present is set with a non-zero return code', start - base);
  }
  return { type: 'connack', sessionPresent, returnCode };
}

function decodeSuback(buf: Uint8Array, start: number, end: number, base: number): SubackPacket {
  if (end - start < 3) fail('MQTT-3.9.3-1', 'SUBACK needs a packet identifier and at least one return code', 1);
  const messageId = u16(buf, start);
  if (messageId === 0) fail('MQTT-2.3.1-1', 'SUBACK packet identifier is 0', start - base);
  const granted: SubackReturnCode[] = [];
  for (let i = start + 2; i < end; i++) {
    const rc = buf[i]!;
    if (rc !== 0 && rc !== 1 && rc !== 2 && rc !== 0x80) {
      fail('MQTT-3.9.3-2', `SUBACK return code 0x${rc.toString(16)} is not allowed`, i - base);
    }
    granted.push(rc);
  }
  return { type: 'suback', messageId, granted };
}

function decodeSubscribe(buf: Uint8Array, start: number, end: number, base: number): SubscribePacket {
  if (end - start < 2) fail('MQTT-2.2.3', 'SUBSCRIBE packet identifier runs past the end of the packet', 1);
  const messageId = u16(buf, start);
  if (messageId === 0) fail('MQTT-2.3.1-1', 'SUBSCRIBE packet identifier is 0', start - base);
  const subscriptions: Subscription[] = [];
  let pos = start + 2;
  while (pos < end) {
    const n = field(buf, pos, end, base, 'topic filter');
    const topic = readUtf8(buf, pos + 2, pos + 2 + n, base, 'topic filter');
    validateTopicFilter(topic, pos - base);
    pos += 2 + n;
    if (pos >= end) fail('MQTT-2.2.3', 'requested QoS byte runs past the end of SUBSCRIBE', pos - base);
    const q = buf[pos]!;
    if (q > 2) fail('MQTT-3.8.3-4', `requested QoS byte 0x${q.toString(16)} is invalid`, pos - base);
    subscriptions.push({ topic, qos: q as QoS });
    pos++;
  }
  if (subscriptions.length === 0) fail('MQTT-3.8.3-3', 'SUBSCRIBE has no topic filter', start + 2 - base);
  return { type: 'subscribe', messageId, subscriptions };
}

function decodeUnsubscribe(buf: Uint8Array, start: number, end: number, base: number): UnsubscribePacket {
  if (end - start < 2) fail('MQTT-2.2.3', 'UNSUBSCRIBE packet identifier runs past the end of the packet', 1);
  const messageId = u16(buf, start);
  if (messageId === 0) fail('MQTT-2.3.1-1', 'UNSUBSCRIBE packet identifier is 0', start - base);
  const unsubscriptions: string[] = [];
  let pos = start + 2;
  while (pos < end) {
    const n = field(buf, pos, end, base, 'topic filter');
    const topic = readUtf8(buf, pos + 2, pos + 2 + n, base, 'topic filter');
    validateTopicFilter(topic, pos - base);
    unsubscriptions.push(topic);
    pos += 2 + n;
  }
  if (unsubscriptions.length === 0) fail('MQTT-3.10.3-2', 'UNSUBSCRIBE has no topic filter', start + 2 - base);
  return { type: 'unsubscribe', messageId, unsubscriptions };
}

function decodeConnect(buf: Uint8Array, start: number, end: number, base: number): ConnectPacket {
  let pos = start;
  const nameLen = field(buf, pos, end, base, 'protocol name');
  if (nameLen !== 4 || buf[pos + 2] !== 0x4d || buf[pos + 3] !== 0x51 || buf[pos + 4] !== 0x54 || buf[pos + 5] !== 0x54) {
    fail('MQTT-3.1.2-1', 'protocol name is not "MQTT"', pos - base);
  }
  pos += 6;
  if (pos + 4 > end) fail('MQTT-2.2.3', 'CONNECT variable header runs past the end of the packet', pos - base);
  if (buf[pos] !== 4) fail('MQTT-3.1.2-2', `protocol level ${buf[pos]!} is not 4 (MQTT 3.1.1)`, pos - base);
  const flags = buf[pos + 1]!;
  const flagsAt = pos + 1 - base;
  if ((flags & 0x01) !== 0) fail('MQTT-3.1.2-3', 'CONNECT reserved flag is set', flagsAt);
  const hasWill = (flags & 0x04) !== 0;
  const willQos = (flags >> 3) & 3;
  const willRetain = (flags & 0x20) !== 0;
  if (!hasWill) {
    if (willQos !== 0) fail('MQTT-3.1.2-13', 'Will QoS must be 0 when the Will flag is 0', flagsAt);
    if (willRetain) fail('MQTT-3.1.2-15', 'Will Retain must be 0 when the Will flag is 0', flagsAt);
  } else if (willQos === 3) {
    fail('MQTT-3.1.2-14', 'Will QoS must not be 3', flagsAt);
  }
  const hasUser = (flags & 0x80) !== 0;
  const hasPassword = (flags & 0x40) !== 0;
  if (hasPassword && !hasUser) fail('MQTT-3.1.2-22', 'Password flag is set without the User Name flag', flagsAt);
  const keepalive = u16(buf, pos + 2);
  pos += 4;

  let n = field(buf, pos, end, base, 'client identifier');
  const clientId = readUtf8(buf, pos + 2, pos + 2 + n, base, 'client identifier');
  pos += 2 + n;
  const packet: ConnectPacket = { type: 'connect', clientId, keepalive, cleanSession: (flags & 0x02) !== 0 };
  if (hasWill) {
    n = field(buf, pos, end, base, 'Will topic');
    if (n === 0) fail('MQTT-4.7.3-1', 'Will topic is empty', pos - base);
    const topic = readUtf8(buf, pos + 2, pos + 2 + n, base, 'Will topic', 'MQTT-4.7.1-1');
    pos += 2 + n;
    n = field(buf, pos, end, base, 'Will message');
    const will: Will = { topic, payload: buf.subarray(pos + 2, pos + 2 + n), qos: willQos as QoS, retain: willRetain };
    packet.will = will;
    pos += 2 + n;
  }
  if (hasUser) {
    n = field(buf, pos, end, base, 'User Name');
    packet.username = readUtf8(buf, pos + 2, pos + 2 + n, base, 'User Name');
    pos += 2 + n;
  }
  if (hasPassword) {
    n = field(buf, pos, end, base, 'Password');
    packet.password = buf.subarray(pos + 2, pos + 2 + n);
    pos += 2 + n;
  }
  if (pos !== end) fail('MQTT-3.1.3-1', 'CONNECT has bytes after its last payload field', pos - base);
  return packet;
}
