/**
 * Packet identifiers for PUBLISH (QoS 1), SUBSCRIBE and UNSUBSCRIBE: never 0 (MQTT-2.3.1-1), never one still in
 * use (MQTT-2.3.1-2). Allocation walks forward from the last id handed out, so a freed id is reused as late as
 * possible (a late duplicate PUBACK is then unlikely to hit a new message).
 *
 * @see http://docs.oasis-open.org/mqtt/mqtt/v3.1.1/os/mqtt-v3.1.1-os.html#_Toc398718025
 */
import { AzureIotHubError } from '../errors.js';

/** The largest packet identifier (16 bits). */
export const MAX_PACKET_ID = 65535;

/**
 * Allocator of packet identifiers 1..65535, shared by PUBLISH, SUBSCRIBE and UNSUBSCRIBE of one session. Ids in use
 * are kept as a bitmap (8 KiB per session: one byte per id would cost 64 KiB for every idle connection).
 */
export class PacketIdAllocator {
  readonly #used = new Uint32Array((MAX_PACKET_ID + 1) >>> 5);
  #last = 0;
  #count = 0;

  /** Ids currently in use. */
  get size(): number {
    return this.#count;
  }

  /** Whether `id` is in use. */
  has(id: number): boolean {
    return isPacketId(id) && (this.#used[id >>> 5]! & (1 << (id & 31))) !== 0;
  }

  /**
   * A free id in 1..65535, now marked in use.
   * @throws AzureIotHubError `ENOBUFS` when all 65535 ids are in use.
   */
  allocate(): number {
    if (this.#count >= MAX_PACKET_ID) {
      throw new AzureIotHubError('ENOBUFS', 'all 65535 packet identifiers are in use');
    }
    const used = this.#used;
    let id = this.#last;
    do {
      id = id === MAX_PACKET_ID ? 1 : id + 1;
    } while ((used[id >>> 5]! & (1 << (id & 31))) !== 0);
    used[id >>> 5]! |= 1 << (id & 31);
    this.#last = id;
    this.#count++;
    return id;
  }

  /** Mark a caller-chosen id in use. Returns false (and changes nothing) when it already is, or is no packet id. */
  reserve(id: number): boolean {
    if (!isPacketId(id) || this.has(id)) return false;
    this.#used[id >>> 5]! |= 1 << (id & 31);
    this.#count++;
    return true;
  }

  /** Free `id` (no-op when it is not in use). */
  release(id: number): void {
    if (this.has(id)) {
      this.#used[id >>> 5]! &= ~(1 << (id & 31));
      this.#count--;
    }
  }

  /** Free every id. */
  clear(): void {
    this.#used.fill(0);
    this.#count = 0;
  }
}

/** Whether `id` is a valid packet identifier: an integer in 1..65535 (MQTT-2.3.1-1). */
export function isPacketId(id: unknown): id is number {
  return typeof id === 'number' && Number.isInteger(id) && id >= 1 && id <= MAX_PACKET_ID;
}
