/**
 * The processes of an end-to-end run: the benchmark programs bundled with esbuild (so that `node --cpu-prof` keeps
 * line numbers and no loader thread runs beside the code measured), the emulator process, and one worker per case.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { IpcPeer } from './ipc.js';
import type { EmulatorInfo, WorkerSpec } from './types.js';

/** The repository root. */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/** Where the bundled programs go (ignored by git). */
export const OUT_DIR = join(ROOT, '.tmp', 'bench-e2e');

/** Bundle the worker and the emulator process (node_modules stay external: they load as they are installed). */
export async function buildPrograms(): Promise<{ worker: string; emulator: string }> {
  await mkdir(OUT_DIR, { recursive: true });
  const here = fileURLToPath(new URL('../', import.meta.url));
  const worker = join(OUT_DIR, 'worker.mjs');
  const emulator = join(OUT_DIR, 'emulator-process.mjs');
  await build({
    entryPoints: { worker: join(here, 'worker.ts'), 'emulator-process': join(here, 'emulator-process.ts') },
    outdir: OUT_DIR,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    sourcemap: 'linked',
    logLevel: 'warning',
  });
  return { worker, emulator };
}

function waitReady(child: ChildProcess, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onMessage = (msg: unknown): void => {
      if ((msg as { kind?: string } | null)?.kind !== 'ready') return;
      child.off('message', onMessage);
      child.off('exit', onExit);
      resolve();
    };
    const onExit = (code: number | null): void => reject(new Error(`${what} exited with code ${String(code)} before it was ready`));
    child.on('message', onMessage);
    child.on('exit', onExit);
  });
}

/** The emulator in its own process. */
export class EmulatorProcess {
  readonly child: ChildProcess;
  readonly peer: IpcPeer;
  info!: EmulatorInfo;

  private constructor(child: ChildProcess) {
    this.child = child;
    this.peer = new IpcPeer(child);
  }

  /** Start the emulator process; with `profileDir`, it writes a CPU profile there when closed. */
  static async start(program: string, profileDir?: string): Promise<EmulatorProcess> {
    const execArgv = profileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${profileDir}`];
    const child = fork(program, [], { cwd: ROOT, execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const ready = waitReady(child, 'the emulator process');
    const emu = new EmulatorProcess(child);
    await ready;
    emu.info = await emu.peer.request<EmulatorInfo>('info');
    return emu;
  }

  request<T>(op: string, args: unknown = null): Promise<T> {
    return this.peer.request<T>(op, args);
  }

  async close(): Promise<void> {
    const exited = new Promise<void>((resolve) => {
      if (this.child.exitCode !== null || this.child.signalCode !== null) resolve();
      else this.child.once('exit', () => resolve());
    });
    await this.peer.request('close').catch(() => undefined);
    this.peer.close();
    if (this.child.connected) this.child.disconnect();
    const t = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
  }
}

/** Options of {@link runWorker}. */
export interface WorkerOptions {
  /** Write a CPU profile of the worker into this folder (`node --cpu-prof`). */
  profileDir?: string;
  /** Give up after this long. */
  timeoutMs: number;
}

/** Run `spec` in a fresh worker process and return its result. */
export async function runWorker<T>(program: string, spec: WorkerSpec, emu: EmulatorProcess, options: WorkerOptions): Promise<T> {
  const execArgv = ['--expose-gc'];
  if (options.profileDir !== undefined) execArgv.push('--cpu-prof', `--cpu-prof-dir=${options.profileDir}`);
  const child = fork(program, [], { cwd: ROOT, execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const peer = new IpcPeer(child);
  peer.serve(async (op, args) => {
    if (op !== 'emulator') throw new Error(`unknown op ${op}`);
    const { op: emuOp, args: emuArgs } = args as { op: string; args: unknown };
    return emu.request(emuOp, emuArgs);
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    await waitReady(child, 'a worker');
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${spec.kind} ${spec.side} did not finish within ${options.timeoutMs / 1000} s`)), options.timeoutMs);
    });
    return await Promise.race([peer.request<T>('run', { spec, emu: emu.info }), timeout]);
  } finally {
    clearTimeout(timer);
    peer.close();
    // The worker exits when the channel closes (so that `--cpu-prof` writes its profile); kill it if it hangs.
    const exited = new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once('exit', () => resolve());
    });
    if (child.connected) child.disconnect();
    const t = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
  }
}
