/**
 * The emulator's firmware server: serves published firmware images over HTTPS (or plain HTTP) with byte-range
 * requests, as a blob store or CDN does for Azure FOTA, plus fault controls for tests (no Range support, error
 * statuses, cut connections, redirects, delays, a wrong announced size).
 *
 * Range semantics follow RFC 9110 section 14: `Range: bytes=a-b` answers 206 with `Content-Range: bytes a-b/total`,
 * `bytes=a-` and `bytes=-n` are supported, an unsatisfiable range answers 416 with `Content-Range: bytes *\/total`, a
 * request without (or with an unparsable or multi-part) Range answers 200 with the whole image.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9110#section-14
 * @see https://developer.nordicsemi.com/nRF_Connect_SDK/doc/1.9.0/nrf/libraries/networking/azure_fota.html
 */
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { AzureIotHubError } from '../errors.js';

/** Options of {@link FirmwareServer.start}. */
export interface FirmwareServerOptions {
  /** Server certificate (PEM, with its chain). Ignored with `plainHttp`. */
  cert: string;
  /** Private key of `cert` (PEM). Ignored with `plainHttp`. */
  key: string;
  /** Serve plain HTTP instead of HTTPS (default false). */
  plainHttp?: boolean;
  /** Address to listen on (default `127.0.0.1`). */
  host?: string;
  /** Port to listen on (default 0: a free port). */
  port?: number;
}

/** One request the server answered (or cut), in arrival order. */
export interface FirmwareRequestLog {
  method: string;
  /** The decoded URL path, without the query string. */
  path: string;
  /** The `Range` request header, verbatim, when present. */
  range?: string;
  /** The response status (0 when the request never got an answer, e.g. the server closed during a delay). */
  status: number;
  /** Body bytes written to the socket. */
  bytes: number;
  /** True when the connection was cut on purpose ({@link FirmwareServerFaults.cutNext}). */
  cut?: boolean;
  /** `Date.now()` when the request arrived. */
  at: number;
}

/** What {@link FirmwareServer.publish} returns: the normalised path, the size and the hex SHA-256 of the image. */
export interface PublishedFirmware {
  path: string;
  size: number;
  sha256: string;
}

/** Fault controls. All faults are off by default; {@link FirmwareServerFaults.reset} turns every one off. */
export interface FirmwareServerFaults {
  /** Ignore `Range` and answer 200 with the whole image, as a server without range support does. */
  noRange: boolean;
  /** Wait this long (ms) before answering each request (default 0). */
  delayMs: number;
  /**
   * Announce a total size one byte larger than the image in `Content-Range` (206 and 416 answers); the bytes served
   * stay right. A 200 answer keeps a correct `Content-Length` (a wrong one would break HTTP framing).
   */
  wrongLength: boolean;
  /** Answer 206 with a `Content-Range` whose first byte is one past the requested one (the body is unchanged). */
  badContentRange: boolean;
  /** Answer the next `count` (default 1) requests with `status` and a short text body. */
  failNext(status: number, count?: number): void;
  /**
   * Cut the connection of the next `count` (default 1) answers that carry a body after `afterBytes` body bytes
   * (or right after the whole body when it is shorter).
   */
  cutNext(afterBytes: number, count?: number): void;
  /** Answer requests for `from` with `status` (default 302) and `Location: to` (a path or an absolute URL). */
  redirect(from: string, to: string, status?: 301 | 302 | 303 | 307 | 308): void;
  /** Turn every fault off and forget pending `failNext`/`cutNext`/redirects. */
  reset(): void;
}

interface Image {
  data: Uint8Array;
  sha256: string;
}

interface Redirect {
  to: string;
  status: number;
}

type ByteRange = { start: number; end: number } | 'unsatisfiable' | undefined;

/** `/a/b` for `a/b`, `/a/b` and `//a/b`; refuses empty paths and NUL. */
function normalisePath(path: string): string {
  if (typeof path !== 'string' || path.length === 0 || path.includes('\0') || path.includes('?') || path.includes('#')) {
    throw new AzureIotHubError('EINVAL', 'firmware path must be a non-empty URL path without query or fragment');
  }
  return '/' + path.replace(/^\/+/, '');
}

/**
 * Parse a `Range` header against an image of `total` bytes. `undefined` means "ignore the header and send the whole
 * image" (absent, not `bytes=`, malformed, or several ranges, which RFC 9110 allows a server to ignore).
 */
function parseRange(header: string | undefined, total: number): ByteRange {
  if (header === undefined) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m) return undefined;
  const [, a = '', b = ''] = m;
  if (a === '' && b === '') return undefined;
  if (a === '') {
    // Suffix range: the last n bytes.
    const n = Number(b);
    if (n === 0 || total === 0) return 'unsatisfiable';
    return { start: Math.max(0, total - n), end: total - 1 };
  }
  const start = Number(a);
  const end = b === '' ? Number.MAX_SAFE_INTEGER : Number(b);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || end < start) return undefined;
  if (start >= total) return 'unsatisfiable';
  return { start, end: Math.min(end, total - 1) };
}

/**
 * An HTTPS (or HTTP) server for firmware images on loopback. Keep-alive connections, Range requests, HEAD, 404 for
 * unknown paths, 405 for other methods. Every request is logged in {@link FirmwareServer.requests}; events:
 * `'request'` (entry) when it arrives (status still 0), `'response'` (entry) once it is answered or cut.
 */
export class FirmwareServer extends EventEmitter {
  /** The address the server listens on. */
  readonly host: string;
  /** The port the server listens on. */
  readonly port: number;
  /** `https:` by default, `http:` with `plainHttp`. */
  readonly protocol: 'https:' | 'http:';
  /** Every request received so far, oldest first (filled in once answered). Clear with `requests.length = 0`. */
  readonly requests: FirmwareRequestLog[] = [];
  /** Fault controls for tests; all off by default. */
  readonly faults: FirmwareServerFaults;

  private readonly server: http.Server;
  private readonly images = new Map<string, Image>();
  private readonly sockets: Set<Socket>;
  private readonly counter: { accepted: number };
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly redirects = new Map<string, Redirect>();
  private failQueue: { status: number; count: number } | undefined;
  private cutQueue: { afterBytes: number; count: number } | undefined;
  private closed = false;

  private constructor(server: http.Server, sockets: Set<Socket>, counter: { accepted: number }, host: string,
    port: number, protocol: 'https:' | 'http:') {
    super();
    this.server = server;
    this.sockets = sockets;
    this.counter = counter;
    this.host = host;
    this.port = port;
    this.protocol = protocol;
    this.faults = this.createFaults();
    server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => this.handle(req, res));
  }

  /** Start listening. Rejects when the port cannot be bound. */
  static async start(options: FirmwareServerOptions): Promise<FirmwareServer> {
    const host = options.host ?? '127.0.0.1';
    const plain = options.plainHttp === true;
    const server: http.Server = plain ? http.createServer() : https.createServer({ cert: options.cert, key: options.key });
    const sockets = new Set<Socket>();
    const counter = { accepted: 0 };
    server.on('connection', (socket: Socket) => {
      socket.setNoDelay(true);
      counter.accepted++;
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      server.once('error', onError);
      server.listen(options.port ?? 0, host, () => {
        server.off('error', onError);
        resolve();
      });
    });
    const port = (server.address() as AddressInfo).port;
    return new FirmwareServer(server, sockets, counter, host, port, plain ? 'http:' : 'https:');
  }

  /** TCP connections accepted so far (keep-alive makes one serve many requests). */
  get connections(): number {
    return this.counter.accepted;
  }

  /** `https://127.0.0.1:<port>` (or `http:`): the origin to put in a twin's `fwLocation`. */
  get origin(): string {
    return `${this.protocol}//${this.host.includes(':') ? `[${this.host}]` : this.host}:${this.port}`;
  }

  /** `host:port`, the form of the twin's `fwLocation.host`. */
  get hostWithPort(): string {
    return `${this.host.includes(':') ? `[${this.host}]` : this.host}:${this.port}`;
  }

  /**
   * Serve `image` at `path` (a leading `/` is added when missing). The bytes are copied, so the caller may reuse
   * its buffer. Publishing to an existing path replaces the image.
   */
  publish(path: string, image: Uint8Array): PublishedFirmware {
    const p = normalisePath(path);
    const data = new Uint8Array(image);
    const sha256 = createHash('sha256').update(data).digest('hex');
    this.images.set(p, { data, sha256 });
    return { path: p, size: data.length, sha256 };
  }

  /** Stop serving `path` (later requests get 404). Unknown paths are ignored. */
  unpublish(path: string): void {
    this.images.delete(normalisePath(path));
  }

  /** Stop listening, end every connection and pending delay. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    const done = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    await done;
  }

  private createFaults(): FirmwareServerFaults {
    const self = this;
    return {
      noRange: false,
      delayMs: 0,
      wrongLength: false,
      badContentRange: false,
      failNext(status: number, count = 1): void {
        if (!Number.isInteger(status) || status < 100 || status > 599) {
          throw new AzureIotHubError('EINVAL', 'failNext status must be an HTTP status (100..599)');
        }
        self.failQueue = count > 0 ? { status, count } : undefined;
      },
      cutNext(afterBytes: number, count = 1): void {
        if (!Number.isSafeInteger(afterBytes) || afterBytes < 0) {
          throw new AzureIotHubError('EINVAL', 'cutNext afterBytes must be a non-negative integer');
        }
        self.cutQueue = count > 0 ? { afterBytes, count } : undefined;
      },
      redirect(from: string, to: string, status = 302): void {
        self.redirects.set(normalisePath(from), { to, status });
      },
      reset(): void {
        this.noRange = false;
        this.delayMs = 0;
        this.wrongLength = false;
        this.badContentRange = false;
        self.failQueue = undefined;
        self.cutQueue = undefined;
        self.redirects.clear();
      },
    };
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    let path: string;
    try {
      path = decodeURIComponent(new URL(req.url ?? '/', 'http://firmware.invalid').pathname);
    } catch {
      path = req.url ?? '/';
    }
    const entry: FirmwareRequestLog = { method: req.method ?? '', path, status: 0, bytes: 0, at: Date.now() };
    const range = req.headers.range;
    if (range !== undefined) entry.range = range;
    this.requests.push(entry);
    this.emit('request', entry);
    const delay = this.faults.delayMs;
    if (delay > 0) {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        if (!res.destroyed && !this.closed) this.respond(req, res, entry);
      }, delay);
      this.timers.add(timer);
      res.on('close', () => {
        clearTimeout(timer);
        this.timers.delete(timer);
      });
    } else {
      this.respond(req, res, entry);
    }
  }

  private finish(entry: FirmwareRequestLog): void {
    this.emit('response', entry);
  }

  private sendText(res: http.ServerResponse, entry: FirmwareRequestLog, status: number, text: string,
    headers: Record<string, string> = {}): void {
    const body = Buffer.from(text, 'utf8');
    entry.status = status;
    res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': String(body.length), ...headers });
    if (entry.method === 'HEAD') {
      res.end();
    } else {
      entry.bytes = body.length;
      res.end(body);
    }
    this.finish(entry);
  }

  private respond(req: http.IncomingMessage, res: http.ServerResponse, entry: FirmwareRequestLog): void {
    if (this.failQueue) {
      const { status } = this.failQueue;
      if (--this.failQueue.count <= 0) this.failQueue = undefined;
      this.sendText(res, entry, status, `injected failure ${status}\n`);
      return;
    }
    const method = req.method ?? '';
    if (method !== 'GET' && method !== 'HEAD') {
      this.sendText(res, entry, 405, 'method not allowed\n', { Allow: 'GET, HEAD' });
      return;
    }
    const redirect = this.redirects.get(entry.path);
    if (redirect) {
      this.sendText(res, entry, redirect.status, `moved to ${redirect.to}\n`, { Location: redirect.to });
      return;
    }
    const image = this.images.get(entry.path);
    if (!image) {
      this.sendText(res, entry, 404, 'not found\n');
      return;
    }
    const total = image.data.length;
    const announced = this.faults.wrongLength ? total + 1 : total;
    const headers: Record<string, string> = {
      'Content-Type': 'application/octet-stream',
      'Accept-Ranges': this.faults.noRange ? 'none' : 'bytes',
      ETag: `"${image.sha256}"`,
    };
    const range = this.faults.noRange ? undefined : parseRange(entry.range, total);
    if (range === 'unsatisfiable') {
      this.sendText(res, entry, 416, 'range not satisfiable\n', { 'Content-Range': `bytes */${announced}` });
      return;
    }
    let status = 200;
    let body = image.data;
    if (range) {
      status = 206;
      body = image.data.subarray(range.start, range.end + 1);
      const first = this.faults.badContentRange ? range.start + 1 : range.start;
      headers['Content-Range'] = `bytes ${first}-${range.end}/${announced}`;
    }
    headers['Content-Length'] = String(body.length);
    entry.status = status;
    res.writeHead(status, headers);
    if (method === 'HEAD') {
      res.end();
      this.finish(entry);
      return;
    }
    const cut = this.cutQueue;
    if (cut) {
      if (--cut.count <= 0) this.cutQueue = undefined;
      const n = Math.min(cut.afterBytes, body.length);
      entry.bytes = n;
      entry.cut = true;
      const destroy = (): void => {
        res.socket?.destroy();
        res.destroy();
      };
      if (n > 0) res.write(body.subarray(0, n), destroy);
      else res.flushHeaders();
      if (n === 0) setImmediate(destroy);
      this.finish(entry);
      return;
    }
    entry.bytes = body.length;
    res.end(Buffer.from(body.buffer, body.byteOffset, body.length));
    this.finish(entry);
  }
}
