/**
 * Cloud-to-device messages: the per-device queue IoT Hub keeps, the topic they are delivered on
 * (`devices/{id}/messages/devicebound/{bag}` with `$.mid`, `$.to`, other system properties and the application
 * properties, all URL-encoded), and the delivery bookkeeping (in flight until PUBACK, redelivered with DUP=1,
 * dead-lettered after too many deliveries).
 *
 * @see https://learn.microsoft.com/azure/iot-hub/iot-hub-mqtt-support#receiving-cloud-to-device-messages
 * @see https://learn.microsoft.com/azure/iot-hub/iot-hub-devguide-messages-c2d
 */
import { randomUUID } from 'node:crypto';
import { formatPropertyBag, type PropertyBagEntry } from './property-bag.js';

/** Options of `sendC2D`. */
export interface C2dOptions {
  /** Application properties; `null` gives the bare `key` form. */
  properties?: Record<string, string | null>;
  /** `$.mid` (default: a random UUID, as the service SDKs set one). */
  messageId?: string;
  /** `$.cid`. */
  correlationId?: string;
  /** `$.uid`. */
  userId?: string;
  /** `$.ct`, e.g. `application/json`. */
  contentType?: string;
  /** `$.ce`, e.g. `utf-8`. */
  contentEncoding?: string;
  /** `$.exp`: absolute expiry (ISO 8601 string or Date). Sent as a property only; the emulator does not expire it. */
  expiryTimeUtc?: string | Date;
  /** `iothub-ack` feedback request. */
  ack?: 'none' | 'positive' | 'negative' | 'full';
  /** Hub, when the device is registered on several. */
  hub?: string;
}

/** A queued cloud-to-device message. */
export interface C2dMessage {
  deviceId: string;
  messageId: string;
  payload: Uint8Array;
  /** The property bag as written in the topic (in order). */
  bag: PropertyBagEntry[];
  enqueuedAt: number;
  /** Deliveries so far (the first one included). */
  deliveryCount: number;
  /** Packet id while in flight at QoS 1. */
  packetId?: number;
  /** `Date.now()` of the last delivery. */
  deliveredAt?: number;
}

/** IoT Hub's per-device queue limit (messages waiting or in flight). */
export const DEFAULT_C2D_QUEUE_LIMIT = 50;
/** IoT Hub's default maximum delivery count before a message is dead-lettered. */
export const DEFAULT_C2D_MAX_DELIVERY_COUNT = 10;

/** Build the message and its property bag. `$.mid` and `$.to` come first, as IoT Hub writes them. */
export function createC2dMessage(deviceId: string, payload: Uint8Array, options: C2dOptions, now: number): C2dMessage {
  const messageId = options.messageId ?? randomUUID();
  const bag: PropertyBagEntry[] = [
    { key: '$.mid', value: messageId },
    { key: '$.to', value: `/devices/${deviceId}/messages/deviceBound` },
  ];
  if (options.correlationId !== undefined) bag.push({ key: '$.cid', value: options.correlationId });
  if (options.userId !== undefined) bag.push({ key: '$.uid', value: options.userId });
  if (options.contentType !== undefined) bag.push({ key: '$.ct', value: options.contentType });
  if (options.contentEncoding !== undefined) bag.push({ key: '$.ce', value: options.contentEncoding });
  if (options.expiryTimeUtc !== undefined) {
    const exp = options.expiryTimeUtc;
    bag.push({ key: '$.exp', value: exp instanceof Date ? exp.toISOString() : exp });
  }
  if (options.ack !== undefined) bag.push({ key: 'iothub-ack', value: options.ack });
  for (const [key, value] of Object.entries(options.properties ?? {})) bag.push({ key, value });
  return { deviceId, messageId, payload: payload.slice(), bag, enqueuedAt: now, deliveryCount: 0 };
}

/** The topic a message is delivered on. */
export function c2dTopic(message: C2dMessage): string {
  return `devices/${message.deviceId}/messages/devicebound/${formatPropertyBag(message.bag)}`;
}

/** One device's queue: messages waiting, then messages in flight (delivered, not yet acknowledged). */
export class C2dQueue {
  readonly waiting: C2dMessage[] = [];
  readonly inFlight = new Map<number, C2dMessage>();

  get size(): number {
    return this.waiting.length + this.inFlight.size;
  }

  /** Every message, in flight first (oldest delivery first), then waiting. */
  all(): C2dMessage[] {
    return [...this.inFlight.values(), ...this.waiting];
  }

  /** Put in-flight messages back at the head of the queue (a clean session ended). */
  requeueInFlight(): void {
    const back = [...this.inFlight.values()];
    this.inFlight.clear();
    for (const m of back) delete m.packetId;
    this.waiting.unshift(...back);
  }

  /** Drop everything; returns what was dropped. */
  clear(): C2dMessage[] {
    const dropped = this.all();
    this.waiting.length = 0;
    this.inFlight.clear();
    return dropped;
  }
}
