/**
 * `examples/fota.ts` against the emulator's hub and HTTPS firmware server: in-process (the example publishes the
 * image and sets the job itself) and as a program with the variables of a real hub while the job is already in the
 * twin. The proof: the slot file holds exactly the published bytes, and the twin reports `applying`.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEVICE_ID, main, NEW_VERSION } from '../../examples/fota.js';
import { startEmulator, type Emulator } from '../../src/emulator/emulator.js';
import { hubEnv, killChildren, logLines, runExample, sasEnv } from './helpers.js';

let emu: Emulator;
let dir: string;

beforeAll(async () => {
  emu = await startEmulator();
  dir = await mkdtemp(join(tmpdir(), 'example-fota-'));
});
afterEach(() => killChildren());
afterAll(async () => {
  await emu.close();
  await rm(dir, { recursive: true, force: true });
});

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

describe('examples/fota.ts', () => {
  it('downloads the job the service sets into the slot file and reports applying (in-process, emulator)', async () => {
    const slot = join(dir, 'local', 'firmware.bin');
    const { log, lines } = logLines();
    await main({ FOTA_SLOT: slot }, { emulator: emu, log });
    const expected = new Uint8Array(48 * 1024).map((_, i) => (i * 31) & 0xff);
    const written = new Uint8Array(await readFile(slot));
    expect(written.length).toBe(expected.length);
    expect(sha256(written)).toBe(sha256(expected));
    const manifest = JSON.parse(await readFile(`${slot}.json`, 'utf8')) as Record<string, unknown>;
    expect(manifest).toEqual({ version: NEW_VERSION, size: expected.length, sha256: sha256(expected) });
    expect(emu.getTwin(DEVICE_ID).reported['firmware']).toMatchObject({ fwUpdateStatus: 'applying', pendingFwVersion: NEW_VERSION });
    expect(lines).toContain(`FOTA job job-${NEW_VERSION}: 1.0.0 -> ${NEW_VERSION}`);
    expect(lines).toContain(`downloading: 100% (${expected.length} of ${expected.length} bytes)`);
  }, 60_000);

  it('as a program on a "real" hub: picks up the job already in the twin, downloads it, exits 0', async () => {
    const id = 'env-fota';
    const env = { ...(await hubEnv(emu, dir)), ...sasEnv(emu, id) };
    const image = new Uint8Array(20_000).map((_, i) => (i * 7 + 3) & 0xff);
    const pub = emu.publishFirmware('fw/env-2.0.0.bin', image);
    emu.updateDesired(id, {
      firmware: { fwVersion: '2.0.0', jobId: 'env-job', fwLocation: { protocol: 'https:', host: pub.host, path: pub.path }, fwFragmentSize: 2048 },
    });
    const ca = join(dir, 'firmware-ca.pem');
    await writeFile(ca, emu.ca.cert);
    const slot = join(dir, 'env', 'slot.bin');
    const r = await runExample('fota', { ...env, FOTA_SLOT: slot, FOTA_CA: ca, FIRMWARE_VERSION: '1.5.0', EXAMPLE_WAIT_SECONDS: '30' });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('FOTA job env-job: 1.5.0 -> 2.0.0');
    expect(r.stdout).toContain(`firmware 2.0.0 is in ${slot}`);
    expect(sha256(new Uint8Array(await readFile(slot)))).toBe(pub.sha256);
    expect(emu.getTwin(id).reported['firmware']).toEqual({
      fwUpdateStatus: 'applying', currentFwVersion: '1.5.0', pendingFwVersion: '2.0.0', jobId: 'env-job',
    });
  }, 60_000);
});
