/**
 * The persistent outbox store: an append-only log file (format in `log-format.ts`) that keeps QoS 1 telemetry until
 * the hub acknowledges it, across restarts and crashes.
 *
 * - `append` writes the message record with `write(2)` before it returns, so a record is in the file (the operating
 *   system's cache) once `send()` has returned, whatever happens to the process next; the fsync policy decides when
 *   it reaches the disk (see {@link OutboxFsyncPolicy}).
 * - `ack` appends an ack record. Acks of one turn of the event loop go out in one write (a microtask later); they are
 *   never fsynced on their own (they reach the disk with the next fsync): losing one only means the message is sent
 *   again after a restart, which at-least-once delivery allows.
 * - Opening (`load`) reads the whole file, keeps every message without an ack, and cuts off a torn or corrupt tail
 *   (a crash during a write), reporting it on the `azure-iot-hub:outbox` channel.
 * - When acknowledged records take more than half of a file of at least `compactThresholdBytes`, the live records are
 *   copied as they are to a temporary file in the same folder, which is fsynced and renamed over the log (then the
 *   folder is fsynced): a crash leaves either the old log or the new one, both complete.
 *
 * One store per file and process: two writers would interleave records.
 */
import * as nodeFs from 'node:fs';
import { dirname } from 'node:path';
import { AzureIotHubError } from '../../errors.js';
import type { OutboxFileConfig, OutboxFsyncPolicy, OutboxMessage, OutboxStore } from '../types.js';
import { outboxDiagnostic } from './diagnostics.js';
import {
  checkHeader,
  encodeAckRecords,
  encodeMessageRecord,
  MAX_RECORD_PAYLOAD_BYTES,
  OUTBOX_FILE_HEADER,
  scanRecords,
} from './log-format.js';

/** Default fsync interval of the `batch` policy, in ms (as Redis's `appendfsync everysec`). */
export const DEFAULT_OUTBOX_FSYNC_INTERVAL_MS = 1000;
/** Default size from which a log dominated by acknowledged records is compacted (1 MiB). */
export const DEFAULT_OUTBOX_COMPACT_THRESHOLD_BYTES = 1024 * 1024;

/** The synchronous `node:fs` functions the file store uses (inject wrappers to count fsyncs or fail writes). */
export type OutboxFileSystem = Pick<
  typeof nodeFs,
  | 'openSync'
  | 'closeSync'
  | 'readSync'
  | 'writeSync'
  | 'fsyncSync'
  | 'ftruncateSync'
  | 'readFileSync'
  | 'renameSync'
  | 'unlinkSync'
  | 'mkdirSync'
>;

/** Options of {@link FileOutboxStore}. */
export interface FileOutboxStoreOptions extends OutboxFileConfig {
  /**
   * Compact when the file is at least this large and acknowledged records take more than half of it
   * (default 1 MiB; 0 compacts whenever they dominate).
   */
  compactThresholdBytes?: number;
  /** Called for failures that do not fail a `send()` (an ack write, an fsync, a compaction), besides the channel. */
  onWarning?: (message: string, error: unknown) => void;
  /** File system functions. Default: `node:fs`. */
  fs?: OutboxFileSystem;
}

interface Place {
  offset: number;
  size: number;
}

/**
 * A {@link OutboxStore} in an append-only file.
 *
 * ```ts
 * const store = new FileOutboxStore({ path: '/var/lib/my-device/outbox.log', fsync: 'always' });
 * hub.init({ ...config, queue: { store } }, handler);
 * ```
 */
export class FileOutboxStore implements OutboxStore {
  readonly path: string;
  readonly fsync: OutboxFsyncPolicy;
  readonly fsyncIntervalMs: number;
  readonly compactThresholdBytes: number;
  readonly #fs: OutboxFileSystem;
  readonly #onWarning: ((message: string, error: unknown) => void) | undefined;
  #fd = -1;
  #loaded = false;
  /** The log's length: every byte before it is a valid header or record. */
  #size = 0;
  #nextId = 1;
  /** Messages without an ack, in id order, with their records' place in the file. */
  readonly #live = new Map<number, Place>();
  #liveBytes = 0;
  #pendingAcks: number[] = [];
  #ackFlushQueued = false;
  #fsyncTimer: ReturnType<typeof setTimeout> | undefined;
  /** Written since the last fsync. */
  #dirty = false;
  #discardedBytes = 0;
  #compactions = 0;
  /** A failed write could not be undone: the file's tail is unknown, so nothing more is appended. */
  #broken: AzureIotHubError | undefined;

  /** @throws AzureIotHubError `EINVAL` naming a bad option. Does no I/O: `load()` opens the file. */
  constructor(options: FileOutboxStoreOptions) {
    if (typeof options !== 'object' || options === null) throw new AzureIotHubError('EINVAL', 'options are required');
    if (typeof options.path !== 'string' || options.path.length === 0) {
      throw new AzureIotHubError('EINVAL', 'path must be a non-empty string');
    }
    const fsync = options.fsync ?? 'batch';
    if (fsync !== 'always' && fsync !== 'batch' && fsync !== 'never') {
      throw new AzureIotHubError('EINVAL', "fsync must be 'always', 'batch' or 'never'");
    }
    this.path = options.path;
    this.fsync = fsync;
    this.fsyncIntervalMs = intOption('fsyncIntervalMs', options.fsyncIntervalMs, DEFAULT_OUTBOX_FSYNC_INTERVAL_MS, 1, 3_600_000);
    this.compactThresholdBytes = intOption(
      'compactThresholdBytes',
      options.compactThresholdBytes,
      DEFAULT_OUTBOX_COMPACT_THRESHOLD_BYTES,
      0,
      Number.MAX_SAFE_INTEGER,
    );
    this.#fs = options.fs ?? nodeFs;
    this.#onWarning = options.onWarning;
  }

  /** Bytes cut off as a torn or corrupt tail by the last `load()`. */
  get discardedBytes(): number {
    return this.#discardedBytes;
  }

  /** The log file's length in bytes. */
  get fileBytes(): number {
    return this.#size;
  }

  /** Compactions since `load()`. */
  get compactions(): number {
    return this.#compactions;
  }

  /** Messages stored and not acknowledged. */
  get size(): number {
    return this.#live.size;
  }

  /**
   * Open the file (creating it and its folder when missing), cut off a torn or corrupt tail, and return the messages
   * without an ack, oldest first. Compacts first when acknowledged records dominate. Calling it again re-opens.
   * @throws AzureIotHubError `EINVAL` when the file is not an outbox log of this version (it is left untouched),
   * `EIO` when it cannot be read or written.
   */
  load(): OutboxMessage[] {
    if (this.#fd !== -1) this.close();
    this.#live.clear();
    this.#liveBytes = 0;
    this.#pendingAcks = [];
    this.#nextId = 1;
    this.#discardedBytes = 0;
    this.#broken = undefined;
    const fs = this.#fs;
    let bytes: Uint8Array;
    try {
      fs.mkdirSync(dirname(this.path), { recursive: true });
      bytes = readOrEmpty(fs, this.path);
    } catch (err) {
      throw this.#ioError('could not read', err);
    }
    const header = checkHeader(bytes);
    if (header === 'foreign') {
      throw new AzureIotHubError('EINVAL', `${this.path} is not an outbox log (format version 1); it was left untouched`);
    }
    const messages: OutboxMessage[] = [];
    try {
      this.#fd = fs.openSync(this.path, 'a+');
      if (header === 'empty') {
        // Nothing, or a header cut short while the file was being created: start afresh.
        fs.ftruncateSync(this.#fd, 0);
        writeAll(fs, this.#fd, OUTBOX_FILE_HEADER);
        fs.fsyncSync(this.#fd);
        this.#syncFolder();
        this.#size = OUTBOX_FILE_HEADER.length;
      } else {
        const scan = scanRecords(bytes);
        if (scan.stop !== undefined) {
          this.#discardedBytes = bytes.length - scan.validLength;
          fs.ftruncateSync(this.#fd, scan.validLength);
          fs.fsyncSync(this.#fd);
          outboxDiagnostic({ event: 'discarded', path: this.path, offset: scan.validLength, bytes: this.#discardedBytes, reason: scan.stop });
        }
        this.#size = scan.validLength;
        const found = new Map<number, OutboxMessage>();
        for (const r of scan.records) {
          if (r.id >= this.#nextId) this.#nextId = r.id + 1;
          if (r.type === 'message') {
            found.set(r.id, { id: r.id, properties: r.properties, payload: r.payload });
            this.#live.set(r.id, { offset: r.offset, size: r.size });
            this.#liveBytes += r.size;
          } else {
            const place = this.#live.get(r.id);
            if (place === undefined) continue; // an ack for a message compacted away
            found.delete(r.id);
            this.#live.delete(r.id);
            this.#liveBytes -= place.size;
          }
        }
        messages.push(...found.values());
      }
    } catch (err) {
      this.#closeQuietly();
      throw this.#ioError('could not open', err);
    }
    this.#loaded = true;
    this.#maybeCompact();
    return messages;
  }

  /**
   * Append a message record (written before this returns; fsynced first with `fsync: 'always'`) and return its id.
   * @throws AzureIotHubError `EIO` when the file cannot be written (the record is then not in the log), `EMSGSIZE`
   * for a payload over 16 MiB or properties over 65535 bytes, `ENOENT` before `load()` or after `close()`.
   */
  append(properties: string, payload: Uint8Array): number {
    this.#requireOpen();
    const id = this.#nextId;
    let record: Uint8Array;
    try {
      record = encodeMessageRecord(id, properties, payload);
    } catch (err) {
      throw new AzureIotHubError('EMSGSIZE', `the message does not fit in an outbox record (payload at most ${MAX_RECORD_PAYLOAD_BYTES} bytes)`, {
        cause: err,
      });
    }
    this.#flushAcks(); // the acks waiting for this turn's write go first (one less write later)
    const offset = this.#size;
    this.#write(record, 'could not append a message to');
    if (this.fsync === 'always') {
      try {
        this.#fs.fsyncSync(this.#fd);
        this.#dirty = false;
      } catch (err) {
        this.#undo(offset);
        throw this.#ioError('could not fsync', err);
      }
    } else {
      this.#dirty = true;
      this.#scheduleFsync();
    }
    this.#nextId = id + 1;
    this.#live.set(id, { offset, size: record.length });
    this.#liveBytes += record.length;
    return id;
  }

  /** Forget a message: an ack record is appended with the other acks of this turn of the event loop. Unknown ids are ignored. */
  ack(id: number): void {
    const place = this.#live.get(id);
    if (place === undefined || this.#fd === -1) return;
    this.#live.delete(id);
    this.#liveBytes -= place.size;
    this.#pendingAcks.push(id);
    if (!this.#ackFlushQueued) {
      this.#ackFlushQueued = true;
      queueMicrotask(() => {
        this.#ackFlushQueued = false;
        this.#flushAcks();
        this.#maybeCompact();
      });
    }
  }

  /** Write the pending acks now and fsync what is not on the disk yet (whatever the policy). */
  flush(): void {
    if (this.#fd === -1) return;
    this.#flushAcks();
    this.#sync();
  }

  /**
   * Rewrite the file with only the messages not acknowledged (normally done by itself; see `compactThresholdBytes`).
   * Failures are reported as warnings and leave the current file in use.
   */
  compact(): void {
    if (this.#fd === -1 || this.#broken !== undefined) return;
    const fs = this.#fs;
    const tmp = `${this.path}.compact`;
    const before = this.#size;
    let out = -1;
    let renamed = false;
    try {
      out = fs.openSync(tmp, 'w');
      writeAll(fs, out, OUTBOX_FILE_HEADER);
      const places = new Map<number, Place>();
      let at = OUTBOX_FILE_HEADER.length;
      let buf = new Uint8Array(0);
      for (const [id, place] of this.#live) {
        if (buf.length < place.size) buf = new Uint8Array(Math.max(place.size, 64 * 1024));
        readAll(fs, this.#fd, buf, place.size, place.offset);
        writeAll(fs, out, buf.subarray(0, place.size));
        places.set(id, { offset: at, size: place.size });
        at += place.size;
      }
      fs.fsyncSync(out);
      fs.closeSync(out);
      out = -1;
      fs.renameSync(tmp, this.path);
      renamed = true;
      this.#syncFolder();
      fs.closeSync(this.#fd);
      this.#fd = -1;
      this.#fd = fs.openSync(this.path, 'a+');
      this.#live.clear();
      for (const [id, place] of places) this.#live.set(id, place);
      this.#size = at;
      this.#pendingAcks = []; // their messages are not in the new file
      this.#dirty = false;
      this.#compactions++;
      outboxDiagnostic({ event: 'compacted', path: this.path, beforeBytes: before, afterBytes: at, messages: places.size });
    } catch (err) {
      if (out !== -1) closeQuietly(fs, out);
      if (!renamed) {
        try {
          fs.unlinkSync(tmp);
        } catch {
          // nothing to remove
        }
        this.#warn(`could not compact ${this.path}; it stays in use as it is`, err);
      } else {
        // The new file is in place but could not be opened: nothing more can be appended safely.
        this.#broken = this.#ioError('could not reopen after compaction', err);
        this.#warn(this.#broken.message, err);
      }
    }
  }

  /** Write pending acks, fsync (unless `fsync: 'never'`) and close the file. Idempotent. */
  close(): void {
    if (this.#fsyncTimer !== undefined) clearTimeout(this.#fsyncTimer);
    this.#fsyncTimer = undefined;
    if (this.#fd === -1) return;
    this.#flushAcks();
    if (this.fsync !== 'never') this.#sync();
    this.#closeQuietly();
    this.#loaded = false;
  }

  #requireOpen(): void {
    if (this.#broken !== undefined) throw this.#broken;
    if (!this.#loaded || this.#fd === -1) throw new AzureIotHubError('ENOENT', `the outbox store ${this.path} is not open (call load() first)`);
  }

  /** Append `bytes` at the end; on failure cut the file back to where it was, so no partial record stays. */
  #write(bytes: Uint8Array, what: string): void {
    const offset = this.#size;
    try {
      writeAll(this.#fs, this.#fd, bytes);
    } catch (err) {
      this.#undo(offset);
      throw this.#ioError(what, err);
    }
    this.#size = offset + bytes.length;
  }

  /** Cut the file back to `offset` after a failed write; if even that fails, refuse further writes. */
  #undo(offset: number): void {
    try {
      this.#fs.ftruncateSync(this.#fd, offset);
      this.#size = offset;
    } catch (err) {
      this.#broken = this.#ioError('could not undo a failed write to', err);
      this.#warn(this.#broken.message, err);
    }
  }

  #flushAcks(): void {
    if (this.#pendingAcks.length === 0 || this.#fd === -1 || this.#broken !== undefined) return;
    const ids = this.#pendingAcks;
    this.#pendingAcks = [];
    try {
      this.#write(encodeAckRecords(ids), 'could not write acks to');
    } catch (err) {
      // The messages stay acknowledged in memory; after a restart they would be sent again (at least once).
      this.#warn(`could not record ${ids.length} acknowledgement(s) in ${this.path}`, err);
      return;
    }
    this.#dirty = true;
    if (this.fsync !== 'never') this.#scheduleFsync();
  }

  #scheduleFsync(): void {
    if (this.fsync === 'never' || this.#fsyncTimer !== undefined) return;
    const t = setTimeout(() => {
      this.#fsyncTimer = undefined;
      this.#sync();
    }, this.fsyncIntervalMs);
    t.unref();
    this.#fsyncTimer = t;
  }

  #sync(): void {
    if (!this.#dirty || this.#fd === -1) return;
    try {
      this.#fs.fsyncSync(this.#fd);
      this.#dirty = false;
    } catch (err) {
      this.#warn(`could not fsync ${this.path}`, err);
    }
  }

  #maybeCompact(): void {
    const dead = this.#size - OUTBOX_FILE_HEADER.length - this.#liveBytes;
    if (this.#size >= this.compactThresholdBytes && dead > this.#liveBytes) this.compact();
  }

  /** fsync the folder, so that a created or renamed file's entry is on the disk (not possible on every platform). */
  #syncFolder(): void {
    const fs = this.#fs;
    let fd = -1;
    try {
      fd = fs.openSync(dirname(this.path), 'r');
      fs.fsyncSync(fd);
    } catch {
      // Windows cannot open a folder; its file systems do not need this.
    } finally {
      if (fd !== -1) closeQuietly(fs, fd);
    }
  }

  #closeQuietly(): void {
    if (this.#fd !== -1) closeQuietly(this.#fs, this.#fd);
    this.#fd = -1;
  }

  #ioError(what: string, err: unknown): AzureIotHubError {
    const code = (err as { code?: unknown } | null)?.code;
    return new AzureIotHubError('EIO', `${what} the outbox file ${this.path}${typeof code === 'string' ? ` (${code})` : ''}`, { cause: err });
  }

  #warn(message: string, error: unknown): void {
    outboxDiagnostic({ event: 'warning', message, path: this.path, error });
    try {
      this.#onWarning?.(message, error);
    } catch {
      // A throwing callback must not break the store.
    }
  }
}

function intOption(name: string, value: number | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new AzureIotHubError('EINVAL', `${name} must be an integer from ${min} to ${max}`);
  }
  return value;
}

function readOrEmpty(fs: OutboxFileSystem, path: string): Uint8Array {
  try {
    return fs.readFileSync(path);
  } catch (err) {
    if ((err as { code?: unknown } | null)?.code === 'ENOENT') return new Uint8Array(0);
    throw err;
  }
}

function writeAll(fs: OutboxFileSystem, fd: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) done += fs.writeSync(fd, bytes, done, bytes.length - done);
}

function readAll(fs: OutboxFileSystem, fd: number, into: Uint8Array, length: number, position: number): void {
  let done = 0;
  while (done < length) {
    const n = fs.readSync(fd, into, done, length - done, position + done);
    if (n === 0) throw new AzureIotHubError('EIO', 'the outbox file is shorter than its records');
    done += n;
  }
}

function closeQuietly(fs: OutboxFileSystem, fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    // already closed
  }
}
