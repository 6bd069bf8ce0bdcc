/**
 * TLS record boundaries as the fault proxy sees them, and cuts placed exactly on them.
 *
 * Bytes between a client and a TLS server are a sequence of TLS records: a 5-byte header (content type, version,
 * 16-bit length) and that many bytes. MQTT packets travel inside application-data records (one record per write
 * batch), so the record boundaries are the packet boundaries an observer of the wire can name. The tap parses each
 * direction of each proxied connection into records; a cut target names a record by its index instead of a byte
 * offset, because offsets move between runs (ECDSA signatures vary in length) while the record sequence does not.
 *
 * @see https://www.rfc-editor.org/rfc/rfc8446#section-5.1 (TLS 1.3 record layer)
 */
import type { Socket } from 'node:net';
import type { FaultProxy } from '../helpers/fault-proxy.js';

/** Client -> server (`up`) or server -> client (`down`), as the fault proxy names them. */
export type Direction = 'up' | 'down';

/** One TLS record: content type (22 handshake, 20 change_cipher_spec, 21 alert, 23 application data) and offsets. */
export interface TlsRecord {
  type: number;
  /** Offset of the header's first byte in the direction's byte stream. */
  start: number;
  /** Offset just past the record (the next record's `start`). */
  end: number;
}

/** Splits a byte stream into TLS records, chunk by chunk. */
export class TlsRecordParser {
  /** Completed records (kept only when constructed with `keep`; a long soak counts them instead). */
  readonly records: TlsRecord[] = [];
  /** Completed records, kept or not. */
  count = 0;
  /** Bytes seen so far. */
  offset = 0;
  /** The record being received, once its header is complete (its `end` is known from the header's length). */
  partial: TlsRecord | undefined;
  #header: number[] = [];
  #remaining = 0;
  #start = 0;

  constructor(readonly keep = true) {}

  /** Feed the next chunk. */
  push(chunk: Uint8Array): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.#remaining === 0) {
        if (this.#header.length === 0) this.#start = this.offset + i;
        this.#header.push(chunk[i]!);
        i++;
        if (this.#header.length === 5) {
          const length = (this.#header[3]! << 8) | this.#header[4]!;
          this.partial = { type: this.#header[0]!, start: this.#start, end: this.#start + 5 + length };
          this.#remaining = length;
          this.#header = [];
          if (length === 0) this.#finish();
        }
        continue;
      }
      const take = Math.min(this.#remaining, chunk.length - i);
      i += take;
      this.#remaining -= take;
      if (this.#remaining === 0) this.#finish();
    }
    this.offset += chunk.length;
  }

  /** Record `index`, complete or (header known) in progress. */
  record(index: number): TlsRecord | undefined {
    return this.records[index] ?? (index === this.records.length ? this.partial : undefined);
  }

  #finish(): void {
    if (this.keep) this.records.push(this.partial!);
    this.count++;
    this.partial = undefined;
  }
}

/** Where to cut: a record of a connection and direction, at its end (a boundary) or in its middle. */
export interface CutTarget {
  /** Index of the proxied connection (0 = the first). */
  link: number;
  direction: Direction;
  /** Index of the record in that direction; -1 (with `at: 'end'`) cuts before the first byte. */
  record: number;
  /** `end`: after the record's last byte; `mid`: after half of it (header included). */
  at: 'end' | 'mid';
}

/** A short name for a target, for test titles and failure messages. */
export function describeTarget(t: CutTarget): string {
  if (t.record < 0) return `link ${t.link} ${t.direction} before any byte`;
  return `link ${t.link} ${t.direction} ${t.at === 'end' ? 'after' : 'inside'} record ${t.record}`;
}

/**
 * Watches every connection of a {@link FaultProxy}: parses both directions into TLS records, and, when armed with a
 * {@link CutTarget}, sets the proxy's `cutAfter` to the exact byte offset of that target as soon as it is known.
 *
 * It relies on listener order: the tap subscribes to each socket's `data` when the proxy accepts the connection,
 * before the proxy's own forwarding listener (added once the upstream connects), so for every chunk the tap runs
 * first and the proxy then cuts that very chunk at the offset the tap just set.
 */
export class RecordTap {
  /** Records per connection (by its index) and direction. */
  readonly links: { up: TlsRecordParser; down: TlsRecordParser }[] = [];
  /** The armed target, if any. */
  target: CutTarget | undefined;
  /** Set once the target's offset was handed to the proxy. */
  armedAt: number | undefined;

  /** @param keepRecords keep every record (the matrix needs them); false only counts bytes and records. */
  constructor(
    readonly proxy: FaultProxy,
    keepRecords = true,
  ) {
    proxy.server.on('connection', () => {
      const link = proxy.links.at(-1);
      if (link === undefined) return;
      const index = link.index;
      const parsers = { up: new TlsRecordParser(keepRecords), down: new TlsRecordParser(keepRecords) };
      this.links[index] = parsers;
      this.#watch(link.client, index, 'up', parsers.up);
      this.#watch(link.upstream, index, 'down', parsers.down);
      // Counting only (a soak): nothing about a closed connection is needed any more.
      if (!keepRecords) link.client.once('close', () => delete this.links[index]);
    });
  }

  #watch(socket: Socket, index: number, direction: Direction, parser: TlsRecordParser): void {
    // The client socket is paused by the proxy (pause() keeps it paused when a listener is added); the upstream one
    // starts flowing, which is harmless: no data can arrive before it connects, when the proxy adds its listener.
    socket.on('data', (chunk: Buffer) => {
      const chunkStart = parser.offset;
      parser.push(chunk);
      this.#maybeArm(index, direction, parser, chunkStart);
    });
  }

  #maybeArm(index: number, direction: Direction, parser: TlsRecordParser, chunkStart: number): void {
    const t = this.target;
    if (t === undefined || this.armedAt !== undefined || t.link !== index || t.direction !== direction) return;
    let offset: number | undefined;
    if (t.record < 0) {
      offset = 0;
    } else {
      const r = parser.record(t.record);
      if (r === undefined) return;
      if (t.at === 'end') {
        if (parser.records[t.record] === undefined) return; // not complete yet: its end lies in a later chunk
        offset = r.end;
      } else {
        offset = r.start + Math.max(1, Math.floor((r.end - r.start) / 2));
      }
    }
    // A middle inside a header split over two chunks may have gone through already: cut at this chunk's start.
    if (offset < chunkStart) offset = chunkStart;
    this.armedAt = offset;
    this.proxy.faults.cutConnections = index + 1; // earlier connections are closed by now
    this.proxy.faults.cutAfter = { [direction]: offset };
  }

  /** Arm a cut; it is handed to the proxy when the chunk carrying the target's offset arrives. */
  arm(target: CutTarget): void {
    this.target = target;
    this.armedAt = undefined;
  }

  /** The records of a connection and direction seen so far. */
  records(link: number, direction: Direction): TlsRecord[] {
    return this.links[link]?.[direction].records ?? [];
  }
}
