/**
 * MQTT keepalive (MQTT 3.1.1 section 3.1.2.10): the client sends PINGREQ when it has sent nothing for the keepalive
 * period (MQTT-3.1.2-23), and declares the connection dead when no packet at all comes back within a deadline after
 * a PINGREQ (section 3.1.2.10: "If a Client does not receive a PINGRESP Packet within a reasonable amount of time
 * after it has sent a PINGREQ, it SHOULD close the Network Connection").
 *
 * A connection that keeps sending never pings under that rule alone, so a dead path back from the server (a half-open
 * link, a server that stopped answering) would go unnoticed for as long as the device sends. With the automatic
 * timer, the client therefore also pings when nothing at all has been received for {@link RECEIVE_SILENCE_PERIODS}
 * keepalive periods (Eclipse Paho pings when either direction has been idle for one period); the deadline after that
 * PINGREQ then declares the connection dead. `timeLeft()` (the manual mode's guide) keeps the send-based rule.
 *
 * One timer per connection, `unref`'d, re-armed with `refresh()` when the next wait has the same length as the last.
 * Traffic only updates timestamps: nothing is scheduled per packet. All time comes from an injectable {@link Clock}.
 *
 * @see http://docs.oasis-open.org/mqtt/mqtt/v3.1.1/os/mqtt-v3.1.1-os.html#_Toc398718030
 */

/**
 * With the automatic timer, a PINGREQ is also sent when nothing has been received for this many keepalive periods,
 * even while the client keeps sending (see the file comment).
 */
export const RECEIVE_SILENCE_PERIODS = 2;

/** A timer handle as Node (and fake-timer libraries) return it. */
export interface TimerHandle {
  refresh?(): unknown;
  unref?(): unknown;
}

/**
 * Time source and timers. The default, {@link systemClock}, looks up `Date.now`, `setTimeout` and `clearTimeout` on
 * every call, so vitest's `vi.useFakeTimers()` works even when it is installed after the session was created.
 */
export interface Clock {
  /** Milliseconds, monotonic enough for timeouts (the default is `Date.now()`). */
  now(): number;
  setTimeout(callback: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/** The real clock: `Date.now`, `setTimeout`, `clearTimeout` (looked up when called). */
export const systemClock: Clock = Object.freeze({
  now: () => Date.now(),
  setTimeout: (callback: () => void, ms: number): TimerHandle => setTimeout(callback, ms),
  clearTimeout: (handle: TimerHandle): void => clearTimeout(handle as Parameters<typeof clearTimeout>[0]),
});

/** What the keepalive asks its owner to do. */
export interface KeepaliveHost {
  /** Send a PINGREQ now (the owner then calls {@link Keepalive.pinged}). */
  keepalivePing(): void;
  /** No packet arrived within the deadline after a PINGREQ: close the connection. */
  keepaliveDead(): void;
}

/** The keepalive of one session: timestamps of traffic plus one timer (see the file comment). */
export class Keepalive {
  /** Keepalive period in ms; 0 disables keepalive. */
  readonly periodMs: number;
  /** Deadline in ms for any packet to arrive after a PINGREQ. */
  readonly timeoutMs: number;
  readonly #clock: Clock;
  readonly #host: KeepaliveHost;
  readonly #fire: () => void;
  #auto = false;
  #running = false;
  #lastSent = 0;
  #lastReceived = 0;
  #pingSentAt = -1; // -1: no PINGREQ waiting for an answer
  #timer: TimerHandle | null = null;
  #timerMs = -1;

  constructor(periodMs: number, timeoutMs: number, clock: Clock, host: KeepaliveHost) {
    this.periodMs = periodMs;
    this.timeoutMs = timeoutMs;
    this.#clock = clock;
    this.#host = host;
    this.#fire = () => this.#onTimer();
  }

  /**
   * Start for a new connection. `auto`: the timer sends PINGREQs and detects a dead connection; otherwise nothing
   * is scheduled and the owner calls {@link expired}/{@link pinged} from its `ping()`.
   */
  start(auto: boolean): void {
    this.stop();
    this.#auto = auto;
    this.#running = true;
    this.#lastSent = this.#clock.now();
    this.#lastReceived = this.#lastSent;
    this.#pingSentAt = -1;
    if (auto && this.periodMs > 0) this.#arm(this.periodMs);
  }

  /** Stop: clear the timer. */
  stop(): void {
    this.#running = false;
    if (this.#timer !== null) {
      this.#clock.clearTimeout(this.#timer);
      this.#timer = null;
      this.#timerMs = -1;
    }
  }

  /** Bytes were written to the connection at `now`. */
  sent(now: number): void {
    this.#lastSent = now;
  }

  /** Bytes arrived: any packet proves the connection alive, like a PINGRESP. */
  received(): void {
    this.#pingSentAt = -1;
    if (this.#auto) this.#lastReceived = this.#clock.now();
  }

  /** A PINGREQ was written at `now`. The deadline runs from the first PINGREQ not answered yet. */
  pinged(now: number): void {
    this.#lastSent = now;
    if (this.#pingSentAt < 0) this.#pingSentAt = now;
  }

  /** Whether a PINGREQ is waiting for an answer. */
  get pingOutstanding(): boolean {
    return this.#pingSentAt >= 0;
  }

  /** Whether the deadline of an unanswered PINGREQ has passed at `now`. */
  expired(now: number): boolean {
    return this.#pingSentAt >= 0 && now - this.#pingSentAt >= this.timeoutMs;
  }

  /**
   * Milliseconds from `now` until keepalive needs attention: the next PINGREQ is due, or (while a PINGREQ is
   * unanswered) its deadline passes, whichever is first. 0 when overdue; -1 when keepalive is disabled or stopped.
   */
  timeLeft(now: number): number {
    if (this.periodMs === 0 || !this.#running) return -1;
    let at = this.#lastSent + this.periodMs;
    if (this.#pingSentAt >= 0) at = Math.min(at, this.#pingSentAt + this.timeoutMs);
    return Math.max(0, at - now);
  }

  #arm(ms: number): void {
    const wait = Math.max(1, Math.ceil(ms));
    if (this.#timer !== null && this.#timerMs === wait && typeof this.#timer.refresh === 'function') {
      this.#timer.refresh();
      return;
    }
    if (this.#timer !== null) this.#clock.clearTimeout(this.#timer);
    const t = this.#clock.setTimeout(this.#fire, wait);
    t.unref?.();
    this.#timer = t;
    this.#timerMs = wait;
  }

  #onTimer(): void {
    if (!this.#running || !this.#auto) return;
    const now = this.#clock.now();
    if (this.expired(now)) {
      this.stop();
      this.#host.keepaliveDead();
      return;
    }
    if (now - this.#lastSent >= this.periodMs || this.#silentUntil() <= now) this.#host.keepalivePing();
    if (!this.#running) return; // the host may have closed the connection
    const later = this.#clock.now();
    this.#arm(Math.min(this.timeLeft(later), Math.max(0, this.#silentUntil() - later)));
  }

  /** When the receive-silence rule asks for a PINGREQ (never while one is unanswered: its deadline rules then). */
  #silentUntil(): number {
    return this.#pingSentAt >= 0 ? Infinity : this.#lastReceived + this.periodMs * RECEIVE_SILENCE_PERIODS;
  }
}
