/**
 * Regression: `FirmwareDownload.abort()` (what the client's `disconnect()` calls) right after a fragment's body
 * arrived. Destroying the finished request with the abort error destroyed its keep-alive socket with that error
 * after the request had stopped listening to it: an uncaught exception.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { FirmwareDownload } from '../../../src/azure/fota/download.js';
import { MemoryFirmwareSlot } from '../../../src/azure/fota/memory-slot.js';
import { createCa, createServerCertificate, type CertificateAndKey } from '../../../src/emulator/certs.js';
import { FirmwareServer } from '../../../src/emulator/firmware-server.js';
import { AzureIotHubError } from '../../../src/errors.js';

let ca: CertificateAndKey;
let server: FirmwareServer;

beforeAll(async () => {
  ca = await createCa('download abort test CA');
  const cert = await createServerCertificate(ca, 'localhost', { ipAddresses: ['127.0.0.1'] });
  server = await FirmwareServer.start({ cert: cert.chain, key: cert.key });
  server.publish('/abort.bin', new Uint8Array(8192).fill(7));
});
afterAll(async () => {
  await server.close();
});

it('abort right after a fragment arrived rejects with ECANCELED and throws nothing from the socket', async () => {
  const uncaught: unknown[] = [];
  const onUncaught = (err: unknown): void => {
    uncaught.push(err);
  };
  process.on('uncaughtException', onUncaught);
  try {
    // The abort comes from the progress callback (as `disconnect()` can, from an event handler): synchronously,
    // in a microtask, and in the next turn of the event loop.
    for (const when of ['sync', 'microtask', 'immediate'] as const) {
      const download: FirmwareDownload = new FirmwareDownload({
        url: `${server.origin}/abort.bin`,
        slot: new MemoryFirmwareSlot(),
        version: 'v2',
        fragmentSize: 1024,
        ca: ca.cert,
        progressIntervalMs: 0,
        onProgress: () => {
          if (when === 'sync') download.abort();
          else if (when === 'microtask') queueMicrotask(() => download.abort());
          else setImmediate(() => download.abort());
        },
      });
      const err = await download.start().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(AzureIotHubError);
      expect((err as AzureIotHubError).code).toBe('ECANCELED');
      expect(download.state).toBe('aborted');
    }
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(uncaught).toEqual([]);
  } finally {
    process.off('uncaughtException', onUncaught);
  }
});
