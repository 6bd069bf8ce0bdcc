/**
 * Shared by the examples: the runner that makes each example a program (`npx tsx examples/NAME.ts`) while tests
 * import its `main`, and a few small helpers.
 */
import { realpathSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { Env, ExampleOptions } from './connection.js';

/** An example's entry point: `main(env, options)`. */
export type ExampleMain = (env: Env, options: ExampleOptions) => Promise<void>;

/**
 * When the file of `meta` is the program being run: call `main(process.env)`, stop it cleanly on Ctrl-C, print an
 * error as one line (no stack trace) and exit with 1 on failure.
 */
export function runIfMain(meta: ImportMeta, main: ExampleMain): void {
  const script = process.argv[1];
  if (script === undefined) return;
  try {
    if (realpathSync(script) !== realpathSync(fileURLToPath(meta.url))) return;
  } catch {
    return;
  }
  const stop = new AbortController();
  const onSignal = (): void => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  main(process.env, { signal: stop.signal }).then(
    () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
    (err: unknown) => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}

/** Wait `ms` milliseconds; resolves early (without throwing) when `signal` aborts. */
export async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  try {
    await delay(ms, undefined, signal === undefined ? {} : { signal });
  } catch {
    // aborted: the caller looks at signal.aborted
  }
}

/** A promise with its resolve and reject, for "wait until the event handler saw X". */
export interface Deferred<T> {
  promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (err: Error) => void;
}

/** A new {@link Deferred}. Its rejection is marked handled, so one nobody awaits does not crash the program. */
export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

/** Resolve with `promise`; reject after `seconds` (the message says what was awaited) or when `signal` aborts. */
export function within<T>(promise: Promise<T>, seconds: number, what: string, signal?: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    const onAbort = (): void => {
      done();
      reject(new Error(`stopped while waiting for ${what}`));
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`no ${what} within ${seconds} s`));
    }, seconds * 1000);
    if (signal?.aborted === true) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        done();
        resolve(value);
      },
      (err: unknown) => {
        done();
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}

/** UTF-8 text of a received payload. */
export function text(payload: Uint8Array | string): string {
  return typeof payload === 'string' ? payload : new TextDecoder().decode(payload);
}

/** A CONNECTION_FAILED event's `err` as text: the CONNACK return code, or the error's message. */
export function describeFailure(err: number | Error): string {
  return typeof err === 'number' ? `the hub refused the connection (CONNACK return code ${err})` : err.message;
}
