/**
 * Outgoing PUBLISH bookkeeping: the in-flight window (QoS 1 sent, PUBACK not yet received, in send order) and the
 * bounded queue of publishes not sent yet (QoS 0 and 1, FIFO). Both survive a reconnect; only closing the session
 * for good empties them.
 *
 * The session decides when to send; this file only keeps the collections and their bounds.
 */
import { AzureIotHubError } from '../errors.js';

/** Default in-flight window: QoS 1 publishes sent and awaiting PUBACK. */
export const DEFAULT_IN_FLIGHT_WINDOW = 32;
/** Default bound on publishes waiting to be sent. */
export const DEFAULT_MAX_QUEUED = 8192;
/** Default bound on payload bytes of publishes waiting to be sent (32 MiB). */
export const DEFAULT_MAX_QUEUED_BYTES = 32 * 1024 * 1024;

/**
 * What a full queue does with one more publish: `reject` refuses it with `ENOBUFS` (the default); `drop-oldest`
 * removes the oldest publishes waiting to be sent (never one in flight) until it fits, and rejects each of them with
 * `ENOBUFS`.
 */
export type QueueOverflow = 'reject' | 'drop-oldest';

/** One publish the application asked for, from `publish()` until its promise settles. */
export class OutgoingPublish {
  readonly topic: string;
  readonly payload: Uint8Array;
  readonly qos: 0 | 1;
  /** Packet identifier (QoS 1), 0 for QoS 0. */
  readonly messageId: number;
  /** Fixed header + topic + packet id, encoded once; bit 3 of byte 0 is DUP (a copy with it set replaces it on resend). */
  header: Uint8Array;
  /** Written to a connection at least once, so a resend carries DUP=1 (MQTT-3.3.1-1). */
  sent = false;
  resolve: () => void;
  reject: (err: AzureIotHubError) => void;

  constructor(
    topic: string,
    payload: Uint8Array,
    qos: 0 | 1,
    messageId: number,
    header: Uint8Array,
    resolve: () => void,
    reject: (err: AzureIotHubError) => void,
  ) {
    this.topic = topic;
    this.payload = payload;
    this.qos = qos;
    this.messageId = messageId;
    this.header = header;
    this.resolve = resolve;
    this.reject = reject;
  }

  /** Encoded size in bytes. */
  get size(): number {
    return this.header.length + this.payload.length;
  }
}

/** A FIFO over an array with a moving head: O(1) push and shift, compacted as it drains. */
export class Fifo<T> {
  #items: (T | undefined)[] = [];
  #head = 0;

  get length(): number {
    return this.#items.length - this.#head;
  }

  push(item: T): void {
    this.#items.push(item);
  }

  peek(): T | undefined {
    return this.#items[this.#head];
  }

  shift(): T | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head++] = undefined;
    if (this.#head === this.#items.length) {
      this.#items.length = 0;
      this.#head = 0;
    } else if (this.#head >= 1024 && this.#head * 2 >= this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }

  /** Put `items` back at the front, in their order. */
  unshiftAll(items: readonly T[]): void {
    if (items.length === 0) return;
    this.#items = [...items, ...this.#items.slice(this.#head)];
    this.#head = 0;
  }

  /** Remove and return every item, oldest first. */
  drain(): T[] {
    const out = this.#items.slice(this.#head) as T[];
    this.#items = [];
    this.#head = 0;
    return out;
  }
}

/** The in-flight window and the queue, with their bounds. */
export class Outgoing {
  /** QoS 1 publishes written and awaiting PUBACK, by packet id, in the order they were first sent. */
  readonly inFlight = new Map<number, OutgoingPublish>();
  /** Publishes not written yet. */
  readonly queue = new Fifo<OutgoingPublish>();
  readonly window: number;
  readonly maxQueued: number;
  readonly maxQueuedBytes: number;
  #queuedBytes = 0;

  constructor(window: number, maxQueued: number, maxQueuedBytes: number) {
    this.window = window;
    this.maxQueued = maxQueued;
    this.maxQueuedBytes = maxQueuedBytes;
  }

  /** Payload bytes waiting in the queue. */
  get queuedBytes(): number {
    return this.#queuedBytes;
  }

  /** Whether the window has room for one more QoS 1 publish. */
  get windowOpen(): boolean {
    return this.inFlight.size < this.window;
  }

  /** Whether a publish of `bytes` payload bytes fits in the queue. */
  hasRoom(bytes: number): boolean {
    return this.queue.length < this.maxQueued && this.#queuedBytes + bytes <= this.maxQueuedBytes;
  }

  /** Whether a publish of `bytes` payload bytes fits in the queue once everything queued is gone. */
  fitsAlone(bytes: number): boolean {
    return this.maxQueued > 0 && bytes <= this.maxQueuedBytes;
  }

  /**
   * Remove the oldest queued publishes until one of `bytes` payload bytes fits, and return them, oldest first.
   * Returns undefined, removing nothing, when it cannot fit even in an empty queue. In-flight publishes are not in the
   * queue, so they are never taken.
   */
  dropOldestFor(bytes: number): OutgoingPublish[] | undefined {
    if (!this.fitsAlone(bytes)) return undefined;
    const dropped: OutgoingPublish[] = [];
    while (!this.hasRoom(bytes)) {
      const p = this.queue.shift();
      if (p === undefined) break;
      this.#queuedBytes -= p.payload.length;
      dropped.push(p);
    }
    return dropped;
  }

  enqueue(p: OutgoingPublish): void {
    this.queue.push(p);
    this.#queuedBytes += p.payload.length;
  }

  /** Put unsent publishes back at the front of the queue (they left it but never reached the wire). */
  requeueFront(items: readonly OutgoingPublish[]): void {
    this.queue.unshiftAll(items);
    for (const p of items) this.#queuedBytes += p.payload.length;
  }

  /** The next publish that may be sent now (FIFO; a QoS 1 at the head waits for the window), removed. */
  next(): OutgoingPublish | undefined {
    const head = this.queue.peek();
    if (head === undefined || (head.qos === 1 && this.inFlight.size >= this.window)) return undefined;
    this.queue.shift();
    this.#queuedBytes -= head.payload.length;
    return head;
  }

  /** Remove and return everything (in flight first, in send order, then queued), for rejection. */
  takeAll(): OutgoingPublish[] {
    const out = [...this.inFlight.values(), ...this.queue.drain()];
    this.inFlight.clear();
    this.#queuedBytes = 0;
    return out;
  }
}
