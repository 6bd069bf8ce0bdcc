/**
 * The shared body of the TLS refusal tests: a client facing a bad TLS server, on its first connection and on a
 * reconnection after a good one, must report EACCES with the precise cause and never retry blindly.
 */
import { expect } from 'vitest';
import { AzureIotHub } from '../../src/azure/client.js';
import type { AzureIotHubConfig, ReconnectPolicy } from '../../src/azure/types.js';
import type { Emulator } from '../../src/emulator/emulator.js';
import { AzureIotHubError } from '../../src/errors.js';
import { EventRecorder } from '../azure/client/harness.js';
import { sleep, SwitchProxy, until, type BadTlsServer } from './helpers.js';

/** Retry within 5 ms: a client that retried an auth failure would make many attempts during {@link NO_RETRY_WINDOW_MS}. */
export const FAST: ReconnectPolicy = { initialDelayMs: 5, maxDelayMs: 10 };
export const NO_RETRY_WINDOW_MS = 150;

const clients: AzureIotHub[] = [];

/** A SAS device's client aimed at `port` on loopback, the emulator's hub name as SNI, trusting the emulator's CA. */
export function clientFor(
  emu: Emulator,
  deviceId: string,
  port: number,
  overrides: Partial<AzureIotHubConfig> = {},
): { hub: AzureIotHub; rec: EventRecorder; key: string } {
  const reg = emu.registerDevice({ deviceId, auth: { type: 'sas' } });
  const hub = new AzureIotHub({ random: () => 0.5 });
  const rec = new EventRecorder();
  hub.init(
    {
      deviceId,
      hostname: emu.hub.host,
      address: '127.0.0.1',
      port,
      credentials: { ca: emu.ca.cert },
      sasKey: reg.primaryKey!,
      reconnect: FAST,
      ...overrides,
    },
    rec.handler,
  );
  clients.push(hub);
  return { hub, rec, key: reg.primaryKey! };
}

export async function closeClients(): Promise<void> {
  await Promise.all(
    clients.splice(0).map(async (hub) => {
      if (hub.state === 'CONNECTED' || hub.state === 'CONNECTING') await hub.disconnect().catch(() => undefined);
    }),
  );
}

/** Assert `err` is EACCES caused by `causeCode`, without secrets in its message. */
export function expectTlsRefusal(err: unknown, causeCode: string, key: string): AzureIotHubError {
  expect(err).toBeInstanceOf(AzureIotHubError);
  const e = err as AzureIotHubError;
  expect(e.code).toBe('EACCES');
  expect((e.cause as NodeJS.ErrnoException | undefined)?.code).toBe(causeCode);
  expect(e.message).toContain(causeCode);
  expect(e.message).not.toContain(key);
  expect(e.message).not.toMatch(/SharedAccessSignature|sig=/);
  return e;
}

/** First connection to `bad`: connect() rejects with EACCES (`causeCode`), CONNECTION_FAILED, INIT, one attempt only. */
export async function refusedOnFirstConnect(emu: Emulator, bad: BadTlsServer, deviceId: string, causeCode: string): Promise<void> {
  const { hub, rec, key } = clientFor(emu, deviceId, bad.port);
  const err = await hub.connect().then(
    () => undefined,
    (e: unknown) => e,
  );
  expectTlsRefusal(err, causeCode, key);
  expect(rec.types()).toEqual(['CONNECTING', 'CONNECTION_FAILED']);
  expect(rec.all('CONNECTION_FAILED')[0]!.data.err).toBe(err);
  expect(hub.state).toBe('INIT');
  await sleep(NO_RETRY_WINDOW_MS);
  expect(bad.connections).toBe(1);
  expect(bad.secured).toBe(0);
  expect(rec.types()).toEqual(['CONNECTING', 'CONNECTION_FAILED']);
}

/**
 * A good connection (through a switch: connection 0 to the emulator), then the hub drops the link and the
 * reconnection meets `bad`: DISCONNECTED (ECONNRESET), CONNECTING, CONNECTION_FAILED (EACCES), INIT, and no further
 * attempt; a QoS 1 send queued while reconnecting is rejected (ENOTCONN), not left pending. With
 * `retryOnAuthFailure` (the control) the library does retry.
 */
export async function refusedOnReconnect(
  emu: Emulator,
  bad: BadTlsServer,
  deviceId: string,
  causeCode: string,
  control = false,
): Promise<void> {
  const sw = await SwitchProxy.start((i) => (i === 0 ? emu.hub.port : bad.port));
  try {
    const policy = control ? { ...FAST, retryOnAuthFailure: true } : FAST;
    const { hub, rec, key } = clientFor(emu, deviceId, sw.port, { reconnect: policy });
    await hub.connect();
    await rec.waitFor('READY');
    const before = bad.connections;
    const mark = rec.mark();
    expect(emu.faults.dropConnection(deviceId)).toBe(true);
    await rec.waitFor('DISCONNECTED', { since: mark });
    const queued = hub.sendEvent({ queued: true }).then(
      () => undefined,
      (e: unknown) => e,
    );
    if (control) {
      // Retried within 10 ms each time: three attempts come quickly (a deadline, not a speed measure).
      await until(() => bad.connections - before >= 3, 3000);
      expect(hub.state).toBe('CONNECTING');
      await hub.disconnect();
      expect(await queued).toMatchObject({ code: 'ENOTCONN' });
      return;
    }
    const failed = await rec.waitFor('CONNECTION_FAILED', { since: mark });
    expectTlsRefusal(failed.data.err, causeCode, key);
    expect(rec.types(mark)).toEqual(['DISCONNECTED', 'CONNECTING', 'CONNECTION_FAILED']);
    expect((rec.all('DISCONNECTED', mark)[0]!.data as { err: AzureIotHubError }).err.code).toBe('ECONNRESET');
    expect(hub.state).toBe('INIT');
    expect(await queued).toMatchObject({ code: 'ENOTCONN' });
    await sleep(NO_RETRY_WINDOW_MS);
    expect(bad.connections - before).toBe(1);
    expect(rec.types(mark)).toEqual(['DISCONNECTED', 'CONNECTING', 'CONNECTION_FAILED']);
  } finally {
    await sw.close();
  }
}
