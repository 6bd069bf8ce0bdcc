/**
 * The remembered DPS assignment in the client: the next start goes straight to the hub (no DPS traffic),
 * `dpsReset()` provisions again, a stored hub that refuses the device triggers one fresh provisioning (and a second
 * refusal is final), the default file store and its path, a config change invalidates the assignment, a corrupt
 * file is a warning, and a client without DPS is not affected by a stored assignment.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DPS_CHANNELS, type DpsWarningMessage } from '../../../src/azure/dps/diagnostics.js';
import { defaultDpsStorePath, FileDpsStore } from '../../../src/azure/dps/file-store.js';
import { MemoryDpsStore } from '../../../src/azure/dps/memory-store.js';
import type { DpsAssignment, DpsStore } from '../../../src/azure/types.js';
import { startEmulator, type Emulator } from '../../../src/emulator/emulator.js';
import { closeClients, configFor, createClient, sasDevice } from '../client/harness.js';
import { dpsConfig, dpsPackets, dpsRequests, keyOf } from './helpers.js';

const HUB_A = 'hub-a.azure-devices.net';
const HUB_B = 'hub-b.azure-devices.net';
let emu: Emulator;
let dir: string;

beforeAll(async () => {
  emu = await startEmulator({ hubs: [HUB_A, HUB_B], firmware: false, dpsRetryAfterSeconds: 0 });
  dir = await mkdtemp(join(tmpdir(), 'dps-store-'));
});

afterEach(async () => {
  await closeClients();
  emu.faults.reset();
});

afterAll(async () => {
  await emu.close();
  await rm(dir, { recursive: true, force: true });
});

function warnings(): { messages: DpsWarningMessage[]; stop: () => void } {
  const messages: DpsWarningMessage[] = [];
  const listener = (m: unknown): void => {
    messages.push(m as DpsWarningMessage);
  };
  subscribe(DPS_CHANNELS.warning, listener);
  return { messages, stop: () => unsubscribe(DPS_CHANNELS.warning, listener) };
}

/** Provision `regId` with a fresh client using `store`, wait for READY, disconnect. */
async function provisionOnce(regId: string, key: string, store: DpsStore): Promise<void> {
  const { hub, rec } = createClient(dpsConfig(emu, regId, { symmetricKey: key }, store));
  await hub.connect();
  await rec.waitFor('READY');
  await hub.disconnect();
}

describe('the stored DPS assignment', () => {
  it('is reused on the next start: straight to the hub, no DPS traffic', async () => {
    const e = emu.addEnrollment({ registrationId: 'reuse-1', attestation: { type: 'sas' }, assignedHub: HUB_B, deviceId: 'reuse-1-dev' });
    const store = new MemoryDpsStore();
    await provisionOnce('reuse-1', keyOf(e), store);
    expect(store.saves).toBe(1);
    const registrations = emu.dpsRegistrations().length;
    const dpsLog = dpsPackets(emu, 'reuse-1').length;

    const { hub, rec } = createClient(dpsConfig(emu, 'reuse-1', { symmetricKey: keyOf(e) }, store));
    await hub.connect();
    await rec.waitFor('READY');
    expect(rec.types()).toEqual(['CONNECTING', 'CONNECTED', 'READY']);
    expect(emu.dpsRegistrations()).toHaveLength(registrations);
    expect(dpsPackets(emu, 'reuse-1')).toHaveLength(dpsLog);
    expect(hub.hubHostname).toBe(HUB_B);
    expect(hub.deviceId).toBe('reuse-1-dev'); // the stored device id, not the registration id
    expect(emu.isConnected('reuse-1-dev', HUB_B)).toBe(true);
  });

  it('dpsReset() clears it: the next connect() provisions again', async () => {
    const e = emu.addEnrollment({ registrationId: 'reset-1', attestation: { type: 'sas' } });
    const store = new MemoryDpsStore();
    const { hub, rec } = createClient(dpsConfig(emu, 'reset-1', { symmetricKey: keyOf(e) }, store));
    await hub.connect();
    await rec.waitFor('READY');
    await hub.dpsReset(); // while connected: the connection stays up
    expect(store.assignment).toBeUndefined();
    expect(hub.state).toBe('CONNECTED');
    await hub.disconnect();
    const since = rec.mark();
    await hub.connect();
    await rec.waitFor('READY', { since });
    expect(rec.types(since)).toEqual(['DPS_CONNECTING', 'DPS_REGISTERING', 'DPS_DONE', 'CONNECTING', 'CONNECTED', 'READY']);
    expect(dpsRequests(emu, 'reset-1').filter((t) => t.includes('iotdps-register'))).toHaveLength(2);
    expect(store.assignment?.assignedHub).toBe(HUB_A);
  });

  it('dpsReset() without DPS is EINVAL', async () => {
    const device = sasDevice(emu, 'no-dps-reset');
    const { hub } = createClient(configFor(emu, device));
    await expect(hub.dpsReset()).rejects.toMatchObject({ code: 'EINVAL' });
  });

  it('a stored hub that refuses the device (CONNACK 5) triggers one fresh provisioning, then the new hub', async () => {
    const e = emu.addEnrollment({ registrationId: 'stale-1', attestation: { type: 'sas' }, assignedHub: HUB_A });
    const store = new MemoryDpsStore();
    await provisionOnce('stale-1', keyOf(e), store);
    expect(store.assignment?.assignedHub).toBe(HUB_A);
    // The device moves to hub B and is deleted from hub A.
    emu.addEnrollment({ registrationId: 'stale-1', attestation: { type: 'sas', primaryKey: keyOf(e) }, assignedHub: HUB_B });
    emu.removeDevice('stale-1', HUB_A);

    const { hub, rec } = createClient(dpsConfig(emu, 'stale-1', { symmetricKey: keyOf(e) }, store));
    await hub.connect(); // resolves when CONNECT to the stored hub is sent
    await rec.waitFor('READY');
    expect(rec.types()).toEqual([
      'CONNECTING', 'CONNECTION_FAILED', 'DPS_CONNECTING', 'DPS_REGISTERING', 'DPS_DONE', 'CONNECTING', 'CONNECTED', 'READY',
    ]);
    expect((await rec.waitFor('CONNECTION_FAILED')).data.err).toBe(5);
    expect(hub.hubHostname).toBe(HUB_B);
    expect(store.assignment?.assignedHub).toBe(HUB_B);
    expect(store.clears).toBe(1);
    expect(emu.isConnected('stale-1', HUB_B)).toBe(true);
  });

  it('a second refusal is final: CONNECTION_FAILED, INIT, and only one extra provisioning', async () => {
    const e = emu.addEnrollment({ registrationId: 'stale-2', attestation: { type: 'sas' } });
    // A stored assignment for a hub where the device does not exist.
    const store = new MemoryDpsStore({ idScope: emu.dps.idScope, registrationId: 'stale-2', assignedHub: HUB_B, deviceId: 'stale-2' });
    const { hub, rec } = createClient(dpsConfig(emu, 'stale-2', { symmetricKey: keyOf(e) }, store));
    emu.faults.refuseNextConnect('stale-2', 5, 2); // the stored hub, then the newly assigned hub too
    await hub.connect();
    await rec.waitFor('CONNECTION_FAILED', { since: 2 });
    await until(() => hub.state === 'INIT');
    expect(rec.types()).toEqual([
      'CONNECTING', 'CONNECTION_FAILED', 'DPS_CONNECTING', 'DPS_REGISTERING', 'DPS_DONE', 'CONNECTING', 'CONNECTION_FAILED',
    ]);
    expect(dpsRequests(emu, 'stale-2').filter((t) => t.includes('iotdps-register'))).toHaveLength(1);
    // The fresh assignment is kept: the next connect() goes to it without DPS.
    expect(store.assignment?.assignedHub).toBe(HUB_A);
  });

  it('disconnect() during the stale-hub re-provisioning cancels it: DPS_FAILED (ECANCELED), DISCONNECTED, INIT', async () => {
    const e = emu.addEnrollment({ registrationId: 'stale-3', attestation: { type: 'sas' } });
    const store = new MemoryDpsStore({ idScope: emu.dps.idScope, registrationId: 'stale-3', assignedHub: HUB_B, deviceId: 'stale-3' });
    const { hub, rec } = createClient(dpsConfig(emu, 'stale-3', { symmetricKey: keyOf(e) }, store));
    emu.faults.dpsStopAnswering(true);
    await hub.connect();
    await rec.waitFor('DPS_REGISTERING');
    expect(hub.state).toBe('CONNECTING');
    await hub.disconnect();
    expect(hub.state).toBe('INIT');
    expect(rec.types()).toEqual(['CONNECTING', 'CONNECTION_FAILED', 'DPS_CONNECTING', 'DPS_REGISTERING', 'DPS_FAILED', 'DISCONNECTED']);
    expect((await rec.waitFor('DPS_FAILED')).data.err.code).toBe('ECANCELED');
    expect(store.assignment).toBeUndefined(); // cleared: the next connect() provisions
  });

  it('a freshly provisioned hub that refuses the device is final at once (no loop)', async () => {
    const e = emu.addEnrollment({ registrationId: 'fresh-refused', attestation: { type: 'sas' } });
    const { hub, rec } = createClient(dpsConfig(emu, 'fresh-refused', { symmetricKey: keyOf(e) }, new MemoryDpsStore()));
    emu.faults.refuseNextConnect('fresh-refused', 5, 1);
    await hub.connect();
    await rec.waitFor('CONNECTION_FAILED');
    await until(() => hub.state === 'INIT');
    expect(rec.types()).toEqual(['DPS_CONNECTING', 'DPS_REGISTERING', 'DPS_DONE', 'CONNECTING', 'CONNECTION_FAILED']);
  });

  it('a stored hub that refuses for another reason (CONNACK 3) is not re-provisioned', async () => {
    const e = emu.addEnrollment({ registrationId: 'busy-hub', attestation: { type: 'sas' } });
    const store = new MemoryDpsStore();
    await provisionOnce('busy-hub', keyOf(e), store);
    const { hub, rec } = createClient(dpsConfig(emu, 'busy-hub', { symmetricKey: keyOf(e) }, store));
    emu.faults.refuseNextConnect('busy-hub', 3, 1);
    await hub.connect();
    expect((await rec.waitFor('CONNECTION_FAILED')).data.err).toBe(3);
    await until(() => hub.state === 'INIT');
    expect(rec.types()).toEqual(['CONNECTING', 'CONNECTION_FAILED']);
    expect(store.clears).toBe(0);
  });

  it('an assignment for another registration id or id scope is ignored (with a warning) and replaced', async () => {
    const e = emu.addEnrollment({ registrationId: 'changed-1', attestation: { type: 'sas' } });
    const store = new MemoryDpsStore({ idScope: emu.dps.idScope, registrationId: 'someone-else', assignedHub: HUB_B, deviceId: 'x' });
    const w = warnings();
    try {
      const { hub, rec } = createClient(dpsConfig(emu, 'changed-1', { symmetricKey: keyOf(e) }, store));
      await hub.connect();
      await rec.waitFor('READY');
      expect(rec.types()[0]).toBe('DPS_CONNECTING');
      expect(w.messages.map((m) => m.message)).toEqual([expect.stringMatching(/registration id someone-else/)]);
      expect(store.assignment).toMatchObject({ registrationId: 'changed-1', assignedHub: HUB_A });
      await hub.disconnect();
      await store.save({ idScope: '0ne99999999', registrationId: 'changed-1', assignedHub: HUB_B, deviceId: 'changed-1' });
      const since = rec.mark();
      await hub.connect();
      await rec.waitFor('READY', { since });
      expect(rec.types(since)[0]).toBe('DPS_CONNECTING');
      expect(w.messages.at(-1)?.message).toMatch(/id scope 0ne99999999/);
    } finally {
      w.stop();
    }
  });

  it('a store whose load() rejects counts as empty; a save() failure is an ERROR event, not a failure', async () => {
    const e = emu.addEnrollment({ registrationId: 'bad-store', attestation: { type: 'sas' } });
    const store: DpsStore = {
      load: () => Promise.reject(new Error('disk on fire')),
      save: () => Promise.reject(new Error('read-only file system')),
      clear: () => Promise.resolve(),
    };
    const { hub, rec } = createClient(dpsConfig(emu, 'bad-store', { symmetricKey: keyOf(e) }, store));
    await hub.connect();
    await rec.waitFor('READY');
    expect(rec.types()).toEqual(['DPS_CONNECTING', 'DPS_REGISTERING', 'DPS_DONE', 'ERROR', 'CONNECTING', 'CONNECTED', 'READY']);
    expect((await rec.waitFor('ERROR')).data.err).toMatchObject({ code: 'EIO', message: expect.stringMatching(/could not be stored: read-only/) as string });
  });

  it('the default file store: .azure-iot-hub/dps-{registrationId}.json in the working directory, reused next time', async () => {
    const e = emu.addEnrollment({ registrationId: 'file:dev-1', attestation: { type: 'sas' } });
    const cwd = await mkdtemp(join(dir, 'cwd-'));
    const previous = process.cwd();
    process.chdir(cwd);
    let cfg;
    try {
      cfg = dpsConfig(emu, 'file-dev-1', { symmetricKey: keyOf(e) }, undefined, { dps: { registrationId: 'file:dev-1' } });
      const { hub, rec } = createClient(cfg);
      await hub.connect();
      await rec.waitFor('READY');
      await hub.disconnect();
    } finally {
      process.chdir(previous);
    }
    const path = defaultDpsStorePath('file:dev-1', cwd);
    expect(path).toBe(join(cwd, '.azure-iot-hub', 'dps-file%3Adev-1.json'));
    const doc = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
    expect(doc).toMatchObject({ version: 1, idScope: emu.dps.idScope, registrationId: 'file:dev-1', assignedHub: HUB_A, deviceId: 'file:dev-1' });
    expect(JSON.stringify(doc)).not.toContain(keyOf(e));

    // The next start (from another working directory: the path was fixed at init) uses it without DPS.
    const registrations = emu.dpsRegistrations().length;
    const { hub, rec } = createClient({ ...cfg, dps: { ...cfg.dps!, storePath: path } });
    await hub.connect();
    await rec.waitFor('READY');
    expect(rec.types()).toEqual(['CONNECTING', 'CONNECTED', 'READY']);
    expect(emu.dpsRegistrations()).toHaveLength(registrations);
  });

  it('a corrupt store file: a warning, provisioning again, and the file repaired', async () => {
    const e = emu.addEnrollment({ registrationId: 'corrupt-1', attestation: { type: 'sas' } });
    const path = join(dir, 'corrupt', 'dps.json');
    await mkdir(join(dir, 'corrupt'));
    await writeFile(path, '{"version":1,"idScope":');
    const w = warnings();
    try {
      const { hub, rec } = createClient(dpsConfig(emu, 'corrupt-1', { symmetricKey: keyOf(e) }, undefined, { dps: { storePath: path } }));
      await hub.connect();
      await rec.waitFor('READY');
      expect(rec.types()[0]).toBe('DPS_CONNECTING');
      expect(w.messages).toEqual([{ message: expect.stringMatching(/ignoring the DPS store .*: not JSON/) as string, path }]);
      expect(await new FileDpsStore(path).load()).toMatchObject({ registrationId: 'corrupt-1', assignedHub: HUB_A });
    } finally {
      w.stop();
    }
  });

  it('a client without DPS ignores any stored assignment', async () => {
    const device = sasDevice(emu, 'plain-1');
    const cwd = await mkdtemp(join(dir, 'plain-'));
    const stored: DpsAssignment = { idScope: emu.dps.idScope, registrationId: 'plain-1', assignedHub: HUB_B, deviceId: 'plain-1' };
    await new FileDpsStore(defaultDpsStorePath('plain-1', cwd)).save(stored);
    const previous = process.cwd();
    process.chdir(cwd);
    try {
      const { hub, rec } = createClient(configFor(emu, device, { autoTwinRequest: false }));
      await hub.connect();
      await rec.waitFor('READY');
      expect(hub.hubHostname).toBe(emu.hub.host);
      expect(rec.types()).toEqual(['CONNECTING', 'CONNECTED', 'READY']);
    } finally {
      process.chdir(previous);
    }
    expect(await new FileDpsStore(defaultDpsStorePath('plain-1', cwd)).load()).toEqual(stored);
  });
});

async function until(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 2));
  }
}
