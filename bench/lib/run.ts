/**
 * Runs a group of cases with benny (benchmark.js underneath) and keeps, for each case, the median time of one
 * operation: medians shrug off the odd slow sample that other processes on a shared 2-core machine cause.
 */
import b from 'benny';

/** Sampling settings for every case (benchmark.js options, seconds). */
export interface Sampling {
  /** Minimum samples per case. */
  minSamples: number;
  /** Time after which sampling stops, once `minSamples` are taken. */
  maxTime: number;
  /** Minimum duration of one sample (benchmark.js repeats the operation until it is reached). */
  minTime: number;
}

/** One case: a name and an operation (one operation decodes or encodes a whole stream of `packets` packets). */
export interface Case {
  name: string;
  op: () => void;
  /** Packets handled by one operation. */
  packets: number;
  /** Wire bytes handled by one operation. */
  bytes: number;
  /** Overrides for a case whose operation is slow (mqtt-packet fed a 64 KiB PUBLISH byte by byte). */
  sampling?: Partial<Sampling>;
}

export interface Measured {
  name: string;
  /** Packets per second, from the median operation time. */
  packetsPerSec: number;
  /** Wire megabytes (10^6 bytes) per second, from the median operation time. */
  mbPerSec: number;
  /** Median seconds per operation. */
  median: number;
  /** Relative margin of error of the mean, percent (benchmark.js `rme`). */
  rme: number;
  samples: number;
  packets: number;
}

/** Run `cases` as one benny suite titled `title`; returns the measurements by case name. */
export async function runGroup(title: string, cases: Case[], sampling: Sampling): Promise<Map<string, Measured>> {
  const byName = new Map(cases.map((c) => [c.name, c]));
  const summary = await b.suite(
    title,
    ...cases.map((c) => b.add(c.name, c.op, { ...sampling, ...c.sampling })),
    b.cycle(),
    b.complete(),
  );
  const out = new Map<string, Measured>();
  for (const r of summary.results) {
    const c = byName.get(r.name);
    if (c === undefined) continue;
    if (!r.completed || r.samples === 0 || !(r.details.median > 0)) {
      throw new Error(`${title} / ${r.name} did not complete (an operation threw?)`);
    }
    const median = r.details.median;
    out.set(r.name, {
      name: r.name,
      packetsPerSec: c.packets / median,
      mbPerSec: c.bytes / median / 1e6,
      median,
      rme: r.margin,
      samples: r.samples,
      packets: c.packets,
    });
  }
  return out;
}
