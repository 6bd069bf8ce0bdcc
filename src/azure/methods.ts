/**
 * Direct-method helpers behind `onMethod()`: the request and response shapes, and turning a handler's answer into
 * a response payload.
 * @see https://learn.microsoft.com/azure/iot-hub/iot-hub-devguide-direct-methods
 */

/** What an `onMethod` handler receives. */
export interface MethodRequest {
  name: string;
  /** Request id; the library answers with it. */
  rid: string;
  /** The raw payload (JSON as sent by the service; empty when there is none). */
  payload: Uint8Array;
  /** The payload parsed as JSON; undefined when empty or not valid JSON. */
  body: unknown;
}

/** What an `onMethod` handler returns. */
export interface MethodResponse {
  /** Status returned to the service caller (an integer; 200 for success by convention). */
  status: number;
  /**
   * Response body: a `Uint8Array` or string is sent as it is (it should be JSON); any other value is sent as JSON;
   * undefined sends an empty body.
   */
  payload?: unknown;
}

/** A direct-method handler. A throw or rejection is answered with status 500 and `{"error": message}`. */
export type MethodHandler = (request: MethodRequest) => MethodResponse | Promise<MethodResponse>;

/** The name that registers a catch-all handler: `onMethod('*', handler)`. */
export const CATCH_ALL_METHOD = '*';

const decoder = new TextDecoder();

/** Parse a JSON payload; undefined when empty or invalid. */
export function parseJsonPayload(payload: Uint8Array): unknown {
  if (payload.length === 0) return undefined;
  try {
    return JSON.parse(decoder.decode(payload)) as unknown;
  } catch {
    return undefined;
  }
}

/** A response body on the wire. */
export function encodeResponsePayload(payload: unknown): Uint8Array | string {
  if (payload === undefined) return '';
  if (payload instanceof Uint8Array || typeof payload === 'string') return payload;
  return JSON.stringify(payload) ?? '';
}
