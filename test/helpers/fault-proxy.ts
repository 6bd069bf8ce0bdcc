/**
 * A fault-injecting TCP proxy for tests (no privileges needed): it sits between a client and a server on loopback
 * and, on command, re-chunks every write into 1-byte pieces, delays data, resets connections (TCP RST), cuts a
 * connection after a given number of bytes, or black-holes it (the connection stays open, nothing gets through).
 * It forwards bytes without looking at them, so it works for TLS too.
 */
import { once } from 'node:events';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';

/** Faults, changeable at any time; they apply to data forwarded from then on. */
export interface Faults {
  /** Write every chunk as 1-byte pieces, one per event-loop turn (default false). */
  oneByte: boolean;
  /** Delay every chunk by this many ms (default 0). Order is kept. */
  delayMs: number;
  /** Drop everything in both directions; the connections stay open (default false). */
  blackhole: boolean;
  /**
   * Cut (reset) a connection once this many bytes went client -> server (`up`) or server -> client (`down`) on it.
   * The bytes up to the limit are delivered. Applies to the first `cutConnections` connections only.
   */
  cutAfter: { up?: number; down?: number } | undefined;
  /** How many connections (counted from the first) `cutAfter` applies to (default 1). */
  cutConnections: number;
}

interface Direction {
  from: Socket;
  to: Socket;
  queue: Buffer[];
  busy: boolean;
  bytes: number;
  limit: 'up' | 'down';
}

interface Link {
  index: number;
  client: Socket;
  upstream: Socket;
  closed: boolean;
}

export class FaultProxy {
  readonly faults: Faults = { oneByte: false, delayMs: 0, blackhole: false, cutAfter: undefined, cutConnections: 1 };
  readonly server: Server;
  readonly links: Link[] = [];
  port = 0;
  /** Connections cut by `cutAfter` or `resetAll()`. */
  cuts = 0;
  /** Connections accepted so far (the next link's `index`). */
  #accepted = 0;

  private constructor(
    readonly targetHost: string,
    readonly targetPort: number,
  ) {
    this.server = createServer((client) => this.#accept(client));
  }

  /** Start on 127.0.0.1 with a free port, forwarding to `targetHost:targetPort`. */
  static async start(targetPort: number, targetHost = '127.0.0.1'): Promise<FaultProxy> {
    const p = new FaultProxy(targetHost, targetPort);
    p.server.listen(0, '127.0.0.1');
    await once(p.server, 'listening');
    p.port = (p.server.address() as AddressInfo).port;
    return p;
  }

  #accept(client: Socket): void {
    client.setNoDelay(true);
    client.pause();
    const upstream = connect({ host: this.targetHost, port: this.targetPort });
    upstream.setNoDelay(true);
    const link: Link = { index: this.#accepted++, client, upstream, closed: false };
    this.links.push(link);
    const kill = (): void => this.#reset(link);
    client.on('error', kill);
    upstream.on('error', kill);
    client.on('close', kill);
    upstream.on('close', kill);
    upstream.once('connect', () => {
      const up: Direction = { from: client, to: upstream, queue: [], busy: false, bytes: 0, limit: 'up' };
      const down: Direction = { from: upstream, to: client, queue: [], busy: false, bytes: 0, limit: 'down' };
      client.on('data', (c: Buffer) => this.#forward(link, up, c));
      upstream.on('data', (c: Buffer) => this.#forward(link, down, c));
      client.resume();
    });
  }

  #forward(link: Link, dir: Direction, chunk: Buffer): void {
    if (link.closed || this.faults.blackhole) return;
    const cutAt = link.index < this.faults.cutConnections ? this.faults.cutAfter?.[dir.limit] : undefined;
    let data = chunk;
    let cut = false;
    if (cutAt !== undefined && dir.bytes + data.length >= cutAt) {
      data = data.subarray(0, Math.max(0, cutAt - dir.bytes));
      cut = true;
    }
    dir.bytes += data.length;
    if (data.length > 0) dir.queue.push(data);
    if (cut) {
      // Deliver what is allowed, then reset.
      void this.#drain(link, dir).then(() => {
        this.cuts++;
        this.#reset(link);
      });
      dir.from.pause();
      return;
    }
    void this.#drain(link, dir);
  }

  async #drain(link: Link, dir: Direction): Promise<void> {
    if (dir.busy) {
      while (dir.busy) await new Promise((r) => setImmediate(r));
      if (dir.queue.length === 0) return;
    }
    dir.busy = true;
    try {
      while (dir.queue.length > 0 && !link.closed) {
        const c = dir.queue.shift()!;
        if (this.faults.delayMs > 0) await new Promise((r) => setTimeout(r, this.faults.delayMs));
        if (this.faults.blackhole || link.closed) continue;
        if (this.faults.oneByte) {
          for (let i = 0; i < c.length && !link.closed; i++) {
            dir.to.write(c.subarray(i, i + 1));
            await new Promise((r) => setImmediate(r));
          }
        } else {
          dir.to.write(c);
        }
      }
      if (!link.closed) {
        // Let the kernel take what was written before a cut resets the link.
        if (dir.to.writableLength > 0) await once(dir.to, 'drain').catch(() => {});
      }
    } finally {
      dir.busy = false;
    }
  }

  #reset(link: Link): void {
    if (link.closed) return;
    link.closed = true;
    for (const s of [link.client, link.upstream]) {
      if (!s.destroyed) {
        if (typeof s.resetAndDestroy === 'function' && s.readyState !== 'opening') s.resetAndDestroy();
        else s.destroy();
      }
    }
  }

  /** Reset every open connection (TCP RST). */
  resetAll(): void {
    for (const l of this.links) {
      if (!l.closed) {
        this.cuts++;
        this.#reset(l);
      }
    }
  }

  /**
   * Drop closed connections from `links`, for long runs (a soak) where keeping every connection ever made would grow
   * the heap. Indexes keep counting from where they were.
   */
  forgetClosed(): void {
    for (let i = this.links.length - 1; i >= 0; i--) if (this.links[i]!.closed) this.links.splice(i, 1);
  }

  /** Open connections. */
  get open(): number {
    return this.links.filter((l) => !l.closed).length;
  }

  async close(): Promise<void> {
    for (const l of this.links) this.#reset(l);
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
