/**
 * `resolveConfig`: every field's default, and for every field a bad value that throws `EINVAL` with a message naming
 * the field (and never echoing a secret).
 */
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_DPS_HOSTNAME,
  DEFAULT_DPS_TIMEOUT_MS,
  DEFAULT_MAX_PAYLOAD_BYTES,
  DEFAULT_RECONNECT,
  DEFAULT_REQUEST_TIMEOUT_MS,
  DEFAULT_SAS_TTL_SECONDS,
  MAX_KEEPALIVE_SECONDS,
  resolveConfig,
} from '../../../src/azure/config.js';
import { AzureIotHubError } from '../../../src/errors.js';

const PEM_CERT = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const PEM_KEY = '-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n';
const SAS_KEY = Buffer.from('0123456789abcdef0123456789abcdef').toString('base64');
const base = { deviceId: 'dev-1', hostname: 'hub.azure-devices.net', sasKey: SAS_KEY };
const storage = { erase: async () => {}, write: async () => {}, size: async () => 0, read: async () => new Uint8Array(0), finalize: async () => {} };
const store = { load: async () => undefined, save: async () => {}, clear: async () => {} };

function einval(config: unknown): AzureIotHubError {
  try {
    resolveConfig(config);
  } catch (err) {
    expect(err).toBeInstanceOf(AzureIotHubError);
    expect((err as AzureIotHubError).code).toBe('EINVAL');
    return err as AzureIotHubError;
  }
  throw new Error('resolveConfig did not throw');
}

describe('resolveConfig: defaults', () => {
  it('fills in every default (C library Kconfig values where one exists)', () => {
    const cfg = resolveConfig(base);
    expect(cfg).toMatchObject({
      deviceId: 'dev-1',
      hostname: 'hub.azure-devices.net',
      port: 8883,
      keepaliveSeconds: 60,
      cleanSession: false,
      autoInput: true,
      autoTwinRequest: true,
      maxPayloadBytes: DEFAULT_MAX_PAYLOAD_BYTES,
      sasTokenTtlSeconds: DEFAULT_SAS_TTL_SECONDS,
      requestTimeoutMs: DEFAULT_REQUEST_TIMEOUT_MS,
    });
    expect(DEFAULT_MAX_PAYLOAD_BYTES).toBe(256 * 1024);
    expect(DEFAULT_SAS_TTL_SECONDS).toBe(3600);
    expect(cfg.reconnect).toEqual({ initialDelayMs: 1000, maxDelayMs: 60_000, factor: 2, maxAttempts: Infinity, retryOnAuthFailure: false });
    expect(cfg.reconnect).not.toBe(DEFAULT_RECONNECT); // a copy: changing it cannot change the default
    expect(cfg.dps).toBeUndefined();
  });

  it('keeps given values: bounds included', () => {
    const cfg = resolveConfig({
      ...base,
      port: 1,
      keepaliveSeconds: MAX_KEEPALIVE_SECONDS,
      cleanSession: true,
      autoInput: false,
      autoTwinRequest: false,
      maxPayloadBytes: 1,
      sasTokenTtlSeconds: 60,
      requestTimeoutMs: 1,
      reconnect: false,
      address: '127.0.0.1',
      modelId: 'dtmi:com:example:Thermostat;1',
      moduleId: 'mod-1',
    });
    expect(cfg).toMatchObject({ port: 1, keepaliveSeconds: 1177, cleanSession: true, autoInput: false, autoTwinRequest: false,
      maxPayloadBytes: 1, sasTokenTtlSeconds: 60, requestTimeoutMs: 1, reconnect: false, address: '127.0.0.1',
      modelId: 'dtmi:com:example:Thermostat;1', moduleId: 'mod-1' });
    expect(resolveConfig({ ...base, keepaliveSeconds: 0 }).keepaliveSeconds).toBe(0);
    expect(resolveConfig({ ...base, port: 65535 }).port).toBe(65535);
    expect(resolveConfig({ ...base, address: '::1' }).address).toBe('::1');
  });

  it('completes a partial reconnect policy from the defaults', () => {
    expect(resolveConfig({ ...base, reconnect: { initialDelayMs: 5 } }).reconnect).toEqual({
      initialDelayMs: 5, maxDelayMs: 60_000, factor: 2, maxAttempts: Infinity, retryOnAuthFailure: false,
    });
    expect(resolveConfig({ ...base, reconnect: { maxAttempts: 0, retryOnAuthFailure: true, factor: 1, maxDelayMs: 0, initialDelayMs: 0 } }).reconnect)
      .toEqual({ initialDelayMs: 0, maxDelayMs: 0, factor: 1, maxAttempts: 0, retryOnAuthFailure: true });
  });

  it('accepts X.509 credentials, a CA list, a passphrase, or a socket without credentials', () => {
    const x = resolveConfig({ deviceId: 'd', hostname: 'h', credentials: { ca: [PEM_CERT, PEM_CERT], cert: PEM_CERT, key: PEM_KEY, passphrase: 'p' } });
    expect(x.credentials?.cert).toBe(PEM_CERT);
    expect(x.sasKey).toBeUndefined();
    const ec = '-----BEGIN EC PRIVATE KEY-----\nMHc\n-----END EC PRIVATE KEY-----\n';
    expect(resolveConfig({ deviceId: 'd', hostname: 'h', credentials: { cert: PEM_CERT, key: ec } }).credentials?.key).toBe(ec);
    const socket = new PassThrough();
    expect(resolveConfig({ deviceId: 'd', hostname: 'h', socket }).socket).toBe(socket);
  });

  it('resolves DPS: global endpoint, the hub port, registration id = device id, 90 s timeout; no hostname needed', () => {
    const cfg = resolveConfig({ deviceId: 'dev-1', credentials: { cert: PEM_CERT, key: PEM_KEY }, dps: { idScope: '0ne00000001' } });
    expect(cfg.hostname).toBeUndefined();
    expect(cfg.dps).toEqual({ idScope: '0ne00000001', hostname: DEFAULT_DPS_HOSTNAME, port: 8883, registrationId: 'dev-1', timeoutMs: DEFAULT_DPS_TIMEOUT_MS });
    expect(DEFAULT_DPS_HOSTNAME).toBe('global.azure-devices-provisioning.net');
    const custom = resolveConfig({
      deviceId: 'dev-1', port: 9000, dps: { idScope: 's', hostname: 'dps.local', address: '127.0.0.1', port: 8884, registrationId: 'reg-1',
        symmetricKey: SAS_KEY, groupKey: true, timeoutMs: 5, store, payload: { a: 1 } },
    });
    expect(custom.dps).toMatchObject({ hostname: 'dps.local', address: '127.0.0.1', port: 8884, registrationId: 'reg-1', timeoutMs: 5, groupKey: true });
    // DPS with a symmetric key authenticates the hub connection too: no other credentials needed.
    expect(resolveConfig({ deviceId: 'd', dps: { idScope: 's', symmetricKey: SAS_KEY } }).dps?.port).toBe(8883);
  });

  it('accepts a FOTA config', () => {
    const cfg = resolveConfig({ ...base, fota: { currentVersion: '1.0.0', storage, ca: PEM_CERT, allowHttp: false } });
    expect(cfg.fota?.currentVersion).toBe('1.0.0');
  });
});

describe('resolveConfig: every bad field is EINVAL naming it', () => {
  const cases: [string, unknown, RegExp][] = [
    ['not an object', null, /^config must be an object/],
    ['an array', [], /^config must be an object/],
    ['a misspelt option', { ...base, keepAliveSeconds: 30 }, /^config\.keepAliveSeconds is not a known option/],
    ['a misspelt dps option', { ...base, dps: { idScope: '0ne1', registrationID: 'x' } }, /^config\.dps\.registrationID is not a known option/],
    ['a misspelt credentials option', { ...base, credentials: { CA: PEM_CERT } }, /^config\.credentials\.CA is not a known option/],
    ['a misspelt reconnect option', { ...base, reconnect: { maxDelay: 5 } }, /^config\.reconnect\.maxDelay is not a known option/],
    ['deviceId missing', { hostname: 'h', sasKey: SAS_KEY }, /^config\.deviceId is required/],
    ['deviceId empty', { ...base, deviceId: '' }, /^config\.deviceId must not be empty/],
    ['deviceId not a string', { ...base, deviceId: 7 }, /^config\.deviceId must be a string/],
    ['deviceId with a slash', { ...base, deviceId: 'a/b' }, /^config\.deviceId may only contain/],
    ['deviceId too long', { ...base, deviceId: 'a'.repeat(129) }, /^config\.deviceId is 129 characters long/],
    ['moduleId with #', { ...base, moduleId: 'm#' }, /^config\.moduleId may only contain/],
    ['hostname missing without dps', { deviceId: 'd', sasKey: SAS_KEY }, /^config\.hostname is required when dps is not configured/],
    ['hostname with a slash', { ...base, hostname: 'a/b' }, /^config\.hostname must be a host name/],
    ['hostname empty', { ...base, hostname: '' }, /^config\.hostname must not be empty/],
    ['port 0', { ...base, port: 0 }, /^config\.port must be an integer from 1 to 65535/],
    ['port 65536', { ...base, port: 65536 }, /^config\.port must be an integer/],
    ['port not an integer', { ...base, port: 1.5 }, /^config\.port must be an integer/],
    ['port a string', { ...base, port: '8883' }, /^config\.port must be an integer/],
    ['address empty', { ...base, address: '' }, /^config\.address must be a non-empty string/],
    ['address with a slash', { ...base, address: 'a/b' }, /^config\.address is not an IP address or host name/],
    ['credentials not an object', { ...base, credentials: 'pem' }, /^config\.credentials must be an object/],
    ['credentials.ca not PEM', { ...base, credentials: { ca: 'nope' } }, /^config\.credentials\.ca must be a PEM string/],
    ['credentials.ca empty list', { ...base, credentials: { ca: [] } }, /^config\.credentials\.ca must not be empty/],
    ['credentials.ca list with a bad item', { ...base, credentials: { ca: [PEM_CERT, 3] } }, /^config\.credentials\.ca must be a PEM string/],
    ['credentials.cert not PEM', { deviceId: 'd', hostname: 'h', credentials: { cert: 'x', key: PEM_KEY } }, /^config\.credentials\.cert must be a PEM/],
    ['credentials.key not PEM', { deviceId: 'd', hostname: 'h', credentials: { cert: PEM_CERT, key: 'secret-key-text' } }, /^config\.credentials\.key must be a PEM private key/],
    ['credentials.cert without key', { deviceId: 'd', hostname: 'h', credentials: { cert: PEM_CERT } }, /^config\.credentials needs both cert and key/],
    ['credentials.key without cert', { deviceId: 'd', hostname: 'h', credentials: { key: PEM_KEY } }, /^config\.credentials needs both cert and key/],
    ['credentials.passphrase not a string', { deviceId: 'd', hostname: 'h', credentials: { cert: PEM_CERT, key: PEM_KEY, passphrase: 1 } }, /^config\.credentials\.passphrase must be a string/],
    ['no authentication', { deviceId: 'd', hostname: 'h' }, /^config\.credentials need cert and key \(X\.509\) or sasKey/],
    ['no authentication, only a CA', { deviceId: 'd', hostname: 'h', credentials: { ca: PEM_CERT } }, /^config\.credentials need cert and key/],
    ['sasKey not base64', { ...base, sasKey: 'not*base64' }, /^config\.sasKey is not valid base64/],
    ['sasKey empty', { ...base, sasKey: '' }, /^config\.sasKey must be a non-empty base64 string/],
    ['sasKey and X.509', { ...base, credentials: { cert: PEM_CERT, key: PEM_KEY } }, /^config\.sasKey and credentials\.cert are both set/],
    ['sasTokenTtlSeconds below 60', { ...base, sasTokenTtlSeconds: 59 }, /^config\.sasTokenTtlSeconds must be an integer from 60 to 31536000/],
    ['sasTokenTtlSeconds above a year', { ...base, sasTokenTtlSeconds: 365 * 86_400 + 1 }, /^config\.sasTokenTtlSeconds must be an integer/],
    ['keepaliveSeconds above 1177', { ...base, keepaliveSeconds: 1178 }, /^config\.keepaliveSeconds must be an integer from 0 to 1177 \(Azure closes idle links/],
    ['keepaliveSeconds negative', { ...base, keepaliveSeconds: -1 }, /^config\.keepaliveSeconds must be an integer/],
    ['keepaliveSeconds fractional', { ...base, keepaliveSeconds: 1.5 }, /^config\.keepaliveSeconds must be an integer/],
    ['keepaliveSeconds a string', { ...base, keepaliveSeconds: '60' }, /^config\.keepaliveSeconds must be an integer/],
    ['cleanSession not a boolean', { ...base, cleanSession: 1 }, /^config\.cleanSession must be true or false/],
    ['autoInput not a boolean', { ...base, autoInput: 'no' }, /^config\.autoInput must be true or false/],
    ['autoTwinRequest not a boolean', { ...base, autoTwinRequest: null }, /^config\.autoTwinRequest must be true or false/],
    ['maxPayloadBytes 0', { ...base, maxPayloadBytes: 0 }, /^config\.maxPayloadBytes must be an integer from 1 to 268435455/],
    ['maxPayloadBytes above MQTT', { ...base, maxPayloadBytes: 268_435_456 }, /^config\.maxPayloadBytes must be an integer/],
    ['requestTimeoutMs 0', { ...base, requestTimeoutMs: 0 }, /^config\.requestTimeoutMs must be an integer from 1/],
    ['reconnect true', { ...base, reconnect: true }, /^config\.reconnect must be a policy object or false/],
    ['reconnect.initialDelayMs negative', { ...base, reconnect: { initialDelayMs: -1 } }, /^config\.reconnect\.initialDelayMs must be an integer/],
    ['reconnect.maxDelayMs fractional', { ...base, reconnect: { maxDelayMs: 0.5 } }, /^config\.reconnect\.maxDelayMs must be an integer/],
    ['reconnect.maxDelayMs below initialDelayMs', { ...base, reconnect: { initialDelayMs: 10, maxDelayMs: 5 } }, /^config\.reconnect\.maxDelayMs must be >= initialDelayMs/],
    ['reconnect.factor below 1', { ...base, reconnect: { factor: 0.5 } }, /^config\.reconnect\.factor must be a number >= 1/],
    ['reconnect.factor Infinity', { ...base, reconnect: { factor: Infinity } }, /^config\.reconnect\.factor must be a number >= 1/],
    ['reconnect.factor NaN', { ...base, reconnect: { factor: NaN } }, /^config\.reconnect\.factor/],
    ['reconnect.maxAttempts negative', { ...base, reconnect: { maxAttempts: -1 } }, /^config\.reconnect\.maxAttempts must be a non-negative integer or Infinity/],
    ['reconnect.maxAttempts fractional', { ...base, reconnect: { maxAttempts: 1.5 } }, /^config\.reconnect\.maxAttempts/],
    ['reconnect.retryOnAuthFailure not a boolean', { ...base, reconnect: { retryOnAuthFailure: 'yes' } }, /^config\.reconnect\.retryOnAuthFailure must be true or false/],
    ['socket not a stream', { ...base, socket: {} }, /^config\.socket must be a connected Duplex stream/],
    ['socket with dps', { deviceId: 'd', socket: new PassThrough(), dps: { idScope: 's', symmetricKey: SAS_KEY } }, /^config\.socket cannot be combined with dps/],
    ['modelId not a DTMI', { ...base, modelId: 'thermostat' }, /^config\.modelId must be a DTMI/],
    ['modelId not a string', { ...base, modelId: 1 }, /^config\.modelId must be a string/],
    ['fota not an object', { ...base, fota: true }, /^config\.fota must be an object/],
    ['fota.currentVersion missing', { ...base, fota: { storage } }, /^config\.fota\.currentVersion must be a non-empty string/],
    ['fota.currentVersion empty', { ...base, fota: { currentVersion: '', storage } }, /^config\.fota\.currentVersion must be a non-empty string/],
    ['fota.storage missing a method', { ...base, fota: { currentVersion: '1', storage: { ...storage, finalize: undefined } } }, /^config\.fota\.storage must implement erase\(\), write\(\), size\(\), read\(\) and finalize\(\)/],
    ['fota.ca not PEM', { ...base, fota: { currentVersion: '1', storage, ca: 'x' } }, /^config\.fota\.ca must be a PEM string/],
    ['fota.allowHttp not a boolean', { ...base, fota: { currentVersion: '1', storage, allowHttp: 1 } }, /^config\.fota\.allowHttp must be true or false/],
    ['dps not an object', { ...base, dps: 'scope' }, /^config\.dps must be an object/],
    ['dps.idScope missing', { ...base, dps: {} }, /^config\.dps\.idScope is required/],
    ['dps.idScope with a space', { ...base, dps: { idScope: 'a b' } }, /^config\.dps\.idScope must be printable ASCII/],
    ['dps.hostname with #', { ...base, dps: { idScope: 's', hostname: 'a#b' } }, /^config\.dps\.hostname must be a host name/],
    ['dps.address with a slash', { ...base, dps: { idScope: 's', address: 'a/b' } }, /^config\.dps\.address is not an IP address or host name/],
    ['dps.address empty', { ...base, dps: { idScope: 's', address: '' } }, /^config\.dps\.address must be a non-empty string/],
    ['dps.port 0', { ...base, dps: { idScope: 's', port: 0 } }, /^config\.dps\.port must be an integer from 1 to 65535/],
    ['dps.registrationId ending with a dot', { ...base, dps: { idScope: 's', registrationId: 'reg.' } }, /^config\.dps\.registrationId may only contain/],
    ['dps.registrationId from a device id DPS refuses', { ...base, deviceId: 'dev$1', dps: { idScope: 's' } }, /^config\.dps\.registrationId may only contain/],
    ['dps.symmetricKey not base64', { ...base, dps: { idScope: 's', symmetricKey: '%%' } }, /^config\.dps\.symmetricKey is not valid base64/],
    ['dps.groupKey without a key', { ...base, dps: { idScope: 's', groupKey: true } }, /^config\.dps\.groupKey needs dps\.symmetricKey/],
    ['dps.groupKey not a boolean', { ...base, dps: { idScope: 's', groupKey: 'yes' } }, /^config\.dps\.groupKey must be true or false/],
    ['dps.store without clear()', { ...base, dps: { idScope: 's', store: { load: store.load, save: store.save } } }, /^config\.dps\.store must implement load\(\), save\(\) and clear\(\)/],
    ['dps.payload not JSON', { ...base, dps: { idScope: 's', payload: { n: 1n } } }, /^config\.dps\.payload must be JSON-serialisable/],
    ['dps.timeoutMs 0', { ...base, dps: { idScope: 's', timeoutMs: 0 } }, /^config\.dps\.timeoutMs must be an integer from 1/],
    ['dps.storePath empty', { ...base, dps: { idScope: 's', storePath: '' } }, /^config\.dps\.storePath must be a non-empty string/],
    ['dps.storePath and dps.store', { ...base, dps: { idScope: 's', store, storePath: '/tmp/x.json' } }, /^config\.dps\.storePath and dps\.store are both set/],
    ['dps.symmetricKey with X.509', { deviceId: 'd', credentials: { cert: PEM_CERT, key: PEM_KEY }, dps: { idScope: 's', symmetricKey: SAS_KEY } }, /^config\.dps\.symmetricKey and credentials\.cert are both set/],
    ['dps without an attestation', { deviceId: 'd', sasKey: SAS_KEY, dps: { idScope: 's' } }, /^config\.dps needs dps\.symmetricKey or credentials\.cert and key/],
    ['fota.resumeInterrupted not a boolean', { ...base, fota: { currentVersion: '1', storage, resumeInterrupted: 'yes' } }, /^config\.fota\.resumeInterrupted must be true or false/],
    ['fota.progressIntervalMs negative', { ...base, fota: { currentVersion: '1', storage, progressIntervalMs: -1 } }, /^config\.fota\.progressIntervalMs must be an integer from 0 to 3600000/],
    ['fota.onProgress not a function', { ...base, fota: { currentVersion: '1', storage, onProgress: 1 } }, /^config\.fota\.onProgress must be a function/],
    ['fota.onDebug not a function', { ...base, fota: { currentVersion: '1', storage, onDebug: 'log' } }, /^config\.fota\.onDebug must be a function/],
  ];

  it.each(cases)('%s', (_name, config, message) => {
    const err = einval(config);
    expect(err.message).toMatch(message);
  });

  it('never echoes a secret in the message', () => {
    const secret = 'c2VjcmV0LWtleQ==!';
    expect(einval({ ...base, sasKey: secret }).message).not.toContain('c2VjcmV0');
    const keyText = '-----BEGIN NOT A KEY----- hunter2';
    expect(einval({ deviceId: 'd', hostname: 'h', credentials: { cert: PEM_CERT, key: keyText } }).message).not.toContain('hunter2');
    expect(einval({ deviceId: 'd', hostname: 'h', credentials: { cert: PEM_CERT, key: PEM_KEY, passphrase: 42 } }).message).not.toContain('42');
  });
});
