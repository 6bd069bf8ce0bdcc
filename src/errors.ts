import { isBranded, MqttProtocolError } from './codec/errors.js';

export { MqttProtocolError };

/**
 * Stable error codes. They follow the errno names of the nRF Connect SDK C library where one fits.
 * The README has one table describing each.
 */
export type AzureIotHubErrorCode =
  | 'EINVAL'
  | 'EALREADY'
  | 'ENOENT'
  | 'EINPROGRESS'
  | 'ENOTCONN'
  | 'EMSGSIZE'
  | 'ETIMEDOUT'
  | 'ECONNREFUSED'
  | 'ECONNRESET'
  | 'EACCES'
  | 'EPROTO'
  | 'ENOBUFS'
  | 'ENOMSG'
  | 'ECANCELED'
  | 'EIO';

/** Extra facts an error can carry, each optional. */
export interface AzureIotHubErrorDetails {
  /** The underlying error (a socket error, a {@link MqttProtocolError}, ...). */
  cause?: unknown;
  /** The CONNACK return code, for `ECONNREFUSED`. */
  connack?: number;
  /** An Azure status (twin, method, DPS) or HTTP status, where the failure came with one. */
  status?: number;
  /** The MQTT 3.1.1 normative statement, for `EPROTO`. */
  rule?: string;
}

/**
 * The one error class of the library. `code` is stable and documented; `message` is for people and never contains
 * a key, SAS token or other secret.
 */
export class AzureIotHubError extends Error {
  /**
   * `instanceof` also holds for an instance made by another copy of this class (each bundled entry point of the
   * package, `azure-iot-hub` and `azure-iot-hub/emulator`, carries its own): they share a registered-symbol brand.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return Function.prototype[Symbol.hasInstance].call(this, value) || (this === AzureIotHubError && isBranded(value, ERROR_BRAND));
  }

  override readonly name = 'AzureIotHubError';
  readonly code: AzureIotHubErrorCode;
  readonly connack: number | undefined;
  readonly status: number | undefined;
  readonly rule: string | undefined;

  constructor(code: AzureIotHubErrorCode, message: string, details: AzureIotHubErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    this.connack = details.connack;
    this.status = details.status;
    this.rule = details.rule ?? (details.cause instanceof MqttProtocolError ? details.cause.rule : undefined);
  }
}

const ERROR_BRAND = Symbol.for('azure-iot-hub.AzureIotHubError');
Object.defineProperty(AzureIotHubError.prototype, ERROR_BRAND, { value: true });

/** Wrap anything thrown into an {@link AzureIotHubError}, keeping it as `cause`. */
export function toAzureIotHubError(err: unknown, fallback: AzureIotHubErrorCode, message?: string): AzureIotHubError {
  if (err instanceof AzureIotHubError) return err;
  if (err instanceof MqttProtocolError) {
    return new AzureIotHubError(err.code, message ?? err.message, { cause: err, rule: err.rule });
  }
  const text = err instanceof Error ? err.message : String(err);
  return new AzureIotHubError(fallback, message ?? text, { cause: err });
}
