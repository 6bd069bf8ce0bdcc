/**
 * Property bags: the `key=value&key&key=` query string that IoT Hub appends to telemetry and cloud-to-device topics.
 *
 * Keys and values are RFC 3986 percent-encoded on the way out (everything except the unreserved characters
 * `A-Z a-z 0-9 - . _ ~`, as UTF-8 bytes with upper-case hex), so a bag can never add a topic level (`/`), a
 * property (`&`), split a key from its value (`=`), or carry an MQTT wildcard (`+`, `#`). On the way in they are
 * percent-decoded. `key`, `key=` and `key=value` keep their three meanings (`null`, `''`, `'value'`); nothing is
 * dropped and there is no count limit (unlike the nRF Connect SDK C library).
 *
 * @see https://learn.microsoft.com/azure/iot/iot-mqtt-connect-to-iot-hub#sending-device-to-cloud-messages
 * @see https://learn.microsoft.com/azure/iot/iot-mqtt-connect-to-iot-hub#receiving-cloud-to-device-messages
 * @see https://www.rfc-editor.org/rfc/rfc3986#section-2.1
 */
import { AzureIotHubError } from '../errors.js';
import type { AzureIotHubPropBag } from './types.js';
import { validatePropertyKey, validatePropertyValue } from './validate.js';

/**
 * Names of IoT Hub system properties, decoded (the bag encoder writes `$` as `%24`, so `$.ct` goes on the wire as
 * `%24.ct`). Application properties have no prefix.
 * @see https://learn.microsoft.com/azure/iot-hub/iot-hub-devguide-messages-construct
 */
export const SystemProperty = Object.freeze({
  /** `$.mid`: message id. */
  MESSAGE_ID: '$.mid',
  /** `$.cid`: correlation id. */
  CORRELATION_ID: '$.cid',
  /** `$.uid`: user id. */
  USER_ID: '$.uid',
  /** `$.ct`: content type, for example `application/json` (needed for body-based routing). */
  CONTENT_TYPE: '$.ct',
  /** `$.ce`: content encoding, for example `utf-8` (needed for body-based routing). */
  CONTENT_ENCODING: '$.ce',
  /** `$.ctime`: creation time (ISO 8601). */
  CREATION_TIME: '$.ctime',
  /** `$.sub`: IoT Plug and Play component name. */
  COMPONENT_NAME: '$.sub',
  /** `$.to`: destination, on cloud-to-device messages (`/devices/{id}/messages/devicebound`). */
  TO: '$.to',
  /** `$.exp`: expiry time, on cloud-to-device messages. */
  EXPIRY: '$.exp',
} as const);
/** One of the {@link SystemProperty} names. */
export type SystemProperty = (typeof SystemProperty)[keyof typeof SystemProperty];

const UNRESERVED = /^[A-Za-z0-9\-._~]*$/;
// encodeURIComponent leaves these five sub-delims alone; RFC 3986 percent-encoding of a query component does not.
const SUB_DELIMS_LEFT = /[!'()*]/g;

function hex(c: string): string {
  return '%' + c.charCodeAt(0).toString(16).toUpperCase();
}

/**
 * RFC 3986 percent-encoding: every character except `A-Z a-z 0-9 - . _ ~` becomes `%XX` per UTF-8 byte, with
 * upper-case hex (RFC 3986 section 2.1). So `$` is `%24`, space `%20`, `/` `%2F`, `é` `%C3%A9`.
 *
 * Throws `EINVAL` for U+0000 and unpaired surrogates (see {@link validatePropertyValue}).
 * @param field the name used in an error message (default `value`)
 * @see https://www.rfc-editor.org/rfc/rfc3986#section-2.1
 */
export function percentEncode(text: string, field = 'value'): string {
  if (UNRESERVED.test(text)) return text;
  validatePropertyValue(text, field);
  return encodeURIComponent(text).replace(SUB_DELIMS_LEFT, hex);
}

/**
 * Decode RFC 3986 percent-escapes (`%XX`, UTF-8). Returns `undefined` when the text is malformed: a `%` not followed
 * by two hex digits, or escapes that do not form well-formed UTF-8 (overlong forms, surrogates, truncated
 * sequences). `+` stays `+` (this is not `application/x-www-form-urlencoded`; MQTT topics cannot hold `+` anyway).
 */
export function percentDecode(text: string): string | undefined {
  if (text.indexOf('%') === -1) return text;
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}

/**
 * Encode a property bag as `key=value&key&key=` (no leading `?`, which Azure would treat as part of the first key).
 * `value`: a string gives `key=value`, `''` gives `key=`, `null`/`undefined` gives `key`. Keys and values are
 * percent-encoded with {@link percentEncode}. An empty or absent bag gives `''`.
 *
 * Throws `EINVAL` naming the property (by index) for an empty key, U+0000 or an unpaired surrogate.
 * @see https://learn.microsoft.com/azure/iot/iot-mqtt-connect-to-iot-hub#sending-device-to-cloud-messages
 */
export function encodePropertyBag(props: readonly AzureIotHubPropBag[] | undefined): string {
  if (props === undefined || props.length === 0) return '';
  let out = '';
  for (let i = 0; i < props.length; i++) {
    const prop = props[i];
    if (typeof prop !== 'object' || prop === null) {
      throw new AzureIotHubError('EINVAL', `propBag[${i}] must be an object { key, value? }`);
    }
    validatePropertyKey(prop.key, `propBag[${i}].key`);
    validatePropertyValue(prop.value, `propBag[${i}].value`);
    if (i > 0) out += '&';
    out += percentEncode(prop.key, `propBag[${i}].key`);
    if (prop.value !== null && prop.value !== undefined) out += '=' + percentEncode(prop.value, `propBag[${i}].value`);
  }
  return out;
}

/**
 * Decode a property bag (`key=value&key&key=`, without the leading `?`; strip it first if the topic has one).
 * Returns one entry per non-empty `&`-separated item, in order, duplicates kept: `key` gives `value: null`, `key=`
 * gives `''`, `key=value` gives `'value'`; the first `=` separates key and value, so a value may contain raw `=`.
 *
 * Never throws. A key or value with a malformed percent-escape (see {@link percentDecode}) is kept raw, exactly as
 * received, so nothing is lost and the application can still see it. Empty items (`a=1&&b=2`, a trailing `&`) carry
 * nothing and are skipped.
 * @see https://learn.microsoft.com/azure/iot/iot-mqtt-connect-to-iot-hub#receiving-cloud-to-device-messages
 */
export function decodePropertyBag(bag: string): AzureIotHubPropBag[] {
  const out: AzureIotHubPropBag[] = [];
  if (bag.length === 0) return out;
  for (const item of bag.split('&')) {
    if (item.length === 0) continue;
    const eq = item.indexOf('=');
    if (eq === -1) {
      out.push({ key: percentDecode(item) ?? item, value: null });
    } else {
      const rawKey = item.slice(0, eq);
      const rawValue = item.slice(eq + 1);
      out.push({ key: percentDecode(rawKey) ?? rawKey, value: percentDecode(rawValue) ?? rawValue });
    }
  }
  return out;
}

/**
 * The first property whose key equals `key` exactly (decoded, case-sensitive), or `undefined`. A key that is a
 * prefix of another key, or a value equal to `key`, never matches.
 */
export function findProperty(bag: readonly AzureIotHubPropBag[] | undefined, key: string): AzureIotHubPropBag | undefined {
  if (bag === undefined) return undefined;
  for (const prop of bag) if (prop.key === key) return prop;
  return undefined;
}
