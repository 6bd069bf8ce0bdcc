/**
 * The stored DPS assignment: checking what a store returns (any store, the application's included) and deciding
 * whether it belongs to the configured id scope and registration id.
 */
import type { DpsAssignment } from '../types.js';
import { isValidDeviceId, isValidRegistrationId, validateHostname, validateIdScope } from '../validate.js';

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isHostname(v: unknown): v is string {
  try {
    validateHostname(v);
    return true;
  } catch {
    return false;
  }
}

function isIdScope(v: unknown): v is string {
  try {
    validateIdScope(v);
    return true;
  } catch {
    return false;
  }
}

/**
 * Check a stored assignment: `idScope`, `registrationId`, `assignedHub` and `deviceId` present and valid,
 * `assignedAt` a string when present. Returns a clean copy (unknown fields dropped), or the reason it is unusable.
 */
export function checkDpsAssignment(value: unknown): DpsAssignment | string {
  if (!isObject(value)) return 'not a JSON object';
  const { idScope, registrationId, assignedHub, deviceId, assignedAt } = value;
  if (!isIdScope(idScope)) return 'idScope is missing or invalid';
  if (!isValidRegistrationId(registrationId)) return 'registrationId is missing or invalid';
  if (!isHostname(assignedHub)) return 'assignedHub is missing or not a host name';
  if (!isValidDeviceId(deviceId)) return 'deviceId is missing or invalid';
  if (assignedAt !== undefined && typeof assignedAt !== 'string') return 'assignedAt is not a string';
  const out: DpsAssignment = { idScope, registrationId, assignedHub, deviceId };
  if (assignedAt !== undefined) out.assignedAt = assignedAt;
  return out;
}

/** Why `assignment` does not belong to `idScope` and `registrationId`, or undefined when it does. */
export function assignmentMismatch(assignment: DpsAssignment, idScope: string, registrationId: string): string | undefined {
  if (assignment.idScope !== idScope) return `it is for id scope ${assignment.idScope}, the config says ${idScope}`;
  if (assignment.registrationId !== registrationId) {
    return `it is for registration id ${assignment.registrationId}, the config says ${registrationId}`;
  }
  return undefined;
}
