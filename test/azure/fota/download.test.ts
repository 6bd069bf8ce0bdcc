/**
 * The FOTA downloader against the emulator's firmware server over real HTTPS (test CA), with its fault controls:
 * fragments, cut connections and resume, a server without Range support, HTTP errors, sizes, digests, redirects,
 * plain HTTP, TLS failures, timeouts and cancellation.
 */
import { createHash } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  DEFAULT_FRAGMENT_SIZE,
  FirmwareDownload,
  MAX_FRAGMENT_SIZE,
  MIN_FRAGMENT_SIZE,
  downloadFirmware,
  fragmentRetryDelay,
  fragmentSizeFor,
  jobDownloadOptions,
  parseContentRange,
  redactUrl,
  type FirmwareDownloadOptions,
  type FirmwareDownloadProgress,
} from '../../../src/azure/fota/download.js';
import { MemoryFirmwareSlot } from '../../../src/azure/fota/memory-slot.js';
import { createCa, createServerCertificate, type CertificateAndKey } from '../../../src/emulator/certs.js';
import { FirmwareServer } from '../../../src/emulator/firmware-server.js';
import { AzureIotHubError } from '../../../src/errors.js';

let ca: CertificateAndKey;
let otherCa: CertificateAndKey;
let serverCert: CertificateAndKey;

beforeAll(async () => {
  ca = await createCa('fota download test CA');
  otherCa = await createCa('some other CA');
  serverCert = await createServerCertificate(ca, 'localhost');
});

function image(size: number, seed = 7): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Retries without waiting: tests must not sleep. */
const fastRetry = { initialDelayMs: 1, maxDelayMs: 2, maxAttempts: 5 };

async function expectCode(p: Promise<unknown>, code: string): Promise<AzureIotHubError> {
  const err = await p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AzureIotHubError);
  expect((err as AzureIotHubError).code).toBe(code);
  return err as AzureIotHubError;
}

describe('FirmwareDownload over HTTPS', () => {
  let server: FirmwareServer;
  const img = image(10_000);

  beforeEach(async () => {
    server = await FirmwareServer.start({ cert: serverCert.chain, key: serverCert.key });
    server.publish('/fw/app.bin', img);
  });
  afterEach(async () => {
    await server.close();
  });

  function options(slot: MemoryFirmwareSlot, extra: Partial<FirmwareDownloadOptions> = {}): FirmwareDownloadOptions {
    return {
      url: `${server.origin}/fw/app.bin`,
      slot,
      version: 'v2.0.0',
      ca: ca.cert,
      retry: fastRetry,
      ...extra,
    };
  }

  it('downloads the whole image in fragments, bytes identical, verified and finalized', async () => {
    const slot = new MemoryFirmwareSlot();
    const result = await downloadFirmware(options(slot, { fragmentSize: 1024, sha256: sha256(img), expectedSize: img.length }));
    expect(Buffer.compare(Buffer.from(slot.image()), Buffer.from(img))).toBe(0);
    expect(result).toEqual({ size: img.length, sha256: sha256(img), resumedFrom: 0, url: `${server.origin}/fw/app.bin` });
    expect(slot.finalized).toEqual({ version: 'v2.0.0', size: img.length, sha256: sha256(img) });
    expect(slot.erases).toBe(1);
  });

  it('a fragment size that does not divide the image: the last range is capped at the last byte', async () => {
    const slot = new MemoryFirmwareSlot();
    await downloadFirmware(options(slot, { fragmentSize: 1024 }));
    const ranges = server.requests.map((r) => r.range);
    expect(ranges).toHaveLength(10);
    expect(ranges[0]).toBe('bytes=0-1023');
    expect(ranges[1]).toBe('bytes=1024-2047');
    expect(ranges[9]).toBe('bytes=9216-9999');
    expect(server.requests.every((r) => r.status === 206)).toBe(true);
  });

  it('a fragment size that divides the image: exactly size / fragment requests', async () => {
    server.publish('/even.bin', image(8192));
    const slot = new MemoryFirmwareSlot();
    await downloadFirmware(options(slot, { url: `${server.origin}/even.bin`, fragmentSize: 2048 }));
    expect(server.requests.map((r) => r.range)).toEqual([
      'bytes=0-2047',
      'bytes=2048-4095',
      'bytes=4096-6143',
      'bytes=6144-8191',
    ]);
    expect(Buffer.compare(Buffer.from(slot.image()), Buffer.from(image(8192)))).toBe(0);
  });

  it('uses the default fragment size (2048) when none or an invalid one is given', async () => {
    const slot = new MemoryFirmwareSlot();
    const d = new FirmwareDownload(options(slot, { fragmentSize: Number.NaN }));
    expect(d.fragmentSize).toBe(DEFAULT_FRAGMENT_SIZE);
    await d.start();
    expect(server.requests[0]?.range).toBe('bytes=0-2047');
    expect(server.requests).toHaveLength(5);
  });

  it('uses one keep-alive connection for all fragments', async () => {
    const slot = new MemoryFirmwareSlot();
    await downloadFirmware(options(slot, { fragmentSize: 1024 }));
    expect(server.requests).toHaveLength(10);
    expect(server.connections).toBe(1);
  });

  it('a connection cut mid-download resumes from the last byte written (Range headers prove it)', async () => {
    const slot = new MemoryFirmwareSlot();
    const write = slot.write.bind(slot);
    let armed = false;
    slot.write = async (offset, data) => {
      await write(offset, data);
      // After the first fragment, cut the next answer 300 bytes into its body.
      if (!armed && offset + data.length === 1024) {
        armed = true;
        server.faults.cutNext(300);
      }
    };
    await downloadFirmware(options(slot, { fragmentSize: 1024, sha256: sha256(img) }));
    const ranges = server.requests.map((r) => r.range);
    expect(ranges.slice(0, 3)).toEqual(['bytes=0-1023', 'bytes=1024-2047', 'bytes=1324-2347']);
    expect(server.requests[1]).toMatchObject({ cut: true, bytes: 300 });
    expect(ranges.filter((r) => r?.startsWith('bytes=0-'))).toHaveLength(1);
    expect(Buffer.compare(Buffer.from(slot.image()), Buffer.from(img))).toBe(0);
    expect(slot.erases).toBe(1);
  });

  it('a server without Range support (200, whole body) is streamed into the slot', async () => {
    server.faults.noRange = true;
    const slot = new MemoryFirmwareSlot();
    const result = await downloadFirmware(options(slot, { fragmentSize: 1024, sha256: sha256(img) }));
    expect(result.size).toBe(img.length);
    expect(server.requests).toHaveLength(1);
    expect(server.requests[0]).toMatchObject({ status: 200, bytes: img.length });
    expect(Buffer.compare(Buffer.from(slot.image()), Buffer.from(img))).toBe(0);
  });

  it('without Range support a cut download resumes by skipping the bytes already written', async () => {
    server.faults.noRange = true;
    server.faults.cutNext(4000);
    const slot = new MemoryFirmwareSlot();
    await downloadFirmware(options(slot, { sha256: sha256(img) }));
    expect(server.requests.map((r) => r.status)).toEqual([200, 200]);
    expect(server.requests[1]?.range).toBe('bytes=4000-6047');
    // The second answer's first 4000 bytes were skipped, not rewritten.
    expect(slot.writes.filter(([o]) => o === 0)).toHaveLength(1);
    expect(Buffer.compare(Buffer.from(slot.image()), Buffer.from(img))).toBe(0);
  });

  it('404 fails with EIO and status 404, without retrying', async () => {
    const slot = new MemoryFirmwareSlot();
    const err = await expectCode(downloadFirmware(options(slot, { url: `${server.origin}/missing.bin` })), 'EIO');
    expect(err.status).toBe(404);
    expect(server.requests).toHaveLength(1);
    expect(slot.finalized).toBeUndefined();
  });

  it('503 is retried with backoff (jitter from the injected random) and then succeeds', async () => {
    server.faults.failNext(503, 2);
    const randoms: number[] = [];
    const slot = new MemoryFirmwareSlot();
    await downloadFirmware(
      options(slot, {
        fragmentSize: 4096,
        random: () => {
          randoms.push(0.5);
          return 0.5;
        },
      }),
    );
    expect(server.requests.map((r) => r.status)).toEqual([503, 503, 206, 206, 206]);
    expect(randoms).toHaveLength(2);
    expect(Buffer.compare(Buffer.from(slot.image()), Buffer.from(img))).toBe(0);
  });

  it('retry delays come from fragmentRetryDelay with the injected random, through the injected timers', async () => {
    server.faults.failNext(500, 2);
    const delays: number[] = [];
    const policy = { initialDelayMs: 1000, maxDelayMs: 8000, factor: 2, maxAttempts: 5 };
    const slot = new MemoryFirmwareSlot();
    await downloadFirmware(
      options(slot, {
        fragmentSize: 8192,
        timeoutMs: 123_456,
        retry: policy,
        random: () => 0.25,
        timers: {
          // Record the delay; fire backoff delays at once (never the overall timeout): the test never waits.
          setTimeout: (fn, ms) => {
            delays.push(ms);
            return ms === 123_456 ? 'overall' : setImmediate(fn);
          },
          clearTimeout: (h) => {
            if (h !== 'overall') clearImmediate(h as NodeJS.Immediate);
          },
          now: () => 0,
        },
      }),
    );
    expect(delays).toEqual([123_456, fragmentRetryDelay(1, policy, () => 0.25), fragmentRetryDelay(2, policy, () => 0.25)]);
    expect(delays.slice(1)).toEqual([625, 1250]);
    expect(server.requests.map((r) => r.status)).toEqual([500, 500, 206, 206]);
  });

  it('gives up after maxAttempts failures of one fragment with the last error', async () => {
    server.faults.cutNext(0, 100);
    const slot = new MemoryFirmwareSlot();
    await expectCode(downloadFirmware(options(slot, { retry: { ...fastRetry, maxAttempts: 3 } })), 'ECONNRESET');
    expect(server.requests).toHaveLength(3);
  });

  it('a size different from the twin\'s size fails with EMSGSIZE before downloading', async () => {
    const slot = new MemoryFirmwareSlot();
    const err = await expectCode(downloadFirmware(options(slot, { expectedSize: img.length - 1 })), 'EMSGSIZE');
    expect(err.message).toContain(String(img.length));
    expect(server.requests).toHaveLength(1);
    expect(slot.finalized).toBeUndefined();
  });

  it('a server announcing a wrong total size fails with EMSGSIZE', async () => {
    server.faults.wrongLength = true;
    const slot = new MemoryFirmwareSlot();
    const err = await expectCode(downloadFirmware(options(slot, { fragmentSize: 4096 })), 'EMSGSIZE');
    expect(err.status).toBe(416);
    expect(server.requests.at(-1)).toMatchObject({ status: 416, range: `bytes=${img.length}-${img.length}` });
    expect(slot.finalized).toBeUndefined();
  });

  it('a bad SHA-256 fails with EIO (no status), and the slot is erased', async () => {
    const slot = new MemoryFirmwareSlot();
    const err = await expectCode(downloadFirmware(options(slot, { sha256: 'ab'.repeat(32) })), 'EIO');
    expect(err.status).toBeUndefined();
    expect(err.message).toMatch(/SHA-256/);
    expect(slot.finalized).toBeUndefined();
    expect(slot.erases).toBe(2);
    expect(await slot.size()).toBe(0);
  });

  it('an invalid sha256 option fails with EINVAL before any request', async () => {
    const slot = new MemoryFirmwareSlot();
    await expectCode(downloadFirmware(options(slot, { sha256: 'xyz' })), 'EINVAL');
    expect(server.requests).toHaveLength(0);
  });

  it('a bad Content-Range fails with EPROTO', async () => {
    server.faults.badContentRange = true;
    const slot = new MemoryFirmwareSlot();
    await expectCode(downloadFirmware(options(slot)), 'EPROTO');
    expect(server.requests).toHaveLength(1);
  });

  it('follows a redirect, then asks the new location directly', async () => {
    server.faults.redirect('/old.bin', '/fw/app.bin');
    const slot = new MemoryFirmwareSlot();
    const result = await downloadFirmware(options(slot, { url: `${server.origin}/old.bin`, fragmentSize: 4096 }));
    expect(server.requests.map((r) => `${r.path} ${r.status}`)).toEqual([
      '/old.bin 302',
      '/fw/app.bin 206',
      '/fw/app.bin 206',
      '/fw/app.bin 206',
    ]);
    expect(result.url).toBe(`${server.origin}/fw/app.bin`);
    expect(Buffer.compare(Buffer.from(slot.image()), Buffer.from(img))).toBe(0);
  });

  it('too many redirects fail with EIO and the 3xx status after maxRedirects + 1 requests', async () => {
    server.faults.redirect('/a.bin', '/b.bin');
    server.faults.redirect('/b.bin', '/a.bin');
    const slot = new MemoryFirmwareSlot();
    const err = await expectCode(downloadFirmware(options(slot, { url: `${server.origin}/a.bin`, maxRedirects: 3 })), 'EIO');
    expect(err.status).toBe(302);
    expect(err.message).toMatch(/too many redirects/);
    expect(server.requests).toHaveLength(4);
  });

  it('a redirect to plain http: is refused with EACCES without allowHttp', async () => {
    server.faults.redirect('/down.bin', `http://127.0.0.1:${server.port}/fw/app.bin`);
    const slot = new MemoryFirmwareSlot();
    await expectCode(downloadFirmware(options(slot, { url: `${server.origin}/down.bin` })), 'EACCES');
  });

  it('TLS with the wrong CA fails with EACCES and is not retried', async () => {
    const slot = new MemoryFirmwareSlot();
    const err = await expectCode(downloadFirmware(options(slot, { ca: otherCa.cert })), 'EACCES');
    expect(err.message).toMatch(/TLS/);
    expect(server.requests).toHaveLength(0);
  });

  it('TLS is verified by default (Node roots do not trust the test CA)', async () => {
    const slot = new MemoryFirmwareSlot();
    const { ca: _ca, ...rest } = options(slot);
    void _ca;
    await expectCode(downloadFirmware(rest), 'EACCES');
  });

  it('the whole download times out with ETIMEDOUT (tiny timeout + delay fault)', async () => {
    server.faults.delayMs = 5_000;
    const slot = new MemoryFirmwareSlot();
    const d = new FirmwareDownload(options(slot, { timeoutMs: 50 }));
    await expectCode(d.start(), 'ETIMEDOUT');
    expect(d.state).toBe('failed');
  });

  it('a silent request times out and is retried (requestTimeoutMs)', async () => {
    server.faults.delayMs = 5_000;
    const slot = new MemoryFirmwareSlot();
    const err = await expectCode(
      downloadFirmware(options(slot, { requestTimeoutMs: 30, retry: { ...fastRetry, maxAttempts: 2 } })),
      'ETIMEDOUT',
    );
    expect(err.message).toMatch(/silent/);
    expect(server.requests).toHaveLength(2);
  });

  it('abort() rejects with ECANCELED and keeps the partial image', async () => {
    const slot = new MemoryFirmwareSlot();
    const d = new FirmwareDownload(options(slot, { fragmentSize: 1024 }));
    const write = slot.write.bind(slot);
    slot.write = async (offset, data) => {
      await write(offset, data);
      if (offset + data.length >= 3072) {
        server.faults.delayMs = 5_000;
        server.once('request', () => d.abort());
      }
    };
    await expectCode(d.start(), 'ECANCELED');
    expect(d.state).toBe('aborted');
    expect(await slot.size()).toBe(3072);
    expect(slot.finalized).toBeUndefined();
  });

  it('an AbortSignal cancels too; an already aborted signal cancels before any request', async () => {
    const slot = new MemoryFirmwareSlot();
    const ac = new AbortController();
    ac.abort();
    await expectCode(downloadFirmware(options(slot, { signal: ac.signal })), 'ECANCELED');
    expect(server.requests).toHaveLength(0);
  });

  it('start() twice fails with EALREADY', async () => {
    const slot = new MemoryFirmwareSlot();
    const d = new FirmwareDownload(options(slot));
    const first = d.start();
    await expectCode(d.start(), 'EALREADY');
    await first;
  });

  it('reports erase phases, then monotonic progress ending at 100 %', async () => {
    const events: string[] = [];
    const progress: FirmwareDownloadProgress[] = [];
    const slot = new MemoryFirmwareSlot();
    await downloadFirmware(
      options(slot, {
        fragmentSize: 1024,
        progressIntervalMs: 0,
        onErase: (phase) => events.push(phase),
        onProgress: (p) => {
          if (progress.length === 0) events.push('progress');
          progress.push(p);
        },
      }),
    );
    expect(events).toEqual(['pending', 'done', 'progress']);
    const percents = progress.map((p) => p.percent);
    expect(percents.at(-1)).toBe(100);
    expect([...percents].sort((a, b) => a - b)).toEqual(percents);
    expect(new Set(percents).size).toBe(percents.length);
    expect(progress.at(-1)).toEqual({ percent: 100, bytes: img.length, total: img.length });
  });

  it('throttles progress by time (a fake clock that never advances gives only the first and 100 %)', async () => {
    const progress: number[] = [];
    const slot = new MemoryFirmwareSlot();
    await downloadFirmware(
      options(slot, {
        fragmentSize: 1024,
        timers: { setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout), now: () => 0 },
        onProgress: (p) => progress.push(p.percent),
      }),
    );
    expect(progress).toHaveLength(2);
    expect(progress[0]).toBeLessThan(100);
    expect(progress[1]).toBe(100);
  });

  it('a throwing callback does not break the download', async () => {
    const slot = new MemoryFirmwareSlot();
    const result = await downloadFirmware(
      options(slot, {
        onErase: () => {
          throw new Error('app bug');
        },
        onProgress: () => {
          throw new Error('app bug');
        },
      }),
    );
    expect(result.size).toBe(img.length);
  });

  it('resume: continues the slot\'s partial image of the same imageId from its size', async () => {
    const slot = new MemoryFirmwareSlot();
    await slot.erase(`sha256:${sha256(img)}`);
    await slot.write(0, img.subarray(0, 3000));
    const erasePhases: string[] = [];
    const result = await downloadFirmware(
      options(slot, { resume: true, sha256: sha256(img), fragmentSize: 4096, onErase: (p) => erasePhases.push(p) }),
    );
    expect(result.resumedFrom).toBe(3000);
    expect(server.requests[0]?.range).toBe('bytes=3000-7095');
    expect(erasePhases).toEqual([]);
    expect(Buffer.compare(Buffer.from(slot.image()), Buffer.from(img))).toBe(0);
  });

  it('resume: a partial image of another image is erased and the download starts at 0', async () => {
    const slot = new MemoryFirmwareSlot();
    await slot.erase('sha256:' + '0'.repeat(64));
    await slot.write(0, new Uint8Array(3000));
    const result = await downloadFirmware(options(slot, { resume: true, sha256: sha256(img), fragmentSize: 4096 }));
    expect(result.resumedFrom).toBe(0);
    expect(server.requests[0]?.range).toBe('bytes=0-4095');
    expect(Buffer.compare(Buffer.from(slot.image()), Buffer.from(img))).toBe(0);
  });

  it('resume: a slot that already holds the whole image is verified after one 416', async () => {
    const slot = new MemoryFirmwareSlot();
    await slot.erase(`sha256:${sha256(img)}`);
    await slot.write(0, img);
    const result = await downloadFirmware(options(slot, { resume: true, sha256: sha256(img) }));
    expect(result).toMatchObject({ size: img.length, resumedFrom: img.length });
    expect(server.requests.map((r) => r.status)).toEqual([416]);
  });

  it('an empty image fails with EMSGSIZE', async () => {
    server.publish('/empty.bin', new Uint8Array(0));
    const slot = new MemoryFirmwareSlot();
    await expectCode(downloadFirmware(options(slot, { url: `${server.origin}/empty.bin` })), 'EMSGSIZE');
  });

  it('an image above maxImageBytes fails with EMSGSIZE', async () => {
    const slot = new MemoryFirmwareSlot();
    await expectCode(downloadFirmware(options(slot, { maxImageBytes: 5000 })), 'EMSGSIZE');
  });

  it('never puts the URL query (a SAS token) in an error', async () => {
    const slot = new MemoryFirmwareSlot();
    const err = await expectCode(
      downloadFirmware(options(slot, { url: `${server.origin}/missing.bin?sv=2020&sig=SECRET-SIGNATURE` })),
      'EIO',
    );
    expect(err.message).not.toContain('SECRET');
    expect(err.message).toContain('/missing.bin');
  });

  it('a slot write failure fails with the slot error and is not retried', async () => {
    const slot = new MemoryFirmwareSlot({ maxBytes: 4096 });
    await expectCode(downloadFirmware(options(slot, { fragmentSize: 1024 })), 'EMSGSIZE');
    expect(server.requests).toHaveLength(5);
  });
});

describe('FirmwareDownload over plain HTTP', () => {
  let server: FirmwareServer;
  const img = image(5000, 3);

  beforeAll(async () => {
    server = await FirmwareServer.start({ cert: '', key: '', plainHttp: true });
    server.publish('/fw.bin', img);
  });
  afterAll(async () => {
    await server.close();
  });

  it('http: is refused with EACCES without allowHttp, before any request', async () => {
    const slot = new MemoryFirmwareSlot();
    const err = await expectCode(downloadFirmware({ url: `${server.origin}/fw.bin`, slot, version: '1' }), 'EACCES');
    expect(err.message).toMatch(/allowHttp/);
    expect(server.requests).toHaveLength(0);
  });

  it('http: works with allowHttp', async () => {
    const slot = new MemoryFirmwareSlot();
    await downloadFirmware({ url: `${server.origin}/fw.bin`, slot, version: '1', allowHttp: true, fragmentSize: 2048 });
    expect(Buffer.compare(Buffer.from(slot.image()), Buffer.from(img))).toBe(0);
    expect(server.requests.map((r) => r.range)).toEqual(['bytes=0-2047', 'bytes=2048-4095', 'bytes=4096-4999']);
  });

  it('other protocols fail with EINVAL', async () => {
    const slot = new MemoryFirmwareSlot();
    await expectCode(downloadFirmware({ url: 'ftp://127.0.0.1/fw.bin', slot, version: '1' }), 'EINVAL');
    await expectCode(downloadFirmware({ url: 'not a url', slot, version: '1' }), 'EINVAL');
  });

  it('a refused connection is retried, then fails with ECONNREFUSED', async () => {
    const closed = await FirmwareServer.start({ cert: '', key: '', plainHttp: true });
    const port = closed.port;
    await closed.close();
    const slot = new MemoryFirmwareSlot();
    await expectCode(
      downloadFirmware({
        url: `http://127.0.0.1:${port}/fw.bin`,
        slot,
        version: '1',
        allowHttp: true,
        retry: { ...fastRetry, maxAttempts: 2 },
      }),
      'ECONNREFUSED',
    );
  });
});

describe('download helpers (pure)', () => {
  it('fragmentSizeFor: default for absent/invalid, bounded otherwise', () => {
    expect(fragmentSizeFor(undefined)).toBe(2048);
    expect(fragmentSizeFor(Number.NaN)).toBe(2048);
    expect(fragmentSizeFor(0)).toBe(2048);
    expect(fragmentSizeFor(-5)).toBe(2048);
    expect(fragmentSizeFor(Number.POSITIVE_INFINITY)).toBe(2048);
    expect(fragmentSizeFor(1)).toBe(MIN_FRAGMENT_SIZE);
    expect(fragmentSizeFor(1800)).toBe(1800);
    expect(fragmentSizeFor(1800.9)).toBe(1800);
    expect(fragmentSizeFor(10 * 1024 * 1024)).toBe(MAX_FRAGMENT_SIZE);
  });

  it('fragmentRetryDelay: equal jitter over a capped exponential', () => {
    const p = { initialDelayMs: 100, maxDelayMs: 1000, factor: 2 };
    expect(fragmentRetryDelay(1, p, () => 0)).toBe(50);
    expect(fragmentRetryDelay(1, p, () => 0.999999)).toBe(100);
    expect(fragmentRetryDelay(2, p, () => 0)).toBe(100);
    expect(fragmentRetryDelay(3, p, () => 0.5)).toBe(300);
    expect(fragmentRetryDelay(10, p, () => 0)).toBe(500);
    expect(fragmentRetryDelay(10, p, () => 1)).toBe(1000);
    expect(fragmentRetryDelay(1, {}, () => 0)).toBe(500);
  });

  it('parseContentRange', () => {
    expect(parseContentRange('bytes 0-1023/10000')).toEqual({ kind: 'range', start: 0, end: 1023, total: 10000 });
    expect(parseContentRange('bytes */10000')).toEqual({ kind: 'unsatisfied', total: 10000 });
    expect(parseContentRange('bytes 0-1023/*')).toBeUndefined();
    expect(parseContentRange('bytes 5-1/10')).toBeUndefined();
    expect(parseContentRange('bytes 0-10/10')).toBeUndefined();
    expect(parseContentRange('items 0-1/10')).toBeUndefined();
    expect(parseContentRange(undefined)).toBeUndefined();
  });

  it('jobDownloadOptions maps a job and the fota config', () => {
    const storage = new MemoryFirmwareSlot();
    const onProgress = (): void => undefined;
    expect(
      jobDownloadOptions(
        { url: 'https://h/a.bin', version: 'v2', fragmentSize: 1800, sha256: 'ab'.repeat(32), size: 10 },
        { storage, ca: 'PEM', allowHttp: false },
        { onProgress, resume: true },
      ),
    ).toEqual({
      url: 'https://h/a.bin',
      slot: storage,
      version: 'v2',
      fragmentSize: 1800,
      sha256: 'ab'.repeat(32),
      expectedSize: 10,
      ca: 'PEM',
      allowHttp: false,
      onProgress,
      resume: true,
    });
    expect(jobDownloadOptions({ url: 'https://h/a.bin', version: 'v2' }, { storage })).toEqual({
      url: 'https://h/a.bin',
      slot: storage,
      version: 'v2',
    });
  });

  it('redactUrl drops the query, fragment and user info', () => {
    expect(redactUrl('https://u:p@h.example:8443/a/b.bin?sig=x#f')).toBe('https://h.example:8443/a/b.bin');
    expect(redactUrl('nonsense')).toBe('(invalid URL)');
  });
});
