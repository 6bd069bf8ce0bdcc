/**
 * Helpers for the example tests: run an example as a user does (`node --import tsx examples/NAME.ts`, a child
 * process with the environment variables of a real hub pointing at the test's emulator), write the emulator's CA and
 * a device's PEM files, and collect an in-process example's log lines.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Emulator } from '../../src/emulator/emulator.js';

/** The repository root (the child's working directory, so `--import tsx` resolves). */
export const ROOT = join(import.meta.dirname, '..', '..');

/** Variables the examples read: never inherited from the developer's shell, so a test sees only its own. */
const EXAMPLE_VARS = /^(IOTHUB_|DPS_|TELEMETRY_|FOTA_|FIRMWARE_|EXAMPLE_)/;

/** A finished child: exit code (or `signal:NAME`) and output. */
export interface ChildResult {
  code: number | string;
  stdout: string;
  stderr: string;
}

const children = new Set<ChildProcess>();

/** Run `examples/<name>.ts` with `env` on top of a clean environment; resolves when it exits. */
export function runExample(name: string, env: Record<string, string>): Promise<ChildResult> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !EXAMPLE_VARS.test(k)));
  const proc = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'examples', `${name}.ts`)], {
    cwd: ROOT,
    env: { ...base, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(proc);
  let stdout = '';
  let stderr = '';
  proc.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  proc.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  return new Promise((resolve) => {
    proc.on('close', (code, signal) => {
      children.delete(proc);
      resolve({ code: code ?? `signal:${signal ?? '?'}`, stdout, stderr });
    });
  });
}

/** Kill children a failed test left running (afterEach). */
export function killChildren(): void {
  for (const c of children) c.kill('SIGKILL');
  children.clear();
}

/** A log sink for an in-process `main`: the lines it printed. */
export function logLines(): { log: (line: string) => void; lines: string[] } {
  const lines: string[] = [];
  return { log: (line: string) => lines.push(line), lines };
}

/**
 * The environment of a real hub, pointing at the emulator: host name, loopback address and port, and its CA written
 * to `dir/ca.pem`.
 */
export async function hubEnv(emu: Emulator, dir: string): Promise<Record<string, string>> {
  const ca = join(dir, 'ca.pem');
  await writeFile(ca, emu.ca.cert);
  return {
    IOTHUB_HOSTNAME: emu.hub.host,
    IOTHUB_ADDRESS: emu.hub.address,
    IOTHUB_PORT: String(emu.hub.port),
    IOTHUB_CA: ca,
  };
}

/** Register a symmetric-key device; its id and key as the examples' variables. */
export function sasEnv(emu: Emulator, deviceId: string): Record<string, string> {
  const reg = emu.registerDevice({ deviceId, auth: { type: 'sas' } });
  return { IOTHUB_DEVICE_ID: deviceId, IOTHUB_DEVICE_SAS_KEY: reg.primaryKey! };
}

/** Register an X.509 (CA-signed) device and write its certificate and key to `dir`; the examples' variables. */
export async function x509Env(emu: Emulator, deviceId: string, dir: string): Promise<Record<string, string>> {
  emu.registerDevice({ deviceId, auth: { type: 'x509-ca' } });
  const creds = await emu.createDeviceCredentials(deviceId);
  const cert = join(dir, `${deviceId}.cert.pem`);
  const key = join(dir, `${deviceId}.key.pem`);
  await writeFile(cert, creds.chain);
  await writeFile(key, creds.key);
  return { IOTHUB_DEVICE_ID: deviceId, IOTHUB_DEVICE_CERT: cert, IOTHUB_DEVICE_KEY: key };
}

/** UTF-8 text of bytes. */
export function text(bytes: Uint8Array): string {
  return new TextDecoder().decode(bytes);
}
