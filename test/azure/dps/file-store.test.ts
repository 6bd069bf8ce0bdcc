/**
 * `FileDpsStore`: round trip, the file format, atomic replacement (no temporary file left, never half a file),
 * permissions, a corrupt or foreign file as "no assignment" with a warning, I/O errors as `EIO`, `clear()`, and the
 * default path.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DPS_CHANNELS } from '../../../src/azure/dps/diagnostics.js';
import {
  defaultDpsStorePath,
  FileDpsStore,
  parseDpsAssignmentFile,
  serializeDpsAssignment,
} from '../../../src/azure/dps/file-store.js';
import type { DpsAssignment } from '../../../src/azure/types.js';

const A: DpsAssignment = {
  idScope: '0ne00000001',
  registrationId: 'dev-1',
  assignedHub: 'hub-a.azure-devices.net',
  deviceId: 'dev-1-hub',
  assignedAt: '2024-05-01T12:00:00.000Z',
};
let dir: string;
let n = 0;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dps-file-store-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function fresh(): string {
  return join(dir, `case-${++n}`, 'nested', 'dps.json');
}

describe('FileDpsStore', () => {
  it('has no assignment before the first save; saves, loads, replaces', async () => {
    const store = new FileDpsStore(fresh());
    expect(await store.load()).toBeUndefined();
    await store.save(A);
    expect(await store.load()).toEqual(A);
    const moved = { ...A, assignedHub: 'hub-b.azure-devices.net' };
    await store.save(moved);
    expect(await new FileDpsStore(store.path).load()).toEqual(moved);
  });

  it('writes the documented format, version 1, with nothing but the assignment', async () => {
    const store = new FileDpsStore(fresh());
    await store.save({ ...A, extra: 'dropped' } as DpsAssignment);
    const text = await readFile(store.path, 'utf8');
    expect(JSON.parse(text)).toEqual({ version: 1, ...A });
    expect(text).toBe(serializeDpsAssignment(A));
    expect(text.endsWith('}\n')).toBe(true);
  });

  it('replaces the file atomically: no temporary file is left, the file is 0600 in a 0700 folder', async () => {
    const store = new FileDpsStore(fresh());
    await Promise.all([1, 2, 3, 4, 5].map((i) => store.save({ ...A, deviceId: `dev-${i}` })));
    const folder = resolve(store.path, '..');
    expect(await readdir(folder)).toEqual(['dps.json']);
    // Whichever save won, the file is one whole assignment.
    expect((await store.load())?.deviceId).toMatch(/^dev-[1-5]$/);
    if (process.platform !== 'win32') {
      expect((await stat(store.path)).mode & 0o777).toBe(0o600);
      expect((await stat(folder)).mode & 0o777).toBe(0o700);
    }
  });

  it('treats a corrupt or foreign file as no assignment, with a warning on the channel and to onWarning', async () => {
    const path = fresh();
    await mkdir(resolve(path, '..'), { recursive: true });
    const seen: unknown[] = [];
    const warned: string[] = [];
    const listener = (m: unknown): void => {
      seen.push(m);
    };
    subscribe(DPS_CHANNELS.warning, listener);
    try {
      const store = new FileDpsStore(path, { onWarning: (m) => warned.push(m) });
      for (const [content, why] of [
        ['{"version":1,"idSc', /not JSON/],
        ['[1,2]', /not a JSON object/],
        ['{"version":2,"idScope":"s"}', /unsupported version 2/],
        [JSON.stringify({ ...A, version: 1, deviceId: 'a#b' }), /deviceId is missing or invalid/],
        [JSON.stringify({ ...A, version: 1, assignedHub: undefined }), /assignedHub is missing/],
        ['', /not JSON/],
      ] as const) {
        await writeFile(path, content);
        expect(await store.load()).toBeUndefined();
        expect(warned.at(-1)).toMatch(why);
      }
      expect(seen).toHaveLength(6);
      expect(seen[0]).toEqual({ message: expect.stringContaining(path) as string, path });
      // A save repairs it.
      await store.save(A);
      expect(await store.load()).toEqual(A);
    } finally {
      unsubscribe(DPS_CHANNELS.warning, listener);
    }
  });

  it('a throwing onWarning does not turn a warning into a failure', async () => {
    const path = fresh();
    await mkdir(resolve(path, '..'), { recursive: true });
    await writeFile(path, 'garbage');
    const store = new FileDpsStore(path, {
      onWarning: () => {
        throw new Error('nope');
      },
    });
    expect(await store.load()).toBeUndefined();
  });

  it('reports I/O failures as EIO (never a crash), and refuses to store an invalid assignment', async () => {
    const folderAsFile = fresh();
    await mkdir(folderAsFile, { recursive: true }); // a folder where the file should be
    const store = new FileDpsStore(folderAsFile);
    await expect(store.load()).rejects.toMatchObject({ code: 'EIO' });
    await expect(store.save(A)).rejects.toMatchObject({ code: 'EIO' });
    await expect(store.clear()).rejects.toMatchObject({ code: 'EIO' });
    await expect(new FileDpsStore(fresh()).save({ ...A, assignedHub: '' })).rejects.toMatchObject({ code: 'EINVAL' });
    expect(() => new FileDpsStore('')).toThrow(expect.objectContaining({ code: 'EINVAL' }) as Error);
    if (process.platform !== 'win32' && process.getuid?.() !== 0) {
      const locked = join(dir, 'locked');
      await mkdir(locked, { mode: 0o500 });
      try {
        await expect(new FileDpsStore(join(locked, 'dps.json')).save(A)).rejects.toMatchObject({ code: 'EIO' });
        expect(await readdir(locked)).toEqual([]);
      } finally {
        await chmod(locked, 0o700);
      }
    }
  });

  it('clear() deletes the file and is idempotent', async () => {
    const store = new FileDpsStore(fresh());
    await store.clear();
    await store.save(A);
    await store.clear();
    expect(await store.load()).toBeUndefined();
    await store.clear();
  });

  it('defaults to .azure-iot-hub/dps-{registrationId}.json under the working directory; ":" becomes %3A', () => {
    expect(defaultDpsStorePath('dev-1')).toBe(resolve('.azure-iot-hub', 'dps-dev-1.json'));
    expect(defaultDpsStorePath('a:b:c', '/srv/app')).toBe(resolve('/srv/app', '.azure-iot-hub', 'dps-a%3Ab%3Ac.json'));
    expect(new FileDpsStore('relative/dps.json').path).toBe(resolve('relative/dps.json'));
  });

  it('parseDpsAssignmentFile: a clean copy or the reason', () => {
    expect(parseDpsAssignmentFile(serializeDpsAssignment(A))).toEqual(A);
    const { assignedAt: _drop, ...noTime } = A;
    expect(parseDpsAssignmentFile(JSON.stringify({ version: 1, ...noTime }))).toEqual(noTime);
    expect(parseDpsAssignmentFile('{"idScope":"s"}')).toBe('unsupported version undefined');
    expect(parseDpsAssignmentFile(JSON.stringify({ version: 1, ...A, assignedAt: 5 }))).toBe('assignedAt is not a string');
    expect(parseDpsAssignmentFile(JSON.stringify({ version: 1, ...A, registrationId: 'bad id' }))).toBe('registrationId is missing or invalid');
    expect(parseDpsAssignmentFile(JSON.stringify({ version: 1, ...A, idScope: 'a/b' }))).toBe('idScope is missing or invalid');
  });
});
