/**
 * FOTA decision logic: a table of the C `azure_fota_msg_process` rules (one named row each), then this library's
 * differences (exact job id match, rollback detection, invalid documents, pending reboot, resume).
 */
import { describe, expect, it } from 'vitest';
import type { FirmwareReport, FotaStatus } from '../../../src/azure/fota/schema.js';
import {
  createFotaState,
  decideFota,
  fotaDownloadAborted,
  fotaDownloadDone,
  fotaDownloadFailed,
  fotaReport,
  type FotaDecision,
  type FotaIgnoreReason,
  type FotaState,
} from '../../../src/azure/fota/state.js';

const RUNNING = 'v1';

/** `jobId: null` leaves the job id out. */
function desiredFw(version: string | number = 'v2', jobId: string | null = 'J2'): Record<string, unknown> {
  return {
    fwVersion: version,
    ...(jobId !== null ? { jobId } : {}),
    fwLocation: { protocol: 'https:', host: 'fw.example.com', path: `app-${version}.bin` },
    fwFragmentSize: 1800,
  };
}

function reportedFw(status?: string, current?: string, pending?: string, jobId?: string): Record<string, unknown> {
  const f: Record<string, unknown> = {};
  if (status !== undefined) f['fwUpdateStatus'] = status;
  if (current !== undefined) f['currentFwVersion'] = current;
  if (pending !== undefined) f['pendingFwVersion'] = pending;
  if (jobId !== undefined) f['jobId'] = jobId;
  return f;
}

/** A full twin (GET 200 body). `reported.firmware` is left out when `reported` is undefined. */
function twin(desired: Record<string, unknown> | undefined, reported: Record<string, unknown> | undefined): Record<string, unknown> {
  return {
    desired: { ...(desired ? { firmware: desired } : {}), $version: 3 },
    reported: { ...(reported ? { firmware: reported } : {}), $version: 7 },
  };
}

function rep(status: FotaStatus, current = RUNNING, pending?: string, jobId?: string): FirmwareReport {
  const firmware: FirmwareReport['firmware'] = { fwUpdateStatus: status, currentFwVersion: current };
  if (pending !== undefined) firmware.pendingFwVersion = pending;
  if (jobId !== undefined) firmware.jobId = jobId;
  return { firmware };
}

interface Row {
  name: string;
  state?: FotaState;
  doc: Record<string, unknown>;
  report?: FirmwareReport;
  start?: string;
  ignored?: FotaIgnoreReason;
  status?: FotaStatus;
}

const idle = createFotaState(RUNNING);
const downloading: FotaState = {
  ...idle,
  phase: 'downloading',
  status: 'downloading',
  attemptedJobId: 'J2',
  job: { version: 'v2', jobId: 'J2', location: { protocol: 'https:', host: 'h', path: 'p' }, url: 'https://h/p' },
};

function check(row: Row, d: FotaDecision): void {
  expect(d.report).toEqual(row.report);
  expect(d.start?.version).toBe(row.start);
  expect(d.ignored).toBe(row.ignored);
  if (row.status !== undefined) expect(d.state.status).toBe(row.status);
}

describe('C rules (azure_fota_msg_process), one row each', () => {
  const rows: Row[] = [
    {
      name: 'busy: while a download runs, any document is ignored (no report, no start)',
      state: downloading,
      doc: twin(desiredFw('v3', 'J3'), reportedFw('current', 'v0', '')),
      ignored: 'busy',
      status: 'downloading',
    },
    {
      name: 'reported without a firmware object: report (status current)',
      doc: twin(desiredFw(RUNNING), undefined),
      report: rep('current'),
      ignored: 'same-version',
    },
    {
      name: 'reported firmware without fwUpdateStatus: no report',
      doc: twin(desiredFw(RUNNING), reportedFw(undefined, 'v0', 'v0')),
      ignored: 'same-version',
    },
    {
      name: 'reported firmware without currentFwVersion: no report',
      doc: twin(desiredFw(RUNNING), reportedFw('current', undefined, 'v0')),
      ignored: 'same-version',
    },
    {
      name: 'reported firmware without pendingFwVersion: report (NCS 1.6+)',
      doc: twin(desiredFw(RUNNING), reportedFw('current', RUNNING)),
      report: rep('current'),
      ignored: 'same-version',
    },
    {
      name: 'current with the running version: no report',
      doc: twin(desiredFw(RUNNING), reportedFw('current', RUNNING, '')),
      ignored: 'same-version',
      status: 'current',
    },
    {
      name: 'current with another version: report current with the running version',
      doc: twin(desiredFw(RUNNING), reportedFw('current', 'v0', '')),
      report: rep('current'),
      ignored: 'same-version',
    },
    {
      name: 'applying, running == pending: the update was applied, report current',
      state: createFotaState('v2'),
      doc: twin(desiredFw('v2', 'J2'), reportedFw('applying', 'v1', 'v2', 'J2')),
      report: rep('current', 'v2'),
      ignored: 'already-attempted',
    },
    {
      name: 'applying, running == reported current: rolled back, report rolledback',
      doc: twin(desiredFw('v2', 'J2'), reportedFw('applying', RUNNING, 'v2', 'J2')),
      report: rep('rolledback'),
      ignored: 'already-attempted',
    },
    {
      name: 'applying, running matches neither: changed by other means, report current',
      state: createFotaState('v9'),
      doc: twin(desiredFw('v2', 'J2'), reportedFw('applying', 'v1', 'v2', 'J2')),
      report: rep('current', 'v9'),
      ignored: 'already-attempted',
    },
    {
      name: 'downloading while idle: the download was interrupted, report error',
      doc: twin(desiredFw('v2', 'J2'), reportedFw('downloading', RUNNING, 'v2', 'J2')),
      report: rep('error'),
      ignored: 'already-attempted',
    },
    {
      name: 'error: no report',
      doc: twin(desiredFw('v2', 'J2'), reportedFw('error', RUNNING, 'v2', 'J2')),
      ignored: 'already-attempted',
    },
    {
      name: 'an unknown status (rebooting, rolledback, anything): report current',
      doc: twin(desiredFw('v2', 'J2'), reportedFw('rolledback', RUNNING, 'v2', 'J2')),
      report: rep('current'),
      ignored: 'already-attempted',
    },
    {
      name: 'desired jobId equal to the reported jobId: already attempted, nothing starts',
      doc: twin(desiredFw('v3', 'J3'), reportedFw('current', RUNNING, 'v3', 'J3')),
      ignored: 'already-attempted',
      status: 'current',
    },
    {
      name: 'desired fwVersion equal to the running version: nothing starts, no report',
      doc: twin(desiredFw(RUNNING, 'J5'), reportedFw('current', RUNNING, '', 'J4')),
      ignored: 'same-version',
      status: 'current',
    },
    {
      name: 'a new job: start, report downloading with pendingFwVersion and jobId',
      doc: twin(desiredFw('v2', 'J2'), reportedFw('current', RUNNING, '', 'J1')),
      report: rep('downloading', RUNNING, 'v2', 'J2'),
      start: 'v2',
      status: 'downloading',
    },
    {
      name: 'a new job from a desired PATCH (no reported object)',
      doc: { firmware: desiredFw('v2', 'J2'), $version: 9 },
      report: rep('downloading', RUNNING, 'v2', 'J2'),
      start: 'v2',
    },
    {
      name: 'a numeric fwVersion is compared as its decimal string',
      state: createFotaState('7'),
      doc: { firmware: desiredFw(7, 'J7') },
      ignored: 'same-version',
    },
    {
      name: 'a desired job without jobId is always new (when the version differs)',
      doc: twin(desiredFw('v2', null), reportedFw('error', RUNNING, 'v2', 'J2')),
      report: rep('downloading', RUNNING, 'v2'),
      start: 'v2',
    },
    {
      name: 'no desired firmware: ignored, a due report is still sent',
      doc: twin(undefined, undefined),
      report: rep('current'),
      ignored: 'no-firmware',
    },
    {
      name: 'a desired PATCH without firmware (another property changed)',
      doc: { telemetryInterval: 10, $version: 4 },
      ignored: 'no-firmware',
    },
  ];

  it.each(rows.map((r) => [r.name, r] as const))('%s', (_name, row) => {
    check(row, decideFota(row.state ?? idle, row.doc));
  });

  it('the reported jobId is remembered: a later PATCH with that job is already attempted', () => {
    const first = decideFota(idle, twin(undefined, reportedFw('error', RUNNING, 'v2', 'J2')));
    expect(first.state.attemptedJobId).toBe('J2');
    const second = decideFota(first.state, { firmware: desiredFw('v2', 'J2') });
    expect(second.ignored).toBe('already-attempted');
    expect(second.start).toBeUndefined();
  });

  it('a started job is remembered: the same job again (after it failed) does not restart', () => {
    const started = decideFota(idle, { firmware: desiredFw('v2', 'J2') });
    expect(started.state).toMatchObject({ phase: 'downloading', attemptedJobId: 'J2' });
    const failed = fotaDownloadFailed(started.state);
    const again = decideFota(failed.state, { firmware: desiredFw('v2', 'J2') });
    expect(again.ignored).toBe('already-attempted');
  });

  it('download finished: report applying with the job; failed: report error', () => {
    const started = decideFota(idle, { firmware: desiredFw('v2', 'J2') }).state;
    const done = fotaDownloadDone(started);
    expect(done.report).toEqual(rep('applying', RUNNING, 'v2', 'J2'));
    expect(done.state).toMatchObject({ phase: 'idle', status: 'applying' });
    const failed = fotaDownloadFailed(started);
    expect(failed.report).toEqual(rep('error', RUNNING, 'v2', 'J2'));
    expect(failed.state).toMatchObject({ phase: 'idle', status: 'error' });
  });

  it('busy names the job it did not start, for a debug event', () => {
    const d = decideFota(downloading, { firmware: desiredFw('v3', 'J3') });
    expect(d.ignored).toBe('busy');
    expect(d.desired?.jobId).toBe('J3');
    expect(d.state).toBe(downloading);
  });

  it('is pure: the input state is not modified', () => {
    const s = createFotaState(RUNNING);
    const copy = structuredClone(s);
    decideFota(s, { firmware: desiredFw('v2', 'J2') });
    expect(s).toEqual(copy);
  });
});

describe('differences from the C library', () => {
  it('exact jobId match: a desired jobId that extends the reported one is a new job (C: prefix match)', () => {
    const d = decideFota(idle, twin(desiredFw('v2', 'J2-retry'), reportedFw('error', RUNNING, 'v2', 'J2')));
    expect(d.start?.jobId).toBe('J2-retry');
  });

  it('exact jobId match: a desired jobId that is a prefix of the reported one is a new job', () => {
    const d = decideFota(idle, twin(desiredFw('v2', 'J'), reportedFw('error', RUNNING, 'v2', 'J2')));
    expect(d.start?.jobId).toBe('J');
  });

  it('rollback: restarted on the old version after applying reports rolledback, then current on the next twin', () => {
    const afterReboot = createFotaState(RUNNING);
    const first = decideFota(afterReboot, twin(desiredFw('v2', 'J2'), reportedFw('applying', RUNNING, 'v2', 'J2')));
    expect(first.report).toEqual(rep('rolledback'));
    expect(first.start).toBeUndefined();
    // The twin now says rolledback: the C rule "anything else -> current" settles it.
    const second = decideFota(first.state, twin(desiredFw('v2', 'J2'), reportedFw('rolledback', RUNNING, 'v2', 'J2')));
    expect(second.report).toEqual(rep('current'));
    expect(second.start).toBeUndefined();
  });

  it('restart with the new version after applying reports current and starts nothing', () => {
    const d = decideFota(createFotaState('v2'), twin(desiredFw('v2', 'J2'), reportedFw('applying', 'v1', 'v2', 'J2')));
    expect(d.report).toEqual(rep('current', 'v2'));
    expect(d.start).toBeUndefined();
  });

  it('an invalid desired firmware is ignored with an EINVAL error naming the field (C: silent)', () => {
    const d = decideFota(idle, { firmware: { fwVersion: 'v2', fwLocation: { host: 'h' } } });
    expect(d.ignored).toBe('invalid');
    expect(d.error?.code).toBe('EINVAL');
    expect(d.error?.message).toMatch(/fwLocation\.path/);
  });

  it('a document that is not JSON is ignored with ENOMSG', () => {
    const d = decideFota(idle, '{not json');
    expect(d.ignored).toBe('invalid');
    expect(d.error?.code).toBe('ENOMSG');
  });

  it('a malformed reported firmware is repaired with a report', () => {
    const d = decideFota(idle, { desired: {}, reported: { firmware: 'garbage' } });
    expect(d.report).toEqual(rep('current'));
  });

  it('a job without jobId reports pendingFwVersion too, so a rollback is detectable', () => {
    const d = decideFota(idle, { firmware: desiredFw('v2', null) });
    expect(d.report).toEqual(rep('downloading', RUNNING, 'v2'));
  });

  it('pending reboot: a finished job without jobId is not downloaded again before the reboot', () => {
    const started = decideFota(idle, { firmware: desiredFw('v2', null) }).state;
    const done = fotaDownloadDone(started).state;
    const d = decideFota(done, { firmware: desiredFw('v2', null) });
    expect(d.ignored).toBe('pending-reboot');
    expect(d.start).toBeUndefined();
    // A different version is a new job and starts (replacing the pending image).
    expect(decideFota(done, { firmware: desiredFw('v3', null) }).start?.version).toBe('v3');
  });

  it('pending reboot: a full twin received before the reboot does not report rolledback', () => {
    const started = decideFota(idle, { firmware: desiredFw('v2', 'J2') }).state;
    const done = fotaDownloadDone(started).state;
    const d = decideFota(done, twin(desiredFw('v2', 'J2'), reportedFw('applying', RUNNING, 'v2', 'J2')));
    expect(d.report).toBeUndefined();
    expect(d.ignored).toBe('already-attempted');
  });

  it('resumeInterrupted: an interrupted download of the same job resumes instead of reporting error', () => {
    const doc = twin(desiredFw('v2', 'J2'), reportedFw('downloading', RUNNING, 'v2', 'J2'));
    const d = decideFota(idle, doc, { resumeInterrupted: true });
    expect(d.start?.jobId).toBe('J2');
    expect(d.resume).toBe(true);
    expect(d.report).toEqual(rep('downloading', RUNNING, 'v2', 'J2'));
    // Another job in the desired twin: the interrupted one failed (error), the new one starts fresh.
    const other = decideFota(idle, twin(desiredFw('v3', 'J3'), reportedFw('downloading', RUNNING, 'v2', 'J2')), {
      resumeInterrupted: true,
    });
    expect(other.start?.jobId).toBe('J3');
    expect(other.resume).toBeUndefined();
  });

  it('fotaDownloadAborted: back to idle without a report; the next full twin reports error', () => {
    const started = decideFota(idle, { firmware: desiredFw('v2', 'J2') }).state;
    const aborted = fotaDownloadAborted(started).state;
    expect(aborted.phase).toBe('idle');
    const d = decideFota(aborted, twin(desiredFw('v2', 'J2'), reportedFw('downloading', RUNNING, 'v2', 'J2')));
    expect(d.report).toEqual(rep('error', RUNNING, 'v2', 'J2'));
    expect(d.ignored).toBe('already-attempted');
  });

  it('fotaReport: the report of the current state', () => {
    expect(fotaReport(idle)).toEqual(rep('current'));
  });
});
