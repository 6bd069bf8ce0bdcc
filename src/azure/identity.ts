/**
 * Who the device is on the wire: the MQTT client id and username for IoT Hub (device or module identity, optional
 * IoT Plug and Play model id) and for the Device Provisioning Service.
 *
 * @see https://learn.microsoft.com/azure/iot/iot-mqtt-connect-to-iot-hub#using-the-mqtt-protocol-directly-as-a-device
 * @see https://learn.microsoft.com/azure/iot-dps/iot-dps-mqtt-support
 */
import { percentEncode } from './property-bag.js';
import {
  validateDeviceId,
  validateHostname,
  validateIdScope,
  validateModelId,
  validateModuleId,
  validateRegistrationId,
} from './validate.js';

/** IoT Hub service API version sent in the username (the current documented value). */
export const API_VERSION = '2021-04-12';

/** DPS service API version sent in the DPS username. */
export const DPS_API_VERSION = '2019-03-31';

/** A device identity, or a module identity when `moduleId` is set. */
export interface AzureIotHubIdentity {
  deviceId: string;
  moduleId?: string | undefined;
}

/** Options of {@link hubUsername}. */
export interface HubUsernameOptions {
  /** IoT Plug and Play model id (DTMI), sent URL-encoded as `&model-id=`. */
  modelId?: string | undefined;
  /** Service API version (default {@link API_VERSION}). */
  apiVersion?: string | undefined;
  /** Product string sent URL-encoded as `&DeviceClientType=` (absent by default). */
  deviceClientType?: string | undefined;
}

function validateIdentity(identity: AzureIotHubIdentity): void {
  validateDeviceId(identity.deviceId);
  if (identity.moduleId !== undefined) validateModuleId(identity.moduleId);
}

/**
 * The MQTT client id for IoT Hub: `deviceId`, or `deviceId/moduleId` for a module.
 * Throws `EINVAL` for an invalid id.
 */
export function hubClientId(identity: AzureIotHubIdentity): string {
  validateIdentity(identity);
  return identity.moduleId === undefined ? identity.deviceId : `${identity.deviceId}/${identity.moduleId}`;
}

/**
 * The MQTT username for IoT Hub: `{hostname}/{deviceId}/?api-version=2021-04-12`, for a module
 * `{hostname}/{deviceId}/{moduleId}/?api-version=...`, followed by `&DeviceClientType={urlenc}` and
 * `&model-id={urlenc(dtmi)}` when given. Throws `EINVAL` for an invalid host, id or model id.
 * @see https://learn.microsoft.com/azure/iot/iot-mqtt-connect-to-iot-hub#using-the-mqtt-protocol-directly-as-a-device
 * @see https://learn.microsoft.com/azure/iot/concepts-developer-guide-device#model-id-announcement
 */
export function hubUsername(hostname: string, identity: AzureIotHubIdentity, options: HubUsernameOptions = {}): string {
  validateHostname(hostname);
  const apiVersion = options.apiVersion ?? API_VERSION;
  let out = `${hostname}/${hubClientId(identity)}/?api-version=${percentEncode(apiVersion, 'apiVersion')}`;
  if (options.deviceClientType !== undefined) {
    out += `&DeviceClientType=${percentEncode(options.deviceClientType, 'deviceClientType')}`;
  }
  if (options.modelId !== undefined) {
    validateModelId(options.modelId);
    out += `&model-id=${percentEncode(options.modelId, 'modelId')}`;
  }
  return out;
}

/** The MQTT client id for DPS: the registration id. Throws `EINVAL` for an invalid registration id. */
export function dpsClientId(registrationId: string): string {
  validateRegistrationId(registrationId);
  return registrationId;
}

/**
 * The MQTT username for DPS: `{idScope}/registrations/{registrationId}/api-version=2019-03-31` (no `?`), followed by
 * `&ClientVersion={urlenc}` when `clientVersion` is given. Throws `EINVAL` for an invalid id scope or
 * registration id.
 * @see https://learn.microsoft.com/azure/iot-dps/iot-dps-mqtt-support#connecting-to-dps
 */
export function dpsUsername(idScope: string, registrationId: string, clientVersion?: string): string {
  validateIdScope(idScope);
  validateRegistrationId(registrationId);
  let out = `${idScope}/registrations/${registrationId}/api-version=${DPS_API_VERSION}`;
  if (clientVersion !== undefined) out += `&ClientVersion=${percentEncode(clientVersion, 'clientVersion')}`;
  return out;
}
