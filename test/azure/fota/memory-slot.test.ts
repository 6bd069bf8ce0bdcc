/** The in-memory firmware slot used by tests and by applications that forward the image elsewhere. */
import { describe, expect, it } from 'vitest';
import { MemoryFirmwareSlot } from '../../../src/azure/fota/memory-slot.js';

describe('MemoryFirmwareSlot', () => {
  it('counts contiguous bytes, copies written data and reads it back', async () => {
    const slot = new MemoryFirmwareSlot();
    await slot.erase('id-1');
    const data = new Uint8Array([1, 2, 3, 4]);
    await slot.write(0, data);
    data[0] = 99;
    await slot.write(10, new Uint8Array([7]));
    expect(await slot.size()).toBe(4);
    await slot.write(4, new Uint8Array(6));
    expect(await slot.size()).toBe(10);
    expect([...(await slot.read(0, 4))]).toEqual([1, 2, 3, 4]);
    expect([...slot.image()]).toEqual([1, 2, 3, 4, 0, 0, 0, 0, 0, 0]);
    expect((await slot.read(8, 100)).length).toBe(3);
    expect(await slot.imageId()).toBe('id-1');
    expect(slot.writes).toEqual([
      [0, 4],
      [10, 1],
      [4, 6],
    ]);
  });

  it('erase clears the image, the id and the finalized record', async () => {
    const slot = new MemoryFirmwareSlot();
    await slot.write(0, new Uint8Array(5000));
    await slot.finalize({ version: 'v', size: 5000, sha256: 'x' });
    await slot.erase();
    expect(await slot.size()).toBe(0);
    expect(slot.image().length).toBe(0);
    expect(slot.finalized).toBeUndefined();
    expect(await slot.imageId()).toBeUndefined();
    expect(slot.erases).toBe(1);
  });

  it('is bounded: a write past maxBytes fails with EMSGSIZE; a negative offset with EINVAL', async () => {
    const slot = new MemoryFirmwareSlot({ maxBytes: 100 });
    await slot.write(0, new Uint8Array(100));
    await expect(slot.write(100, new Uint8Array(1))).rejects.toMatchObject({ code: 'EMSGSIZE' });
    await expect(slot.write(-1, new Uint8Array(1))).rejects.toMatchObject({ code: 'EINVAL' });
    expect(await slot.size()).toBe(100);
  });
});
