/**
 * Shared helpers for the AzureIotHub client's integration tests: the emulator, X.509 and SAS devices, a config
 * pointing at the emulator, an event recorder that can await an event, a pump for `autoInput: false`, and cleanup
 * of every client a test created.
 */
import { AzureIotHub, type AzureIotHubOptions } from '../../../src/azure/client.js';
import type { AzureIotHubConfig, AzureIotHubEvt } from '../../../src/azure/types.js';
import type { Emulator } from '../../../src/emulator/emulator.js';
import type { PacketLogEntry } from '../../../src/emulator/packet-log.js';

export type EvtType = AzureIotHubEvt['type'];
export type EvtOf<T extends EvtType> = Extract<AzureIotHubEvt, { type: T }>;

/** A device the emulator knows, with what the client needs to authenticate. */
export interface TestDevice {
  deviceId: string;
  auth: 'x509' | 'sas';
  /** X.509: the device certificate (with chain) and key. */
  cert?: string;
  key?: string;
  /** SAS: the primary key. */
  sasKey?: string;
}

/** Register a SAS device. */
export function sasDevice(emu: Emulator, deviceId: string): TestDevice {
  const reg = emu.registerDevice({ deviceId, auth: { type: 'sas' } });
  return { deviceId, auth: 'sas', sasKey: reg.primaryKey! };
}

/** Register an X.509 (CA-signed) device and mint its certificate (~40 ms: do it in `beforeAll`). */
export async function x509Device(emu: Emulator, deviceId: string): Promise<TestDevice> {
  emu.registerDevice({ deviceId });
  const c = await emu.createDeviceCredentials(deviceId);
  return { deviceId, auth: 'x509', cert: c.chain, key: c.key };
}

/** A config that reaches the emulator: hostname as SNI and username host, `address`/`port` for the socket. */
export function configFor(emu: Emulator, device: TestDevice, overrides: Partial<AzureIotHubConfig> = {}): AzureIotHubConfig {
  const cfg: AzureIotHubConfig = {
    deviceId: device.deviceId,
    hostname: emu.hub.host,
    address: emu.hub.address,
    port: emu.hub.port,
    credentials: device.auth === 'x509' ? { ca: emu.ca.cert, cert: device.cert!, key: device.key! } : { ca: emu.ca.cert },
  };
  if (device.auth === 'sas') cfg.sasKey = device.sasKey!;
  return { ...cfg, ...overrides };
}

/** Records every event; tests await event types. */
export class EventRecorder {
  readonly events: AzureIotHubEvt[] = [];
  /** Called for every event after it is recorded (a test can make it throw). */
  hook: ((evt: AzureIotHubEvt) => void) | undefined;
  readonly #waiters = new Set<{ check: () => boolean }>();

  /** The handler to pass to `init`. */
  readonly handler = (evt: AzureIotHubEvt): void => {
    this.events.push(evt);
    for (const w of [...this.#waiters]) w.check();
    this.hook?.(evt);
  };

  /** The index the next event will get (use as `since`). */
  mark(): number {
    return this.events.length;
  }

  /** Event types in order, from `since`. */
  types(since = 0): EvtType[] {
    return this.events.slice(since).map((e) => e.type);
  }

  /** Events of `type` from `since`. */
  all<T extends EvtType>(type: T, since = 0): EvtOf<T>[] {
    return this.events.slice(since).filter((e): e is EvtOf<T> => e.type === type);
  }

  /**
   * The first event of `type` at index `since` or later (already recorded or yet to come) that satisfies `where`.
   * Rejects after `timeoutMs`, naming the events seen.
   */
  waitFor<T extends EvtType>(
    type: T,
    options: { since?: number; where?: (evt: EvtOf<T>) => boolean; timeoutMs?: number } = {},
  ): Promise<EvtOf<T>> {
    const since = options.since ?? 0;
    const where = options.where ?? (() => true);
    const find = (): EvtOf<T> | undefined =>
      this.events.slice(since).find((e): e is EvtOf<T> => e.type === type && where(e as EvtOf<T>));
    const found = find();
    if (found !== undefined) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const w = {
        check: (): boolean => {
          const e = find();
          if (e === undefined) return false;
          this.#waiters.delete(w);
          clearTimeout(timer);
          resolve(e);
          return true;
        },
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(w);
        reject(new Error(`no ${type} event within ${options.timeoutMs ?? 5000} ms; seen: ${this.types(since).join(', ')}`));
      }, options.timeoutMs ?? 5000);
      this.#waiters.add(w);
    });
  }
}

const live = new Set<AzureIotHub>();

/** A client with an event recorder, initialised with `config`; closed by {@link closeClients}. */
export function createClient(config: AzureIotHubConfig, options: AzureIotHubOptions = {}): { hub: AzureIotHub; rec: EventRecorder } {
  const hub = new AzureIotHub(options);
  const rec = new EventRecorder();
  hub.init(config, rec.handler);
  live.add(hub);
  return { hub, rec };
}

/** Create, connect and wait for READY (and the automatic twin's TWIN_RECEIVED unless `autoTwinRequest: false`). */
export async function connectedClient(
  config: AzureIotHubConfig,
  options: AzureIotHubOptions = {},
): Promise<{ hub: AzureIotHub; rec: EventRecorder }> {
  const c = createClient(config, options);
  await c.hub.connect();
  await c.rec.waitFor('READY');
  if (config.autoTwinRequest !== false) await c.rec.waitFor('TWIN_RECEIVED');
  return c;
}

/** Disconnect every client created with {@link createClient} that is still up (for `afterEach`). */
export async function closeClients(): Promise<void> {
  const all = [...live];
  live.clear();
  await Promise.all(
    all.map(async (hub) => {
      if (hub.state === 'CONNECTED' || hub.state === 'CONNECTING') await hub.disconnect().catch(() => undefined);
    }),
  );
}

/** Call `hub.input()` every few ms (for `autoInput: false`); returns the function that stops it. */
export function pump(hub: AzureIotHub, everyMs = 2): () => void {
  const t = setInterval(() => {
    try {
      hub.input();
    } catch {
      // input() throws only before init
    }
  }, everyMs);
  return () => clearInterval(t);
}

/** Resolve after one turn of the event loop (lets pending socket reads and writes happen). */
export function tick(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Poll `cond` once per event-loop turn until it holds; reject after `timeoutMs`. */
export async function until(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

/** Packets of `deviceId` in the emulator's log: direction, type and the fields tests assert on. */
export function packets(emu: Emulator, deviceId: string, since = 0): PacketLogEntry[] {
  return emu.packetLog(deviceId).filter((e) => e.seq > since);
}

/** The last sequence number in the emulator's log of `deviceId` (use as `since` for {@link packets}). */
export function lastSeq(emu: Emulator, deviceId: string): number {
  return emu.packetLog(deviceId).at(-1)?.seq ?? 0;
}

export const utf8 = new TextEncoder();
export const text = (b: Uint8Array | string): string => (typeof b === 'string' ? b : new TextDecoder().decode(b));
