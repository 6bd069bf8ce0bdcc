/**
 * Checking stored assignments (whatever a store returns) and matching them to the config.
 */
import { describe, expect, it } from 'vitest';
import { assignmentMismatch, checkDpsAssignment } from '../../../src/azure/dps/assignment.js';
import type { DpsAssignment } from '../../../src/azure/types.js';

const A: DpsAssignment = { idScope: '0ne00000001', registrationId: 'reg-1', assignedHub: 'hub.azure-devices.net', deviceId: 'dev-1' };

describe('checkDpsAssignment', () => {
  it('returns a clean copy of a valid assignment, unknown fields dropped', () => {
    const out = checkDpsAssignment({ ...A, assignedAt: '2024-01-01T00:00:00Z', secret: 'x' });
    expect(out).toEqual({ ...A, assignedAt: '2024-01-01T00:00:00Z' });
  });

  it.each([
    [null, 'not a JSON object'],
    [[A], 'not a JSON object'],
    [{ ...A, idScope: undefined }, 'idScope is missing or invalid'],
    [{ ...A, idScope: 'a b' }, 'idScope is missing or invalid'],
    [{ ...A, registrationId: 'Reg.' }, 'registrationId is missing or invalid'],
    [{ ...A, assignedHub: 42 }, 'assignedHub is missing or not a host name'],
    [{ ...A, assignedHub: 'hub/x' }, 'assignedHub is missing or not a host name'],
    [{ ...A, deviceId: 'a+b' }, 'deviceId is missing or invalid'],
    [{ ...A, deviceId: 'x'.repeat(129) }, 'deviceId is missing or invalid'],
    [{ ...A, assignedAt: {} }, 'assignedAt is not a string'],
  ])('refuses %j: %s', (value, reason) => {
    expect(checkDpsAssignment(value)).toBe(reason);
  });
});

describe('assignmentMismatch', () => {
  it('names a different id scope or registration id; undefined when both match', () => {
    expect(assignmentMismatch(A, '0ne00000001', 'reg-1')).toBeUndefined();
    expect(assignmentMismatch(A, '0ne00000002', 'reg-1')).toMatch(/id scope 0ne00000001, the config says 0ne00000002/);
    expect(assignmentMismatch(A, '0ne00000001', 'reg-2')).toMatch(/registration id reg-1, the config says reg-2/);
  });
});
