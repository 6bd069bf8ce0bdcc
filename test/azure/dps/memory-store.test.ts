/**
 * `MemoryDpsStore`: copies in and out, counters, validation.
 */
import { describe, expect, it } from 'vitest';
import { MemoryDpsStore } from '../../../src/azure/dps/memory-store.js';
import type { DpsAssignment } from '../../../src/azure/types.js';

const A: DpsAssignment = { idScope: '0ne00000001', registrationId: 'dev-1', assignedHub: 'hub.azure-devices.net', deviceId: 'dev-1' };

describe('MemoryDpsStore', () => {
  it('starts empty or with the given assignment; save, load, clear; counts saves and clears', async () => {
    const empty = new MemoryDpsStore();
    expect(await empty.load()).toBeUndefined();
    const store = new MemoryDpsStore(A);
    expect(await store.load()).toEqual(A);
    await store.save({ ...A, deviceId: 'dev-2' });
    expect(store.assignment?.deviceId).toBe('dev-2');
    await store.clear();
    expect(await store.load()).toBeUndefined();
    expect([store.saves, store.clears]).toEqual([1, 1]);
  });

  it('keeps copies: changing what was saved or loaded changes nothing stored', async () => {
    const given = { ...A };
    const store = new MemoryDpsStore();
    await store.save(given);
    given.deviceId = 'changed';
    const loaded = (await store.load())!;
    loaded.assignedHub = 'other.azure-devices.net';
    expect(await store.load()).toEqual(A);
  });

  it('refuses an invalid assignment with EINVAL (constructor throws, save rejects)', async () => {
    expect(() => new MemoryDpsStore({ ...A, deviceId: '' })).toThrow(expect.objectContaining({ code: 'EINVAL' }) as Error);
    const store = new MemoryDpsStore(A);
    await expect(store.save({ ...A, assignedHub: 'a b' })).rejects.toMatchObject({ code: 'EINVAL' });
    expect(await store.load()).toEqual(A);
    expect(store.saves).toBe(0);
  });
});
