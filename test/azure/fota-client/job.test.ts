/**
 * FOTA through the client, end to end: our AzureIotHub over TLS against the emulator's hub (desired properties,
 * reported PATCHes) and its HTTPS firmware server. A job from a desired PATCH, events in order, reported states,
 * bytes in the slot; fragment sizes; a job repeated; a newer job; a job arriving while one runs; merged PATCHes;
 * invalid documents.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FOTA_CHANNEL } from '../../../src/azure/fota/controller.js';
import type { MemoryFirmwareSlot } from '../../../src/azure/fota/memory-slot.js';
import type { AzureIotHubFotaDebug } from '../../../src/azure/types.js';
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

describe('a FOTA job through the client', () => {
  it('runs end to end: events in order, reported states in the twin, identical bytes in the slot', async () => {
    const dev = sasDevice(emu, 'fota-e2e');
    const img = image(10_000, 1);
    const pub = emu.publishFirmware('fw/e2e-v2.bin', img);
    const { rec, storage } = await startClient(emu, dev);
    // Start-up: the twin has no reported firmware, so the device reports what it runs (C rule).
    await reports.waitForStatus(dev.deviceId, 'current');
    expect(reportedFirmware(emu, dev.deviceId)).toEqual({ fwUpdateStatus: 'current', currentFwVersion: 'v1' });
    expect(rec.fota()).toEqual([]);

    emu.updateDesired(dev.deviceId, desiredFirmware(emu, { version: 'v2', jobId: 'job-e2e', path: pub.path, sha256: pub.sha256 }));
    await rec.waitFor('FOTA_DONE');
    expect(rec.fotaTypes()).toEqual(['FOTA_START', 'FOTA_ERASE_PENDING', 'FOTA_ERASE_DONE', 'FOTA_DONE']);
    for (const e of rec.fota()) expect(e.data.fota).toEqual({ jobId: 'job-e2e', version: 'v2' });
    // The controller sees the desired PATCH before the application does, as in C.
    const types = rec.types();
    expect(types.indexOf('FOTA_START')).toBeLessThan(types.indexOf('TWIN_DESIRED_RECEIVED'));

    await reports.waitForStatus(dev.deviceId, 'applying');
    expect(reports.statuses(dev.deviceId)).toEqual(['current', 'downloading', 'applying']);
    expect(reports.firmware(dev.deviceId)[1]).toEqual({
      fwUpdateStatus: 'downloading',
      currentFwVersion: 'v1',
      pendingFwVersion: 'v2',
      jobId: 'job-e2e',
    });
    expect(reportedFirmware(emu, dev.deviceId)).toEqual({
      fwUpdateStatus: 'applying',
      currentFwVersion: 'v1',
      pendingFwVersion: 'v2',
      jobId: 'job-e2e',
    });

    const slot = storage as MemoryFirmwareSlot;
    expect(same(slot.image(), img)).toBe(true);
    expect(slot.finalized).toEqual({ version: 'v2', size: img.length, sha256: pub.sha256 });
    expect(slot.erases).toBe(1);

    // Progress: growing percentages with the job's identity, ending at 100 with every byte.
    const percents = rec.progress.map((p) => p.percent);
    expect(percents.length).toBeGreaterThan(1);
    expect([...percents].sort((a, b) => a - b)).toEqual(percents);
    expect(new Set(percents).size).toBe(percents.length);
    expect(rec.progress.at(-1)).toEqual({ jobId: 'job-e2e', version: 'v2', percent: 100, bytes: img.length, total: img.length });
    // Each report was a twin PATCH with a $rid that the hub answered 204.
    await rec.waitFor('TWIN_RESULT_SUCCESS', 3);
    await rec.waitForDebug((m) => m.event === 'report' && m.phase === 'sent' && m.status === 'applying');
    expect(rec.debug.filter((m) => m.event === 'report' && m.phase === 'sent').map((m) => (m as { status: string }).status))
      .toEqual(['current', 'downloading', 'applying']);
  });

  it('fragment size that divides the image: one Range request per fragment', async () => {
    const dev = sasDevice(emu, 'fota-frag-even');
    const img = image(8192, 2);
    const pub = emu.publishFirmware('fw/even.bin', img);
    const { rec, storage } = await startClient(emu, dev);
    emu.updateDesired(dev.deviceId, desiredFirmware(emu, { version: 'v2', path: pub.path, fragmentSize: 1024 }));
    await rec.waitFor('FOTA_DONE');
    expect(ranges(emu, pub.path)).toEqual(Array.from({ length: 8 }, (_, i) => `bytes=${i * 1024}-${i * 1024 + 1023}`));
    expect(same((storage as MemoryFirmwareSlot).image(), img)).toBe(true);
  });

  it('fragment size that does not divide the image: the last range is capped at the image end', async () => {
    const dev = sasDevice(emu, 'fota-frag-odd');
    const img = image(10_000, 3);
    const pub = emu.publishFirmware('fw/odd.bin', img);
    const { rec, storage } = await startClient(emu, dev);
    emu.updateDesired(dev.deviceId, desiredFirmware(emu, { version: 'v2', path: pub.path, fragmentSize: 1800 }));
    await rec.waitFor('FOTA_DONE');
    expect(ranges(emu, pub.path)).toEqual([
      'bytes=0-1799',
      'bytes=1800-3599',
      'bytes=3600-5399',
      'bytes=5400-7199',
      'bytes=7200-8999',
      'bytes=9000-9999',
    ]);
    expect(emu.firmwareServer!.requests.filter((r) => r.path === pub.path).every((r) => r.status === 206)).toBe(true);
    expect(same((storage as MemoryFirmwareSlot).image(), img)).toBe(true);
  });

  it('a job repeated (same jobId) is not run again: not from a PATCH, not from the twin after reconnects', async () => {
    const dev = sasDevice(emu, 'fota-repeat');
    const pub = emu.publishFirmware('fw/repeat.bin', image(4000, 4));
    const { rec } = await startClient(emu, dev);
    const desired = desiredFirmware(emu, { version: 'v2', jobId: 'job-r', path: pub.path });
    emu.updateDesired(dev.deviceId, desired);
    await rec.waitFor('FOTA_DONE');
    await reports.waitForStatus(dev.deviceId, 'applying');
    const requests = requestsFor(emu, pub.path);

    // The same job again, with another fragment size: already attempted.
    emu.updateDesired(dev.deviceId, { firmware: { ...desired.firmware, fwFragmentSize: 4096 } });
    await rec.waitFor('TWIN_DESIRED_RECEIVED', 2);
    expect(rec.debug).toContainEqual({ event: 'ignored', reason: 'already-attempted', jobId: 'job-r', version: 'v2' });

    // Two reconnects: each full twin sees the job attempted, and the pending image stays `applying` (never
    // `rolledback`: the application has not restarted yet).
    for (const n of [2, 3]) {
      expect(emu.faults.dropConnection(dev.deviceId)).toBe(true);
      await rec.waitFor('TWIN_RECEIVED', n);
    }
    expect(rec.count('FOTA_START')).toBe(1);
    expect(requestsFor(emu, pub.path)).toBe(requests);
    expect(rec.debug.filter((m) => m.event === 'report' && m.phase === 'queued')).toHaveLength(3);
    expect(reports.statuses(dev.deviceId)).toEqual(['current', 'downloading', 'applying']);
    expect(reportedFirmware(emu, dev.deviceId)?.['fwUpdateStatus']).toBe('applying');
  });

  it('a newer job after completion runs (exact jobId match: job-10 is not job-1)', async () => {
    const dev = sasDevice(emu, 'fota-newer');
    const img1 = image(3000, 5);
    const img2 = image(5000, 6);
    const p1 = emu.publishFirmware('fw/newer-1.bin', img1);
    const p2 = emu.publishFirmware('fw/newer-2.bin', img2);
    const { rec, storage } = await startClient(emu, dev);
    emu.updateDesired(dev.deviceId, desiredFirmware(emu, { version: 'v2', jobId: 'job-1', path: p1.path }));
    await rec.waitFor('FOTA_DONE');
    emu.updateDesired(dev.deviceId, desiredFirmware(emu, { version: 'v3', jobId: 'job-10', path: p2.path }));
    const done = await rec.waitFor('FOTA_DONE', 2);
    expect(done.data.fota).toEqual({ jobId: 'job-10', version: 'v3' });
    expect(rec.fotaTypes()).toEqual([
      'FOTA_START', 'FOTA_ERASE_PENDING', 'FOTA_ERASE_DONE', 'FOTA_DONE',
      'FOTA_START', 'FOTA_ERASE_PENDING', 'FOTA_ERASE_DONE', 'FOTA_DONE',
    ]);
    const slot = storage as MemoryFirmwareSlot;
    expect(same(slot.image(), img2)).toBe(true);
    expect(slot.finalized?.version).toBe('v3');
    await reports.waitForStatus(dev.deviceId, 'applying', 2);
    expect(reports.statuses(dev.deviceId)).toEqual(['current', 'downloading', 'applying', 'downloading', 'applying']);
    expect(reportedFirmware(emu, dev.deviceId)).toEqual({
      fwUpdateStatus: 'applying',
      currentFwVersion: 'v1',
      pendingFwVersion: 'v3',
      jobId: 'job-10',
    });
  });

  it('a PATCH that changes only fwVersion and jobId is merged with the known desired firmware', async () => {
    const dev = sasDevice(emu, 'fota-merge');
    const pub = emu.publishFirmware('fw/merge.bin', image(3000, 7));
    const { rec, storage } = await startClient(emu, dev);
    emu.updateDesired(dev.deviceId, desiredFirmware(emu, { version: 'v2', jobId: 'm-1', path: pub.path, fragmentSize: 1024 }));
    await rec.waitFor('FOTA_DONE');
    const img3 = image(2500, 8);
    emu.publishFirmware('fw/merge.bin', img3);
    emu.updateDesired(dev.deviceId, { firmware: { fwVersion: 'v3', jobId: 'm-2' } });
    await rec.waitFor('FOTA_DONE', 2);
    expect(same((storage as MemoryFirmwareSlot).image(), img3)).toBe(true);
    // The kept fragment size applies to the second job too.
    expect(ranges(emu, pub.path).slice(-3)).toEqual(['bytes=0-1023', 'bytes=1024-2047', 'bytes=2048-2499']);
  });

  it('a job arriving while one runs is ignored with a debug message, then started when the first ends', async () => {
    const dev = sasDevice(emu, 'fota-busy');
    const imgA = image(8192, 9);
    const imgB = image(3000, 10);
    const pa = emu.publishFirmware('fw/busy-a.bin', imgA);
    const pb = emu.publishFirmware('fw/busy-b.bin', imgB);
    const channelMessages: AzureIotHubFotaDebug[] = [];
    const onChannel = (m: unknown): void => {
      channelMessages.push(m as AzureIotHubFotaDebug);
    };
    subscribe(FOTA_CHANNEL, onChannel);
    try {
      const { rec, storage } = await startClient(emu, dev);
      emu.faults.firmware!.delayMs = 15; // 8 fragments: the first job runs for a while
      emu.updateDesired(dev.deviceId, desiredFirmware(emu, { version: 'v2', jobId: 'job-a', path: pa.path, fragmentSize: 1024 }));
      await rec.waitFor('FOTA_START');
      emu.updateDesired(dev.deviceId, desiredFirmware(emu, { version: 'v3', jobId: 'job-b', path: pb.path }));
      await rec.waitFor('TWIN_DESIRED_RECEIVED', 2);
      const busy = { event: 'ignored', reason: 'busy', jobId: 'job-b', version: 'v3' };
      expect(rec.debug).toContainEqual(busy);
      expect(channelMessages).toContainEqual(busy);
      expect(rec.count('FOTA_START')).toBe(1);
      expect(requestsFor(emu, pb.path)).toBe(0);

      emu.faults.firmware!.delayMs = 0;
      const second = await rec.waitFor('FOTA_DONE', 2);
      expect(second.data.fota).toEqual({ jobId: 'job-b', version: 'v3' });
      const fota = rec.fota().map((e) => `${e.type}:${e.data.fota.jobId ?? ''}`);
      expect(fota.indexOf('FOTA_DONE:job-a')).toBeLessThan(fota.indexOf('FOTA_START:job-b'));
      expect(same((storage as MemoryFirmwareSlot).image(), imgB)).toBe(true);
      await reports.waitForStatus(dev.deviceId, 'applying', 2);
      expect(reportedFirmware(emu, dev.deviceId)).toMatchObject({ fwUpdateStatus: 'applying', pendingFwVersion: 'v3', jobId: 'job-b' });
      // The debug messages never carry a query string or a key.
      expect(JSON.stringify(channelMessages)).not.toContain(dev.sasKey);
    } finally {
      unsubscribe(FOTA_CHANNEL, onChannel);
    }
  });

  it('the running version, an invalid firmware object, or no firmware start nothing', async () => {
    const dev = sasDevice(emu, 'fota-nothing');
    const { rec } = await startClient(emu, dev);
    emu.updateDesired(dev.deviceId, desiredFirmware(emu, { version: 'v1', jobId: 'same' }));
    emu.updateDesired(dev.deviceId, { firmware: { fwVersion: 'v2', jobId: 'bad', fwLocation: { host: 'bad host!', path: 'x.bin' } } });
    emu.updateDesired(dev.deviceId, { firmware: null });
    emu.updateDesired(dev.deviceId, { unrelated: 1 });
    await rec.waitFor('TWIN_DESIRED_RECEIVED', 4);
    const ignored = rec.debug.filter((m) => m.event === 'ignored' && m.reason !== 'no-firmware');
    expect(ignored.map((m) => (m as { reason: string }).reason)).toEqual(['same-version', 'invalid']);
    const invalid = ignored[1] as { error?: { code: string; message: string } };
    expect(invalid.error?.code).toBe('EINVAL');
    expect(invalid.error?.message).toContain('firmware.fwLocation.host');
    // The start-up twin and `firmware: null` (a deletion) have no job; the PATCH without `firmware` is none of
    // FOTA's business and is not even looked at.
    expect(rec.debug.filter((m) => m.event === 'ignored' && m.reason === 'no-firmware')).toHaveLength(2);
    expect(rec.fota()).toEqual([]);
  });

  it('a SHA-256 in the desired object is checked and the slot gets the digest', async () => {
    const dev = sasDevice(emu, 'fota-sha-ok');
    const img = image(6000, 11);
    const pub = emu.publishFirmware('fw/sha.bin', img);
    const { rec, storage } = await startClient(emu, dev);
    emu.updateDesired(dev.deviceId, desiredFirmware(emu, { version: 'v2', path: pub.path, sha256: sha256(img), size: img.length }));
    await rec.waitFor('FOTA_DONE');
    expect((storage as MemoryFirmwareSlot).finalized).toEqual({ version: 'v2', size: img.length, sha256: sha256(img) });
    const done = rec.debug.find((m) => m.event === 'done');
    expect(done).toMatchObject({ size: img.length, sha256: sha256(img), resumedFrom: 0 });
  });
});
