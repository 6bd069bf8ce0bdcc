/**
 * Run parameters and shared arbitraries of the fuzz suite.
 *
 * Two modes:
 * - in `npm test` (no `FUZZ_SECONDS`): a fixed seed and a fixed number of runs per property, so the suite is
 *   deterministic and takes a few seconds in all; a time cap per property keeps a slow machine from dragging on;
 * - `npm run fuzz` (`FUZZ_SECONDS=n`): every property runs for `n` seconds with as many cases as fit, from a fresh
 *   seed each run. `FUZZ_SEED=s` replays a seed in either mode.
 *
 * fast-check reports the seed and the shrunk counterexample of a failure (`seed` and `path` in its message); in fuzz
 * mode the seed is printed up front too. Every counterexample found so far is a named fixture in
 * `regressions.test.ts`.
 */
import fc from 'fast-check';

const fuzzSeconds = Number(process.env['FUZZ_SECONDS'] ?? 0);
const seedText = process.env['FUZZ_SEED'];

/** True in `npm run fuzz` (`FUZZ_SECONDS` set). */
export const FUZZ_MODE = Number.isFinite(fuzzSeconds) && fuzzSeconds > 0;

/** The seed of this run (fixed in `npm test`). */
export const FUZZ_SEED = seedText !== undefined ? Number(seedText) : FUZZ_MODE ? Date.now() % 0x7fffffff : 0xf022;

if (FUZZ_MODE) console.info(`fuzz: ${fuzzSeconds} s per property, seed ${FUZZ_SEED} (replay with FUZZ_SEED=${FUZZ_SEED})`);

/**
 * fast-check parameters for one property: `runs` cases in `npm test` (capped at `capMs`), or `FUZZ_SECONDS` of
 * cases in fuzz mode.
 */
export function fuzz(runs: number, capMs = 400): fc.Parameters<unknown> {
  if (FUZZ_MODE) {
    return {
      seed: FUZZ_SEED,
      numRuns: Number.MAX_SAFE_INTEGER,
      plugins: [fc.interruptAfterTimeLimit(fuzzSeconds * 1000)],
    };
  }
  return { seed: FUZZ_SEED, numRuns: runs, plugins: [fc.interruptAfterTimeLimit(capMs)] };
}

/** The per-test timeout for a fuzz test: long enough for `FUZZ_SECONDS` per property in fuzz mode. */
export function fuzzTimeout(properties = 1): number {
  return FUZZ_MODE ? (fuzzSeconds * properties + 30) * 1000 : 30_000;
}

// ---------------------------------------------------------------------------------------------------------------
// Mutations of valid inputs

/** One byte-level mutation, applied by {@link mutateBytes}. */
type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'set'; at: number; value: number }
  | { kind: 'insert'; at: number; value: number }
  | { kind: 'delete'; at: number; count: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'duplicate'; at: number; count: number }
  | { kind: 'interesting'; at: number; value: number };

// Values that hit boundaries of MQTT fields: lengths, flags, continuation bits, UTF-8 lead bytes, U+0000, wildcards.
const INTERESTING = [0x00, 0x01, 0x02, 0x7f, 0x80, 0xff, 0xfe, 0xc0, 0xed, 0xf4, 0x23, 0x2b, 0x2f, 0x3f, 0x26, 0x3d, 0x24];

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 4 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('duplicate' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 6 }) }),
  fc.record({ kind: fc.constant('interesting' as const), at: fc.nat(), value: fc.constantFrom(...INTERESTING) }),
);

/** Apply `mutations` in order (positions wrap around the current length). */
export function mutateBytes(input: Uint8Array, mutations: readonly Mutation[]): Uint8Array {
  let b: Uint8Array = input.slice();
  const splice = (at: number, remove: number, add: Uint8Array): Uint8Array => {
    const out = new Uint8Array(b.length - Math.min(remove, b.length - at) + add.length);
    out.set(b.subarray(0, at));
    out.set(add, at);
    out.set(b.subarray(at + remove), at + add.length);
    return out;
  };
  for (const m of mutations) {
    const n = b.length;
    const at = n === 0 ? 0 : m.at % (n + (m.kind === 'insert' ? 1 : 0));
    switch (m.kind) {
      case 'flip':
        if (n > 0) b[at] = b[at]! ^ (1 << m.bit);
        break;
      case 'set':
      case 'interesting':
        if (n > 0) b[at] = m.value;
        break;
      case 'insert':
        b = splice(at, 0, Uint8Array.of(m.value));
        break;
      case 'delete':
        b = splice(at, m.count, new Uint8Array(0));
        break;
      case 'truncate':
        b = b.slice(0, at);
        break;
      case 'duplicate':
        b = splice(at, 0, b.slice(at, at + m.count));
        break;
    }
  }
  return b;
}

/** 1 to 4 mutations. */
export const mutations: fc.Arbitrary<Mutation[]> = fc.array(mutation, { minLength: 1, maxLength: 4 });

/** Mutate a string as a list of UTF-16 units (so lone surrogates and NUL can appear). */
export function mutateString(input: string, edits: ReadonlyArray<{ at: number; op: 'delete' | 'insert' | 'replace'; text: string }>): string {
  let s = input;
  for (const e of edits) {
    const at = s.length === 0 ? 0 : e.at % (s.length + 1);
    if (e.op === 'delete') s = s.slice(0, at) + s.slice(at + 1);
    else if (e.op === 'insert') s = s.slice(0, at) + e.text + s.slice(at);
    else s = s.slice(0, at) + e.text + s.slice(at + 1);
  }
  return s;
}

/** Fragments that matter to topic and query parsers. */
const TOPIC_FRAGMENTS = [
  '/', '?', '&', '=', '%', '%2', '%24', '%zz', '%C3%A9', '%ED%A0%80', '$rid', '$version', 'retry-after', 'operationId', '$',
  '200', '204', '202', '429', '500', '0', '-1', '1e3', ' ', '+', '#', '\u0000', '\ud800', 'é', '😀', 'devices/', 'modules/',
  'inputs/', 'messages/devicebound', '$iothub/twin/res/', '$iothub/twin/PATCH/properties/desired', '$iothub/methods/POST/',
  '$dps/registrations/res/', 'dev1', '__proto__',
];

/** Edits for {@link mutateString}: delete, insert or replace at a position with a topic fragment or any character. */
export const stringEdits = fc.array(
  fc.record({
    at: fc.nat(),
    op: fc.constantFrom('delete' as const, 'insert' as const, 'replace' as const),
    text: fc.oneof(fc.constantFrom(...TOPIC_FRAGMENTS), fc.string({ maxLength: 3, unit: 'binary' })),
  }),
  { minLength: 1, maxLength: 5 },
);

/** Strings built from topic fragments: random topics that look enough like real ones to get past the prefixes. */
export const topicLike: fc.Arbitrary<string> = fc
  .array(fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...TOPIC_FRAGMENTS) }, { weight: 1, arbitrary: fc.string({ maxLength: 4, unit: 'binary' }) }), {
    maxLength: 14,
  })
  .map((parts) => parts.join(''));

/** Any string: ASCII-heavy, with full Unicode and lone surrogates now and then. */
export const anyText: fc.Arbitrary<string> = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ maxLength: 20, unit: 'binary' }),
  fc.string({ maxLength: 20, unit: 'grapheme' }),
);
