/**
 * The competitors, behind one shape so that every benchmark case runs the same loop: our codec, mqtt-packet 9 (what
 * MQTT.js 5 uses), mqtt-packet 6.10 (what Microsoft's azure-iot-device-mqtt uses, when it is installed) and an ideal
 * framer that only reads fixed headers and slices bodies (the ceiling for any MQTT parser).
 *
 * Each side counts what it delivers; {@link checked} throws when an operation did not deliver every packet, so a
 * decoder cannot be measured doing less work than the other, and the JIT cannot drop the work as dead code.
 */
import { createRequire } from 'node:module';
import mqtt from 'mqtt-packet';
import type { Packet as MqttPacketPacket } from 'mqtt-packet';
import * as codec from '../../src/codec/index.js';
import type { Packet } from '../../src/codec/index.js';
import type { DecodeInput, EncodeInput } from './fixtures.js';

/** The part of the mqtt-packet API the benchmark uses (identical in 6.10 and 9). */
export type MqttPacketModule = Pick<typeof mqtt, 'parser' | 'generate' | 'writeToStream'>;

/** mqtt-packet 9, the current version (MQTT.js 5). */
export const mqttPacket9: MqttPacketModule = mqtt;

/**
 * mqtt-packet 6.10 as Microsoft's Azure IoT device SDK (azure-iot-mqtt-base -> mqtt 4) loads it, or undefined when
 * that copy is not installed.
 */
export const mqttPacket6: MqttPacketModule | undefined = loadNested();

function loadNested(): MqttPacketModule | undefined {
  const require = createRequire(import.meta.url);
  for (const base of ['azure-iot-mqtt-base', 'azure-iot-provisioning-device-mqtt']) {
    try {
      const from = createRequire(require.resolve(`${base}/package.json`));
      const mod = from('mqtt-packet') as MqttPacketModule;
      const version = (from('mqtt-packet/package.json') as { version: string }).version;
      if (version.startsWith('6.')) return mod;
    } catch {
      // not installed this way: try the next one
    }
  }
  return undefined;
}

/** Version string of a loaded mqtt-packet. */
export function mqttPacketVersion(which: 6 | 9): string {
  const require = createRequire(import.meta.url);
  try {
    if (which === 9) return (require('mqtt-packet/package.json') as { version: string }).version;
    const from = createRequire(require.resolve('azure-iot-mqtt-base/package.json'));
    return (from('mqtt-packet/package.json') as { version: string }).version;
  } catch {
    return 'not installed';
  }
}

/**
 * The parts of our codec the benchmark drives. The default is `src/codec`; an experiment passes a modified copy
 * (bench/experiments) to measure a proposed change with the very same cases.
 */
export interface Codec {
  PacketDecoder: new (options?: { maxPacketSize?: number }) => {
    push(chunk: Uint8Array, onPacket: (packet: Packet) => void): number;
  };
  encode(packet: Packet): Uint8Array;
  encodeChunks(packet: Packet): Uint8Array[];
}

/**
 * The codec measured as "ours": `src/codec`, or with `BENCH_CODEC=<module path>` another build of it (an experiment
 * kept out of the tree), so a proposed change is measured with the very same cases.
 */
const alternative = process.env['BENCH_CODEC'];
export const oursCodec: Codec =
  alternative === undefined ? codec : ((await import(new URL(alternative, `file://${process.cwd()}/`).href)) as Codec);

/** One decoder, fed a stream per benchmark operation. */
export interface DecodeSide {
  /** Feed every chunk of the input; returns nothing, the counters below say what came out. */
  feed(chunks: Buffer[]): void;
  packets: number;
  payloadBytes: number;
}

/** Our streaming decoder. */
export function oursDecoder(impl: Codec = oursCodec): DecodeSide {
  const decoder = new impl.PacketDecoder({ maxPacketSize: 1 << 20 });
  const side = {
    packets: 0,
    payloadBytes: 0,
    feed(chunks: Buffer[]): void {
      for (let i = 0; i < chunks.length; i++) decoder.push(chunks[i]!, onPacket);
    },
  };
  const onPacket = (p: Packet): void => {
    side.packets++;
    if (p.type === 'publish') side.payloadBytes += p.payload.length;
  };
  return side;
}

/** mqtt-packet's parser, fed Buffers as a socket gives them. */
export function mqttPacketDecoder(lib: MqttPacketModule): DecodeSide {
  const parser = lib.parser({ protocolVersion: 4 });
  const side = {
    packets: 0,
    payloadBytes: 0,
    feed(chunks: Buffer[]): void {
      for (let i = 0; i < chunks.length; i++) parser.parse(chunks[i]!);
    },
  };
  parser.on('packet', (p: MqttPacketPacket) => {
    side.packets++;
    if (p.cmd === 'publish') side.payloadBytes += p.payload.length;
  });
  parser.on('error', (err: unknown) => {
    throw err;
  });
  return side;
}

/**
 * The ceiling: read the first byte and the Remaining Length, hand out the body as a view, and copy only a packet
 * that straddles chunks, into a buffer of exactly its size (a view into a 64 KiB slab up to 8 KiB, as cheap as
 * allocation gets in JS). No validation, no packet object.
 * It counts body bytes as `payloadBytes` (it does not know where a PUBLISH payload starts).
 */
export function idealFramer(): DecodeSide {
  const head = new Uint8Array(5);
  let slab = new ArrayBuffer(65536);
  let slabUsed = 0;
  let headLen = 0;
  let body: Uint8Array | null = null;
  let filled = 0;
  const side = {
    packets: 0,
    payloadBytes: 0,
    feed(chunks: Buffer[]): void {
      for (let i = 0; i < chunks.length; i++) push(chunks[i]!);
    },
  };
  function allocate(n: number): Uint8Array {
    if (n > 8192) return new Uint8Array(n);
    if (slabUsed + n > slab.byteLength) {
      slab = new ArrayBuffer(65536);
      slabUsed = 0;
    }
    slabUsed += n;
    return new Uint8Array(slab, slabUsed - n, n);
  }
  function deliver(b: Uint8Array): void {
    side.packets++;
    side.payloadBytes += b.length;
  }
  function push(chunk: Uint8Array): void {
    const n = chunk.length;
    let pos = 0;
    while (pos < n) {
      if (body !== null) {
        const take = Math.min(n - pos, body.length - filled);
        body.set(take === n ? chunk : chunk.subarray(pos, pos + take), filled);
        filled += take;
        pos += take;
        if (filled < body.length) return;
        const done = body;
        body = null;
        deliver(done);
        continue;
      }
      if (headLen > 0) {
        head[headLen++] = chunk[pos++]!;
        if (headLen >= 2 && (head[headLen - 1]! & 0x80) === 0) {
          let rem = 0;
          for (let k = headLen - 1; k >= 1; k--) rem = rem * 128 + (head[k]! & 0x7f);
          headLen = 0;
          if (rem === 0) deliver(EMPTY);
          else {
            body = allocate(rem);
            filled = 0;
          }
        }
        continue;
      }
      // Fixed header entirely in this chunk?
      let p = pos + 1;
      let rem = 0;
      let mul = 1;
      let complete = false;
      while (p < n) {
        const b = chunk[p++]!;
        rem += (b & 0x7f) * mul;
        mul *= 128;
        if ((b & 0x80) === 0) {
          complete = true;
          break;
        }
      }
      if (!complete) {
        head.set(chunk.subarray(pos, n));
        headLen = n - pos;
        return;
      }
      if (p + rem <= n) {
        deliver(chunk.subarray(p, p + rem));
        pos = p + rem;
      } else {
        body = allocate(rem);
        body.set(chunk.subarray(p, n));
        filled = n - p;
        return;
      }
    }
  }
  return side;
}
const EMPTY = new Uint8Array(0);

/** Run one decode operation and throw unless it delivered exactly the input's packets and payload bytes. */
export function checked(side: DecodeSide, input: DecodeInput, countPayload = true): () => void {
  return () => {
    const packets = side.packets;
    const payloadBytes = side.payloadBytes;
    side.feed(input.chunks);
    if (side.packets - packets !== input.packets) {
      throw new Error(`decoder delivered ${side.packets - packets} packets instead of ${input.packets}`);
    }
    if (countPayload && side.payloadBytes - payloadBytes !== input.payloadBytes) {
      throw new Error(`decoder delivered ${side.payloadBytes - payloadBytes} payload bytes instead of ${input.payloadBytes}`);
    }
  };
}

/** A writable that drops what it gets and counts the bytes (strings are ASCII topics here, 1 byte per char). */
export class NullWritable {
  bytes = 0;
  write(chunk: Uint8Array | string): boolean {
    this.bytes += chunk.length;
    return true;
  }
}

/** One encode operation: every packet of the input; throws unless the bytes add up. */
export type EncodeOp = () => void;

function expectBytes(got: number, input: EncodeInput): void {
  if (got !== input.bytes) throw new Error(`encoder produced ${got} bytes instead of ${input.bytes}`);
}

/** `encode()` for each packet (one Uint8Array per packet, payload copied in). */
export function oursEncode(input: EncodeInput, impl: Codec = oursCodec): EncodeOp {
  const packets = input.ours;
  const encode = impl.encode;
  return () => {
    let bytes = 0;
    for (let i = 0; i < packets.length; i++) bytes += encode(packets[i]!).length;
    expectBytes(bytes, input);
  };
}

/** mqtt-packet's `generate()` for each packet (one Buffer per packet). */
export function mqttPacketGenerate(lib: MqttPacketModule, input: EncodeInput): EncodeOp {
  const packets = input.theirs;
  return () => {
    let bytes = 0;
    for (let i = 0; i < packets.length; i++) bytes += lib.generate(packets[i]!).length;
    expectBytes(bytes, input);
  };
}

/** `encodeChunks()` for each packet, every chunk written to a null writable (the payload is not copied). */
export function oursEncodeChunks(input: EncodeInput, impl: Codec = oursCodec): EncodeOp {
  const packets = input.ours;
  const encodeChunks = impl.encodeChunks;
  const sink = new NullWritable();
  return () => {
    sink.bytes = 0;
    for (let i = 0; i < packets.length; i++) {
      const chunks = encodeChunks(packets[i]!);
      for (let k = 0; k < chunks.length; k++) sink.write(chunks[k]!);
    }
    expectBytes(sink.bytes, input);
  };
}

/** mqtt-packet's `writeToStream()` for each packet into a null writable (it writes field by field). */
export function mqttPacketWriteToStream(lib: MqttPacketModule, input: EncodeInput): EncodeOp {
  const packets = input.theirs;
  const sink = new NullWritable();
  const stream = sink as unknown as NodeJS.WritableStream;
  return () => {
    sink.bytes = 0;
    for (let i = 0; i < packets.length; i++) lib.writeToStream(packets[i]!, stream);
    expectBytes(sink.bytes, input);
  };
}
