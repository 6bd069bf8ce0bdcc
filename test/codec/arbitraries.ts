/**
 * fast-check arbitraries for valid MQTT 3.1.1 packets of all 14 types: non-ASCII UTF-8 (BOM, astral characters,
 * control characters, noncharacters), empty and big payloads, Remaining Lengths at the varint boundaries.
 * Shared by property.test.ts and differential.test.ts.
 */
import fc from 'fast-check';
import type {
  ConnackPacket,
  ConnectPacket,
  Packet,
  PublishPacket,
  QoS,
  SubackReturnCode,
  Subscription,
  Will,
} from '../../src/codec/index.js';

/** Remaining Lengths where the varint grows a byte (MQTT 3.1.1 section 2.2.3), reachable with a PUBLISH. */
export const VARINT_BOUNDARIES = [0, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152, 268_435_455] as const;

/**
 * Property run parameters: a fixed seed, so that runs are deterministic, and a time bound so that the suite stays
 * fast on a slow machine. To explore, set `FC_SEED` (another seed) and `FC_SCALE` (multiplies runs and time).
 */
export function runs(numRuns: number, timeLimitMs = 1000): fc.Parameters<unknown> {
  const seed = process.env['FC_SEED'];
  const scale = Number(process.env['FC_SCALE'] ?? 1);
  return {
    numRuns: Math.ceil(numRuns * scale),
    seed: seed === undefined ? 0x5eed : Number(seed),
    plugins: [fc.interruptAfterTimeLimit(timeLimitMs * scale)],
  };
}

const isSurrogate = (cp: number): boolean => cp >= 0xd800 && cp <= 0xdfff;

/** One character of an MQTT string (never U+0000 or a lone surrogate), minus the characters in `exclude`. */
function charUnit(exclude: string): fc.Arbitrary<string> {
  const ok = (c: string): boolean => !exclude.includes(c);
  return fc.oneof(
    { weight: 8, arbitrary: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)).filter(ok) },
    {
      weight: 3,
      arbitrary: fc
        .integer({ min: 1, max: 0x10ffff })
        .filter((cp) => !isSurrogate(cp))
        .map((cp) => String.fromCodePoint(cp))
        .filter(ok),
    },
    {
      weight: 2,
      arbitrary: fc.constantFrom('\uFEFF', 'é', 'ß', '☃', '😀', '𝄞', '\u0001', '\u001f', '\u007f', '\u0080', '\uFFFF', '/', '$').filter(ok),
    },
  );
}

/** Any MQTT UTF-8 string (section 1.5.3) of at most `maxLength` characters. */
export function mqttString(maxLength = 24, minLength = 0): fc.Arbitrary<string> {
  return fc.string({ unit: charUnit(''), minLength, maxLength });
}

/** A valid topic name: at least one character, no wildcard (MQTT-4.7.3-1, MQTT-3.3.2-2); `$` topics included. */
export function topicName(maxLength = 24): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 6, arbitrary: fc.string({ unit: charUnit('+#'), minLength: 1, maxLength }) },
    { weight: 1, arbitrary: fc.string({ unit: charUnit('+#'), maxLength }).map((s) => `$iothub/${s}`) },
    {
      weight: 1,
      arbitrary: fc.constantFrom('devices/dev1/messages/events/a=1&%24.ct=application%2Fjson', '$iothub/twin/res/200/?$rid=1', '/', '//'),
    },
  );
}

/** A valid topic filter: `+` as whole levels, `#` only as the whole last level (MQTT-4.7.1-2, MQTT-4.7.1-3). */
export function topicFilter(): fc.Arbitrary<string> {
  const level = fc.oneof(
    { weight: 3, arbitrary: fc.string({ unit: charUnit('+#/'), maxLength: 6 }) },
    { weight: 1, arbitrary: fc.constant('+') },
  );
  return fc
    .tuple(fc.array(level, { minLength: 1, maxLength: 5 }), fc.boolean())
    .map(([levels, hash]) => (hash ? [...levels, '#'] : levels).join('/'))
    .filter((f) => f.length > 0);
}

/** A payload: mostly small, sometimes empty, sometimes tens of KiB. */
export function payload(): fc.Arbitrary<Uint8Array> {
  return fc.oneof(
    { weight: 6, arbitrary: fc.uint8Array({ maxLength: 64 }) },
    { weight: 2, arbitrary: fc.constant(new Uint8Array(0)) },
    { weight: 1, arbitrary: fc.integer({ min: 64, max: 70_000 }).map((n) => new Uint8Array(n).fill(n & 0xff)) },
  );
}

/** QoS 0, 1 or 2. */
export const qos: fc.Arbitrary<QoS> = fc.constantFrom(0, 1, 2);
/** A packet identifier, 1..65535, with the edges weighted in. */
export const messageId: fc.Arbitrary<number> = fc.oneof(fc.integer({ min: 1, max: 65535 }), fc.constantFrom(1, 255, 256, 65535));

function publishOf(topic: fc.Arbitrary<string>, body: fc.Arbitrary<Uint8Array>): fc.Arbitrary<PublishPacket> {
  return fc.record({ topic, payload: body, qos, dup: fc.boolean(), retain: fc.boolean(), messageId }).map((r) =>
    r.qos === 0
      ? { type: 'publish', topic: r.topic, payload: r.payload, qos: 0, dup: false, retain: r.retain }
      : { type: 'publish', topic: r.topic, payload: r.payload, qos: r.qos, dup: r.dup, retain: r.retain, messageId: r.messageId },
  );
}

/** A PUBLISH whose Remaining Length is a varint boundary (up to 2097152) or one byte off it. */
export function boundaryPublish(): fc.Arbitrary<PublishPacket> {
  const targets = VARINT_BOUNDARIES.filter((b) => b >= 127 && b <= 2_097_152).flatMap((b) => [b - 1, b, b + 1]);
  return fc
    .record({ target: fc.constantFrom(...targets), topic: fc.constantFrom('a', 't/é'), qos, dup: fc.boolean(), retain: fc.boolean(), messageId })
    .map((r) => {
      const topicBytes = new TextEncoder().encode(r.topic).length;
      const size = r.target - 2 - topicBytes - (r.qos === 0 ? 0 : 2);
      const body = new Uint8Array(size).fill(size & 0xff);
      return r.qos === 0
        ? { type: 'publish', topic: r.topic, payload: body, qos: 0, dup: false, retain: r.retain }
        : { type: 'publish', topic: r.topic, payload: body, qos: r.qos, dup: r.dup, retain: r.retain, messageId: r.messageId };
    });
}

/** A valid PUBLISH: any QoS, flags and payload, now and then one with a Remaining Length at a varint boundary. */
export function publishPacket(): fc.Arbitrary<PublishPacket> {
  return fc.oneof({ weight: 12, arbitrary: publishOf(topicName(), payload()) }, { weight: 1, arbitrary: boundaryPublish() });
}

function will(): fc.Arbitrary<Will> {
  return fc.record({ topic: topicName(), payload: fc.uint8Array({ maxLength: 40 }), qos, retain: fc.boolean() });
}

/** A valid CONNECT: optional Will, user name and password (only with a user name), any keepalive. */
export function connectPacket(): fc.Arbitrary<ConnectPacket> {
  return fc
    .record({
      clientId: mqttString(30),
      keepalive: fc.oneof(fc.integer({ min: 0, max: 65535 }), fc.constantFrom(0, 60, 1177, 65535)),
      cleanSession: fc.boolean(),
      username: fc.option(mqttString(40), { nil: undefined }),
      password: fc.option(fc.uint8Array({ maxLength: 40 }), { nil: undefined }),
      will: fc.option(will(), { nil: undefined }),
    })
    .map((r) => {
      // A zero-length client identifier needs CleanSession = 1 (MQTT-3.1.3-7).
      const p: ConnectPacket = {
        type: 'connect',
        clientId: r.clientId,
        keepalive: r.keepalive,
        cleanSession: r.clientId === '' ? true : r.cleanSession,
      };
      if (r.will !== undefined) p.will = r.will;
      if (r.username !== undefined) {
        p.username = r.username;
        // A password needs a user name (MQTT-3.1.2-22).
        if (r.password !== undefined) p.password = r.password;
      }
      return p;
    });
}

/** A valid CONNACK: return code 0..5, Session Present only when accepted. */
export function connackPacket(): fc.Arbitrary<ConnackPacket> {
  return fc
    .record({ sessionPresent: fc.boolean(), returnCode: fc.integer({ min: 0, max: 5 }) })
    // Session Present only with return code 0 (MQTT-3.2.2-4).
    .map((r) => ({ type: 'connack', sessionPresent: r.returnCode === 0 && r.sessionPresent, returnCode: r.returnCode }));
}

/** A PUBACK, PUBREC, PUBREL, PUBCOMP or UNSUBACK. */
export function ackPacket(): fc.Arbitrary<Packet> {
  return fc
    .record({ type: fc.constantFrom('puback', 'pubrec', 'pubrel', 'pubcomp', 'unsuback'), messageId })
    .map((r) => ({ type: r.type, messageId: r.messageId }) as Packet);
}

/** A valid SUBSCRIBE: 1 to 6 filters with their requested QoS. */
export function subscribePacket(): fc.Arbitrary<Packet> {
  const sub: fc.Arbitrary<Subscription> = fc.record({ topic: topicFilter(), qos });
  return fc
    .record({ messageId, subscriptions: fc.array(sub, { minLength: 1, maxLength: 6 }) })
    .map((r) => ({ type: 'subscribe', ...r }));
}

/** A valid SUBACK: 1 to 12 return codes among 0, 1, 2 and 0x80. */
export function subackPacket(): fc.Arbitrary<Packet> {
  const code: fc.Arbitrary<SubackReturnCode> = fc.constantFrom(0, 1, 2, 0x80);
  return fc.record({ messageId, granted: fc.array(code, { minLength: 1, maxLength: 12 }) }).map((r) => ({ type: 'suback', ...r }));
}

/** A valid UNSUBSCRIBE: 1 to 6 filters. */
export function unsubscribePacket(): fc.Arbitrary<Packet> {
  return fc
    .record({ messageId, unsubscriptions: fc.array(topicFilter(), { minLength: 1, maxLength: 6 }) })
    .map((r) => ({ type: 'unsubscribe', ...r }));
}

/** PINGREQ, PINGRESP or DISCONNECT. */
export function emptyPacket(): fc.Arbitrary<Packet> {
  return fc.constantFrom<Packet>({ type: 'pingreq' }, { type: 'pingresp' }, { type: 'disconnect' });
}

/** Any valid packet of any of the 14 types. */
export function anyPacket(): fc.Arbitrary<Packet> {
  return fc.oneof(
    { weight: 3, arbitrary: connectPacket() },
    { weight: 1, arbitrary: connackPacket() },
    { weight: 4, arbitrary: publishPacket() },
    { weight: 2, arbitrary: ackPacket() },
    { weight: 2, arbitrary: subscribePacket() },
    { weight: 1, arbitrary: subackPacket() },
    { weight: 2, arbitrary: unsubscribePacket() },
    { weight: 1, arbitrary: emptyPacket() },
  );
}

// ---------------------------------------------------------------------------------------------------------------
// Packet-shaped bytes for fuzzing: a valid first byte and a matching Remaining Length, then a body that follows the
// packet type's layout loosely (length-prefixed fields, packet identifiers, flag bytes) with invalid values mixed
// in, so that random input gets past the first checks and reaches every field validator.

type Bytes = number[];

const textByte = fc.oneof(
  { weight: 12, arbitrary: fc.constantFrom(0x61, 0x62, 0x2f, 0x24) }, // a b / $
  { weight: 1, arbitrary: fc.constantFrom(0x2b, 0x23, 0x00, 0xff, 0x80) }, // + # U+0000 and invalid UTF-8
  { weight: 1, arbitrary: fc.constant(-1) }, // stands for 'é' (c3 a9)
);
const field: fc.Arbitrary<Bytes> = fc
  .array(textByte, { maxLength: 8 })
  .map((a) => a.flatMap((x) => (x === -1 ? [0xc3, 0xa9] : [x])))
  .map((b) => [b.length >> 8, b.length & 0xff, ...b]);
const anyByte: fc.Arbitrary<Bytes> = fc.oneof(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 255 })).map((b) => [b]);
const id: fc.Arbitrary<Bytes> = fc
  .oneof({ weight: 6, arbitrary: fc.integer({ min: 1, max: 65535 }) }, { weight: 1, arbitrary: fc.constant(0) })
  .map((n) => [n >> 8, n & 0xff]);
const seq = (...parts: Array<fc.Arbitrary<Bytes>>): fc.Arbitrary<Bytes> => fc.tuple(...parts).map((ps) => ps.flat());
const many = (a: fc.Arbitrary<Bytes>, max = 4): fc.Arbitrary<Bytes> => fc.array(a, { maxLength: max }).map((x) => x.flat());
const connectFlags: fc.Arbitrary<Bytes> = fc
  .oneof(
    { weight: 4, arbitrary: fc.constantFrom(0x00, 0x02, 0x04, 0x0e, 0x2c, 0x16, 0x82, 0xc2, 0xc6, 0xee, 0x80) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) },
  )
  .map((b) => [b]);
const protocolName: fc.Arbitrary<Bytes> = fc.oneof(
  { weight: 8, arbitrary: fc.constant<Bytes>([0, 4, 0x4d, 0x51, 0x54, 0x54]) },
  { weight: 1, arbitrary: field },
);
const level: fc.Arbitrary<Bytes> = fc.oneof({ weight: 8, arbitrary: fc.constant<Bytes>([4]) }, { weight: 1, arbitrary: anyByte });

const BODY_BY_FIRST_BYTE: ReadonlyArray<[number, fc.Arbitrary<Bytes>]> = [
  [0x10, seq(protocolName, level, connectFlags, id, many(field, 5))], // CONNECT (id stands for keepalive)
  [0x20, seq(anyByte, anyByte)], // CONNACK
  [0x30, seq(field, many(anyByte))], // PUBLISH QoS 0
  [0x31, seq(field, many(anyByte))], // PUBLISH QoS 0 retained
  [0x32, seq(field, id, many(anyByte))], // PUBLISH QoS 1
  [0x3d, seq(field, id, many(anyByte))], // PUBLISH QoS 2 DUP retained
  [0x40, id], // PUBACK
  [0x50, id], // PUBREC
  [0x62, id], // PUBREL
  [0x70, id], // PUBCOMP
  [0x82, seq(id, many(seq(field, anyByte)))], // SUBSCRIBE
  [0x90, seq(id, many(fc.constantFrom([0], [1], [2], [0x80], [3])))], // SUBACK
  [0xa2, seq(id, many(field))], // UNSUBSCRIBE
  [0xb0, id], // UNSUBACK
  [0xc0, fc.constant([])], // PINGREQ
  [0xd0, fc.constant([])], // PINGRESP
  [0xe0, fc.constant([])], // DISCONNECT
];

/** Bytes shaped like a packet of a random type (see above): a whole packet, valid or not. */
export function packetLikeBytes(): fc.Arbitrary<Uint8Array> {
  return fc.constantFrom(...BODY_BY_FIRST_BYTE).chain(([first, template]) =>
    fc
      .oneof({ weight: 5, arbitrary: template }, { weight: 1, arbitrary: many(fc.oneof(field, anyByte, id), 8) })
      .map((body) => {
        const len: number[] = [];
        let n = body.length;
        do {
          len.push((n % 128) | (n >= 128 ? 0x80 : 0));
          n = Math.floor(n / 128);
        } while (n > 0);
        return Uint8Array.from([first, ...len, ...body]);
      }),
  );
}
