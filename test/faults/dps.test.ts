/**
 * The DPS link cut at every TLS record boundary and in the middle of every record of a registration (TLS handshake,
 * CONNECT/CONNACK, SUBSCRIBE/SUBACK, the register request, its 202, the poll, the final 200, DISCONNECT), both
 * directions, through the fault proxy over TLS; the hub link is direct.
 *
 * By design the library does not retry DPS by itself (as the C library: the application calls connect() again): a
 * cut fails the provisioning with DPS_FAILED and a coded error (ECONNRESET; EACCES when the cut came before the DPS
 * CONNACK, which looks like a refused certificate), connect() rejects with it, the client is back in INIT, and no
 * second DPS connection is opened until the application's next connect(), which provisions and reaches READY.
 * A cut after DPS assigned the device (during DISCONNECT) does not fail anything.
 *
 * Invariants in every case: the cut happened; connect() settled; the client ended READY on the assigned hub with
 * the assignment stored; no DPS connection was left open.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryDpsStore } from '../../src/azure/dps/memory-store.js';
import { startEmulator, type Emulator } from '../../src/emulator/emulator.js';
import { AzureIotHubError } from '../../src/errors.js';
import {
  backToReady,
  cutTargets,
  expectCut,
  FaultClient,
  FAST_RECONNECT,
  recordsOf,
  runMatrix,
  seeded,
  sleep,
  tappedProxy,
  until,
  type CaseOutcome,
  type CleanRun,
} from './harness.js';
import type { CutTarget } from './tls-records.js';

let emu: Emulator;
let n = 0;

beforeAll(async () => {
  emu = await startEmulator({ firmware: false, dpsRetryAfterSeconds: 0 });
});
afterAll(async () => {
  await emu.close();
});

async function provision(target: CutTarget | undefined, clean?: CleanRun): Promise<CaseOutcome> {
  const k = ++n;
  const registrationId = `dps-cut-${k}`;
  const enrollment = emu.addEnrollment({ registrationId, attestation: { type: 'sas' } });
  const key = (enrollment.attestation as { primaryKey?: string }).primaryKey!;
  const { proxy, tap } = await tappedProxy(emu.dps.port);
  const store = new MemoryDpsStore();
  const c = new FaultClient(
    proxy,
    tap,
    {
      deviceId: registrationId,
      address: emu.hub.address,
      port: emu.hub.port,
      credentials: { ca: emu.ca.cert },
      reconnect: { ...FAST_RECONNECT },
      dps: {
        idScope: emu.dps.idScope,
        hostname: emu.dps.host,
        address: '127.0.0.1',
        port: proxy.port,
        symmetricKey: key,
        store,
        timeoutMs: 10_000,
      },
    },
    { random: seeded(k) },
  );
  const s = c.settlements;
  if (target !== undefined) tap.arm(target);
  let recovery: CaseOutcome['recovery'] = 'none';
  let code: string | undefined;
  try {
    await s.track('connect()', c.hub.connect()).catch(() => undefined);
    if (target === undefined) {
      await c.rec.waitFor('READY');
      clean!.records = recordsOf(tap);
      return { target: { link: 0, direction: 'up', record: -1, at: 'end' }, recovery };
    }
    await until(() => proxy.cuts > 0, 'the cut');
    expectCut(proxy, target);
    const failed = s.rejected.find((t) => t.what === 'connect()');
    if (failed !== undefined) {
      const err = failed.error as AzureIotHubError;
      expect(err).toBeInstanceOf(AzureIotHubError);
      code = err.code;
      expect(['ECONNRESET', 'EACCES']).toContain(code);
      expect(c.rec.types()).toEqual(['DPS_CONNECTING', ...(c.count('DPS_REGISTERING') > 0 ? ['DPS_REGISTERING'] : []), 'DPS_FAILED']);
      expect((c.rec.all('DPS_FAILED')[0]!.data.err as AzureIotHubError).code).toBe(code);
      expect(c.hub.state).toBe('INIT');
      expect(store.assignment).toBeUndefined();
      const links = proxy.links.length;
      await sleep(120);
      expect(proxy.links.length, 'DPS is not retried by the library').toBe(links);
      recovery = 'application';
      await s.track('connect() again', c.hub.connect());
    }
    await until(() => backToReady(c), 'READY on the assigned hub');
    await s.settledWithin(3000);
    expect(s.badRejections(new Set(['ECONNRESET', 'EACCES']))).toEqual([]);
    expect(store.assignment).toMatchObject({ registrationId, deviceId: registrationId, assignedHub: emu.hub.host });
    expect(emu.isConnected(registrationId)).toBe(true);
    await until(() => proxy.open === 0, 'the DPS connection closed');
    const outcome: CaseOutcome = { target, recovery, counts: { provisioned: 1 } };
    if (code !== undefined) outcome.code = code;
    return outcome;
  } finally {
    await c.close();
  }
}

describe('DPS link cut during the registration', () => {
  it('every record boundary and mid-record: DPS_FAILED with a coded error, then READY after connect() again', async () => {
    const clean: CleanRun = { records: [], marks: {} };
    await provision(undefined, clean);
    expect(clean.records).toHaveLength(1);
    const targets = cutTargets(clean, 0);
    const report = await runMatrix('DPS registration', targets, (t) => provision(t), 4);
    expect(report.counts['provisioned']).toBe(targets.length);
    expect(report.recovery.application).toBeGreaterThan(0);
    expect(report.codes['EACCES']).toBeGreaterThan(0);
    expect(report.codes['ECONNRESET']).toBeGreaterThan(0);
  });
});
