/**
 * A deterministic clock for transport tests: virtual time that moves only when the test calls `advance()`, with
 * timers that fire in order. Implements the transport's `Clock`, so real sockets keep working while time is fake.
 */
import type { Clock, TimerHandle } from '../../src/transport/index.js';

interface VirtualTimer extends TimerHandle {
  at: number;
  ms: number;
  seq: number;
  callback: () => void;
  active: boolean;
}

export class VirtualClock implements Clock {
  time = 1_000_000;
  #seq = 0;
  readonly #timers = new Set<VirtualTimer>();

  now(): number {
    return this.time;
  }

  setTimeout(callback: () => void, ms: number): TimerHandle {
    const t: VirtualTimer = {
      at: this.time + ms,
      ms,
      seq: this.#seq++,
      callback,
      active: true,
      refresh: () => {
        t.at = this.time + t.ms;
        t.seq = this.#seq++;
        t.active = true;
        this.#timers.add(t);
        return t;
      },
      unref: () => t,
    };
    this.#timers.add(t);
    return t;
  }

  clearTimeout(handle: TimerHandle): void {
    const t = handle as VirtualTimer;
    t.active = false;
    this.#timers.delete(t);
  }

  /** Pending timers. */
  get pending(): number {
    return this.#timers.size;
  }

  /** Delay of the next timer from now, or undefined. */
  nextDelay(): number | undefined {
    let best: VirtualTimer | undefined;
    for (const t of this.#timers) if (best === undefined || t.at < best.at || (t.at === best.at && t.seq < best.seq)) best = t;
    return best === undefined ? undefined : best.at - this.time;
  }

  /** Move time forward by `ms`, firing due timers in order (a timer set by a callback fires too if due). */
  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      let next: VirtualTimer | undefined;
      for (const t of this.#timers) {
        if (t.at <= end && (next === undefined || t.at < next.at || (t.at === next.at && t.seq < next.seq))) next = t;
      }
      if (next === undefined) break;
      this.time = Math.max(this.time, next.at);
      this.#timers.delete(next);
      next.active = false;
      next.callback();
    }
    this.time = end;
  }
}
