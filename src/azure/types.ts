/**
 * Public types of the Azure layer: the TypeScript form of the nRF Connect SDK `azure_iot_hub.h` API
 * (events, topic types, property bags, data, methods, results) and the configuration (its Kconfig options).
 */
import type { Duplex } from 'node:stream';
import type { AzureIotHubError } from '../errors.js';
import type { FotaIgnoreReason } from './fota/state.js';

/**
 * Event types, in the C library's order (`enum azure_iot_hub_evt_type`). Values equal their keys.
 * @see https://developer.nordicsemi.com/nRF_Connect_SDK/doc/1.9.0/nrf/libraries/networking/azure_iot_hub.html
 */
export const AzureIotHubEvtType = Object.freeze({
  CONNECTING: 'CONNECTING',
  CONNECTED: 'CONNECTED',
  CONNECTION_FAILED: 'CONNECTION_FAILED',
  READY: 'READY',
  DISCONNECTED: 'DISCONNECTED',
  DATA_RECEIVED: 'DATA_RECEIVED',
  PUBACK: 'PUBACK',
  TWIN_RECEIVED: 'TWIN_RECEIVED',
  TWIN_DESIRED_RECEIVED: 'TWIN_DESIRED_RECEIVED',
  TWIN_RESULT_SUCCESS: 'TWIN_RESULT_SUCCESS',
  TWIN_RESULT_FAIL: 'TWIN_RESULT_FAIL',
  DPS_CONNECTING: 'DPS_CONNECTING',
  DPS_REGISTERING: 'DPS_REGISTERING',
  DPS_DONE: 'DPS_DONE',
  DPS_FAILED: 'DPS_FAILED',
  DIRECT_METHOD: 'DIRECT_METHOD',
  FOTA_START: 'FOTA_START',
  FOTA_DONE: 'FOTA_DONE',
  FOTA_ERASE_PENDING: 'FOTA_ERASE_PENDING',
  FOTA_ERASE_DONE: 'FOTA_ERASE_DONE',
  FOTA_ERROR: 'FOTA_ERROR',
  ERROR: 'ERROR',
} as const);
export type AzureIotHubEvtType = (typeof AzureIotHubEvtType)[keyof typeof AzureIotHubEvtType];

/** Topic types (`enum azure_iot_hub_topic_type`). Values equal their keys. */
export const AzureIotHubTopicType = Object.freeze({
  DEVICEBOUND: 'DEVICEBOUND',
  EVENT: 'EVENT',
  TWIN_DESIRED: 'TWIN_DESIRED',
  TWIN_REPORTED: 'TWIN_REPORTED',
  TWIN_REQUEST: 'TWIN_REQUEST',
} as const);
export type AzureIotHubTopicType = (typeof AzureIotHubTopicType)[keyof typeof AzureIotHubTopicType];

/**
 * One property of a property bag. `value`: a string gives `key=value`, `''` gives `key=`, `null`/absent gives `key`.
 * Keys and values are plain text: the library URL-encodes them on the way out and decodes them on the way in.
 */
export interface AzureIotHubPropBag {
  key: string;
  value?: string | null;
}

export interface AzureIotHubTopicData {
  type: AzureIotHubTopicType;
  /** The full MQTT topic, for received messages. */
  str?: string;
  propBag?: AzureIotHubPropBag[];
}

/** A message: telemetry to send, or a C2D message / twin document received. */
export interface AzureIotHubData {
  topic: AzureIotHubTopicData;
  /** Received payloads are always `Uint8Array`s that stay valid after the handler returns. */
  payload: Uint8Array | string;
  qos?: 0 | 1;
  /** MQTT packet identifier for QoS 1 (allocated by the library when absent). */
  messageId?: number;
  dup?: boolean;
  retain?: boolean;
}

/** A direct method request. Answer it with `methodRespond({ rid, status, payload })`. */
export interface AzureIotHubMethod {
  name: string;
  rid: string;
  payload: Uint8Array;
}

/** A twin request result, or a method response to send. */
export interface AzureIotHubResult {
  rid: string;
  status: number;
  payload?: Uint8Array | string;
}

/** What DPS assigned (the DPS_DONE event). */
export interface AzureIotHubDpsResult {
  /** The IoT Hub host name the device is assigned to. */
  assignedHub: string;
  /** The device id on that hub (it may differ from the registration id): the hub connection uses it. */
  deviceId: string;
  /** The custom allocation payload DPS returned (`registrationState.payload`), when any. Not stored. */
  payload?: unknown;
}

export interface AzureIotHubFotaInfo {
  jobId?: string;
  version?: string;
  error?: AzureIotHubError;
  /** Download progress in percent (0..100), on progress notifications. */
  progress?: number;
}

/** An event: a discriminated union on `type`. */
export type AzureIotHubEvt =
  | { type: 'CONNECTING' }
  | { type: 'CONNECTED'; sessionPresent?: boolean }
  | { type: 'CONNECTION_FAILED'; data: { err: number | AzureIotHubError } }
  | { type: 'READY' }
  | { type: 'DISCONNECTED'; data?: { err?: AzureIotHubError } }
  | { type: 'DATA_RECEIVED'; data: { msg: AzureIotHubData }; topic: AzureIotHubTopicData }
  | { type: 'PUBACK'; data: { messageId: number } }
  | { type: 'TWIN_RECEIVED'; data: { msg: AzureIotHubData }; topic: AzureIotHubTopicData }
  | { type: 'TWIN_DESIRED_RECEIVED'; data: { msg: AzureIotHubData }; topic: AzureIotHubTopicData }
  | { type: 'TWIN_RESULT_SUCCESS'; data: { result: AzureIotHubResult }; topic?: AzureIotHubTopicData }
  | { type: 'TWIN_RESULT_FAIL'; data: { result: AzureIotHubResult }; topic?: AzureIotHubTopicData }
  | { type: 'DPS_CONNECTING' }
  | { type: 'DPS_REGISTERING' }
  | { type: 'DPS_DONE'; data: { dps: AzureIotHubDpsResult } }
  | { type: 'DPS_FAILED'; data: { err: AzureIotHubError } }
  | { type: 'DIRECT_METHOD'; data: { method: AzureIotHubMethod }; topic?: AzureIotHubTopicData }
  | { type: 'FOTA_START'; data: { fota: AzureIotHubFotaInfo } }
  | { type: 'FOTA_DONE'; data: { fota: AzureIotHubFotaInfo } }
  | { type: 'FOTA_ERASE_PENDING'; data: { fota: AzureIotHubFotaInfo } }
  | { type: 'FOTA_ERASE_DONE'; data: { fota: AzureIotHubFotaInfo } }
  | { type: 'FOTA_ERROR'; data: { fota: AzureIotHubFotaInfo } }
  | { type: 'ERROR'; data: { err: AzureIotHubError; dropped?: AzureIotHubDropped } };

/**
 * Messages dropped from the full outgoing queue by `queue.overflow: 'drop-oldest'`: the ERROR event (`err.code`
 * `ENOBUFS`) carries it as `data.dropped`, once per send that dropped something. Each dropped message's `send()`
 * promise (if it has one: not for messages recovered from a store) rejects with `ENOBUFS` too.
 */
export interface AzureIotHubDropped {
  /** Messages dropped. */
  count: number;
  /** Their payload bytes. */
  bytes: number;
  /**
   * MQTT packet ids of the dropped QoS 1 messages that had one (a message is given one when it is handed to a
   * connection; those waiting in the outbox while not connected have none yet).
   */
  messageIds: number[];
}

export type AzureIotHubEvtHandler = (evt: AzureIotHubEvt) => void;

/** TLS credentials in PEM: the contents of the C library's modem security tag. */
export interface AzureIotHubCredentials {
  /** CA certificate(s) that sign the server certificate. Default: Node's bundled root CAs. */
  ca?: string | string[];
  /** Client certificate (with its chain) for X.509 authentication. */
  cert?: string;
  /** Private key of `cert`. */
  key?: string;
  passphrase?: string;
}

/**
 * Reconnect policy: capped exponential backoff with full jitter.
 * delay(attempt) = random() * min(maxDelayMs, initialDelayMs * factor ** attempt).
 */
export interface ReconnectPolicy {
  /** Default 1000. */
  initialDelayMs?: number;
  /** Default 60000. */
  maxDelayMs?: number;
  /** Default 2. */
  factor?: number;
  /** Give up after this many consecutive failed attempts (default: never). */
  maxAttempts?: number;
  /** Retry after CONNACK 4/5 or a TLS authentication failure (default false: such errors end reconnection). */
  retryOnAuthFailure?: boolean;
}

/**
 * A DPS assignment as it is stored: the hub and device id DPS assigned, and the id scope and registration id it was
 * assigned for (a stored assignment whose id scope or registration id differ from the config is ignored).
 */
export interface DpsAssignment {
  idScope: string;
  registrationId: string;
  assignedHub: string;
  deviceId: string;
  /** When DPS assigned it (ISO 8601), for people reading the file. */
  assignedAt?: string;
}

/**
 * Where DPS stores the assignment so the next start goes straight to the hub (the C library keeps it in Zephyr
 * settings). Default: a JSON file (`FileDpsStore`); `MemoryDpsStore` for tests. `load` resolves `undefined` when
 * there is no usable assignment; a rejection of `load` counts as "none" (the device provisions again).
 */
export interface DpsStore {
  load(): Promise<DpsAssignment | undefined>;
  save(assignment: DpsAssignment): Promise<void>;
  clear(): Promise<void>;
}

export interface AzureIotHubDpsConfig {
  idScope: string;
  /** Default `global.azure-devices-provisioning.net`. */
  hostname?: string;
  /** Connect here instead of resolving `hostname` (which stays the TLS SNI and the username's host). */
  address?: string;
  /** Default: the config's `port` (8883). */
  port?: number;
  /** Default: `deviceId`. */
  registrationId?: string;
  /** Custom JSON sent as `payload` in the registration request. */
  payload?: unknown;
  /** Assignment store. Default: a `FileDpsStore` at `storePath`. */
  store?: DpsStore;
  /**
   * Path of the default store's JSON file (not with `store`). Default `.azure-iot-hub/dps-{registrationId}.json`
   * under the working directory at `init()` (a `:` in the id is written `%3A`).
   */
  storePath?: string;
  /** Symmetric key for DPS SAS (individual enrollment key, or a group key with `groupKey: true`). */
  symmetricKey?: string;
  /** `symmetricKey` is an enrollment group key: derive the device key with HMAC-SHA256(registrationId). */
  groupKey?: boolean;
  /** Overall provisioning timeout in ms (default 90000). */
  timeoutMs?: number;
}

/**
 * Firmware slot: where FOTA writes the image. The default implementation writes a file.
 */
export interface FirmwareSlot {
  /**
   * Erase the slot before a new image (emits FOTA_ERASE_PENDING / FOTA_ERASE_DONE). `imageId` names the image about
   * to be written; a slot that implements {@link FirmwareSlot.imageId} keeps it with the partial image.
   */
  erase(imageId?: string): Promise<void>;
  /**
   * Optional: the `imageId` given to the last `erase`, kept with the partial image (the file slot stores it in a
   * sidecar), so a download interrupted by a restart resumes only into the same image. Without it, a resumed
   * download trusts the caller.
   */
  imageId?(): Promise<string | undefined>;
  /** Write `data` at byte `offset` of the image. */
  write(offset: number, data: Uint8Array): Promise<void>;
  /** Bytes written so far that are contiguous from 0 (used to resume). */
  size(): Promise<number>;
  /** Read back `length` bytes at `offset`, for verification. */
  read(offset: number, length: number): Promise<Uint8Array>;
  /** The image is complete and verified: make it the pending one. */
  finalize(info: { version: string; size: number; sha256: string }): Promise<void>;
}

/** A FOTA download progress notification ({@link AzureIotHubFotaConfig.onProgress}). */
export interface AzureIotHubFotaProgress {
  /** The job's `jobId`, when it has one. */
  jobId?: string;
  /** The job's `fwVersion`. */
  version: string;
  /** 0..100, rounded down; grows with every notification and ends at 100. */
  percent: number;
  /** Bytes in the slot. */
  bytes: number;
  /** Image size in bytes. */
  total: number;
}

/**
 * A FOTA debug message, published on the `node:diagnostics_channel` channel `azure-iot-hub:fota` and passed to
 * {@link AzureIotHubFotaConfig.onDebug}. Never carries a SAS token: URLs are redacted (no query string).
 */
export type AzureIotHubFotaDebug =
  /** A twin document started nothing (`busy`: a download is running and the document was not acted on). */
  | { event: 'ignored'; reason: FotaIgnoreReason; jobId?: string; version?: string; error?: AzureIotHubError }
  /** A download starts (`resume`: it continues the bytes already in the slot when they belong to this image). */
  | { event: 'start'; jobId?: string; version: string; url: string; resume: boolean }
  /** Download progress (as `onProgress`). */
  | { event: 'progress'; jobId?: string; version: string; percent: number; bytes: number; total: number }
  /** The image is complete and verified (FOTA_DONE follows). */
  | { event: 'done'; jobId?: string; version: string; size: number; sha256: string; resumedFrom: number }
  /** The download failed (FOTA_ERROR follows) or was cancelled by `disconnect()` (`error.code` `ECANCELED`). */
  | { event: 'failed'; jobId?: string; version: string; error: AzureIotHubError }
  /**
   * A reported `firmware` patch: `queued` (waits for the link), `sent` (the hub answered 2xx), `retry` (failed, kept
   * for the next attempt), `dropped` (the hub refused it for good, e.g. 400).
   */
  | { event: 'report'; phase: 'queued' | 'sent' | 'retry' | 'dropped'; status: string; error?: AzureIotHubError };

/**
 * FOTA (`azure_fota`) settings. Setting `fota` turns the feature on: the client reads `desired.firmware` from the
 * full twin (at every READY) and from desired PATCHes, downloads the image into `storage`, reports
 * `reported.firmware` and emits the FOTA_* events.
 * @see https://developer.nordicsemi.com/nRF_Connect_SDK/doc/1.9.0/nrf/libraries/networking/azure_fota.html
 */
export interface AzureIotHubFotaConfig {
  /** The running firmware version, reported as `currentFwVersion` (`AZURE_FOTA_APP_VERSION`). */
  currentVersion: string;
  /** Where the image goes. */
  storage: FirmwareSlot;
  /** CA certificate(s) for the firmware server (the C library's FOTA security tag). Default: Node's root CAs. */
  ca?: string | string[];
  /** Honour `fwLocation.protocol: "http:"` (plain HTTP). Default false. */
  allowHttp?: boolean;
  /**
   * Resume a download interrupted by a restart or by `disconnect()` when the twin still reports that job as
   * `downloading` (same `jobId` and `pendingFwVersion`): continue from the bytes the slot holds (only when the slot's
   * image id matches) instead of reporting `error`. Default true. The C library reports `error` (set false for that).
   */
  resumeInterrupted?: boolean;
  /** Download progress, throttled: at most once per `progressIntervalMs`, only when the percentage grows, and 100. */
  onProgress?: (progress: AzureIotHubFotaProgress) => void;
  /** Minimum interval between progress notifications, in ms (default 250). */
  progressIntervalMs?: number;
  /** Debug messages (also on the diagnostics channel `azure-iot-hub:fota`). Exceptions it throws are ignored. */
  onDebug?: (message: AzureIotHubFotaDebug) => void;
}

/** A telemetry message kept by an {@link OutboxStore}. */
export interface OutboxMessage {
  /** Given by the store's `append`: a positive safe integer, increasing in append order. */
  id: number;
  /** The encoded property bag: what follows `messages/events/` in the telemetry topic (`''` when there is none). */
  properties: string;
  payload: Uint8Array;
}

/**
 * Where the outbox keeps QoS 1 telemetry until the hub acknowledges it (`queue.store`). `FileOutboxStore` keeps it
 * in an append-only file across restarts; `MemoryOutboxStore` keeps it across disconnections only.
 *
 * Synchronous on purpose: `send()` stores a message before it returns, so a message `send()` accepted is in the
 * store even if the process dies the next instant, and stored messages keep the order of the `send()` calls without
 * any locking. A method that throws makes the operation fail: `append` fails that `send()` (`EIO`), `ack` is reported
 * as an ERROR event (the message may then be sent again after a restart: at least once).
 */
export interface OutboxStore {
  /** The messages stored and not acknowledged, oldest first. Called once, by `init()`. */
  load(): OutboxMessage[];
  /** Store a message; return its id. */
  append(properties: string, payload: Uint8Array): number;
  /** The message with this id was acknowledged by the hub (or dropped): never return it from `load` again. */
  ack(id: number): void;
  /** Release the store's resources (the client never calls it). */
  close?(): void;
}

/**
 * When the file store forces its writes to the disk (`fsync`). Every record is written to the file (the operating
 * system's cache) before `send()` returns, so it survives a crash of the process in any case; the policy decides
 * what a crash of the operating system or a power cut can take: `always` fsyncs each message before `send()`
 * returns (nothing accepted is lost; slowest), `batch` at most every `fsyncIntervalMs` (default; the last interval
 * can be lost), `never` leaves it to the operating system.
 */
export type OutboxFsyncPolicy = 'always' | 'batch' | 'never';

/** The file store by path: the client opens a `FileOutboxStore` with these options at `init()`. */
export interface OutboxFileConfig {
  /** The log file (created with its folder when missing). One client per file. */
  path: string;
  /** Default `batch`. */
  fsync?: OutboxFsyncPolicy;
  /** With `fsync: 'batch'`: the longest time a record waits for its fsync, in ms (default 1000). */
  fsyncIntervalMs?: number;
}

/**
 * The outgoing queue: its bounds, what happens when it is full, and the optional store-and-forward outbox.
 *
 * Without `store`, the bounds apply to messages waiting to be sent (queued while the link is being re-established or
 * the in-flight window is full); messages in flight (sent, awaiting PUBACK, at most 32) are held besides. With
 * `store`, QoS 1 telemetry (`EVENT`) is also kept in the store until its PUBACK: it survives `disconnect()`, a final
 * connection failure and (with a file store) a restart, and is sent again, oldest first and ahead of newer messages,
 * at the next `connect()`; while not connected, `send()` accepts such messages into the store (counted against the
 * same bounds) instead of failing with `ENOTCONN`.
 */
export interface AzureIotHubQueueConfig {
  /** Messages waiting to be sent at most (default 8192; 0..32768). */
  maxMessages?: number;
  /** Payload bytes of the messages waiting to be sent at most (default 32 MiB). */
  maxBytes?: number;
  /**
   * When a message does not fit: `reject` (default) fails its `send()` with `ENOBUFS`; `drop-oldest` drops the oldest
   * waiting messages (never one in flight) until it fits: their promises reject with `ENOBUFS` and an ERROR event
   * (`ENOBUFS`, `data.dropped`) says how many. Nothing is ever dropped silently.
   */
  overflow?: 'reject' | 'drop-oldest';
  /** Keep QoS 1 telemetry until acknowledged: a store, or a file store by path. Default: none. */
  store?: OutboxStore | OutboxFileConfig;
}

/** `hub.outbox`: the store-and-forward outbox at a glance (when `queue.store` is configured). */
export interface AzureIotHubOutboxInfo {
  /** Telemetry messages stored and not acknowledged yet (waiting, queued or in flight). */
  size: number;
  /** Their payload bytes. */
  bytes: number;
  /** Messages the store held at `init()` (from an earlier run): they are sent at the next `connect()`. */
  recovered: number;
}

/** Configuration: the C library's Kconfig options as fields. See the README's config table. */
export interface AzureIotHubConfig {
  /** Device ID: the MQTT client ID and (by default) the DPS registration ID. */
  deviceId: string;
  /** Module ID, for a module identity (client ID `device/module`). */
  moduleId?: string;
  /** IoT Hub host name (`AZURE_IOT_HUB_HOSTNAME`). Required without DPS. */
  hostname?: string;
  /** Default 8883 (`AZURE_IOT_HUB_PORT`). */
  port?: number;
  /** Connect here instead of resolving `hostname` (`AZURE_IOT_HUB_STATIC_IPV4_ADDR`). */
  address?: string;
  credentials?: AzureIotHubCredentials;
  /** Device symmetric key (base64) for SAS authentication. */
  sasKey?: string;
  /** SAS token lifetime in seconds (default 3600); renewed before expiry by reconnecting. */
  sasTokenTtlSeconds?: number;
  dps?: AzureIotHubDpsConfig;
  /** Default 60; at most 1177 (Azure's documented maximum). 0 disables keepalive. */
  keepaliveSeconds?: number;
  /** Default false (persistent session, as Microsoft recommends). */
  cleanSession?: boolean;
  /** Default true: the library reads the socket and pings by itself. */
  autoInput?: boolean;
  /** Default true: a twin GET after every SUBACK (`AZURE_IOT_HUB_AUTO_DEVICE_TWIN_REQUEST`). */
  autoTwinRequest?: boolean;
  /** Largest incoming payload in bytes (default 256 KiB; `AZURE_IOT_HUB_MQTT_PAYLOAD_BUFFER_LEN`). */
  maxPayloadBytes?: number;
  /** Reconnect policy, or false to reconnect only when the application calls `connect()` (the C behaviour). */
  reconnect?: ReconnectPolicy | false;
  fota?: AzureIotHubFotaConfig;
  /** An already connected stream to use instead of opening a TLS socket (the C config's `socket`). */
  socket?: Duplex;
  /** IoT Plug and Play model ID (DTMI), sent in the username. */
  modelId?: string;
  /** Timeout for twin, method-response and other requests in ms (default 30000). */
  requestTimeoutMs?: number;
  /** Outgoing queue bounds, overflow policy and the store-and-forward outbox (see {@link AzureIotHubQueueConfig}). */
  queue?: AzureIotHubQueueConfig;
}
