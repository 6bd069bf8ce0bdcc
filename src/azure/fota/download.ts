/**
 * The firmware downloader: HTTP range requests over `node:https` (or `node:http` when allowed), no dependency.
 * What the nRF `download_client` does, plus what it lacks: redirects, bounded retries with jittered backoff,
 * resume from the slot's contiguous size, an overall timeout, size and SHA-256 verification, cancellation.
 *
 * Wire format: `GET <path>` with `Range: bytes=<off>-<off+fragment-1>` on one keep-alive connection; the answer
 * must be 206 with a `Content-Range: bytes <off>-<end>/<total>` whose first byte is the one asked for (the total
 * size is learnt from it). A server that ignores Range (200 with the whole body) is streamed, skipping the bytes
 * the slot already holds.
 *
 * Errors ({@link AzureIotHubError} `code`):
 * - `EINVAL`: the URL is not `https:`/`http:`, or an option is invalid;
 * - `EACCES`: `http:` without `allowHttp` (also when a redirect downgrades to `http:`), or TLS failed
 *   (certificate not trusted, wrong host name, handshake error): never retried;
 * - `EIO` with `status`: an HTTP error status (404, 403, ...; 408, 425, 429 and 5xx are retried first), or too
 *   many redirects (`status` is the last 3xx);
 * - `EIO` without `status`: the SHA-256 of the image read back from the slot differs from the expected one (the
 *   slot is then erased), or the slot failed (its error is the `cause`);
 * - `EMSGSIZE`: the image size differs from the twin's `size`, the server changed its announced size, the server
 *   cannot serve the bytes it announced, the image is empty, or it exceeds `maxImageBytes`;
 * - `EPROTO`: a 206 without a valid `Content-Range`, a range other than the one asked for, a body longer than
 *   announced, a redirect without `Location`;
 * - `ETIMEDOUT`: the whole download exceeded `timeoutMs` (or one request stayed silent for `requestTimeoutMs` on
 *   its last attempt);
 * - `ECONNRESET` / `ECONNREFUSED`: the network failed on every attempt;
 * - `ECANCELED`: {@link FirmwareDownload.abort} was called.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9110#section-14 (range requests)
 * @see https://developer.nordicsemi.com/nRF_Connect_SDK/doc/1.9.0/nrf/libraries/networking/download_client.html
 */
import { createHash } from 'node:crypto';
import type * as http from 'node:http';
import { AzureIotHubError, toAzureIotHubError } from '../../errors.js';
import type { AzureIotHubFotaConfig, FirmwareSlot } from '../types.js';
import type { DesiredFirmware } from './schema.js';

interface HttpModules {
  http: typeof import('node:http');
  https: typeof import('node:https');
}
let httpModules: HttpModules | undefined;

/** `node:http` and `node:https`, loaded at the first download: most processes never need them (cold start). */
async function loadHttp(): Promise<HttpModules> {
  httpModules ??= { http: await import('node:http'), https: await import('node:https') };
  return httpModules;
}

/** Fragment size when the twin gives none or an invalid one (the nRF `DOWNLOAD_CLIENT_HTTP_FRAG_SIZE`). */
export const DEFAULT_FRAGMENT_SIZE = 2048;
/** Smallest fragment size used; smaller requests are raised to it. */
export const MIN_FRAGMENT_SIZE = 1024;
/** Largest fragment size used; larger requests are lowered to it. */
export const MAX_FRAGMENT_SIZE = 1024 * 1024;
/** Default {@link FirmwareDownloadOptions.maxImageBytes}: 256 MiB. */
export const DEFAULT_MAX_IMAGE_BYTES = 256 * 1024 * 1024;

/**
 * The fragment size to use for a twin's `fwFragmentSize`: {@link DEFAULT_FRAGMENT_SIZE} when absent, not a finite
 * number or below 1; otherwise its integer part bounded to [{@link MIN_FRAGMENT_SIZE}, {@link MAX_FRAGMENT_SIZE}].
 */
export function fragmentSizeFor(requested: number | undefined): number {
  if (requested === undefined || !Number.isFinite(requested) || requested < 1) return DEFAULT_FRAGMENT_SIZE;
  return Math.min(MAX_FRAGMENT_SIZE, Math.max(MIN_FRAGMENT_SIZE, Math.floor(requested)));
}

/** Retry policy for one fragment. */
export interface FragmentRetryPolicy {
  /** Attempts per fragment, the first included (default 5). An attempt that wrote bytes resets the count. */
  maxAttempts?: number;
  /** Delay before the first retry, in ms (default 1000). */
  initialDelayMs?: number;
  /** Largest delay, in ms (default 30000). */
  maxDelayMs?: number;
  /** Growth per retry (default 2). */
  factor?: number;
}

/**
 * Delay before retry number `retry` (1 for the first retry): "equal jitter",
 * `base / 2 + random() * base / 2` with `base = min(maxDelayMs, initialDelayMs * factor ** (retry - 1))`, so
 * retries spread out but never collapse to zero. `random` returns a number in [0, 1).
 */
export function fragmentRetryDelay(retry: number, policy: FragmentRetryPolicy = {}, random: () => number = Math.random): number {
  const initial = policy.initialDelayMs ?? 1000;
  const max = policy.maxDelayMs ?? 30_000;
  const factor = policy.factor ?? 2;
  const base = Math.min(max, initial * factor ** Math.max(0, retry - 1));
  const r = Math.min(1, Math.max(0, random()));
  return Math.round(base / 2 + (r * base) / 2);
}

/** A parsed `Content-Range` response header. */
export type ContentRange =
  | { kind: 'range'; start: number; end: number; total: number }
  | { kind: 'unsatisfied'; total: number };

/**
 * Parse `Content-Range: bytes a-b/total` (206) or `bytes *\/total` (416). Undefined for anything else, including an
 * unknown total (`/*`), which a download cannot work with.
 */
export function parseContentRange(header: string | undefined): ContentRange | undefined {
  if (header === undefined) return undefined;
  const m = /^\s*bytes\s+(?:(\d+)-(\d+)|(\*))\/(\d+)\s*$/i.exec(header);
  if (!m) return undefined;
  const total = Number(m[4]);
  if (!Number.isSafeInteger(total)) return undefined;
  if (m[3] === '*') return { kind: 'unsatisfied', total };
  const start = Number(m[1]);
  const end = Number(m[2]);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || end < start || end >= total) return undefined;
  return { kind: 'range', start, end, total };
}

/** `protocol//host/path` without user info, query or fragment: a URL that is safe to log (no SAS token). */
export function redactUrl(url: string | URL): string {
  try {
    const u = typeof url === 'string' ? new URL(url) : url;
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '(invalid URL)';
  }
}

/** A progress notification. */
export interface FirmwareDownloadProgress {
  /** 0..100, rounded down. */
  percent: number;
  /** Bytes in the slot. */
  bytes: number;
  /** Image size. */
  total: number;
}

/** Timer functions, injectable for tests. */
export interface DownloadTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  /** Milliseconds on a monotonic clock (default `performance.now()`). */
  now(): number;
}

const defaultTimers: DownloadTimers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
  now: () => performance.now(),
};

/** Options of {@link FirmwareDownload}. */
export interface FirmwareDownloadOptions {
  /** The image URL, `https:` (or `http:` with `allowHttp`). */
  url: string | URL;
  /** Where the image goes. */
  slot: FirmwareSlot;
  /** The image's version, passed to `slot.finalize`. */
  version: string;
  /** Bytes per range request (the twin's `fwFragmentSize`); bounded by {@link fragmentSizeFor}. */
  fragmentSize?: number;
  /** The size the image must have (the twin's `size`). */
  expectedSize?: number;
  /** The hex SHA-256 the image must have (the twin's `sha256`). */
  sha256?: string;
  /** CA certificate(s) to trust instead of Node's root CAs. */
  ca?: string | string[];
  /** Allow plain `http:` (default false: `EACCES`). */
  allowHttp?: boolean;
  /** Redirects followed per request (default 5). */
  maxRedirects?: number;
  /** Retries of a failing fragment. */
  retry?: FragmentRetryPolicy;
  /** The whole download must finish within this many ms (default 30 minutes). */
  timeoutMs?: number;
  /** A request whose socket stays silent this long fails and is retried (default 30000 ms). */
  requestTimeoutMs?: number;
  /** Largest image accepted, in bytes (default 256 MiB). */
  maxImageBytes?: number;
  /**
   * Continue the slot's partial image when it belongs to this image (`slot.imageId()` equals `imageId`; a slot
   * without `imageId` is trusted) instead of erasing it first (default false).
   */
  resume?: boolean;
  /**
   * Identity stored with the partial image by `slot.erase(imageId)` and compared on `resume`. Default:
   * `sha256:<hex>` when `sha256` is given, else `<version>@<url without query>`.
   */
  imageId?: string;
  /** Progress callback: when the percentage grows, at most once per `progressIntervalMs` (100 % is always sent). */
  onProgress?: (progress: FirmwareDownloadProgress) => void;
  /** Minimum interval between progress callbacks, in ms (default 250). */
  progressIntervalMs?: number;
  /** Called with `'pending'` before and `'done'` after the slot is erased (FOTA_ERASE_PENDING / _DONE). */
  onErase?: (phase: 'pending' | 'done') => void;
  /** Cancels the download like {@link FirmwareDownload.abort}. */
  signal?: AbortSignal;
  /** Jitter source in [0, 1) (default `Math.random`). */
  random?: () => number;
  /** Timer functions (default the global ones). */
  timers?: DownloadTimers;
}

/** What a successful download returns. */
export interface FirmwareDownloadResult {
  /** Image size in bytes. */
  size: number;
  /** Lower-case hex SHA-256 of the image, read back from the slot. */
  sha256: string;
  /** The slot's size when the download started (0 unless `resume` found a partial image). */
  resumedFrom: number;
  /** The URL the last fragment came from (after redirects), redacted (no query string). */
  url: string;
}

/** Where a download is. */
export type FirmwareDownloadState = 'idle' | 'erasing' | 'downloading' | 'verifying' | 'done' | 'failed' | 'aborted';

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const RETRYABLE_STATUSES = new Set([408, 425, 429, 500, 502, 503, 504]);
const TLS_ERROR_RE = /^(CERT_|UNABLE_TO_|DEPTH_ZERO|SELF_SIGNED|HOSTNAME_MISMATCH|ERR_TLS_|ERR_SSL_|ERR_OSSL_)/;
const VERIFY_CHUNK = 64 * 1024;

/** Errors that a retry may fix. */
const retryable = new WeakSet<AzureIotHubError>();

function retryableError(code: 'ECONNRESET' | 'ECONNREFUSED' | 'ETIMEDOUT' | 'EIO', message: string,
  details: { cause?: unknown; status?: number } = {}): AzureIotHubError {
  const e = new AzureIotHubError(code, message, details);
  retryable.add(e);
  return e;
}

/** Map a socket/TLS error to a coded error; TLS failures are final, network failures are retried. */
function networkError(err: unknown, url: URL): AzureIotHubError {
  if (err instanceof AzureIotHubError) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code ?? '';
  const where = redactUrl(url);
  if (TLS_ERROR_RE.test(code)) {
    return new AzureIotHubError('EACCES', `TLS with the firmware server ${where} failed (${code})`, { cause: err });
  }
  if (code === 'ECONNREFUSED') return retryableError('ECONNREFUSED', `firmware server ${where} refused the connection`, { cause: err });
  if (code === 'ETIMEDOUT') return retryableError('ETIMEDOUT', `firmware server ${where} timed out`, { cause: err });
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH') {
    return retryableError('EIO', `firmware server ${where} unreachable (${code})`, { cause: err });
  }
  return retryableError('ECONNRESET', `connection to the firmware server ${where} failed (${code || 'closed'})`, { cause: err });
}

function slotError(err: unknown, what: string): AzureIotHubError {
  if (err instanceof AzureIotHubError) return err;
  return toAzureIotHubError(err, 'EIO', `firmware slot ${what} failed`);
}

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/**
 * One firmware download. Create it, call {@link FirmwareDownload.start} once, and {@link FirmwareDownload.abort}
 * to cancel (disconnect, dispose). Callbacks report erase phases and progress; the promise settles once, with the
 * verified image or a coded error (see the module comment). Exceptions thrown by callbacks are ignored.
 */
export class FirmwareDownload {
  private readonly o: FirmwareDownloadOptions;
  private readonly timers: DownloadTimers;
  private readonly fragment: number;
  private readonly agents = new Map<string, http.Agent>();
  private stateValue: FirmwareDownloadState = 'idle';
  private stopError: AzureIotHubError | undefined;
  private currentReq: http.ClientRequest | undefined;
  private wake: (() => void) | undefined;
  private overallTimer: unknown;
  private offset = 0;
  private total: number | undefined;
  private lastPercent = -1;
  private lastProgressAt = Number.NEGATIVE_INFINITY;
  private onSignalAbort: (() => void) | undefined;

  constructor(options: FirmwareDownloadOptions) {
    this.o = options;
    this.timers = options.timers ?? defaultTimers;
    this.fragment = fragmentSizeFor(options.fragmentSize);
  }

  /** Where the download is. */
  get state(): FirmwareDownloadState {
    return this.stateValue;
  }

  /** Bytes in the slot so far. */
  get bytesWritten(): number {
    return this.offset;
  }

  /** The image size, once the server announced it. */
  get totalBytes(): number | undefined {
    return this.total;
  }

  /** The fragment size in use. */
  get fragmentSize(): number {
    return this.fragment;
  }

  /** Cancel: the pending `start()` rejects with `ECANCELED`. The slot keeps what was written (resumable). */
  abort(): void {
    this.stop(new AzureIotHubError('ECANCELED', 'firmware download aborted'));
  }

  /** Run the download. Call once (`EALREADY` otherwise). */
  async start(): Promise<FirmwareDownloadResult> {
    if (this.stateValue !== 'idle') throw new AzureIotHubError('EALREADY', 'firmware download already started');
    this.stateValue = 'downloading';
    const signal = this.o.signal;
    if (signal) {
      if (signal.aborted) this.abort();
      this.onSignalAbort = () => this.abort();
      signal.addEventListener('abort', this.onSignalAbort, { once: true });
    }
    const timeoutMs = this.o.timeoutMs ?? 30 * 60_000;
    this.overallTimer = this.timers.setTimeout(() => {
      this.stop(new AzureIotHubError('ETIMEDOUT', `firmware download did not finish within ${timeoutMs} ms`));
    }, timeoutMs);
    try {
      const result = await this.run();
      this.stateValue = 'done';
      return result;
    } catch (err) {
      const e = this.stopError ?? toAzureIotHubError(err, 'EIO');
      this.stateValue = e.code === 'ECANCELED' ? 'aborted' : 'failed';
      throw e;
    } finally {
      this.timers.clearTimeout(this.overallTimer);
      if (signal && this.onSignalAbort) signal.removeEventListener('abort', this.onSignalAbort);
      for (const agent of this.agents.values()) agent.destroy();
      this.agents.clear();
    }
  }

  private stop(err: AzureIotHubError): void {
    if (this.stopError || this.stateValue === 'done' || this.stateValue === 'failed') return;
    this.stopError = err;
    // Without an error argument: the request may have finished and handed its keep-alive socket back to the agent,
    // and a socket destroyed with an error and no listener left would throw an uncaught exception. The pending
    // request or body read still fails, and reports `stopError`.
    this.currentReq?.destroy();
    this.wake?.();
  }

  private check(): void {
    if (this.stopError) throw this.stopError;
  }

  private checkUrl(url: URL): void {
    if (url.protocol === 'https:') return;
    if (url.protocol === 'http:') {
      if (this.o.allowHttp === true) return;
      throw new AzureIotHubError('EACCES', `plain HTTP firmware URL ${redactUrl(url)} refused (set fota.allowHttp)`);
    }
    throw new AzureIotHubError('EINVAL', `firmware URL protocol ${url.protocol} is not supported (https: or http:)`);
  }

  private defaultImageId(url: URL): string {
    if (this.o.sha256 !== undefined) return `sha256:${this.o.sha256.toLowerCase()}`;
    return `${this.o.version}@${redactUrl(url)}`;
  }

  private async run(): Promise<FirmwareDownloadResult> {
    let url: URL;
    try {
      url = typeof this.o.url === 'string' ? new URL(this.o.url) : new URL(this.o.url.href);
    } catch (err) {
      throw new AzureIotHubError('EINVAL', 'firmware URL is not a valid URL', { cause: err });
    }
    this.checkUrl(url);
    if (this.o.sha256 !== undefined && !/^[0-9A-Fa-f]{64}$/.test(this.o.sha256)) {
      throw new AzureIotHubError('EINVAL', 'sha256 must be 64 hexadecimal digits');
    }
    const slot = this.o.slot;
    const imageId = this.o.imageId ?? this.defaultImageId(url);
    let resumedFrom = 0;
    if (this.o.resume === true) {
      const have = await slot.size().catch((e: unknown) => Promise.reject(slotError(e, 'size')));
      const id = slot.imageId ? await slot.imageId().catch((e: unknown) => Promise.reject(slotError(e, 'imageId'))) : imageId;
      if (have > 0 && id === imageId) resumedFrom = have;
    }
    this.check();
    if (resumedFrom === 0) {
      this.stateValue = 'erasing';
      this.callback(() => this.o.onErase?.('pending'));
      await slot.erase(imageId).catch((e: unknown) => Promise.reject(slotError(e, 'erase')));
      this.callback(() => this.o.onErase?.('done'));
      this.check();
    }
    this.stateValue = 'downloading';
    this.offset = resumedFrom;

    const policy = this.o.retry ?? {};
    const maxAttempts = Math.max(1, policy.maxAttempts ?? 5);
    const random = this.o.random ?? Math.random;
    let target = url;
    let failures = 0;
    while (this.total === undefined || this.offset < this.total) {
      this.check();
      const before = this.offset;
      try {
        target = await this.fetchOnce(target);
        failures = 0;
      } catch (err) {
        this.check();
        const e = err instanceof AzureIotHubError ? err : networkError(err, target);
        if (!retryable.has(e)) throw e;
        this.offset = await slot.size().catch((x: unknown) => Promise.reject(slotError(x, 'size')));
        if (this.offset > before) failures = 0;
        failures++;
        if (failures >= maxAttempts) throw e;
        // A redirect target may be short-lived (a signed URL): start again from the original URL.
        target = url;
        await this.sleep(fragmentRetryDelay(failures, policy, random));
      }
    }

    this.stateValue = 'verifying';
    const total = this.total;
    const have = await slot.size().catch((e: unknown) => Promise.reject(slotError(e, 'size')));
    if (have !== total) {
      throw new AzureIotHubError('EMSGSIZE', `the slot holds ${have} bytes, the image has ${total}`);
    }
    const sha256 = await this.hashSlot(total);
    this.check();
    if (this.o.sha256 !== undefined && sha256 !== this.o.sha256.toLowerCase()) {
      await this.discard();
      throw new AzureIotHubError('EIO', 'firmware image SHA-256 does not match the expected digest');
    }
    await slot
      .finalize({ version: this.o.version, size: total, sha256 })
      .catch((e: unknown) => Promise.reject(slotError(e, 'finalize')));
    this.progress(true);
    return { size: total, sha256, resumedFrom, url: redactUrl(target) };
  }

  private callback(fn: () => void): void {
    try {
      fn();
    } catch {
      // A throwing callback must not break the download (documented).
    }
  }

  private async discard(): Promise<void> {
    try {
      await this.o.slot.erase();
    } catch {
      // Best effort: the download already failed with a more useful error.
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const handle = this.timers.setTimeout(() => {
        this.wake = undefined;
        resolve();
      }, ms);
      this.wake = () => {
        this.timers.clearTimeout(handle);
        this.wake = undefined;
        resolve();
      };
    }).then(() => this.check());
  }

  private async hashSlot(total: number): Promise<string> {
    const hash = createHash('sha256');
    for (let off = 0; off < total; off += VERIFY_CHUNK) {
      this.check();
      const want = Math.min(VERIFY_CHUNK, total - off);
      const data = await this.o.slot.read(off, want).catch((e: unknown) => Promise.reject(slotError(e, 'read')));
      if (data.length !== want) throw new AzureIotHubError('EIO', `firmware slot returned ${data.length} of ${want} bytes at ${off}`);
      hash.update(data);
    }
    return hash.digest('hex');
  }

  private progress(final = false): void {
    const total = this.total;
    if (!this.o.onProgress || total === undefined || total === 0) return;
    const percent = Math.min(100, Math.floor((this.offset * 100) / total));
    if (percent <= this.lastPercent) return;
    const now = this.timers.now();
    if (!final && percent < 100 && now - this.lastProgressAt < (this.o.progressIntervalMs ?? 250)) return;
    this.lastPercent = percent;
    this.lastProgressAt = now;
    const p: FirmwareDownloadProgress = { percent, bytes: this.offset, total };
    this.callback(() => this.o.onProgress?.(p));
  }

  private learnTotal(n: number): void {
    if (this.total !== undefined) {
      if (n !== this.total) {
        throw new AzureIotHubError('EMSGSIZE', `firmware server announced ${n} bytes after announcing ${this.total}`);
      }
      return;
    }
    if (n === 0) throw new AzureIotHubError('EMSGSIZE', 'firmware image is empty');
    if (this.o.expectedSize !== undefined && n !== this.o.expectedSize) {
      throw new AzureIotHubError('EMSGSIZE', `firmware image is ${n} bytes, the twin announced ${this.o.expectedSize}`);
    }
    const max = this.o.maxImageBytes ?? DEFAULT_MAX_IMAGE_BYTES;
    if (n > max) throw new AzureIotHubError('EMSGSIZE', `firmware image is ${n} bytes, more than ${max}`);
    this.total = n;
  }

  private agent(protocol: string, mods: HttpModules): http.Agent {
    let agent = this.agents.get(protocol);
    if (!agent) {
      agent =
        protocol === 'https:'
          ? new mods.https.Agent({ keepAlive: true, maxSockets: 1, ...(this.o.ca !== undefined ? { ca: this.o.ca } : {}) })
          : new mods.http.Agent({ keepAlive: true, maxSockets: 1 });
      this.agents.set(protocol, agent);
    }
    return agent;
  }

  /** One GET, without following redirects. Resolves with the response head. */
  private async request(url: URL, range: string): Promise<http.IncomingMessage> {
    const mods = await loadHttp();
    if (this.stopError !== undefined) throw this.stopError; // aborted or timed out while the modules loaded
    return new Promise((resolve, reject) => {
      const mod = url.protocol === 'https:' ? mods.https : mods.http;
      const req = mod.request(url, {
        method: 'GET',
        agent: this.agent(url.protocol, mods),
        headers: { Range: range, 'Accept-Encoding': 'identity' },
      });
      this.currentReq = req;
      const timeout = this.o.requestTimeoutMs ?? 30_000;
      req.setTimeout(timeout, () => {
        req.destroy(retryableError('ETIMEDOUT', `firmware server ${redactUrl(url)} silent for ${timeout} ms`));
      });
      req.on('socket', (socket) => socket.setNoDelay(true));
      req.on('response', resolve);
      req.on('error', (err) => reject(this.stopError ?? networkError(err, url)));
      req.end();
    });
  }

  /** GET with `range`, following redirects. */
  private async get(url: URL, range: string): Promise<{ res: http.IncomingMessage; url: URL }> {
    const maxRedirects = this.o.maxRedirects ?? 5;
    let current = url;
    for (let redirects = 0; ; redirects++) {
      const res = await this.request(current, range);
      const status = res.statusCode ?? 0;
      if (!REDIRECT_STATUSES.has(status)) return { res, url: current };
      res.resume();
      const location = headerValue(res.headers.location);
      if (location === undefined || location === '') {
        throw new AzureIotHubError('EPROTO', `redirect ${status} without Location from ${redactUrl(current)}`, { status });
      }
      if (redirects >= maxRedirects) {
        throw new AzureIotHubError('EIO', `too many redirects (more than ${maxRedirects}) from ${redactUrl(url)}`, { status });
      }
      let next: URL;
      try {
        next = new URL(location, current);
      } catch (err) {
        throw new AzureIotHubError('EPROTO', `redirect ${status} to an invalid Location`, { status, cause: err });
      }
      this.checkUrl(next);
      current = next;
    }
  }

  /** Fetch the next fragment (or, from a server without Range, the rest of the image). Returns the URL used. */
  private async fetchOnce(target: URL): Promise<URL> {
    const start = this.offset;
    let end = start + this.fragment - 1;
    if (this.total !== undefined) end = Math.min(end, this.total - 1);
    const { res, url } = await this.get(target, `bytes=${start}-${end}`);
    const status = res.statusCode ?? 0;
    if (status === 206) {
      const cr = parseContentRange(headerValue(res.headers['content-range']));
      if (!cr || cr.kind !== 'range') {
        res.destroy();
        throw new AzureIotHubError('EPROTO', `206 without a valid Content-Range from ${redactUrl(url)}`, { status });
      }
      if (cr.start !== start || cr.end > end) {
        res.destroy();
        throw new AzureIotHubError('EPROTO',
          `asked for bytes ${start}-${end}, the server sent ${cr.start}-${cr.end}`, { status });
      }
      try {
        this.learnTotal(cr.total);
      } catch (err) {
        res.destroy();
        throw err;
      }
      await this.consume(res, url, cr.end - cr.start + 1, 0);
      return url;
    }
    if (status === 200) {
      const lengthHeader = headerValue(res.headers['content-length']);
      const length = lengthHeader === undefined ? undefined : Number(lengthHeader);
      try {
        if (length !== undefined) {
          if (!Number.isSafeInteger(length)) throw new AzureIotHubError('EPROTO', 'invalid Content-Length', { status });
          this.learnTotal(length);
          if (start > length) throw new AzureIotHubError('EMSGSIZE', `the slot holds ${start} bytes, the image has ${length}`);
        }
      } catch (err) {
        res.destroy();
        throw err;
      }
      await this.consume(res, url, length === undefined ? undefined : length - start, start);
      if (length === undefined) this.learnTotal(this.offset);
      return url;
    }
    res.resume();
    if (status === 416) {
      const cr = parseContentRange(headerValue(res.headers['content-range']));
      if (!cr || cr.kind !== 'unsatisfied') {
        throw new AzureIotHubError('EIO', `firmware server answered 416 for bytes ${start}-${end}`, { status });
      }
      if (start === cr.total && start > 0) {
        // The slot already holds the whole image (a resumed download that had finished).
        this.learnTotal(cr.total);
        return url;
      }
      if (this.total === undefined && start > cr.total) await this.discard();
      this.learnTotal(cr.total);
      throw new AzureIotHubError('EMSGSIZE',
        `firmware server announced ${cr.total} bytes but cannot serve byte ${start}`, { status });
    }
    const message = `firmware server answered ${status} for ${redactUrl(url)}`;
    if (RETRYABLE_STATUSES.has(status)) throw retryableError('EIO', message, { status });
    throw new AzureIotHubError('EIO', message, { status });
  }

  /**
   * Stream a response body into the slot at `this.offset`, skipping its first `skip` bytes (already in the slot).
   * `length` is the number of bytes to write, when known.
   */
  private async consume(res: http.IncomingMessage, url: URL, length: number | undefined, skip: number): Promise<void> {
    let skipped = 0;
    let written = 0;
    const max = this.o.maxImageBytes ?? DEFAULT_MAX_IMAGE_BYTES;
    try {
      for await (const chunk of res as AsyncIterable<Buffer>) {
        let data: Uint8Array = chunk;
        if (skipped < skip) {
          const n = Math.min(skip - skipped, data.length);
          skipped += n;
          data = data.subarray(n);
          if (data.length === 0) continue;
        }
        if (length !== undefined && written + data.length > length) {
          throw new AzureIotHubError('EPROTO', `firmware server sent more than the ${length} bytes announced`);
        }
        if (this.offset + data.length > max) {
          throw new AzureIotHubError('EMSGSIZE', `firmware image exceeds ${max} bytes`);
        }
        try {
          await this.o.slot.write(this.offset, data);
        } catch (err) {
          throw slotError(err, 'write');
        }
        this.offset += data.length;
        written += data.length;
        this.check();
        this.progress();
      }
    } catch (err) {
      res.destroy();
      if (err instanceof AzureIotHubError) throw err;
      throw this.stopError ?? networkError(err, url);
    }
    if ((length !== undefined && written < length) || skipped < skip || !res.complete) {
      throw retryableError('ECONNRESET', `firmware download from ${redactUrl(url)} was cut after ${written} bytes`);
    }
  }
}

/**
 * Download options for a FOTA job and the client's `fota` config: the job's URL, version, `fwFragmentSize`,
 * `sha256` and `size`; the config's `storage`, `ca` and `allowHttp`; then `extra` (callbacks, resume, timeouts).
 */
export function jobDownloadOptions(
  job: Pick<DesiredFirmware, 'url' | 'version' | 'fragmentSize' | 'sha256' | 'size'>,
  config: Pick<AzureIotHubFotaConfig, 'storage' | 'ca' | 'allowHttp'>,
  extra: Partial<FirmwareDownloadOptions> = {},
): FirmwareDownloadOptions {
  return {
    url: job.url,
    slot: config.storage,
    version: job.version,
    ...(job.fragmentSize !== undefined ? { fragmentSize: job.fragmentSize } : {}),
    ...(job.sha256 !== undefined ? { sha256: job.sha256 } : {}),
    ...(job.size !== undefined ? { expectedSize: job.size } : {}),
    ...(config.ca !== undefined ? { ca: config.ca } : {}),
    ...(config.allowHttp !== undefined ? { allowHttp: config.allowHttp } : {}),
    ...extra,
  };
}

/** Run one download to completion: `new FirmwareDownload(options).start()`. Cancel with `options.signal`. */
export function downloadFirmware(options: FirmwareDownloadOptions): Promise<FirmwareDownloadResult> {
  return new FirmwareDownload(options).start();
}
