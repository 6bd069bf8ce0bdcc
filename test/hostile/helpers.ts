/**
 * Shared helpers for the hostile-server and bad-input tests: forced garbage collection and memory snapshots (the
 * "memory stays bounded, measured" checks), raw packet bytes, a byte trickler over the emulator's `sendRaw`, and a
 * wait for one full error -> reconnect -> READY cycle of the client.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { expect } from 'vitest';
import { encode, type QoS } from '../../src/codec/index.js';
import type { Emulator } from '../../src/emulator/emulator.js';
import type { AzureIotHubError } from '../../src/errors.js';
import type { EventRecorder } from '../azure/client/harness.js';

// `--expose-gc` at run time: the flag applies to contexts created afterwards, so a fresh context hands out `gc`.
// No vitest configuration (execArgv) is needed.
setFlagsFromString('--expose-gc');
const gcFn = runInNewContext('gc') as () => void;

/** Run the garbage collector until memory settles (a few full collections). */
export async function collect(): Promise<void> {
  for (let i = 0; i < 3; i++) {
    gcFn();
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** Memory after a full collection: JS heap, and the ArrayBuffers (socket chunks, assembled packets) outside it. */
export interface MemorySnapshot {
  heapUsed: number;
  arrayBuffers: number;
}

export async function memory(): Promise<MemorySnapshot> {
  await collect();
  const m = process.memoryUsage();
  return { heapUsed: m.heapUsed, arrayBuffers: m.arrayBuffers };
}

export const MiB = 1024 * 1024;

/** Assert that memory grew by less than `limitBytes` (heap and ArrayBuffers each) since `before`. */
export async function expectMemoryGrowthBelow(before: MemorySnapshot, limitBytes: number, what: string): Promise<MemorySnapshot> {
  const after = await memory();
  const heap = after.heapUsed - before.heapUsed;
  const buffers = after.arrayBuffers - before.arrayBuffers;
  expect(heap, `${what}: heap growth ${(heap / MiB).toFixed(2)} MiB`).toBeLessThan(limitBytes);
  expect(buffers, `${what}: ArrayBuffer growth ${(buffers / MiB).toFixed(2)} MiB`).toBeLessThan(limitBytes);
  return after;
}

const utf8 = new TextEncoder();

/** A PUBLISH as the hub would send it (QoS 0 unless `messageId` is given). */
export function publishBytes(topic: string, payload: Uint8Array | string, qos: QoS = 0, messageId?: number): Uint8Array {
  const body = typeof payload === 'string' ? utf8.encode(payload) : payload;
  return qos === 0
    ? encode({ type: 'publish', topic, payload: body, qos: 0, dup: false, retain: false })
    : encode({ type: 'publish', topic, payload: body, qos, dup: false, retain: false, messageId: messageId ?? 1 });
}

/**
 * Write `bytes` to the device's connection one byte every `intervalMs` (the first at once) through `faults.sendRaw`. Stops by itself
 * when the connection the trickle started on ends (the emulator's `disconnect` event for the device), so no byte
 * ever reaches a later connection. `done` resolves with the number of bytes written.
 */
export function trickle(emu: Emulator, deviceId: string, bytes: Uint8Array, intervalMs: number): { done: Promise<number>; stop: () => void } {
  let sent = 0;
  let timer: NodeJS.Timeout | undefined;
  let finish: (n: number) => void = () => undefined;
  const done = new Promise<number>((resolve) => {
    finish = resolve;
  });
  const stop = (): void => {
    if (timer !== undefined) clearInterval(timer);
    timer = undefined;
    emu.off('disconnect', onDisconnect);
    finish(sent);
  };
  const onDisconnect = (e: { clientId: string }): void => {
    if (e.clientId === deviceId) stop();
  };
  emu.on('disconnect', onDisconnect);
  const next = (): void => {
    if (sent >= bytes.length || !emu.faults.sendRaw(deviceId, bytes.subarray(sent, sent + 1))) {
      stop();
      return;
    }
    sent++;
    if (sent >= bytes.length) stop();
  };
  timer = setInterval(next, intervalMs);
  next(); // the first byte at once, the others one interval apart
  return { done, stop };
}

/**
 * Wait for the client's reaction to a fatal packet: ERROR and DISCONNECTED carrying the same coded error, then the
 * reconnection (CONNECTING, CONNECTED, READY). Returns the error.
 */
export async function expectErrorThenReady(rec: EventRecorder, since: number, timeoutMs = 5000): Promise<AzureIotHubError> {
  await rec.waitFor('READY', { since, timeoutMs });
  const types = rec.types(since);
  expect(types.slice(0, 5)).toEqual(['ERROR', 'DISCONNECTED', 'CONNECTING', 'CONNECTED', 'READY']);
  const err = rec.all('ERROR', since)[0]!.data.err;
  expect(rec.all('DISCONNECTED', since)[0]!.data?.err).toBe(err);
  return err;
}
