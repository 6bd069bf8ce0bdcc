/**
 * The FOTA controller: wires the pure FOTA parts (the twin schema, the C decision rules of `state.ts`, the resumable
 * downloader, the firmware slot) to the client's twin traffic, its reported-properties PATCH and its FOTA_* events.
 * The client creates one in `init()` when `config.fota` is set and keeps it for its whole life.
 *
 * Triggers: the full twin (a twin GET 200 body: `desired.firmware` and `reported.firmware`), given to
 * {@link FotaController.onTwin} before TWIN_RECEIVED is emitted, at every READY (the client asks for the twin after
 * each SUBACK) and whenever the application calls `getTwin()`; and desired PATCHes with a root `firmware` member,
 * given to {@link FotaController.onDesired} before TWIN_DESIRED_RECEIVED. The controller keeps the merged desired
 * document (RFC 7396, as IoT Hub applies patches), so a PATCH that only changes `firmware.fwVersion` still gives a
 * complete job.
 *
 * Events, in order for a job: FOTA_START (after the `downloading` report is queued, as C emits it after sending the
 * report), FOTA_ERASE_PENDING and FOTA_ERASE_DONE (around the slot's `erase`; absent when a download resumes), then
 * FOTA_DONE (image complete, size and SHA-256 verified, `slot.finalize` done, `applying` reported: the application
 * reboots or swaps) or FOTA_ERROR (with a coded `error`, `error` reported). Every FOTA event carries
 * `data.fota: { jobId?, version, error? }`.
 *
 * Reports: `reported.firmware` patches go through the client's twin machinery (a `$rid`, a 204 answer). While the
 * link is down they wait, the latest state replacing an older one, and go out at the next READY; a report the hub
 * answers with 429, 5xx or not at all is tried again (after `reportRetryMs` while connected, else at the next
 * READY). A full twin is read as if the last report of this process had already reached it, so a twin fetched
 * before a queued report lands (a reconnect during the download) is not mistaken for an interrupted job.
 *
 * The MQTT link and the HTTPS download are independent: a link loss does not touch the download. The application's
 * `disconnect()` calls {@link FotaController.abort}: the download stops (FOTA_ERROR with `ECANCELED`, nothing
 * reported), the slot keeps its bytes, and with `resumeInterrupted` (default) the next `connect()` resumes it from
 * the twin, which still says `downloading`.
 *
 * A job that arrives while a download runs is ignored (a debug message with `reason: 'busy'`), as C does; unlike C,
 * once that download ends the controller looks at the merged desired document again, so a job that replaced the
 * running one in the meantime is not lost until the next reconnect.
 *
 * Debug messages ({@link AzureIotHubFotaDebug}) go to the `node:diagnostics_channel` channel
 * {@link FOTA_CHANNEL} and to `config.fota.onDebug`.
 *
 * @see https://developer.nordicsemi.com/nRF_Connect_SDK/doc/1.9.0/nrf/libraries/networking/azure_fota.html
 * @see https://nodejs.org/api/diagnostics_channel.html
 */
import { channel } from 'node:diagnostics_channel';
import { toAzureIotHubError, type AzureIotHubError } from '../../errors.js';
import type {
  AzureIotHubEvt,
  AzureIotHubFotaConfig,
  AzureIotHubFotaDebug,
  AzureIotHubFotaInfo,
  AzureIotHubFotaProgress,
} from '../types.js';
import {
  FirmwareDownload,
  jobDownloadOptions,
  redactUrl,
  type FirmwareDownloadOptions,
  type FirmwareDownloadResult,
} from './download.js';
import { applyMergePatch, parseTwinDocument, type FirmwareReport } from './schema.js';
import {
  createFotaState,
  decideFota,
  fotaDownloadAborted,
  fotaDownloadDone,
  fotaDownloadFailed,
  type FotaDecision,
  type FotaJob,
  type FotaState,
} from './state.js';

/** The `node:diagnostics_channel` channel of FOTA debug messages ({@link AzureIotHubFotaDebug}). */
export const FOTA_CHANNEL = 'azure-iot-hub:fota';
/** Default {@link FotaControllerOptions.reportRetryMs}. */
export const DEFAULT_REPORT_RETRY_MS = 5000;

const fotaChannel = channel(FOTA_CHANNEL);

/** What the controller needs from the client. */
export interface FotaControllerIo {
  /**
   * Send a reported-properties PATCH (the client's `updateReported`). Resolves on a 2xx answer; rejects with a coded
   * error (`ENOTCONN`, `ETIMEDOUT`, or the status-derived code with `status`) otherwise.
   */
  report(patch: Record<string, unknown>): Promise<unknown>;
  /** Emit an event to the application's handler (exceptions are the client's business). */
  emit(evt: AzureIotHubEvt): void;
  /** Whether a report can be sent now (the client is CONNECTED). */
  connected(): boolean;
}

/** Tuning for tests and embedders (not part of `config.fota`). */
export interface FotaControllerOptions {
  /** Extra downloader options: retry policy, timeouts, size limit, timers, jitter source. */
  download?: Partial<
    Pick<FirmwareDownloadOptions, 'retry' | 'timeoutMs' | 'requestTimeoutMs' | 'maxImageBytes' | 'maxRedirects' | 'random' | 'timers'>
  >;
  /** Delay before a report that failed while connected is sent again, in ms (default 5000). */
  reportRetryMs?: number;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function sameJob(a: FotaJob, b: FotaJob): boolean {
  return a.jobId === b.jobId && a.version === b.version && a.url === b.url;
}

/** A reported answer that sending again cannot fix (400 malformed, 413 too large, ...; 408 and 429 are retried). */
function permanent(err: AzureIotHubError): boolean {
  if (err.code === 'EINVAL' || err.code === 'EMSGSIZE') return true;
  const s = err.status;
  return s !== undefined && s >= 400 && s < 500 && s !== 408 && s !== 429;
}

/**
 * FOTA for one client. See the module comment for the behaviour; the client calls {@link FotaController.onTwin},
 * {@link FotaController.onDesired}, {@link FotaController.onReady} and {@link FotaController.abort}.
 */
export class FotaController {
  readonly #config: AzureIotHubFotaConfig;
  readonly #io: FotaControllerIo;
  readonly #options: FotaControllerOptions;
  #state: FotaState;
  /** The merged desired document (`$version` included), once a full twin or a PATCH arrived. */
  #desired: Record<string, unknown> | undefined;
  #download: FirmwareDownload | undefined;
  #running: Promise<void> | undefined;
  /** A document with another job arrived while the download ran: look at the desired document again at the end. */
  #superseded = false;
  /** The last report made in this process: what the twin's `reported.firmware` says once the queue has drained. */
  #lastReport: FirmwareReport | undefined;
  /** The report waiting to be sent (the latest replaces an older one). */
  #pendingReport: FirmwareReport | undefined;
  #reportInFlight = false;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(config: AzureIotHubFotaConfig, io: FotaControllerIo, options: FotaControllerOptions = {}) {
    this.#config = config;
    this.#io = io;
    this.#options = options;
    this.#state = createFotaState(config.currentVersion);
  }

  /** The decision state (running version, phase, status, attempted job, current job). */
  get state(): FotaState {
    return this.#state;
  }

  /** True while a download runs. */
  get downloading(): boolean {
    return this.#running !== undefined;
  }

  /** The report waiting for the link (or for a retry), if any. */
  get pendingReport(): FirmwareReport | undefined {
    return this.#pendingReport;
  }

  /** Resolves when no download runs (immediately when none does). Never rejects. */
  async whenIdle(): Promise<void> {
    while (this.#running !== undefined) await this.#running;
  }

  /** A full twin (twin GET 200 body). Call before emitting TWIN_RECEIVED. Never throws. */
  onTwin(payload: Uint8Array | string): void {
    const parsed = parseTwinDocument(payload);
    if (parsed.kind === 'invalid') {
      this.#debug({ event: 'ignored', reason: 'invalid', error: parsed.error });
      return;
    }
    const doc = parsed.doc;
    if (isObject(doc['desired'])) this.#desired = { ...doc['desired'] };
    let input: Readonly<Record<string, unknown>> = doc;
    const last = this.#lastReport;
    if (last !== undefined) {
      // The twin may predate a report still queued or in flight (a GET sent at READY answers before the queued
      // PATCH lands); what this process reported last is what the twin says once it has.
      const reported = isObject(doc['reported']) ? doc['reported'] : {};
      input = { ...doc, reported: applyMergePatch(reported, { firmware: { ...last.firmware } }) };
    }
    this.#apply(decideFota(this.#state, input, this.#decideOptions()));
  }

  /** A desired-properties PATCH body. Call before emitting TWIN_DESIRED_RECEIVED. Never throws. */
  onDesired(payload: Uint8Array | string): void {
    const parsed = parseTwinDocument(payload);
    if (parsed.kind === 'invalid') {
      this.#debug({ event: 'ignored', reason: 'invalid', error: parsed.error });
      return;
    }
    const patch = parsed.doc;
    const known = this.#desired?.['$version'];
    const version = patch['$version'];
    // A PATCH no newer than the document we hold is already part of it (it raced with the twin GET).
    const stale = typeof known === 'number' && typeof version === 'number' && version <= known;
    if (!stale) this.#desired = applyMergePatch(this.#desired ?? {}, patch) as Record<string, unknown>;
    if (!Object.prototype.hasOwnProperty.call(patch, 'firmware')) return;
    this.#evaluateDesired();
  }

  /** The client is READY (after SUBACK and the twin GET request): send the report that waited for the link. */
  onReady(): void {
    this.#clearRetryTimer();
    this.#flush();
  }

  /**
   * Cancel the running download (the application's `disconnect()`): FOTA_ERROR with `ECANCELED` follows, nothing is
   * reported, the slot keeps its bytes for a resume. Reports waiting for the link are kept. A link loss must not
   * call this.
   */
  abort(): void {
    this.#clearRetryTimer();
    this.#download?.abort();
  }

  // ------------------------------------------------------------------------------------------------------------

  #decideOptions(): { resumeInterrupted: boolean } {
    return { resumeInterrupted: this.#config.resumeInterrupted ?? true };
  }

  /** Decide on the merged desired document, in the PATCH form (`{ firmware }`, no `reported`). */
  #evaluateDesired(): void {
    const firmware = this.#desired?.['firmware'];
    this.#apply(decideFota(this.#state, firmware === undefined ? {} : { firmware }, this.#decideOptions()));
  }

  #apply(d: FotaDecision): void {
    this.#state = d.state;
    if (d.ignored !== undefined) {
      const desired = d.desired;
      this.#debug({
        event: 'ignored',
        reason: d.ignored,
        ...(desired?.jobId !== undefined ? { jobId: desired.jobId } : {}),
        ...(desired !== undefined ? { version: desired.version } : {}),
        ...(d.error !== undefined ? { error: d.error } : {}),
      });
      const running = this.#state.job;
      if (d.ignored === 'busy' && desired !== undefined && running !== undefined && !sameJob(desired, running)) {
        this.#superseded = true;
      }
    }
    if (d.report !== undefined) this.#queueReport(d.report);
    if (d.start !== undefined) this.#start(d.start, d.resume === true);
  }

  #info(job: FotaJob, error?: AzureIotHubError): AzureIotHubFotaInfo {
    return {
      ...(job.jobId !== undefined ? { jobId: job.jobId } : {}),
      version: job.version,
      ...(error !== undefined ? { error } : {}),
    };
  }

  #start(job: FotaJob, resume: boolean): void {
    const jobId = job.jobId !== undefined ? { jobId: job.jobId } : {};
    this.#debug({ event: 'start', ...jobId, version: job.version, url: redactUrl(job.url), resume });
    this.#io.emit({ type: 'FOTA_START', data: { fota: this.#info(job) } });
    const config = this.#config;
    const download = new FirmwareDownload(
      jobDownloadOptions(job, config, {
        ...this.#options.download,
        resume,
        ...(config.progressIntervalMs !== undefined ? { progressIntervalMs: config.progressIntervalMs } : {}),
        onErase: (phase) => {
          this.#io.emit({ type: phase === 'pending' ? 'FOTA_ERASE_PENDING' : 'FOTA_ERASE_DONE', data: { fota: this.#info(job) } });
        },
        onProgress: (p) => {
          const progress: AzureIotHubFotaProgress = { ...jobId, version: job.version, percent: p.percent, bytes: p.bytes, total: p.total };
          this.#debug({ event: 'progress', ...progress });
          config.onProgress?.(progress);
        },
      }),
    );
    this.#download = download;
    const running = download.start().then(
      (result) => this.#finished(download, job, result),
      (err: unknown) => this.#failed(download, job, toAzureIotHubError(err, 'EIO')),
    );
    this.#running = running;
    void running.finally(() => {
      if (this.#running === running) this.#running = undefined;
    });
  }

  #finished(download: FirmwareDownload, job: FotaJob, result: FirmwareDownloadResult): void {
    if (this.#download !== download) return;
    this.#download = undefined;
    const { state, report } = fotaDownloadDone(this.#state);
    this.#state = state;
    this.#debug({
      event: 'done',
      ...(job.jobId !== undefined ? { jobId: job.jobId } : {}),
      version: job.version,
      size: result.size,
      sha256: result.sha256,
      resumedFrom: result.resumedFrom,
    });
    this.#queueReport(report);
    this.#io.emit({ type: 'FOTA_DONE', data: { fota: this.#info(job) } });
    this.#afterDownload();
  }

  #failed(download: FirmwareDownload, job: FotaJob, error: AzureIotHubError): void {
    if (this.#download !== download) return;
    this.#download = undefined;
    const jobId = job.jobId !== undefined ? { jobId: job.jobId } : {};
    this.#debug({ event: 'failed', ...jobId, version: job.version, error });
    if (error.code === 'ECANCELED') {
      // Cancelled by disconnect(): the twin still says `downloading`, so the next connect resumes or reports error.
      this.#state = fotaDownloadAborted(this.#state).state;
      this.#superseded = false;
      this.#io.emit({ type: 'FOTA_ERROR', data: { fota: this.#info(job, error) } });
      return;
    }
    const { state, report } = fotaDownloadFailed(this.#state);
    this.#state = state;
    this.#queueReport(report);
    this.#io.emit({ type: 'FOTA_ERROR', data: { fota: this.#info(job, error) } });
    this.#afterDownload();
  }

  #afterDownload(): void {
    if (!this.#superseded) return;
    this.#superseded = false;
    this.#evaluateDesired();
  }

  // ------------------------------------------------------------------------------------------------------------
  // Reports

  #queueReport(report: FirmwareReport): void {
    this.#lastReport = report;
    this.#pendingReport = report;
    this.#debug({ event: 'report', phase: 'queued', status: report.firmware.fwUpdateStatus });
    this.#flush();
  }

  #flush(): void {
    const report = this.#pendingReport;
    if (report === undefined || this.#reportInFlight || !this.#io.connected()) return;
    this.#pendingReport = undefined;
    this.#reportInFlight = true;
    const status = report.firmware.fwUpdateStatus;
    let sent: Promise<unknown>;
    try {
      sent = this.#io.report({ firmware: { ...report.firmware } });
    } catch (err) {
      sent = Promise.reject(err);
    }
    sent.then(
      () => {
        this.#reportInFlight = false;
        this.#debug({ event: 'report', phase: 'sent', status });
        this.#flush();
      },
      (err: unknown) => {
        this.#reportInFlight = false;
        const error = toAzureIotHubError(err, 'EIO');
        if (permanent(error)) {
          this.#debug({ event: 'report', phase: 'dropped', status, error });
          // The twin never got it: stop reading full twins as if it had.
          if (this.#lastReport === report && this.#pendingReport === undefined) this.#lastReport = undefined;
          this.#flush();
          return;
        }
        this.#debug({ event: 'report', phase: 'retry', status, error });
        // A newer report queued meanwhile wins; otherwise this one goes out again.
        this.#pendingReport ??= report;
        if (this.#io.connected()) this.#armRetryTimer();
        // Otherwise the next READY sends it.
      },
    );
  }

  #armRetryTimer(): void {
    if (this.#retryTimer !== undefined) return;
    const timer = setTimeout(() => {
      this.#retryTimer = undefined;
      this.#flush();
    }, this.#options.reportRetryMs ?? DEFAULT_REPORT_RETRY_MS);
    timer.unref();
    this.#retryTimer = timer;
  }

  #clearRetryTimer(): void {
    if (this.#retryTimer !== undefined) clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
  }

  #debug(message: AzureIotHubFotaDebug): void {
    if (fotaChannel.hasSubscribers) fotaChannel.publish(message);
    const onDebug = this.#config.onDebug;
    if (onDebug === undefined) return;
    try {
      onDebug(message);
    } catch {
      // Documented: a throwing debug callback is ignored.
    }
  }
}
