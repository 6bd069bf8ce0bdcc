/**
 * Observability without dependencies: `node:diagnostics_channel` channels. Messages carry packet types, ids and
 * sizes, never payloads, passwords, SAS tokens or keys. Publishing is skipped when a channel has no subscriber, so
 * the cost on the hot path is one property read.
 *
 * ```ts
 * import diagnostics_channel from 'node:diagnostics_channel';
 * diagnostics_channel.subscribe('azure-iot-hub:mqtt:packet-sent', (m) => console.log(m));
 * ```
 *
 * @see https://nodejs.org/api/diagnostics_channel.html
 */
import { channel } from 'node:diagnostics_channel';
import type { AzureIotHubError } from '../errors.js';
import type { PacketTypeName } from '../codec/types.js';

/** Channel names. */
export const MQTT_CHANNELS = Object.freeze({
  /** A connection attempt starts: {@link MqttConnectMessage}. */
  connect: 'azure-iot-hub:mqtt:connect',
  /** CONNACK accepted: {@link MqttConnectedMessage}. */
  connected: 'azure-iot-hub:mqtt:connected',
  /** A packet was handed to the socket: {@link MqttPacketMessage}. */
  packetSent: 'azure-iot-hub:mqtt:packet-sent',
  /** A packet was decoded: {@link MqttPacketMessage}. */
  packetReceived: 'azure-iot-hub:mqtt:packet-received',
  /** A connection or attempt ended: {@link MqttDisconnectMessage}. */
  disconnect: 'azure-iot-hub:mqtt:disconnect',
  /** Something odd but harmless (a PUBACK for an unknown id, a listener that threw): {@link MqttWarningMessage}. */
  warning: 'azure-iot-hub:mqtt:warning',
} as const);

export interface MqttConnectMessage {
  /** Per-process number of the session (sessions are numbered from 1). */
  session: number;
  clientId: string;
  /** Logical host (TLS SNI), or undefined for a caller-supplied socket. */
  host: string | undefined;
  port: number | undefined;
  /** 0 for the attempt `connect()` started, n for the n-th retry. */
  attempt: number;
}

export interface MqttConnectedMessage {
  session: number;
  clientId: string;
  sessionPresent: boolean;
}

export interface MqttPacketMessage {
  session: number;
  clientId: string;
  type: PacketTypeName;
  /** Packet identifier, when the packet has one. */
  id: number | undefined;
  /** Encoded size in bytes (fixed header included). */
  size: number;
  /** PUBLISH only: QoS, DUP and topic (topics are not secret in MQTT or Azure). */
  qos?: number;
  dup?: boolean;
  topic?: string;
}

export interface MqttDisconnectMessage {
  session: number;
  clientId: string;
  /** Undefined when the application asked for it. */
  error: AzureIotHubError | undefined;
}

export interface MqttWarningMessage {
  session: number;
  clientId: string;
  message: string;
  error?: unknown;
}

export const connectChannel = channel(MQTT_CHANNELS.connect);
export const connectedChannel = channel(MQTT_CHANNELS.connected);
export const packetSentChannel = channel(MQTT_CHANNELS.packetSent);
export const packetReceivedChannel = channel(MQTT_CHANNELS.packetReceived);
export const disconnectChannel = channel(MQTT_CHANNELS.disconnect);
export const warningChannel = channel(MQTT_CHANNELS.warning);
