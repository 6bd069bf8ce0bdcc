/**
 * Requests waiting for their response, by request id (`$rid`): each settles exactly once, by its response, its
 * timeout (`ETIMEDOUT`) or the end of the connection.
 */
import { AzureIotHubError } from '../errors.js';

interface Entry<T> {
  resolve: (value: T) => void;
  reject: (err: AzureIotHubError) => void;
  timer: ReturnType<typeof setTimeout>;
}

export class PendingRequests<T> {
  readonly #entries = new Map<string, Entry<T>>();
  readonly #what: string;

  /** @param what names the kind of request in timeout messages ("twin request", ...). */
  constructor(what: string) {
    this.#what = what;
  }

  get size(): number {
    return this.#entries.size;
  }

  has(rid: string): boolean {
    return this.#entries.has(rid);
  }

  /** Wait for the response to `rid`, at most `timeoutMs`. */
  add(rid: string, timeoutMs: number): Promise<T> {
    if (this.#entries.has(rid)) {
      return Promise.reject(new AzureIotHubError('EALREADY', `${this.#what} ${rid} is pending already`));
    }
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#entries.delete(rid);
        reject(new AzureIotHubError('ETIMEDOUT', `no response to ${this.#what} ${rid} within ${timeoutMs} ms`));
      }, timeoutMs);
      timer.unref?.();
      this.#entries.set(rid, { resolve, reject, timer });
    });
  }

  /** Settle `rid` with a value; false when nothing waits for it. */
  resolve(rid: string, value: T): boolean {
    const e = this.#take(rid);
    if (e === undefined) return false;
    e.resolve(value);
    return true;
  }

  /** Settle `rid` with an error; false when nothing waits for it. */
  reject(rid: string, err: AzureIotHubError): boolean {
    const e = this.#take(rid);
    if (e === undefined) return false;
    e.reject(err);
    return true;
  }

  /** Reject everything still waiting. */
  rejectAll(err: AzureIotHubError): void {
    const entries = [...this.#entries.values()];
    this.#entries.clear();
    for (const e of entries) {
      clearTimeout(e.timer);
      e.reject(err);
    }
  }

  #take(rid: string): Entry<T> | undefined {
    const e = this.#entries.get(rid);
    if (e === undefined) return undefined;
    this.#entries.delete(rid);
    clearTimeout(e.timer);
    return e;
  }
}
