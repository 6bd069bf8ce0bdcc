/**
 * The emulator's identity registry: its hubs (several logical IoT Hub host names on one listener, plus loopback
 * aliases), and the devices registered on each with their authentication, twin, cloud-to-device queue and MQTT
 * session.
 */
import type { QoS } from '../codec/index.js';
import { AzureIotHubError } from '../errors.js';
import type { DeviceAuth } from './auth.js';
import { C2dQueue } from './c2d.js';
import type { MqttConnection } from './mqtt-server.js';
import { Twin } from './twin.js';

/** The MQTT session IoT Hub keeps for a device. */
export interface HubSession {
  /** CleanSession=0: kept after the connection ends. */
  persistent: boolean;
  /** Subscribed filter -> granted QoS. */
  subscriptions: Map<string, QoS>;
}

/** A registered device and its state on one hub. */
export interface DeviceState {
  deviceId: string;
  hub: string;
  auth: DeviceAuth;
  twin: Twin;
  c2d: C2dQueue;
  session: HubSession | undefined;
  connection: MqttConnection | undefined;
  nextPacketId: number;
}

/** Hubs and their devices. */
export class Registry {
  /** Hub host names, the first one is the default. */
  readonly hubs: readonly string[];
  readonly #aliases = new Map<string, string>();
  readonly #devices = new Map<string, Map<string, DeviceState>>();

  constructor(hubs: readonly string[]) {
    if (hubs.length === 0) throw new AzureIotHubError('EINVAL', 'hubs: at least one hub host name is needed');
    this.hubs = hubs;
    for (const h of hubs) {
      this.#aliases.set(h.toLowerCase(), h);
      this.#devices.set(h, new Map());
    }
  }

  /** The default hub. */
  get defaultHub(): string {
    return this.hubs[0]!;
  }

  /** Make `alias` (e.g. `localhost:51234`) name `hub`. */
  addAlias(alias: string, hub: string): void {
    this.#aliases.set(alias.toLowerCase(), hub);
  }

  /** The hub a host name (or alias) designates; host names are case-insensitive. */
  resolveHost(host: string): string | undefined {
    return this.#aliases.get(host.toLowerCase());
  }

  /** The hub named `hub`, checked. */
  hub(hub: string | undefined): string {
    if (hub === undefined) return this.defaultHub;
    const h = this.resolveHost(hub);
    if (h === undefined) throw new AzureIotHubError('EINVAL', `hub: unknown hub ${hub} (hubs: ${this.hubs.join(', ')})`);
    return h;
  }

  get(hub: string, deviceId: string): DeviceState | undefined {
    return this.#devices.get(hub)?.get(deviceId);
  }

  /** Register a device, or replace the authentication of an existing one (its state is kept). */
  upsert(hub: string, deviceId: string, auth: DeviceAuth): DeviceState {
    const devices = this.#devices.get(hub)!;
    const existing = devices.get(deviceId);
    if (existing !== undefined) {
      existing.auth = auth;
      return existing;
    }
    const state: DeviceState = {
      deviceId,
      hub,
      auth,
      twin: new Twin(),
      c2d: new C2dQueue(),
      session: undefined,
      connection: undefined,
      nextPacketId: 1,
    };
    devices.set(deviceId, state);
    return state;
  }

  remove(hub: string, deviceId: string): DeviceState | undefined {
    const devices = this.#devices.get(hub)!;
    const d = devices.get(deviceId);
    devices.delete(deviceId);
    return d;
  }

  /** Every registration of `deviceId` (one per hub it is registered on). */
  named(deviceId: string): DeviceState[] {
    const out: DeviceState[] = [];
    for (const devices of this.#devices.values()) {
      const d = devices.get(deviceId);
      if (d !== undefined) out.push(d);
    }
    return out;
  }

  /**
   * The device a service call designates: on `hub` when given; otherwise its only registration, or the one that is
   * connected. Throws `ENOENT` when not registered, `EINVAL` when ambiguous.
   */
  find(deviceId: string, hub?: string): DeviceState {
    if (hub !== undefined) {
      const d = this.get(this.hub(hub), deviceId);
      if (d === undefined) throw new AzureIotHubError('ENOENT', `device ${deviceId} is not registered on ${hub}`);
      return d;
    }
    const all = this.named(deviceId);
    if (all.length === 1) return all[0]!;
    if (all.length === 0) throw new AzureIotHubError('ENOENT', `device ${deviceId} is not registered`);
    const connected = all.filter((d) => d.connection !== undefined);
    if (connected.length === 1) return connected[0]!;
    throw new AzureIotHubError('EINVAL', `device ${deviceId} is registered on several hubs: pass \`hub\``);
  }

  /** All devices of all hubs. */
  all(): DeviceState[] {
    const out: DeviceState[] = [];
    for (const devices of this.#devices.values()) out.push(...devices.values());
    return out;
  }
}
