/**
 * The emulator's per-client packet log: every MQTT packet received from and sent to a client (device id on the
 * hub, registration id on DPS), in order, with the fields tests assert on. Payloads are not kept, only sizes.
 */
import type { Packet, PacketTypeName, QoS } from '../codec/index.js';

/** Which listener a packet went through. */
export type EmulatorService = 'hub' | 'dps';

/** One logged packet. */
export interface PacketLogEntry {
  /** Increasing over the whole emulator, so entries of several clients can be merged in order. */
  seq: number;
  /** `Date.now()` when the packet was decoded or written. */
  at: number;
  clientId: string;
  service: EmulatorService;
  /** `in`: from the client; `out`: to the client. */
  direction: 'in' | 'out';
  /** The packet type, or `raw` for bytes injected with `faults.sendRaw`. */
  type: PacketTypeName | 'raw';
  /** Bytes on the wire (whole packet). */
  size: number;
  topic?: string;
  qos?: QoS;
  dup?: boolean;
  retain?: boolean;
  /** Packet identifier (PUBLISH QoS 1, PUBACK, SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK). */
  messageId?: number;
  payloadSize?: number;
  /** CONNACK return code. */
  returnCode?: number;
  /** CONNACK session present. */
  sessionPresent?: boolean;
  /** SUBACK return codes. */
  granted?: number[];
  /** SUBSCRIBE filters, UNSUBSCRIBE filters. */
  filters?: string[];
  /** CONNECT fields. */
  cleanSession?: boolean;
  keepalive?: number;
  username?: string;
  /** True when the packet was not written because of `faults.stopAnswering`. */
  suppressed?: boolean;
}

/** Default number of entries kept per client (oldest dropped first). */
export const DEFAULT_PACKET_LOG_LIMIT = 10_000;

/** Summary of `packet` for the log. */
export function describePacket(packet: Packet): Partial<PacketLogEntry> {
  switch (packet.type) {
    case 'publish': {
      const d: Partial<PacketLogEntry> = {
        topic: packet.topic,
        qos: packet.qos,
        dup: packet.dup,
        retain: packet.retain,
        payloadSize: packet.payload.length,
      };
      if (packet.messageId !== undefined) d.messageId = packet.messageId;
      return d;
    }
    case 'connect': {
      const d: Partial<PacketLogEntry> = { cleanSession: packet.cleanSession, keepalive: packet.keepalive };
      if (packet.username !== undefined) d.username = packet.username;
      return d;
    }
    case 'connack':
      return { returnCode: packet.returnCode, sessionPresent: packet.sessionPresent };
    case 'suback':
      return { messageId: packet.messageId, granted: [...packet.granted] };
    case 'subscribe':
      return { messageId: packet.messageId, filters: packet.subscriptions.map((s) => s.topic) };
    case 'unsubscribe':
      return { messageId: packet.messageId, filters: [...packet.unsubscriptions] };
    case 'puback':
    case 'pubrec':
    case 'pubrel':
    case 'pubcomp':
    case 'unsuback':
      return { messageId: packet.messageId };
    default:
      return {};
  }
}

/** Bounded in-memory log, keyed by client id. */
export class PacketLog {
  readonly limit: number;
  #seq = 0;
  readonly #byClient = new Map<string, PacketLogEntry[]>();

  constructor(limit = DEFAULT_PACKET_LOG_LIMIT) {
    this.limit = limit;
  }

  /** Append an entry and return it (with its `seq`). */
  record(entry: Omit<PacketLogEntry, 'seq'>): PacketLogEntry {
    const full = { seq: ++this.#seq, ...entry } as PacketLogEntry;
    let list = this.#byClient.get(entry.clientId);
    if (list === undefined) {
      list = [];
      this.#byClient.set(entry.clientId, list);
    }
    list.push(full);
    if (list.length > this.limit) list.splice(0, list.length - this.limit);
    return full;
  }

  /** A copy of the entries of `clientId` (all services), oldest first. */
  get(clientId: string): PacketLogEntry[] {
    return [...(this.#byClient.get(clientId) ?? [])];
  }

  /** Forget the entries of `clientId`, or of everyone. */
  clear(clientId?: string): void {
    if (clientId === undefined) this.#byClient.clear();
    else this.#byClient.delete(clientId);
  }
}
