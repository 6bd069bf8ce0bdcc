/**
 * Every benchmark group of bench/codec.ts, described without building anything: a group's inputs are built in the
 * process that measures it (a fresh one per group, see run-group.ts).
 */
import { PacketDecoder, decode, encode } from '../../src/codec/index.js';
import type { Packet } from '../../src/codec/index.js';
import type { Packet as MqttPacketPacket } from 'mqtt-packet';
import {
  CHUNKINGS,
  CONTROL_PACKETS,
  CONTROL_PACKETS_PER_STREAM,
  PAYLOAD_SIZES,
  decodeInput,
  encodeInput,
  packetsPerStream,
  publishPackets,
} from './fixtures.js';
import type { ControlPacketName, DecodeInput, EncodeInput } from './fixtures.js';
import type { Row } from './report.js';
import type { Case, Sampling } from './run.js';
import {
  checked,
  idealFramer,
  mqttPacket6,
  mqttPacket9,
  mqttPacketDecoder,
  mqttPacketGenerate,
  mqttPacketWriteToStream,
  oursDecoder,
  oursEncode,
  oursEncodeChunks,
} from './sides.js';
import type { MqttPacketModule } from './sides.js';

/** mqtt-packet needs ~0.45 s for one 64 KiB PUBLISH fed byte by byte: few samples, said so in RESULTS.md. */
export const SLOW_SAMPLING: Partial<Sampling> = { minSamples: 5, maxTime: 0.5 };

/** One benchmark group: the sides measured on the same input, one line of a RESULTS.md table. */
export interface Group {
  /** The benny suite title, also what `BENCH_FILTER` matches. */
  title: string;
  /** Everything of the table row but the results. */
  row: Omit<Row, 'results'>;
  /** Check that the sides agree on the input, then build the cases. */
  build(): Case[];
}

function baselines(): [string, MqttPacketModule][] {
  const out: [string, MqttPacketModule][] = [['mqtt-packet 9', mqttPacket9]];
  if (mqttPacket6 !== undefined) out.push(['mqtt-packet 6.10', mqttPacket6]);
  return out;
}

/** Names of the mqtt-packet baselines that are installed. */
export function baselineNames(): string[] {
  return baselines().map(([name]) => name);
}

function decodeCases(input: DecodeInput, slow: boolean, withPayload: boolean): Case[] {
  const { packets, bytes } = input;
  const cases: Case[] = [{ name: 'ours', op: checked(oursDecoder(), input, withPayload), packets, bytes }];
  for (const [name, lib] of baselines()) {
    cases.push({ name, op: checked(mqttPacketDecoder(lib), input, withPayload), packets, bytes, ...(slow ? { sampling: SLOW_SAMPLING } : {}) });
  }
  cases.push({ name: 'ideal', op: checked(idealFramer(), input, false), packets, bytes });
  return cases;
}

function encodeCases(input: EncodeInput, zeroCopy: boolean): Case[] {
  const packets = input.ours.length;
  const bytes = input.bytes;
  const cases: Case[] = [{ name: 'ours', op: zeroCopy ? oursEncodeChunks(input) : oursEncode(input), packets, bytes }];
  for (const [name, lib] of baselines()) {
    cases.push({ name, op: zeroCopy ? mqttPacketWriteToStream(lib, input) : mqttPacketGenerate(lib, input), packets, bytes });
  }
  return cases;
}

/** Both decoders must see the same packets in the same bytes. */
function crossCheck(input: DecodeInput): void {
  const ours = new PacketDecoder({ maxPacketSize: 1 << 20 });
  const a = input.chunks.flatMap((c) => ours.decodeAll(c));
  const b: MqttPacketPacket[] = [];
  const parser = mqttPacket9.parser({ protocolVersion: 4 });
  parser.on('packet', (p: MqttPacketPacket) => b.push(p));
  for (const c of input.chunks) parser.parse(c);
  if (a.length !== input.packets || b.length !== input.packets) throw new Error('cross-check: packet count differs');
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.type !== y.cmd) throw new Error(`cross-check: packet ${i} is ${x.type} / ${y.cmd}`);
    if (x.type === 'publish' && y.cmd === 'publish') {
      if (x.topic !== y.topic || x.messageId !== y.messageId || typeof y.payload === 'string' || Buffer.compare(x.payload, y.payload) !== 0) {
        throw new Error(`cross-check: PUBLISH ${i} differs`);
      }
    }
  }
}

/** Both encoders must produce the same bytes. */
function crossCheckEncode(input: EncodeInput): void {
  for (let i = 0; i < input.ours.length; i++) {
    const x = encode(input.ours[i]!);
    if (Buffer.compare(x, mqttPacket9.generate(input.theirs[i]!)) !== 0) throw new Error(`cross-check: encoding ${i} differs`);
    if (decode(x).type !== input.ours[i]!.type) throw new Error(`cross-check: encoding ${i} does not decode`);
  }
}

function sizeLabel(size: number): string {
  return size >= 1024 ? `${size / 1024} KiB` : `${size} B`;
}

/** All groups, in the order of RESULTS.md. */
export function allGroups(): Group[] {
  const groups: Group[] = [];
  for (const size of PAYLOAD_SIZES) {
    for (const chunking of CHUNKINGS) {
      const n = packetsPerStream(size, chunking);
      const title = `decode PUBLISH QoS 1, ${sizeLabel(size)} payload, ${chunking}`;
      groups.push({
        title,
        row: { kind: 'decode-publish', title, label: `${sizeLabel(size)}, ${chunking}`, size, chunking, packetsPerOp: n },
        build() {
          const input = decodeInput(publishPackets(size, n), chunking);
          crossCheck(input);
          return decodeCases(input, chunking === 'byte at a time' && size === 65536, true);
        },
      });
    }
  }
  for (const zeroCopy of [false, true]) {
    for (const size of PAYLOAD_SIZES) {
      const n = packetsPerStream(size, 'one chunk');
      const title = zeroCopy
        ? `encode PUBLISH QoS 1, ${sizeLabel(size)} payload: encodeChunks() vs writeToStream() into a null writable`
        : `encode PUBLISH QoS 1, ${sizeLabel(size)} payload: encode() vs generate()`;
      groups.push({
        title,
        row: { kind: zeroCopy ? 'encode-chunks' : 'encode', title, label: sizeLabel(size), size, packetsPerOp: n },
        build() {
          const input = encodeInput(publishPackets(size, n));
          crossCheckEncode(input);
          return encodeCases(input, zeroCopy);
        },
      });
    }
  }
  for (const name of Object.keys(CONTROL_PACKETS) as ControlPacketName[]) {
    const packets = (): Packet[] => Array.from({ length: CONTROL_PACKETS_PER_STREAM }, (_, i) => CONTROL_PACKETS[name](i));
    for (const chunking of ['one chunk', 'one packet per chunk'] as const) {
      const title = `decode ${name}, ${chunking}`;
      groups.push({
        title,
        row: { kind: 'decode-control', title, label: `${name}, ${chunking}`, packetsPerOp: CONTROL_PACKETS_PER_STREAM },
        build() {
          const input = decodeInput(packets(), chunking);
          crossCheck(input);
          return decodeCases(input, false, false);
        },
      });
    }
    const title = `encode ${name}: encode() vs generate()`;
    groups.push({
      title,
      row: { kind: 'encode-control', title, label: name, packetsPerOp: CONTROL_PACKETS_PER_STREAM },
      build() {
        const input = encodeInput(packets());
        crossCheckEncode(input);
        return encodeCases(input, false);
      },
    });
  }
  return groups;
}
