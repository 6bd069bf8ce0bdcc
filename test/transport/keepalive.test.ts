import { afterEach, describe, expect, it, vi } from 'vitest';
import { Keepalive, systemClock } from '../../src/transport/keepalive.js';
import { VirtualClock } from './virtual-clock.js';

function setup(periodMs: number, timeoutMs: number) {
  const clock = new VirtualClock();
  const events: string[] = [];
  const ka: Keepalive = new Keepalive(periodMs, timeoutMs, clock, {
    keepalivePing: () => {
      events.push(`ping@${clock.now() - start}`);
      ka.pinged(clock.now());
    },
    keepaliveDead: () => events.push(`dead@${clock.now() - start}`),
  });
  const start = clock.now();
  return { clock, ka, events, start };
}

describe('Keepalive (virtual clock)', () => {
  it('pings after a silent period and declares death after the deadline', () => {
    const { clock, ka, events } = setup(1000, 400);
    ka.start(true);
    expect(clock.pending).toBe(1); // one timer per connection
    clock.advance(999);
    expect(events).toEqual([]);
    clock.advance(1);
    expect(events).toEqual(['ping@1000']);
    expect(clock.pending).toBe(1);
    clock.advance(399);
    expect(events).toEqual(['ping@1000']);
    clock.advance(1);
    expect(events).toEqual(['ping@1000', 'dead@1400']);
    expect(clock.pending).toBe(0);
  });

  it('any packet received clears the deadline; traffic sent postpones the ping', () => {
    const { clock, ka, events } = setup(1000, 400);
    ka.start(true);
    clock.advance(600);
    ka.sent(clock.now()); // a publish at 600: next ping due at 1600
    clock.advance(900);
    expect(events).toEqual([]);
    clock.advance(100);
    expect(events).toEqual(['ping@1600']);
    clock.advance(200);
    ka.received(); // PINGRESP at 1800
    clock.advance(1000);
    expect(events).toEqual(['ping@1600', 'ping@2600']);
    expect(ka.pingOutstanding).toBe(true);
    expect(clock.pending).toBe(1);
  });

  it('an idle connection re-arms the same timer with refresh()', () => {
    const { clock, ka, events } = setup(1000, 1000);
    ka.start(true);
    for (let i = 0; i < 5; i++) {
      clock.advance(1000);
      ka.received();
    }
    expect(events).toEqual(['ping@1000', 'ping@2000', 'ping@3000', 'ping@4000', 'ping@5000']);
    expect(clock.pending).toBe(1);
  });

  it('timeLeft counts down, resets on sending, and reflects the deadline; -1 when disabled or stopped', () => {
    const { clock, ka } = setup(1000, 300);
    expect(ka.timeLeft(clock.now())).toBe(-1); // not started
    ka.start(false); // manual: no timer
    expect(clock.pending).toBe(0);
    expect(ka.timeLeft(clock.now())).toBe(1000);
    clock.advance(250);
    expect(ka.timeLeft(clock.now())).toBe(750);
    ka.sent(clock.now());
    expect(ka.timeLeft(clock.now())).toBe(1000);
    clock.advance(1200);
    expect(ka.timeLeft(clock.now())).toBe(0);
    ka.pinged(clock.now());
    expect(ka.timeLeft(clock.now())).toBe(300); // min(period, deadline)
    expect(ka.expired(clock.now() + 299)).toBe(false);
    expect(ka.expired(clock.now() + 300)).toBe(true);
    ka.stop();
    expect(ka.timeLeft(clock.now())).toBe(-1);
    const off = new Keepalive(0, 100, clock, { keepalivePing: () => {}, keepaliveDead: () => {} });
    off.start(true);
    expect(off.timeLeft(clock.now())).toBe(-1);
    expect(clock.pending).toBe(0);
  });

  it('the deadline runs from the first unanswered PINGREQ', () => {
    const { clock, ka } = setup(1000, 500);
    ka.start(false);
    const t0 = clock.now();
    ka.pinged(t0);
    clock.advance(300);
    ka.pinged(clock.now()); // a second PINGREQ does not move the deadline
    expect(ka.expired(t0 + 500)).toBe(true);
  });
});

describe('Keepalive with vitest fake timers and the system clock', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('works with vi.useFakeTimers() installed after construction', () => {
    const events: number[] = [];
    const ka: Keepalive = new Keepalive(2000, 500, systemClock, {
      keepalivePing: () => {
        events.push(Date.now());
        ka.pinged(Date.now());
      },
      keepaliveDead: () => events.push(-1),
    });
    vi.useFakeTimers();
    const t0 = Date.now();
    ka.start(true);
    vi.advanceTimersByTime(2000);
    expect(events).toEqual([t0 + 2000]);
    ka.received();
    vi.advanceTimersByTime(2000);
    expect(events).toEqual([t0 + 2000, t0 + 4000]);
    vi.advanceTimersByTime(500);
    expect(events).toEqual([t0 + 2000, t0 + 4000, -1]);
    expect(vi.getTimerCount()).toBe(0);
  });
});
