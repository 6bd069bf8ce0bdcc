/**
 * FOTA through the client when things go wrong: the firmware server cuts a connection (resume with Range), has no
 * Range support, answers 404, serves another size or other bytes than the twin says; the MQTT link drops during
 * the download (the download goes on, reports wait for the next READY); the hub refuses a report with 429.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { MemoryFirmwareSlot } from '../../../src/azure/fota/memory-slot.js';
import { AzureIotHubError } from '../../../src/errors.js';
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
  sha256,
  startClient,
} from './harness.js';

let emu: Emulator;
let reports: ReportLog;

beforeAll(async () => {
  emu = await startEmulator();
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
});

function same(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;
}

describe('firmware server faults', () => {
  it('a connection cut mid-fragment resumes from the bytes received (Range logged), bytes identical', async () => {
    const dev = sasDevice(emu, 'fota-cut');
    const img = image(5000, 21);
    const pub = emu.publishFirmware('fw/cut.bin', img);
    const { rec, storage } = await startClient(emu, dev);
    emu.faults.firmware!.cutNext(700);
    emu.updateDesired(dev.deviceId, desiredFirmware(emu, { version: 'v2', path: pub.path, fragmentSize: 1800, sha256: pub.sha256 }));
    await rec.waitFor('FOTA_DONE');
    const log = emu.firmwareServer!.requests.filter((r) => r.path === pub.path);
    expect(log[0]).toMatchObject({ range: 'bytes=0-1799', cut: true, bytes: 700 });
    expect(ranges(emu, pub.path)).toEqual(['bytes=0-1799', 'bytes=700-2499', 'bytes=2500-4299', 'bytes=4300-4999']);
    expect(same((storage as MemoryFirmwareSlot).image(), img)).toBe(true);
    expect(rec.fotaTypes()).toEqual(['FOTA_START', 'FOTA_ERASE_PENDING', 'FOTA_ERASE_DONE', 'FOTA_DONE']);
    await reports.waitForStatus(dev.deviceId, 'applying');
  });

  it('a server without Range support: one 200 answer with the whole image', async () => {
    const dev = sasDevice(emu, 'fota-norange');
    const img = image(7000, 22);
    const pub = emu.publishFirmware('fw/norange.bin', img);
    const { rec, storage } = await startClient(emu, dev);
    emu.faults.firmware!.noRange = true;
    emu.updateDesired(dev.deviceId, desiredFirmware(emu, { version: 'v2', path: pub.path, fragmentSize: 1024 }));
    await rec.waitFor('FOTA_DONE');
    const log = emu.firmwareServer!.requests.filter((r) => r.path === pub.path);
    expect(log.map((r) => [r.status, r.bytes])).toEqual([[200, img.length]]);
    expect(same((storage as MemoryFirmwareSlot).image(), img)).toBe(true);
    await reports.waitForStatus(dev.deviceId, 'applying');
  });

  it('404: FOTA_ERROR with EIO and status 404, error reported; the failed job is not retried after a reconnect', async () => {
    const dev = sasDevice(emu, 'fota-404');
    const { rec, storage } = await startClient(emu, dev);
    emu.updateDesired(dev.deviceId, desiredFirmware(emu, { version: 'v2', jobId: 'job-404', path: 'fw/missing.bin' }));
    const err = await rec.waitFor('FOTA_ERROR');
    expect(err.data.fota).toMatchObject({ jobId: 'job-404', version: 'v2' });
    expect(err.data.fota.error).toBeInstanceOf(AzureIotHubError);
    expect(err.data.fota.error).toMatchObject({ code: 'EIO', status: 404 });
    expect(rec.fotaTypes()).toEqual(['FOTA_START', 'FOTA_ERASE_PENDING', 'FOTA_ERASE_DONE', 'FOTA_ERROR']);
    await reports.waitForStatus(dev.deviceId, 'error');
    expect(reportedFirmware(emu, dev.deviceId)).toEqual({
      fwUpdateStatus: 'error',
      currentFwVersion: 'v1',
      pendingFwVersion: 'v2',
      jobId: 'job-404',
    });
    expect((storage as MemoryFirmwareSlot).finalized).toBeUndefined();
    expect(requestsFor(emu, '/fw/missing.bin')).toBe(1);

    emu.faults.dropConnection(dev.deviceId);
    await rec.waitFor('TWIN_RECEIVED', 2);
    expect(rec.count('FOTA_START')).toBe(1);
    expect(requestsFor(emu, '/fw/missing.bin')).toBe(1);
    expect(reports.statuses(dev.deviceId)).toEqual(['current', 'downloading', 'error']);
  });

  it('an image whose size differs from the twin\'s size fails with EMSGSIZE before any byte is kept', async () => {
    const dev = sasDevice(emu, 'fota-size');
    const img = image(4000, 23);
    const pub = emu.publishFirmware('fw/size.bin', img);
    const { rec, storage } = await startClient(emu, dev);
    emu.updateDesired(dev.deviceId, desiredFirmware(emu, { version: 'v2', path: pub.path, size: img.length + 1 }));
    const err = await rec.waitFor('FOTA_ERROR');
    expect(err.data.fota.error?.code).toBe('EMSGSIZE');
    expect((storage as MemoryFirmwareSlot).image()).toHaveLength(0);
    expect(rec.count('FOTA_DONE')).toBe(0);
    await reports.waitForStatus(dev.deviceId, 'error');
  });

  it('a server that announces a wrong total size fails with EMSGSIZE', async () => {
    const dev = sasDevice(emu, 'fota-wronglen');
    const pub = emu.publishFirmware('fw/wronglen.bin', image(3000, 24));
    const { rec, storage } = await startClient(emu, dev);
    emu.faults.firmware!.wrongLength = true;
    emu.updateDesired(dev.deviceId, desiredFirmware(emu, { version: 'v2', path: pub.path, fragmentSize: 2048 }));
    const err = await rec.waitFor('FOTA_ERROR');
    expect(err.data.fota.error?.code).toBe('EMSGSIZE');
    expect((storage as MemoryFirmwareSlot).finalized).toBeUndefined();
    await reports.waitForStatus(dev.deviceId, 'error');
  });

  it('a bad SHA-256: FOTA_ERROR with EIO, the slot is erased, never FOTA_DONE', async () => {
    const dev = sasDevice(emu, 'fota-badsha');
    const img = image(4000, 25);
    const pub = emu.publishFirmware('fw/badsha.bin', img);
    const { rec, storage } = await startClient(emu, dev);
    emu.updateDesired(dev.deviceId, desiredFirmware(emu, { version: 'v2', path: pub.path, sha256: sha256(image(4000, 26)) }));
    const err = await rec.waitFor('FOTA_ERROR');
    expect(err.data.fota.error?.code).toBe('EIO');
    expect(err.data.fota.error?.status).toBeUndefined();
    expect(err.data.fota.error?.message).toContain('SHA-256');
    const slot = storage as MemoryFirmwareSlot;
    expect(slot.finalized).toBeUndefined();
    expect(slot.erases).toBe(2); // before the download, and the bad image after the check
    expect(slot.image()).toHaveLength(0);
    expect(rec.count('FOTA_DONE')).toBe(0);
    await reports.waitForStatus(dev.deviceId, 'error');
  });
});

describe('MQTT link faults', () => {
  it('link loss during the download: the download goes on, reports go out after reconnect, nothing lost', async () => {
    const dev = sasDevice(emu, 'fota-linkloss');
    const img = image(12 * 1024, 27);
    const pub = emu.publishFirmware('fw/linkloss.bin', img);
    const { hub, rec, storage } = await startClient(emu, dev);
    await reports.waitForStatus(dev.deviceId, 'current');
    emu.faults.firmware!.delayMs = 10; // 12 fragments: the link drops while they are fetched
    emu.updateDesired(dev.deviceId, desiredFirmware(emu, { version: 'v2', jobId: 'job-ll', path: pub.path, fragmentSize: 1024 }));
    await reports.waitForStatus(dev.deviceId, 'downloading');
    // The hub is "unavailable" until the download has finished: every reconnect attempt gets CONNACK 3.
    emu.faults.refuseNextConnect(dev.deviceId, 3, 1_000_000);
    expect(emu.faults.dropConnection(dev.deviceId)).toBe(true);
    await rec.waitFor('DISCONNECTED');
    await rec.waitFor('FOTA_DONE');
    expect(hub.state).not.toBe('CONNECTED');
    expect(rec.count('CONNECTION_FAILED')).toBeGreaterThan(0);
    // `applying` could not be sent yet: the twin still says downloading.
    expect(reportedFirmware(emu, dev.deviceId)?.['fwUpdateStatus']).toBe('downloading');
    expect(rec.fota().map((e) => e.type)).toEqual(['FOTA_START', 'FOTA_ERASE_PENDING', 'FOTA_ERASE_DONE', 'FOTA_DONE']);

    emu.faults.reset();
    await rec.waitFor('READY', 2);
    await reports.waitForStatus(dev.deviceId, 'applying');
    await rec.waitFor('TWIN_RECEIVED', 2);
    await rec.waitForDebug((m) => m.event === 'report' && m.phase === 'sent' && m.status === 'applying');
    // The twin fetched at READY predates the `applying` PATCH: it must not read as an interrupted download (which
    // would report `error`, or start the job again with resumeInterrupted).
    expect(rec.count('FOTA_START')).toBe(1);
    const queued = rec.debug.filter((m) => m.event === 'report' && m.phase === 'queued');
    expect(queued.map((m) => (m as { status: string }).status)).toEqual(['current', 'downloading', 'applying']);
    expect(reports.statuses(dev.deviceId)).toEqual(['current', 'downloading', 'applying']);
    expect(reportedFirmware(emu, dev.deviceId)).toEqual({
      fwUpdateStatus: 'applying',
      currentFwVersion: 'v1',
      pendingFwVersion: 'v2',
      jobId: 'job-ll',
    });
    expect(same((storage as MemoryFirmwareSlot).image(), img)).toBe(true);
    expect(ranges(emu, pub.path).filter((r) => r?.startsWith('bytes=0-'))).toHaveLength(1);
    expect(rec.debug.some((m) => m.event === 'failed')).toBe(false);
  });

  it('a report the hub answers with 429 is sent again', async () => {
    const dev = sasDevice(emu, 'fota-429');
    const pub = emu.publishFirmware('fw/429.bin', image(3000, 28));
    const { rec } = await startClient(emu, dev);
    await reports.waitForStatus(dev.deviceId, 'current');
    emu.faults.failNextTwin(dev.deviceId, 429);
    emu.updateDesired(dev.deviceId, desiredFirmware(emu, { version: 'v2', path: pub.path }));
    await rec.waitFor('FOTA_DONE');
    const retry = await rec.waitForDebug((m) => m.event === 'report' && m.phase === 'retry');
    expect(retry).toMatchObject({ status: 'downloading', error: { status: 429 } });
    expect(rec.events.some((e) => e.type === 'TWIN_RESULT_FAIL' && e.data.result.status === 429)).toBe(true);
    await reports.waitForStatus(dev.deviceId, 'applying');
    expect(reportedFirmware(emu, dev.deviceId)?.['fwUpdateStatus']).toBe('applying');
  });
});
