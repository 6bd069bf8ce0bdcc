/**
 * Benchmark inputs: the packets both codecs encode, the byte streams both decoders parse, and how those streams are
 * cut into chunks. Every input is built once, up front, so no case pays for building its input.
 */
import type { Packet as MqttPacketPacket } from 'mqtt-packet';
import { encode } from '../../src/codec/index.js';
import type { Packet, PublishPacket } from '../../src/codec/index.js';

/**
 * A device-to-cloud telemetry topic with the content type and encoding system properties, 70 bytes, as Azure IoT
 * Hub devices send it.
 * @see https://learn.microsoft.com/azure/iot/iot-mqtt-connect-to-iot-hub#sending-device-to-cloud-messages
 */
export const TELEMETRY_TOPIC = 'devices/therm-7/messages/events/%24.ct=application%2Fjson&%24.ce=utf-8';

/** Payload sizes of the PUBLISH groups, in bytes. */
export const PAYLOAD_SIZES = [16, 256, 4096, 65536] as const;
/** One of {@link PAYLOAD_SIZES}. */
export type PayloadSize = (typeof PAYLOAD_SIZES)[number];

/** How a stream reaches the decoder. */
export type Chunking = 'one chunk' | '1460 B segments' | 'byte at a time';
/** Every chunking, in table order. */
export const CHUNKINGS: readonly Chunking[] = ['one chunk', '1460 B segments', 'byte at a time'];

/** A TCP segment's payload on a 1500-byte MTU Ethernet link (1500 - 20 IP - 20 TCP). */
export const SEGMENT_BYTES = 1460;

/** One benchmark input for the decoders: a byte stream of `packets` packets, already cut into `chunks`. */
export interface DecodeInput {
  /** Packets in the stream (what one benchmark operation must deliver). */
  packets: number;
  /** Wire bytes in the stream. */
  bytes: number;
  /** Sum of the PUBLISH payload lengths, or 0 for other packets (checked after every operation). */
  payloadBytes: number;
  /** The stream, as Buffers (a Buffer is a Uint8Array, so both decoders get the very same objects). */
  chunks: Buffer[];
}

/** One benchmark input for the encoders: the same packets in each library's own shape. */
export interface EncodeInput {
  ours: Packet[];
  theirs: MqttPacketPacket[];
  /** Wire bytes of all the packets together (checked after every operation). */
  bytes: number;
}

/** Deterministic JSON-looking payload bytes (the content does not matter to an MQTT codec, the length does). */
export function payloadOf(size: number): Buffer {
  const text = '{"temperature":21.5,"humidity":48,"pressure":1013.25,"seq":';
  const out = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) out[i] = text.charCodeAt(i % text.length);
  return out;
}

/**
 * Packets per stream for each payload size, so that one operation is long enough to hide the call overhead and
 * short enough for many samples. Byte at a time uses fewer (mqtt-packet is quadratic in packet size there).
 */
export function packetsPerStream(size: PayloadSize, chunking: Chunking): number {
  if (chunking === 'byte at a time') return size <= 256 ? 20 : size === 4096 ? 4 : 1;
  return size <= 256 ? 1000 : size === 4096 ? 100 : 10;
}

/** `count` telemetry PUBLISH packets (QoS 1, packet ids 1..count) with `size`-byte payloads. */
export function publishPackets(size: number, count: number): PublishPacket[] {
  const payload = payloadOf(size);
  const out: PublishPacket[] = [];
  for (let i = 0; i < count; i++) {
    out.push({ type: 'publish', topic: TELEMETRY_TOPIC, payload, qos: 1, dup: false, retain: false, messageId: (i % 65535) + 1 });
  }
  return out;
}

/** The same packet as mqtt-packet expects it (`cmd` instead of `type`, a Buffer payload). */
export function toMqttPacket(p: Packet): MqttPacketPacket {
  switch (p.type) {
    case 'publish':
      return {
        cmd: 'publish',
        topic: p.topic,
        payload: Buffer.from(p.payload.buffer, p.payload.byteOffset, p.payload.length),
        qos: p.qos,
        dup: p.dup,
        retain: p.retain,
        ...(p.messageId === undefined ? {} : { messageId: p.messageId }),
      };
    case 'puback':
      return { cmd: 'puback', messageId: p.messageId };
    case 'pingresp':
      return { cmd: 'pingresp' };
    case 'suback':
      return { cmd: 'suback', messageId: p.messageId, granted: [...p.granted] };
    case 'connack':
      return { cmd: 'connack', sessionPresent: p.sessionPresent, returnCode: p.returnCode };
    default:
      throw new Error(`no mqtt-packet shape for ${p.type} in the benchmark`);
  }
}

/** Packets of the control-packet group: what a device receives besides PUBLISH. */
export const CONTROL_PACKETS = {
  PUBACK: (i: number): Packet => ({ type: 'puback', messageId: (i % 65535) + 1 }),
  PINGRESP: (): Packet => ({ type: 'pingresp' }),
  // Azure's device client subscribes to C2D, twin responses and desired properties, and methods: 4 filters.
  SUBACK: (i: number): Packet => ({ type: 'suback', messageId: (i % 65535) + 1, granted: [1, 0, 0, 0] }),
  CONNACK: (): Packet => ({ type: 'connack', sessionPresent: false, returnCode: 0 }),
} as const;
/** PUBACK, PINGRESP, SUBACK or CONNACK. */
export type ControlPacketName = keyof typeof CONTROL_PACKETS;

/** Packets per stream in the control-packet group. */
export const CONTROL_PACKETS_PER_STREAM = 1000;

/** Concatenate the encodings of `packets` and cut the stream as `chunking` says. */
export function decodeInput(packets: Packet[], chunking: Chunking | 'one packet per chunk'): DecodeInput {
  const encoded = packets.map((p) => encode(p));
  const bytes = encoded.reduce((n, b) => n + b.length, 0);
  const payloadBytes = packets.reduce((n, p) => n + (p.type === 'publish' ? p.payload.length : 0), 0);
  const stream = Buffer.concat(encoded);
  let chunks: Buffer[];
  switch (chunking) {
    case 'one chunk':
      chunks = [stream];
      break;
    case 'one packet per chunk':
      chunks = encoded.map((b) => Buffer.from(b));
      break;
    case '1460 B segments':
      chunks = cut(stream, SEGMENT_BYTES);
      break;
    case 'byte at a time':
      chunks = cut(stream, 1);
      break;
  }
  return { packets: packets.length, bytes, payloadBytes, chunks };
}

/** `packets` in both shapes, with their total encoded size. */
export function encodeInput(packets: Packet[]): EncodeInput {
  return { ours: packets, theirs: packets.map(toMqttPacket), bytes: packets.reduce((n, p) => n + encode(p).length, 0) };
}

// Each piece is its own copy, as a socket hands out a fresh Buffer per read.
function cut(stream: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < stream.length; i += size) out.push(Buffer.from(stream.subarray(i, i + size)));
  return out;
}
