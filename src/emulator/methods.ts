/**
 * Direct methods, the service side: pending invocations keyed by request id, each resolved by the device's
 * response on `$iothub/methods/res/{status}/?$rid={rid}` or by its timeout (504), as IoT Hub answers the caller.
 *
 * @see https://learn.microsoft.com/azure/iot-hub/iot-hub-devguide-direct-methods
 */

/** What `invokeMethod` resolves with: the device's status and payload, or IoT Hub's own error. */
export interface MethodResult {
  /** The device's status, or 404 (device not online / not subscribed) or 504 (no answer in time). */
  status: number;
  /** The response payload parsed as JSON; `null` for an empty payload; the text when it is not JSON. */
  payload: unknown;
  /** The response payload bytes (empty for IoT Hub's own errors). */
  rawPayload: Uint8Array;
}

/** Options of `invokeMethod`. */
export interface InvokeMethodOptions {
  /** How long to wait for the device's response, ms (default 30 000; IoT Hub allows 5 s to 300 s). */
  timeoutMs?: number;
  /** Hub, when the device is registered on several. */
  hub?: string;
}

/** Default response timeout (ms), as the service SDKs use. */
export const DEFAULT_METHOD_TIMEOUT_MS = 30_000;

interface Pending {
  deviceId: string;
  resolve: (r: MethodResult) => void;
  timer: NodeJS.Timeout;
}

/** IoT Hub's error answer (its JSON shape: errorCode = status * 1000 + detail). */
export function methodError(status: 404 | 504, errorCode: number, message: string): MethodResult {
  return { status, payload: { errorCode, message }, rawPayload: new Uint8Array(0) };
}

/** Parse a response payload: JSON when it parses, `null` when empty, the text otherwise. */
export function parseMethodPayload(bytes: Uint8Array): unknown {
  if (bytes.length === 0) return null;
  const text = new TextDecoder().decode(bytes);
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** Pending invocations of one emulator. */
export class MethodInvocations {
  readonly #pending = new Map<string, Pending>();
  #next = 1;

  /** A new request id. */
  nextRid(): string {
    return String(this.#next++);
  }

  /** Wait for the response to `rid`; resolves with 504 after `timeoutMs`. */
  wait(rid: string, deviceId: string, timeoutMs: number): Promise<MethodResult> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#pending.delete(rid);
        resolve(methodError(504, 504101, 'Timed out waiting for the response from device.'));
      }, timeoutMs);
      this.#pending.set(rid, { deviceId, resolve, timer });
    });
  }

  /** Settle `rid` with the device's response; false when no invocation is pending for it from `deviceId`. */
  respond(rid: string, deviceId: string, status: number, payload: Uint8Array): boolean {
    const p = this.#pending.get(rid);
    if (p === undefined || p.deviceId !== deviceId) return false;
    this.#pending.delete(rid);
    clearTimeout(p.timer);
    const raw = payload.slice();
    p.resolve({ status, payload: parseMethodPayload(raw), rawPayload: raw });
    return true;
  }

  /** Settle everything pending with 504 (the emulator closes). */
  cancelAll(): void {
    for (const [rid, p] of this.#pending) {
      clearTimeout(p.timer);
      this.#pending.delete(rid);
      p.resolve(methodError(504, 504101, 'Timed out waiting for the response from device.'));
    }
  }
}
