/**
 * DPS warnings without a logging dependency: a `node:diagnostics_channel` channel. Messages name the problem and
 * the store path, never a key, SAS token or certificate.
 *
 * ```ts
 * import diagnostics_channel from 'node:diagnostics_channel';
 * diagnostics_channel.subscribe('azure-iot-hub:dps:warning', (m) => console.warn(m));
 * ```
 *
 * @see https://nodejs.org/api/diagnostics_channel.html
 */
import { channel } from 'node:diagnostics_channel';

/** Channel names. */
export const DPS_CHANNELS = Object.freeze({
  /**
   * Something went wrong that does not stop the device: a stored assignment that is corrupt, unreadable or for
   * another id scope or registration id (the device provisions again). {@link DpsWarningMessage}.
   */
  warning: 'azure-iot-hub:dps:warning',
} as const);

/** A message of the {@link DPS_CHANNELS.warning} channel. */
export interface DpsWarningMessage {
  message: string;
  /** The store file concerned, for the file store. */
  path?: string;
  error?: unknown;
}

const warningChannel = channel(DPS_CHANNELS.warning);

/** Publish a warning (nothing happens when nobody subscribes). */
export function dpsWarning(message: DpsWarningMessage): void {
  if (warningChannel.hasSubscribers) warningChannel.publish(message);
}
