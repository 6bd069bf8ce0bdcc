/**
 * Input validation for the Azure helpers: identities (device, module, DPS registration), IoT Plug and Play model
 * ids (DTMI), property-bag keys and values, and request ids (`$rid`). Every `validateXxx` throws
 * {@link AzureIotHubError} with code `EINVAL` and a message that names the field and the problem (never the value
 * of a secret); every `isValidXxx` answers the same question without throwing.
 */
import { AzureIotHubError } from '../errors.js';

/**
 * Longest device or module id, and longest DPS registration id: 128 characters.
 * @see https://learn.microsoft.com/azure/iot-hub/iot-hub-devguide-identity-registry#device-identity-properties
 */
export const MAX_ID_LENGTH = 128;

/** Longest request id (`$rid`) this library sends or accepts. Azure documents no limit; 128 is ample. */
export const MAX_REQUEST_ID_LENGTH = 128;

/** Longest user DTMI (Digital Twin Model Identifier). */
export const MAX_MODEL_ID_LENGTH = 2048;

/**
 * Device and module ids: 1 to 128 ASCII letters, digits and `- . % _ * ? ! ( ) , : = @ $ '` (case-sensitive).
 * Azure does not support `+` and `#` (they are MQTT wildcards).
 * @see https://learn.microsoft.com/azure/iot-hub/iot-hub-devguide-identity-registry#device-identity-properties
 */
const DEVICE_ID_RE = /^[A-Za-z0-9\-.%_*?!(),:=@$']{1,128}$/;

/**
 * DPS registration ids: 1 to 128 ASCII letters, digits and `- . _ :`; the last character is a letter, a digit or
 * `-` (case-insensitive in DPS).
 * @see https://learn.microsoft.com/azure/iot-dps/concepts-symmetric-key-attestation
 */
const REGISTRATION_ID_RE = /^[A-Za-z0-9\-._:]{0,127}[A-Za-z0-9-]$/;

/**
 * A user DTMI, `dtmi:<segment>(:<segment>)*;<version>`: segments start with a letter, hold letters, digits and `_`,
 * and do not end with `_`; the version is 1 to 9 digits without a leading zero. DTDL v3's optional minor version
 * (`;1.2`, 1 to 6 digits) is accepted too.
 * @see https://github.com/Azure/digital-twin-model-identifier
 */
const DTMI_RE =
  /^dtmi:[A-Za-z](?:[A-Za-z0-9_]*[A-Za-z0-9])?(?::[A-Za-z](?:[A-Za-z0-9_]*[A-Za-z0-9])?)*;[1-9][0-9]{0,8}(?:\.[1-9][0-9]{0,5})?$/;

/**
 * Request ids travel verbatim in a topic's query string (`?$rid=...`), so they are limited to printable ASCII
 * without the characters that would end the value or the topic level or form an MQTT wildcard:
 * `& = / ? # +`, space and controls.
 */
const REQUEST_ID_RE = /^[!-~]{1,128}$/;
const REQUEST_ID_FORBIDDEN_RE = /[&=/?#+]/;

/** Host names and DPS id scopes: printable ASCII with no `/`, `?`, `#`, `+`, space or control character. */
const TOKEN_RE = /^[!-~]+$/;
const TOKEN_FORBIDDEN_RE = /[/?#+]/;

function invalid(field: string, why: string): never {
  throw new AzureIotHubError('EINVAL', `${field} ${why}`);
}

/** Whether `id` is a valid Azure IoT Hub device id (also used for module ids). */
export function isValidDeviceId(id: unknown): id is string {
  return typeof id === 'string' && DEVICE_ID_RE.test(id);
}

/**
 * Throw `EINVAL` unless `id` is a valid device id: 1 to {@link MAX_ID_LENGTH} ASCII letters, digits and
 * `- . % _ * ? ! ( ) , : = @ $ '`.
 * @param field the name used in the error message (default `deviceId`)
 * @see https://learn.microsoft.com/azure/iot-hub/iot-hub-devguide-identity-registry#device-identity-properties
 */
export function validateDeviceId(id: unknown, field = 'deviceId'): asserts id is string {
  if (typeof id !== 'string') invalid(field, 'must be a string');
  if (id.length === 0) invalid(field, 'must not be empty');
  if (id.length > MAX_ID_LENGTH) invalid(field, `is ${id.length} characters long; the limit is ${MAX_ID_LENGTH}`);
  if (!DEVICE_ID_RE.test(id)) {
    invalid(field, "may only contain ASCII letters, digits and - . % _ * ? ! ( ) , : = @ $ '");
  }
}

/**
 * Throw `EINVAL` unless `id` is a valid module id (same rules as device ids).
 * @param field the name used in the error message (default `moduleId`)
 * @see https://learn.microsoft.com/azure/iot-hub/iot-hub-devguide-identity-registry#module-identity-properties
 */
export function validateModuleId(id: unknown, field = 'moduleId'): asserts id is string {
  validateDeviceId(id, field);
}

/** Whether `id` is a valid DPS registration id. */
export function isValidRegistrationId(id: unknown): id is string {
  return typeof id === 'string' && REGISTRATION_ID_RE.test(id);
}

/**
 * Throw `EINVAL` unless `id` is a valid DPS registration id: 1 to {@link MAX_ID_LENGTH} ASCII letters, digits and
 * `- . _ :`, ending with a letter, digit or `-`. (With X.509 attestation it must also equal the certificate CN,
 * which is at most 64 characters; that is not checked here.)
 * @param field the name used in the error message (default `registrationId`)
 * @see https://learn.microsoft.com/azure/iot-dps/concepts-service#registration-id
 */
export function validateRegistrationId(id: unknown, field = 'registrationId'): asserts id is string {
  if (typeof id !== 'string') invalid(field, 'must be a string');
  if (id.length === 0) invalid(field, 'must not be empty');
  if (id.length > MAX_ID_LENGTH) invalid(field, `is ${id.length} characters long; the limit is ${MAX_ID_LENGTH}`);
  if (!REGISTRATION_ID_RE.test(id)) {
    invalid(field, 'may only contain ASCII letters, digits and - . _ : and must end with a letter, a digit or -');
  }
}

/** Whether `id` is a valid IoT Plug and Play model id (a user DTMI such as `dtmi:com:example:Thermostat;1`). */
export function isValidModelId(id: unknown): id is string {
  return typeof id === 'string' && id.length <= MAX_MODEL_ID_LENGTH && DTMI_RE.test(id);
}

/**
 * Throw `EINVAL` unless `id` is a user DTMI (`dtmi:com:example:Thermostat;1`) of at most
 * {@link MAX_MODEL_ID_LENGTH} characters.
 * @param field the name used in the error message (default `modelId`)
 * @see https://learn.microsoft.com/azure/iot/concepts-developer-guide-device
 * @see https://github.com/Azure/digital-twin-model-identifier
 */
export function validateModelId(id: unknown, field = 'modelId'): asserts id is string {
  if (typeof id !== 'string') invalid(field, 'must be a string');
  if (id.length > MAX_MODEL_ID_LENGTH) {
    invalid(field, `is ${id.length} characters long; the limit is ${MAX_MODEL_ID_LENGTH}`);
  }
  if (!DTMI_RE.test(id)) {
    invalid(field, 'must be a DTMI such as dtmi:com:example:Thermostat;1 (segments of letters, digits and _, ;version)');
  }
}

/** Whether `rid` can be sent as a request id (`$rid`); see {@link validateRequestId}. */
export function isValidRequestId(rid: unknown): rid is string {
  return typeof rid === 'string' && REQUEST_ID_RE.test(rid) && !REQUEST_ID_FORBIDDEN_RE.test(rid);
}

/**
 * Throw `EINVAL` unless `rid` is a request id this library can put in a topic verbatim: 1 to
 * {@link MAX_REQUEST_ID_LENGTH} printable ASCII characters other than `& = / ? # +` and space. Request ids are
 * opaque: the ones the hub sends (method requests) are echoed exactly as received.
 * @param field the name used in the error message (default `rid`)
 * @see https://learn.microsoft.com/azure/iot/iot-mqtt-connect-to-iot-hub#retrieving-a-device-twins-properties
 */
export function validateRequestId(rid: unknown, field = 'rid'): asserts rid is string {
  if (typeof rid !== 'string') invalid(field, 'must be a string');
  if (rid.length === 0) invalid(field, 'must not be empty');
  if (rid.length > MAX_REQUEST_ID_LENGTH) {
    invalid(field, `is ${rid.length} characters long; the limit is ${MAX_REQUEST_ID_LENGTH}`);
  }
  if (!REQUEST_ID_RE.test(rid)) invalid(field, 'may only contain printable ASCII characters (no space or control)');
  if (REQUEST_ID_FORBIDDEN_RE.test(rid)) invalid(field, 'must not contain & = / ? # or +');
}

/**
 * Throw `EINVAL` if `text` contains what no percent-encoding can carry: U+0000 (MQTT-1.5.3-2 forbids it in topics
 * and Azure rejects it) or an unpaired UTF-16 surrogate (it has no UTF-8 form, MQTT-1.5.3-1). Everything else is
 * legal and gets percent-encoded.
 */
function validatePropertyText(text: unknown, field: string): asserts text is string {
  if (typeof text !== 'string') invalid(field, 'must be a string');
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0) invalid(field, `contains U+0000 (NUL) at index ${i}`);
    if (c >= 0xd800 && c <= 0xdfff) {
      const d = i + 1 < n ? text.charCodeAt(i + 1) : 0;
      if (c > 0xdbff || d < 0xdc00 || d > 0xdfff) invalid(field, `contains an unpaired surrogate at index ${i}`);
      i++;
    }
  }
}

/**
 * Throw `EINVAL` unless `key` can be a property-bag key: a non-empty string without U+0000 or unpaired surrogates.
 * Any other character is allowed and percent-encoded on the wire.
 * @param field the name used in the error message (default `propBag key`)
 * @see https://learn.microsoft.com/azure/iot/iot-mqtt-connect-to-iot-hub#sending-device-to-cloud-messages
 */
export function validatePropertyKey(key: unknown, field = 'propBag key'): asserts key is string {
  validatePropertyText(key, field);
  if (key.length === 0) invalid(field, 'must not be empty');
}

/**
 * Throw `EINVAL` unless `value` can be a property-bag value: `null`/`undefined` (written `key`), `''` (written
 * `key=`), or a string without U+0000 or unpaired surrogates.
 * @param field the name used in the error message (default `propBag value`)
 */
export function validatePropertyValue(value: unknown, field = 'propBag value'): asserts value is string | null | undefined {
  if (value === null || value === undefined) return;
  validatePropertyText(value, field);
}

/**
 * Throw `EINVAL` unless `hostname` is a non-empty host name (with optional `:port`) that can be embedded in a
 * username or a SAS resource: printable ASCII without `/ ? # +` or space.
 * @param field the name used in the error message (default `hostname`)
 */
export function validateHostname(hostname: unknown, field = 'hostname'): asserts hostname is string {
  if (typeof hostname !== 'string') invalid(field, 'must be a string');
  if (hostname.length === 0) invalid(field, 'must not be empty');
  if (!TOKEN_RE.test(hostname) || TOKEN_FORBIDDEN_RE.test(hostname)) {
    invalid(field, 'must be a host name (printable ASCII without / ? # + or space)');
  }
}

/**
 * Throw `EINVAL` unless `idScope` is a DPS id scope (for example `0ne00000A0A`): non-empty printable ASCII without
 * `/ ? # +` or space.
 * @param field the name used in the error message (default `idScope`)
 * @see https://learn.microsoft.com/azure/iot-dps/concepts-service#id-scope
 */
export function validateIdScope(idScope: unknown, field = 'idScope'): asserts idScope is string {
  if (typeof idScope !== 'string') invalid(field, 'must be a string');
  if (idScope.length === 0) invalid(field, 'must not be empty');
  if (!TOKEN_RE.test(idScope) || TOKEN_FORBIDDEN_RE.test(idScope)) {
    invalid(field, 'must be printable ASCII without / ? # + or space');
  }
}
