/**
 * `FotaController` with a fake client (`io`): the report queue (waits for the link, the latest state wins, retried
 * after a retryable failure, dropped after a permanent one), documents that are not JSON, stale desired PATCHes,
 * throwing callbacks, the events of a download that fails (a closed port), and `resolveConfig` for the new `fota`
 * fields. Plus the decision rules changed in `state.ts`: an image waiting for the reboot stays `applying`; a restart
 * into the new image before `applying` was reported gives `current`, not `error`.
 */
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../../../src/azure/config.js';
import { FotaController, type FotaControllerIo } from '../../../src/azure/fota/controller.js';
import { MemoryFirmwareSlot } from '../../../src/azure/fota/memory-slot.js';
import { createFotaState, decideFota, fotaDownloadDone } from '../../../src/azure/fota/state.js';
import type { AzureIotHubEvt, AzureIotHubFotaDebug } from '../../../src/azure/types.js';
import { AzureIotHubError } from '../../../src/errors.js';

class FakeIo implements FotaControllerIo {
  online = false;
  readonly sent: Record<string, unknown>[] = [];
  readonly events: AzureIotHubEvt[] = [];
  /** Answer for the next reports: undefined resolves, an error rejects. */
  failures: (AzureIotHubError | undefined)[] = [];
  report(patch: Record<string, unknown>): Promise<unknown> {
    this.sent.push(patch);
    const f = this.failures.shift();
    return f === undefined ? Promise.resolve({ version: this.sent.length }) : Promise.reject(f);
  }
  emit(evt: AzureIotHubEvt): void {
    this.events.push(evt);
  }
  connected(): boolean {
    return this.online;
  }
}

const tick = (ms = 0): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function controller(io: FakeIo, extra: { debug?: AzureIotHubFotaDebug[]; reportRetryMs?: number; onDebug?: () => void } = {}) {
  const debug = extra.debug ?? [];
  return new FotaController(
    { currentVersion: 'v1', storage: new MemoryFirmwareSlot(), onDebug: extra.onDebug ?? ((m) => debug.push(m)) },
    io,
    { reportRetryMs: extra.reportRetryMs ?? 5, download: { retry: { maxAttempts: 1 } } },
  );
}

const emptyTwin = JSON.stringify({ desired: { $version: 1 }, reported: { $version: 1 } });

describe('reports', () => {
  it('wait while the link is down, the latest replacing older ones, and go out once at READY', async () => {
    const io = new FakeIo();
    const c = controller(io);
    c.onTwin(emptyTwin); // no reported firmware: report current
    expect(c.pendingReport?.firmware.fwUpdateStatus).toBe('current');
    // A job whose server refuses connections: downloading, then error, all while offline.
    c.onDesired(JSON.stringify({
      firmware: { fwVersion: 'v2', jobId: 'J', fwLocation: { host: '127.0.0.1:1', path: 'x.bin' } },
      $version: 2,
    }));
    expect(io.events[0]?.type).toBe('FOTA_START');
    await c.whenIdle();
    expect(io.events.map((e) => e.type)).toEqual(['FOTA_START', 'FOTA_ERASE_PENDING', 'FOTA_ERASE_DONE', 'FOTA_ERROR']);
    const error = io.events.at(-1) as Extract<AzureIotHubEvt, { type: 'FOTA_ERROR' }>;
    expect(error.data.fota).toMatchObject({ jobId: 'J', version: 'v2', error: { code: 'ECONNREFUSED' } });
    expect(io.sent).toEqual([]);

    io.online = true;
    c.onReady();
    await tick();
    expect(io.sent).toEqual([
      { firmware: { fwUpdateStatus: 'error', currentFwVersion: 'v1', pendingFwVersion: 'v2', jobId: 'J' } },
    ]);
    c.onReady();
    await tick();
    expect(io.sent).toHaveLength(1);
  });

  it('a retryable failure (429, link lost) is sent again; a permanent one (400) is dropped', async () => {
    const io = new FakeIo();
    const debug: AzureIotHubFotaDebug[] = [];
    const c = controller(io, { debug, reportRetryMs: 5 });
    io.online = true;
    io.failures = [new AzureIotHubError('ENOBUFS', 'throttled', { status: 429 })];
    c.onTwin(emptyTwin);
    await tick(30);
    expect(io.sent).toHaveLength(2);
    expect(debug.filter((m) => m.event === 'report').map((m) => (m as { phase: string }).phase))
      .toEqual(['queued', 'retry', 'sent']);

    // The link is lost while a report is in flight: it waits for READY instead of a timer.
    const io2 = new FakeIo();
    const c2 = controller(io2, { reportRetryMs: 5 });
    io2.online = true;
    io2.failures = [new AzureIotHubError('ENOTCONN', 'the connection ended before the response')];
    c2.onTwin(emptyTwin);
    io2.online = false;
    await tick(30);
    expect(io2.sent).toHaveLength(1);
    io2.online = true;
    c2.onReady();
    await tick();
    expect(io2.sent).toHaveLength(2);

    const io3 = new FakeIo();
    const debug3: AzureIotHubFotaDebug[] = [];
    const c3 = controller(io3, { debug: debug3 });
    io3.online = true;
    io3.failures = [new AzureIotHubError('EINVAL', 'bad request', { status: 400 })];
    c3.onTwin(emptyTwin);
    await tick(30);
    expect(io3.sent).toHaveLength(1);
    expect(debug3.at(-1)).toMatchObject({ event: 'report', phase: 'dropped', status: 'current' });
    expect(c3.pendingReport).toBeUndefined();
    // The twin never got it: the next full twin asks for the report again.
    c3.onTwin(emptyTwin);
    await tick();
    expect(io3.sent).toHaveLength(2);
  });
});

describe('documents', () => {
  it('a twin or PATCH that is not JSON is ignored with ENOMSG; nothing is reported', () => {
    const io = new FakeIo();
    const debug: AzureIotHubFotaDebug[] = [];
    const c = controller(io, { debug });
    c.onTwin('{not json');
    c.onDesired(new Uint8Array([0xff, 0xfe]));
    expect(debug.map((m) => [m.event, (m as { reason?: string }).reason, (m as { error?: AzureIotHubError }).error?.code]))
      .toEqual([['ignored', 'invalid', 'ENOMSG'], ['ignored', 'invalid', 'ENOMSG']]);
    expect(c.pendingReport).toBeUndefined();
    expect(io.events).toEqual([]);
  });

  it('a desired PATCH not newer than the twin it raced with does not roll the merged document back', () => {
    const io = new FakeIo();
    const debug: AzureIotHubFotaDebug[] = [];
    const c = controller(io, { debug });
    const fw = (v: string) => ({ fwVersion: v, jobId: `J-${v}`, fwLocation: { host: '127.0.0.1:1', path: `${v}.bin` } });
    io.online = true;
    c.onTwin(JSON.stringify({
      desired: { firmware: fw('v1'), $version: 5 },
      reported: { firmware: { fwUpdateStatus: 'current', currentFwVersion: 'v1' }, $version: 2 },
    }));
    // An older PATCH (version 4) carrying another job arrives late: the merged document keeps version 5 (v1).
    c.onDesired(JSON.stringify({ firmware: fw('v9'), $version: 4 }));
    expect(io.events).toEqual([]);
    expect(debug.filter((m) => m.event === 'ignored').map((m) => (m as { reason: string }).reason)).toEqual(['same-version', 'same-version']);
  });

  it('a throwing onDebug is ignored', async () => {
    const io = new FakeIo();
    const c = controller(io, {
      onDebug: () => {
        throw new Error('debug callback failed');
      },
    });
    expect(() => c.onTwin(emptyTwin)).not.toThrow();
    expect(c.pendingReport?.firmware.fwUpdateStatus).toBe('current');
  });
});

describe('state.ts fix: a downloaded image waiting for the reboot', () => {
  const job = { fwVersion: 'v2', jobId: 'J2', fwLocation: { host: 'h', path: 'p.bin' } };
  const twin = (status: string) => ({
    desired: { firmware: job, $version: 3 },
    reported: { firmware: { fwUpdateStatus: status, currentFwVersion: 'v1', pendingFwVersion: 'v2', jobId: 'J2' }, $version: 4 },
  });

  it('stays applying over any number of full twins (C reported rolledback from the second one)', () => {
    let state = decideFota(createFotaState('v1'), { firmware: job }).state;
    state = fotaDownloadDone(state).state;
    for (let i = 0; i < 3; i++) {
      const d = decideFota(state, twin('applying'));
      expect(d.report).toBeUndefined();
      expect(d.ignored).toBe('already-attempted');
      expect(d.state.status).toBe('applying');
      state = d.state;
    }
  });

  it('restarted into the new image before `applying` was reported (twin still downloading): current, not error', () => {
    const d = decideFota(createFotaState('v2'), twin('downloading'), { resumeInterrupted: true });
    expect(d.report?.firmware).toEqual({ fwUpdateStatus: 'current', currentFwVersion: 'v2' });
    expect(d.start).toBeUndefined();
    // Still on the old version: the download was interrupted (error, or resumed with resumeInterrupted).
    expect(decideFota(createFotaState('v1'), twin('downloading')).report?.firmware.fwUpdateStatus).toBe('error');
    expect(decideFota(createFotaState('v1'), twin('downloading'), { resumeInterrupted: true }).resume).toBe(true);
  });

  it('after the restart (a fresh state) the same twin still reports rolledback or current', () => {
    expect(decideFota(createFotaState('v1'), twin('applying')).report?.firmware.fwUpdateStatus).toBe('rolledback');
    expect(decideFota(createFotaState('v2'), twin('applying')).report?.firmware.fwUpdateStatus).toBe('current');
  });
});

describe('resolveConfig: fota fields', () => {
  const storage = new MemoryFirmwareSlot();
  const base = { deviceId: 'd', hostname: 'h.azure-devices.net', sasKey: Buffer.from('k'.repeat(32)).toString('base64') };

  function einval(fota: Record<string, unknown>): string {
    try {
      resolveConfig({ ...base, fota: { currentVersion: 'v1', storage, ...fota } });
    } catch (err) {
      expect(err).toBeInstanceOf(AzureIotHubError);
      expect((err as AzureIotHubError).code).toBe('EINVAL');
      return (err as AzureIotHubError).message;
    }
    throw new Error('resolveConfig did not throw');
  }

  it('accepts the new fields and keeps the callbacks', () => {
    const onProgress = (): void => undefined;
    const cfg = resolveConfig({ ...base, fota: { currentVersion: 'v1', storage, resumeInterrupted: false, onProgress, progressIntervalMs: 0 } });
    expect(cfg.fota).toMatchObject({ resumeInterrupted: false, progressIntervalMs: 0 });
    expect(cfg.fota?.onProgress).toBe(onProgress);
  });

  it('names the bad field', () => {
    expect(einval({ resumeInterrupted: 'yes' })).toContain('fota.resumeInterrupted');
    expect(einval({ progressIntervalMs: -1 })).toContain('fota.progressIntervalMs');
    expect(einval({ progressIntervalMs: 1.5 })).toContain('fota.progressIntervalMs');
    expect(einval({ onProgress: 'cb' })).toContain('fota.onProgress');
    expect(einval({ onDebug: 42 })).toContain('fota.onDebug');
  });
});
