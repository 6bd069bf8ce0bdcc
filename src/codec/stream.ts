/**
 * Streaming decoder: chunks of any size in, whole packets out.
 *
 * A packet that lies inside one chunk is decoded in place (its payload is a view of the chunk). A packet split
 * across chunks is assembled in a buffer of its own that grows with the bytes actually received (never with the
 * length the peer claims), so the cost is linear in bytes whatever the chunking and a hostile length cannot make
 * the decoder allocate. Memory handed out in a packet is never written again by the decoder.
 */
import { allocate } from './alloc.js';
import { MqttProtocolError } from './errors.js';
import { checkFirstByte, decodeBody } from './decode.js';
import type { Packet, PublishPacket, QoS } from './types.js';
import { readVarint, varint } from './varint.js';

/** Default `maxPacketSize`: 1 MiB. The transport sets its own from `maxPayloadBytes`. */
export const DEFAULT_MAX_PACKET_SIZE = 1024 * 1024;

export interface PacketDecoderOptions {
  /**
   * Largest whole packet (fixed header included) accepted, checked from the fixed header before any of the body is
   * buffered. A larger one throws {@link MqttProtocolError} with code `EMSGSIZE` and rule `maxPacketSize`.
   * Default {@link DEFAULT_MAX_PACKET_SIZE}.
   */
  maxPacketSize?: number;
  /**
   * Skip a PUBLISH larger than `maxPacketSize` instead of failing: its topic and packet identifier are kept (at most
   * {@link MAX_PUBLISH_HEADER_BYTES} bytes), its payload is read and discarded without being buffered, and this is
   * called once the whole packet has been read, so the stream stays in step and the receiver can acknowledge it
   * (otherwise a persistent session redelivers it forever). Other oversized packets still throw `EMSGSIZE`.
   */
  onOversizedPublish?: (info: OversizedPublish) => void;
}

/** What {@link PacketDecoderOptions.onOversizedPublish} learns of a skipped PUBLISH. */
export interface OversizedPublish {
  topic: string;
  qos: QoS;
  dup: boolean;
  retain: boolean;
  /** Present when `qos > 0`. */
  messageId?: number;
  /** The whole packet's size in bytes (fixed header included). */
  size: number;
}

/** The most a PUBLISH's variable header can take: topic length, a 65535-byte topic, packet identifier. */
export const MAX_PUBLISH_HEADER_BYTES = 2 + 65535 + 2;

const EMPTY = new Uint8Array(0);
// The assembly buffer of a split packet starts at min(packet size, 128 KiB): one allocation and one copy for every
// packet up to 128 KiB (a 64 KiB payload with its headers fits), while a peer that announces a large packet and
// sends nothing costs at most 128 KiB (and never more than maxPacketSize, checked first).
const MIN_GROW = 128 * 1024;

export class PacketDecoder {
  readonly maxPacketSize: number;
  readonly #onOversized: ((info: OversizedPublish) => void) | undefined;

  // Fixed header of a packet split before its body started (at most 5 bytes).
  #head = new Uint8Array(5);
  #headLen = 0;
  // Body of a packet split inside its body.
  #first = 0;
  #body: Uint8Array = EMPTY;
  #bodyLen = 0; // bytes of the body the packet has (from Remaining Length)
  #filled = 0; // bytes of the body received so far
  #inBody = false;
  // Skipping an oversized PUBLISH: only its first #cap bytes (the variable header) are kept.
  #skipping = false;
  #cap = 0;
  // Chunks (or rests of chunks) not processed yet because onPacket threw, oldest first. A queue, not one slot:
  // a push while a backlog is pending must keep its own chunk even if onPacket throws again.
  #backlog: Uint8Array[] = [];
  #failed: MqttProtocolError | null = null;
  // Set while an exception thrown by onPacket propagates, so that it is not mistaken for a decoding error.
  #callerThrew = false;
  // Bumped by reset(), so that a reset() called from inside onPacket stops the decoding of the old chunk.
  #epoch = 0;

  constructor(options: PacketDecoderOptions = {}) {
    const max = options.maxPacketSize ?? DEFAULT_MAX_PACKET_SIZE;
    if (!Number.isInteger(max) || max < 2) throw new RangeError('maxPacketSize must be an integer >= 2');
    this.maxPacketSize = max;
    this.#onOversized = options.onOversizedPublish;
  }

  /** Bytes held for a packet not complete yet. */
  get buffered(): number {
    if (!this.#inBody) return this.#headLen;
    return 1 + this.#headLen + (this.#skipping ? Math.min(this.#filled, this.#cap) : this.#filled);
  }

  /**
   * Forget any partial packet, any unprocessed rest of a chunk and any earlier error (use for a new connection).
   * Called from inside `onPacket`, it also ends the current `push`: no packet of the old chunk follows.
   */
  reset(): void {
    this.#epoch++;
    this.#headLen = 0;
    this.#inBody = false;
    this.#skipping = false;
    this.#body = EMPTY;
    this.#filled = 0;
    this.#backlog = [];
    this.#failed = null;
  }

  /**
   * Feed `chunk`; `onPacket` is called for each whole packet, in order. Returns the number of packets decoded.
   *
   * On a protocol error the packets before it have been delivered, the error is thrown, and every later call throws
   * it again until {@link reset} (MQTT-4.8.0-1: the connection must be closed). If `onPacket` throws, the exception
   * propagates (and does not count as a decoding error, whatever its class); the rest of the chunk is kept and
   * decoded, before the new chunk, on the next call.
   */
  push(chunk: Uint8Array, onPacket: (packet: Packet) => void): number {
    if (this.#failed !== null) throw this.#failed;
    if (!(chunk instanceof Uint8Array)) throw new TypeError('PacketDecoder.push() needs a Uint8Array');
    this.#callerThrew = false;
    try {
      const backlog = this.#backlog;
      if (backlog.length === 0) return this.#push(chunk, onPacket);
      backlog.push(chunk);
      let count = 0;
      // Stop if onPacket called reset(), which replaces the backlog.
      while (backlog.length > 0 && this.#backlog === backlog) count += this.#push(backlog.shift()!, onPacket);
      return count;
    } catch (err) {
      // An MqttProtocolError thrown by onPacket itself (say, a handler that encodes a reply) is the caller's, not
      // a malformed stream: it must not poison the decoder.
      if (err instanceof MqttProtocolError && !this.#callerThrew) this.#failed = err;
      throw err;
    }
  }

  /** Feed `chunk` and return the packets it completed. */
  decodeAll(chunk: Uint8Array): Packet[] {
    const out: Packet[] = [];
    this.push(chunk, (p) => out.push(p));
    return out;
  }

  #push(chunk: Uint8Array, onPacket: (packet: Packet) => void): number {
    const n = chunk.length;
    let pos = 0;
    let count = 0;

    // 1. Complete a packet split by an earlier chunk.
    if (this.#headLen > 0 && !this.#inBody) {
      pos = this.#continueHeader(chunk);
      if (!this.#inBody) return 0; // header still incomplete: chunk consumed
    }
    if (this.#inBody) {
      pos = this.#fill(chunk, pos);
      if (this.#filled < this.#bodyLen) return 0;
      count++;
      if (!this.#completeBody(chunk, pos, onPacket)) return count;
    }

    // 2. Packets that lie whole in this chunk, decoded in place.
    const max = this.maxPacketSize;
    while (pos < n) {
      const first = chunk[pos]!;
      checkFirstByte(first, 0);
      if (!readVarint(chunk, pos + 1, n, pos)) {
        this.#head.set(chunk.subarray(pos, n));
        this.#headLen = n - pos;
        return count;
      }
      const start = varint.next;
      const rem = varint.value;
      if (start - pos + rem > max) {
        this.#startOversized(first, start - pos - 1, rem);
        pos = this.#fill(chunk, start);
        if (this.#filled < this.#bodyLen) return count;
        count++;
        if (!this.#completeBody(chunk, pos, onPacket)) return count;
        continue;
      }
      const end = start + rem;
      if (end > n) {
        this.#startBody(first, start - pos - 1, rem);
        const got = n - start;
        this.#ensureCapacity(got);
        this.#body.set(chunk.subarray(start, n));
        this.#filled = got;
        return count;
      }
      // A subclass such as Node's Buffer: decode from a plain view, so payloads handed out are plain Uint8Arrays (as
      // the contract says) and every subarray() is the native one, not Buffer's slower override. Made only here, so a
      // chunk that completes no packet in place (a trickle) pays nothing for it.
      if (chunk.constructor !== Uint8Array) chunk = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      const packet = decodeBody(first, chunk, start, end, pos);
      pos = end;
      count++;
      if (!this.#deliver(packet, chunk, pos, onPacket)) return count;
    }
    return count;
  }

  /** Take bytes of `chunk` from `pos` into the body being assembled (or skipped); returns the next offset. */
  #fill(chunk: Uint8Array, pos: number): number {
    const end = pos + Math.min(chunk.length - pos, this.#bodyLen - this.#filled);
    if (!this.#skipping) {
      const take = end - pos;
      this.#ensureCapacity(this.#filled + take);
      this.#body.set(pos === 0 && take === chunk.length ? chunk : chunk.subarray(pos, end), this.#filled);
      this.#filled += take;
      return end;
    }
    while (pos < end) {
      const want = this.#cap - this.#filled;
      if (want <= 0) {
        this.#filled += end - pos; // payload of a skipped PUBLISH: counted, never stored
        return end;
      }
      const k = Math.min(want, end - pos);
      this.#ensureCapacity(this.#filled + k);
      this.#body.set(chunk.subarray(pos, pos + k), this.#filled);
      this.#filled += k;
      pos += k;
      if (this.#filled === 2 && this.#cap === 2) {
        // The topic length is known now: keep the topic and the packet identifier, nothing more.
        const idBytes = (this.#first & 0x06) === 0 ? 0 : 2;
        this.#cap = Math.min(this.#bodyLen, 2 + ((this.#body[0]! << 8) | this.#body[1]!) + idBytes);
      }
    }
    return end;
  }

  /** The body is complete: decode and deliver it (or report the skipped PUBLISH). False when reset() was called. */
  #completeBody(chunk: Uint8Array, pos: number, onPacket: (packet: Packet) => void): boolean {
    const body = this.#body;
    const first = this.#first;
    const len = this.#bodyLen;
    const skipped = this.#skipping;
    const kept = Math.min(this.#filled, this.#cap);
    this.#inBody = false;
    this.#skipping = false;
    this.#headLen = 0;
    this.#body = EMPTY;
    this.#filled = 0;
    const base = -1 - varintLength(len);
    if (!skipped) return this.#deliver(decodeBody(first, body, 0, len, base), chunk, pos, onPacket);
    // Decoding the kept prefix as a PUBLISH validates its topic and identifier; its "payload" is whatever followed.
    const p = decodeBody(first, body, 0, kept, base) as PublishPacket;
    const info: OversizedPublish = { topic: p.topic, qos: p.qos, dup: p.dup, retain: p.retain, size: len - base };
    if (p.messageId !== undefined) info.messageId = p.messageId;
    const report = this.#onOversized!;
    return this.#deliverWith(() => report(info), chunk, pos);
  }

  /** Start skipping an oversized packet, or throw when it cannot be skipped. */
  #startOversized(first: number, varintBytes: number, rem: number): void {
    const total = 1 + varintBytes + rem;
    if (this.#onOversized === undefined || first >> 4 !== 3) tooLarge(total, this.maxPacketSize);
    this.#startBody(first, varintBytes, rem);
    this.#skipping = true;
    this.#cap = Math.min(rem, 2); // the topic length first; #fill widens it to the whole variable header
  }

  /** Hand `packet` to `onPacket`; false when `onPacket` called {@link reset} (the rest of `chunk` is then dropped). */
  #deliver(packet: Packet, chunk: Uint8Array, pos: number, onPacket: (packet: Packet) => void): boolean {
    return this.#deliverWith(() => onPacket(packet), chunk, pos);
  }

  #deliverWith(call: () => void, chunk: Uint8Array, pos: number): boolean {
    const epoch = this.#epoch;
    try {
      call();
    } catch (err) {
      if (this.#epoch === epoch && pos < chunk.length) this.#backlog.unshift(chunk.subarray(pos));
      this.#callerThrew = true;
      throw err;
    }
    return this.#epoch === epoch;
  }

  /** Add bytes of `chunk` to a partial fixed header; returns how many bytes of `chunk` were used. */
  #continueHeader(chunk: Uint8Array): number {
    const head = this.#head;
    let pos = 0;
    while (pos < chunk.length) {
      head[this.#headLen++] = chunk[pos++]!;
      if (this.#headLen < 2) continue;
      if (!readVarint(head, 1, this.#headLen, 0)) continue;
      const rem = varint.value;
      const total = this.#headLen + rem;
      if (total > this.maxPacketSize) this.#startOversized(head[0]!, this.#headLen - 1, rem);
      else this.#startBody(head[0]!, this.#headLen - 1, rem);
      break;
    }
    return pos;
  }

  #startBody(first: number, varintBytes: number, rem: number): void {
    this.#first = first;
    this.#headLen = varintBytes;
    this.#bodyLen = rem;
    this.#filled = 0;
    this.#inBody = true;
    this.#skipping = false;
    this.#body = EMPTY;
  }

  // Grow the assembly buffer geometrically, bounded by the packet's size, so that it tracks the bytes received.
  #ensureCapacity(need: number): void {
    if (need <= this.#body.length) return;
    const bound = this.#skipping ? this.#cap : this.#bodyLen;
    const size = Math.min(bound, Math.max(need, this.#body.length * 2, MIN_GROW));
    const grown = allocate(size);
    if (this.#filled > 0) grown.set(this.#body.subarray(0, this.#filled));
    this.#body = grown;
  }
}

function varintLength(n: number): number {
  return n < 128 ? 1 : n < 16_384 ? 2 : n < 2_097_152 ? 3 : 4;
}

function tooLarge(size: number, max: number): never {
  throw new MqttProtocolError('maxPacketSize', `packet of ${size} bytes exceeds maxPacketSize ${max}`, 1, 'EMSGSIZE');
}

