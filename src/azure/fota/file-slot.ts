/**
 * The default {@link FirmwareSlot}: the image goes to a file. Next to it:
 * - `<path>.part.json`, the download's progress `{ "size": <contiguous bytes>, "imageId": "<id>" }`, so a download
 *   resumes after a restart;
 * - `<path>.json`, written by `finalize` once the image is complete and verified: `{ "version", "size", "sha256" }`.
 *   This is the "pending image" manifest an updater (bootloader script, service manager) acts on after the reboot.
 *
 * Files are opened per operation (no handle stays open between calls), and operations run one at a time.
 */
import { mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { FileHandle } from 'node:fs/promises';
import { AzureIotHubError, toAzureIotHubError } from '../../errors.js';
import type { FirmwareSlot } from '../types.js';
import type { FinalizedFirmware } from './memory-slot.js';

/** Options of {@link FileFirmwareSlot}. */
export interface FileFirmwareSlotOptions {
  /**
   * Save the progress sidecar at most every this many written bytes (default 64 KiB; 0 saves after every write).
   * After a crash the download resumes from the last saved size, re-fetching at most this many bytes.
   */
  persistEveryBytes?: number;
}

interface PartFile {
  size: number;
  imageId?: string;
}

function isNotFound(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}

/** Write `text` to `path` atomically (temporary file, then rename). */
async function writeAtomic(path: string, text: string): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, text);
  await rename(tmp, path);
}

/** A firmware slot backed by a file. */
export class FileFirmwareSlot implements FirmwareSlot {
  /** The image file. */
  readonly path: string;
  /** `<path>.json`: the manifest of a complete, verified image. */
  readonly manifestPath: string;
  /** `<path>.part.json`: the progress sidecar. */
  readonly partPath: string;

  private readonly persistEvery: number;
  private loaded = false;
  private contiguous = 0;
  private saved = 0;
  private id: string | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(path: string, options: FileFirmwareSlotOptions = {}) {
    if (typeof path !== 'string' || path.length === 0) {
      throw new AzureIotHubError('EINVAL', 'fota storage path must be a non-empty string');
    }
    this.path = path;
    this.manifestPath = `${path}.json`;
    this.partPath = `${path}.part.json`;
    this.persistEvery = options.persistEveryBytes ?? 64 * 1024;
  }

  /** Run `op` after every earlier operation, wrapping failures as `EIO`. */
  private serial<T>(what: string, op: () => Promise<T>): Promise<T> {
    const run = this.queue.then(op).catch((err: unknown) => {
      throw toAzureIotHubError(err, 'EIO', `firmware slot ${what} failed: ${(err as Error)?.message ?? String(err)}`);
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async load(): Promise<void> {
    if (this.loaded) return;
    let part: PartFile | undefined;
    try {
      const value: unknown = JSON.parse(await readFile(this.partPath, 'utf8'));
      const v = value as Partial<PartFile>;
      if (typeof v === 'object' && v !== null && Number.isSafeInteger(v.size) && (v.size ?? -1) >= 0) {
        part = { size: v.size as number, ...(typeof v.imageId === 'string' ? { imageId: v.imageId } : {}) };
      }
    } catch (err) {
      // A missing or unreadable sidecar means nothing can be resumed.
      if (!isNotFound(err) && !(err instanceof SyntaxError)) throw err;
    }
    let fileSize = 0;
    try {
      fileSize = (await stat(this.path)).size;
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    // The sidecar can be ahead of the data after a power loss (no fsync): trust the smaller.
    this.contiguous = part ? Math.min(part.size, fileSize) : 0;
    this.saved = this.contiguous;
    this.id = part?.imageId;
    this.loaded = true;
  }

  private async savePart(): Promise<void> {
    const part: PartFile = { size: this.contiguous, ...(this.id !== undefined ? { imageId: this.id } : {}) };
    await writeAtomic(this.partPath, JSON.stringify(part));
    this.saved = this.contiguous;
  }

  erase(imageId?: string): Promise<void> {
    return this.serial('erase', async () => {
      await mkdir(dirname(this.path), { recursive: true }); // a fresh device may not have the folder yet
      await rm(this.manifestPath, { force: true });
      const fh = await open(this.path, 'w');
      await fh.close();
      this.contiguous = 0;
      this.id = imageId;
      this.loaded = true;
      await this.savePart();
    });
  }

  imageId(): Promise<string | undefined> {
    return this.serial('read', async () => {
      await this.load();
      return this.id;
    });
  }

  write(offset: number, data: Uint8Array): Promise<void> {
    return this.serial('write', async () => {
      if (!Number.isSafeInteger(offset) || offset < 0) {
        throw new AzureIotHubError('EINVAL', 'slot write offset must be a non-negative integer');
      }
      await this.load();
      let fh: FileHandle;
      try {
        fh = await open(this.path, 'r+');
      } catch (err) {
        if (!isNotFound(err)) throw err;
        fh = await open(this.path, 'w+');
      }
      try {
        let done = 0;
        while (done < data.length) {
          const { bytesWritten } = await fh.write(data, done, data.length - done, offset + done);
          done += bytesWritten;
        }
      } finally {
        await fh.close();
      }
      const end = offset + data.length;
      if (offset <= this.contiguous && end > this.contiguous) this.contiguous = end;
      if (this.contiguous - this.saved >= this.persistEvery) await this.savePart();
    });
  }

  size(): Promise<number> {
    return this.serial('read', async () => {
      await this.load();
      return this.contiguous;
    });
  }

  read(offset: number, length: number): Promise<Uint8Array> {
    return this.serial('read', async () => {
      const out = new Uint8Array(Math.max(0, length));
      const fh = await open(this.path, 'r');
      try {
        let done = 0;
        while (done < out.length) {
          const { bytesRead } = await fh.read(out, done, out.length - done, offset + done);
          if (bytesRead === 0) break;
          done += bytesRead;
        }
        return out.subarray(0, done);
      } finally {
        await fh.close();
      }
    });
  }

  finalize(info: FinalizedFirmware): Promise<void> {
    return this.serial('finalize', async () => {
      await this.load();
      await this.savePart();
      const manifest: FinalizedFirmware = { version: info.version, size: info.size, sha256: info.sha256 };
      await writeAtomic(this.manifestPath, JSON.stringify(manifest) + '\n');
    });
  }

  /** Save the progress sidecar now (e.g. before the process exits). */
  flush(): Promise<void> {
    return this.serial('flush', async () => {
      await this.load();
      if (this.saved !== this.contiguous) await this.savePart();
    });
  }

  /** The manifest of the complete image (`<path>.json`), or undefined when there is none. */
  pending(): Promise<FinalizedFirmware | undefined> {
    return this.serial('read', async () => {
      try {
        const v = JSON.parse(await readFile(this.manifestPath, 'utf8')) as Partial<FinalizedFirmware>;
        if (typeof v.version === 'string' && typeof v.size === 'number' && typeof v.sha256 === 'string') {
          return { version: v.version, size: v.size, sha256: v.sha256 };
        }
        return undefined;
      } catch (err) {
        if (isNotFound(err) || err instanceof SyntaxError) return undefined;
        throw err;
      }
    });
  }
}
