/**
 * Fuzzing the byte level: the streaming decoder and the MQTT session fed random bytes, mutated valid packets and
 * streams of server packets with mutations, in random chunkings. Invariants: every input decodes or throws
 * `MqttProtocolError` (never another exception); the chunking never changes the outcome; packets before a mutated one
 * are delivered intact; the decoder never holds more bytes than it was given; the session never throws out of
 * `input()`, reports only coded errors (`EPROTO`, `EMSGSIZE`) and is either still connected or closed after each one.
 * The codec's own property tests (test/codec/property.test.ts) cover packet-shaped random bytes; these add mutations
 * and the session on top.
 */
import { createHash } from 'node:crypto';
import { Duplex } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encode, encodedLength, MqttProtocolError, PacketDecoder, type Packet } from '../../src/codec/index.js';
import { AzureIotHubError } from '../../src/errors.js';
import { MqttSession } from '../../src/transport/index.js';
import { anyPacket, publishPacket } from '../codec/arbitraries.js';
import { comparable, concat, splitAt } from '../helpers/fixtures.js';
import { fuzz, fuzzTimeout, mutateBytes, mutations } from './fuzz.js';

/** Valid packets small enough to mutate and re-chunk byte by byte quickly (the 2 MiB boundary PUBLISH is not). */
const smallPacket = anyPacket().filter((p) => encodedLength(p) <= 4096);

interface Outcome {
  packets: Packet[];
  rule: string | null;
  code: string | null;
}

/** Decode `chunks` with a fresh decoder; any exception other than MqttProtocolError fails the property. */
function outcome(chunks: readonly Uint8Array[], maxPacketSize = 4 * 1024 * 1024): Outcome {
  // Above the largest generated packet (a PUBLISH at the 2 MiB varint boundary), so valid packets always fit.
  const decoder = new PacketDecoder({ maxPacketSize });
  const packets: Packet[] = [];
  let fed = 0;
  for (const c of chunks) {
    fed += c.length;
    try {
      decoder.push(c, (p) => packets.push(p));
    } catch (err) {
      if (!(err instanceof MqttProtocolError)) throw err;
      // The decoder stays failed: the same error again, whatever comes next (MQTT-4.8.0-1).
      expect(() => decoder.push(Uint8Array.of(0xc0, 0), () => undefined)).toThrow(err);
      return { packets, rule: err.rule, code: err.code };
    }
    expect(decoder.buffered).toBeLessThanOrEqual(fed);
  }
  return { packets, rule: null, code: null };
}

function cutsFor(length: number, raw: readonly number[]): number[] {
  return [...new Set(raw.map((r) => (length === 0 ? 0 : r % length)))].filter((c) => c > 0).sort((a, b) => a - b);
}

/** Packets as short digests (type, sizes, a hash of the content), so that a failure prints a readable diff. */
function digest(packets: readonly Packet[]): string[] {
  return packets.map((p) => {
    const json = JSON.stringify(comparable(p));
    return `${p.type}:${json.length}:${createHash('sha1').update(json).digest('hex').slice(0, 12)}`;
  });
}

function same(a: Outcome, b: Outcome): void {
  expect({ packets: digest(a.packets), rule: a.rule, code: a.code }).toEqual({ packets: digest(b.packets), rule: b.rule, code: b.code });
}

describe('decoder: mutated valid packets', () => {
  it('decode or MqttProtocolError, the same whatever the chunking', () => {
    fc.assert(
      fc.property(smallPacket, mutations, fc.array(fc.nat(), { maxLength: 8 }), (packet, ms, raw) => {
        const bytes = mutateBytes(encode(packet), ms);
        const whole = outcome([bytes]);
        same(outcome(splitAt(bytes, cutsFor(bytes.length, raw))), whole);
        same(outcome(Array.from(bytes, (_, i) => bytes.subarray(i, i + 1))), whole);
      }),
      fuzz(600, 250),
    );
  }, fuzzTimeout());

  it('a stream of valid packets with one mutated: the packets before it arrive intact', () => {
    fc.assert(
      fc.property(fc.array(smallPacket, { minLength: 1, maxLength: 5 }), fc.nat(), mutations, fc.array(fc.nat(), { maxLength: 8 }), (packets, which, ms, raw) => {
        const k = which % packets.length;
        const parts = packets.map((p) => encode(p));
        parts[k] = mutateBytes(parts[k]!, ms);
        const all = concat(...parts);
        const got = outcome(splitAt(all, cutsFor(all.length, raw)));
        expect(digest(got.packets.slice(0, k))).toEqual(digest(packets.slice(0, k)));
        same(got, outcome([all]));
      }),
      fuzz(400, 250),
    );
  }, fuzzTimeout());

  it('a small maxPacketSize: oversized packets are EMSGSIZE (rule maxPacketSize) from the header, never buffered', () => {
    fc.assert(
      fc.property(publishPacket(), mutations, fc.integer({ min: 2, max: 64 }), (packet, ms, max) => {
        const bytes = mutateBytes(encode(packet), ms);
        const got = outcome([bytes.subarray(0, Math.min(bytes.length, 6))], max);
        if (got.code === 'EMSGSIZE') expect(got.rule).toBe('maxPacketSize');
        // Only the header was fed: nothing beyond it can have been allocated for the body.
        const rest = outcome([bytes], max);
        if (rest.code === 'EMSGSIZE') expect(rest.packets.every((p) => encode(p).length <= max)).toBe(true);
      }),
      fuzz(400, 250),
    );
  }, fuzzTimeout());
});

// ---------------------------------------------------------------------------------------------------------------
// The session above the decoder: a Duplex stands for the socket, and input() is driven by hand (autoInput: false),
// so every case is synchronous once connected.

class Wire extends Duplex {
  override _read(): void {}
  override _write(_chunk: unknown, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    cb();
  }
}

/** Server packets a hub sends after CONNACK, some of them wrong for a client (the session must refuse those). */
const serverPacket: fc.Arbitrary<Packet> = fc.oneof(
  { weight: 6, arbitrary: publishPacket().filter((p) => p.payload.length <= 4096) },
  { weight: 2, arbitrary: fc.integer({ min: 1, max: 65535 }).map((messageId): Packet => ({ type: 'puback', messageId })) },
  { weight: 1, arbitrary: fc.constant<Packet>({ type: 'pingresp' }) },
  { weight: 1, arbitrary: smallPacket },
);

const ALLOWED_CODES = new Set(['EPROTO', 'EMSGSIZE']);

describe('session: streams of server packets with mutations', () => {
  it('input() never throws; errors are EPROTO or EMSGSIZE; a protocol error closes the session, an oversized message does not', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(serverPacket, { maxLength: 6 }),
        fc.option(mutations, { nil: undefined }),
        fc.array(fc.nat(), { maxLength: 6 }),
        fc.integer({ min: 16, max: 4096 }),
        async (packets, ms, raw, maxPayloadBytes) => {
          const wire = new Wire();
          const session = new MqttSession({
            socket: wire,
            clientId: 'fuzz',
            reconnect: false,
            autoInput: false,
            keepaliveSeconds: 0,
            connectTimeoutMs: 0,
            maxPayloadBytes,
          });
          const errors: unknown[] = [];
          session.on('disconnected', (e) => errors.push(e));
          session.on('connectionFailed', (e) => errors.push(e));
          const oversized: unknown[] = [];
          session.on('error', (e) => oversized.push(e)); // an oversized message: reported, acknowledged, link kept
          let messages = 0;
          session.on('message', () => messages++);
          try {
            await session.connect();
            wire.push(encode({ type: 'connack', sessionPresent: false, returnCode: 0 }));
            expect(session.input()).toBe(1);
            expect(session.state).toBe('connected');
            let stream = concat(...packets.map((p) => encode(p)));
            if (ms !== undefined) stream = mutateBytes(stream, ms);
            for (const chunk of splitAt(stream, cutsFor(stream.length, raw))) {
              wire.push(chunk);
              session.input();
            }
            for (const e of errors) {
              expect(e).toBeInstanceOf(AzureIotHubError);
              expect(ALLOWED_CODES.has((e as AzureIotHubError).code)).toBe(true);
            }
            for (const e of oversized) expect(e).toMatchObject({ code: 'EMSGSIZE', rule: 'maxPayloadBytes' });
            expect(session.state).toBe(errors.length > 0 ? 'idle' : 'connected');
            expect(messages).toBeLessThanOrEqual(packets.length + (ms?.length ?? 0) * 2);
          } finally {
            session.destroy();
            wire.destroy();
          }
        },
      ),
      fuzz(250, 600),
    );
  }, fuzzTimeout());
});
