/**
 * What a command reads, writes and listens to. `runCli` fills in the process's streams, environment and signals;
 * tests pass their own (strings in, strings out, an `AbortSignal` for Ctrl-C).
 */
import type { Emulator } from '../emulator/emulator.js';

/** An output stream: `process.stdout`, or anything with `write` (and optionally `isTTY`). */
export interface CliOutput {
  write(text: string): unknown;
  /** True on a terminal (colours are then on by default). */
  isTTY?: boolean;
}

/** Where a command reads, writes and is stopped. Every field is optional; the defaults are the process's. */
export interface CliIo {
  /** Default `process.stdout`. */
  stdout?: CliOutput;
  /** Default `process.stderr`. */
  stderr?: CliOutput;
  /** Lines of telemetry for `device` (default `process.stdin`). */
  stdin?: NodeJS.ReadableStream & { isTTY?: boolean };
  /** Environment (`NO_COLOR`, `FORCE_COLOR`, `TERM`). Default `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
  /**
   * Stop a long-running command (`device`, `emulator`) cleanly when aborted, as Ctrl-C does. Without it, SIGINT and
   * SIGTERM stop it.
   */
  signal?: AbortSignal;
  /** Called by `emulator` once the emulator runs and its credentials are written (tests use it). */
  onEmulatorReady?: (emulator: Emulator, outDir: string) => void;
  /** Clock for the timeline (default `Date.now`). */
  now?: () => number;
}

/** {@link CliIo} with the defaults applied. */
export interface ResolvedIo {
  stdout: CliOutput;
  stderr: CliOutput;
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  env: Readonly<Record<string, string | undefined>>;
  signal: AbortSignal | undefined;
  onEmulatorReady: ((emulator: Emulator, outDir: string) => void) | undefined;
  now: () => number;
}

/** Apply the process defaults. */
export function resolveIo(io: CliIo): ResolvedIo {
  return {
    stdout: io.stdout ?? process.stdout,
    stderr: io.stderr ?? process.stderr,
    stdin: io.stdin ?? process.stdin,
    env: io.env ?? process.env,
    signal: io.signal,
    onEmulatorReady: io.onEmulatorReady,
    now: io.now ?? Date.now,
  };
}

/**
 * Resolve once the command should stop: `signal` aborts, or (without a signal) the process gets SIGINT or SIGTERM.
 * `cancel()` removes the listeners when the command ends for another reason. After the first signal the listeners are
 * gone, so a second Ctrl-C ends the process the hard way if the clean stop hangs.
 */
export function stopRequested(signal: AbortSignal | undefined): { stopped: Promise<string>; cancel: () => void } {
  let cancel = (): void => undefined;
  const stopped = new Promise<string>((resolve) => {
    if (signal !== undefined) {
      if (signal.aborted) {
        resolve('abort');
        return;
      }
      const onAbort = (): void => resolve('abort');
      signal.addEventListener('abort', onAbort, { once: true });
      cancel = () => signal.removeEventListener('abort', onAbort);
      return;
    }
    const onSignal = (name: NodeJS.Signals): void => {
      cancel();
      resolve(name);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    cancel = () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    };
  });
  return { stopped, cancel };
}
