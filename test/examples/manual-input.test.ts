/**
 * `examples/manual-input.ts` (`autoInput: false`, the application's own input loop) against the emulator:
 * in-process (telemetry acknowledged, a C2D message picked up by `input()`, the keepalive the loop asked for, a
 * PINGREQ sent by the loop when idle) and as a program with the variables of a real hub.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEVICE_ID, main } from '../../examples/manual-input.js';
import { startEmulator, type Emulator } from '../../src/emulator/emulator.js';
import { hubEnv, killChildren, logLines, runExample, sasEnv, text } from './helpers.js';

let emu: Emulator;
let dir: string;

beforeAll(async () => {
  emu = await startEmulator({ firmware: false });
  dir = await mkdtemp(join(tmpdir(), 'example-manual-'));
});
afterEach(() => killChildren());
afterAll(async () => {
  await emu.close();
  await rm(dir, { recursive: true, force: true });
});

describe('examples/manual-input.ts', () => {
  it('sends and processes everything through input(), including a C2D message (in-process, emulator)', async () => {
    const connected = emu.waitFor('connect', (c) => c.clientId === DEVICE_ID, 20_000);
    const completed = emu.waitFor('c2d', (c) => c.deviceId === DEVICE_ID && c.kind === 'completed', 20_000);
    const gone = emu.waitFor('disconnect', (d) => d.clientId === DEVICE_ID, 20_000);
    const { log, lines } = logLines();
    await main({ TELEMETRY_COUNT: '3', TELEMETRY_INTERVAL_MS: '0', IOTHUB_KEEPALIVE: '30' }, { emulator: emu, log });
    expect((await connected).keepalive).toBe(30);
    await completed; // the device acknowledged the C2D message (its PUBACK)
    expect((await gone).graceful).toBe(true);
    expect(emu.telemetry(DEVICE_ID).map((m) => (JSON.parse(text(m.payload)) as { seq: number }).seq)).toEqual([1, 2, 3]);
    expect(lines).toContain('C2D message: hello from the cloud');
    expect(lines.filter((l) => l.endsWith('acknowledged (PUBACK processed by input())'))).toHaveLength(3);
    expect(lines).toContain('sent 3, acknowledged 3, received 1 C2D message(s)');
  });

  it('the loop pings when nothing was sent for a keepalive period', async () => {
    emu.clearPacketLog(DEVICE_ID);
    // Keepalive 1 s, readings 1.5 s apart: the loop must ping between the two.
    await main({ TELEMETRY_COUNT: '2', TELEMETRY_INTERVAL_MS: '1500', IOTHUB_KEEPALIVE: '1' }, { emulator: emu, log: () => undefined });
    const log = emu.packetLog(DEVICE_ID).filter((e) => e.service === 'hub').map((e) => `${e.direction} ${e.type}`);
    expect(log).toContain('in pingreq');
    expect(log).toContain('out pingresp');
  });

  it('as a program on a "real" hub (IOTHUB_* variables): sends, exits 0', async () => {
    const id = 'env-manual';
    const env = { ...(await hubEnv(emu, dir)), ...sasEnv(emu, id), TELEMETRY_COUNT: '2', TELEMETRY_INTERVAL_MS: '0' };
    const r = await runExample('manual-input', env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('sent 2, acknowledged 2, received 0 C2D message(s)');
    expect(emu.telemetry(id)).toHaveLength(2);
  });
});
