/**
 * An in-memory DPS assignment store, for tests and for devices that keep the assignment elsewhere. Nothing survives
 * the process.
 */
import { AzureIotHubError } from '../../errors.js';
import type { DpsAssignment, DpsStore } from '../types.js';
import { checkDpsAssignment } from './assignment.js';

/** A {@link DpsStore} in memory. It keeps copies: changing a saved or loaded object changes nothing stored. */
export class MemoryDpsStore implements DpsStore {
  #assignment: DpsAssignment | undefined;
  /** How many times `save` and `clear` were called (for tests). */
  saves = 0;
  clears = 0;

  /** @param initial an assignment to start with (as if saved earlier). */
  constructor(initial?: DpsAssignment) {
    if (initial !== undefined) this.#assignment = checked(initial);
  }

  /** The stored assignment (a copy), or undefined. */
  get assignment(): DpsAssignment | undefined {
    return this.#assignment === undefined ? undefined : { ...this.#assignment };
  }

  load(): Promise<DpsAssignment | undefined> {
    return Promise.resolve(this.assignment);
  }

  /** @throws AzureIotHubError `EINVAL` for an invalid assignment. */
  save(assignment: DpsAssignment): Promise<void> {
    try {
      this.#assignment = checked(assignment);
    } catch (err) {
      return Promise.reject(err);
    }
    this.saves++;
    return Promise.resolve();
  }

  clear(): Promise<void> {
    this.#assignment = undefined;
    this.clears++;
    return Promise.resolve();
  }
}

function checked(assignment: DpsAssignment): DpsAssignment {
  const c = checkDpsAssignment(assignment);
  if (typeof c === 'string') throw new AzureIotHubError('EINVAL', `cannot store this DPS assignment: ${c}`);
  return c;
}
