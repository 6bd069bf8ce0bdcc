/**
 * A short run of the soak (`scripts/soak.ts`, `npm run soak` for the long one): four clients through their own
 * fault proxies to the emulator for about twelve seconds of random resets, cuts, drops, delays, re-chunking,
 * black holes, hub stalls and refusals while telemetry, twin requests and direct methods run. Every invariant of the
 * soak must hold: sent = acknowledged = received, no promise pending, no method handled or answered twice, every
 * client READY at the end, heap and handles flat, nothing left after shutdown.
 */
import { describe, expect, it } from 'vitest';
import { FAULT_KINDS, formatSummary, parseArgs, parseDuration, runSoak } from '../../scripts/soak.js';

describe('soak (short)', () => {
  it('random faults for ~12 s: every invariant holds and every client recovers', async () => {
    const lines: string[] = [];
    const result = await runSoak({
      durationMs: 12_000,
      warmupMs: 2000,
      clients: 4,
      seed: 20240601,
      faultMinMs: 150,
      faultMaxMs: 700,
      log: (line) => lines.push(line),
    });
    // The whole table in the test output, for the record.
    console.log(formatSummary(result));
    expect(result.violations).toEqual([]);
    expect(result.ok).toBe(true);
    const t = result.totals;
    expect(t.sent).toBeGreaterThan(200);
    expect(t.acked).toBe(t.sent);
    expect(t.received).toBe(t.sent);
    expect(t.methods200).toBeGreaterThan(0);
    expect(t.twinOk).toBeGreaterThan(0);
    // Faults really happened and the clients really went through reconnections.
    const injected = FAULT_KINDS.filter((k) => t.faults[k] > 0);
    expect(injected.length).toBeGreaterThanOrEqual(5);
    expect(t.disconnects).toBeGreaterThan(4);
    expect(t.ready).toBeGreaterThan(4);
    expect(result.handles.after['TCPSocketWrap'] ?? 0).toBe(result.handles.before['TCPSocketWrap'] ?? 0);
    expect(lines.at(-1)).toContain('soak: OK');
  }, 60_000);

  it('parses its command line', () => {
    expect(parseDuration('90')).toBe(90_000);
    expect(parseDuration('90s')).toBe(90_000);
    expect(parseDuration('3m')).toBe(180_000);
    expect(parseDuration('1h')).toBe(3_600_000);
    expect(() => parseDuration('soon')).toThrow(/--duration/);
    expect(parseArgs(['--duration', '10m', '--clients=8', '--seed', '7'])).toEqual({ durationMs: 600_000, clients: 8, seed: 7 });
    expect(() => parseArgs(['--clients', '0'])).toThrow(/--clients/);
    expect(() => parseArgs(['--nope'])).toThrow(/unknown option/);
  });
});
