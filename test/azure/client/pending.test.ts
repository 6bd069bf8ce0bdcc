/** `PendingRequests`: each request settles exactly once, by its response, its timeout or `rejectAll`. */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { PendingRequests } from '../../../src/azure/pending.js';
import { AzureIotHubError } from '../../../src/errors.js';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('PendingRequests', () => {
  it('refuses a second request with a rid that is still pending (EALREADY), keeping the first', async () => {
    const p = new PendingRequests<number>('twin request');
    const first = p.add('7', 1000);
    await expect(p.add('7', 1000)).rejects.toMatchObject({ code: 'EALREADY' });
    expect(p.resolve('7', 1)).toBe(true);
    await expect(first).resolves.toBe(1);
  });

  it('resolves by rid once; later resolve/reject of that rid report false', async () => {
    const p = new PendingRequests<number>('twin request');
    const a = p.add('1', 1000);
    const b = p.add('2', 1000);
    expect(p.size).toBe(2);
    expect(p.has('1')).toBe(true);
    expect(p.resolve('1', 10)).toBe(true);
    expect(p.resolve('1', 11)).toBe(false);
    expect(p.reject('1', new AzureIotHubError('EIO', 'x'))).toBe(false);
    expect(p.has('1')).toBe(false);
    await expect(a).resolves.toBe(10);
    expect(p.reject('2', new AzureIotHubError('EIO', 'boom'))).toBe(true);
    await expect(b).rejects.toMatchObject({ code: 'EIO', message: 'boom' });
    expect(p.size).toBe(0);
    expect(p.resolve('unknown', 1)).toBe(false);
  });

  it('times out with ETIMEDOUT naming the kind and the rid, then forgets the rid', async () => {
    const p = new PendingRequests<number>('twin request');
    const a = p.add('7', 250);
    const outcome = a.then(() => 'resolved', (e: unknown) => e);
    vi.advanceTimersByTime(249);
    expect(p.has('7')).toBe(true);
    vi.advanceTimersByTime(1);
    const err = (await outcome) as AzureIotHubError;
    expect(err).toBeInstanceOf(AzureIotHubError);
    expect(err.code).toBe('ETIMEDOUT');
    expect(err.message).toBe('no response to twin request 7 within 250 ms');
    expect(p.has('7')).toBe(false);
    expect(p.resolve('7', 1)).toBe(false); // a late response is ignored
  });

  it('a settled request clears its timer (no late rejection, no timer left)', async () => {
    const p = new PendingRequests<string>('x');
    const a = p.add('1', 100);
    p.resolve('1', 'ok');
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(1000);
    await expect(a).resolves.toBe('ok');
  });

  it('rejectAll rejects everything waiting with the same error and clears the timers', async () => {
    const p = new PendingRequests<number>('x');
    const all = [p.add('1', 100), p.add('2', 100), p.add('3', 100)];
    const err = new AzureIotHubError('ENOTCONN', 'gone');
    p.rejectAll(err);
    expect(p.size).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
    for (const r of await Promise.allSettled(all)) expect(r).toEqual({ status: 'rejected', reason: err });
    p.rejectAll(err); // nothing left: harmless
  });

  it('a timer does not keep the process alive (unref)', () => {
    vi.useRealTimers();
    const p = new PendingRequests<number>('x');
    const spy = vi.spyOn(globalThis, 'setTimeout');
    void p.add('1', 10_000).catch(() => undefined);
    const handle = spy.mock.results[0]!.value as NodeJS.Timeout;
    expect(handle.hasRef()).toBe(false);
    spy.mockRestore();
    p.rejectAll(new AzureIotHubError('ECANCELED', 'done'));
  });
});
