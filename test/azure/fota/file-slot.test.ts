/**
 * The file firmware slot: erase, positional writes, contiguous size, read-back, the progress sidecar (resume after a
 * restart, also through a real HTTPS download) and the finalize manifest.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FirmwareDownload } from '../../../src/azure/fota/download.js';
import { FileFirmwareSlot } from '../../../src/azure/fota/file-slot.js';
import { createCa, createServerCertificate, type CertificateAndKey } from '../../../src/emulator/certs.js';
import { FirmwareServer } from '../../../src/emulator/firmware-server.js';
import { AzureIotHubError } from '../../../src/errors.js';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fota-file-slot-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function bytes(n: number, start = 0): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (start + i) & 0xff);
}

describe('FileFirmwareSlot', () => {
  it('erase creates an empty image, saves the sidecar with the image id and removes an old manifest', async () => {
    const path = join(dir, 'slot.bin');
    await writeFile(`${path}.json`, '{"version":"old","size":1,"sha256":"x"}');
    const slot = new FileFirmwareSlot(path);
    await slot.erase('img-1');
    expect((await readFile(path)).length).toBe(0);
    expect(JSON.parse(await readFile(`${path}.part.json`, 'utf8'))).toEqual({ size: 0, imageId: 'img-1' });
    await expect(readFile(`${path}.json`)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await slot.imageId()).toBe('img-1');
    expect(await slot.size()).toBe(0);
  });

  it('erase creates the folder of the image when it does not exist yet', async () => {
    const path = join(dir, 'new', 'nested', 'slot.bin');
    const slot = new FileFirmwareSlot(path);
    await slot.erase('img-2');
    await slot.write(0, bytes(10));
    expect(await slot.size()).toBe(10);
    expect((await readFile(path)).length).toBe(10);
  });

  it('writes at offsets; size counts contiguous bytes only; read returns what was written', async () => {
    const slot = new FileFirmwareSlot(join(dir, 'slot.bin'));
    await slot.erase();
    await slot.write(0, bytes(100));
    expect(await slot.size()).toBe(100);
    await slot.write(200, bytes(50, 200));
    expect(await slot.size()).toBe(100);
    await slot.write(100, bytes(100, 100));
    // The gap was filled, but the bytes written past it earlier are not counted (sequential writes only count).
    expect(await slot.size()).toBe(200);
    await slot.write(50, bytes(10, 50));
    expect(await slot.size()).toBe(200);
    expect([...(await slot.read(95, 10))]).toEqual([...bytes(10, 95)]);
    expect((await slot.read(240, 100)).length).toBe(10);
  });

  it('a write before any erase creates the file', async () => {
    const path = join(dir, 'fresh.bin');
    const slot = new FileFirmwareSlot(path);
    await slot.write(0, bytes(10));
    expect((await readFile(path)).length).toBe(10);
    expect(await slot.size()).toBe(10);
  });

  it('resume survives a restart: a new instance reads size and image id from the sidecar', async () => {
    const path = join(dir, 'slot.bin');
    const slot = new FileFirmwareSlot(path, { persistEveryBytes: 0 });
    await slot.erase('img-2');
    await slot.write(0, bytes(300));
    const again = new FileFirmwareSlot(path);
    expect(await again.size()).toBe(300);
    expect(await again.imageId()).toBe('img-2');
  });

  it('persistEveryBytes throttles sidecar writes; flush saves now', async () => {
    const path = join(dir, 'slot.bin');
    const slot = new FileFirmwareSlot(path, { persistEveryBytes: 100 });
    await slot.erase('img');
    await slot.write(0, bytes(50));
    expect(await new FileFirmwareSlot(path).size()).toBe(0);
    await slot.write(50, bytes(60));
    expect(await new FileFirmwareSlot(path).size()).toBe(110);
    await slot.write(110, bytes(5));
    expect(await new FileFirmwareSlot(path).size()).toBe(110);
    await slot.flush();
    expect(await new FileFirmwareSlot(path).size()).toBe(115);
  });

  it('trusts the smaller of the sidecar and the data file (sidecar ahead after a power loss)', async () => {
    const path = join(dir, 'slot.bin');
    const slot = new FileFirmwareSlot(path, { persistEveryBytes: 0 });
    await slot.erase('img');
    await slot.write(0, bytes(500));
    await truncate(path, 120);
    expect(await new FileFirmwareSlot(path).size()).toBe(120);
  });

  it('a corrupt or missing sidecar means nothing to resume', async () => {
    const path = join(dir, 'slot.bin');
    await writeFile(path, bytes(100));
    expect(await new FileFirmwareSlot(path).size()).toBe(0);
    await writeFile(`${path}.part.json`, '{oops');
    const slot = new FileFirmwareSlot(path);
    expect(await slot.size()).toBe(0);
    expect(await slot.imageId()).toBeUndefined();
  });

  it('finalize writes <path>.json with version, size and sha256; pending() reads it', async () => {
    const path = join(dir, 'slot.bin');
    const slot = new FileFirmwareSlot(path);
    expect(await slot.pending()).toBeUndefined();
    await slot.erase('img');
    await slot.write(0, bytes(64));
    const sha256 = createHash('sha256').update(bytes(64)).digest('hex');
    await slot.finalize({ version: 'v2', size: 64, sha256 });
    expect(JSON.parse(await readFile(`${path}.json`, 'utf8'))).toEqual({ version: 'v2', size: 64, sha256 });
    expect(await slot.pending()).toEqual({ version: 'v2', size: 64, sha256 });
    expect(await new FileFirmwareSlot(path).size()).toBe(64);
  });

  it('invalid input and file-system failures are coded errors', async () => {
    expect(() => new FileFirmwareSlot('')).toThrow(AzureIotHubError);
    const slot = new FileFirmwareSlot(join(dir, 'slot.bin'));
    await expect(slot.write(-1, bytes(1))).rejects.toMatchObject({ code: 'EINVAL' });
    await writeFile(join(dir, 'a-file'), 'x'); // a file where a folder should be: the folder cannot be made
    const broken = new FileFirmwareSlot(join(dir, 'a-file', 'dir', 'slot.bin'));
    const err = await broken.erase().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AzureIotHubError);
    expect((err as AzureIotHubError).code).toBe('EIO');
    // A failed operation does not block the next one: it runs, and fails with its own coded error.
    await expect(broken.size()).rejects.toMatchObject({ code: 'EIO' });
  });
});

describe('FileFirmwareSlot with a real download', () => {
  let ca: CertificateAndKey;
  let server: FirmwareServer;
  const img = bytes(20_000, 3).map((b, i) => (b * 7 + (i >> 5)) & 0xff);
  const sha256 = createHash('sha256').update(img).digest('hex');

  beforeAll(async () => {
    ca = await createCa('file slot test CA');
    const cert = await createServerCertificate(ca, 'localhost');
    server = await FirmwareServer.start({ cert: cert.chain, key: cert.key });
    server.publish('/fw.bin', img);
  });
  afterAll(async () => {
    await server.close();
  });

  it('a download aborted before a "restart" resumes into a new slot instance from the saved size', async () => {
    const path = join(dir, 'image.bin');
    const first = new FileFirmwareSlot(path, { persistEveryBytes: 0 });
    const d1 = new FirmwareDownload({
      url: `${server.origin}/fw.bin`,
      slot: first,
      version: 'v2',
      sha256,
      ca: ca.cert,
      fragmentSize: 4096,
      onProgress: (p) => {
        if (p.bytes >= 8192) d1.abort();
      },
      progressIntervalMs: 0,
    });
    await expect(d1.start()).rejects.toMatchObject({ code: 'ECANCELED' });
    const saved = await new FileFirmwareSlot(path).size();
    expect(saved).toBeGreaterThanOrEqual(8192);
    expect(saved).toBeLessThan(img.length);

    server.requests.length = 0;
    const second = new FileFirmwareSlot(path);
    const result = await new FirmwareDownload({
      url: `${server.origin}/fw.bin`,
      slot: second,
      version: 'v2',
      sha256,
      ca: ca.cert,
      fragmentSize: 4096,
      resume: true,
    }).start();
    expect(result.resumedFrom).toBe(saved);
    expect(server.requests[0]?.range).toBe(`bytes=${saved}-${saved + 4095}`);
    expect(Buffer.compare(await readFile(path), Buffer.from(img))).toBe(0);
    expect(await second.pending()).toEqual({ version: 'v2', size: img.length, sha256 });
  });
});
