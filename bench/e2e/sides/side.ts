/**
 * What every side of the end-to-end benchmarks offers: connect one device to "ready", send telemetry with the
 * shared property bag, update reported properties, answer the `ping` direct method, close.
 *
 * "Ready" is the same on every side: TLS handshake, CONNECT/CONNACK, the four subscriptions a full device client
 * holds (cloud-to-device, twin responses, desired properties, direct methods) acknowledged, and the first twin GET
 * answered.
 */
import type { EmulatorInfo, RegisteredBenchDevice } from '../lib/types.js';

/** The two application properties of every telemetry message (the same bag on every side). */
export const PROPERTIES: Readonly<Record<string, string>> = { alert: 'false', sensor: 'therm-7' };

/** The direct method every side answers (`{ status: 200, payload: { ok: true } }`). */
export const PING_METHOD = 'ping';

/** Options of {@link Side.connect}. */
export interface ConnectOptions {
  /** QoS 1 publishes the library may keep unacknowledged (where it has such a setting). */
  inFlight: number;
}

/** One connected device. */
export interface BenchClient {
  /** Telemetry with {@link PROPERTIES}: resolves on PUBACK (QoS 1) or once written (QoS 0). */
  send(payload: Uint8Array, qos: 0 | 1): Promise<void>;
  /** A reported-properties patch: resolves when the hub answered it. */
  updateReported(patch: Record<string, unknown>): Promise<void>;
  /** QoS 1 publishes the library holds unacknowledged right now, or -1 when it does not tell. */
  inFlight(): number;
  /** Disconnect (DISCONNECT, close) and release everything. */
  close(): Promise<void>;
}

/** A library under test. */
export interface Side {
  /** Connect `device` and resolve when it is ready (see the file comment). */
  connect(device: RegisteredBenchDevice, emu: EmulatorInfo, options: ConnectOptions): Promise<BenchClient>;
}

/** The telemetry topic with {@link PROPERTIES}, for the raw MQTT side (the libraries build it themselves). */
export function telemetryTopic(deviceId: string): string {
  const bag = Object.entries(PROPERTIES).map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
  return `devices/${deviceId}/messages/events/${bag}`;
}

/** Deterministic JSON-looking payload bytes of `size` bytes. */
export function payloadOf(size: number): Buffer {
  const text = '{"temperature":21.5,"humidity":48,"pressure":1013.25,"seq":';
  const out = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) out[i] = text.charCodeAt(i % text.length);
  return out;
}
