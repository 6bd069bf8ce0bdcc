/**
 * The MQTT 3.1.1 session transport: one client session over TLS, plain TCP or a caller-supplied Duplex. The Azure
 * layer builds on {@link MqttSession}; nothing here knows about Azure topics.
 */
export { DISCONNECT_GRACE_MS, MqttSession } from './mqtt-session.js';
export {
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_KEEPALIVE_SECONDS,
  DEFAULT_MAX_PAYLOAD_BYTES,
  PUBLISH_OVERHEAD_BYTES,
  type ConnectedInfo,
  type MqttSessionEvents,
  type OversizedMessage,
  type MqttSessionOptions,
  type MqttSessionState,
  type OnConnectHook,
  type PasswordSource,
  type PublishOptions,
  type ReconnectingInfo,
} from './options.js';
export {
  DEFAULT_RECONNECT_OPTIONS,
  isAuthFailure,
  reconnectDelay,
  resolveReconnectOptions,
  shouldRetry,
  type ReconnectOptions,
} from './backoff.js';
export {
  classifySocketError,
  isTlsErrorCode,
  MQTT_PLAIN_PORT,
  MQTT_TLS_PORT,
  type SocketOptions,
  type SocketSource,
  type TransportTlsOptions,
} from './socket.js';
export { systemClock, type Clock, type TimerHandle } from './keepalive.js';
export { DEFAULT_IN_FLIGHT_WINDOW, DEFAULT_MAX_QUEUED, DEFAULT_MAX_QUEUED_BYTES } from './outgoing.js';
export { isPacketId, MAX_PACKET_ID, PacketIdAllocator } from './packet-ids.js';
export {
  MQTT_CHANNELS,
  type MqttConnectedMessage,
  type MqttConnectMessage,
  type MqttDisconnectMessage,
  type MqttPacketMessage,
  type MqttWarningMessage,
} from './diagnostics.js';
