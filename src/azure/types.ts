/**
 * Public types of the Azure layer: the TypeScript form of the nRF Connect SDK `azure_iot_hub.h` API
 * (events, topic types, property bags, data, methods, results) and the configuration (its Kconfig options).
 */
import type { Duplex } from 'node:stream';
import type { AzureIotHubError } from '../errors.js';

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

export interface AzureIotHubDpsResult {
  assignedHub: string;
  deviceId: string;
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
  | { type: 'ERROR'; data: { err: AzureIotHubError } };

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

/** Where DPS stores the assignment so the next start goes straight to the hub. */
export interface DpsStore {
  load(): Promise<AzureIotHubDpsResult | undefined>;
  save(result: AzureIotHubDpsResult): Promise<void>;
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
  /** Assignment store. Default: a JSON file; see the README. */
  store?: DpsStore;
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

export interface AzureIotHubFotaConfig {
  /** The running firmware version, reported as `currentFwVersion`. */
  currentVersion: string;
  /** Where the image goes. */
  storage: FirmwareSlot;
  /** CA certificate(s) for the firmware server (the C library's FOTA security tag). Default: Node's root CAs. */
  ca?: string | string[];
  /** Honour `fwLocation.protocol: "http:"` (plain HTTP). Default false. */
  allowHttp?: boolean;
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
}
