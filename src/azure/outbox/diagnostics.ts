/**
 * Outbox observability without a logging dependency: one `node:diagnostics_channel` channel. Messages carry counts,
 * sizes and the store path, never payloads, keys or tokens.
 *
 * ```ts
 * import diagnostics_channel from 'node:diagnostics_channel';
 * diagnostics_channel.subscribe('azure-iot-hub:outbox', (m) => console.log(m));
 * ```
 *
 * @see https://nodejs.org/api/diagnostics_channel.html
 */
import { channel } from 'node:diagnostics_channel';
import type { ScanStop } from './log-format.js';

/** Channel names. */
export const OUTBOX_CHANNELS = Object.freeze({
  /** Recovery, discarded torn tails, compaction, drops and store failures: {@link OutboxDiagnostic}. */
  outbox: 'azure-iot-hub:outbox',
} as const);

/** A message of the {@link OUTBOX_CHANNELS.outbox} channel. */
export type OutboxDiagnostic =
  /** `init()` loaded the store: `messages` unacknowledged messages (`bytes` payload bytes) will be sent at `connect()`. */
  | { event: 'recovered'; messages: number; bytes: number }
  /** The file store found a torn or corrupt tail at `offset` while opening and cut off `bytes` bytes. */
  | { event: 'discarded'; path: string; offset: number; bytes: number; reason: ScanStop }
  /** The file store rewrote its file without acknowledged records. */
  | { event: 'compacted'; path: string; beforeBytes: number; afterBytes: number; messages: number }
  /** `overflow: 'drop-oldest'` dropped messages that were waiting in the outbox while not connected. */
  | { event: 'dropped'; count: number; bytes: number }
  /** Something failed without failing a `send()`: an ack or fsync that could not be written, a failed compaction. */
  | { event: 'warning'; message: string; path?: string; error?: unknown };

const outboxChannel = channel(OUTBOX_CHANNELS.outbox);

/** Publish a message (nothing happens when nobody subscribes). */
export function outboxDiagnostic(message: OutboxDiagnostic): void {
  if (outboxChannel.hasSubscribers) outboxChannel.publish(message);
}
