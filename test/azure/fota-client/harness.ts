/**
 * Helpers for the FOTA client tests: our real client over TLS against the emulator (hub + HTTPS firmware server),
 * SAS devices, an event recorder that can await events, the reported `firmware` patches the hub received, images,
 * desired `firmware` objects, and cleanup of every client a test created.
 */
import { createHash } from 'node:crypto';
import { AzureIotHub, type AzureIotHubOptions } from '../../../src/azure/client.js';
import type {
  AzureIotHubConfig,
  AzureIotHubEvt,
  AzureIotHubFotaConfig,
  AzureIotHubFotaDebug,
  AzureIotHubFotaProgress,
  FirmwareSlot,
} from '../../../src/azure/types.js';
import { MemoryFirmwareSlot } from '../../../src/azure/fota/memory-slot.js';
import type { Emulator } from '../../../src/emulator/emulator.js';
import type { TwinReportedEvent } from '../../../src/emulator/types.js';

export type EvtType = AzureIotHubEvt['type'];
export type FotaEvt = Extract<AzureIotHubEvt, { type: `FOTA_${string}` }>;

/** A deterministic pseudo-random image. */
export function image(size: number, seed = 7): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

export function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Resolve with the value `check` returns once it is not undefined, re-checking on `poke()`; rejects after `ms`. */
class Waiters {
  readonly #waiters = new Set<() => void>();
  poke(): void {
    for (const w of [...this.#waiters]) w();
  }
  wait<T>(check: () => T | undefined, what: string, ms = 10_000): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const first = check();
      if (first !== undefined) {
        resolve(first);
        return;
      }
      const timer = setTimeout(() => {
        this.#waiters.delete(w);
        reject(new Error(`timed out waiting for ${what}`));
      }, ms);
      const w = (): void => {
        const v = check();
        if (v === undefined) return;
        clearTimeout(timer);
        this.#waiters.delete(w);
        resolve(v);
      };
      this.#waiters.add(w);
    });
  }
}

/** Records every event, progress notification and debug message of one client. */
export class Recorder {
  readonly events: AzureIotHubEvt[] = [];
  readonly progress: AzureIotHubFotaProgress[] = [];
  readonly debug: AzureIotHubFotaDebug[] = [];
  readonly #w = new Waiters();

  readonly handler = (evt: AzureIotHubEvt): void => {
    this.events.push(evt);
    this.#w.poke();
  };
  readonly onProgress = (p: AzureIotHubFotaProgress): void => {
    this.progress.push(p);
  };
  readonly onDebug = (m: AzureIotHubFotaDebug): void => {
    this.debug.push(m);
    this.#w.poke();
  };

  types(): EvtType[] {
    return this.events.map((e) => e.type);
  }

  /** FOTA_* events only. */
  fota(): FotaEvt[] {
    return this.events.filter((e): e is FotaEvt => e.type.startsWith('FOTA_'));
  }

  fotaTypes(): EvtType[] {
    return this.fota().map((e) => e.type);
  }

  count(type: EvtType): number {
    return this.events.filter((e) => e.type === type).length;
  }

  /** The `n`-th (1-based) event of `type`, once it happened. */
  waitFor<T extends EvtType>(type: T, n = 1, ms?: number): Promise<Extract<AzureIotHubEvt, { type: T }>> {
    return this.#w.wait(() => {
      const all = this.events.filter((e) => e.type === type);
      return all[n - 1] as Extract<AzureIotHubEvt, { type: T }> | undefined;
    }, `${type} #${n}`, ms);
  }

  /** The first debug message that satisfies `pred`. */
  waitForDebug(pred: (m: AzureIotHubFotaDebug) => boolean, ms?: number): Promise<AzureIotHubFotaDebug> {
    return this.#w.wait(() => this.debug.find(pred), 'a debug message', ms);
  }
}

/** Every reported patch the hub applied, per device (subscribe before the client connects). */
export class ReportLog {
  readonly patches: TwinReportedEvent[] = [];
  readonly #w = new Waiters();
  readonly #listener = (e: TwinReportedEvent): void => {
    this.patches.push(e);
    this.#w.poke();
  };

  constructor(readonly emu: Emulator) {
    emu.on('twinReported', this.#listener);
  }

  stop(): void {
    this.emu.off('twinReported', this.#listener);
  }

  /** The `reported.firmware` patches of `deviceId`, oldest first. */
  firmware(deviceId: string): Record<string, unknown>[] {
    return this.patches
      .filter((p) => p.deviceId === deviceId && typeof p.patch['firmware'] === 'object' && p.patch['firmware'] !== null)
      .map((p) => p.patch['firmware'] as Record<string, unknown>);
  }

  /** The `fwUpdateStatus` values reported by `deviceId`, oldest first. */
  statuses(deviceId: string): unknown[] {
    return this.firmware(deviceId).map((f) => f['fwUpdateStatus']);
  }

  /** Wait until `deviceId` has reported `status` `n` times. */
  waitForStatus(deviceId: string, status: string, n = 1, ms?: number): Promise<Record<string, unknown>> {
    return this.#w.wait(
      () => this.firmware(deviceId).filter((f) => f['fwUpdateStatus'] === status)[n - 1],
      `reported ${status} #${n} from ${deviceId}`,
      ms,
    );
  }
}

/** A SAS device on the emulator. */
export interface TestDevice {
  deviceId: string;
  sasKey: string;
}

export function sasDevice(emu: Emulator, deviceId: string): TestDevice {
  const reg = emu.registerDevice({ deviceId, auth: { type: 'sas' } });
  return { deviceId, sasKey: reg.primaryKey! };
}

/** Download and report retries without waiting: tests must not sleep. */
export const FAST: AzureIotHubOptions = {
  fota: { download: { retry: { initialDelayMs: 1, maxDelayMs: 2, maxAttempts: 5 } }, reportRetryMs: 20 },
};

export interface ClientSetup {
  currentVersion?: string;
  storage?: FirmwareSlot;
  fota?: Partial<AzureIotHubFotaConfig>;
  config?: Partial<AzureIotHubConfig>;
  options?: AzureIotHubOptions;
  /** Wait for the first TWIN_RECEIVED after READY (default true): the start-up twin has been processed. */
  waitTwin?: boolean;
}

export interface TestClient {
  hub: AzureIotHub;
  rec: Recorder;
  storage: FirmwareSlot;
}

const clients: AzureIotHub[] = [];

/** Create, init and connect a client with FOTA on; resolves after READY (and the first twin, by default). */
export async function startClient(emu: Emulator, device: TestDevice, setup: ClientSetup = {}): Promise<TestClient> {
  const rec = new Recorder();
  const storage = setup.storage ?? new MemoryFirmwareSlot();
  const hub = new AzureIotHub(setup.options ?? FAST);
  clients.push(hub);
  hub.init(
    {
      deviceId: device.deviceId,
      hostname: emu.hub.host,
      address: emu.hub.address,
      port: emu.hub.port,
      credentials: { ca: emu.ca.cert },
      sasKey: device.sasKey,
      reconnect: { initialDelayMs: 5, maxDelayMs: 20 },
      fota: {
        currentVersion: setup.currentVersion ?? 'v1',
        storage,
        ca: emu.ca.cert,
        onProgress: rec.onProgress,
        onDebug: rec.onDebug,
        progressIntervalMs: 0,
        ...setup.fota,
      },
      ...setup.config,
    },
    rec.handler,
  );
  await hub.connect();
  await rec.waitFor('READY');
  if (setup.waitTwin !== false) await rec.waitFor('TWIN_RECEIVED');
  return { hub, rec, storage };
}

/** Disconnect every client created by {@link startClient} (afterEach). */
export async function closeClients(): Promise<void> {
  const all = clients.splice(0);
  await Promise.all(
    all.map(async (hub) => {
      if (hub.state === 'CONNECTED' || hub.state === 'CONNECTING') await hub.disconnect().catch(() => undefined);
    }),
  );
}

export interface DesiredOptions {
  version: string;
  jobId?: string | null;
  fragmentSize?: number;
  sha256?: string;
  size?: number;
  path?: string;
  protocol?: string;
}

/** A desired patch `{ firmware: {...} }` pointing at the emulator's firmware server. */
export function desiredFirmware(emu: Emulator, o: DesiredOptions): { firmware: Record<string, unknown> } {
  const fw = emu.firmwareServer!;
  const firmware: Record<string, unknown> = {
    fwVersion: o.version,
    fwLocation: { protocol: o.protocol ?? 'https:', host: fw.hostWithPort, path: o.path ?? `fw/app-${o.version}.bin` },
    fwFragmentSize: o.fragmentSize ?? 1800,
  };
  if (o.jobId !== null) firmware['jobId'] = o.jobId ?? `job-${o.version}`;
  if (o.sha256 !== undefined) firmware['sha256'] = o.sha256;
  if (o.size !== undefined) firmware['size'] = o.size;
  return { firmware };
}

/** The device twin's `reported.firmware`. */
export function reportedFirmware(emu: Emulator, deviceId: string): Record<string, unknown> | undefined {
  return emu.getTwin(deviceId).reported['firmware'] as Record<string, unknown> | undefined;
}

/** `Range` headers the firmware server received for `path`, in order. */
export function ranges(emu: Emulator, path: string): (string | undefined)[] {
  return emu.firmwareServer!.requests.filter((r) => r.path === path).map((r) => r.range);
}

/** Requests for `path`. */
export function requestsFor(emu: Emulator, path: string): number {
  return emu.firmwareServer!.requests.filter((r) => r.path === path).length;
}
