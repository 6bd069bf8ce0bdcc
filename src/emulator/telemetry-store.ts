/**
 * Stored device-to-cloud messages (what a backend would read from the hub's built-in endpoint), bounded, with a
 * way to await them so tests never poll with sleeps.
 */
import { AzureIotHubError } from '../errors.js';
import type { TelemetryMessage } from './types.js';

/** Default number of messages kept (oldest dropped first). */
export const DEFAULT_TELEMETRY_LIMIT = 10_000;

interface Waiter {
  deviceId: string | undefined;
  count: number;
  resolve: (messages: TelemetryMessage[]) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/** Telemetry of one emulator. */
export class TelemetryStore {
  readonly limit: number;
  readonly #messages: TelemetryMessage[] = [];
  readonly #waiters = new Set<Waiter>();

  constructor(limit = DEFAULT_TELEMETRY_LIMIT) {
    this.limit = limit;
  }

  add(message: TelemetryMessage): void {
    this.#messages.push(message);
    if (this.#messages.length > this.limit) this.#messages.splice(0, this.#messages.length - this.limit);
    for (const w of [...this.#waiters]) {
      const got = this.list(w.deviceId);
      if (got.length >= w.count) {
        this.#waiters.delete(w);
        clearTimeout(w.timer);
        w.resolve(got.slice(0, w.count));
      }
    }
  }

  /** Stored messages of `deviceId` (or of every device), oldest first. */
  list(deviceId?: string): TelemetryMessage[] {
    return deviceId === undefined ? [...this.#messages] : this.#messages.filter((m) => m.deviceId === deviceId);
  }

  /** Forget the messages of `deviceId` (or all). */
  clear(deviceId?: string): void {
    if (deviceId === undefined) this.#messages.length = 0;
    else {
      const keep = this.#messages.filter((m) => m.deviceId !== deviceId);
      this.#messages.length = 0;
      this.#messages.push(...keep);
    }
  }

  /**
   * Resolve with the first `count` stored messages of `deviceId` (every device when undefined) once that many are
   * stored, counting those already stored (use `clear` to start afresh). Rejects with `ETIMEDOUT` after `timeoutMs`.
   */
  waitFor(deviceId: string | undefined, count: number, timeoutMs: number): Promise<TelemetryMessage[]> {
    const got = this.list(deviceId);
    if (got.length >= count) return Promise.resolve(got.slice(0, count));
    return new Promise((resolve, reject) => {
      const w: Waiter = {
        deviceId,
        count,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.#waiters.delete(w);
          reject(new AzureIotHubError('ETIMEDOUT',
            `waitForTelemetry: ${this.list(deviceId).length} of ${count} messages after ${timeoutMs} ms`));
        }, timeoutMs),
      };
      this.#waiters.add(w);
    });
  }

  /** Reject every waiter (the emulator closes). */
  cancelAll(): void {
    for (const w of this.#waiters) {
      clearTimeout(w.timer);
      w.reject(new AzureIotHubError('ECANCELED', 'the emulator was closed'));
    }
    this.#waiters.clear();
  }
}
