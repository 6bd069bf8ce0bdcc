/**
 * `azure-iot-hub emulator` as a user runs it: a real process that prints how to connect, writes the credentials
 * file `device --emulator` reads, and stops cleanly on Ctrl-C (SIGINT) with exit code 0.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnCli } from './helpers.js';

let tmp: string;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'cli-emulator-test-'));
});

afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('emulator (process)', () => {
  it('prints the hub, DPS, CA and credentials, writes credentials.json, and stops on SIGINT with exit 0', async () => {
    const out = join(tmp, 'emu');
    const child = spawnCli(['emulator', '--out', out, '--device', 'proc-dev']);
    try {
      await expect.poll(() => child.stdout(), { timeout: 15_000 }).toContain('Connect a device:');
      const creds = JSON.parse(await readFile(join(out, 'credentials.json'), 'utf8')) as {
        hub: { host: string; port: number };
        dps: { port: number; idScope: string };
        caPath: string;
        devices: { deviceId: string }[];
      };
      const printed = child.stdout();
      expect(printed).toContain(`${creds.hub.host} on 127.0.0.1:${creds.hub.port}`);
      expect(printed).toContain(`127.0.0.1:${creds.dps.port}, id scope ${creds.dps.idScope}`);
      expect(printed).toContain(`CA        ${join(out, 'ca.pem')}`);
      expect(creds.caPath).toBe(join(out, 'ca.pem'));
      expect(creds.devices.map((d) => d.deviceId)).toEqual(['proc-dev', 'proc-dev-sas']);
      expect(printed).toContain(`azure-iot-hub device --emulator ${out}`);
      child.proc.kill('SIGINT');
      expect(await child.exited).toBe(0);
      expect(child.stdout()).toContain('emulator stopped');
      expect(child.stderr()).toBe('');
    } finally {
      child.proc.kill('SIGKILL');
    }
  });
});
