/**
 * Helpers for the command-line tests: run `azure-iot-hub` as a user would (a child process through tsx), or
 * in-process through `runCli` with captured output.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { runCli, type CliIo } from '../../src/cli/main.js';

/** The repository root (the child's working directory, so `--import tsx` resolves). */
export const ROOT = join(import.meta.dirname, '..', '..');
/** The tool's entry point, run through tsx as `node --import tsx src/cli/main.ts`. */
export const MAIN = join(ROOT, 'src', 'cli', 'main.ts');

/** An output sink that keeps what was written (optionally pretending to be a terminal). */
export interface Capture {
  write(text: string): boolean;
  isTTY?: boolean;
  text(): string;
}

export function capture(isTTY?: boolean): Capture {
  let buf = '';
  const c: Capture = { write: (t: string) => ((buf += t), true), text: () => buf };
  if (isTTY !== undefined) c.isTTY = isTTY;
  return c;
}

/** Run in-process; stdout and stderr captured; colours off unless `env` says otherwise. */
export async function run(
  argv: string[],
  io: Omit<CliIo, 'stdout' | 'stderr'> & { stdout?: Capture } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = io.stdout ?? capture();
  const stderr = capture();
  const code = await runCli(argv, { env: {}, ...io, stdout, stderr });
  return { code, stdout: stdout.text(), stderr: stderr.text() };
}

/** A child running the tool, with its output collected as it arrives. */
export interface Child {
  proc: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (a signal death gives `signal:NAME`). */
  exited: Promise<number | string>;
}

/** Spawn `node --import tsx src/cli/main.ts ...argv` in the repository root. */
export function spawnCli(argv: string[], env: Record<string, string | undefined> = {}): Child {
  const proc = spawn(process.execPath, ['--import', 'tsx', MAIN, ...argv], {
    cwd: ROOT,
    env: { ...process.env, NO_COLOR: undefined, FORCE_COLOR: undefined, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<number | string>((resolve) => {
    proc.on('close', (code, signal) => resolve(code ?? `signal:${signal ?? '?'}`));
  });
  return { proc, stdout: () => out, stderr: () => err, exited };
}

/** Spawn, close stdin, and wait for the exit. */
export async function runChild(
  argv: string[],
  env: Record<string, string | undefined> = {},
): Promise<{ code: number | string; stdout: string; stderr: string }> {
  const child = spawnCli(argv, env);
  child.proc.stdin!.end();
  const code = await child.exited;
  return { code, stdout: child.stdout(), stderr: child.stderr() };
}
