/**
 * Packet -> bytes. Each encoder computes the exact size first, allocates once and writes with offsets. Every
 * packet MQTT 3.1.1 forbids is refused with a {@link MqttProtocolError} naming the rule, so the codec cannot put
 * an invalid packet on the wire.
 */
import { allocate } from './alloc.js';
import { fail } from './errors.js';
import { validateTopicFilter } from './topic.js';
import type {
  AckPacket,
  ConnackPacket,
  ConnectPacket,
  Packet,
  PublishPacket,
  SubackPacket,
  SubscribePacket,
  UnsubscribePacket,
} from './types.js';
import { MAX_STRING_BYTES, utf8Length, writeUtf8 } from './utf8.js';
import { checkRemainingLength, varintSize, writeVarint } from './varint.js';

const ACK_FIRST_BYTE = { puback: 0x40, pubrec: 0x50, pubrel: 0x62, pubcomp: 0x70, unsuback: 0xb0 } as const;
const PINGREQ = Uint8Array.of(0xc0, 0);
const PINGRESP = Uint8Array.of(0xd0, 0);
const DISCONNECT = Uint8Array.of(0xe0, 0);
const PROTOCOL = Uint8Array.of(0, 4, 0x4d, 0x51, 0x54, 0x54, 4); // "MQTT", level 4

/**
 * Encode one packet into a new `Uint8Array` that the caller owns.
 * @throws MqttProtocolError when the packet would violate MQTT 3.1.1.
 */
export function encode(packet: Packet): Uint8Array {
  switch (packet.type) {
    case 'publish':
      return encodePublish(packet, false)[0]!;
    case 'puback':
    case 'pubrec':
    case 'pubrel':
    case 'pubcomp':
    case 'unsuback':
      return encodeAck(packet);
    case 'pingreq':
      return PINGREQ.slice();
    case 'pingresp':
      return PINGRESP.slice();
    case 'disconnect':
      return DISCONNECT.slice();
    case 'connect':
      return encodeConnect(packet);
    case 'connack':
      return encodeConnack(packet);
    case 'subscribe':
      return encodeSubscribe(packet);
    case 'suback':
      return encodeSuback(packet);
    case 'unsubscribe':
      return encodeUnsubscribe(packet);
    default:
      return fail('MQTT-2.2.1', `unknown packet type ${String((packet as { type: unknown }).type)}`);
  }
}

/**
 * Encode one packet as chunks to write in order, without copying a PUBLISH payload: a PUBLISH with a non-empty
 * payload gives `[header, payload]` (`payload` is the caller's own array), any other packet `[bytes]`.
 */
export function encodeChunks(packet: Packet): Uint8Array[] {
  return packet.type === 'publish' ? encodePublish(packet, true) : [encode(packet)];
}

/** Exact encoded size of `packet` in bytes (validating it as {@link encode} does). */
export function encodedLength(packet: Packet): number {
  if (packet.type === 'publish') {
    const rem = publishRemaining(packet);
    return 1 + varintSize(rem) + rem;
  }
  return encode(packet).length;
}

// ---------------------------------------------------------------------------------------------------------------

// One-entry cache of the last PUBLISH topic: a device sends telemetry to the same topic again and again.
// Only a validated topic is ever stored; null (not a string sentinel such as '#', which a caller can pass and
// which would then skip validation) makes the first lookup miss.
let lastTopic: string | null = null;
let lastTopicLength = 0;
// The topic's UTF-8 bytes: Uint8Array#set copies them in ~20 ns, a charCodeAt loop takes ~80 ns for 70 characters.
let lastTopicBytes: Uint8Array = new Uint8Array(0);

function topicLength(topic: string): number {
  if (topic === lastTopic) return lastTopicLength;
  if (typeof topic !== 'string' || topic.length === 0) fail('MQTT-4.7.3-1', 'topic name is empty or not a string');
  if (topic.indexOf('+') !== -1 || topic.indexOf('#') !== -1) {
    fail('MQTT-3.3.2-2', 'topic name contains a wildcard (+ or #)');
  }
  const len = utf8Length(topic, 'topic name');
  const bytes = allocate(len);
  writeUtf8(bytes, 0, topic, len);
  lastTopicBytes = bytes;
  lastTopic = topic;
  lastTopicLength = len;
  return len;
}

function checkQos(qos: unknown, rule: string, what: string): asserts qos is 0 | 1 | 2 {
  if (qos !== 0 && qos !== 1 && qos !== 2) fail(rule, `${what} must be 0, 1 or 2, not ${String(qos)}`);
}

function checkId(id: unknown): asserts id is number {
  if (typeof id !== 'number' || !Number.isInteger(id) || id < 1 || id > 65535) {
    fail('MQTT-2.3.1-1', `packet identifier must be an integer 1..65535, not ${String(id)}`);
  }
}

function checkBinary(b: unknown, what: string, rule: string, max = Infinity): asserts b is Uint8Array {
  if (!(b instanceof Uint8Array)) fail(rule, `${what} must be a Uint8Array`);
  if (b.length > max) fail(rule, `${what} is ${b.length} bytes; the limit is ${max}`);
}

function publishRemaining(p: PublishPacket): number {
  const qos = p.qos;
  checkQos(qos, 'MQTT-3.3.1-4', 'PUBLISH QoS');
  if (qos === 0) {
    if (p.dup) fail('MQTT-3.3.1-2', 'DUP must be 0 on a QoS 0 PUBLISH');
    if (p.messageId !== undefined) fail('MQTT-2.3.1-5', 'a QoS 0 PUBLISH must not carry a packet identifier');
  } else {
    checkId(p.messageId);
  }
  checkBinary(p.payload, 'PUBLISH payload', 'MQTT-3.3.3');
  const rem = 2 + topicLength(p.topic) + (qos === 0 ? 0 : 2) + p.payload.length;
  checkRemainingLength(rem);
  return rem;
}

function encodePublish(p: PublishPacket, split: boolean): Uint8Array[] {
  const rem = publishRemaining(p);
  const payload = p.payload;
  const separate = split && payload.length > 0;
  const headLen = 1 + varintSize(rem);
  const out = allocate(separate ? headLen + rem - payload.length : headLen + rem);
  const qos = p.qos;
  out[0] = 0x30 | (p.dup ? 8 : 0) | (qos << 1) | (p.retain ? 1 : 0);
  let pos = rem < 128 ? ((out[1] = rem), 2) : writeVarint(out, 1, rem);
  const tl = lastTopicLength; // set by publishRemaining -> topicLength for this very topic
  out[pos] = tl >> 8;
  out[pos + 1] = tl & 0xff;
  out.set(lastTopicBytes, pos + 2);
  pos += 2 + tl;
  if (qos !== 0) {
    const id = p.messageId!;
    out[pos] = id >> 8;
    out[pos + 1] = id & 0xff;
    pos += 2;
  }
  if (separate) return [out, payload];
  if (payload.length > 0) out.set(payload, pos);
  return [out];
}

function encodeAck(p: AckPacket): Uint8Array {
  const first = ACK_FIRST_BYTE[p.type];
  checkId(p.messageId);
  return Uint8Array.of(first, 2, p.messageId >> 8, p.messageId & 0xff);
}

function encodeConnack(p: ConnackPacket): Uint8Array {
  const rc = p.returnCode;
  if (typeof rc !== 'number' || !Number.isInteger(rc) || rc < 0 || rc > 5) {
    fail('MQTT-3.2.2.3', `CONNACK return code must be 0..5 (6..255 are reserved), not ${String(rc)}`);
  }
  if (p.sessionPresent && rc !== 0) fail('MQTT-3.2.2-4', 'Session Present must be 0 when the return code is not 0');
  return Uint8Array.of(0x20, 2, p.sessionPresent ? 1 : 0, rc);
}

function encodeConnect(p: ConnectPacket): Uint8Array {
  if (typeof p.clientId !== 'string') fail('MQTT-3.1.3-3', 'CONNECT needs a client identifier string');
  const cidLen = utf8Length(p.clientId, 'client identifier');
  if (cidLen === 0 && !p.cleanSession) {
    fail('MQTT-3.1.3-7', 'a zero-length client identifier requires CleanSession = 1');
  }
  const ka = p.keepalive;
  if (typeof ka !== 'number' || !Number.isInteger(ka) || ka < 0 || ka > 65535) {
    fail('MQTT-3.1.2.10', `keepalive must be an integer 0..65535 seconds, not ${String(ka)}`);
  }
  let flags = p.cleanSession ? 0x02 : 0;
  let rem = PROTOCOL.length + 1 + 2 + 2 + cidLen;
  const will = p.will;
  let willTopicLen = 0;
  if (will !== undefined) {
    if (typeof will.topic !== 'string' || will.topic.length === 0) fail('MQTT-4.7.3-1', 'Will topic is empty');
    if (will.topic.indexOf('+') !== -1 || will.topic.indexOf('#') !== -1) {
      fail('MQTT-4.7.1-1', 'Will topic contains a wildcard (+ or #)');
    }
    willTopicLen = utf8Length(will.topic, 'Will topic');
    checkQos(will.qos, 'MQTT-3.1.2-14', 'Will QoS');
    checkBinary(will.payload, 'Will message', 'MQTT-3.1.3.3', MAX_STRING_BYTES);
    flags |= 0x04 | (will.qos << 3) | (will.retain ? 0x20 : 0);
    rem += 2 + willTopicLen + 2 + will.payload.length;
  }
  let userLen = 0;
  if (p.username !== undefined) {
    if (typeof p.username !== 'string') fail('MQTT-3.1.3-11', 'User Name must be a string');
    userLen = utf8Length(p.username, 'User Name');
    flags |= 0x80;
    rem += 2 + userLen;
  }
  if (p.password !== undefined) {
    if (p.username === undefined) fail('MQTT-3.1.2-22', 'a password requires a user name');
    checkBinary(p.password, 'Password', 'MQTT-3.1.3.5', MAX_STRING_BYTES);
    flags |= 0x40;
    rem += 2 + p.password.length;
  }
  checkRemainingLength(rem);
  const out = new Uint8Array(1 + varintSize(rem) + rem);
  out[0] = 0x10;
  let pos = writeVarint(out, 1, rem);
  out.set(PROTOCOL, pos);
  pos += PROTOCOL.length;
  out[pos++] = flags;
  out[pos++] = ka >> 8;
  out[pos++] = ka & 0xff;
  pos = writeString(out, pos, p.clientId, cidLen);
  if (will !== undefined) {
    pos = writeString(out, pos, will.topic, willTopicLen);
    pos = writeBinary(out, pos, will.payload);
  }
  if (p.username !== undefined) pos = writeString(out, pos, p.username, userLen);
  if (p.password !== undefined) writeBinary(out, pos, p.password);
  return out;
}

function encodeSubscribe(p: SubscribePacket): Uint8Array {
  checkId(p.messageId);
  const subs = p.subscriptions;
  if (!Array.isArray(subs) || subs.length === 0) fail('MQTT-3.8.3-3', 'SUBSCRIBE needs at least one topic filter');
  const lens = new Array<number>(subs.length);
  let rem = 2;
  for (let i = 0; i < subs.length; i++) {
    const s = subs[i]!;
    if (typeof s.topic !== 'string') fail('MQTT-3.8.3-1', 'topic filter must be a string');
    validateTopicFilter(s.topic);
    checkQos(s.qos, 'MQTT-3.8.3-4', 'requested QoS');
    lens[i] = utf8Length(s.topic, 'topic filter');
    rem += 2 + lens[i]! + 1;
  }
  checkRemainingLength(rem);
  const out = new Uint8Array(1 + varintSize(rem) + rem);
  out[0] = 0x82;
  let pos = writeVarint(out, 1, rem);
  out[pos++] = p.messageId >> 8;
  out[pos++] = p.messageId & 0xff;
  for (let i = 0; i < subs.length; i++) {
    pos = writeString(out, pos, subs[i]!.topic, lens[i]!);
    out[pos++] = subs[i]!.qos;
  }
  return out;
}

function encodeSuback(p: SubackPacket): Uint8Array {
  checkId(p.messageId);
  const g = p.granted;
  if (!Array.isArray(g) || g.length === 0) fail('MQTT-3.9.3-1', 'SUBACK needs one return code per topic filter');
  const rem = 2 + g.length;
  checkRemainingLength(rem);
  const out = new Uint8Array(1 + varintSize(rem) + rem);
  out[0] = 0x90;
  let pos = writeVarint(out, 1, rem);
  out[pos++] = p.messageId >> 8;
  out[pos++] = p.messageId & 0xff;
  for (const rc of g) {
    if (rc !== 0 && rc !== 1 && rc !== 2 && rc !== 0x80) {
      fail('MQTT-3.9.3-2', `SUBACK return code must be 0x00, 0x01, 0x02 or 0x80, not ${String(rc)}`);
    }
    out[pos++] = rc;
  }
  return out;
}

function encodeUnsubscribe(p: UnsubscribePacket): Uint8Array {
  checkId(p.messageId);
  const topics = p.unsubscriptions;
  if (!Array.isArray(topics) || topics.length === 0) {
    fail('MQTT-3.10.3-2', 'UNSUBSCRIBE needs at least one topic filter');
  }
  const lens = new Array<number>(topics.length);
  let rem = 2;
  for (let i = 0; i < topics.length; i++) {
    const t = topics[i]!;
    if (typeof t !== 'string') fail('MQTT-3.10.3-1', 'topic filter must be a string');
    validateTopicFilter(t);
    lens[i] = utf8Length(t, 'topic filter');
    rem += 2 + lens[i]!;
  }
  checkRemainingLength(rem);
  const out = new Uint8Array(1 + varintSize(rem) + rem);
  out[0] = 0xa2;
  let pos = writeVarint(out, 1, rem);
  out[pos++] = p.messageId >> 8;
  out[pos++] = p.messageId & 0xff;
  for (let i = 0; i < topics.length; i++) pos = writeString(out, pos, topics[i]!, lens[i]!);
  return out;
}

function writeString(out: Uint8Array, pos: number, s: string, len: number): number {
  out[pos] = len >> 8;
  out[pos + 1] = len & 0xff;
  return writeUtf8(out, pos + 2, s, len);
}

function writeBinary(out: Uint8Array, pos: number, b: Uint8Array): number {
  out[pos] = b.length >> 8;
  out[pos + 1] = b.length & 0xff;
  out.set(b, pos + 2);
  return pos + 2 + b.length;
}
