/**
 * The device twin document as a device sees it: desired and reported properties, each with its `$version`.
 * @see https://learn.microsoft.com/azure/iot-hub/iot-hub-devguide-device-twins
 */
import { AzureIotHubError } from '../errors.js';

/** Desired or reported properties: any JSON members, plus `$version` (and `$metadata` when the hub sends it). */
export interface TwinProperties {
  [key: string]: unknown;
  $version: number;
}

/** The twin returned by `getTwin()`. */
export interface Twin {
  desired: TwinProperties;
  reported: TwinProperties;
}

const decoder = new TextDecoder();

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parse a twin GET response body. Never throws: a malformed document is an `EPROTO` error value. */
export function parseTwin(payload: Uint8Array | string): Twin | AzureIotHubError {
  let doc: unknown;
  try {
    doc = JSON.parse(typeof payload === 'string' ? payload : decoder.decode(payload));
  } catch {
    return new AzureIotHubError('EPROTO', 'the twin document is not valid JSON');
  }
  if (!isObject(doc) || !isObject(doc['desired']) || !isObject(doc['reported'])) {
    return new AzureIotHubError('EPROTO', 'the twin document lacks "desired" or "reported" objects');
  }
  const desired = doc['desired'];
  const reported = doc['reported'];
  if (typeof desired['$version'] !== 'number' || typeof reported['$version'] !== 'number') {
    return new AzureIotHubError('EPROTO', 'the twin document lacks a numeric $version');
  }
  return { desired: desired as TwinProperties, reported: reported as TwinProperties };
}
