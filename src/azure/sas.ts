/**
 * Shared access signature (SAS) tokens for symmetric-key authentication to IoT Hub and DPS, and the enrollment-group
 * key derivation of DPS. Pure functions over `node:crypto` HMAC-SHA256; they never log, and their errors never
 * contain a key or a token.
 *
 * Token: `SharedAccessSignature sr={urlenc(resource)}&sig={urlenc(base64(HMAC-SHA256(base64decode(key),
 * urlenc(resource) + "\n" + se)))}&se={se}[&skn={urlenc(keyName)}]`.
 *
 * @see https://learn.microsoft.com/azure/iot-hub/authenticate-authorize-sas#security-tokens
 * @see https://learn.microsoft.com/azure/iot-dps/concepts-symmetric-key-attestation
 */
import { createHmac } from 'node:crypto';
import { AzureIotHubError } from '../errors.js';
import type { AzureIotHubIdentity } from './identity.js';
import { percentEncode } from './property-bag.js';
import {
  validateDeviceId,
  validateHostname,
  validateIdScope,
  validateModuleId,
  validateRegistrationId,
} from './validate.js';

/** The `skn` (key name) DPS expects in a registration SAS token. */
export const DPS_SAS_KEY_NAME = 'registration';

/** Largest accepted `se`: the end of year 9999 in seconds since the Unix epoch. */
const MAX_EXPIRY = 253402300799;

const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Options of {@link generateSasToken}. */
export interface SasTokenOptions {
  /** The resource URI, not encoded (for example `myhub.azure-devices.net/devices/dev1`). */
  resourceUri: string;
  /** The symmetric key, base64 (as shown in the Azure portal). */
  key: string;
  /** Expiry in whole seconds since the Unix epoch (UTC). */
  expiry: number;
  /** Policy name (`skn`), for shared access policy keys and DPS (`registration`); absent for device keys. */
  keyName?: string | undefined;
}

/** Throw `EINVAL` (naming `field`, never showing the key) unless `key` is a non-empty base64 string. */
export function validateSymmetricKey(key: unknown, field = 'key'): asserts key is string {
  decodeKey(key, field);
}

/** Decode a base64 key, or throw `EINVAL` (naming `field`, never showing the key). */
function decodeKey(key: unknown, field: string): Buffer {
  if (typeof key !== 'string' || key.length === 0) {
    throw new AzureIotHubError('EINVAL', `${field} must be a non-empty base64 string`);
  }
  if (!BASE64_RE.test(key)) throw new AzureIotHubError('EINVAL', `${field} is not valid base64`);
  return Buffer.from(key, 'base64');
}

function hmacBase64(key: Buffer, message: string): string {
  return createHmac('sha256', key).update(message, 'utf8').digest('base64');
}

/**
 * Build a SAS token. `expiry` must be a positive integer (seconds since the epoch); `key` must be base64.
 * Throws `EINVAL` naming the bad field; the message never contains the key.
 * @see https://learn.microsoft.com/azure/iot-hub/authenticate-authorize-sas#security-token-structure
 */
export function generateSasToken(options: SasTokenOptions): string {
  const { resourceUri, expiry, keyName } = options;
  if (typeof resourceUri !== 'string' || resourceUri.length === 0) {
    throw new AzureIotHubError('EINVAL', 'resourceUri must be a non-empty string');
  }
  if (!Number.isSafeInteger(expiry) || expiry <= 0 || expiry > MAX_EXPIRY) {
    throw new AzureIotHubError('EINVAL', 'expiry must be a positive integer number of seconds since the Unix epoch');
  }
  if (keyName !== undefined && (typeof keyName !== 'string' || keyName.length === 0)) {
    throw new AzureIotHubError('EINVAL', 'keyName must be a non-empty string when given');
  }
  const key = decodeKey(options.key, 'key');
  const sr = percentEncode(resourceUri, 'resourceUri');
  const se = String(expiry);
  const sig = percentEncode(hmacBase64(key, `${sr}\n${se}`));
  let token = `SharedAccessSignature sr=${sr}&sig=${sig}&se=${se}`;
  if (keyName !== undefined) token += `&skn=${percentEncode(keyName, 'keyName')}`;
  return token;
}

/**
 * The SAS resource of a device or module identity: `{hostname}/devices/{deviceId}` or
 * `{hostname}/devices/{deviceId}/modules/{moduleId}` (not encoded; {@link generateSasToken} encodes it).
 * @see https://learn.microsoft.com/azure/iot-hub/authenticate-authorize-sas#use-a-symmetric-key-in-the-identity-registry
 */
export function hubSasResource(hostname: string, identity: AzureIotHubIdentity): string {
  validateHostname(hostname);
  validateDeviceId(identity.deviceId);
  let out = `${hostname}/devices/${identity.deviceId}`;
  if (identity.moduleId !== undefined) {
    validateModuleId(identity.moduleId);
    out += `/modules/${identity.moduleId}`;
  }
  return out;
}

/**
 * The SAS resource of a DPS registration: `{idScope}/registrations/{registrationId}`.
 * @see https://learn.microsoft.com/azure/iot-dps/how-to-control-access#security-tokens
 */
export function dpsSasResource(idScope: string, registrationId: string): string {
  validateIdScope(idScope);
  validateRegistrationId(registrationId);
  return `${idScope}/registrations/${registrationId}`;
}

/**
 * A device-key SAS token for IoT Hub (no `skn`): the MQTT password of a symmetric-key device or module.
 * @param key the device (or module) primary or secondary key, base64
 * @param expiry seconds since the Unix epoch; see {@link sasExpiry}
 */
export function hubSasToken(hostname: string, identity: AzureIotHubIdentity, key: string, expiry: number): string {
  return generateSasToken({ resourceUri: hubSasResource(hostname, identity), key, expiry });
}

/**
 * A DPS registration SAS token (`skn=registration`): the MQTT password for DPS with symmetric-key attestation.
 * @param key the individual enrollment key, or the device key derived with {@link deriveGroupDeviceKey}, base64
 * @param expiry seconds since the Unix epoch; see {@link sasExpiry}
 * @see https://learn.microsoft.com/azure/iot-dps/iot-dps-mqtt-support#connecting-to-dps
 */
export function dpsSasToken(idScope: string, registrationId: string, key: string, expiry: number): string {
  return generateSasToken({
    resourceUri: dpsSasResource(idScope, registrationId),
    key,
    expiry,
    keyName: DPS_SAS_KEY_NAME,
  });
}

/**
 * The `se` of a token valid for `ttlSeconds` from `nowMs` (milliseconds since the epoch, e.g. `Date.now()`):
 * `floor(nowMs / 1000) + ttlSeconds`. Throws `EINVAL` for a non-positive or non-integer TTL.
 */
export function sasExpiry(nowMs: number, ttlSeconds: number): number {
  if (!Number.isFinite(nowMs) || nowMs < 0) throw new AzureIotHubError('EINVAL', 'nowMs must be a non-negative time');
  if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds <= 0) {
    throw new AzureIotHubError('EINVAL', 'ttlSeconds must be a positive integer');
  }
  return Math.floor(nowMs / 1000) + ttlSeconds;
}

/**
 * The device key of a DPS symmetric-key enrollment group member: `base64(HMAC-SHA256(base64decode(groupKey),
 * registrationId))`. Throws `EINVAL` for a key that is not base64 or an invalid registration id.
 * @see https://learn.microsoft.com/azure/iot-dps/how-to-legacy-device-symm-key#derive-a-device-key
 */
export function deriveGroupDeviceKey(groupKey: string, registrationId: string): string {
  validateRegistrationId(registrationId);
  return hmacBase64(decodeKey(groupKey, 'groupKey'), registrationId);
}
