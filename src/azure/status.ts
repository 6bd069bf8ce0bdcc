/**
 * Status codes of IoT Hub and DPS responses (twin, direct methods, DPS registration) and the helpers that classify
 * them. The statuses are HTTP-like integers carried in the response topic (`$iothub/twin/res/{status}/...`,
 * `$dps/registrations/res/{status}/...`).
 *
 * @see https://learn.microsoft.com/azure/iot/iot-mqtt-connect-to-iot-hub#retrieving-a-device-twins-properties
 * @see https://learn.microsoft.com/azure/iot-dps/iot-dps-mqtt-support
 */
import type { AzureIotHubErrorCode } from '../errors.js';

/**
 * Statuses the hub and DPS send (the Azure SDK for Embedded C's `az_iot_status`).
 * @see https://learn.microsoft.com/azure/iot-central/core/troubleshoot-connection#error-codes
 */
export const AzureIotStatus = Object.freeze({
  OK: 200,
  ACCEPTED: 202,
  NO_CONTENT: 204,
  BAD_REQUEST: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  NOT_ALLOWED: 405,
  CONFLICT: 409,
  PRECONDITION_FAILED: 412,
  REQUEST_TOO_LARGE: 413,
  UNSUPPORTED_TYPE: 415,
  THROTTLED: 429,
  CLIENT_CLOSED: 499,
  SERVER_ERROR: 500,
  BAD_GATEWAY: 502,
  SERVICE_UNAVAILABLE: 503,
  TIMEOUT: 504,
} as const);

/**
 * Device twin statuses: GET answers 200; a reported-properties PATCH answers 204 (with the new `$version`);
 * 400 is a malformed request, 429 throttling, 5xx a service error.
 * @see https://learn.microsoft.com/azure/iot/iot-mqtt-connect-to-iot-hub#update-device-twins-reported-properties
 */
export const TwinStatus = Object.freeze({
  /** Twin document GET succeeded. */
  OK: 200,
  /** Reported-properties PATCH succeeded. */
  NO_CONTENT: 204,
  BAD_REQUEST: 400,
  THROTTLED: 429,
  SERVER_ERROR: 500,
} as const);

/**
 * Direct-method response statuses a device commonly sends (any integer is allowed; the service passes it to the
 * caller). `NOT_IMPLEMENTED` is what Microsoft's SDKs answer for a method without a handler.
 * @see https://learn.microsoft.com/azure/iot-hub/iot-hub-devguide-direct-methods
 */
export const MethodStatus = Object.freeze({
  OK: 200,
  BAD_REQUEST: 400,
  NOT_FOUND: 404,
  SERVER_ERROR: 500,
  NOT_IMPLEMENTED: 501,
} as const);

/**
 * DPS registration response statuses: 202 while the operation is running (poll after `retry-after`), 200 once it
 * has a final answer; anything else is an error (`errorCode` in the body, whose first three digits are the status).
 * @see https://learn.microsoft.com/azure/iot-dps/iot-dps-mqtt-support#registering-a-device
 */
export const DpsStatus = Object.freeze({
  OK: 200,
  ACCEPTED: 202,
  BAD_REQUEST: 400,
  UNAUTHORIZED: 401,
  NOT_FOUND: 404,
  THROTTLED: 429,
  SERVER_ERROR: 500,
} as const);

/** Whether `status` is a success: an integer from 200 to 299. */
export function isSuccessStatus(status: number): boolean {
  return Number.isInteger(status) && status >= 200 && status <= 299;
}

/**
 * Whether a request that failed with `status` is worth retrying: 429 (throttled) and every 5xx. The Azure SDK for
 * Embedded C's `az_iot_status_retriable` only names 429 and 500; 502, 503 and 504 are transient by definition too.
 */
export function isRetriableStatus(status: number): boolean {
  return status === 429 || (Number.isInteger(status) && status >= 500 && status <= 599);
}

/**
 * The status inside a DPS `errorCode` (a 6-digit extended code such as 401002: its first three digits),
 * or `undefined` when `errorCode` is not such a code.
 * @see https://learn.microsoft.com/azure/iot-dps/how-to-troubleshoot-dps#error-codes
 */
export function statusFromDpsErrorCode(errorCode: number): number | undefined {
  if (!Number.isInteger(errorCode) || errorCode < 100000 || errorCode > 999999) return undefined;
  return Math.floor(errorCode / 1000);
}

/**
 * The library error code that best describes a failed `status`: 400 `EINVAL`, 401/403 `EACCES`, 404 `ENOENT`,
 * 408/504 `ETIMEDOUT`, 413 `EMSGSIZE`, 429 `ENOBUFS` (throttled), anything else `EIO`.
 */
export function errorCodeForStatus(status: number): AzureIotHubErrorCode {
  switch (status) {
    case 400:
      return 'EINVAL';
    case 401:
    case 403:
      return 'EACCES';
    case 404:
      return 'ENOENT';
    case 408:
    case 504:
      return 'ETIMEDOUT';
    case 413:
      return 'EMSGSIZE';
    case 429:
      return 'ENOBUFS';
    default:
      return 'EIO';
  }
}
