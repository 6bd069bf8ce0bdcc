/**
 * FOTA across restarts, each restart being a new client instance on the same device twin (and, for the file slot,
 * the same files): the new version running reports `current`, the old one after `applying` reports `rolledback`;
 * `disconnect()` during a download cancels it, and the next instance resumes it from the file slot (or reports
 * `error` with `resumeInterrupted: false`, the C behaviour).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FileFirmwareSlot } from '../../../src/azure/fota/file-slot.js';
import type { MemoryFirmwareSlot } from '../../../src/azure/fota/memory-slot.js';
import { startEmulator, type Emulator } from '../../../src/emulator/emulator.js';
import {
  closeClients,
  desiredFirmware,
  image,
  ranges,
  ReportLog,
  reportedFirmware,
  requestsFor,
  sasDevice,
  startClient,
  type TestDevice,
} from './harness.js';

let emu: Emulator;
let reports: ReportLog;
let dir: string;

beforeAll(async () => {
  emu = await startEmulator();
  dir = await mkdtemp(join(tmpdir(), 'fota-client-'));
});
beforeEach(() => {
  reports = new ReportLog(emu);
});
afterEach(async () => {
  await closeClients();
  reports.stop();
  emu.faults.reset();
});
afterAll(async () => {
  await emu.close();
  await rm(dir, { recursive: true, force: true });
});

/** Run a job to FOTA_DONE on a first instance running v1, then disconnect it (the "reboot"). */
async function updateThenReboot(dev: TestDevice, path: string): Promise<number> {
  const first = await startClient(emu, dev, { currentVersion: 'v1' });
  emu.updateDesired(dev.deviceId, desiredFirmware(emu, { version: 'v2', jobId: 'job-rb', path }));
  await first.rec.waitFor('FOTA_DONE');
  await reports.waitForStatus(dev.deviceId, 'applying');
  await first.rec.waitForDebug((m) => m.event === 'report' && m.phase === 'sent' && m.status === 'applying');
  await first.hub.disconnect();
  return requestsFor(emu, path);
}

describe('after the reboot', () => {
  it('running the new version: reports current, starts nothing', async () => {
    const dev = sasDevice(emu, 'fota-reboot-new');
    const pub = emu.publishFirmware('fw/reboot-new.bin', image(3000, 31));
    const requests = await updateThenReboot(dev, pub.path);

    const { rec } = await startClient(emu, dev, { currentVersion: 'v2' });
    await reports.waitForStatus(dev.deviceId, 'current', 2);
    expect(reports.statuses(dev.deviceId)).toEqual(['current', 'downloading', 'applying', 'current']);
    expect(reportedFirmware(emu, dev.deviceId)).toMatchObject({ fwUpdateStatus: 'current', currentFwVersion: 'v2' });
    expect(rec.fota()).toEqual([]);
    expect(rec.debug).toContainEqual({ event: 'ignored', reason: 'already-attempted', jobId: 'job-rb', version: 'v2' });
    expect(requestsFor(emu, pub.path)).toBe(requests);

    // A reconnect later: the twin says current with the running version, nothing more to report.
    emu.faults.dropConnection(dev.deviceId);
    await rec.waitFor('TWIN_RECEIVED', 2);
    expect(rec.debug.filter((m) => m.event === 'report' && m.phase === 'queued')).toHaveLength(1);
  });

  it('running the old version after applying: reports rolledback, the job is not run again', async () => {
    const dev = sasDevice(emu, 'fota-reboot-old');
    const pub = emu.publishFirmware('fw/reboot-old.bin', image(3000, 32));
    const requests = await updateThenReboot(dev, pub.path);

    const { rec } = await startClient(emu, dev, { currentVersion: 'v1' });
    await reports.waitForStatus(dev.deviceId, 'rolledback');
    expect(reports.statuses(dev.deviceId)).toEqual(['current', 'downloading', 'applying', 'rolledback']);
    expect(reportedFirmware(emu, dev.deviceId)).toEqual({
      fwUpdateStatus: 'rolledback',
      currentFwVersion: 'v1',
      // Left by the earlier reports (a reported PATCH merges): the job that was rolled back.
      pendingFwVersion: 'v2',
      jobId: 'job-rb',
    });
    expect(rec.fota()).toEqual([]);
    expect(requestsFor(emu, pub.path)).toBe(requests);
  });
});

describe('disconnect() during a download', () => {
  it('cancels it (FOTA_ERROR ECANCELED, nothing reported); the next instance resumes from the file slot', async () => {
    const dev = sasDevice(emu, 'fota-resume');
    const img = image(24 * 1024, 33);
    const pub = emu.publishFirmware('fw/resume.bin', img);
    const path = join(dir, 'resume.img');
    const first = await startClient(emu, dev, { storage: new FileFirmwareSlot(path, { persistEveryBytes: 0 }) });
    emu.faults.firmware!.delayMs = 10;
    emu.updateDesired(dev.deviceId, desiredFirmware(emu, { version: 'v2', jobId: 'job-res', path: pub.path, fragmentSize: 1024,
      sha256: pub.sha256, size: img.length }));
    await first.rec.waitForDebug((m) => m.event === 'progress' && m.percent >= 25);
    await first.hub.disconnect();
    const cancelled = await first.rec.waitFor('FOTA_ERROR');
    expect(cancelled.data.fota).toMatchObject({ jobId: 'job-res', version: 'v2', error: { code: 'ECANCELED' } });
    expect(first.rec.count('FOTA_DONE')).toBe(0);
    expect(reports.statuses(dev.deviceId)).toEqual(['current', 'downloading']);
    const before = emu.firmwareServer!.requests.filter((r) => r.path === pub.path).length;

    emu.faults.firmware!.delayMs = 0;
    const second = await startClient(emu, dev, { storage: new FileFirmwareSlot(path) });
    await second.rec.waitFor('FOTA_DONE');
    // No erase: the partial image is continued.
    expect(second.rec.fotaTypes()).toEqual(['FOTA_START', 'FOTA_DONE']);
    const start = second.rec.debug.find((m) => m.event === 'start');
    expect(start).toMatchObject({ resume: true, jobId: 'job-res' });
    const done = second.rec.debug.find((m) => m.event === 'done') as { resumedFrom: number };
    expect(done.resumedFrom).toBeGreaterThan(0);
    expect(done.resumedFrom).toBeLessThan(img.length);
    const resumed = ranges(emu, pub.path).slice(before);
    expect(resumed[0]).toMatch(new RegExp(`^bytes=${done.resumedFrom}-`));
    expect(resumed.some((r) => r?.startsWith('bytes=0-'))).toBe(false);
    expect(Buffer.compare(await readFile(path), Buffer.from(img))).toBe(0);
    expect(JSON.parse(await readFile(`${path}.json`, 'utf8'))).toEqual({ version: 'v2', size: img.length, sha256: pub.sha256 });
    await reports.waitForStatus(dev.deviceId, 'applying');
    expect(reports.statuses(dev.deviceId)).toEqual(['current', 'downloading', 'downloading', 'applying']);
  });

  it('with resumeInterrupted: false the next instance reports error, as the C library', async () => {
    const dev = sasDevice(emu, 'fota-noresume');
    const pub = emu.publishFirmware('fw/noresume.bin', image(16 * 1024, 34));
    const first = await startClient(emu, dev);
    emu.faults.firmware!.delayMs = 10;
    emu.updateDesired(dev.deviceId, desiredFirmware(emu, { version: 'v2', jobId: 'job-nr', path: pub.path, fragmentSize: 1024 }));
    await first.rec.waitForDebug((m) => m.event === 'progress');
    await first.hub.disconnect();
    await first.rec.waitFor('FOTA_ERROR');
    const before = requestsFor(emu, pub.path);

    const second = await startClient(emu, dev, { fota: { resumeInterrupted: false } });
    await reports.waitForStatus(dev.deviceId, 'error');
    expect(reportedFirmware(emu, dev.deviceId)).toEqual({
      fwUpdateStatus: 'error',
      currentFwVersion: 'v1',
      pendingFwVersion: 'v2',
      jobId: 'job-nr',
    });
    expect(second.rec.fota()).toEqual([]);
    expect((second.storage as MemoryFirmwareSlot).erases).toBe(0);
    expect(requestsFor(emu, pub.path)).toBe(before);
  });
});
