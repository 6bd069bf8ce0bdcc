/**
 * `examples/twin-and-methods.ts` against the emulator: in-process on the local emulator (the example plays the
 * service side itself), and as a program with the variables of a real hub while the test plays the service side
 * (a refused method call, a good one, a desired change), as a user would from the portal.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEVICE_ID, main } from '../../examples/twin-and-methods.js';
import { startEmulator, type Emulator } from '../../src/emulator/emulator.js';
import type { MethodResponseEvent } from '../../src/emulator/types.js';
import { hubEnv, killChildren, logLines, runExample, sasEnv } from './helpers.js';

let emu: Emulator;
let dir: string;

beforeAll(async () => {
  emu = await startEmulator({ firmware: false });
  dir = await mkdtemp(join(tmpdir(), 'example-twin-'));
});
afterEach(() => killChildren());
afterAll(async () => {
  await emu.close();
  await rm(dir, { recursive: true, force: true });
});

describe('examples/twin-and-methods.ts', () => {
  it('reads the twin, reports, answers setLed and applies the desired change (in-process, emulator)', async () => {
    const responses: MethodResponseEvent[] = [];
    emu.on('methodResponse', (e) => responses.push(e));
    const gone = emu.waitFor('disconnect', (d) => d.clientId === DEVICE_ID, 20_000);
    const { log, lines } = logLines();
    await main({}, { emulator: emu, log });
    const reported = emu.getTwin(DEVICE_ID).reported;
    expect(reported['deviceInfo']).toEqual({ model: 'example', fwVersion: '1.0.0' });
    expect(reported['led']).toBe(false);
    expect(reported['telemetryIntervalMs']).toBe(2000);
    expect(responses.map((r) => [r.deviceId, r.status])).toEqual([[DEVICE_ID, 200]]);
    expect(lines).toContain('the service invoked setLed and got 200 {"led":true}');
    expect(lines).toContain('applied telemetryIntervalMs = 2000, reported (twin reported version 3)');
    expect(lines.at(-1)).toBe('done: disconnected');
    expect((await gone).graceful).toBe(true);
  });

  it('as a program on a "real" hub: waits for the service side, answers 400 to a bad call, then finishes', async () => {
    const id = 'env-twin';
    const env = { ...(await hubEnv(emu, dir)), ...sasEnv(emu, id), EXAMPLE_WAIT_SECONDS: '20' };
    const subscribed = emu.waitFor('subscribe', (s) => s.clientId === id && s.subscriptions.some((x) => x.topic.startsWith('$iothub/methods/')), 20_000);
    const reportedOnce = emu.waitFor('twinReported', (r) => r.deviceId === id && 'deviceInfo' in r.patch, 20_000);
    const exited = runExample('twin-and-methods', env);
    await subscribed;
    await reportedOnce;
    const bad = await emu.invokeMethod(id, 'setLed', { on: 'yes' }, { timeoutMs: 10_000 });
    expect(bad).toMatchObject({ status: 400, payload: { error: 'expected {"on": true|false}' } });
    const unknown = await emu.invokeMethod(id, 'reboot', null, { timeoutMs: 10_000 });
    expect(unknown.status).toBe(404); // no handler for it: the library answers 404
    const good = await emu.invokeMethod(id, 'setLed', { on: true }, { timeoutMs: 10_000 });
    expect(good).toMatchObject({ status: 200, payload: { led: true } });
    emu.updateDesired(id, { telemetryIntervalMs: 1500 });
    const r = await exited;
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('waiting up to 20 s: invoke setLed and change desired telemetryIntervalMs');
    expect(r.stdout).toContain('method setLed: the LED is on');
    expect(emu.getTwin(id).reported['telemetryIntervalMs']).toBe(1500);
  });

  it('as a program: gives up after EXAMPLE_WAIT_SECONDS with a clear error and exit 1', async () => {
    const env = { ...(await hubEnv(emu, dir)), ...sasEnv(emu, 'env-twin-idle'), EXAMPLE_WAIT_SECONDS: '1' };
    const gone = emu.waitFor('disconnect', (d) => d.clientId === 'env-twin-idle', 20_000);
    const r = await runExample('twin-and-methods', env);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('error: no method call and desired change within 1 s\n');
    expect((await gone).graceful).toBe(true); // the failure still disconnects cleanly
  });
});
