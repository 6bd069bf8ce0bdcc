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

/** Ids per bitmap page (32 words of 32 bits). */
const PAGE_IDS = 1024;
const PAGES = (MAX_PACKET_ID + 1) / PAGE_IDS;

/**
 * Allocator of packet identifiers 1..65535, shared by PUBLISH, SUBSCRIBE and UNSUBSCRIBE of one session. Ids in use
 * are kept in a bitmap of 64 pages of 1,024 ids, each page allocated while it holds an id in use and dropped when its
 * last one is freed: an idle connection holds a few hundred bytes, not the 8 KiB of a flat bitmap (or the 64 KiB of
 * one byte per id), and the hot path stays two array reads and a bit test.
 */
export class PacketIdAllocator {
  readonly #pages: (Uint32Array | undefined)[] = new Array<Uint32Array | undefined>(PAGES).fill(undefined);
  readonly #pageCounts = new Uint16Array(PAGES);
  #last = 0;
  #count = 0;

  /** Ids currently in use. */
  get size(): number {
    return this.#count;
  }

  /** Whether `id` is in use. */
  has(id: number): boolean {
    return isPacketId(id) && this.#isSet(id);
  }

  /**
   * A free id in 1..65535, now marked in use.
   * @throws AzureIotHubError `ENOBUFS` when all 65535 ids are in use.
   */
  allocate(): number {
    if (this.#count >= MAX_PACKET_ID) {
      throw new AzureIotHubError('ENOBUFS', 'all 65535 packet identifiers are in use');
    }
    let id = this.#last;
    do {
      id = id === MAX_PACKET_ID ? 1 : id + 1;
    } while (this.#isSet(id));
    this.#set(id);
    this.#last = id;
    return id;
  }

  /** Mark a caller-chosen id in use. Returns false (and changes nothing) when it already is, or is no packet id. */
  reserve(id: number): boolean {
    if (!isPacketId(id) || this.#isSet(id)) return false;
    this.#set(id);
    return true;
  }

  /** Free `id` (no-op when it is not in use). */
  release(id: number): void {
    if (!this.has(id)) return;
    const p = id >>> 10;
    const page = this.#pages[p]!;
    page[(id >>> 5) & 31]! &= ~(1 << (id & 31));
    this.#count--;
    if (--this.#pageCounts[p]! === 0) this.#pages[p] = undefined;
  }

  /** Free every id. */
  clear(): void {
    this.#pages.fill(undefined);
    this.#pageCounts.fill(0);
    this.#count = 0;
  }

  #isSet(id: number): boolean {
    const page = this.#pages[id >>> 10];
    return page !== undefined && (page[(id >>> 5) & 31]! & (1 << (id & 31))) !== 0;
  }

  #set(id: number): void {
    const p = id >>> 10;
    let page = this.#pages[p];
    if (page === undefined) {
      page = new Uint32Array(PAGE_IDS >>> 5);
      this.#pages[p] = page;
    }
    page[(id >>> 5) & 31]! |= 1 << (id & 31);
    this.#pageCounts[p]!++;
    this.#count++;
  }
}

/** Whether `id` is a valid packet identifier: an integer in 1..65535 (MQTT-2.3.1-1). */
export function isPacketId(id: unknown): id is number {
  return typeof id === 'number' && Number.isInteger(id) && id >= 1 && id <= MAX_PACKET_ID;
}
