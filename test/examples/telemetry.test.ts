/**
 * `examples/telemetry.ts` against the emulator: in-process (the test's emulator, so what the hub stored can be
 * checked), as a program with the variables of a real hub (X.509 files), as a program on its own (it starts the
 * emulator itself), and with bad variables.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEVICE_ID, main } from '../../examples/telemetry.js';
import { startEmulator, type Emulator } from '../../src/emulator/emulator.js';
import { hubEnv, killChildren, logLines, runExample, text, x509Env } from './helpers.js';

let emu: Emulator;
let dir: string;

beforeAll(async () => {
  emu = await startEmulator({ firmware: false });
  dir = await mkdtemp(join(tmpdir(), 'example-telemetry-'));
});
afterEach(() => killChildren());
afterAll(async () => {
  await emu.close();
  await rm(dir, { recursive: true, force: true });
});

describe('examples/telemetry.ts', () => {
  it('sends every reading with its properties, acknowledged, and disconnects cleanly (in-process, emulator)', async () => {
    const gone = emu.waitFor('disconnect', (d) => d.clientId === DEVICE_ID, 10_000);
    const { log, lines } = logLines();
    await main({ TELEMETRY_COUNT: '3', TELEMETRY_INTERVAL_MS: '0' }, { emulator: emu, log });
    const stored = emu.telemetry(DEVICE_ID);
    expect(stored.map((m) => (JSON.parse(text(m.payload)) as { seq: number }).seq)).toEqual([1, 2, 3]);
    expect(stored.map((m) => m.properties)).toEqual([
      { sensor: 'bme280', temperatureAlert: 'false' },
      { sensor: 'bme280', temperatureAlert: 'false' },
      { sensor: 'bme280', temperatureAlert: 'true' },
    ]);
    expect(stored.every((m) => m.qos === 1 && m.systemProperties['$.ct'] === 'application/json')).toBe(true);
    expect((await gone).graceful).toBe(true);
    expect(lines.filter((l) => l.endsWith(': acknowledged'))).toHaveLength(3);
    expect(lines).toContain('the hub stored {"seq":3,"temperature":22.1,"humidity":43} with sensor=bme280');
    expect(lines.at(-1)).toBe('disconnected');
  });

  it('runs as a program against a "real" hub given by IOTHUB_* variables (X.509 PEM files)', async () => {
    const env = { ...(await hubEnv(emu, dir)), ...(await x509Env(emu, 'env-telemetry', dir)), TELEMETRY_COUNT: '2', TELEMETRY_INTERVAL_MS: '0' };
    const gone = emu.waitFor('disconnect', (d) => d.clientId === 'env-telemetry', 20_000);
    const r = await runExample('telemetry', env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`connecting: env-telemetry on ${emu.hub.host}, X.509`);
    expect(emu.telemetry('env-telemetry').map((m) => m.properties['sensor'])).toEqual(['bme280', 'bme280']);
    expect((await gone).graceful).toBe(true);
    expect(r.stdout).not.toContain('the hub stored'); // the service-side look is only for the local emulator
  });

  it('runs as a program on its own: starts the emulator, sends, stops everything and exits 0', async () => {
    const r = await runExample('telemetry', { TELEMETRY_INTERVAL_MS: '0' });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`connecting: ${DEVICE_ID} on the local emulator`);
    expect(r.stdout.match(/^the hub stored /gm)).toHaveLength(5);
  });

  it('names the missing or wrong variable; as a program: one line on stderr, exit 1, no stack trace', async () => {
    await expect(main({ IOTHUB_HOSTNAME: 'h.azure-devices.net' }, {})).rejects.toThrow('IOTHUB_DEVICE_ID is required');
    await expect(main({ IOTHUB_HOSTNAME: 'h', IOTHUB_DEVICE_ID: 'd' }, {})).rejects.toThrow(/credentials are required/);
    await expect(main({ IOTHUB_HOSTNAME: 'h', IOTHUB_DEVICE_ID: 'd', IOTHUB_DEVICE_CERT: 'c.pem' }, {}))
      .rejects.toThrow('IOTHUB_DEVICE_CERT and IOTHUB_DEVICE_KEY go together');
    await expect(main({ TELEMETRY_COUNT: 'five' }, { emulator: emu })).rejects.toThrow('TELEMETRY_COUNT must be a whole number');
    const r = await runExample('telemetry', {
      IOTHUB_HOSTNAME: 'h', IOTHUB_DEVICE_ID: 'd', IOTHUB_DEVICE_CERT: join(dir, 'missing.pem'), IOTHUB_DEVICE_KEY: join(dir, 'missing.key'),
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`error: IOTHUB_DEVICE_CERT: cannot read ${join(dir, 'missing.pem')} (ENOENT)\n`);
  });
});
