/**
 * Batched writes: chunks pushed during one tick go out together at the end of the tick (or at once when the batch
 * reaches {@link FLUSH_BYTES}), in one corked write. Small chunks (headers, acks, small payloads) are copied into one
 * buffer; large ones (payloads) are written as they are, never copied. `write()`'s return value is respected:
 * `blocked` stays true until the owner sees `drain`.
 */
import { Buffer } from 'node:buffer';
import type { Duplex } from 'node:stream';

/** A batch is written at once when it reaches this many bytes (bounds the memory one tick can hold). */
export const FLUSH_BYTES = 64 * 1024;
/** Chunks below this size are copied into one buffer per write; larger ones are written as they are. */
export const COALESCE_MAX = 4096;

/** The write side of one session: a per-tick batch to the current socket. */
export class BatchWriter {
  #socket: Duplex | null = null;
  #chunks: Uint8Array[] = [];
  #bytes = 0;
  #scheduled = false;
  readonly #onFlushed: () => void;
  /** The socket's buffer is above its high-water mark: hold back what can wait (publishes) until `drain`. */
  blocked = false;

  /** @param onFlushed called after every write of a batch (to note the time sent, settle QoS 0 publishes). */
  constructor(onFlushed: () => void) {
    this.#onFlushed = onFlushed;
  }

  /** Write to `socket` from now on; anything unwritten for an earlier socket is dropped. */
  attach(socket: Duplex): void {
    this.#socket = socket;
    this.#chunks = [];
    this.#bytes = 0;
    this.blocked = false;
  }

  /** Stop writing: drop the batch; later pushes are ignored until the next `attach`. */
  detach(): void {
    this.#socket = null;
    this.#chunks = [];
    this.#bytes = 0;
    this.blocked = false;
  }

  /** Chunks pushed and not written yet. */
  get pending(): number {
    return this.#chunks.length;
  }

  /** Add a chunk to this tick's batch (ignored when detached). The chunk must not change until it is written. */
  push(chunk: Uint8Array): void {
    if (this.#socket === null) return;
    this.#chunks.push(chunk);
    this.#bytes += chunk.length;
    if (this.#bytes >= FLUSH_BYTES) {
      this.flush();
    } else if (!this.#scheduled) {
      this.#scheduled = true;
      process.nextTick(flushTick, this);
    }
  }

  /** Write the batch now. */
  flush(): void {
    this.#scheduled = false;
    const chunks = this.#chunks;
    const n = chunks.length;
    const socket = this.#socket;
    if (n === 0 || socket === null) return;
    this.#chunks = [];
    this.#bytes = 0;
    let ok: boolean;
    if (n === 1) {
      ok = socket.write(chunks[0]!);
    } else {
      socket.cork();
      ok = true;
      let runStart = 0;
      let runBytes = 0;
      for (let i = 0; i <= n; i++) {
        const c = i < n ? chunks[i]! : null;
        if (c !== null && c.length < COALESCE_MAX) {
          runBytes += c.length;
          continue;
        }
        if (i > runStart) ok = writeRun(socket, chunks, runStart, i, runBytes);
        if (c !== null) ok = socket.write(c);
        runStart = i + 1;
        runBytes = 0;
      }
      socket.uncork();
    }
    if (!ok) this.blocked = true;
    this.#onFlushed();
  }
}

function flushTick(writer: BatchWriter): void {
  writer.flush();
}

/** Write `chunks[from, to)` (`bytes` in total) as one buffer. */
function writeRun(socket: Duplex, chunks: Uint8Array[], from: number, to: number, bytes: number): boolean {
  if (to - from === 1) return socket.write(chunks[from]!);
  const buf = Buffer.allocUnsafe(bytes);
  let pos = 0;
  for (let i = from; i < to; i++) {
    const c = chunks[i]!;
    buf.set(c, pos);
    pos += c.length;
  }
  return socket.write(buf);
}
