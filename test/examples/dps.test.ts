/**
 * `examples/dps.ts` against the emulator's DPS: in-process (an enrollment made by the example; one registration,
 * two hub connections), and as a program with the variables of a real DPS (symmetric-key enrollment made by the
 * test, the assignment kept in the `DPS_STORE` file).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEVICE_ID, main } from '../../examples/dps.js';
import { startEmulator, type Emulator } from '../../src/emulator/emulator.js';
import type { ConnectEvent } from '../../src/emulator/types.js';
import { hubEnv, killChildren, logLines, runExample, text } from './helpers.js';

let emu: Emulator;
let dir: string;

beforeAll(async () => {
  emu = await startEmulator({ firmware: false, dpsRetryAfterSeconds: 0 });
  dir = await mkdtemp(join(tmpdir(), 'example-dps-'));
});
afterEach(() => killChildren());
afterAll(async () => {
  await emu.close();
  await rm(dir, { recursive: true, force: true });
});

function connects(clientId: string): { events: ConnectEvent[]; stop: () => void } {
  const events: ConnectEvent[] = [];
  const listener = (e: ConnectEvent): void => {
    if (e.clientId === clientId) events.push(e);
  };
  emu.on('connect', listener);
  return { events, stop: () => emu.off('connect', listener) };
}

describe('examples/dps.ts', () => {
  it('provisions once, then connects straight to the assigned hub with the stored assignment (in-process)', async () => {
    const seen = connects(DEVICE_ID);
    const { log, lines } = logLines();
    await main({}, { emulator: emu, log });
    seen.stop();
    expect(emu.dpsRegistrations().filter((r) => r.registrationId === DEVICE_ID).map((r) => [r.status, r.assignedHub]))
      .toEqual([['assigned', emu.hub.host]]);
    expect(seen.events.map((e) => e.service)).toEqual(['dps', 'hub', 'hub']);
    expect(emu.telemetry(DEVICE_ID).map((m) => text(m.payload))).toEqual(['{"hello":"provisioned"}', '{"hello":"again"}']);
    expect(lines.filter((l) => l.startsWith('DPS: '))).toEqual(['DPS: connecting', 'DPS: registering', `DPS: assigned to ${emu.hub.host} as ${DEVICE_ID}`]);
    expect(lines.filter((l) => l.startsWith('hub: connected'))).toHaveLength(2);
  });

  it('as a program with DPS_* variables: provisions, keeps the assignment in DPS_STORE, exits 0', async () => {
    const id = 'env-dps';
    const enrollment = emu.addEnrollment({ registrationId: id, attestation: { type: 'sas' } });
    const key = enrollment.attestation.type === 'sas' ? enrollment.attestation.primaryKey : '';
    const store = join(dir, 'state', 'dps.json');
    const hub = await hubEnv(emu, dir);
    const r = await runExample('dps', {
      DPS_ID_SCOPE: emu.dps.idScope,
      DPS_HOSTNAME: emu.dps.host,
      DPS_ADDRESS: emu.dps.address,
      DPS_PORT: String(emu.dps.port),
      DPS_STORE: store,
      // The assigned hub is reached on the emulator's loopback port.
      IOTHUB_ADDRESS: hub['IOTHUB_ADDRESS']!,
      IOTHUB_PORT: hub['IOTHUB_PORT']!,
      IOTHUB_CA: hub['IOTHUB_CA']!,
      IOTHUB_DEVICE_ID: id,
      IOTHUB_DEVICE_SAS_KEY: key,
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`first connection: ${id} through DPS ${emu.dps.host} (id scope ${emu.dps.idScope}), symmetric key`);
    expect(r.stdout).toContain(`the assignment is stored (${store})`);
    const saved = JSON.parse(await readFile(store, 'utf8')) as Record<string, unknown>;
    expect(saved).toMatchObject({ idScope: emu.dps.idScope, registrationId: id, assignedHub: emu.hub.host, deviceId: id });
    expect(emu.telemetry(id)).toHaveLength(2);
  });

  it('refuses to run on a hub without DPS_ID_SCOPE', async () => {
    await expect(main({ IOTHUB_HOSTNAME: 'h.azure-devices.net', IOTHUB_DEVICE_ID: 'd' }, {}))
      .rejects.toThrow('DPS_ID_SCOPE is required: this example provisions through DPS');
  });
});
