/**
 * Child process of bench/codec.ts: measures one group (by index in `allGroups()`) in a fresh V8, so that no group
 * inherits the type feedback, optimised code or heap of the ones before it, and sends the measurements back over IPC.
 */
import { allGroups } from './groups.js';
import { runGroup } from './run.js';
import type { Measured, Sampling } from './run.js';

/** Message from the child: the measurements of its group, or why it failed. */
export type GroupResult = { ok: true; results: Measured[] } | { ok: false; error: string };

const [indexArg, samplingArg] = process.argv.slice(2);
const send = (msg: GroupResult): Promise<void> => new Promise((resolve) => process.send!(msg, () => resolve()));

try {
  const group = allGroups()[Number(indexArg)];
  if (group === undefined) throw new Error(`no group ${String(indexArg)}`);
  const sampling = JSON.parse(samplingArg!) as Sampling;
  const results = await runGroup(group.title, group.build(), sampling);
  await send({ ok: true, results: [...results.values()] });
} catch (err) {
  await send({ ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  process.exitCode = 1;
}
process.disconnect?.();
