/**
 * `startEmulator`: a local Azure IoT Hub (MQTT over TLS), Device Provisioning Service and HTTPS firmware server on
 * loopback, with a service-side API for tests, demos and CI: register devices, read telemetry, invoke direct
 * methods, send cloud-to-device messages, update desired properties, enroll devices in DPS, publish firmware, and
 * inject faults.
 *
 * @see https://learn.microsoft.com/azure/iot-hub/iot-hub-mqtt-support
 * @see https://learn.microsoft.com/azure/iot-dps/iot-dps-mqtt-support
 */
import { EventEmitter } from 'node:events';
import { AzureIotHubError } from '../errors.js';
import { generateSymmetricKey, type DeviceAuth } from './auth.js';
import {
  createC2dMessage,
  DEFAULT_C2D_MAX_DELIVERY_COUNT,
  DEFAULT_C2D_QUEUE_LIMIT,
  type C2dMessage,
  type C2dOptions,
} from './c2d.js';
import {
  createCa,
  createDeviceCertificate,
  createServerCertificate,
  type CertificateAndKey,
  type CertificateOptions,
} from './certs.js';
import {
  DpsService,
  type DpsRegistrationRecord,
  type Enrollment,
  type EnrollmentGroup,
  type EnrollmentGroupOptions,
  type EnrollmentOptions,
} from './dps.js';
import { createFaultControls, FaultState, type EmulatorFaults } from './faults.js';
import { FirmwareServer, type PublishedFirmware } from './firmware-server.js';
import { HubService, MAX_MESSAGE_BYTES } from './hub.js';
import { DEFAULT_METHOD_TIMEOUT_MS, MethodInvocations, type InvokeMethodOptions, type MethodResult } from './methods.js';
import { MqttListener } from './mqtt-server.js';
import { DEFAULT_PACKET_LOG_LIMIT, PacketLog, type PacketLogEntry } from './packet-log.js';
import { Registry, type DeviceState } from './registry.js';
import { DEFAULT_TELEMETRY_LIMIT, TelemetryStore } from './telemetry-store.js';
import { isJsonObject, type JsonObject, type TwinDocument } from './twin.js';
import type {
  ConnectEvent,
  EmulatorEventMap,
  RegisterDeviceOptions,
  RegisteredDevice,
  TelemetryMessage,
} from './types.js';

/** Default hub host name. */
export const DEFAULT_HUB_HOST = 'emulator.azure-devices.net';
/** Default DPS host name (Azure's global endpoint). */
export const DEFAULT_DPS_HOST = 'global.azure-devices-provisioning.net';
/** Default DPS id scope. */
export const DEFAULT_ID_SCOPE = '0ne00000001';

/**
 * IoT Hub device ids (`+` and `#`, also allowed by IoT Hub, cannot appear in MQTT topics and are refused).
 * @see https://learn.microsoft.com/azure/iot-hub/iot-hub-devguide-identity-registry#device-identity-properties
 */
export const DEVICE_ID_RE = /^[A-Za-z0-9\-.%_*?!(),:=@$']{1,128}$/;

/** Options of {@link startEmulator}. Every field is optional. */
export interface EmulatorOptions {
  /** Hub host names served on the one hub listener; the first is the default (default `[DEFAULT_HUB_HOST]`). */
  hubs?: string[];
  /** DPS host name (default `global.azure-devices-provisioning.net`). */
  dpsHost?: string;
  /** DPS id scope (default `0ne00000001`). */
  idScope?: string;
  /** Bind address of every listener (default `127.0.0.1`). */
  host?: string;
  /** Hub port (default 0: a free port). */
  port?: number;
  /** DPS port (default 0: a free port). */
  dpsPort?: number;
  /** Firmware server port (default 0). */
  firmwarePort?: number;
  /**
   * Root CA used to mint the server certificate and device certificates, and trusted for device certificates.
   * Minted (EC P-256, with `openssl`) when absent. Without `key`, nothing can be minted from it.
   */
  ca?: { cert: string; key?: string; chain?: string };
  /**
   * TLS server certificate (PEM, with its chain) and key. Minted from `ca` when absent, with SANs for every hub, the
   * DPS host, `localhost`, `127.0.0.1` and `::1`.
   */
  serverCertificate?: { cert: string; key: string };
  /** More CA certificates (PEM) trusted for device certificates ("verified" CAs of the hub and DPS). */
  trustedCas?: string[];
  /** Run the firmware server (default true); `{ plainHttp: true }` serves HTTP instead of HTTPS. */
  firmware?: boolean | { plainHttp?: boolean };
  /** DPS `retry-after`, seconds (default 3, as DPS commonly answers; 0 makes tests fast). */
  dpsRetryAfterSeconds?: number;
  /** Parameter order of DPS 202 answers (default `rid-first`: `?$rid=..&retry-after=..`). */
  dpsTopicOrder?: 'rid-first' | 'retry-after-first';
  /** Redeliver an unacknowledged C2D message on the same connection after this many ms (default 60 000; 0: only
   * on reconnect). */
  c2dRedeliveryMs?: number;
  /** Dead-letter a C2D message after this many deliveries (default 10, IoT Hub's default). */
  c2dMaxDeliveryCount?: number;
  /** Per-device C2D queue limit (default 50, IoT Hub's). */
  c2dQueueLimit?: number;
  /** Telemetry messages kept (default 10 000). */
  telemetryLimit?: number;
  /** Packet log entries kept per client (default 10 000). 0 turns the log and `packet` events off (load tests). */
  packetLogLimit?: number;
  /** Close connections that send no CONNECT within this time, ms (default 30 000). */
  connectTimeoutMs?: number;
  /** Clock (ms since the epoch) for SAS expiry and certificate validity (default `Date.now`). */
  now?: () => number;
}

/** Where the hub listens. */
export interface HubEndpoint {
  /** The default hub host name (use it as SNI and in the username). */
  host: string;
  /** Every hub host name served. */
  hosts: readonly string[];
  /** The address to connect to. */
  address: string;
  port: number;
}

/** Where DPS listens. */
export interface DpsEndpoint {
  host: string;
  address: string;
  port: number;
  idScope: string;
}

/** Where the firmware server listens. */
export interface FirmwareEndpoint {
  host: string;
  port: number;
  protocol: 'https:' | 'http:';
  /** `https://127.0.0.1:<port>`. */
  origin: string;
}

/** A device's connection and session, as the hub sees them. */
export interface DeviceStatus {
  deviceId: string;
  hub: string;
  connected: boolean;
  /** Subscribed filters and granted QoS (persistent sessions keep them while disconnected). */
  subscriptions: Record<string, number>;
  /** Whether IoT Hub holds a persistent session (CleanSession=0). */
  persistentSession: boolean;
  /** Server-side keepalive deadline of the current connection, ms (1.5 x the capped keepalive). */
  keepaliveTimeoutMs: number | undefined;
  /** Cloud-to-device messages waiting or in flight. */
  c2dPending: number;
  /** What the current connection sent in its CONNECT (auth, api-version, model-id, keepalive, ...). */
  connection: ConnectEvent | undefined;
}

/** Options of {@link Emulator.updateDesired} and {@link Emulator.getTwin}. */
export interface TwinOptions {
  hub?: string;
}

/**
 * A running emulator. Create it with {@link startEmulator}; `close()` ends every socket and timer.
 * Emits the events of {@link EmulatorEventMap}.
 */
export class Emulator extends EventEmitter<EmulatorEventMap> {
  readonly hub: HubEndpoint;
  readonly dps: DpsEndpoint;
  readonly firmware: FirmwareEndpoint | undefined;
  /** The root CA (its key too when minted or given). */
  readonly ca: { cert: string; key?: string; chain: string };
  readonly serverCertificate: { cert: string; key: string };
  readonly faults: EmulatorFaults;

  readonly #registry: Registry;
  readonly #hubService: HubService;
  readonly #dpsService: DpsService;
  readonly #hubListener: MqttListener;
  readonly #dpsListener: MqttListener;
  readonly #firmwareServer: FirmwareServer | undefined;
  readonly #methods: MethodInvocations;
  readonly #telemetry: TelemetryStore;
  readonly #log: PacketLog;
  readonly #trustCa: (pem: string) => void;
  readonly #c2dQueueLimit: number;
  readonly #waiters = new Set<() => void>();
  #closed = false;

  /** @internal Use {@link startEmulator}. */
  constructor(parts: {
    registry: Registry;
    hubService: HubService;
    dpsService: DpsService;
    hubListener: MqttListener;
    dpsListener: MqttListener;
    firmwareServer: FirmwareServer | undefined;
    methods: MethodInvocations;
    telemetry: TelemetryStore;
    log: PacketLog;
    faultState: FaultState;
    trustCa: (pem: string) => void;
    ca: { cert: string; key?: string; chain: string };
    serverCertificate: { cert: string; key: string };
    dpsHost: string;
    idScope: string;
    c2dQueueLimit: number;
  }) {
    super();
    this.#registry = parts.registry;
    this.#hubService = parts.hubService;
    this.#dpsService = parts.dpsService;
    this.#hubListener = parts.hubListener;
    this.#dpsListener = parts.dpsListener;
    this.#firmwareServer = parts.firmwareServer;
    this.#methods = parts.methods;
    this.#telemetry = parts.telemetry;
    this.#log = parts.log;
    this.#trustCa = parts.trustCa;
    this.#c2dQueueLimit = parts.c2dQueueLimit;
    this.ca = parts.ca;
    this.serverCertificate = parts.serverCertificate;
    this.hub = {
      host: parts.registry.defaultHub,
      hosts: parts.registry.hubs,
      address: parts.hubListener.host,
      port: parts.hubListener.port,
    };
    this.dps = { host: parts.dpsHost, address: parts.dpsListener.host, port: parts.dpsListener.port, idScope: parts.idScope };
    const fw = parts.firmwareServer;
    this.firmware = fw === undefined ? undefined
      : { host: fw.host, port: fw.port, protocol: fw.protocol, origin: fw.origin };
    this.faults = createFaultControls(parts.faultState, {
      drop: (deviceId) => this.#registry.named(deviceId).some((d) => this.#hubService.drop(d, 'dropped by fault injection')),
      sendRaw: (deviceId, bytes) => {
        const conns = this.#registry.named(deviceId).flatMap((d) => (d.connection === undefined ? [] : [d.connection]));
        for (const c of conns) c.sendRaw(bytes);
        return conns.length > 0;
      },
      refresh: (deviceId) => {
        this.#hubService.refreshFaults(deviceId);
        const f = parts.faultState.devices.get(deviceId);
        for (const c of this.#dpsListener.connections) {
          if (c.clientId === deviceId && c.accepted) {
            c.delayMs = f?.delayMs ?? 0;
            c.suppress = f?.stopAnswering === true;
          }
        }
      },
      firmware: fw?.faults,
    });
  }

  // -------------------------------------------------------------------------------------------------------------
  // Identities

  /**
   * Register a device on a hub (default auth `x509-ca`; SAS keys are generated when absent). Registering an existing
   * device replaces its authentication and keeps its twin and queue.
   */
  registerDevice(options: RegisterDeviceOptions): RegisteredDevice {
    this.#open();
    if (typeof options.deviceId !== 'string' || !DEVICE_ID_RE.test(options.deviceId)) {
      throw new AzureIotHubError('EINVAL',
        "deviceId: 1 to 128 ASCII letters, digits and - . % _ * ? ! ( ) , : = @ $ ' (IoT Hub's device id rules)");
    }
    const hub = this.#registry.hub(options.hub);
    let auth: DeviceAuth = options.auth ?? { type: 'x509-ca' };
    if (auth.type === 'sas') auth = { ...auth, primaryKey: auth.primaryKey ?? generateSymmetricKey() };
    this.#registry.upsert(hub, options.deviceId, auth);
    return this.#describe(hub, options.deviceId, auth);
  }

  #describe(hub: string, deviceId: string, auth: DeviceAuth): RegisteredDevice {
    const gateway = `GatewayHostName=${this.hub.address}:${this.hub.port}`;
    const out: RegisteredDevice = {
      deviceId,
      hub,
      auth,
      connectionString: auth.type === 'sas'
        ? `HostName=${hub};DeviceId=${deviceId};SharedAccessKey=${auth.primaryKey ?? ''};${gateway}`
        : `HostName=${hub};DeviceId=${deviceId};x509=true;${gateway}`,
    };
    if (auth.type === 'sas') {
      if (auth.primaryKey !== undefined) out.primaryKey = auth.primaryKey;
      if (auth.secondaryKey !== undefined) out.secondaryKey = auth.secondaryKey;
    }
    return out;
  }

  /** Delete a device (its connection is closed, its twin and queue are lost). Returns false when unknown. */
  removeDevice(deviceId: string, hub?: string): boolean {
    const h = this.#registry.hub(hub);
    const d = this.#registry.remove(h, deviceId);
    if (d === undefined) return false;
    d.connection?.close('device deleted');
    return true;
  }

  /** The registered device (SAS keys, connection string), or undefined. */
  getDevice(deviceId: string, hub?: string): RegisteredDevice | undefined {
    const d = this.#registry.get(this.#registry.hub(hub), deviceId);
    return d === undefined ? undefined : this.#describe(d.hub, d.deviceId, d.auth);
  }

  /** Connection and session state of a device. */
  deviceStatus(deviceId: string, hub?: string): DeviceStatus {
    const d = this.#registry.find(deviceId, hub);
    return {
      deviceId: d.deviceId,
      hub: d.hub,
      connected: d.connection !== undefined,
      subscriptions: Object.fromEntries(d.session?.subscriptions ?? []),
      persistentSession: d.session?.persistent === true,
      keepaliveTimeoutMs: d.connection?.keepaliveTimeoutMs,
      c2dPending: d.c2d.size,
      connection: this.#hubService.connectionInfo(d),
    };
  }

  /** Whether the device has a live connection. */
  isConnected(deviceId: string, hub?: string): boolean {
    return this.#registry.named(deviceId).some((d) => d.connection !== undefined && (hub === undefined ||
      d.hub === this.#registry.hub(hub)));
  }

  /**
   * Mint a device certificate (CN = `deviceId`) signed by the emulator's CA, for `x509-ca` devices and X.509 DPS
   * enrollments. Needs the CA key (minted CAs have one). Uses the `openssl` command.
   */
  createDeviceCredentials(deviceId: string, options: CertificateOptions = {}): Promise<CertificateAndKey> {
    const { key } = this.ca;
    if (key === undefined) {
      return Promise.reject(new AzureIotHubError('EINVAL', 'createDeviceCredentials: the emulator CA has no key'));
    }
    return createDeviceCertificate({ cert: this.ca.cert, key, chain: this.ca.chain }, deviceId, options);
  }

  /**
   * Trust another CA for device certificates on the hub and DPS (a "verified" CA in Azure terms), for new
   * connections.
   */
  trustCa(pem: string): void {
    this.#trustCa(pem);
  }

  // -------------------------------------------------------------------------------------------------------------
  // Telemetry

  /** Stored telemetry of `deviceId` (or every device), oldest first. */
  telemetry(deviceId?: string): TelemetryMessage[] {
    return this.#telemetry.list(deviceId);
  }

  /** Forget stored telemetry of `deviceId` (or all). */
  clearTelemetry(deviceId?: string): void {
    this.#telemetry.clear(deviceId);
  }

  /**
   * Resolve with the first `count` stored messages of `deviceId` (every device when undefined) once that many are
   * stored (those already stored count; `clearTelemetry` starts afresh). Rejects with `ETIMEDOUT` after `timeoutMs`
   * (default 5000).
   */
  waitForTelemetry(deviceId: string | undefined, count = 1, timeoutMs = 5000): Promise<TelemetryMessage[]> {
    return this.#telemetry.waitFor(deviceId, count, timeoutMs);
  }

  /**
   * Resolve with the next `event` whose argument satisfies `predicate`. Rejects with `ETIMEDOUT` after `timeoutMs`
   * (default 5000) and with `ECANCELED` when the emulator closes. Register it before causing the event.
   */
  waitFor<K extends keyof EmulatorEventMap>(
    event: K,
    predicate: (arg: EmulatorEventMap[K][0]) => boolean = () => true,
    timeoutMs = 5000,
  ): Promise<EmulatorEventMap[K][0]> {
    return new Promise((resolve, reject) => {
      const listener = ((arg: EmulatorEventMap[K][0]) => {
        if (!predicate(arg)) return;
        done();
        resolve(arg);
      }) as never;
      const cancel = (): void => {
        done();
        reject(new AzureIotHubError('ECANCELED', `waitFor(${event}): the emulator was closed`));
      };
      const timer = setTimeout(() => {
        done();
        reject(new AzureIotHubError('ETIMEDOUT', `waitFor(${event}): nothing after ${timeoutMs} ms`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        this.off(event, listener);
        this.#waiters.delete(cancel);
      };
      this.#waiters.add(cancel);
      this.on(event, listener);
    });
  }

  // -------------------------------------------------------------------------------------------------------------
  // Service operations

  /**
   * Invoke a direct method. `payload` is JSON-serialized (a `Uint8Array` is sent as is). Resolves with the
   * device's `{status, payload}`; 404 when the device is not connected or not subscribed to methods; 504 when it does
   * not answer within `timeoutMs` (default 30 000). Rejects with `ENOENT` for an unknown device.
   */
  async invokeMethod(deviceId: string, name: string, payload: unknown = null, options: InvokeMethodOptions = {}):
    Promise<MethodResult> {
    this.#open();
    if (name.length === 0 || /[/#+?]/.test(name)) {
      throw new AzureIotHubError('EINVAL', 'invokeMethod: the method name must not be empty or contain / # + ?');
    }
    const device = this.#registry.find(deviceId, options.hub);
    const bytes = payload instanceof Uint8Array ? payload : new TextEncoder().encode(JSON.stringify(payload));
    return this.#hubService.invokeMethod(device, name, bytes, options.timeoutMs ?? DEFAULT_METHOD_TIMEOUT_MS);
  }

  /**
   * Queue a cloud-to-device message (a string is UTF-8 encoded). It is delivered at once when the device is connected
   * and subscribed, otherwise when it subscribes (a persistent session keeps the subscription). Throws `ENOBUFS` when
   * the device's queue is full.
   */
  sendC2D(deviceId: string, payload: Uint8Array | string, options: C2dOptions = {}): { messageId: string } {
    this.#open();
    const device = this.#registry.find(deviceId, options.hub);
    const bytes = typeof payload === 'string' ? new TextEncoder().encode(payload) : payload;
    const message = createC2dMessage(device.deviceId, bytes, options, Date.now());
    this.#hubService.enqueueC2d(device, message, this.#c2dQueueLimit);
    return { messageId: message.messageId };
  }

  /** Cloud-to-device messages waiting or in flight for the device (copies). */
  c2dQueue(deviceId: string, hub?: string): C2dMessage[] {
    return this.#registry.find(deviceId, hub).c2d.all().map((m) => ({ ...m, bag: [...m.bag] }));
  }

  /** Apply a desired-properties patch (null deletes) and push it to the device if connected and subscribed. */
  updateDesired(deviceId: string, patch: JsonObject, options: TwinOptions = {}): TwinDocument {
    this.#open();
    if (!isJsonObject(patch)) throw new AzureIotHubError('EINVAL', 'updateDesired: patch must be a JSON object');
    const device = this.#registry.find(deviceId, options.hub);
    const body = device.twin.patchDesired(patch);
    this.#hubService.pushDesired(device, body, body.$version);
    return device.twin.document();
  }

  /** The device's twin: `{desired, reported}` with their `$version`s (a copy). */
  getTwin(deviceId: string, options: TwinOptions = {}): TwinDocument {
    return this.#registry.find(deviceId, options.hub).twin.document();
  }

  // -------------------------------------------------------------------------------------------------------------
  // DPS

  /** Add (or replace) an individual enrollment. SAS keys are generated when absent. */
  addEnrollment(options: EnrollmentOptions): Enrollment {
    this.#open();
    return this.#dpsService.addEnrollment(options);
  }

  /** Add (or replace) an enrollment group. An `x509-ca` group's CA becomes trusted. */
  addEnrollmentGroup(options: EnrollmentGroupOptions): EnrollmentGroup {
    this.#open();
    return this.#dpsService.addEnrollmentGroup(options);
  }

  /** Remove an individual enrollment or a group. */
  removeEnrollment(id: string): boolean {
    return this.#dpsService.enrollments.delete(id) || this.#dpsService.groups.delete(id);
  }

  /** Registrations that reached a final state, oldest first. */
  dpsRegistrations(): DpsRegistrationRecord[] {
    return [...this.#dpsService.registrations];
  }

  // -------------------------------------------------------------------------------------------------------------
  // Firmware

  /** Serve `image` at `path` on the firmware server. Returns the path, size, SHA-256 and the full URL. */
  publishFirmware(path: string, image: Uint8Array): PublishedFirmware & { url: string; host: string } {
    this.#open();
    const fw = this.#firmwareServer;
    if (fw === undefined) throw new AzureIotHubError('ENOENT', 'publishFirmware: the emulator runs without a firmware server');
    const published = fw.publish(path, image);
    return { ...published, url: `${fw.origin}${published.path}`, host: fw.hostWithPort };
  }

  /** The firmware server itself (its request log and faults), when running. */
  get firmwareServer(): FirmwareServer | undefined {
    return this.#firmwareServer;
  }

  // -------------------------------------------------------------------------------------------------------------
  // Observability

  /** Every packet received from and sent to `clientId` (device id or registration id), in order. */
  packetLog(clientId: string): PacketLogEntry[] {
    return this.#log.get(clientId);
  }

  /** Forget the packet log of `clientId` (or of everyone). */
  clearPacketLog(clientId?: string): void {
    this.#log.clear(clientId);
  }

  // -------------------------------------------------------------------------------------------------------------

  #open(): void {
    if (this.#closed) throw new AzureIotHubError('ENOTCONN', 'the emulator is closed');
  }

  /** Stop every listener, close every connection, settle pending method calls (504) and waiters, clear timers. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#methods.cancelAll();
    this.#telemetry.cancelAll();
    for (const cancel of [...this.#waiters]) cancel();
    await Promise.all([this.#hubListener.close(), this.#dpsListener.close(), this.#firmwareServer?.close()]);
  }

  /** @internal For the CLI and tests: every registered device. */
  devices(): DeviceState[] {
    return this.#registry.all();
  }
}

function checkCount(name: string, v: number | undefined, min: number): void {
  if (v !== undefined && !(Number.isFinite(v) && v >= min)) throw new AzureIotHubError('EINVAL', `${name}: a number >= ${min}`);
}

/**
 * Start the emulator: mint (or take) the CA and server certificate, listen for the hub, DPS and firmware server on
 * free loopback ports. Devices connect to `hub.address:hub.port` with SNI and username host `hub.host`; Microsoft's
 * SDK can use `HostName=localhost:<port>` or `127.0.0.1:<port>` (aliases of the default hub) or the connection
 * strings `registerDevice` returns (`GatewayHostName`).
 */
export async function startEmulator(options: EmulatorOptions = {}): Promise<Emulator> {
  const hubs = options.hubs ?? [DEFAULT_HUB_HOST];
  const dpsHost = options.dpsHost ?? DEFAULT_DPS_HOST;
  const idScope = options.idScope ?? DEFAULT_ID_SCOPE;
  checkCount('dpsRetryAfterSeconds', options.dpsRetryAfterSeconds, 0);
  checkCount('c2dRedeliveryMs', options.c2dRedeliveryMs, 0);
  checkCount('c2dMaxDeliveryCount', options.c2dMaxDeliveryCount, 1);
  checkCount('c2dQueueLimit', options.c2dQueueLimit, 1);
  if (new Set(hubs.map((h) => h.toLowerCase())).size !== hubs.length) {
    throw new AzureIotHubError('EINVAL', 'hubs: duplicate host names');
  }
  const registry = new Registry(hubs);
  const now = options.now ?? Date.now;

  let ca: { cert: string; key?: string; chain: string };
  if (options.ca !== undefined) {
    ca = { cert: options.ca.cert, chain: options.ca.chain ?? options.ca.cert };
    if (options.ca.key !== undefined) ca.key = options.ca.key;
  } else {
    ca = await createCa('Azure IoT Hub emulator root CA');
  }
  let serverCertificate = options.serverCertificate;
  if (serverCertificate === undefined) {
    if (ca.key === undefined) {
      throw new AzureIotHubError('EINVAL', 'serverCertificate: required when the CA has no key to mint one');
    }
    const minted = await createServerCertificate({ cert: ca.cert, key: ca.key, chain: ca.chain }, hubs[0]!, {
      dnsNames: [...hubs, dpsHost, 'localhost'],
      ipAddresses: ['127.0.0.1', '::1'],
    });
    serverCertificate = { cert: minted.chain, key: minted.key };
  }
  const trusted = [ca.cert, ...(options.trustedCas ?? [])];

  const emitter: { emulator?: Emulator } = {};
  const emit = <K extends keyof EmulatorEventMap>(name: K, ...args: EmulatorEventMap[K]): void => {
    const target = emitter.emulator;
    if (target === undefined) return;
    try {
      (target.emit as (n: K, ...a: EmulatorEventMap[K]) => boolean).call(target, name, ...args);
    } catch (err) {
      // A throwing listener (a failed expect() in a test) must not break the connection being served: report it
      // as an uncaught exception instead.
      queueMicrotask(() => {
        throw err;
      });
    }
  };
  const faultState = new FaultState();
  const methods = new MethodInvocations();
  const telemetry = new TelemetryStore(options.telemetryLimit ?? DEFAULT_TELEMETRY_LIMIT);
  const log = new PacketLog(options.packetLogLimit ?? DEFAULT_PACKET_LOG_LIMIT);
  const hubService = new HubService({
    registry,
    faults: faultState,
    methods,
    telemetry,
    emit,
    now,
    c2dRedeliveryMs: options.c2dRedeliveryMs ?? 60_000,
    c2dMaxDeliveryCount: options.c2dMaxDeliveryCount ?? DEFAULT_C2D_MAX_DELIVERY_COUNT,
  });
  const listeners: { hub?: MqttListener; dps?: MqttListener } = {};
  const trustCa = (pem: string): void => {
    if (trusted.includes(pem)) return;
    trusted.push(pem);
    listeners.hub?.setTrustedCas(trusted);
    listeners.dps?.setTrustedCas(trusted);
  };
  const dpsService = new DpsService({
    idScope,
    host: dpsHost,
    registry,
    faults: faultState,
    emit,
    now,
    retryAfterSeconds: options.dpsRetryAfterSeconds ?? 3,
    topicOrder: options.dpsTopicOrder ?? 'rid-first',
    trustCa,
  });
  const common = {
    cert: serverCertificate.cert,
    key: serverCertificate.key,
    ca: trusted,
    log,
    onLog: (entry: PacketLogEntry) => emit('packet', entry),
    // Largest PUBLISH IoT Hub accepts plus room for a long topic: anything larger closes the connection.
    maxPacketSize: MAX_MESSAGE_BYTES + 65_536 + 16,
    connectTimeoutMs: options.connectTimeoutMs ?? 30_000,
  };
  const bind = options.host ?? '127.0.0.1';
  let firmwareServer: FirmwareServer | undefined;
  try {
    listeners.hub = await MqttListener.start({ ...common, service: 'hub', host: bind, port: options.port ?? 0,
      handler: hubService });
    listeners.dps = await MqttListener.start({ ...common, service: 'dps', host: bind, port: options.dpsPort ?? 0,
      handler: dpsService });
    if (options.firmware !== false) {
      const plainHttp = typeof options.firmware === 'object' && options.firmware.plainHttp === true;
      firmwareServer = await FirmwareServer.start({ cert: serverCertificate.cert, key: serverCertificate.key, plainHttp,
        host: bind, port: options.firmwarePort ?? 0 });
    }
  } catch (err) {
    await Promise.all([listeners.hub?.close(), listeners.dps?.close(), firmwareServer?.close()]);
    throw err;
  }
  const hubPort = listeners.hub.port;
  // Microsoft's SDK can only name a host (port 8883 implied), so `HostName=localhost:<port>` must reach the default hub.
  for (const alias of [`localhost:${hubPort}`, `127.0.0.1:${hubPort}`, `[::1]:${hubPort}`, 'localhost', '127.0.0.1']) {
    registry.addAlias(alias, registry.defaultHub);
  }
  const emulator = new Emulator({
    registry,
    hubService,
    dpsService,
    hubListener: listeners.hub,
    dpsListener: listeners.dps,
    firmwareServer,
    methods,
    telemetry,
    log,
    faultState,
    trustCa,
    ca,
    serverCertificate,
    dpsHost,
    idScope,
    c2dQueueLimit: options.c2dQueueLimit ?? DEFAULT_C2D_QUEUE_LIMIT,
  });
  emitter.emulator = emulator;
  return emulator;
}
