/**
 * `DpsProvisioner` and `hubSasKey`: the hub key after DPS, the default store, and what `load()` does with whatever a
 * store returns (never a rejection).
 */
import { createHmac } from 'node:crypto';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../../../src/azure/config.js';
import { DPS_CHANNELS, type DpsWarningMessage } from '../../../src/azure/dps/diagnostics.js';
import { FileDpsStore } from '../../../src/azure/dps/file-store.js';
import { MemoryDpsStore } from '../../../src/azure/dps/memory-store.js';
import { DpsProvisioner, hubSasKey } from '../../../src/azure/dps/provisioner.js';
import type { AzureIotHubConfig, DpsStore } from '../../../src/azure/types.js';

const KEY = Buffer.alloc(32, 9).toString('base64');
const OTHER = Buffer.alloc(32, 4).toString('base64');

function provisioner(config: AzureIotHubConfig): DpsProvisioner {
  const cfg = resolveConfig(config);
  return new DpsProvisioner(cfg, cfg.dps!);
}

describe('hubSasKey', () => {
  it('is config.sasKey when set, else the DPS key (derived for a group), else none (X.509 or no DPS key)', () => {
    const derived = createHmac('sha256', Buffer.from(KEY, 'base64')).update('reg-1').digest('base64');
    expect(hubSasKey(resolveConfig({ deviceId: 'd', dps: { idScope: 's', symmetricKey: KEY } }))).toBe(KEY);
    expect(hubSasKey(resolveConfig({ deviceId: 'd', dps: { idScope: 's', symmetricKey: KEY, groupKey: true, registrationId: 'reg-1' } }))).toBe(derived);
    expect(hubSasKey(resolveConfig({ deviceId: 'd', sasKey: OTHER, dps: { idScope: 's', symmetricKey: KEY } }))).toBe(OTHER);
    expect(hubSasKey(resolveConfig({ deviceId: 'd', hostname: 'h', sasKey: OTHER }))).toBe(OTHER);
    const pemCert = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
    const pemKey = '-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n';
    expect(hubSasKey(resolveConfig({ deviceId: 'd', credentials: { cert: pemCert, key: pemKey }, dps: { idScope: 's' } }))).toBeUndefined();
  });
});

describe('DpsProvisioner', () => {
  it('uses the configured store, else a file store at storePath, else at the default path', () => {
    const store = new MemoryDpsStore();
    expect(provisioner({ deviceId: 'd', dps: { idScope: 's', symmetricKey: KEY, store } }).store).toBe(store);
    const at = provisioner({ deviceId: 'd', dps: { idScope: 's', symmetricKey: KEY, storePath: 'x/y.json' } }).store;
    expect(at).toBeInstanceOf(FileDpsStore);
    expect((at as FileDpsStore).path).toBe(resolve('x/y.json'));
    const def = provisioner({ deviceId: 'd', dps: { idScope: 's', symmetricKey: KEY, registrationId: 'reg-9' } }).store;
    expect((def as FileDpsStore).path).toBe(resolve('.azure-iot-hub/dps-reg-9.json'));
  });

  it('load(): what the store returns when it fits the config; undefined (with a warning) otherwise; never rejects', async () => {
    const good = { idScope: 's', registrationId: 'd', assignedHub: 'hub.azure-devices.net', deviceId: 'dev' };
    const cases: [unknown, RegExp | undefined][] = [
      [good, undefined],
      [undefined, undefined],
      [null, undefined],
      ['a string', /not a JSON object/],
      [{ ...good, deviceId: 5 }, /deviceId is missing/],
      [{ ...good, idScope: 'other' }, /id scope other/],
      [{ ...good, registrationId: 'other' }, /registration id other/],
    ];
    const seen: DpsWarningMessage[] = [];
    const listener = (m: unknown): void => {
      seen.push(m as DpsWarningMessage);
    };
    subscribe(DPS_CHANNELS.warning, listener);
    try {
      for (const [value, warning] of cases) {
        const store: DpsStore = { load: () => Promise.resolve(value as never), save: () => Promise.resolve(), clear: () => Promise.resolve() };
        const before = seen.length;
        const loaded = await provisioner({ deviceId: 'd', dps: { idScope: 's', symmetricKey: KEY, store } }).load();
        expect(loaded).toEqual(value === good ? good : undefined);
        if (warning === undefined) expect(seen.length).toBe(before);
        else expect(seen.at(-1)?.message).toMatch(warning);
      }
      const failing: DpsStore = { load: () => Promise.reject(new Error('boom')), save: () => Promise.resolve(), clear: () => Promise.resolve() };
      expect(await provisioner({ deviceId: 'd', dps: { idScope: 's', symmetricKey: KEY, store: failing } }).load()).toBeUndefined();
      expect(seen.at(-1)).toMatchObject({ message: expect.stringMatching(/could not be read/) as string, error: expect.objectContaining({ message: 'boom' }) as Error });
    } finally {
      unsubscribe(DPS_CHANNELS.warning, listener);
    }
  });

  it('save() and clear() turn store failures into coded errors (EIO), keeping coded ones', async () => {
    const store: DpsStore = {
      load: () => Promise.resolve(undefined),
      save: () => Promise.reject(new Error('disk full')),
      clear: () => Promise.reject(Object.assign(new Error('x'), { code: 'EPERM' })),
    };
    const p = provisioner({ deviceId: 'd', dps: { idScope: 's', symmetricKey: KEY, store } });
    await expect(p.save({ assignedHub: 'h', deviceId: 'd' }, 0)).rejects.toMatchObject({ code: 'EIO', message: expect.stringMatching(/disk full/) as string });
    await expect(p.clear()).rejects.toMatchObject({ code: 'EIO' });
    const mem = new MemoryDpsStore();
    const q = provisioner({ deviceId: 'd', dps: { idScope: 's', symmetricKey: KEY, store: mem } });
    await q.save({ assignedHub: 'hub.azure-devices.net', deviceId: 'dev', payload: { big: true } }, Date.UTC(2024, 1, 2));
    expect(mem.assignment).toEqual({ idScope: 's', registrationId: 'd', assignedHub: 'hub.azure-devices.net', deviceId: 'dev', assignedAt: '2024-02-02T00:00:00.000Z' });
  });
});
