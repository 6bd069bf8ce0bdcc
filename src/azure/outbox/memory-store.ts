/**
 * An outbox store in memory: QoS 1 telemetry survives `disconnect()` and a final connection failure (and is accepted
 * while not connected), but not a restart. Also the reference behaviour for custom stores, and handy in tests.
 */
import type { OutboxMessage, OutboxStore } from '../types.js';

/** A {@link OutboxStore} in a `Map`. Messages given to the constructor are what `load()` returns first. */
export class MemoryOutboxStore implements OutboxStore {
  readonly #messages = new Map<number, OutboxMessage>();
  #nextId = 1;

  constructor(messages: readonly { properties: string; payload: Uint8Array }[] = []) {
    for (const m of messages) this.append(m.properties, m.payload);
  }

  /** Messages stored and not acknowledged. */
  get size(): number {
    return this.#messages.size;
  }

  load(): OutboxMessage[] {
    return [...this.#messages.values()];
  }

  append(properties: string, payload: Uint8Array): number {
    const id = this.#nextId++;
    this.#messages.set(id, { id, properties, payload });
    return id;
  }

  ack(id: number): void {
    this.#messages.delete(id);
  }
}
