import { describe, expect, it } from 'vitest';
import {
  AzureIotStatus,
  DpsStatus,
  errorCodeForStatus,
  isRetriableStatus,
  isSuccessStatus,
  MethodStatus,
  statusFromDpsErrorCode,
  TwinStatus,
} from '../../src/azure/status.js';

describe('isSuccessStatus', () => {
  it('is true for 200, 202, 204 and every 2xx', () => {
    for (const s of [200, 202, 204, 299]) expect(isSuccessStatus(s)).toBe(true);
  });

  it('is false for 1xx, 3xx, 4xx, 5xx and non-integers', () => {
    for (const s of [199, 300, 400, 429, 500, 200.5, NaN]) expect(isSuccessStatus(s)).toBe(false);
  });
});

describe('isRetriableStatus', () => {
  it('is true for 429 (throttled) and every 5xx', () => {
    for (const s of [429, 500, 502, 503, 504, 599]) expect(isRetriableStatus(s)).toBe(true);
  });

  it('is false for success and for client errors other than 429', () => {
    for (const s of [200, 204, 400, 401, 403, 404, 412, 499, 600]) expect(isRetriableStatus(s)).toBe(false);
  });
});

describe('status constants', () => {
  it('are frozen and hold the Azure values', () => {
    expect(Object.isFrozen(AzureIotStatus)).toBe(true);
    expect(AzureIotStatus.THROTTLED).toBe(429);
    expect(TwinStatus.OK).toBe(200);
    expect(TwinStatus.NO_CONTENT).toBe(204);
    expect(MethodStatus.NOT_IMPLEMENTED).toBe(501);
    expect(DpsStatus.ACCEPTED).toBe(202);
    expect(Object.isFrozen(TwinStatus) && Object.isFrozen(MethodStatus) && Object.isFrozen(DpsStatus)).toBe(true);
  });
});

describe('statusFromDpsErrorCode', () => {
  it('takes the first three digits of a 6-digit DPS error code', () => {
    expect(statusFromDpsErrorCode(401002)).toBe(401);
    expect(statusFromDpsErrorCode(429001)).toBe(429);
  });

  it('answers undefined for anything that is not a 6-digit code', () => {
    for (const c of [401, 4010020, -401002, 401002.5]) expect(statusFromDpsErrorCode(c)).toBeUndefined();
  });
});

describe('errorCodeForStatus', () => {
  it('maps statuses to the library error codes', () => {
    expect(errorCodeForStatus(400)).toBe('EINVAL');
    expect(errorCodeForStatus(401)).toBe('EACCES');
    expect(errorCodeForStatus(403)).toBe('EACCES');
    expect(errorCodeForStatus(404)).toBe('ENOENT');
    expect(errorCodeForStatus(413)).toBe('EMSGSIZE');
    expect(errorCodeForStatus(429)).toBe('ENOBUFS');
    expect(errorCodeForStatus(504)).toBe('ETIMEDOUT');
    expect(errorCodeForStatus(500)).toBe('EIO');
    expect(errorCodeForStatus(412)).toBe('EIO');
  });
});
