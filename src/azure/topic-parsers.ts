/**
 * IoT Hub topic parsers. Each answers `undefined` for "not my topic" (or a topic of its kind that is malformed:
 * missing `$rid`, a status that is not three digits, ...), so incoming topics are routed by trying the parsers in
 * turn ({@link routeHubTopic}). Prefixes are matched from the start of the topic and query keys are matched
 * exactly, so `$iothub/twin/rez/200`, a key that is a prefix of another key (`$ridx`), or a value equal to a key's
 * name (`?a=$rid`) are never mistaken for what they are not.
 *
 * Request ids are opaque: `rid` is returned exactly as received (not percent-decoded), so that a method response
 * echoes it byte for byte. Property bags of cloud-to-device messages are percent-decoded.
 *
 * @see https://learn.microsoft.com/azure/iot/iot-mqtt-connect-to-iot-hub
 */
import type { AzureIotHubIdentity } from './identity.js';
import { decodePropertyBag, percentDecode } from './property-bag.js';
import type { AzureIotHubPropBag } from './types.js';
import { isValidRequestId } from './validate.js';

/** A cloud-to-device message (or, for a module, an input message) and its decoded property bag. */
export interface DeviceboundTopic {
  kind: 'devicebound';
  deviceId: string;
  /** Set for module topics (`devices/{d}/modules/{m}/...`). */
  moduleId?: string;
  /** The input name of a module input message (`devices/{d}/modules/{m}/inputs/{input}/...`). */
  inputName?: string;
  /** The decoded property bag, in topic order (empty when there is none). */
  propBag: AzureIotHubPropBag[];
}

/** A response to a twin GET (200) or reported PATCH (204), or a failure status. */
export interface TwinResponseTopic {
  kind: 'twinResponse';
  status: number;
  /** The request id, verbatim. */
  rid: string;
  /** The new reported-properties version (`$version`), on a PATCH response. */
  version?: number;
}

/** A desired-properties update. */
export interface TwinDesiredTopic {
  kind: 'twinDesired';
  /** The new desired-properties version (`$version`), when the topic carries it (Azure always sends it). */
  version?: number;
}

/** A direct-method request. */
export interface MethodRequestTopic {
  kind: 'methodRequest';
  /** The method name, verbatim. */
  name: string;
  /** The request id, verbatim: answer with the same value. */
  rid: string;
}

/** Any topic the hub publishes to a device, as {@link routeHubTopic} classifies it. */
export type ParsedHubTopic = DeviceboundTopic | TwinResponseTopic | TwinDesiredTopic | MethodRequestTopic;

const TWIN_RES_PREFIX = '$iothub/twin/res/';
const TWIN_DESIRED_PREFIX = '$iothub/twin/PATCH/properties/desired';
const METHOD_PREFIX = '$iothub/methods/POST/';
const DEVICES_PREFIX = 'devices/';
const STATUS_RE = /^[0-9]{3}$/;
const DECIMAL_RE = /^[0-9]{1,15}$/;

/**
 * The raw value of the first `key` in a query string (`a=1&b&c=`): the text after the first `=`, `null` for an item
 * without `=`, `undefined` when absent. Keys are compared after percent-decoding (so `%24rid` is `$rid`), values
 * are returned undecoded.
 * @internal shared with the DPS parser
 */
export function queryValue(query: string, key: string): string | null | undefined {
  if (query.length === 0) return undefined;
  for (const item of query.split('&')) {
    const eq = item.indexOf('=');
    const rawKey = eq === -1 ? item : item.slice(0, eq);
    if (rawKey === key || percentDecode(rawKey) === key) return eq === -1 ? null : item.slice(eq + 1);
  }
  return undefined;
}

/**
 * A non-negative decimal integer of at most 15 digits, or `undefined` for anything else (sign, space, hex, empty).
 * @internal shared with the DPS parser
 */
export function parseDecimal(text: string | null | undefined): number | undefined {
  if (typeof text !== 'string' || !DECIMAL_RE.test(text)) return undefined;
  return Number(text);
}

/**
 * A three-digit status, or `undefined`.
 * @internal shared with the DPS parser
 */
export function parseStatus(text: string): number | undefined {
  return STATUS_RE.test(text) ? Number(text) : undefined;
}

/**
 * Split `{status}/?{query}` (the part after a response prefix) into its status and query; the `?` is optional.
 * @internal shared with the DPS parser
 */
export function splitStatusAndQuery(rest: string): { status: number; query: string } | undefined {
  const slash = rest.indexOf('/');
  if (slash === -1) return undefined;
  const status = parseStatus(rest.slice(0, slash));
  if (status === undefined) return undefined;
  return { status, query: stripQuestionMark(rest.slice(slash + 1)) };
}

function stripQuestionMark(s: string): string {
  return s.charCodeAt(0) === 0x3f /* ? */ ? s.slice(1) : s;
}

/** The `$rid` of a query if it is a valid request id, else `undefined`. */
function ridOf(query: string): string | undefined {
  const rid = queryValue(query, '$rid');
  return isValidRequestId(rid) ? rid : undefined;
}

/**
 * `$version` absent: `null`; present and decimal: the number; present and malformed: `undefined`.
 */
function versionOf(query: string): number | null | undefined {
  const raw = queryValue(query, '$version');
  if (raw === undefined) return null;
  return parseDecimal(raw);
}

/**
 * A cloud-to-device topic: `devices/{deviceId}/messages/devicebound/{bag}` (the MS doc example puts a `?` before the
 * bag; both forms are accepted), or for a module `devices/{d}/modules/{m}/inputs/{input}/{bag}` and
 * `devices/{d}/modules/{m}/messages/devicebound/{bag}`. With `identity`, the ids in the topic must match it.
 * @see https://learn.microsoft.com/azure/iot/iot-mqtt-connect-to-iot-hub#receiving-cloud-to-device-messages
 */
export function parseDeviceboundTopic(topic: string, identity?: AzureIotHubIdentity): DeviceboundTopic | undefined {
  if (!topic.startsWith(DEVICES_PREFIX)) return undefined;
  let pos = DEVICES_PREFIX.length;
  const idEnd = topic.indexOf('/', pos);
  if (idEnd <= pos) return undefined;
  const deviceId = topic.slice(pos, idEnd);
  pos = idEnd + 1;
  let moduleId: string | undefined;
  let inputName: string | undefined;
  if (topic.startsWith('modules/', pos)) {
    pos += 'modules/'.length;
    const modEnd = topic.indexOf('/', pos);
    if (modEnd <= pos) return undefined;
    moduleId = topic.slice(pos, modEnd);
    pos = modEnd + 1;
    if (topic.startsWith('inputs/', pos)) {
      pos += 'inputs/'.length;
      let inEnd = topic.indexOf('/', pos);
      if (inEnd === -1) inEnd = topic.length;
      if (inEnd === pos) return undefined;
      inputName = topic.slice(pos, inEnd);
      pos = inEnd;
    } else if (topic.startsWith('messages/devicebound', pos)) {
      pos += 'messages/devicebound'.length;
    } else {
      return undefined;
    }
  } else if (topic.startsWith('messages/devicebound', pos)) {
    pos += 'messages/devicebound'.length;
  } else {
    return undefined;
  }
  // `#` also matches the parent level, so `.../devicebound` without a trailing slash is the same topic, bag-less.
  if (pos < topic.length && topic.charCodeAt(pos) !== 0x2f /* / */) return undefined;
  const bag = pos < topic.length ? stripQuestionMark(topic.slice(pos + 1)) : '';
  if (identity !== undefined && (identity.deviceId !== deviceId || identity.moduleId !== moduleId)) return undefined;
  const out: DeviceboundTopic = { kind: 'devicebound', deviceId, propBag: decodePropertyBag(bag) };
  if (moduleId !== undefined) out.moduleId = moduleId;
  if (inputName !== undefined) out.inputName = inputName;
  return out;
}

/**
 * A twin response: `$iothub/twin/res/{status}/?$rid={rid}[&$version={v}]`. Needs a three-digit status and a valid
 * `$rid`; `$version`, when present, must be decimal.
 * @see https://learn.microsoft.com/azure/iot/iot-mqtt-connect-to-iot-hub#retrieving-a-device-twins-properties
 */
export function parseTwinResponseTopic(topic: string): TwinResponseTopic | undefined {
  if (!topic.startsWith(TWIN_RES_PREFIX)) return undefined;
  const parts = splitStatusAndQuery(topic.slice(TWIN_RES_PREFIX.length));
  if (parts === undefined) return undefined;
  const rid = ridOf(parts.query);
  if (rid === undefined) return undefined;
  const version = versionOf(parts.query);
  if (version === undefined) return undefined;
  const out: TwinResponseTopic = { kind: 'twinResponse', status: parts.status, rid };
  if (version !== null) out.version = version;
  return out;
}

/**
 * A desired-properties update: `$iothub/twin/PATCH/properties/desired/?$version={v}`. A missing `$version` is
 * accepted (the payload carries `$version` too); a non-decimal one makes the topic malformed.
 * @see https://learn.microsoft.com/azure/iot/iot-mqtt-connect-to-iot-hub#receiving-desired-properties-update-notifications
 */
export function parseTwinDesiredTopic(topic: string): TwinDesiredTopic | undefined {
  if (!topic.startsWith(TWIN_DESIRED_PREFIX)) return undefined;
  let rest = topic.slice(TWIN_DESIRED_PREFIX.length);
  if (rest.length > 0) {
    if (rest.charCodeAt(0) !== 0x2f /* / */) return undefined;
    rest = stripQuestionMark(rest.slice(1));
  }
  const version = versionOf(rest);
  if (version === undefined) return undefined;
  return version === null ? { kind: 'twinDesired' } : { kind: 'twinDesired', version };
}

/**
 * A direct-method request: `$iothub/methods/POST/{name}/?$rid={rid}`. Needs a non-empty name and a valid `$rid`.
 * @see https://learn.microsoft.com/azure/iot/iot-mqtt-connect-to-iot-hub#respond-to-a-direct-method
 */
export function parseMethodRequestTopic(topic: string): MethodRequestTopic | undefined {
  if (!topic.startsWith(METHOD_PREFIX)) return undefined;
  const start = METHOD_PREFIX.length;
  const nameEnd = topic.indexOf('/', start);
  if (nameEnd <= start) return undefined;
  const rid = ridOf(stripQuestionMark(topic.slice(nameEnd + 1)));
  if (rid === undefined) return undefined;
  return { kind: 'methodRequest', name: topic.slice(start, nameEnd), rid };
}

/**
 * Route a topic received from IoT Hub through the parsers: twin response, desired update, method request,
 * cloud-to-device (checked against `identity` when given). `undefined` when no parser claims it.
 */
export function routeHubTopic(topic: string, identity?: AzureIotHubIdentity): ParsedHubTopic | undefined {
  return (
    parseTwinResponseTopic(topic) ??
    parseTwinDesiredTopic(topic) ??
    parseMethodRequestTopic(topic) ??
    parseDeviceboundTopic(topic, identity)
  );
}
