/**
 * Settings of an end-to-end run, from environment variables (all optional; the defaults keep `npm run bench:e2e` to
 * a few minutes).
 */

/** The groups of cases, in run order. */
export const GROUPS = ['throughput', 'connect', 'roundtrip', 'scale', 'footprint'] as const;
/** One of {@link GROUPS}. */
export type Group = (typeof GROUPS)[number];

/** Every setting, with the variable that sets it. */
export interface E2eConfig {
  /** `BENCH_E2E_GROUPS`: comma-separated subset of {@link GROUPS}; a subset prints instead of writing RESULTS.md. */
  groups: Group[];
  /** `BENCH_E2E_ROUNDS` (3): throughput rounds; each case's median over the rounds is reported. */
  rounds: number;
  /** `BENCH_E2E_SECONDS` (2): measured window of a throughput case. */
  seconds: number;
  /** `BENCH_E2E_WARMUP` (1): seconds of traffic before the window. */
  warmupSeconds: number;
  /** `BENCH_E2E_IN_FLIGHT` (100): unacknowledged messages kept outstanding, on every side. */
  inFlight: number;
  /** `BENCH_E2E_CONNECT_SAMPLES` (100): connects timed per side (after 5 not timed). */
  connectSamples: number;
  /** `BENCH_E2E_RTT_SAMPLES` (200): twin updates and method calls timed per side (after 20 not timed). */
  rttSamples: number;
  /** `BENCH_E2E_SCALE` (1,10,100,1000): device counts of the memory and scale cases. */
  scale: number[];
  /** `BENCH_E2E_SCALE_SECONDS` (10): seconds of the one-message-per-second load. */
  scaleSeconds: number;
  /** `BENCH_E2E_SDK_MAX_DEVICES` (1000): largest device count tried with Microsoft's SDK. */
  sdkMaxDevices: number;
  /** `BENCH_E2E_CONNECT_CONCURRENCY` (20): connections opened at once in the scale cases. */
  connectConcurrency: number;
  /** `BENCH_E2E_COLD_SAMPLES` (20): fresh processes per cold-import case. */
  coldSamples: number;
  /** `BENCH_E2E_PROFILE`: folder for CPU profiles of every worker and of the emulator (`node --cpu-prof`). */
  profileDir: string | undefined;
}

function num(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const v = Number(raw);
  if (!Number.isFinite(v) || v < 0) throw new Error(`${name} must be a non-negative number`);
  return v;
}

/** The settings of this run. */
export function readConfig(): E2eConfig {
  const groupsRaw = process.env['BENCH_E2E_GROUPS'];
  const groups = groupsRaw === undefined || groupsRaw === ''
    ? [...GROUPS]
    : groupsRaw.split(',').map((g) => g.trim()).filter((g) => g.length > 0);
  for (const g of groups) {
    if (!(GROUPS as readonly string[]).includes(g)) throw new Error(`BENCH_E2E_GROUPS: unknown group ${g} (${GROUPS.join(', ')})`);
  }
  const scaleRaw = process.env['BENCH_E2E_SCALE'];
  const scale = scaleRaw === undefined || scaleRaw === '' ? [1, 10, 100, 1000] : scaleRaw.split(',').map((s) => Number(s.trim()));
  if (scale.some((n) => !Number.isInteger(n) || n < 1)) throw new Error('BENCH_E2E_SCALE: comma-separated positive integers');
  const profileDir = process.env['BENCH_E2E_PROFILE'];
  return {
    groups: groups as Group[],
    rounds: Math.max(1, Math.round(num('BENCH_E2E_ROUNDS', 3))),
    seconds: num('BENCH_E2E_SECONDS', 2),
    warmupSeconds: num('BENCH_E2E_WARMUP', 1),
    inFlight: Math.max(1, Math.round(num('BENCH_E2E_IN_FLIGHT', 100))),
    connectSamples: Math.max(1, Math.round(num('BENCH_E2E_CONNECT_SAMPLES', 100))),
    rttSamples: Math.max(1, Math.round(num('BENCH_E2E_RTT_SAMPLES', 200))),
    scale,
    scaleSeconds: num('BENCH_E2E_SCALE_SECONDS', 10),
    sdkMaxDevices: Math.round(num('BENCH_E2E_SDK_MAX_DEVICES', 1000)),
    connectConcurrency: Math.max(1, Math.round(num('BENCH_E2E_CONNECT_CONCURRENCY', 20))),
    coldSamples: Math.max(1, Math.round(num('BENCH_E2E_COLD_SAMPLES', 20))),
    profileDir: profileDir === undefined || profileDir === '' ? undefined : profileDir,
  };
}

/** The variables set for this run, as `NAME=value` (for RESULTS.md). */
export function envOverrides(): string[] {
  return Object.keys(process.env)
    .filter((k) => k.startsWith('BENCH_E2E_'))
    .sort()
    .map((k) => `${k}=${process.env[k]!}`);
}
