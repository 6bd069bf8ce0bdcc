/**
 * IoT Hub topic builders: the topic filters a device subscribes to, the topics it publishes on (telemetry with a
 * property bag, twin GET and reported PATCH, method responses), and a request-id (`$rid`) generator.
 *
 * @see https://learn.microsoft.com/azure/iot/iot-mqtt-connect-to-iot-hub
 */
import { AzureIotHubError } from '../errors.js';
import type { AzureIotHubIdentity } from './identity.js';
import { encodePropertyBag } from './property-bag.js';
import type { AzureIotHubPropBag } from './types.js';
import { validateDeviceId, validateModuleId, validateRequestId } from './validate.js';

/**
 * Filter for twin responses (`$iothub/twin/res/{status}/?$rid={rid}[&$version={v}]`).
 * @see https://learn.microsoft.com/azure/iot/iot-mqtt-connect-to-iot-hub#retrieving-a-device-twins-properties
 */
export const TWIN_RESPONSE_SUBSCRIBE_TOPIC = '$iothub/twin/res/#';

/**
 * Filter for desired-property updates (`$iothub/twin/PATCH/properties/desired/?$version={v}`).
 * @see https://learn.microsoft.com/azure/iot/iot-mqtt-connect-to-iot-hub#receiving-desired-properties-update-notifications
 */
export const TWIN_DESIRED_SUBSCRIBE_TOPIC = '$iothub/twin/PATCH/properties/desired/#';

/**
 * Filter for direct-method requests (`$iothub/methods/POST/{name}/?$rid={rid}`).
 * @see https://learn.microsoft.com/azure/iot/iot-mqtt-connect-to-iot-hub#respond-to-a-direct-method
 */
export const METHODS_SUBSCRIBE_TOPIC = '$iothub/methods/POST/#';

function validateIdentity(identity: AzureIotHubIdentity): void {
  validateDeviceId(identity.deviceId);
  if (identity.moduleId !== undefined) validateModuleId(identity.moduleId);
}

/**
 * Filter for cloud-to-device messages: `devices/{deviceId}/messages/devicebound/#`; for a module
 * `devices/{deviceId}/modules/{moduleId}/#` (the documented module filter; module messages arrive on
 * `.../modules/{moduleId}/inputs/{input}/...`). Throws `EINVAL` for an invalid id.
 * @see https://learn.microsoft.com/azure/iot/iot-mqtt-connect-to-iot-hub#receiving-cloud-to-device-messages
 */
export function deviceboundSubscribeTopic(identity: AzureIotHubIdentity): string {
  validateIdentity(identity);
  return identity.moduleId === undefined
    ? `devices/${identity.deviceId}/messages/devicebound/#`
    : `devices/${identity.deviceId}/modules/${identity.moduleId}/#`;
}

/**
 * The four filters a device subscribes to, in this order: cloud-to-device ({@link deviceboundSubscribeTopic}),
 * twin responses, desired-property updates, direct methods. (Azure allows at most five subscriptions.)
 */
export function subscribeTopics(identity: AzureIotHubIdentity): [string, string, string, string] {
  return [
    deviceboundSubscribeTopic(identity),
    TWIN_RESPONSE_SUBSCRIBE_TOPIC,
    TWIN_DESIRED_SUBSCRIBE_TOPIC,
    METHODS_SUBSCRIBE_TOPIC,
  ];
}

/**
 * The telemetry (device-to-cloud) topic: `devices/{deviceId}/messages/events/{bag}`, for a module
 * `devices/{deviceId}/modules/{moduleId}/messages/events/{bag}`, where `{bag}` is the percent-encoded property bag
 * (see {@link encodePropertyBag}; empty when there are no properties, and never prefixed by `?`).
 * Throws `EINVAL` for an invalid id or property.
 * @see https://learn.microsoft.com/azure/iot/iot-mqtt-connect-to-iot-hub#sending-device-to-cloud-messages
 */
export function telemetryTopic(identity: AzureIotHubIdentity, propBag?: readonly AzureIotHubPropBag[]): string {
  validateIdentity(identity);
  const base =
    identity.moduleId === undefined
      ? `devices/${identity.deviceId}/messages/events/`
      : `devices/${identity.deviceId}/modules/${identity.moduleId}/messages/events/`;
  return base + encodePropertyBag(propBag);
}

/**
 * Twin document request: `$iothub/twin/GET/?$rid={rid}` (publish with an empty payload).
 * Throws `EINVAL` for an invalid request id (see {@link validateRequestId}).
 * @see https://learn.microsoft.com/azure/iot/iot-mqtt-connect-to-iot-hub#retrieving-a-device-twins-properties
 */
export function twinGetTopic(rid: string): string {
  validateRequestId(rid);
  return `$iothub/twin/GET/?$rid=${rid}`;
}

/**
 * Reported-properties update: `$iothub/twin/PATCH/properties/reported/?$rid={rid}` (publish the JSON patch).
 * Throws `EINVAL` for an invalid request id.
 * @see https://learn.microsoft.com/azure/iot/iot-mqtt-connect-to-iot-hub#update-device-twins-reported-properties
 */
export function twinReportedTopic(rid: string): string {
  validateRequestId(rid);
  return `$iothub/twin/PATCH/properties/reported/?$rid=${rid}`;
}

/**
 * Direct-method response: `$iothub/methods/res/{status}/?$rid={rid}`, where `rid` is the request's, verbatim.
 * `status` must be an integer (any 32-bit signed value; the service passes it to the caller).
 * Throws `EINVAL` for a bad status or request id.
 * @see https://learn.microsoft.com/azure/iot/iot-mqtt-connect-to-iot-hub#respond-to-a-direct-method
 */
export function methodResponseTopic(status: number, rid: string): string {
  if (!Number.isInteger(status) || status < -2147483648 || status > 2147483647) {
    throw new AzureIotHubError('EINVAL', 'status must be a 32-bit integer');
  }
  validateRequestId(rid);
  return `$iothub/methods/res/${status}/?$rid=${rid}`;
}

/** Anything that can say whether a request id is still waiting for its response (a `Set`, a `Map`, ...). */
export interface OutstandingRequests {
  has(rid: string): boolean;
}

/**
 * Request ids (`$rid`) for twin and DPS requests: unsigned decimal strings `"1"`, `"2"`, ... increasing per
 * instance (create one per connection, or call {@link RequestIdGenerator.reset}). Never negative, never `"0"`,
 * and never one that `outstanding` still holds. After `Number.MAX_SAFE_INTEGER` it wraps to `"1"`.
 *
 * Pure apart from its counter: no clock, no randomness.
 */
export class RequestIdGenerator {
  #next: number;

  /** @param start the first id to hand out (default 1; must be a positive safe integer). */
  constructor(start = 1) {
    if (!Number.isSafeInteger(start) || start < 1) {
      throw new AzureIotHubError('EINVAL', 'start must be a positive safe integer');
    }
    this.#next = start;
  }

  /**
   * The next request id not held by `outstanding`. Throws `ENOBUFS` only if every id in
   * 1..`Number.MAX_SAFE_INTEGER` is outstanding, which no bounded table can reach.
   */
  next(outstanding?: OutstandingRequests): string {
    for (let tries = 0; tries < Number.MAX_SAFE_INTEGER; tries++) {
      const id = String(this.#next);
      this.#next = this.#next >= Number.MAX_SAFE_INTEGER ? 1 : this.#next + 1;
      if (outstanding === undefined || !outstanding.has(id)) return id;
    }
    throw new AzureIotHubError('ENOBUFS', 'no free request id');
  }

  /** Start again from `start` (default 1), for a new connection. */
  reset(start = 1): void {
    if (!Number.isSafeInteger(start) || start < 1) {
      throw new AzureIotHubError('EINVAL', 'start must be a positive safe integer');
    }
    this.#next = start;
  }
}
