/**
 * Reconnect policy: capped exponential backoff with full jitter, as a pure function so that tests pass their own
 * `random` and get exact delays.
 *
 * @see https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/ (full jitter)
 * @see https://learn.microsoft.com/azure/iot/concepts-manage-device-reconnections (Azure's retry guidance)
 */
import { AzureIotHubError } from '../errors.js';

/**
 * How the session reconnects after a lost connection or a failed attempt. Field names match the Azure layer's
 * `ReconnectPolicy`, so one object serves both.
 */
export interface ReconnectOptions {
  /** Cap of the first retry's delay in ms. Default 1000. */
  initialDelayMs?: number;
  /** Largest cap of any delay in ms. Default 60000. */
  maxDelayMs?: number;
  /** Growth of the cap per attempt. Default 2. */
  factor?: number;
  /** Give up after this many consecutive failed attempts. Default `Infinity` (never give up). */
  maxAttempts?: number;
  /**
   * Also retry after CONNACK 4/5 (bad user name or password, not authorized) or a TLS/certificate failure
   * (`EACCES`). Default false: retrying with the same credentials cannot succeed, so the session stops.
   */
  retryOnAuthFailure?: boolean;
}

/** The defaults of {@link ReconnectOptions}. */
export const DEFAULT_RECONNECT_OPTIONS: Readonly<Required<ReconnectOptions>> = Object.freeze({
  initialDelayMs: 1000,
  maxDelayMs: 60_000,
  factor: 2,
  maxAttempts: Infinity,
  retryOnAuthFailure: false,
});

/**
 * Delay in ms before retry number `attempt` (0 = the first retry):
 * `floor(random() * min(maxDelayMs, initialDelayMs * factor ** attempt))`, so in `[0, cap)` ("full jitter").
 * Pure: the same arguments always give the same result. A `random()` outside `[0, 1)` is clamped into it.
 *
 * @param attempt 0-based index of the retry; negative or fractional values are treated as 0 / truncated.
 * @param options the policy; missing fields take {@link DEFAULT_RECONNECT_OPTIONS}.
 * @param random a source of numbers in `[0, 1)` (default `Math.random`).
 */
export function reconnectDelay(
  attempt: number,
  options: ReconnectOptions = {},
  random: () => number = Math.random,
): number {
  const initial = options.initialDelayMs ?? DEFAULT_RECONNECT_OPTIONS.initialDelayMs;
  const max = options.maxDelayMs ?? DEFAULT_RECONNECT_OPTIONS.maxDelayMs;
  const factor = options.factor ?? DEFAULT_RECONNECT_OPTIONS.factor;
  const n = Number.isFinite(attempt) && attempt > 0 ? Math.floor(attempt) : 0;
  // factor ** n overflows to Infinity for large n; Math.min then gives the cap, never NaN (initial > 0 checked).
  const cap = Math.min(max, initial * factor ** n);
  let r = random();
  if (!(r >= 0)) r = 0; // NaN and negatives
  if (r >= 1) r = 1 - Number.EPSILON;
  return Math.floor(r * cap);
}

/**
 * Check a policy and fill in the defaults.
 * @throws AzureIotHubError `EINVAL` naming the bad field.
 */
export function resolveReconnectOptions(options: ReconnectOptions): Required<ReconnectOptions> {
  const o = { ...DEFAULT_RECONNECT_OPTIONS, ...stripUndefined(options) };
  const finiteNonNegative = (name: string, v: number): void => {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
      throw new AzureIotHubError('EINVAL', `reconnect.${name} must be a finite number >= 0`);
    }
  };
  finiteNonNegative('initialDelayMs', o.initialDelayMs);
  finiteNonNegative('maxDelayMs', o.maxDelayMs);
  if (typeof o.factor !== 'number' || !Number.isFinite(o.factor) || o.factor < 1) {
    throw new AzureIotHubError('EINVAL', 'reconnect.factor must be a finite number >= 1');
  }
  if (typeof o.maxAttempts !== 'number' || Number.isNaN(o.maxAttempts) || o.maxAttempts < 0) {
    throw new AzureIotHubError('EINVAL', 'reconnect.maxAttempts must be a number >= 0 (Infinity for no limit)');
  }
  if (typeof o.retryOnAuthFailure !== 'boolean') {
    throw new AzureIotHubError('EINVAL', 'reconnect.retryOnAuthFailure must be a boolean');
  }
  return o;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] !== undefined) out[k] = o[k];
  return out;
}

/**
 * Whether a failure is an authentication or certificate failure: CONNACK 4 (bad user name or password), CONNACK 5
 * (not authorized) or `EACCES` (TLS handshake or certificate failure, or the server closing a TLS connection before
 * CONNACK).
 */
export function isAuthFailure(err: AzureIotHubError): boolean {
  return err.code === 'EACCES' || (err.code === 'ECONNREFUSED' && (err.connack === 4 || err.connack === 5));
}

/**
 * Whether the session should retry after `err` under `options`:
 * - never after `EINVAL` (bad local configuration: options, credentials that do not load) or CONNACK 1/2
 *   (protocol version, client identifier rejected: retrying the same CONNECT cannot succeed);
 * - after an authentication failure ({@link isAuthFailure}) only with `retryOnAuthFailure`;
 * - otherwise yes (network errors, timeouts, CONNACK 3 server unavailable, `EPROTO`, `EMSGSIZE`).
 */
export function shouldRetry(err: AzureIotHubError, options: Pick<ReconnectOptions, 'retryOnAuthFailure'>): boolean {
  if (err.code === 'EINVAL') return false;
  if (err.code === 'ECONNREFUSED' && (err.connack === 1 || err.connack === 2)) return false;
  if (isAuthFailure(err)) return options.retryOnAuthFailure === true;
  return true;
}
