/**
 * The emulator command: help, bad options, a run that writes credentials a device can use, a clean stop, and
 * running the file directly.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runEmulatorCli } from '../../src/emulator/cli.js';
import type { Emulator } from '../../src/emulator/emulator.js';
import { connectDevice } from './raw-client.js';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'emulator-cli-test-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function sink(): { write(t: string): boolean; text: () => string } {
  let buf = '';
  return { write: (t: string) => ((buf += t), true), text: () => buf };
}

describe('emulator command', () => {
  it('prints help and exits 0', async () => {
    const out = sink();
    expect(await runEmulatorCli(['--help'], { stdout: out })).toBe(0);
    expect(out.text()).toContain('--dps-port N');
  });

  it('rejects bad options with exit code 2', async () => {
    for (const argv of [['--nope'], ['--port'], ['--port', 'abc'], ['--port', '70000'], ['--device', 'a/b']]) {
      const err = sink();
      expect(await runEmulatorCli(argv, { stderr: err, stdout: sink() }), argv.join(' ')).toBe(2);
      expect(err.text()).toMatch(/^error: /);
    }
  });

  it('runs, writes working credentials, prints how to connect and stops on abort', async () => {
    const out = sink();
    const ac = new AbortController();
    let ready: { emu: Emulator; outDir: string } | undefined;
    const exit = runEmulatorCli(['--out', dir, '--device', 'cli-dev', '--hub-host', 'cli.azure-devices.net', '--retry-after=0'], {
      stdout: out,
      stderr: out,
      signal: ac.signal,
      onReady: (emu, outDir) => {
        ready = { emu, outDir };
      },
    });
    await expect.poll(() => ready, { timeout: 10_000 }).toBeDefined();
    const { emu, outDir } = ready!;
    expect(outDir).toBe(dir);
    const printed = out.text();
    expect(printed).toContain(`cli.azure-devices.net on 127.0.0.1:${emu.hub.port}`);
    expect(printed).toContain(`127.0.0.1:${emu.dps.port}, id scope 0ne00000001`);
    expect(printed).toContain(join(dir, 'ca.pem'));

    const creds = JSON.parse(await readFile(join(dir, 'credentials.json'), 'utf8')) as {
      devices: { deviceId: string; primaryKey?: string; certPath?: string; keyPath?: string }[];
    };
    const ca = await readFile(join(dir, 'ca.pem'), 'utf8');
    expect(ca).toBe(emu.ca.cert);
    const x509 = creds.devices.find((d) => d.deviceId === 'cli-dev')!;
    const sas = creds.devices.find((d) => d.deviceId === 'cli-dev-sas')!;
    expect(printed).toContain(sas.primaryKey!);
    const cert = { chain: await readFile(x509.certPath!, 'utf8'), key: await readFile(x509.keyPath!, 'utf8') };
    const a = await connectDevice(emu, { deviceId: 'cli-dev', cert });
    expect(a.connack.returnCode).toBe(0);
    const b = await connectDevice(emu, { deviceId: 'cli-dev-sas', sasKey: sas.primaryKey! });
    expect(b.connack.returnCode).toBe(0);
    await expect.poll(() => out.text()).toContain('[hub] cli-dev-sas connected (sas)');

    ac.abort();
    expect(await exit).toBe(0);
    await a.client.closed;
    await b.client.closed;
    expect(out.text()).toContain('emulator stopped');
  });

  it('runs directly as a script (npx tsx src/emulator/cli.ts --help)', async () => {
    const require = createRequire(import.meta.url);
    const tsxCli = join(require.resolve('tsx/package.json'), '..', 'dist', 'cli.mjs');
    const { stdout } = await promisify(execFile)(process.execPath, [tsxCli, 'src/emulator/cli.ts', '--help'],
      { cwd: join(import.meta.dirname, '..', '..') });
    expect(stdout).toContain('Usage: azure-iot-hub-emulator');
  });
});
