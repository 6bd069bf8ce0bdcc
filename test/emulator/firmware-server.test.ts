/**
 * The emulator's firmware server, exercised with real HTTPS (and HTTP) requests from `node:https` that verify the
 * server certificate against the test CA.
 */
import { createHash } from 'node:crypto';
import * as http from 'node:http';
import * as https from 'node:https';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AzureIotHubError } from '../../src/errors.js';
import { createCa, createServerCertificate, type CertificateAndKey } from '../../src/emulator/certs.js';
import { FirmwareServer, type FirmwareRequestLog } from '../../src/emulator/firmware-server.js';

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  reusedSocket: boolean;
  /** Set when the response was cut (the body holds what arrived). */
  error?: Error;
}

let ca: CertificateAndKey;
let serverCert: CertificateAndKey;

beforeAll(async () => {
  ca = await createCa('firmware-server test CA');
  serverCert = await createServerCertificate(ca, 'localhost');
});

function image(size: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = (i * 31 + (i >> 8)) & 0xff;
  return out;
}

function get(server: FirmwareServer, path: string,
  opts: { method?: string; range?: string; agent?: http.Agent } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const url = `${server.origin}${path}`;
    const headers: Record<string, string> = opts.range !== undefined ? { Range: opts.range } : {};
    const options: https.RequestOptions = { method: opts.method ?? 'GET', headers };
    if (opts.agent) options.agent = opts.agent;
    else if (server.protocol === 'https:') options.ca = ca.cert;
    const req = (server.protocol === 'https:' ? https : http).request(url, options, (res) => {
      const chunks: Buffer[] = [];
      const done = (error?: Error): void => {
        const answer: Answer = {
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks),
          reusedSocket: req.reusedSocket,
        };
        if (error) answer.error = error;
        resolve(answer);
      };
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => done());
      res.on('error', (err) => done(err));
      res.on('close', () => {
        if (!res.complete) done(new Error('cut'));
      });
    });
    req.on('socket', (s) => s.setNoDelay(true));
    req.on('error', reject);
    req.end();
  });
}

describe('FirmwareServer over HTTPS', () => {
  let server: FirmwareServer;
  const img = image(10_000);
  const sha = createHash('sha256').update(img).digest('hex');

  beforeEach(async () => {
    server = await FirmwareServer.start({ cert: serverCert.chain, key: serverCert.key });
    server.publish('fw/app.bin', img);
  });
  afterEach(async () => {
    await server.close();
  });

  it('listens on 127.0.0.1 with a free port and reports its origin', () => {
    expect(server.host).toBe('127.0.0.1');
    expect(server.port).toBeGreaterThan(0);
    expect(server.protocol).toBe('https:');
    expect(server.origin).toBe(`https://127.0.0.1:${server.port}`);
    expect(server.hostWithPort).toBe(`127.0.0.1:${server.port}`);
  });

  it('publish normalises the path and returns size and SHA-256', () => {
    expect(server.publish('other.bin', img)).toEqual({ path: '/other.bin', size: img.length, sha256: sha });
    expect(server.publish('//deep/x.bin', new Uint8Array([1, 2, 3])).path).toBe('/deep/x.bin');
  });

  it('publish copies the image (later changes to the caller buffer are not served)', async () => {
    const buf = new Uint8Array([1, 2, 3, 4]);
    server.publish('/copy.bin', buf);
    buf[0] = 99;
    const a = await get(server, '/copy.bin');
    expect([...a.body]).toEqual([1, 2, 3, 4]);
  });

  it('publish refuses an empty path or a query string with EINVAL', () => {
    expect(() => server.publish('', img)).toThrow(AzureIotHubError);
    expect(() => server.publish('a.bin?x=1', img)).toThrow(/non-empty URL path/);
  });

  it('GET without Range answers 200 with the whole image', async () => {
    const a = await get(server, '/fw/app.bin');
    expect(a.status).toBe(200);
    expect(a.headers['content-length']).toBe(String(img.length));
    expect(a.headers['accept-ranges']).toBe('bytes');
    expect(a.headers['content-range']).toBeUndefined();
    expect(Buffer.compare(a.body, Buffer.from(img))).toBe(0);
  });

  it('Range bytes=a-b answers 206 with Content-Range a-b/total and exactly those bytes', async () => {
    const a = await get(server, '/fw/app.bin', { range: 'bytes=100-1123' });
    expect(a.status).toBe(206);
    expect(a.headers['content-range']).toBe(`bytes 100-1123/${img.length}`);
    expect(a.headers['content-length']).toBe('1024');
    expect(Buffer.compare(a.body, Buffer.from(img.subarray(100, 1124)))).toBe(0);
  });

  it('an end past the image is capped at the last byte', async () => {
    const a = await get(server, '/fw/app.bin', { range: 'bytes=9000-20000' });
    expect(a.status).toBe(206);
    expect(a.headers['content-range']).toBe(`bytes 9000-9999/${img.length}`);
    expect(a.body.length).toBe(1000);
  });

  it('an open-ended range bytes=a- answers the rest of the image', async () => {
    const a = await get(server, '/fw/app.bin', { range: 'bytes=9500-' });
    expect(a.status).toBe(206);
    expect(a.headers['content-range']).toBe(`bytes 9500-9999/${img.length}`);
    expect(Buffer.compare(a.body, Buffer.from(img.subarray(9500)))).toBe(0);
  });

  it('a suffix range bytes=-n answers the last n bytes', async () => {
    const a = await get(server, '/fw/app.bin', { range: 'bytes=-10' });
    expect(a.status).toBe(206);
    expect(a.headers['content-range']).toBe(`bytes 9990-9999/${img.length}`);
    expect(Buffer.compare(a.body, Buffer.from(img.subarray(9990)))).toBe(0);
  });

  it('an unsatisfiable range answers 416 with Content-Range bytes */total', async () => {
    const a = await get(server, '/fw/app.bin', { range: 'bytes=10000-10999' });
    expect(a.status).toBe(416);
    expect(a.headers['content-range']).toBe(`bytes */${img.length}`);
  });

  it('a malformed or multi-part Range is ignored (200 with the whole image)', async () => {
    for (const range of ['bytes=5-1', 'items=0-5', 'bytes=0-1,5-6', 'bytes=-']) {
      const a = await get(server, '/fw/app.bin', { range });
      expect(a.status, range).toBe(200);
      expect(a.body.length, range).toBe(img.length);
    }
  });

  it('HEAD answers the headers of GET without a body', async () => {
    const a = await get(server, '/fw/app.bin', { method: 'HEAD' });
    expect(a.status).toBe(200);
    expect(a.headers['content-length']).toBe(String(img.length));
    expect(a.headers.etag).toBe(`"${sha}"`);
    expect(a.body.length).toBe(0);
    expect(server.requests.at(-1)).toMatchObject({ method: 'HEAD', status: 200, bytes: 0 });
  });

  it('unknown paths answer 404, unpublished paths too', async () => {
    expect((await get(server, '/nope.bin')).status).toBe(404);
    server.unpublish('/fw/app.bin');
    expect((await get(server, '/fw/app.bin')).status).toBe(404);
  });

  it('other methods answer 405 with Allow', async () => {
    const a = await get(server, '/fw/app.bin', { method: 'POST' });
    expect(a.status).toBe(405);
    expect(a.headers.allow).toBe('GET, HEAD');
  });

  it('keeps connections alive: a keep-alive agent reuses one socket', async () => {
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca: ca.cert });
    try {
      const a = await get(server, '/fw/app.bin', { range: 'bytes=0-9', agent });
      const b = await get(server, '/fw/app.bin', { range: 'bytes=10-19', agent });
      expect(a.reusedSocket).toBe(false);
      expect(b.reusedSocket).toBe(true);
      expect(b.headers.connection).toBe('keep-alive');
      expect(server.connections).toBe(1);
    } finally {
      agent.destroy();
    }
  });

  it('logs every request with method, path, range, status and body bytes, and emits it', async () => {
    const arrived: FirmwareRequestLog[] = [];
    const seen: FirmwareRequestLog[] = [];
    server.on('request', (e: FirmwareRequestLog) => arrived.push({ ...e }));
    server.on('response', (e: FirmwareRequestLog) => seen.push(e));
    await get(server, '/fw/app.bin', { range: 'bytes=0-99' });
    await get(server, '/missing');
    expect(server.requests).toHaveLength(2);
    expect(server.requests[0]).toMatchObject({ method: 'GET', path: '/fw/app.bin', range: 'bytes=0-99', status: 206, bytes: 100 });
    expect(server.requests[1]).toMatchObject({ method: 'GET', path: '/missing', status: 404 });
    expect(server.requests[1]?.range).toBeUndefined();
    expect(typeof server.requests[0]?.at).toBe('number');
    expect(seen).toEqual(server.requests);
    expect(arrived.map((e) => e.status)).toEqual([0, 0]);
  });

  it('fault noRange: Range is ignored and the whole image comes with 200', async () => {
    server.faults.noRange = true;
    const a = await get(server, '/fw/app.bin', { range: 'bytes=0-1023' });
    expect(a.status).toBe(200);
    expect(a.headers['accept-ranges']).toBe('none');
    expect(a.body.length).toBe(img.length);
  });

  it('fault failNext: the next N requests get the status, then normal service resumes', async () => {
    server.faults.failNext(503, 2);
    expect((await get(server, '/fw/app.bin')).status).toBe(503);
    expect((await get(server, '/fw/app.bin')).status).toBe(503);
    expect((await get(server, '/fw/app.bin')).status).toBe(200);
    expect(() => server.faults.failNext(42)).toThrow(AzureIotHubError);
  });

  it('fault cutNext: the connection drops after N body bytes of the next answer only', async () => {
    server.faults.cutNext(300);
    const a = await get(server, '/fw/app.bin', { range: 'bytes=0-1023' });
    expect(a.status).toBe(206);
    expect(a.error).toBeDefined();
    expect(a.body.length).toBe(300);
    expect(Buffer.compare(a.body, Buffer.from(img.subarray(0, 300)))).toBe(0);
    expect(server.requests.at(-1)).toMatchObject({ status: 206, bytes: 300, cut: true });
    const b = await get(server, '/fw/app.bin', { range: 'bytes=0-1023' });
    expect(b.error).toBeUndefined();
    expect(b.body.length).toBe(1024);
  });

  it('fault cutNext(0) drops the connection right after the headers', async () => {
    server.faults.cutNext(0);
    const a = await get(server, '/fw/app.bin');
    expect(a.status).toBe(200);
    expect(a.error).toBeDefined();
    expect(a.body.length).toBe(0);
  });

  it('fault redirect: 302 (or the given status) with Location', async () => {
    server.faults.redirect('/old.bin', '/fw/app.bin');
    server.faults.redirect('/perm.bin', 'https://localhost/x.bin', 301);
    const a = await get(server, '/old.bin');
    expect(a.status).toBe(302);
    expect(a.headers.location).toBe('/fw/app.bin');
    const b = await get(server, '/perm.bin');
    expect(b.status).toBe(301);
    expect(b.headers.location).toBe('https://localhost/x.bin');
  });

  it('fault delayMs: the answer waits at least that long', async () => {
    server.faults.delayMs = 60;
    const t0 = performance.now();
    const a = await get(server, '/fw/app.bin', { range: 'bytes=0-0' });
    expect(a.status).toBe(206);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(50);
  });

  it('fault wrongLength: Content-Range announces one byte more (206 and 416)', async () => {
    server.faults.wrongLength = true;
    const a = await get(server, '/fw/app.bin', { range: 'bytes=0-9' });
    expect(a.headers['content-range']).toBe(`bytes 0-9/${img.length + 1}`);
    expect(a.body.length).toBe(10);
    const b = await get(server, '/fw/app.bin', { range: `bytes=${img.length}-` });
    expect(b.status).toBe(416);
    expect(b.headers['content-range']).toBe(`bytes */${img.length + 1}`);
  });

  it('fault badContentRange: the announced first byte is off by one', async () => {
    server.faults.badContentRange = true;
    const a = await get(server, '/fw/app.bin', { range: 'bytes=0-9' });
    expect(a.headers['content-range']).toBe(`bytes 1-9/${img.length}`);
  });

  it('faults.reset turns everything off', async () => {
    server.faults.noRange = true;
    server.faults.failNext(500, 5);
    server.faults.redirect('/fw/app.bin', '/elsewhere');
    server.faults.reset();
    const a = await get(server, '/fw/app.bin', { range: 'bytes=0-9' });
    expect(a.status).toBe(206);
  });

  it('close ends idle keep-alive connections and a pending delayed answer', async () => {
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca: ca.cert });
    try {
      await get(server, '/fw/app.bin', { range: 'bytes=0-9', agent });
      server.faults.delayMs = 60_000;
      const pending = get(server, '/fw/app.bin', { agent }).catch((err: Error) => err);
      await new Promise<void>((resolve) => server.once('request', () => resolve()));
      await server.close();
      const result = await pending;
      expect(result instanceof Error || (result as Answer).error !== undefined).toBe(true);
      await expect(get(server, '/fw/app.bin')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    } finally {
      agent.destroy();
    }
  });
});

describe('FirmwareServer over plain HTTP', () => {
  it('serves ranges on http: when plainHttp is set', async () => {
    const server = await FirmwareServer.start({ cert: '', key: '', plainHttp: true });
    try {
      expect(server.protocol).toBe('http:');
      server.publish('/a.bin', image(100));
      const a = await get(server, '/a.bin', { range: 'bytes=10-19' });
      expect(a.status).toBe(206);
      expect(a.headers['content-range']).toBe('bytes 10-19/100');
    } finally {
      await server.close();
    }
  });

  it('rejects start when the port is taken', async () => {
    const first = await FirmwareServer.start({ cert: '', key: '', plainHttp: true });
    try {
      await expect(FirmwareServer.start({ cert: '', key: '', plainHttp: true, port: first.port })).rejects.toMatchObject({
        code: 'EADDRINUSE',
      });
    } finally {
      await first.close();
    }
  });
});
