import { describe, expect, it } from 'vitest';
import { AzureIotHubError } from '../../src/errors.js';
import {
  DEFAULT_RECONNECT_OPTIONS,
  isAuthFailure,
  reconnectDelay,
  resolveReconnectOptions,
  shouldRetry,
} from '../../src/transport/backoff.js';

describe('reconnectDelay (pure: attempt, options, random -> ms)', () => {
  const opts = { initialDelayMs: 1000, maxDelayMs: 30_000, factor: 2 };
  // [attempt, random, expected]: cap = min(30000, 1000 * 2 ** attempt), delay = floor(random * cap)
  const table: [number, number, number][] = [
    [0, 0, 0],
    [0, 0.5, 500],
    [0, 0.999, 999],
    [1, 0.5, 1000],
    [2, 0.25, 1000],
    [3, 1 - 1e-12, 7999],
    [4, 0.5, 8000],
    [5, 0.5, 15_000], // cap 30000 reached at attempt 5 (32000 -> 30000)
    [6, 0.5, 15_000],
    [50, 0.5, 15_000],
    [5000, 0.5, 15_000], // 2 ** 5000 is Infinity: still the cap, never NaN
  ];
  it.each(table)('attempt %i, random %d -> %i ms', (attempt, r, expected) => {
    expect(reconnectDelay(attempt, opts, () => r)).toBe(expected);
  });

  it('is full jitter: with random in [0, 1) every delay lies in [0, cap)', () => {
    for (let attempt = 0; attempt < 20; attempt++) {
      const cap = Math.min(30_000, 1000 * 2 ** attempt);
      expect(reconnectDelay(attempt, opts, () => 0)).toBe(0);
      expect(reconnectDelay(attempt, opts, () => 0.9999999)).toBeLessThan(cap);
      expect(reconnectDelay(attempt, opts, () => 0.9999999)).toBeGreaterThanOrEqual(Math.floor(cap * 0.999));
    }
  });

  it('uses the defaults (1 s, 60 s, x2) when options are missing', () => {
    expect(reconnectDelay(0, {}, () => 0.5)).toBe(500);
    expect(reconnectDelay(3, undefined, () => 0.5)).toBe(4000);
    expect(reconnectDelay(10, {}, () => 0.5)).toBe(30_000);
    expect(DEFAULT_RECONNECT_OPTIONS).toEqual({
      initialDelayMs: 1000,
      maxDelayMs: 60_000,
      factor: 2,
      maxAttempts: Infinity,
      retryOnAuthFailure: false,
    });
  });

  it('clamps a bad random() and a bad attempt', () => {
    expect(reconnectDelay(1, opts, () => -3)).toBe(0);
    expect(reconnectDelay(1, opts, () => Number.NaN)).toBe(0);
    expect(reconnectDelay(1, opts, () => 7)).toBe(1999);
    expect(reconnectDelay(-4, opts, () => 0.5)).toBe(500);
    expect(reconnectDelay(Number.NaN, opts, () => 0.5)).toBe(500);
    expect(reconnectDelay(2.9, opts, () => 0.5)).toBe(2000);
  });

  it('factor 1 gives a constant cap', () => {
    const o = { initialDelayMs: 200, maxDelayMs: 10_000, factor: 1 };
    expect([0, 1, 5, 30].map((a) => reconnectDelay(a, o, () => 0.5))).toEqual([100, 100, 100, 100]);
  });
});

describe('resolveReconnectOptions', () => {
  it('fills defaults and keeps given fields', () => {
    expect(resolveReconnectOptions({ initialDelayMs: 5, maxAttempts: 3 })).toEqual({
      initialDelayMs: 5,
      maxDelayMs: 60_000,
      factor: 2,
      maxAttempts: 3,
      retryOnAuthFailure: false,
    });
  });
  it.each([
    [{ initialDelayMs: -1 }, 'initialDelayMs'],
    [{ maxDelayMs: Number.NaN }, 'maxDelayMs'],
    [{ factor: 0.5 }, 'factor'],
    [{ maxAttempts: -1 }, 'maxAttempts'],
    [{ retryOnAuthFailure: 'yes' as unknown as boolean }, 'retryOnAuthFailure'],
  ])('rejects %j with EINVAL naming the field', (o, field) => {
    expect(() => resolveReconnectOptions(o)).toThrow(AzureIotHubError);
    try {
      resolveReconnectOptions(o);
    } catch (err) {
      expect((err as AzureIotHubError).code).toBe('EINVAL');
      expect((err as AzureIotHubError).message).toContain(field);
    }
  });
});

describe('shouldRetry / isAuthFailure', () => {
  const e = (code: AzureIotHubError['code'], connack?: number): AzureIotHubError =>
    new AzureIotHubError(code, 'x', connack === undefined ? {} : { connack });
  const table: [string, AzureIotHubError, boolean, boolean, boolean][] = [
    // [name, error, auth failure, retry by default, retry with retryOnAuthFailure]
    ['CONNACK 1', e('ECONNREFUSED', 1), false, false, false],
    ['CONNACK 2', e('ECONNREFUSED', 2), false, false, false],
    ['CONNACK 3', e('ECONNREFUSED', 3), false, true, true],
    ['CONNACK 4', e('ECONNREFUSED', 4), true, false, true],
    ['CONNACK 5', e('ECONNREFUSED', 5), true, false, true],
    ['TCP refused', e('ECONNREFUSED'), false, true, true],
    ['TLS failure', e('EACCES'), true, false, true],
    ['reset', e('ECONNRESET'), false, true, true],
    ['timeout', e('ETIMEDOUT'), false, true, true],
    ['protocol error', e('EPROTO'), false, true, true],
    ['too large', e('EMSGSIZE'), false, true, true],
    ['bad config', e('EINVAL'), false, false, false],
  ];
  it.each(table)('%s', (_name, err, auth, byDefault, withAuthRetry) => {
    expect(isAuthFailure(err)).toBe(auth);
    expect(shouldRetry(err, {})).toBe(byDefault);
    expect(shouldRetry(err, { retryOnAuthFailure: true })).toBe(withAuthRetry);
  });
});
