/**
 * `AzureIotHub`: the device client. The TypeScript port of the nRF Connect SDK `azure_iot_hub` API (init, connect,
 * send, input, ping, keepaliveTimeLeft, methodRespond, disconnect, dpsReset) with its state machine and events,
 * plus promise-style helpers (getTwin, updateReported, onMethod, sendEvent).
 *
 * The only stateful piece of the Azure layer: it owns the event handler, the MQTT session, request-id correlation,
 * the method handlers, and the DPS and FOTA hooks.
 * @see https://developer.nordicsemi.com/nRF_Connect_SDK/doc/1.9.0/nrf/libraries/networking/azure_iot_hub.html
 */
import { AzureIotHubError, toAzureIotHubError } from '../errors.js';
import type { PublishPacket } from '../codec/types.js';
import { MqttSession, type MqttSessionOptions, type TransportTlsOptions } from '../transport/index.js';
import { isPacketId } from '../transport/packet-ids.js';
import { resolveConfig, type ResolvedConfig } from './config.js';
import { DpsProvisioner, hubSasKey } from './dps/provisioner.js';
import { FotaController, type FotaControllerOptions } from './fota/controller.js';
import { classifyIncoming, type Incoming } from './incoming.js';
import { routeHubTopic } from './topic-parsers.js';
import { FileOutboxStore } from './outbox/file-store.js';
import { Outbox } from './outbox/outbox.js';
import { hubClientId, hubUsername, type AzureIotHubIdentity } from './identity.js';
import {
  CATCH_ALL_METHOD,
  encodeResponsePayload,
  parseJsonPayload,
  type MethodHandler,
  type MethodResponse,
} from './methods.js';
import { PendingRequests } from './pending.js';
import { encodePropertyBag } from './property-bag.js';
import { hubSasToken, sasExpiry } from './sas.js';
import { errorCodeForStatus } from './status.js';
import {
  methodResponseTopic,
  RequestIdGenerator,
  subscribeTopics,
  telemetryTopic,
  twinGetTopic,
  twinReportedTopic,
} from './topics.js';
import { parseTwin, type Twin } from './twin.js';
import {
  AzureIotHubTopicType,
  type AzureIotHubConfig,
  type AzureIotHubData,
  type AzureIotHubDropped,
  type AzureIotHubEvt,
  type AzureIotHubEvtHandler,
  type AzureIotHubOutboxInfo,
  type AzureIotHubPropBag,
  type AzureIotHubResult,
  type OutboxFileConfig,
  type OutboxStore,
} from './types.js';
import { validatePropertyKey, validatePropertyValue, validateRequestId } from './validate.js';

/** Client states, as the C library names them. */
export type AzureIotHubState = 'IDLE' | 'INIT' | 'CONNECTING' | 'CONNECTED' | 'DISCONNECTING';

/** Largest payload Azure IoT Hub accepts from a device (256 KB). Larger ones are refused with `EMSGSIZE`. */
export const MAX_SEND_PAYLOAD_BYTES = 256 * 1024;

/** Properties for `sendEvent`: a record (a `null` value sends the bare key) or a property bag. */
export type EventProperties = Readonly<Record<string, string | null>> | readonly AzureIotHubPropBag[];

/** Options of {@link AzureIotHub.sendEvent}. */
export interface SendEventOptions {
  /** Default 1. */
  qos?: 0 | 1;
}

/** Hooks for tests and embedders; not needed by applications. */
export interface AzureIotHubOptions {
  /** Wall clock in ms (SAS expiry). Default `Date.now`. */
  now?: () => number;
  /** Random numbers in [0, 1) for reconnect jitter. Default `Math.random`. */
  random?: () => number;
  /** Extra options passed to every MQTT session (for example `pingTimeoutMs`, `connectTimeoutMs`). */
  session?: Partial<Pick<MqttSessionOptions, 'pingTimeoutMs' | 'connectTimeoutMs' | 'inFlightWindow' | 'maxQueued' | 'maxQueuedBytes'>>;
  /** FOTA tuning (download retry policy and timeouts, report retry delay), used when `config.fota` is set. */
  fota?: FotaControllerOptions;
}

/** Twin response as the pending table keeps it. */
interface TwinResponse {
  status: number;
  version?: number;
  payload: Uint8Array;
}

/** Renew a SAS token when this fraction of its lifetime has passed. */
const SAS_RENEW_AT = 0.8;
/** Method request ids answered recently, kept to refuse a second answer (EALREADY). */
const ANSWERED_METHODS_KEPT = 256;

const utf8 = new TextEncoder();

function byteLength(payload: Uint8Array | string): number {
  return typeof payload === 'string' ? utf8.encode(payload).length : payload.length;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

/**
 * An Azure IoT Hub device (or module) client.
 *
 * ```ts
 * const hub = new AzureIotHub();
 * hub.init({ deviceId: 'dev1', hostname: 'myhub.azure-devices.net', credentials: { cert, key } }, (evt) => {
 *   if (evt.type === AzureIotHubEvtType.READY) void hub.sendEvent({ temperature: 21.5 });
 * });
 * await hub.connect();
 * ```
 */
export class AzureIotHub {
  readonly #options: AzureIotHubOptions;
  #state: AzureIotHubState = 'IDLE';
  #config: ResolvedConfig | undefined;
  #handler: AzureIotHubEvtHandler | undefined;
  #session: MqttSession | undefined;
  #identity: AzureIotHubIdentity = { deviceId: '' };
  #telemetryBaseFor: AzureIotHubIdentity | undefined;
  #telemetryBaseTopic = '';
  #hubHost = '';
  #rids = new RequestIdGenerator();
  readonly #twinRequests = new PendingRequests<TwinResponse>('twin request');
  readonly #methods = new Map<string, MethodHandler>();
  readonly #answeredMethods = new Set<string>();
  #sasTimer: ReturnType<typeof setTimeout> | undefined;
  #fota: FotaController | undefined;
  #dps: DpsProvisioner | undefined;
  /** Set while DPS runs or its store is read (in connect() or the stale-hub re-provisioning): disconnect() aborts it. */
  #resolving: AbortController | undefined;
  /** The disconnect() that cancelled DPS: settled once the client is back in INIT. */
  #dpsCancel: { promise: Promise<void>; resolve: () => void } | undefined;
  /** The hub connection uses a stored DPS assignment that no CONNACK has confirmed yet (the stale-hub rule). */
  #storedHubUnconfirmed = false;
  /** The store-and-forward outbox (`config.queue.store`). */
  #outbox: Outbox | undefined;

  /** @throws AzureIotHubError `EINVAL` naming a bad option (a hook that is not a function, say). */
  constructor(options: AzureIotHubOptions = {}) {
    // Checked now: a `random` that is not a function would otherwise throw from a timer or socket handler later.
    const o: unknown = options;
    if (typeof o !== 'object' || o === null) throw new AzureIotHubError('EINVAL', 'options must be an object');
    for (const key of ['now', 'random'] as const) {
      if (options[key] !== undefined && typeof options[key] !== 'function') {
        throw new AzureIotHubError('EINVAL', `options.${key} must be a function`);
      }
    }
    for (const key of ['session', 'fota'] as const) {
      const v: unknown = options[key];
      if (v !== undefined && (typeof v !== 'object' || v === null)) throw new AzureIotHubError('EINVAL', `options.${key} must be an object`);
    }
    this.#options = options;
  }

  /** The C library's state: IDLE (not initialised), INIT, CONNECTING, CONNECTED, DISCONNECTING. */
  get state(): AzureIotHubState {
    return this.#state;
  }

  /** The hub host name in use (the configured one, or the one DPS assigned). Empty before connecting. */
  get hubHostname(): string {
    return this.#hubHost;
  }

  /** The device id in use: the configured one, or the one DPS assigned (it may differ from the registration id). */
  get deviceId(): string {
    return this.#identity.deviceId;
  }

  /**
   * The store-and-forward outbox (with `config.queue.store`; undefined otherwise): messages stored and not yet
   * acknowledged (`size`, `bytes`), and how many the store held at `init()` (`recovered`, sent at the next
   * `connect()`). A snapshot: read it again for fresh numbers.
   */
  get outbox(): AzureIotHubOutboxInfo | undefined {
    const o = this.#outbox;
    return o === undefined ? undefined : { size: o.size, bytes: o.bytes, recovered: o.recovered };
  }

  // ------------------------------------------------------------------------------------------------------------
  // The C API

  /**
   * Initialise with `config` and the event `handler`. Exactly once.
   * With `config.queue.store`, the store is opened (a file store is created when missing) and loaded here.
   * @throws AzureIotHubError `EALREADY` when initialised already; `EINVAL` for a bad config (naming the field) or a
   * missing handler; `EIO` (or `EINVAL` for a file that is not an outbox log) when the outbox store cannot be loaded.
   */
  init(config: AzureIotHubConfig, handler: AzureIotHubEvtHandler): void {
    if (this.#state !== 'IDLE') throw new AzureIotHubError('EALREADY', 'init() was called already');
    if (typeof handler !== 'function') throw new AzureIotHubError('EINVAL', 'handler must be a function');
    const cfg = resolveConfig(config);
    this.#outbox = this.#createOutbox(cfg); // may throw: before anything else changes
    this.#config = cfg;
    this.#handler = handler;
    this.#identity = cfg.moduleId === undefined ? { deviceId: cfg.deviceId } : { deviceId: cfg.deviceId, moduleId: cfg.moduleId };
    if (cfg.dps !== undefined) {
      const { now, random, session } = this.#options;
      this.#dps = new DpsProvisioner(cfg, cfg.dps, { now, random, session });
    }
    if (cfg.fota !== undefined) {
      this.#fota = new FotaController(cfg.fota, {
        report: (patch) => this.updateReported(patch),
        emit: (evt) => this.#emit(evt),
        connected: () => this.#state === 'CONNECTED',
      }, this.#options.fota);
    }
    this.#state = 'INIT';
  }

  /**
   * Connect: open TLS (or use `config.socket`), send CONNECT. Resolves when CONNECT is sent; CONNECTED (after
   * CONNACK) and READY (after SUBACK and, by default, the first twin GET) follow as events.
   *
   * With `config.dps`: a stored assignment for the configured id scope and registration id is used as it is
   * (CONNECTING, CONNECTED, READY; no DPS traffic). Otherwise the device provisions first: DPS_CONNECTING,
   * DPS_REGISTERING, DPS_DONE (the assignment is stored), then the hub's CONNECTING, CONNECTED, READY; a failure emits
   * DPS_FAILED, rejects with its coded error and leaves the client in INIT. When a stored hub refuses the device
   * (CONNACK 4 or 5) before accepting it once, the client provisions once more by itself (see the README).
   *
   * @throws AzureIotHubError `ENOENT` before init; `EINPROGRESS` while connecting or disconnecting; `EALREADY` when
   * connected; and the connection errors (`EACCES` for TLS, `ECONNREFUSED`, `ETIMEDOUT`, ...), also reported as
   * CONNECTION_FAILED; DPS failures (`ETIMEDOUT`, `EACCES`, `EIO`, `ECONNREFUSED`, ...), also reported as DPS_FAILED;
   * `ECANCELED` when `disconnect()` is called during DPS.
   */
  async connect(): Promise<void> {
    const cfg = this.#requireInit();
    switch (this.#state) {
      case 'CONNECTING':
      case 'DISCONNECTING':
        throw new AzureIotHubError('EINPROGRESS', `cannot connect while ${this.#state}`);
      case 'CONNECTED':
        throw new AzureIotHubError('EALREADY', 'connected already');
      default:
        break;
    }
    this.#state = 'CONNECTING';
    let session: MqttSession;
    try {
      // Without DPS nothing is awaited before the session exists, so a disconnect() in the same tick cancels it.
      this.#hubHost = this.#dps === undefined ? configuredHub(cfg) : await this.#resolveHub(cfg);
      session = this.#createSession(cfg);
    } catch (err) {
      throw this.#notConnected(err);
    }
    await this.#openHub(session);
  }

  /**
   * Send DISCONNECT and close. DISCONNECTED follows. Pending requests reject with `ENOTCONN`; QoS 1 messages not yet
   * acknowledged reject with `ENOTCONN` (the application decides whether to send them again), except QoS 1 telemetry
   * kept by `config.queue.store`: it stays in the outbox, its promise pending, and goes out at the next `connect()`.
   * During DPS it cancels the provisioning (DPS_FAILED with `ECANCELED`, then DISCONNECTED) and resolves once the
   * client is back in INIT.
   * @throws AzureIotHubError `ENOENT` before init, `ENOTCONN` when not connected or connecting.
   */
  async disconnect(): Promise<void> {
    this.#requireInit();
    if (this.#resolving !== undefined) return this.#cancelResolving(this.#resolving);
    const session = this.#session;
    if (session === undefined || (this.#state !== 'CONNECTED' && this.#state !== 'CONNECTING')) {
      throw new AzureIotHubError('ENOTCONN', `cannot disconnect while ${this.#state}`);
    }
    this.#state = 'DISCONNECTING';
    this.#stopSasTimer();
    this.#fota?.abort(); // the application's disconnect ends a download (resumed at the next connect); a link loss does not
    await session.disconnect();
  }

  /**
   * Send a message: telemetry (`EVENT`, with its property bag), a reported-properties patch (`TWIN_REPORTED`) or a
   * twin request (`TWIN_REQUEST`). QoS 0 resolves when written; QoS 1 when PUBACK arrives (a PUBACK event follows).
   * While the link is being re-established, messages wait in the bounded outgoing queue (`config.queue`).
   *
   * With `config.queue.store`, QoS 1 telemetry (`EVENT`, without `retain`) is stored before `send()` returns and kept
   * until its PUBACK, also across `disconnect()` and restarts; it is accepted while not connected too (it waits in
   * the outbox and goes out, oldest first, after the next `connect()`).
   *
   * @throws AzureIotHubError `ENOENT` before init; `ENOTCONN` when not connected; `EMSGSIZE` for a payload over
   * 256 KiB; `EINVAL` for a bad message (topic type, property, QoS, id); `ENOBUFS` when the queue is full (or, with
   * `overflow: 'drop-oldest'`, when this message waited and was dropped for a newer one); `EALREADY` when the given
   * `messageId` is in flight; `EIO` when the outbox store cannot store it.
   */
  async send(data: AzureIotHubData): Promise<void> {
    this.#requireInit();
    if (!isPlainObject(data) || !isPlainObject(data.topic)) throw new AzureIotHubError('EINVAL', 'data.topic is required');
    // QoS 1 telemetry goes through the outbox when there is one: it is accepted while not connected too.
    const stored = this.#outbox !== undefined && data.qos === 1 && data.retain !== true && data.topic.type === AzureIotHubTopicType.EVENT;
    const session = stored ? undefined : this.#requireSession();
    const payload = data.payload ?? '';
    if (typeof payload !== 'string' && !(payload instanceof Uint8Array)) {
      throw new AzureIotHubError('EINVAL', 'data.payload must be a string or a Uint8Array');
    }
    const size = byteLength(payload);
    if (size > MAX_SEND_PAYLOAD_BYTES) {
      throw new AzureIotHubError('EMSGSIZE', `payload is ${size} bytes; Azure IoT Hub accepts at most ${MAX_SEND_PAYLOAD_BYTES}`);
    }
    const qos = data.qos ?? 0;
    if (qos !== 0 && qos !== 1) throw new AzureIotHubError('EINVAL', 'data.qos must be 0 or 1');
    let topic: string;
    switch (data.topic.type) {
      case AzureIotHubTopicType.EVENT:
        topic = this.#telemetryBase() + encodePropertyBag(this.#checkBag(data.topic.propBag));
        break;
      case AzureIotHubTopicType.TWIN_REPORTED:
        topic = twinReportedTopic(this.#requestId(data.topic.propBag));
        break;
      case AzureIotHubTopicType.TWIN_REQUEST:
        topic = twinGetTopic(this.#requestId(data.topic.propBag));
        break;
      default:
        throw new AzureIotHubError('ENOMSG', `cannot send to topic type ${String(data.topic.type)}`);
    }
    const options: { qos: 0 | 1; retain?: boolean; messageId?: number } = { qos };
    if (data.retain === true) options.retain = true;
    if (qos === 1 && data.messageId !== undefined) options.messageId = data.messageId;
    if (session === undefined) return this.#sendStored(topic, payload, data.messageId);
    await session.publish(topic, payload, options);
  }

  /** QoS 1 telemetry through the outbox: stored now, handed to the session when there is one that takes publishes. */
  #sendStored(topic: string, payload: Uint8Array | string, messageId: number | undefined): Promise<void> {
    if (messageId !== undefined && !isPacketId(messageId)) throw new AzureIotHubError('EINVAL', 'data.messageId must be an integer 1..65535');
    const properties = topic.slice(telemetryTopic(this.#identity).length);
    const bytes = typeof payload === 'string' ? utf8.encode(payload) : payload;
    const s = this.#session;
    const live = s !== undefined && (this.#state === 'CONNECTED' || this.#state === 'CONNECTING') ? s : undefined;
    return this.#outbox!.submit(live, properties, bytes, messageId);
  }

  #createOutbox(cfg: ResolvedConfig): Outbox | undefined {
    const q = cfg.queue;
    if (q?.store === undefined) return undefined;
    const given = q.store;
    const store: OutboxStore = isOutboxStore(given)
      ? given
      : new FileOutboxStore({
          ...given,
          onWarning: (message, error) => this.#emit({ type: 'ERROR', data: { err: new AzureIotHubError('EIO', message, { cause: error }) } }),
        });
    return new Outbox(store, { maxMessages: q.maxMessages, maxBytes: q.maxBytes, overflow: q.overflow }, {
      topic: (properties) => telemetryTopic(this.#identity) + properties,
      dropped: (dropped) => this.#emitDropped(dropped),
      error: (err) => this.#emit({ type: 'ERROR', data: { err } }),
    });
  }

  /** ERROR (`ENOBUFS`) for messages `overflow: 'drop-oldest'` dropped. */
  #emitDropped(dropped: AzureIotHubDropped): void {
    const ids = dropped.messageIds.length > 0 ? ` (packet ids ${dropped.messageIds.join(', ')})` : '';
    const err = new AzureIotHubError(
      'ENOBUFS',
      `the outgoing queue is full: dropped the ${dropped.count} oldest waiting message(s), ${dropped.bytes} bytes${ids} (overflow: drop-oldest)`,
    );
    this.#emit({ type: 'ERROR', data: { err, dropped } });
  }

  /**
   * Process whatever bytes are buffered on the socket without blocking; returns the number of packets handled.
   * Needed only with `autoInput: false` (otherwise the library reads by itself). Returns 0 when not connected.
   * @throws AzureIotHubError `ENOENT` before init.
   */
  input(): number {
    this.#requireInit();
    return this.#session?.input() ?? 0;
  }

  /**
   * Send PINGREQ now. With `autoInput: false` call it when `keepaliveTimeLeft()` reaches 0. If the previous PINGREQ
   * was never answered, the link is declared dead instead (DISCONNECTED with `ETIMEDOUT`).
   * @throws AzureIotHubError `ENOENT` before init, `ENOTCONN` when not connected.
   */
  ping(): void {
    this.#requireInit();
    if (this.#session === undefined || this.#state !== 'CONNECTED') {
      throw new AzureIotHubError('ENOTCONN', `cannot ping while ${this.#state}`);
    }
    this.#session.ping();
  }

  /** Milliseconds until the next PINGREQ is due; -1 when keepalive is disabled or not connected. */
  keepaliveTimeLeft(): number {
    if (this.#session === undefined || this.#state !== 'CONNECTED') return -1;
    return this.#session.keepaliveTimeLeft();
  }

  /**
   * Answer a direct method (DIRECT_METHOD event) with a status and an optional payload (JSON).
   * @throws AzureIotHubError `ENOENT` before init; `ENOTCONN`; `EINVAL` for a bad rid or status; `EALREADY` when
   * this request was answered already.
   */
  async methodRespond(result: AzureIotHubResult): Promise<void> {
    this.#requireInit();
    if (!isPlainObject(result)) throw new AzureIotHubError('EINVAL', 'result must be { rid, status, payload? }');
    validateRequestId(result.rid, 'result.rid');
    const topic = methodResponseTopic(result.status, result.rid);
    const payload = result.payload ?? '';
    if (typeof payload !== 'string' && !(payload instanceof Uint8Array)) {
      throw new AzureIotHubError('EINVAL', 'result.payload must be a string or a Uint8Array');
    }
    if (byteLength(payload) > MAX_SEND_PAYLOAD_BYTES) {
      throw new AzureIotHubError('EMSGSIZE', `method response payload exceeds ${MAX_SEND_PAYLOAD_BYTES} bytes`);
    }
    const session = this.#requireSession();
    if (this.#answeredMethods.has(result.rid)) {
      throw new AzureIotHubError('EALREADY', `method request ${result.rid} was answered already`);
    }
    this.#rememberAnswered(result.rid);
    await session.publish(topic, payload, { qos: 0 });
  }

  /**
   * Forget the stored DPS assignment, so that the next `connect()` provisions again (`azure_iot_hub_dps_reset`). A
   * connection that is up stays up.
   * @throws AzureIotHubError `ENOENT` before init; `EINVAL` when DPS is not configured; `EINPROGRESS` while DPS runs;
   * `EIO` when the store cannot be cleared.
   */
  async dpsReset(): Promise<void> {
    this.#requireInit();
    const dps = this.#dps;
    if (dps === undefined) throw new AzureIotHubError('EINVAL', 'config.dps is not set: there is no DPS assignment to reset');
    if (this.#resolving !== undefined) throw new AzureIotHubError('EINPROGRESS', 'DPS provisioning is in progress');
    await dps.clear();
  }

  // ------------------------------------------------------------------------------------------------------------
  // Promise-style helpers

  /**
   * Get the device twin (`{ desired, reported }`, each with `$version`). Also emits TWIN_RECEIVED.
   * @throws AzureIotHubError `ENOTCONN`; `ETIMEDOUT` after `requestTimeoutMs`; a status-derived code (`status` set)
   * when the hub answers an error (429 -> `ENOBUFS`, 5xx -> `EIO`, ...).
   */
  async getTwin(): Promise<Twin> {
    const res = await this.#twinRequest((rid) => twinGetTopic(rid), '');
    if (res.status !== 200) throw statusError('twin GET', res.status);
    const twin = parseTwin(res.payload);
    if (twin instanceof AzureIotHubError) throw twin;
    return twin;
  }

  /**
   * Update reported properties with a JSON merge patch (`null` deletes a member). Resolves with the new reported
   * version. Also emits TWIN_RESULT_SUCCESS / TWIN_RESULT_FAIL.
   * @throws AzureIotHubError like {@link getTwin}; `EINVAL` when `patch` is not a JSON object.
   */
  async updateReported(patch: Record<string, unknown>): Promise<{ version: number }> {
    if (!isPlainObject(patch)) throw new AzureIotHubError('EINVAL', 'patch must be a JSON object');
    let body: string;
    try {
      body = JSON.stringify(patch);
    } catch (err) {
      throw new AzureIotHubError('EINVAL', 'patch is not JSON-serialisable', { cause: err });
    }
    const res = await this.#twinRequest((rid) => twinReportedTopic(rid), body);
    if (res.status < 200 || res.status > 299) throw statusError('reported properties update', res.status);
    if (res.version === undefined) throw new AzureIotHubError('EPROTO', 'the twin PATCH response carries no $version');
    return { version: res.version };
  }

  /**
   * Handle direct method `name` (or every method without its own handler, with `'*'`): the library answers with what
   * the handler returns; a throw answers 500. Once any handler is registered and there is no `'*'` handler, methods
   * without a handler are answered 404; before that they are emitted as DIRECT_METHOD for `methodRespond()`.
   * Pass `undefined` to remove a handler.
   */
  onMethod(name: string, handler: MethodHandler | undefined): void {
    if (typeof name !== 'string' || name.length === 0) throw new AzureIotHubError('EINVAL', 'method name must be a non-empty string');
    if (handler === undefined) {
      this.#methods.delete(name);
      return;
    }
    if (typeof handler !== 'function') throw new AzureIotHubError('EINVAL', 'handler must be a function');
    this.#methods.set(name, handler);
  }

  /**
   * Send telemetry. An object payload is sent as JSON with `$.ct=application/json` and `$.ce=utf-8` (so IoT Hub can
   * route on the body); a string or bytes go as they are. QoS 1 by default: resolves on PUBACK.
   */
  async sendEvent(payload: unknown, properties?: EventProperties, options: SendEventOptions = {}): Promise<void> {
    const opts: unknown = options ?? {};
    if (typeof opts !== 'object') throw new AzureIotHubError('EINVAL', 'options must be an object { qos? }');
    let body: Uint8Array | string;
    const bag: AzureIotHubPropBag[] = toPropBag(properties);
    if (typeof payload === 'string' || payload instanceof Uint8Array) {
      body = payload;
    } else {
      let json: string | undefined;
      try {
        json = JSON.stringify(payload);
      } catch (err) {
        throw new AzureIotHubError('EINVAL', 'payload is not JSON-serialisable', { cause: err });
      }
      // undefined, a function or a symbol: JSON has no text for them (an empty body labelled JSON would be sent).
      if (json === undefined) throw new AzureIotHubError('EINVAL', `payload is not JSON-serialisable (${typeof payload})`);
      body = json;
      if (!bag.some((p) => p.key === '$.ct')) bag.push({ key: '$.ct', value: 'application/json' });
      if (!bag.some((p) => p.key === '$.ce')) bag.push({ key: '$.ce', value: 'utf-8' });
    }
    await this.send({ topic: { type: AzureIotHubTopicType.EVENT, propBag: bag }, payload: body, qos: (opts as SendEventOptions).qos ?? 1 });
  }

  // ------------------------------------------------------------------------------------------------------------
  // Connection

  #requireInit(): ResolvedConfig {
    if (this.#config === undefined) throw new AzureIotHubError('ENOENT', 'init() has not been called');
    return this.#config;
  }

  #requireSession(): MqttSession {
    const s = this.#session;
    if (s === undefined || (this.#state !== 'CONNECTED' && this.#state !== 'CONNECTING')) {
      throw new AzureIotHubError('ENOTCONN', `not connected (${this.#state})`);
    }
    return s;
  }

  /**
   * The hub to connect to: `config.hostname` without DPS. With DPS: the stored assignment when there is one for the
   * configured id scope and registration id (no DPS traffic, as the C library), else a provisioning run (DPS_*
   * events). Either way the device id becomes the assigned one.
   */
  async #resolveHub(cfg: ResolvedConfig): Promise<string> {
    const dps = this.#dps;
    if (dps === undefined) return configuredHub(cfg);
    const resolving = new AbortController();
    this.#resolving = resolving;
    try {
      const stored = await dps.load();
      throwIfCancelled(resolving.signal);
      if (stored !== undefined) {
        this.#useDeviceId(stored.deviceId);
        this.#storedHubUnconfirmed = true;
        return stored.assignedHub;
      }
      return await this.#provisionHub(dps, resolving.signal);
    } finally {
      if (this.#resolving === resolving) this.#resolving = undefined;
    }
  }

  /** Provision with DPS (DPS_CONNECTING, DPS_REGISTERING, DPS_DONE), store the assignment, return the hub. */
  async #provisionHub(dps: DpsProvisioner, signal: AbortSignal): Promise<string> {
    this.#storedHubUnconfirmed = false;
    const result = await dps.provision((evt) => this.#emit(evt), signal);
    this.#useDeviceId(result.deviceId);
    this.#emit({ type: 'DPS_DONE', data: { dps: result } });
    try {
      await dps.save(result, (this.#options.now ?? Date.now)());
    } catch (err) {
      // Not fatal: the device connects now and provisions again at the next start.
      this.#emit({ type: 'ERROR', data: { err: toAzureIotHubError(err, 'EIO') } });
    }
    throwIfCancelled(signal);
    return result.assignedHub;
  }

  /** `devices/{id}/messages/events/` of the current identity, validated and built once per identity (not per message). */
  #telemetryBase(): string {
    const identity = this.#identity;
    if (this.#telemetryBaseFor !== identity) {
      this.#telemetryBaseTopic = telemetryTopic(identity);
      this.#telemetryBaseFor = identity;
    }
    return this.#telemetryBaseTopic;
  }

  #useDeviceId(deviceId: string): void {
    const moduleId = this.#config!.moduleId;
    this.#identity = moduleId === undefined ? { deviceId } : { deviceId, moduleId };
  }

  /**
   * connect() (or the stale-hub re-provisioning) gave up before opening the hub connection: back to INIT, then
   * DPS_FAILED when provisioning failed, and DISCONNECTED when disconnect() cancelled it. Returns the coded error.
   */
  #notConnected(err: unknown): AzureIotHubError {
    const e = toAzureIotHubError(err, 'EINVAL');
    this.#state = 'INIT';
    if (this.#dps?.isFailure(e) === true) this.#emit({ type: 'DPS_FAILED', data: { err: e } });
    const cancel = this.#dpsCancel;
    if (cancel !== undefined) {
      this.#dpsCancel = undefined;
      this.#emit({ type: 'DISCONNECTED' });
      cancel.resolve();
    }
    return e;
  }

  /** disconnect() while DPS runs: abort it; settles when the client is back in INIT (DPS_FAILED ECANCELED, DISCONNECTED). */
  #cancelResolving(resolving: AbortController): Promise<void> {
    if (this.#dpsCancel === undefined) {
      let resolve: () => void = () => undefined;
      const promise = new Promise<void>((r) => {
        resolve = r;
      });
      this.#dpsCancel = { promise, resolve };
      this.#state = 'DISCONNECTING';
      resolving.abort();
    }
    return this.#dpsCancel.promise;
  }

  /** Open the hub connection with `session`: CONNECTING, then TLS and CONNECT. */
  async #openHub(session: MqttSession): Promise<void> {
    this.#session = session;
    this.#rids = new RequestIdGenerator();
    this.#emit({ type: 'CONNECTING' });
    try {
      const connecting = session.connect();
      // Stored telemetry waiting for a connection goes into the new session's queue first, ahead of anything newer.
      this.#outbox?.restore(session);
      await connecting;
    } catch (err) {
      // The session reported CONNECTION_FAILED through its event already.
      if (this.#session === session) {
        this.#session = undefined;
        this.#state = 'INIT';
      }
      throw toAzureIotHubError(err, 'ECONNRESET');
    }
  }

  /**
   * The stale-hub rule: the hub of a stored DPS assignment refuses the device (CONNACK 4 or 5) before any CONNACK
   * accepted it. Instead of failing for ever, the assignment is cleared and DPS runs once more, then the client
   * connects to the hub DPS assigns. Events: CONNECTION_FAILED (the code), DPS_CONNECTING, DPS_REGISTERING, DPS_DONE,
   * CONNECTING, CONNECTED, READY; the state stays CONNECTING throughout. A refusal by the newly assigned hub is final
   * (CONNECTION_FAILED, back to INIT). Returns whether the rule applied.
   */
  #staleHub(session: MqttSession, err: AzureIotHubError): boolean {
    const dps = this.#dps;
    if (dps === undefined || !this.#storedHubUnconfirmed) return false;
    if (err.code !== 'ECONNREFUSED' || (err.connack !== 4 && err.connack !== 5)) return false;
    this.#storedHubUnconfirmed = false;
    this.#session = undefined;
    this.#stopSasTimer();
    if (session.state !== 'idle') session.destroy(); // a policy that retries auth failures would retry the stale hub
    const resolving = new AbortController();
    this.#resolving = resolving;
    this.#emit({ type: 'CONNECTION_FAILED', data: { err: err.connack } });
    void this.#reprovision(dps, resolving);
    return true;
  }

  async #reprovision(dps: DpsProvisioner, resolving: AbortController): Promise<void> {
    let session: MqttSession;
    try {
      try {
        await dps.clear();
      } catch (err) {
        this.#emit({ type: 'ERROR', data: { err: toAzureIotHubError(err, 'EIO') } });
      }
      throwIfCancelled(resolving.signal);
      this.#hubHost = await this.#provisionHub(dps, resolving.signal);
      session = this.#createSession(this.#config!);
    } catch (err) {
      this.#notConnected(err);
      return;
    } finally {
      if (this.#resolving === resolving) this.#resolving = undefined;
    }
    await this.#openHub(session).catch(() => undefined); // reported as CONNECTION_FAILED
  }

  #createSession(cfg: ResolvedConfig): MqttSession {
    const host = this.#hubHost;
    const tls: TransportTlsOptions = {};
    const c = cfg.credentials;
    if (c?.ca !== undefined) tls.ca = c.ca;
    if (c?.cert !== undefined) tls.cert = c.cert;
    if (c?.key !== undefined) tls.key = c.key;
    if (c?.passphrase !== undefined) tls.passphrase = c.passphrase;
    const usernameOptions = cfg.modelId === undefined ? {} : { modelId: cfg.modelId };
    const options: MqttSessionOptions = {
      ...this.#options.session,
      host,
      port: cfg.port,
      tls,
      clientId: hubClientId(this.#identity),
      username: hubUsername(host, this.#identity, usernameOptions),
      cleanSession: cfg.cleanSession,
      keepaliveSeconds: cfg.keepaliveSeconds,
      autoInput: cfg.autoInput,
      maxPayloadBytes: cfg.maxPayloadBytes,
      reconnect: cfg.reconnect === false ? false : { ...cfg.reconnect },
    };
    if (cfg.queue !== undefined) {
      options.maxQueued = cfg.queue.maxMessages;
      options.maxQueuedBytes = cfg.queue.maxBytes;
      options.queueOverflow = cfg.queue.overflow;
    }
    if (cfg.address !== undefined) options.address = cfg.address;
    if (cfg.socket !== undefined) options.socket = cfg.socket;
    if (this.#options.random !== undefined) options.random = this.#options.random;
    const sasKey = hubSasKey(cfg);
    if (sasKey !== undefined) {
      const identity = this.#identity;
      const now = this.#options.now ?? Date.now;
      options.password = () => {
        const token = hubSasToken(host, identity, sasKey, sasExpiry(now(), cfg.sasTokenTtlSeconds));
        return token;
      };
    }
    const session = new MqttSession(options);
    session.onConnect = (info) => this.#onSessionConnect(session, info.reconnect);
    session.on('connecting', (info) => {
      if (this.#session !== session || info.attempt === 0) return;
      this.#state = 'CONNECTING';
      this.#emit({ type: 'CONNECTING' });
    });
    session.on('connected', (info) => {
      if (this.#session !== session) return;
      this.#state = 'CONNECTED';
      this.#storedHubUnconfirmed = false; // the stored DPS assignment is good
      this.#startSasTimer(session);
      this.#emit({ type: 'CONNECTED', sessionPresent: info.sessionPresent });
    });
    session.on('connectionFailed', (err) => {
      if (this.#session !== session) return;
      if (this.#staleHub(session, err)) return;
      if (session.state === 'idle') this.#ended(session);
      this.#emit({ type: 'CONNECTION_FAILED', data: { err: err.connack ?? err } });
    });
    session.on('disconnected', (err) => {
      if (this.#session !== session) return;
      this.#onSessionDisconnected(session, err);
    });
    session.on('message', (packet) => {
      if (this.#session !== session) return;
      this.#onMessage(packet);
    });
    session.on('dropped', (publishes) => {
      if (this.#session !== session) return;
      const messageIds = publishes.filter((p) => p.qos === 1).map((p) => p.messageId);
      this.#emitDropped({ count: publishes.length, bytes: publishes.reduce((n, p) => n + p.payloadBytes, 0), messageIds });
    });
    session.on('puback', (messageId) => {
      if (this.#session !== session) return;
      this.#emit({ type: 'PUBACK', data: { messageId } });
    });
    session.on('oversized', (info) => {
      if (this.#session !== session) return;
      this.#onOversized(info.topic, info.error);
    });
    session.on('error', (err) => {
      if (this.#session !== session) return;
      this.#emit({ type: 'ERROR', data: { err } });
    });
    return session;
  }

  /** After every accepted CONNACK: subscribe (one SUBSCRIBE), then the twin GET, then READY. */
  #onSessionConnect(session: MqttSession, _reconnect: boolean): Promise<unknown> {
    const [devicebound, twinRes, desired, methods] = subscribeTopics(this.#identity);
    // C2D at QoS 1 (at-least-once, as Microsoft's SDKs do); the request/response topics at QoS 0 as the C library.
    const subscribed = session.subscribe([
      { topic: devicebound, qos: 1 },
      { topic: twinRes, qos: 0 },
      { topic: desired, qos: 0 },
      { topic: methods, qos: 0 },
    ]);
    subscribed.then(
      (granted) => {
        if (this.#session !== session || session.state !== 'connected') return;
        const refused = granted.findIndex((g) => g === 0x80);
        if (refused !== -1) {
          this.#emit({
            type: 'ERROR',
            data: { err: new AzureIotHubError('EACCES', `the hub refused the subscription ${String(refused + 1)} of 4`) },
          });
        }
        const cfg = this.#config!;
        if (cfg.autoTwinRequest || cfg.fota !== undefined) {
          // Internal twin GET: its response is emitted as TWIN_RECEIVED like any other.
          const rid = this.#rids.next(this.#twinRequests);
          session.publish(twinGetTopic(rid), '', { qos: 0 }).catch(() => undefined);
        }
        if (this.#session === session && session.state === 'connected') {
          this.#fota?.onReady(); // reports that waited for the link go out after the twin GET
          this.#emit({ type: 'READY' });
        }
      },
      () => undefined, // the connection ended before SUBACK: DISCONNECTED reports it
    );
    return subscribed;
  }

  #onSessionDisconnected(session: MqttSession, err: AzureIotHubError | undefined): void {
    const reconnecting = session.state === 'reconnecting';
    this.#stopSasTimer();
    this.#twinRequests.rejectAll(
      new AzureIotHubError('ENOTCONN', 'the connection ended before the response', err === undefined ? {} : { cause: err }),
    );
    this.#answeredMethods.clear();
    if (err !== undefined && (err.code === 'EPROTO' || err.code === 'EMSGSIZE')) {
      this.#emit({ type: 'ERROR', data: { err } });
    }
    if (reconnecting) this.#state = 'CONNECTING';
    else this.#ended(session);
    this.#emit(err === undefined ? { type: 'DISCONNECTED' } : { type: 'DISCONNECTED', data: { err } });
  }

  /** The session is over for good (no reconnection): back to INIT. */
  #ended(session: MqttSession): void {
    if (this.#session === session) this.#session = undefined;
    this.#stopSasTimer();
    this.#state = 'INIT';
  }

  #startSasTimer(session: MqttSession): void {
    const cfg = this.#config!;
    if (hubSasKey(cfg) === undefined) return;
    this.#stopSasTimer();
    const ms = Math.floor(cfg.sasTokenTtlSeconds * 1000 * SAS_RENEW_AT);
    const timer = setTimeout(() => {
      this.#sasTimer = undefined;
      if (this.#session !== session || session.state !== 'connected') return;
      // A fresh token needs a new CONNECT; queued and unacknowledged QoS 1 messages are kept and sent again.
      try {
        session.reconnectNow();
      } catch (err) {
        this.#emit({ type: 'ERROR', data: { err: toAzureIotHubError(err, 'EIO') } });
      }
    }, ms);
    timer.unref();
    this.#sasTimer = timer;
  }

  #stopSasTimer(): void {
    if (this.#sasTimer !== undefined) clearTimeout(this.#sasTimer);
    this.#sasTimer = undefined;
  }

  // ------------------------------------------------------------------------------------------------------------
  // Incoming

  #onMessage(packet: PublishPacket): void {
    const incoming = classifyIncoming(packet, this.#identity);
    switch (incoming.kind) {
      case 'devicebound':
      case 'unknown':
        this.#emit({ type: 'DATA_RECEIVED', data: { msg: incoming.msg }, topic: incoming.topic });
        return;
      case 'twinDesired':
        this.#fota?.onDesired(incoming.msg.payload as Uint8Array); // before the event, as C
        this.#emit({ type: 'TWIN_DESIRED_RECEIVED', data: { msg: incoming.msg }, topic: incoming.topic });
        return;
      case 'twinResponse':
        this.#onTwinResponse(incoming);
        return;
      case 'method':
        this.#onMethod(incoming);
        return;
    }
  }

  /**
   * An incoming message over `maxPayloadBytes` (not delivered; the transport acknowledged it): ERROR, and whoever waits
   * for it is told: a pending twin request rejects with the same `EMSGSIZE`, a method request is answered 413.
   */
  #onOversized(topic: string, err: AzureIotHubError): void {
    this.#emit({ type: 'ERROR', data: { err } });
    const parsed = routeHubTopic(topic, this.#identity);
    if (parsed?.kind === 'twinResponse') this.#twinRequests.reject(parsed.rid, err);
    else if (parsed?.kind === 'methodRequest') {
      void this.#answerMethod(parsed.rid, { status: 413, payload: { error: 'the request is larger than the device accepts' } });
    }
  }

  #onTwinResponse(incoming: Extract<Incoming, { kind: 'twinResponse' }>): void {
    const { status, rid } = incoming;
    const payload = incoming.msg.payload as Uint8Array;
    const response: TwinResponse = { status, payload };
    if (incoming.version !== undefined) response.version = incoming.version;
    if (status === 200) {
      this.#fota?.onTwin(payload); // before the event, as C
      this.#emit({ type: 'TWIN_RECEIVED', data: { msg: incoming.msg }, topic: incoming.topic });
    } else {
      const result: AzureIotHubResult = { rid, status, payload };
      const type = status >= 200 && status <= 299 ? 'TWIN_RESULT_SUCCESS' : 'TWIN_RESULT_FAIL';
      this.#emit({ type, data: { result }, topic: incoming.topic });
    }
    this.#twinRequests.resolve(rid, response);
  }

  #onMethod(incoming: Extract<Incoming, { kind: 'method' }>): void {
    const { method } = incoming;
    const handler = this.#methods.get(method.name) ?? this.#methods.get(CATCH_ALL_METHOD);
    if (handler === undefined) {
      if (this.#methods.size > 0) {
        void this.#answerMethod(method.rid, { status: 404, payload: { error: `method ${method.name} is not implemented` } });
        return;
      }
      this.#emit({ type: 'DIRECT_METHOD', data: { method }, topic: incoming.topic });
      return;
    }
    const session = this.#session;
    let result: MethodResponse | Promise<MethodResponse>;
    try {
      result = handler({ name: method.name, rid: method.rid, payload: method.payload, body: parseJsonPayload(method.payload) });
    } catch (err) {
      void this.#answerMethod(method.rid, handlerFailure(err));
      return;
    }
    Promise.resolve(result).then(
      (res) => {
        if (this.#session !== session) return; // the connection that carried the request is gone
        if (!isPlainObject(res) || !Number.isInteger(res.status) || res.status < -0x80000000 || res.status > 0x7fffffff) {
          void this.#answerMethod(method.rid, { status: 500, payload: { error: 'the method handler returned no valid { status } (a 32-bit integer)' } });
          return;
        }
        void this.#answerMethod(method.rid, res);
      },
      (err: unknown) => {
        if (this.#session !== session) return;
        void this.#answerMethod(method.rid, handlerFailure(err));
      },
    );
  }

  async #answerMethod(rid: string, res: MethodResponse): Promise<void> {
    let status = res.status;
    let payload: Uint8Array | string;
    try {
      payload = encodeResponsePayload(res.payload);
    } catch (err) {
      // A payload JSON cannot carry (BigInt, a cycle): answer 500 rather than leave the caller to time out.
      status = 500;
      payload = JSON.stringify({ error: `the method response is not JSON-serialisable: ${errorText(err)}` });
    }
    try {
      await this.methodRespond({ rid, status, payload });
    } catch (err) {
      this.#emit({ type: 'ERROR', data: { err: toAzureIotHubError(err, 'EIO', `could not answer method request ${rid}`) } });
    }
  }

  #rememberAnswered(rid: string): void {
    this.#answeredMethods.add(rid);
    if (this.#answeredMethods.size > ANSWERED_METHODS_KEPT) {
      const oldest = this.#answeredMethods.values().next().value;
      if (oldest !== undefined) this.#answeredMethods.delete(oldest);
    }
  }

  // ------------------------------------------------------------------------------------------------------------
  // Helpers

  async #twinRequest(topicFor: (rid: string) => string, body: string): Promise<TwinResponse> {
    this.#requireInit();
    const session = this.#session;
    if (session === undefined || this.#state !== 'CONNECTED') {
      throw new AzureIotHubError('ENOTCONN', `not connected (${this.#state})`);
    }
    if (byteLength(body) > MAX_SEND_PAYLOAD_BYTES) {
      throw new AzureIotHubError('EMSGSIZE', `payload exceeds ${MAX_SEND_PAYLOAD_BYTES} bytes`);
    }
    const rid = this.#rids.next(this.#twinRequests);
    const response = this.#twinRequests.add(rid, this.#config!.requestTimeoutMs);
    session.publish(topicFor(rid), body, { qos: 0 }).catch((err: unknown) => {
      this.#twinRequests.reject(rid, toAzureIotHubError(err, 'ENOTCONN'));
    });
    return response;
  }

  /** `$rid` for a twin message sent with `send()`: the caller's (`$rid` in the property bag) or a new one. */
  #requestId(bag: readonly AzureIotHubPropBag[] | undefined): string {
    const given = bag?.find((p) => p.key === '$rid');
    // A number (say) would otherwise be replaced silently by a generated id the caller does not know.
    if (given !== undefined && given.value !== null && given.value !== undefined) validateRequestId(given.value, 'propBag $rid');
    if (given !== undefined && typeof given.value === 'string') {
      validateRequestId(given.value, 'propBag $rid');
      // The response would settle the library's own request with that id.
      if (this.#twinRequests.has(given.value)) {
        throw new AzureIotHubError('EALREADY', `request id ${given.value} is in use by a pending twin request`);
      }
      return given.value;
    }
    return this.#rids.next(this.#twinRequests);
  }

  #checkBag(bag: readonly AzureIotHubPropBag[] | undefined): AzureIotHubPropBag[] | undefined {
    if (bag === undefined) return undefined;
    if (!Array.isArray(bag)) throw new AzureIotHubError('EINVAL', 'topic.propBag must be an array');
    bag.forEach((p: unknown, i) => {
      if (!isPlainObject(p)) throw new AzureIotHubError('EINVAL', `propBag[${i}] must be { key, value? }`);
      validatePropertyKey(p['key'], `propBag[${i}].key`);
      validatePropertyValue(p['value'], `propBag[${i}].value`);
    });
    return bag;
  }

  /** Call the application's handler; a throw is reported as an ERROR event and never breaks the library. */
  #emit(evt: AzureIotHubEvt): void {
    const handler = this.#handler;
    if (handler === undefined) return;
    try {
      handler(evt);
    } catch (err) {
      // A throw while handling ERROR itself is dropped: reporting it would only loop.
      if (evt.type === 'ERROR') return;
      this.#emit({
        type: 'ERROR',
        data: { err: toAzureIotHubError(err, 'EIO', `the event handler threw on ${evt.type}: ${errorText(err)}`) },
      });
    }
  }
}

function throwIfCancelled(signal: AbortSignal): void {
  if (signal.aborted) throw new AzureIotHubError('ECANCELED', 'disconnect() was called while connecting');
}

function configuredHub(cfg: ResolvedConfig): string {
  if (cfg.hostname === undefined) throw new AzureIotHubError('EINVAL', 'config.hostname is required');
  return cfg.hostname;
}

function isOutboxStore(store: OutboxStore | OutboxFileConfig): store is OutboxStore {
  return typeof (store as Partial<OutboxStore>).load === 'function';
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function handlerFailure(err: unknown): MethodResponse {
  return { status: 500, payload: { error: errorText(err) } };
}

function statusError(what: string, status: number): AzureIotHubError {
  return new AzureIotHubError(errorCodeForStatus(status), `${what} failed with status ${status}`, { status });
}

function toPropBag(properties: EventProperties | undefined): AzureIotHubPropBag[] {
  if (properties === undefined) return [];
  if (Array.isArray(properties)) return [...(properties as readonly AzureIotHubPropBag[])];
  if (!isPlainObject(properties)) throw new AzureIotHubError('EINVAL', 'properties must be an object or a property bag');
  // Object.keys and one loop: on the telemetry hot path, Object.entries().map() allocated an array per property.
  const record = properties as Record<string, string | null>;
  const keys = Object.keys(record);
  const bag: AzureIotHubPropBag[] = [];
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    bag.push({ key, value: record[key] as string | null });
  }
  return bag;
}
