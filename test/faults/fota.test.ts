/**
 * The firmware download's HTTPS connection cut at every TLS record boundary and in the middle of every record (TLS
 * handshake, each Range request, each 206 answer), both directions, through the fault proxy; the hub link is direct.
 *
 * Invariants in every case: the cut happened; the download resumed from the bytes in the slot (a Range starting
 * where the slot ends) and finished: FOTA_START, FOTA_ERASE_PENDING, FOTA_ERASE_DONE, FOTA_DONE and no FOTA_ERROR;
 * the image in the slot is byte-identical to the published one; `applying` was reported; the client stayed READY.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryFirmwareSlot } from '../../src/azure/fota/memory-slot.js';
import { startEmulator, type Emulator } from '../../src/emulator/emulator.js';
import { image } from '../azure/fota-client/harness.js';
import {
  cutTargets,
  expectCut,
  FaultClient,
  FAST_RECONNECT,
  recordsOf,
  runMatrix,
  seeded,
  tappedProxy,
  until,
  type CaseOutcome,
  type CleanRun,
} from './harness.js';
import type { CutTarget } from './tls-records.js';

let emu: Emulator;
let n = 0;
const IMAGE = image(6000, 5);
const FRAGMENT = 2048;

beforeAll(async () => {
  emu = await startEmulator();
});
afterAll(async () => {
  await emu.close();
});

function same(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;
}

async function download(target: CutTarget | undefined, clean?: CleanRun): Promise<CaseOutcome> {
  const k = ++n;
  const id = `fota-cut-${k}`;
  const reg = emu.registerDevice({ deviceId: id, auth: { type: 'sas' } });
  const { proxy, tap } = await tappedProxy(emu.firmware!.port);
  const storage = new MemoryFirmwareSlot();
  const published = emu.publishFirmware(`fw/faults-${k}.bin`, IMAGE);
  const c = new FaultClient(
    proxy,
    tap,
    {
      deviceId: id,
      hostname: emu.hub.host,
      address: emu.hub.address,
      port: emu.hub.port,
      credentials: { ca: emu.ca.cert },
      sasKey: reg.primaryKey!,
      reconnect: { ...FAST_RECONNECT },
      fota: { currentVersion: 'v1', storage, ca: emu.ca.cert, progressIntervalMs: 0 },
    },
    { random: seeded(k), fota: { download: { retry: { initialDelayMs: 1, maxDelayMs: 4, maxAttempts: 5 } }, reportRetryMs: 20 } },
  );
  const applying = emu.waitFor(
    'twinReported',
    (e) => e.deviceId === id && (e.patch['firmware'] as { fwUpdateStatus?: string } | undefined)?.fwUpdateStatus === 'applying',
    10_000,
  );
  applying.catch(() => undefined);
  try {
    await c.settlements.track('connect()', c.hub.connect());
    await c.rec.waitFor('TWIN_RECEIVED');
    if (target !== undefined) tap.arm(target);
    emu.updateDesired(id, {
      firmware: {
        jobId: `job-${k}`,
        fwVersion: 'v2',
        fwLocation: { protocol: 'https:', host: `127.0.0.1:${proxy.port}`, path: published.path },
        fwFragmentSize: FRAGMENT,
        sha256: published.sha256,
      },
    });
    await c.rec.waitFor('FOTA_DONE', { timeoutMs: 10_000 });
    await applying;
    expect(c.rec.types().filter((t) => t.startsWith('FOTA_'))).toEqual(['FOTA_START', 'FOTA_ERASE_PENDING', 'FOTA_ERASE_DONE', 'FOTA_DONE']);
    expect(same(storage.image(), IMAGE)).toBe(true);
    expect(c.hub.state).toBe('CONNECTED');
    expect(c.count('DISCONNECTED')).toBe(0);
    const requests = emu.firmwareServer!.requests.filter((r) => r.path === published.path);
    // Each request asks for the bytes from where the slot was: the starts never go back, and the last one reaches
    // the end of the image.
    const starts = requests.map((r) => Number(/^bytes=(\d+)-/.exec(r.range ?? '')?.[1]));
    expect(starts.every((v, i) => Number.isInteger(v) && (i === 0 || v >= starts[i - 1]!))).toBe(true);
    expect(starts[0]).toBe(0);
    if (target === undefined) {
      clean!.records = recordsOf(tap);
      return { target: { link: 0, direction: 'up', record: -1, at: 'end' }, recovery: 'none' };
    }
    await until(() => proxy.cuts > 0, 'the cut');
    expectCut(proxy, target);
    // The proxy's connections after the first are the download resuming; none when the cut came after the last
    // answer (the download was complete).
    const resumed = proxy.links.length - 1;
    if (resumed === 0) expect(requests.every((r) => r.status === 206 && !r.cut)).toBe(true);
    return {
      target,
      recovery: resumed > 0 ? 'library' : 'none',
      code: 'ECONNRESET',
      counts: { downloads: 1, done: 1, reconnections: resumed, requests: requests.length },
    };
  } finally {
    await c.close();
  }
}

describe('firmware download cut at every TLS record', () => {
  it('every record boundary and mid-record: the download resumes with Range and the image is identical', async () => {
    const clean: CleanRun = { records: [], marks: {} };
    await download(undefined, clean);
    // One keep-alive connection carries the three Range requests.
    expect(clean.records).toHaveLength(1);
    expect(clean.records[0]!.up).toBeGreaterThanOrEqual(3 + Math.ceil(IMAGE.length / FRAGMENT));
    const targets = cutTargets(clean, 0);
    const report = await runMatrix('FOTA download', targets, (t) => download(t), 4);
    expect(report.counts['done']).toBe(targets.length);
    expect(report.recovery.library).toBeGreaterThanOrEqual(targets.length - 2);
  });
});
