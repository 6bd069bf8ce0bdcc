/**
 * Differential tests against mqtt-packet 9 (the incumbent, MQTT.js's codec), protocol version 4, both directions:
 * on random valid packets the bytes and the fields agree; on invalid input, every disagreement is listed with the
 * MQTT 3.1.1 rule that makes this codec right. This codec is stricter, never looser: whatever it accepts,
 * mqtt-packet accepts with the same fields.
 */
import fc from 'fast-check';
import mqtt from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { decode, encode, MqttProtocolError, type Packet } from '../../src/codec/index.js';
import { comparable, expectSamePackets, hex, packetBytes, protocolError, str, u16 } from '../helpers/fixtures.js';
import { anyPacket, packetLikeBytes, runs } from './arbitraries.js';

const V4 = { protocolVersion: 4 };
const MQTT4 = [...u16(4), ...Buffer.from('MQTT'), 0x04];

const buf = (u: Uint8Array): Buffer => Buffer.from(u.buffer, u.byteOffset, u.byteLength);
/** A plain Uint8Array copy of a Buffer, so that fields compare equal to ours. */
const u8 = (b: Buffer | string): Uint8Array => (typeof b === 'string' ? new TextEncoder().encode(b) : Uint8Array.from(b));

/** Our packet as mqtt-packet's object (field names: cmd, clean, returnCode, granted, unsubscriptions; Buffers). */
function toMqtt(p: Packet): mqtt.Packet {
  switch (p.type) {
    case 'connect': {
      const m: mqtt.IConnectPacket = {
        cmd: 'connect',
        protocolId: 'MQTT',
        protocolVersion: 4,
        clientId: p.clientId,
        clean: p.cleanSession,
        keepalive: p.keepalive,
      };
      if (p.will !== undefined) m.will = { topic: p.will.topic, payload: buf(p.will.payload), qos: p.will.qos, retain: p.will.retain };
      if (p.username !== undefined) m.username = p.username;
      if (p.password !== undefined) m.password = buf(p.password);
      return m;
    }
    case 'connack':
      return { cmd: 'connack', sessionPresent: p.sessionPresent, returnCode: p.returnCode };
    case 'publish': {
      const m: mqtt.IPublishPacket = { cmd: 'publish', topic: p.topic, payload: buf(p.payload), qos: p.qos, dup: p.dup, retain: p.retain };
      if (p.messageId !== undefined) m.messageId = p.messageId;
      return m;
    }
    case 'puback':
    case 'pubrec':
    case 'pubrel':
    case 'pubcomp':
      return { cmd: p.type, messageId: p.messageId };
    case 'unsuback':
      return { cmd: 'unsuback', messageId: p.messageId, granted: [] };
    case 'subscribe':
      return { cmd: 'subscribe', messageId: p.messageId, subscriptions: p.subscriptions.map((s) => ({ topic: s.topic, qos: s.qos })) };
    case 'suback':
      return { cmd: 'suback', messageId: p.messageId, granted: [...p.granted] };
    case 'unsubscribe':
      return { cmd: 'unsubscribe', messageId: p.messageId, unsubscriptions: [...p.unsubscriptions] };
    case 'pingreq':
    case 'pingresp':
    case 'disconnect':
      return { cmd: p.type };
  }
}

/** mqtt-packet's parsed object as our packet (and a check of the fields that have no counterpart in ours). */
function fromMqtt(m: mqtt.Packet): Packet {
  const id = (): number => {
    expect(typeof m.messageId).toBe('number');
    return m.messageId!;
  };
  switch (m.cmd) {
    case 'connect': {
      expect(m.protocolId).toBe('MQTT');
      expect(m.protocolVersion).toBe(4);
      const p: Packet = { type: 'connect', clientId: m.clientId, keepalive: m.keepalive ?? -1, cleanSession: m.clean === true };
      if (m.will !== undefined) {
        p.will = { topic: m.will.topic, payload: u8(m.will.payload), qos: m.will.qos ?? 0, retain: m.will.retain === true };
      }
      if (m.username !== undefined) p.username = m.username;
      if (m.password !== undefined) p.password = u8(m.password);
      return p;
    }
    case 'connack':
      return { type: 'connack', sessionPresent: m.sessionPresent, returnCode: m.returnCode ?? -1 };
    case 'publish': {
      const base = { type: 'publish', topic: m.topic, payload: u8(m.payload), dup: m.dup, retain: m.retain } as const;
      return m.qos === 0 ? { ...base, qos: 0 } : { ...base, qos: m.qos, messageId: id() };
    }
    case 'puback':
    case 'pubrec':
    case 'pubrel':
    case 'pubcomp':
    case 'unsuback':
      return { type: m.cmd, messageId: id() };
    case 'subscribe':
      return { type: 'subscribe', messageId: id(), subscriptions: m.subscriptions.map((s) => ({ topic: s.topic, qos: s.qos })) };
    case 'suback':
      return { type: 'suback', messageId: id(), granted: m.granted as Array<0 | 1 | 2 | 0x80> };
    case 'unsubscribe':
      return { type: 'unsubscribe', messageId: id(), unsubscriptions: m.unsubscriptions };
    case 'pingreq':
    case 'pingresp':
    case 'disconnect':
      return { type: m.cmd };
    case 'auth':
      throw new Error('AUTH does not exist in MQTT 3.1.1');
  }
}

/** Parse `bytes` with a fresh mqtt-packet parser: the packets it emitted and its error, if any. */
function mqttParse(bytes: Uint8Array): { packets: mqtt.Packet[]; error: Error | null; left: number } {
  const parser = mqtt.parser(V4);
  const packets: mqtt.Packet[] = [];
  let error: Error | null = null;
  parser.on('packet', (p) => packets.push(p));
  parser.on('error', (e: Error) => {
    error = e;
  });
  const left = parser.parse(buf(bytes));
  return { packets, error, left };
}

/** mqtt-packet's one packet from `bytes`, failing the test if it refuses them. */
function mqttParseOne(bytes: Uint8Array): mqtt.Packet {
  const r = mqttParse(bytes);
  expect(r.error, 'mqtt-packet refused the bytes').toBeNull();
  expect(r.packets).toHaveLength(1);
  expect(r.left).toBe(0);
  return r.packets[0]!;
}

describe('random valid packets: mqtt-packet and this codec agree', () => {
  it('on the bytes: encode(p) equals mqtt.generate(p)', () => {
    fc.assert(
      fc.property(anyPacket(), (p) => {
        expect(hex(encode(p))).toBe(hex(mqtt.generate(toMqtt(p), V4)));
      }),
      runs(1500, 1500),
    );
  });

  it('ours -> mqtt-packet: mqtt-packet parses our bytes to the same fields', () => {
    fc.assert(
      fc.property(anyPacket(), (p) => {
        expectSamePackets(fromMqtt(mqttParseOne(encode(p))), p);
      }),
      runs(1500, 1500),
    );
  });

  it('mqtt-packet -> ours: we decode mqtt-packet\'s bytes to the same packet', () => {
    fc.assert(
      fc.property(anyPacket(), (p) => {
        // A plain Uint8Array view: decoding a Buffer gives Buffer payloads (subarray keeps the class).
        const b = mqtt.generate(toMqtt(p), V4);
        expectSamePackets(decode(new Uint8Array(b.buffer, b.byteOffset, b.length)), p);
      }),
      runs(1500, 1500),
    );
  });

  it('random packet-shaped bytes: whatever we accept, mqtt-packet accepts with the same fields', () => {
    let accepted = 0;
    fc.assert(
      fc.property(packetLikeBytes(), (b) => {
        let ours: Packet;
        try {
          ours = decode(b);
        } catch (err) {
          if (err instanceof MqttProtocolError) return;
          throw err;
        }
        accepted++;
        expect(comparable(fromMqtt(mqttParseOne(b)))).toEqual(comparable(ours));
      }),
      runs(4000, 1500),
    );
    expect(accepted).toBeGreaterThan(100);
  });
});

interface Disagreement {
  name: string;
  bytes: Uint8Array;
  /** The rule under which we refuse the bytes. */
  rule: string;
  /** What mqtt-packet makes of them (a check of the fields it parsed). */
  theirs: (m: mqtt.Packet) => void;
}

const PUBLISH = (first: number, ...body: Parameters<typeof packetBytes>[1][]): Uint8Array => packetBytes(first, ...body);

/** Inputs mqtt-packet accepts and this codec refuses, each with the rule that makes the refusal right. */
const DISAGREEMENTS: Disagreement[] = [
  {
    name: 'non-minimal Remaining Length 80 00 for 0 (3.1.1 states no id; MQTT 5 made it MQTT-1.5.5-1; refused as deliberate strictness)',
    bytes: Uint8Array.of(0xc0, 0x80, 0x00),
    rule: 'MQTT-2.2.3',
    theirs: (m) => expect(m.cmd).toBe('pingreq'),
  },
  {
    name: 'non-minimal Remaining Length 85 80 00 for a PUBLISH of 5 bytes',
    bytes: Uint8Array.of(0x30, 0x85, 0x80, 0x00, 0, 1, 0x74, 0x68, 0x69),
    rule: 'MQTT-2.2.3',
    theirs: (m) => expect(m.cmd === 'publish' && m.topic).toBe('t'),
  },
  {
    name: 'wildcard + in a PUBLISH topic name',
    bytes: PUBLISH(0x30, str('a/+'), 'x'),
    rule: 'MQTT-3.3.2-2',
    theirs: (m) => expect(m.cmd === 'publish' && m.topic).toBe('a/+'),
  },
  {
    name: 'wildcard # as a PUBLISH topic name',
    bytes: PUBLISH(0x30, str('#')),
    rule: 'MQTT-3.3.2-2',
    theirs: (m) => expect(m.cmd === 'publish' && m.topic).toBe('#'),
  },
  {
    name: 'empty PUBLISH topic name',
    bytes: PUBLISH(0x30, u16(0), 'x'),
    rule: 'MQTT-4.7.3-1',
    theirs: (m) => expect(m.cmd === 'publish' && m.topic).toBe(''),
  },
  {
    name: 'PUBLISH QoS 1 with packet identifier 0',
    bytes: PUBLISH(0x32, str('t'), u16(0)),
    rule: 'MQTT-2.3.1-1',
    theirs: (m) => expect(m.messageId).toBe(0),
  },
  {
    name: 'PUBACK with packet identifier 0',
    bytes: Uint8Array.of(0x40, 2, 0, 0),
    rule: 'MQTT-2.3.1-1',
    theirs: (m) => expect(m.messageId).toBe(0),
  },
  {
    name: 'SUBSCRIBE with packet identifier 0',
    bytes: packetBytes(0x82, u16(0), str('a'), 0),
    rule: 'MQTT-2.3.1-1',
    theirs: (m) => expect(m.messageId).toBe(0),
  },
  {
    name: 'SUBACK with packet identifier 0',
    bytes: Uint8Array.of(0x90, 3, 0, 0, 0),
    rule: 'MQTT-2.3.1-1',
    theirs: (m) => expect(m.messageId).toBe(0),
  },
  {
    name: 'UNSUBACK with packet identifier 0',
    bytes: Uint8Array.of(0xb0, 2, 0, 0),
    rule: 'MQTT-2.3.1-1',
    theirs: (m) => expect(m.messageId).toBe(0),
  },
  {
    name: 'DUP set on a QoS 0 PUBLISH',
    bytes: PUBLISH(0x38, str('t')),
    rule: 'MQTT-3.3.1-2',
    theirs: (m) => expect(m.cmd === 'publish' && m.dup && m.qos).toBe(0),
  },
  {
    name: 'SUBSCRIBE without a topic filter',
    bytes: Uint8Array.of(0x82, 2, 0, 1),
    rule: 'MQTT-3.8.3-3',
    theirs: (m) => expect(m.cmd === 'subscribe' && m.subscriptions).toEqual([]),
  },
  {
    name: 'UNSUBSCRIBE without a topic filter',
    bytes: Uint8Array.of(0xa2, 2, 0, 1),
    rule: 'MQTT-3.10.3-2',
    theirs: (m) => expect(m.cmd === 'unsubscribe' && m.unsubscriptions).toEqual([]),
  },
  {
    name: 'SUBACK without a return code',
    bytes: Uint8Array.of(0x90, 2, 0, 1),
    rule: 'MQTT-3.9.3-1',
    theirs: (m) => expect(m.cmd === 'suback' && m.granted).toEqual([]),
  },
  {
    name: 'SUBSCRIBE filter a/#/b',
    bytes: packetBytes(0x82, u16(1), str('a/#/b'), 0),
    rule: 'MQTT-4.7.1-2',
    theirs: (m) => expect(m.cmd === 'subscribe' && m.subscriptions[0]?.topic).toBe('a/#/b'),
  },
  {
    name: 'SUBSCRIBE filter a+',
    bytes: packetBytes(0x82, u16(1), str('a+'), 1),
    rule: 'MQTT-4.7.1-3',
    theirs: (m) => expect(m.cmd === 'subscribe' && m.subscriptions[0]?.topic).toBe('a+'),
  },
  {
    name: 'UNSUBSCRIBE empty filter',
    bytes: packetBytes(0xa2, u16(1), u16(0)),
    rule: 'MQTT-4.7.3-1',
    theirs: (m) => expect(m.cmd === 'unsubscribe' && m.unsubscriptions).toEqual(['']),
  },
  {
    name: 'CONNACK return code 6 (reserved)',
    bytes: Uint8Array.of(0x20, 2, 0, 6),
    rule: 'MQTT-3.2.2.3',
    theirs: (m) => expect(m.cmd === 'connack' && m.returnCode).toBe(6),
  },
  {
    name: 'CONNACK session present with a refusal',
    bytes: Uint8Array.of(0x20, 2, 1, 5),
    rule: 'MQTT-3.2.2-4',
    theirs: (m) => expect(m.cmd === 'connack' && m.sessionPresent).toBe(true),
  },
  {
    name: 'CONNACK remaining length 3',
    bytes: Uint8Array.of(0x20, 3, 0, 0, 0),
    rule: 'MQTT-3.2.1',
    theirs: (m) => expect(m.cmd).toBe('connack'),
  },
  {
    name: 'PUBACK remaining length 3 (an MQTT 5 reason code, in a 3.1.1 session)',
    bytes: Uint8Array.of(0x40, 3, 0, 1, 0),
    rule: 'MQTT-3.4.1',
    theirs: (m) => expect(m.messageId).toBe(1),
  },
  {
    name: 'PUBREL remaining length 3',
    bytes: Uint8Array.of(0x62, 3, 0, 1, 0),
    rule: 'MQTT-3.6.1',
    theirs: (m) => expect(m.cmd).toBe('pubrel'),
  },
  {
    name: 'PINGREQ remaining length 1',
    bytes: Uint8Array.of(0xc0, 1, 0),
    rule: 'MQTT-3.12.1',
    theirs: (m) => expect(m.cmd).toBe('pingreq'),
  },
  {
    name: 'DISCONNECT remaining length 1 (an MQTT 5 reason code)',
    bytes: Uint8Array.of(0xe0, 1, 0),
    rule: 'MQTT-3.14.1',
    theirs: (m) => expect(m.cmd).toBe('disconnect'),
  },
  {
    name: 'PUBLISH topic with byte 0xff: mqtt-packet substitutes U+FFFD and changes the topic',
    bytes: PUBLISH(0x30, u16(2), [0x61, 0xff]),
    rule: 'MQTT-1.5.3-1',
    theirs: (m) => expect(m.cmd === 'publish' && m.topic).toBe('a\uFFFD'),
  },
  {
    name: 'PUBLISH topic with an encoded surrogate (ed a0 80)',
    bytes: PUBLISH(0x30, u16(3), [0xed, 0xa0, 0x80]),
    rule: 'MQTT-1.5.3-1',
    theirs: (m) => expect(m.cmd === 'publish' && m.topic).toBe('\uFFFD\uFFFD\uFFFD'),
  },
  {
    name: 'PUBLISH topic with U+0000',
    bytes: PUBLISH(0x30, u16(3), [0x61, 0x00, 0x62]),
    rule: 'MQTT-1.5.3-2',
    theirs: (m) => expect(m.cmd === 'publish' && m.topic).toBe('a\u0000b'),
  },
  {
    name: 'CONNECT protocol name MQIsdp, level 3 (MQTT 3.1)',
    bytes: packetBytes(0x10, str('MQIsdp'), 0x03, 0x02, u16(60), str('c')),
    rule: 'MQTT-3.1.2-1',
    theirs: (m) => expect(m.cmd === 'connect' && [m.protocolId, m.protocolVersion]).toEqual(['MQIsdp', 3]),
  },
  {
    name: 'CONNECT protocol name MQTT with level 3',
    bytes: packetBytes(0x10, str('MQTT'), 0x03, 0x02, u16(60), str('c')),
    rule: 'MQTT-3.1.2-2',
    theirs: (m) => expect(m.cmd === 'connect' && m.protocolVersion).toBe(3),
  },
  {
    name: 'CONNECT password flag without the user name flag',
    bytes: packetBytes(0x10, MQTT4, 0x42, u16(60), str('c'), str('p')),
    rule: 'MQTT-3.1.2-22',
    theirs: (m) => expect(m.cmd === 'connect' && m.username === undefined && m.password?.toString()).toBe('p'),
  },
  {
    name: 'CONNECT with a stray user name after the last field its flags announce',
    bytes: packetBytes(0x10, MQTT4, 0x02, u16(60), str('c'), str('u')),
    rule: 'MQTT-3.1.3-1',
    theirs: (m) => expect(m.cmd === 'connect' && m.username).toBeUndefined(),
  },
  {
    name: 'CONNECT Will topic with a wildcard',
    bytes: packetBytes(0x10, MQTT4, 0x06, u16(60), str('c'), str('w/#'), str('m')),
    rule: 'MQTT-4.7.1-1',
    theirs: (m) => expect(m.cmd === 'connect' && m.will?.topic).toBe('w/#'),
  },
];

describe('invalid input mqtt-packet accepts: the rule that makes this codec right to refuse it', () => {
  for (const d of DISAGREEMENTS) {
    it(`${d.rule}: ${d.name}`, () => {
      d.theirs(mqttParseOne(d.bytes));
      expect(protocolError(() => decode(d.bytes)).rule).toBe(d.rule);
    });
  }
});

/** Inputs both codecs refuse (the rule is ours; mqtt-packet's message for reference). */
const BOTH_REFUSE: Array<{ name: string; bytes: Uint8Array; rule: string; theirs: RegExp }> = [
  { name: 'reserved packet type 0', bytes: Uint8Array.of(0x00, 0), rule: 'MQTT-2.2.1', theirs: /Not supported/ },
  { name: 'packet type 15 (AUTH is MQTT 5 only)', bytes: Uint8Array.of(0xf0, 0), rule: 'MQTT-2.2.1', theirs: /auth/ },
  { name: 'PINGREQ flags 0001', bytes: Uint8Array.of(0xc1, 0), rule: 'MQTT-2.2.2-1', theirs: /header flag/ },
  { name: 'PUBREL flags 0000', bytes: Uint8Array.of(0x60, 2, 0, 1), rule: 'MQTT-3.6.1-1', theirs: /header flag/ },
  { name: 'UNSUBSCRIBE flags 0000', bytes: packetBytes(0xa0, u16(1), str('a')), rule: 'MQTT-3.10.1-1', theirs: /header flag/ },
  { name: 'PUBLISH QoS 3', bytes: packetBytes(0x36, str('t'), u16(1)), rule: 'MQTT-3.3.1-4', theirs: /QoS/ },
  { name: 'a fifth Remaining Length byte', bytes: Uint8Array.of(0x30, 0xff, 0xff, 0xff, 0xff, 0x01), rule: 'MQTT-2.2.3', theirs: /variable byte/ },
  { name: 'SUBACK return code 3', bytes: Uint8Array.of(0x90, 3, 0, 1, 3), rule: 'MQTT-3.9.3-2', theirs: /suback/ },
  { name: 'SUBSCRIBE requested QoS 3', bytes: packetBytes(0x82, u16(1), str('a'), 3), rule: 'MQTT-3.8.3-4', theirs: /QoS/ },
  { name: 'CONNECT reserved flag', bytes: packetBytes(0x10, MQTT4, 0x03, u16(60), str('c')), rule: 'MQTT-3.1.2-3', theirs: /bit 0/ },
  { name: 'CONNECT Will QoS without the Will flag', bytes: packetBytes(0x10, MQTT4, 0x0a, u16(60), str('c')), rule: 'MQTT-3.1.2-13', theirs: /Will QoS/ },
  { name: 'CONNACK reserved acknowledge flags', bytes: Uint8Array.of(0x20, 2, 2, 0), rule: 'MQTT-3.2.2.1', theirs: /connack flags/ },
  { name: 'UNSUBACK remaining length 3', bytes: Uint8Array.of(0xb0, 3, 0, 1, 0), rule: 'MQTT-3.11.1', theirs: /unsuback/ },
];

describe('invalid input both codecs refuse', () => {
  for (const c of BOTH_REFUSE) {
    it(`${c.rule}: ${c.name}`, () => {
      const r = mqttParse(c.bytes);
      expect(r.error?.message).toMatch(c.theirs);
      expect(protocolError(() => decode(c.bytes)).rule).toBe(c.rule);
    });
  }
});

/** Packets mqtt-packet generates and this codec refuses to encode (`p` is ours; `m` is the same for mqtt-packet). */
const GENERATE_DISAGREEMENTS: Array<{ name: string; p: unknown; m: mqtt.Packet; rule: string; theirs: string }> = [
  {
    name: 'PUBLISH QoS 1 with packet identifier 0',
    p: { type: 'publish', topic: 't', payload: new Uint8Array(0), qos: 1, dup: false, retain: false, messageId: 0 },
    m: { cmd: 'publish', topic: 't', payload: Buffer.alloc(0), qos: 1, dup: false, retain: false, messageId: 0 },
    rule: 'MQTT-2.3.1-1',
    theirs: '32 05 00 01 74 00 00',
  },
  {
    name: 'PUBACK with packet identifier 0',
    p: { type: 'puback', messageId: 0 },
    m: { cmd: 'puback', messageId: 0 },
    rule: 'MQTT-2.3.1-1',
    theirs: '40 02 00 00',
  },
  {
    name: 'PUBLISH to the topic a/#',
    p: { type: 'publish', topic: 'a/#', payload: new Uint8Array(0), qos: 0, dup: false, retain: false },
    m: { cmd: 'publish', topic: 'a/#', payload: Buffer.alloc(0), qos: 0, dup: false, retain: false },
    rule: 'MQTT-3.3.2-2',
    theirs: '30 05 00 03 61 2f 23',
  },
  {
    name: 'PUBLISH to an empty topic',
    p: { type: 'publish', topic: '', payload: new Uint8Array(0), qos: 0, dup: false, retain: false },
    m: { cmd: 'publish', topic: '', payload: Buffer.alloc(0), qos: 0, dup: false, retain: false },
    rule: 'MQTT-4.7.3-1',
    theirs: '30 02 00 00',
  },
  {
    name: 'PUBLISH QoS 0 with DUP',
    p: { type: 'publish', topic: 't', payload: new Uint8Array(0), qos: 0, dup: true, retain: false },
    m: { cmd: 'publish', topic: 't', payload: Buffer.alloc(0), qos: 0, dup: true, retain: false },
    rule: 'MQTT-3.3.1-2',
    theirs: '38 03 00 01 74',
  },
  {
    name: 'PUBLISH QoS 0 with a packet identifier (mqtt-packet drops it silently)',
    p: { type: 'publish', topic: 't', payload: new Uint8Array(0), qos: 0, dup: false, retain: false, messageId: 5 },
    m: { cmd: 'publish', topic: 't', payload: Buffer.alloc(0), qos: 0, dup: false, retain: false, messageId: 5 },
    rule: 'MQTT-2.3.1-5',
    theirs: '30 03 00 01 74',
  },
  {
    name: 'PUBLISH topic with a lone surrogate (mqtt-packet writes U+FFFD: another topic)',
    p: { type: 'publish', topic: 'a\ud800', payload: new Uint8Array(0), qos: 0, dup: false, retain: false },
    m: { cmd: 'publish', topic: 'a\ud800', payload: Buffer.alloc(0), qos: 0, dup: false, retain: false },
    rule: 'MQTT-1.5.3-1',
    theirs: '30 06 00 04 61 ef bf bd',
  },
  {
    name: 'SUBSCRIBE filter a/#/b',
    p: { type: 'subscribe', messageId: 1, subscriptions: [{ topic: 'a/#/b', qos: 0 }] },
    m: { cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'a/#/b', qos: 0 }] },
    rule: 'MQTT-4.7.1-2',
    theirs: '82 0a 00 01 00 05 61 2f 23 2f 62 00',
  },
  {
    name: 'SUBACK return code 3',
    p: { type: 'suback', messageId: 1, granted: [3] },
    m: { cmd: 'suback', messageId: 1, granted: [3] },
    rule: 'MQTT-3.9.3-2',
    theirs: '90 03 00 01 03',
  },
  {
    name: 'CONNACK return code 6',
    p: { type: 'connack', sessionPresent: false, returnCode: 6 },
    m: { cmd: 'connack', sessionPresent: false, returnCode: 6 },
    rule: 'MQTT-3.2.2.3',
    theirs: '20 02 00 06',
  },
  {
    name: 'CONNACK session present with a refusal',
    p: { type: 'connack', sessionPresent: true, returnCode: 5 },
    m: { cmd: 'connack', sessionPresent: true, returnCode: 5 },
    rule: 'MQTT-3.2.2-4',
    theirs: '20 02 01 05',
  },
  {
    name: 'CONNECT client identifier with U+0000',
    p: { type: 'connect', clientId: 'a\u0000', keepalive: 0, cleanSession: true },
    m: { cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'a\u0000', keepalive: 0, clean: true },
    rule: 'MQTT-1.5.3-2',
    theirs: '10 0e 00 04 4d 51 54 54 04 02 00 00 00 02 61 00',
  },
];

describe('packets mqtt-packet generates: the rule that makes this codec right to refuse them', () => {
  for (const d of GENERATE_DISAGREEMENTS) {
    it(`${d.rule}: ${d.name}`, () => {
      expect(hex(mqtt.generate(d.m, V4))).toBe(d.theirs);
      expect(protocolError(() => encode(d.p as Packet)).rule).toBe(d.rule);
    });
  }

  it('both refuse a password without a user name, and a zero-length client identifier without clean session', () => {
    expect(() => mqtt.generate({ cmd: 'connect', clientId: 'c', password: Buffer.from('p') }, V4)).toThrow(/Username/);
    expect(protocolError(() => encode({ type: 'connect', clientId: 'c', keepalive: 0, cleanSession: true, password: u8('p') })).rule).toBe(
      'MQTT-3.1.2-22',
    );
    expect(() => mqtt.generate({ cmd: 'connect', clientId: '', clean: false }, V4)).toThrow(/clientId/);
    expect(protocolError(() => encode({ type: 'connect', clientId: '', keepalive: 0, cleanSession: false })).rule).toBe('MQTT-3.1.3-7');
  });
});
