/**
 * The store-and-forward outbox: QoS 1 telemetry kept in an {@link OutboxStore} from `send()` until its PUBACK, so that
 * it survives `disconnect()`, a final connection failure and (with a file store) a restart, and is sent again in its
 * original order ahead of newer messages.
 *
 * How it fits with the session: while a session can take publishes (connecting, connected, reconnecting), a message
 * is stored and handed to it at once; the session's queue and in-flight window carry it (across reconnections too,
 * resent with DUP=1) and its bounds and overflow policy decide whether it is taken. When a session ends for good
 * before the PUBACK, the message goes back to waiting here. While no session can take publishes, messages wait here,
 * under the same bounds and policy. When a new session starts (`restore`), every waiting message is handed to it,
 * oldest first, before anything newer; they were admitted already, so the queue bound does not refuse them.
 *
 * A message leaves the outbox (its record is acked in the store) when its PUBACK arrives, or when it is dropped or
 * refused for good; its `send()` promise (recovered messages have none) settles then. It never leaves silently.
 */
import { AzureIotHubError, toAzureIotHubError } from '../../errors.js';
import type { MqttSession } from '../../transport/mqtt-session.js';
import type { PublishOptions } from '../../transport/options.js';
import type { QueueOverflow } from '../../transport/outgoing.js';
import type { AzureIotHubDropped, OutboxStore } from '../types.js';
import { outboxDiagnostic } from './diagnostics.js';

/** Bounds on the messages waiting while no session can take them, and what to do when one more does not fit. */
export interface OutboxLimits {
  maxMessages: number;
  maxBytes: number;
  overflow: QueueOverflow;
}

/** What the outbox needs from the client. */
export interface OutboxHooks {
  /** The telemetry topic for an encoded property bag, for the identity in use now. */
  topic(properties: string): string;
  /** Messages waiting while not connected were dropped to make room (`overflow: 'drop-oldest'`). */
  dropped(dropped: AzureIotHubDropped): void;
  /** A failure that fails no `send()`: an ack the store refused, a recovered message the session refused. */
  error(err: AzureIotHubError): void;
}

interface Entry {
  readonly id: number;
  readonly properties: string;
  readonly payload: Uint8Array;
  /** The session it was last handed to (undefined: waiting). */
  session: MqttSession | undefined;
  /** The caller's packet id, for the first hand-off only. */
  requestedId: number | undefined;
  /** The `send()` promise; undefined for messages recovered from the store. */
  settle: { resolve: () => void; reject: (err: AzureIotHubError) => void } | undefined;
}

/** Whether a session takes publishes (they wait in its queue while it connects or reconnects). */
function usable(session: MqttSession | undefined): session is MqttSession {
  return session !== undefined && session.state !== 'idle' && session.state !== 'disconnecting';
}

/** The client's store-and-forward outbox (see the file comment). */
export class Outbox {
  /** Messages the store held when the outbox was created. */
  readonly recovered: number;
  readonly #store: OutboxStore;
  readonly #limits: OutboxLimits;
  readonly #hooks: OutboxHooks;
  /** Every message not acknowledged yet, oldest first (store ids increase in append order). */
  readonly #entries = new Map<number, Entry>();
  #bytes = 0;
  /** A session every entry has been handed to (so `submit` need not look for waiting entries). */
  #allHandedTo: MqttSession | undefined;

  /**
   * Load the store.
   * @throws AzureIotHubError what the store's `load()` throws (`EIO`, `EINVAL`), or `EIO` for a message without a
   * positive integer id, a string `properties` and a `Uint8Array` payload.
   */
  constructor(store: OutboxStore, limits: OutboxLimits, hooks: OutboxHooks) {
    this.#store = store;
    this.#limits = limits;
    this.#hooks = hooks;
    let messages: unknown;
    try {
      messages = store.load();
    } catch (err) {
      throw toAzureIotHubError(err, 'EIO', `the outbox store could not be loaded: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (!Array.isArray(messages)) throw new AzureIotHubError('EIO', 'the outbox store load() must return an array');
    for (const m of messages as unknown[]) {
      const { id, properties, payload } = (m ?? {}) as Record<string, unknown>;
      if (!Number.isSafeInteger(id) || (id as number) < 1 || typeof properties !== 'string' || !(payload instanceof Uint8Array)) {
        throw new AzureIotHubError('EIO', 'the outbox store returned a message without a positive integer id, properties and a Uint8Array payload');
      }
      this.#entries.set(id as number, { id: id as number, properties, payload, session: undefined, requestedId: undefined, settle: undefined });
      this.#bytes += payload.length;
    }
    this.recovered = this.#entries.size;
    if (this.recovered > 0) outboxDiagnostic({ event: 'recovered', messages: this.recovered, bytes: this.#bytes });
  }

  /** Messages not acknowledged yet (waiting, queued or in flight). */
  get size(): number {
    return this.#entries.size;
  }

  /** Their payload bytes. */
  get bytes(): number {
    return this.#bytes;
  }

  /**
   * Store a QoS 1 telemetry message and hand it to `session` when it takes publishes, else keep it waiting. Resolves
   * on its PUBACK (on this connection or a later one); rejects when it is dropped (`ENOBUFS`) or refused for good.
   * @throws AzureIotHubError `ENOBUFS` when it does not fit (and nothing may be dropped for it), `EIO` (or what the
   * store throws) when it cannot be stored. Nothing is stored then.
   */
  submit(session: MqttSession | undefined, properties: string, payload: Uint8Array, requestedId?: number): Promise<void> {
    if (usable(session)) {
      // Anything still waiting goes first: a message must not overtake an older one.
      if (this.#allHandedTo !== session) this.restore(session);
      if (!session.canPublish(payload.length, 1)) throw this.#full();
      const entry = this.#add(properties, payload, requestedId);
      const promise = this.#promise(entry);
      this.#hand(entry, session, false);
      return promise;
    }
    const victims = this.#admit(payload.length);
    const entry = this.#add(properties, payload, requestedId);
    this.#allHandedTo = undefined;
    const promise = this.#promise(entry);
    if (victims.length > 0) this.#drop(victims);
    return promise;
  }

  /** A new session takes publishes: hand it every waiting message, oldest first (exempt from its queue bound). */
  restore(session: MqttSession): void {
    if (!usable(session)) return;
    for (const e of this.#entries.values()) {
      if (e.session !== session && !usable(e.session)) this.#hand(e, session, true);
    }
    this.#allHandedTo = session;
  }

  #add(properties: string, payload: Uint8Array, requestedId: number | undefined): Entry {
    let id: number;
    try {
      id = this.#store.append(properties, payload);
    } catch (err) {
      throw toAzureIotHubError(err, 'EIO', `the message could not be stored: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (!Number.isSafeInteger(id) || id < 1 || this.#entries.has(id)) {
      throw new AzureIotHubError('EIO', `the outbox store returned an id that is not new (${String(id)})`);
    }
    const entry: Entry = { id, properties, payload, session: undefined, requestedId, settle: undefined };
    this.#entries.set(id, entry);
    this.#bytes += payload.length;
    return entry;
  }

  #promise(entry: Entry): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      entry.settle = { resolve, reject };
    });
  }

  #hand(entry: Entry, session: MqttSession, restored: boolean): void {
    entry.session = session;
    const options: PublishOptions = { qos: 1 };
    if (restored) options.bypassQueueLimit = true;
    if (entry.requestedId !== undefined) {
      options.messageId = entry.requestedId;
      entry.requestedId = undefined;
    }
    session.publish(this.#hooks.topic(entry.properties), entry.payload, options).then(
      () => this.#acked(entry),
      (err: unknown) => this.#failed(entry, session, toAzureIotHubError(err, 'EIO')),
    );
  }

  #acked(entry: Entry): void {
    if (this.#entries.get(entry.id) !== entry) return;
    this.#remove(entry);
    entry.settle?.resolve();
  }

  #failed(entry: Entry, session: MqttSession, err: AzureIotHubError): void {
    if (this.#entries.get(entry.id) !== entry) return;
    if (err.code === 'ENOTCONN') {
      // The session ended for good before the PUBACK: wait for the next one (unless already handed to it).
      if (entry.session === session) entry.session = undefined;
      if (this.#allHandedTo === session) this.#allHandedTo = undefined;
      return;
    }
    this.#remove(entry);
    if (entry.settle !== undefined) entry.settle.reject(err);
    // A recovered message has no promise. ENOBUFS means drop-oldest dropped it: the session's `dropped` event
    // reports that; anything else is reported here.
    else if (err.code !== 'ENOBUFS') this.#hooks.error(new AzureIotHubError(err.code, `a message from the outbox was refused: ${err.message}`, { cause: err }));
  }

  #remove(entry: Entry): void {
    this.#entries.delete(entry.id);
    this.#bytes -= entry.payload.length;
    try {
      this.#store.ack(entry.id);
    } catch (err) {
      this.#hooks.error(
        toAzureIotHubError(err, 'EIO', `the outbox store could not forget message ${entry.id} (it may be sent again after a restart)`),
      );
    }
  }

  /** While not connected: the waiting messages to drop so that `bytes` more fit (none when it fits). */
  #admit(bytes: number): Entry[] {
    const { maxMessages, maxBytes, overflow } = this.#limits;
    let count = this.#entries.size;
    let total = this.#bytes;
    const fits = (): boolean => count < maxMessages && total + bytes <= maxBytes;
    if (fits()) return [];
    if (overflow === 'reject' || maxMessages === 0 || bytes > maxBytes) throw this.#full();
    const victims: Entry[] = [];
    for (const e of this.#entries.values()) {
      if (fits()) break;
      if (usable(e.session)) continue; // in a live session: possibly in flight, never dropped
      victims.push(e);
      count--;
      total -= e.payload.length;
    }
    if (!fits()) throw this.#full();
    return victims;
  }

  #drop(victims: Entry[]): void {
    let bytes = 0;
    const err = new AzureIotHubError('ENOBUFS', 'dropped from the full outbox to make room for a newer message (overflow: drop-oldest)');
    for (const e of victims) {
      bytes += e.payload.length;
      this.#remove(e);
      e.settle?.reject(err);
    }
    outboxDiagnostic({ event: 'dropped', count: victims.length, bytes });
    this.#hooks.dropped({ count: victims.length, bytes, messageIds: [] });
  }

  #full(): AzureIotHubError {
    const { maxMessages, maxBytes } = this.#limits;
    return new AzureIotHubError('ENOBUFS', `the outgoing queue is full (${maxMessages} messages, ${maxBytes} bytes)`);
  }
}
