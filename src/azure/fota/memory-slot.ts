/**
 * An in-memory {@link FirmwareSlot}, for tests and for applications that hand the image to something else
 * (a co-processor, a bootloader over a serial line) once it is complete.
 */
import { AzureIotHubError } from '../../errors.js';
import type { FirmwareSlot } from '../types.js';

/** Options of {@link MemoryFirmwareSlot}. */
export interface MemoryFirmwareSlotOptions {
  /** Largest image the slot holds, in bytes (default 64 MiB); a write beyond it fails with `EMSGSIZE`. */
  maxBytes?: number;
}

/** What {@link FirmwareSlot.finalize} recorded. */
export interface FinalizedFirmware {
  version: string;
  size: number;
  sha256: string;
}

/** Default {@link MemoryFirmwareSlotOptions.maxBytes}: 64 MiB. */
export const MEMORY_SLOT_DEFAULT_MAX_BYTES = 64 * 1024 * 1024;

/**
 * A firmware slot in memory. `size()` counts the bytes contiguous from offset 0: a write past that point (leaving a
 * gap) is stored, but the count does not move. Each `write` copies its data.
 */
export class MemoryFirmwareSlot implements FirmwareSlot {
  /** How many times `erase` ran. */
  erases = 0;
  /** Every `write` as `[offset, length]`, oldest first. */
  readonly writes: Array<[number, number]> = [];
  /** Set by `finalize`, cleared by `erase`. */
  finalized: FinalizedFirmware | undefined;

  private buf = new Uint8Array(0);
  private contiguous = 0;
  /** One past the highest byte written. */
  private high = 0;
  private id: string | undefined;
  private readonly maxBytes: number;

  constructor(options: MemoryFirmwareSlotOptions = {}) {
    this.maxBytes = options.maxBytes ?? MEMORY_SLOT_DEFAULT_MAX_BYTES;
  }

  erase(imageId?: string): Promise<void> {
    this.erases++;
    this.buf = new Uint8Array(0);
    this.contiguous = 0;
    this.high = 0;
    this.finalized = undefined;
    this.id = imageId;
    return Promise.resolve();
  }

  imageId(): Promise<string | undefined> {
    return Promise.resolve(this.id);
  }

  write(offset: number, data: Uint8Array): Promise<void> {
    if (!Number.isSafeInteger(offset) || offset < 0) {
      return Promise.reject(new AzureIotHubError('EINVAL', 'slot write offset must be a non-negative integer'));
    }
    const end = offset + data.length;
    if (end > this.maxBytes) {
      return Promise.reject(new AzureIotHubError('EMSGSIZE', `image larger than the slot (${this.maxBytes} bytes)`));
    }
    if (end > this.buf.length) {
      const grown = new Uint8Array(Math.min(this.maxBytes, Math.max(end, this.buf.length * 2, 4096)));
      grown.set(this.buf.subarray(0, this.high));
      this.buf = grown;
    }
    this.buf.set(data, offset);
    this.writes.push([offset, data.length]);
    if (offset <= this.contiguous && end > this.contiguous) this.contiguous = end;
    this.high = Math.max(this.high, end);
    return Promise.resolve();
  }

  size(): Promise<number> {
    return Promise.resolve(this.contiguous);
  }

  read(offset: number, length: number): Promise<Uint8Array> {
    const start = Math.min(Math.max(0, offset), this.high);
    const end = Math.min(start + Math.max(0, length), this.high);
    return Promise.resolve(this.buf.slice(start, end));
  }

  finalize(info: FinalizedFirmware): Promise<void> {
    this.finalized = { version: info.version, size: info.size, sha256: info.sha256 };
    return Promise.resolve();
  }

  /** A copy of the contiguous image written so far. */
  image(): Uint8Array {
    return this.buf.slice(0, this.contiguous);
  }
}
