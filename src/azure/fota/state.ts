/**
 * FOTA decision logic: the nRF Connect SDK `azure_fota_msg_process` rules as a pure reducer. Input: the current
 * {@link FotaState} and a twin document (the full twin of a GET, or a desired PATCH). Output: the next state, plus
 * what to do: a reported patch to send, a job to start, or why the document was ignored.
 *
 * Rules (C `azure_fota.c`, NCS 1.6-1.9), step by step:
 * 1. While a download runs, every document is ignored (`busy`).
 * 2. `reported.firmware` of a full twin: no `firmware` object -> report. Its `jobId` is remembered as attempted.
 *    `fwUpdateStatus` or `currentFwVersion` missing -> no report; `pendingFwVersion` missing -> report. Then by
 *    status: `current` -> report only when `currentFwVersion` is not the running version; `applying` -> report
 *    `current` when running == pending (update applied), `rolledback` when running == the reported current,
 *    else `current`; `downloading` -> report `error` (the download was interrupted; `current` when running ==
 *    pending, see below); `error` -> nothing; anything else -> report `current`.
 * 3. Desired `firmware`: its `jobId` equal to the attempted one -> ignored (`already-attempted`); `fwVersion` equal
 *    to the running version -> ignored (`same-version`), no report; else start: state `downloading`, report
 *    `downloading` with `pendingFwVersion` and `jobId`.
 * 4. Download finished -> report `applying` (the application reboots into the new image); failed -> `error`.
 *
 * Differences from the C library (on purpose):
 * - the job id match is exact (C: `strncmp` over the reported id's length, so a prefix matched);
 * - version comparison is exact string equality (C: `strncmp` over the longer length, the same thing);
 * - an invalid desired `firmware` is reported as `ignored: 'invalid'` with an `EINVAL` error (C: silent);
 * - a job without `jobId` reports `pendingFwVersion` too (C: only with a job id), so a rollback is detected;
 * - a job whose download finished is not started again before the reboot (`pending-reboot`; C would download a
 *   job without `jobId` again), and no full twin received before that reboot (however many: one per reconnect)
 *   reports `rolledback`: the status stays `applying` until the restart;
 * - a failed download keeps the job "attempted" (C: a failure to *start* the download forgot it);
 * - optional `resumeInterrupted`: an interrupted download of the same job resumes instead of reporting `error`;
 * - reported `downloading` while the running version is the pending one (the device restarted into the new image
 *   before `applying` reached the twin) reports `current` (C: `error`).
 *
 * @see https://developer.nordicsemi.com/nRF_Connect_SDK/doc/1.9.0/nrf/libraries/networking/azure_fota.html
 */
import type { AzureIotHubError } from '../../errors.js';
import {
  buildFirmwareReport,
  parseDesiredFirmware,
  parseReportedFirmware,
  type DesiredFirmware,
  type FirmwareReport,
  type FotaStatus,
  type ReportedFirmware,
  type TwinDocumentInput,
} from './schema.js';

/** A FOTA job: a validated desired `firmware` object. */
export type FotaJob = DesiredFirmware;

/** The FOTA state the reducer works on. Treat it as immutable; every function returns a new one. */
export interface FotaState {
  /** The running firmware version (`currentFwVersion`). */
  readonly runningVersion: string;
  /** `downloading` between a start and its end (done, failed or aborted). */
  readonly phase: 'idle' | 'downloading';
  /** The status last set (C `current_status`), used when a report is due without a status change. */
  readonly status: FotaStatus;
  /** The job id already attempted (C `reported_job_id`): learnt from `reported.firmware.jobId` or from a start. */
  readonly attemptedJobId?: string;
  /** The job started in this process (running, or the last one): its version and id go into reports. */
  readonly job?: FotaJob;
}

/** Why a document started nothing. */
export type FotaIgnoreReason =
  /** A download is running; the document was not looked at (C: "message ignored"). */
  | 'busy'
  /** No desired `firmware` object. */
  | 'no-firmware'
  /** The desired `firmware` object is malformed (`error` says which field). */
  | 'invalid'
  /** Its `jobId` was already attempted. */
  | 'already-attempted'
  /** Its `fwVersion` is the running version. */
  | 'same-version'
  /** Its version was downloaded in this process and waits for the reboot. */
  | 'pending-reboot';

/** What {@link decideFota} asks the caller to do. */
export interface FotaDecision {
  /** The next state. */
  state: FotaState;
  /** A reported patch to send (`{"firmware":{...}}`), at QoS 0 like the C library. */
  report?: FirmwareReport;
  /** A job to download: send `report` (status `downloading`), start the download, emit `FOTA_START`. */
  start?: FotaJob;
  /** With `start`: the job continues an interrupted download (keep the slot's partial image). */
  resume?: boolean;
  /** Set when nothing starts, for a debug event. */
  ignored?: FotaIgnoreReason;
  /** With `ignored: 'invalid'`: the schema error (`EINVAL` naming the field, or `ENOMSG` for non-JSON). */
  error?: AzureIotHubError;
  /** The desired job found in the document, when one was parsed but not started (e.g. `busy`). */
  desired?: FotaJob;
}

/** Options of {@link decideFota}. */
export interface FotaDecideOptions {
  /**
   * Resume a download interrupted by a restart or an abort (reported `downloading` with the same `jobId` and
   * `pendingFwVersion` as the desired job) instead of reporting `error` (default false: the C behaviour).
   */
  resumeInterrupted?: boolean;
}

/** The state at start-up: idle, status `current`, nothing attempted. */
export function createFotaState(runningVersion: string): FotaState {
  return { runningVersion, phase: 'idle', status: 'current' };
}

function report(state: FotaState, status: FotaStatus): FirmwareReport {
  const job = state.job;
  return buildFirmwareReport({
    status,
    currentVersion: state.runningVersion,
    ...(job ? { pendingVersion: job.version } : {}),
    ...(job?.jobId !== undefined ? { jobId: job.jobId } : {}),
  });
}

function withStatus(state: FotaState, status: FotaStatus, attemptedJobId: string | undefined): FotaState {
  const next: { -readonly [K in keyof FotaState]: FotaState[K] } = { ...state, status };
  if (attemptedJobId !== undefined) next.attemptedJobId = attemptedJobId;
  return next;
}

interface ReportedStep {
  status: FotaStatus;
  reportNeeded: boolean;
  attemptedJobId: string | undefined;
  /** The reported job was interrupted while downloading. */
  interrupted?: ReportedFirmware;
}

/** A download finished in this process and the application has not restarted into it yet. */
function awaitingReboot(state: FotaState): boolean {
  return state.status === 'applying' && state.job !== undefined;
}

/** Step 2: the C `parse_reported_status` + `reported_status_process`. */
function reportedStep(state: FotaState, doc: TwinDocumentInput): ReportedStep {
  const r = parseReportedFirmware(doc);
  const out: ReportedStep = { status: state.status, reportNeeded: false, attemptedJobId: state.attemptedJobId };
  if (r.kind === 'none') return out;
  // A malformed reported `firmware` is repaired like a missing one (C would read NULL strings).
  if (r.kind === 'absent' || r.kind === 'invalid') return { ...out, reportNeeded: true };
  const fw = r.firmware;
  if (fw.jobId !== undefined && fw.jobId.length > 0) out.attemptedJobId = fw.jobId;
  const { fwUpdateStatus: status, currentFwVersion: current, pendingFwVersion: pending } = fw;
  if (status === undefined || current === undefined) return out;
  if (pending === undefined) return { ...out, reportNeeded: true };
  const running = state.runningVersion;
  if (status === 'applying' && state.status === 'applying' && state.job?.version === pending) {
    // Downloaded in this process, waiting for the reboot: not a rollback (C would report `rolledback` here).
    return { ...out, status: 'applying' };
  }
  switch (status) {
    case 'current':
      return { ...out, status: 'current', reportNeeded: current !== running };
    case 'applying':
      if (running === pending) return { ...out, status: 'current', reportNeeded: true };
      if (running === current) return { ...out, status: 'rolledback', reportNeeded: true };
      return { ...out, status: 'current', reportNeeded: true };
    case 'downloading':
      // Running the pending version: the image was applied before `applying` could be reported (C: `error`).
      if (running === pending) return { ...out, status: 'current', reportNeeded: true };
      // The download was running when the device restarted (or the client aborted it): it failed.
      return { ...out, status: 'error', reportNeeded: true, interrupted: fw };
    case 'error':
      return { ...out, status: 'error' };
    default:
      return { ...out, status: 'current', reportNeeded: true };
  }
}

/**
 * Process a twin document (full twin or desired PATCH) as the C `azure_fota_msg_process` does, minus its quirks
 * (see the module comment). Pure: never throws, never performs I/O.
 */
export function decideFota(state: FotaState, doc: TwinDocumentInput, options: FotaDecideOptions = {}): FotaDecision {
  if (state.phase === 'downloading') {
    const d = parseDesiredFirmware(doc);
    return { state, ignored: 'busy', ...(d.kind === 'ok' ? { desired: d.firmware } : {}) };
  }

  const rep = reportedStep(state, doc);
  let next = withStatus(state, rep.status, rep.attemptedJobId);
  const pendingReport = (s: FotaState): FirmwareReport | undefined => (rep.reportNeeded ? report(s, s.status) : undefined);
  const ignore = (s: FotaState, ignored: FotaIgnoreReason, extra: Partial<FotaDecision> = {}): FotaDecision => {
    const r = pendingReport(s);
    return { state: s, ignored, ...(r ? { report: r } : {}), ...extra };
  };

  const d = parseDesiredFirmware(doc);
  if (d.kind === 'absent') return ignore(next, 'no-firmware');
  if (d.kind === 'invalid') return ignore(next, 'invalid', { error: d.error });
  const job = d.firmware;

  const running = state.runningVersion;
  const interrupted = rep.interrupted;
  const resume =
    options.resumeInterrupted === true &&
    interrupted !== undefined &&
    job.jobId !== undefined &&
    interrupted.jobId === job.jobId &&
    interrupted.pendingFwVersion === job.version &&
    job.version !== running;

  if (!resume) {
    if (job.jobId !== undefined && job.jobId === next.attemptedJobId) {
      // As C: the report due from the reported step (if any) was already built with the earlier status.
      const r = pendingReport(next);
      // A downloaded image waiting for the reboot stays `applying` (C sets `current`, and its next full twin then
      // reports `rolledback` although nothing was rolled back).
      if (!awaitingReboot(state)) next = withStatus(next, 'current', undefined);
      return { state: next, ignored: 'already-attempted', desired: job, ...(r ? { report: r } : {}) };
    }
    if (awaitingReboot(state) && state.job?.version === job.version) {
      return ignore(next, 'pending-reboot', { desired: job });
    }
    if (job.version === running) {
      const r = pendingReport(next);
      next = withStatus(next, 'current', undefined);
      return { state: next, ignored: 'same-version', desired: job, ...(r ? { report: r } : {}) };
    }
  }

  const started: FotaState = {
    runningVersion: running,
    phase: 'downloading',
    status: 'downloading',
    job,
    ...(job.jobId !== undefined
      ? { attemptedJobId: job.jobId }
      : next.attemptedJobId !== undefined
        ? { attemptedJobId: next.attemptedJobId }
        : {}),
  };
  return { state: started, start: job, report: report(started, 'downloading'), ...(resume ? { resume: true } : {}) };
}

/** The transition and report of a finished download: status `applying` (reboot to apply). */
export function fotaDownloadDone(state: FotaState): { state: FotaState; report: FirmwareReport } {
  const next: FotaState = { ...state, phase: 'idle', status: 'applying' };
  return { state: next, report: report(next, 'applying') };
}

/** The transition and report of a failed download: status `error`. The job stays attempted. */
export function fotaDownloadFailed(state: FotaState): { state: FotaState; report: FirmwareReport } {
  const next: FotaState = { ...state, phase: 'idle', status: 'error' };
  return { state: next, report: report(next, 'error') };
}

/**
 * The transition of a download cancelled by the application (disconnect, dispose): back to idle, nothing reported.
 * The twin still says `downloading`, so the next full twin reports `error` (or resumes with `resumeInterrupted`).
 */
export function fotaDownloadAborted(state: FotaState): { state: FotaState } {
  return { state: { ...state, phase: 'idle' } };
}

/** The report for the current state (e.g. to send `current` at start-up before any twin arrives). */
export function fotaReport(state: FotaState): FirmwareReport {
  return report(state, state.status);
}
