/**
 * Configuration validation: `AzureIotHubConfig` (the C library's Kconfig options as fields) in, a complete
 * `ResolvedConfig` with every default applied out. A bad field throws `AzureIotHubError` `EINVAL` naming it.
 */
import { AzureIotHubError } from '../errors.js';
import { validateSymmetricKey } from './sas.js';
import {
  validateDeviceId,
  validateHostname,
  validateIdScope,
  validateModelId,
  validateModuleId,
  validateRegistrationId,
} from './validate.js';
import type {
  AzureIotHubConfig,
  AzureIotHubCredentials,
  AzureIotHubDpsConfig,
  AzureIotHubQueueConfig,
  OutboxFileConfig,
  OutboxStore,
  ReconnectPolicy,
} from './types.js';
import { DEFAULT_MAX_QUEUED, DEFAULT_MAX_QUEUED_BYTES } from '../transport/outgoing.js';

/** Azure's largest client keepalive: the hub closes idle links after 1.5 x keepalive, capped at 1767 s. */
export const MAX_KEEPALIVE_SECONDS = 1177;
/** Azure's largest message (256 KB). */
export const DEFAULT_MAX_PAYLOAD_BYTES = 256 * 1024;
export const DEFAULT_PORT = 8883;
export const DEFAULT_KEEPALIVE_SECONDS = 60;
export const DEFAULT_SAS_TTL_SECONDS = 3600;
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
export const DEFAULT_DPS_HOSTNAME = 'global.azure-devices-provisioning.net';
export const DEFAULT_DPS_TIMEOUT_MS = 90_000;

/** The default reconnect policy: 1 s doubling to 60 s, full jitter, forever; no blind retry on auth failure. */
export const DEFAULT_RECONNECT: Required<Omit<ReconnectPolicy, 'maxAttempts'>> & { maxAttempts: number } = {
  initialDelayMs: 1000,
  maxDelayMs: 60_000,
  factor: 2,
  maxAttempts: Infinity,
  retryOnAuthFailure: false,
};

export interface ResolvedDpsConfig extends AzureIotHubDpsConfig {
  hostname: string;
  port: number;
  registrationId: string;
  timeoutMs: number;
}

/** Largest `queue.maxMessages`: queued and in-flight QoS 1 messages need packet ids (65535), with room to spare. */
export const MAX_QUEUE_MESSAGES = 32_768;

/** `queue` with its defaults applied. */
export interface ResolvedQueueConfig extends AzureIotHubQueueConfig {
  maxMessages: number;
  maxBytes: number;
  overflow: 'reject' | 'drop-oldest';
  store?: OutboxStore | OutboxFileConfig;
}

export interface ResolvedConfig extends AzureIotHubConfig {
  port: number;
  keepaliveSeconds: number;
  cleanSession: boolean;
  autoInput: boolean;
  autoTwinRequest: boolean;
  maxPayloadBytes: number;
  reconnect: (Required<Omit<ReconnectPolicy, 'maxAttempts'>> & { maxAttempts: number }) | false;
  sasTokenTtlSeconds: number;
  requestTimeoutMs: number;
  dps?: ResolvedDpsConfig;
  /** Present when `config.queue` is set. */
  queue?: ResolvedQueueConfig;
}

function invalid(field: string, why: string): never {
  throw new AzureIotHubError('EINVAL', `${field === '' ? 'config' : `config.${field}`} ${why}`);
}

const CONFIG_KEYS = new Set([
  'deviceId', 'moduleId', 'hostname', 'port', 'address', 'credentials', 'sasKey', 'sasTokenTtlSeconds', 'dps',
  'keepaliveSeconds', 'cleanSession', 'autoInput', 'autoTwinRequest', 'maxPayloadBytes', 'reconnect', 'fota', 'socket',
  'modelId', 'requestTimeoutMs', 'queue',
]);
const DPS_KEYS = new Set([
  'idScope', 'hostname', 'address', 'port', 'registrationId', 'payload', 'store', 'storePath', 'symmetricKey', 'groupKey',
  'timeoutMs',
]);
const FOTA_KEYS = new Set([
  'currentVersion', 'storage', 'ca', 'allowHttp', 'resumeInterrupted', 'onProgress', 'progressIntervalMs', 'onDebug',
]);
const CREDENTIAL_KEYS = new Set(['ca', 'cert', 'key', 'passphrase']);
const RECONNECT_KEYS = new Set(['initialDelayMs', 'maxDelayMs', 'factor', 'maxAttempts', 'retryOnAuthFailure']);
const QUEUE_KEYS = new Set(['maxMessages', 'maxBytes', 'overflow', 'store']);
const OUTBOX_FILE_KEYS = new Set(['path', 'fsync', 'fsyncIntervalMs']);

/** A misspelt option would otherwise be ignored silently (`keepAliveSeconds`, say): refuse it, naming it. */
function checkKnownKeys(obj: Record<string, unknown>, known: ReadonlySet<string>, prefix: string): void {
  for (const key of Object.keys(obj)) {
    if (!known.has(key)) invalid(`${prefix}${key}`, 'is not a known option');
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function optString(obj: Record<string, unknown>, key: string, field: string): string | undefined {
  const v = obj[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v.length === 0) invalid(field, 'must be a non-empty string');
  return v;
}

function optInt(obj: Record<string, unknown>, key: string, field: string, min: number, max: number): number | undefined {
  const v = obj[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    invalid(field, `must be an integer from ${min} to ${max}`);
  }
  return v;
}

function optBool(obj: Record<string, unknown>, key: string, field: string): boolean | undefined {
  const v = obj[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') invalid(field, 'must be true or false');
  return v;
}

/** An IPv4 or IPv6 literal, or a host name, for `address`. */
const ADDRESS_RE = /^[A-Za-z0-9.:\-[\]%]{1,253}$/;

function hostField(obj: Record<string, unknown>, key: string, field: string): string | undefined {
  const v = obj[key];
  if (v === undefined) return undefined;
  validateHostname(v, `config.${field}`);
  return v;
}

function keyField(obj: Record<string, unknown>, key: string, field: string): string | undefined {
  const v = obj[key];
  if (v === undefined) return undefined;
  validateSymmetricKey(v, `config.${field}`);
  return v;
}

function checkPem(v: unknown, field: string, marker: string): void {
  const list = Array.isArray(v) ? v : [v];
  if (list.length === 0) invalid(field, 'must not be empty');
  for (const item of list) {
    if (typeof item !== 'string' || !item.includes(`-----BEGIN ${marker}`)) {
      invalid(field, `must be a PEM string containing "-----BEGIN ${marker}"`);
    }
  }
}

function checkCredentials(v: unknown): AzureIotHubCredentials | undefined {
  if (v === undefined) return undefined;
  if (!isObject(v)) invalid('credentials', 'must be an object { ca?, cert?, key?, passphrase? }');
  checkKnownKeys(v, CREDENTIAL_KEYS, 'credentials.');
  if (v['ca'] !== undefined) checkPem(v['ca'], 'credentials.ca', 'CERTIFICATE');
  if (v['cert'] !== undefined) checkPem(v['cert'], 'credentials.cert', 'CERTIFICATE');
  if (v['key'] !== undefined) {
    if (typeof v['key'] !== 'string' || !/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(v['key'])) {
      invalid('credentials.key', 'must be a PEM private key');
    }
  }
  if ((v['cert'] === undefined) !== (v['key'] === undefined)) {
    invalid('credentials', 'needs both cert and key for X.509 authentication, or neither');
  }
  if (v['passphrase'] !== undefined && typeof v['passphrase'] !== 'string') {
    invalid('credentials.passphrase', 'must be a string');
  }
  return v as AzureIotHubCredentials;
}

function checkReconnect(v: unknown): ResolvedConfig['reconnect'] {
  if (v === false) return false;
  if (v === undefined) return { ...DEFAULT_RECONNECT };
  if (!isObject(v)) invalid('reconnect', 'must be a policy object or false');
  checkKnownKeys(v, RECONNECT_KEYS, 'reconnect.');
  const initialDelayMs = optInt(v, 'initialDelayMs', 'reconnect.initialDelayMs', 0, 86_400_000);
  const maxDelayMs = optInt(v, 'maxDelayMs', 'reconnect.maxDelayMs', 0, 86_400_000);
  const factor = v['factor'];
  if (factor !== undefined && (typeof factor !== 'number' || !(factor >= 1) || !Number.isFinite(factor))) {
    invalid('reconnect.factor', 'must be a number >= 1');
  }
  const maxAttempts = v['maxAttempts'];
  if (
    maxAttempts !== undefined &&
    maxAttempts !== Infinity &&
    (typeof maxAttempts !== 'number' || !Number.isInteger(maxAttempts) || maxAttempts < 0)
  ) {
    invalid('reconnect.maxAttempts', 'must be a non-negative integer or Infinity');
  }
  const policy = {
    initialDelayMs: initialDelayMs ?? DEFAULT_RECONNECT.initialDelayMs,
    maxDelayMs: maxDelayMs ?? DEFAULT_RECONNECT.maxDelayMs,
    factor: (factor as number | undefined) ?? DEFAULT_RECONNECT.factor,
    maxAttempts: (maxAttempts as number | undefined) ?? DEFAULT_RECONNECT.maxAttempts,
    retryOnAuthFailure: optBool(v, 'retryOnAuthFailure', 'reconnect.retryOnAuthFailure') ?? false,
  };
  if (policy.maxDelayMs < policy.initialDelayMs) invalid('reconnect.maxDelayMs', 'must be >= initialDelayMs');
  return policy;
}

function checkQueue(v: unknown): ResolvedQueueConfig | undefined {
  if (v === undefined) return undefined;
  if (!isObject(v)) invalid('queue', 'must be an object { maxMessages?, maxBytes?, overflow?, store? }');
  checkKnownKeys(v, QUEUE_KEYS, 'queue.');
  const overflow = v['overflow'] ?? 'reject';
  if (overflow !== 'reject' && overflow !== 'drop-oldest') invalid('queue.overflow', "must be 'reject' or 'drop-oldest'");
  const resolved: ResolvedQueueConfig = {
    maxMessages: optInt(v, 'maxMessages', 'queue.maxMessages', 0, MAX_QUEUE_MESSAGES) ?? DEFAULT_MAX_QUEUED,
    maxBytes: optInt(v, 'maxBytes', 'queue.maxBytes', 0, Number.MAX_SAFE_INTEGER) ?? DEFAULT_MAX_QUEUED_BYTES,
    overflow,
  };
  const store = v['store'];
  if (store === undefined) return resolved;
  if (!isObject(store)) invalid('queue.store', 'must be an outbox store or { path, fsync?, fsyncIntervalMs? }');
  if (typeof store['load'] === 'function' || typeof store['append'] === 'function' || typeof store['ack'] === 'function') {
    if (!['load', 'append', 'ack'].every((m) => typeof store[m] === 'function')) {
      invalid('queue.store', 'must implement load(), append() and ack()');
    }
    resolved.store = store as unknown as OutboxStore;
    return resolved;
  }
  checkKnownKeys(store, OUTBOX_FILE_KEYS, 'queue.store.');
  const path = optString(store, 'path', 'queue.store.path');
  if (path === undefined) invalid('queue.store.path', 'is required (or pass a store implementing load(), append() and ack())');
  const fsync = store['fsync'];
  if (fsync !== undefined && fsync !== 'always' && fsync !== 'batch' && fsync !== 'never') {
    invalid('queue.store.fsync', "must be 'always', 'batch' or 'never'");
  }
  const file: OutboxFileConfig = { path };
  if (fsync !== undefined) file.fsync = fsync;
  const interval = optInt(store, 'fsyncIntervalMs', 'queue.store.fsyncIntervalMs', 1, 3_600_000);
  if (interval !== undefined) file.fsyncIntervalMs = interval;
  resolved.store = file;
  return resolved;
}

function checkDps(v: unknown, deviceId: string, port: number): ResolvedDpsConfig | undefined {
  if (v === undefined) return undefined;
  if (!isObject(v)) invalid('dps', 'must be an object { idScope, ... }');
  checkKnownKeys(v, DPS_KEYS, 'dps.');
  const idScope = v['idScope'];
  if (idScope === undefined) invalid('dps.idScope', 'is required');
  validateIdScope(idScope, 'config.dps.idScope');
  const hostname = hostField(v, 'hostname', 'dps.hostname') ?? DEFAULT_DPS_HOSTNAME;
  const address = optString(v, 'address', 'dps.address');
  if (address !== undefined && !ADDRESS_RE.test(address)) invalid('dps.address', 'is not an IP address or host name');
  const registrationId = v['registrationId'] ?? deviceId;
  validateRegistrationId(registrationId, 'config.dps.registrationId');
  const symmetricKey = keyField(v, 'symmetricKey', 'dps.symmetricKey');
  const groupKey = optBool(v, 'groupKey', 'dps.groupKey');
  if (groupKey && symmetricKey === undefined) invalid('dps.groupKey', 'needs dps.symmetricKey');
  const store = v['store'];
  if (
    store !== undefined &&
    (!isObject(store) ||
      typeof store['load'] !== 'function' ||
      typeof store['save'] !== 'function' ||
      typeof store['clear'] !== 'function')
  ) {
    invalid('dps.store', 'must implement load(), save() and clear()');
  }
  const storePath = optString(v, 'storePath', 'dps.storePath');
  if (storePath !== undefined && store !== undefined) invalid('dps.storePath', 'and dps.store are both set: choose one');
  if (v['payload'] !== undefined) {
    try {
      JSON.stringify(v['payload']);
    } catch {
      invalid('dps.payload', 'must be JSON-serialisable');
    }
  }
  return {
    ...(v as unknown as AzureIotHubDpsConfig),
    idScope,
    hostname,
    port: optInt(v, 'port', 'dps.port', 1, 65535) ?? port,
    registrationId,
    timeoutMs: optInt(v, 'timeoutMs', 'dps.timeoutMs', 1, 86_400_000) ?? DEFAULT_DPS_TIMEOUT_MS,
  };
}

/**
 * Validate `config` and apply the defaults.
 * @throws AzureIotHubError `EINVAL` naming the first bad field.
 */
export function resolveConfig(config: unknown): ResolvedConfig {
  if (!isObject(config)) invalid('', 'must be an object');
  checkKnownKeys(config, CONFIG_KEYS, '');
  const deviceId = config['deviceId'];
  if (deviceId === undefined) invalid('deviceId', 'is required');
  validateDeviceId(deviceId, 'config.deviceId');
  if (config['moduleId'] !== undefined) validateModuleId(config['moduleId'], 'config.moduleId');
  const hostname = hostField(config, 'hostname', 'hostname');
  const port = optInt(config, 'port', 'port', 1, 65535) ?? DEFAULT_PORT;
  const address = optString(config, 'address', 'address');
  if (address !== undefined && !ADDRESS_RE.test(address)) invalid('address', 'is not an IP address or host name');
  const credentials = checkCredentials(config['credentials']);
  const sasKey = keyField(config, 'sasKey', 'sasKey');
  const dps = checkDps(config['dps'], deviceId, port);
  if (hostname === undefined && dps === undefined) invalid('hostname', 'is required when dps is not configured');
  const x509 = credentials?.cert !== undefined;
  if (sasKey !== undefined && x509) {
    invalid('sasKey', 'and credentials.cert are both set: choose SAS or X.509 authentication');
  }
  const socket = config['socket'];
  if (socket !== undefined) {
    if (!isObject(socket) || typeof socket['write'] !== 'function' || typeof socket['on'] !== 'function') {
      invalid('socket', 'must be a connected Duplex stream');
    }
    if (dps !== undefined) invalid('socket', 'cannot be combined with dps (DPS needs its own connection)');
  }
  if (sasKey === undefined && !x509 && socket === undefined && dps?.symmetricKey === undefined) {
    invalid('credentials', 'need cert and key (X.509) or sasKey (symmetric key) to authenticate');
  }
  if (dps !== undefined) {
    // DPS attests the device with exactly one of the two; the hub then uses the same (or sasKey).
    if (dps.symmetricKey !== undefined && x509) {
      invalid('dps.symmetricKey', 'and credentials.cert are both set: choose symmetric-key or X.509 attestation');
    }
    if (dps.symmetricKey === undefined && !x509) {
      invalid('dps', 'needs dps.symmetricKey or credentials.cert and key (X.509) to authenticate with DPS');
    }
  }
  const keepaliveSeconds = config['keepaliveSeconds'];
  if (
    keepaliveSeconds !== undefined &&
    (typeof keepaliveSeconds !== 'number' ||
      !Number.isInteger(keepaliveSeconds) ||
      keepaliveSeconds < 0 ||
      keepaliveSeconds > MAX_KEEPALIVE_SECONDS)
  ) {
    invalid(
      'keepaliveSeconds',
      `must be an integer from 0 to ${MAX_KEEPALIVE_SECONDS} (Azure closes idle links after 1.5 x keepalive, at most 1767 s)`,
    );
  }
  if (config['modelId'] !== undefined) validateModelId(config['modelId'], 'config.modelId');
  const fota = config['fota'];
  if (fota !== undefined) {
    if (!isObject(fota)) invalid('fota', 'must be an object { currentVersion, storage, ca?, allowHttp? }');
    checkKnownKeys(fota, FOTA_KEYS, 'fota.');
    if (typeof fota['currentVersion'] !== 'string' || fota['currentVersion'].length === 0) {
      invalid('fota.currentVersion', 'must be a non-empty string');
    }
    const st = fota['storage'];
    if (!isObject(st) || !['erase', 'write', 'size', 'read', 'finalize'].every((m) => typeof st[m] === 'function')) {
      invalid('fota.storage', 'must implement erase(), write(), size(), read() and finalize()');
    }
    if (fota['ca'] !== undefined) checkPem(fota['ca'], 'fota.ca', 'CERTIFICATE');
    optBool(fota, 'allowHttp', 'fota.allowHttp');
    optBool(fota, 'resumeInterrupted', 'fota.resumeInterrupted');
    optInt(fota, 'progressIntervalMs', 'fota.progressIntervalMs', 0, 3_600_000);
    for (const cb of ['onProgress', 'onDebug']) {
      if (fota[cb] !== undefined && typeof fota[cb] !== 'function') invalid(`fota.${cb}`, 'must be a function');
    }
  }
  const { dps: _rawDps, queue: _rawQueue, ...rest } = config as unknown as AzureIotHubConfig;
  const resolved: ResolvedConfig = {
    ...rest,
    deviceId,
    port,
    keepaliveSeconds: (keepaliveSeconds as number | undefined) ?? DEFAULT_KEEPALIVE_SECONDS,
    cleanSession: optBool(config, 'cleanSession', 'cleanSession') ?? false,
    autoInput: optBool(config, 'autoInput', 'autoInput') ?? true,
    autoTwinRequest: optBool(config, 'autoTwinRequest', 'autoTwinRequest') ?? true,
    maxPayloadBytes: optInt(config, 'maxPayloadBytes', 'maxPayloadBytes', 1, 268_435_455) ?? DEFAULT_MAX_PAYLOAD_BYTES,
    reconnect: checkReconnect(config['reconnect']),
    sasTokenTtlSeconds: optInt(config, 'sasTokenTtlSeconds', 'sasTokenTtlSeconds', 60, 365 * 86_400) ?? DEFAULT_SAS_TTL_SECONDS,
    requestTimeoutMs: optInt(config, 'requestTimeoutMs', 'requestTimeoutMs', 1, 86_400_000) ?? DEFAULT_REQUEST_TIMEOUT_MS,
  };
  if (dps !== undefined) resolved.dps = dps;
  const queue = checkQueue(config['queue']);
  if (queue !== undefined) resolved.queue = queue;
  return resolved;
}
