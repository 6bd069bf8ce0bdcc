/**
 * Public types of the emulator's service-side API that are shared by several of its files: registered devices,
 * stored telemetry and the events the emulator emits.
 */
import type { QoS } from '../codec/index.js';
import type { DeviceAuth } from './auth.js';
import type { PacketLogEntry } from './packet-log.js';
import type { JsonObject } from './twin.js';

/** Options of `registerDevice`. */
export interface RegisterDeviceOptions {
  deviceId: string;
  /** Hub host name (default: the emulator's first hub). */
  hub?: string;
  /** Default `{ type: 'x509-ca' }`. */
  auth?: DeviceAuth;
}

/** A registered device. For SAS devices, the keys and ready-made connection strings. */
export interface RegisteredDevice {
  deviceId: string;
  hub: string;
  auth: DeviceAuth;
  /** SAS devices: the primary key (base64). */
  primaryKey?: string;
  secondaryKey?: string;
  /**
   * A connection string for Microsoft's device SDK pointing at the emulator:
   * `HostName=<hub>;DeviceId=<id>;SharedAccessKey=<key>` (or `x509=true`) plus `GatewayHostName=127.0.0.1:<port>`,
   * so the SDK connects to the emulator's port while the username and SAS resource keep the hub's name.
   * (`Client.fromConnectionString` ignores `GatewayHostName` for `x509=true`: use `HostName=127.0.0.1:<port>`, an
   * alias of the default hub, or an `X509AuthenticationProvider` with `gatewayHostName`.)
   */
  connectionString: string;
}

/** A device-to-cloud message as the emulator stored it. */
export interface TelemetryMessage {
  deviceId: string;
  hub: string;
  /** The MQTT topic, as received. */
  topic: string;
  /** A copy of the payload. */
  payload: Uint8Array;
  /** Application properties from the topic's property bag (URL-decoded); `null` for the bare `key` form. */
  properties: Record<string, string | null>;
  /**
   * System properties: those the device set in the bag (`$.mid`, `$.cid`, `$.ct`, `$.ce`, ...; `''` for the bare
   * form) plus those IoT Hub adds (`iothub-connection-device-id`, `iothub-enqueuedtime`,
   * `iothub-connection-auth-method`, `iothub-message-source`).
   */
  systemProperties: Record<string, string>;
  qos: QoS;
  dup: boolean;
  retain: boolean;
  /** `Date.now()` when stored. */
  receivedAt: number;
}

/** `connect` event: a device (or DPS client) was accepted. */
export interface ConnectEvent {
  service: 'hub' | 'dps';
  /** Device id (hub) or registration id (DPS). */
  clientId: string;
  /** Hub host name (hub) or DPS host name (DPS). */
  host: string;
  auth: 'sas' | 'x509';
  cleanSession: boolean;
  sessionPresent: boolean;
  /** Keepalive the client asked for, seconds. */
  keepalive: number;
  /** The `api-version` of the username. */
  apiVersion: string;
  /** The `model-id` of the username (IoT Plug and Play), if any. */
  modelId?: string;
  /** The SNI host name the client sent, if any. */
  servername?: string;
  username: string;
}

/** `connectRefused` event. */
export interface ConnectRefusedEvent {
  service: 'hub' | 'dps';
  clientId: string;
  returnCode: number;
  /** Why (never contains a key or token). */
  reason: string;
}

/** `disconnect` event. */
export interface DisconnectEvent {
  service: 'hub' | 'dps';
  clientId: string;
  host: string;
  /** Why the connection ended: `client disconnected`, `keepalive timeout`, `replaced by a new connection`, ... */
  reason: string;
  /** True after the client's DISCONNECT. */
  graceful: boolean;
}

/** `subscribe` event. */
export interface SubscribeEvent {
  service: 'hub' | 'dps';
  clientId: string;
  subscriptions: { topic: string; qos: QoS; granted: number }[];
}

/** `unsubscribe` event. */
export interface UnsubscribeEvent {
  service: 'hub' | 'dps';
  clientId: string;
  filters: string[];
}

/** `twinReported` event: a reported-properties patch was applied. */
export interface TwinReportedEvent {
  deviceId: string;
  hub: string;
  patch: JsonObject;
  version: number;
}

/** `twinRequest` event: a twin GET or PATCH was answered. */
export interface TwinRequestEvent {
  deviceId: string;
  hub: string;
  kind: 'get' | 'patch-reported';
  rid: string;
  status: number;
}

/** `c2d` event: what happened to a cloud-to-device message. */
export interface C2dEvent {
  deviceId: string;
  hub: string;
  messageId: string;
  /** `delivered` (written; again for each redelivery), `completed` (PUBACK or QoS 0 delivery), `dropped` (clean
   * session), `deadLettered` (too many deliveries). */
  kind: 'delivered' | 'completed' | 'dropped' | 'deadLettered';
  deliveryCount: number;
}

/** `methodResponse` event. */
export interface MethodResponseEvent {
  deviceId: string;
  hub: string;
  rid: string;
  status: number;
}

/** `dpsRegistration` event: a DPS registration reached a final state. */
export interface DpsRegistrationEvent {
  registrationId: string;
  status: 'assigned' | 'failed' | 'disabled';
  assignedHub?: string;
  deviceId?: string;
}

/** `protocolViolation` event: the emulator closed a connection because the client broke a rule. */
export interface ProtocolViolationEvent {
  service: 'hub' | 'dps';
  clientId: string;
  reason: string;
}

/** Events of the emulator (`emulator.on(name, listener)`). */
export interface EmulatorEventMap {
  connect: [ConnectEvent];
  connectRefused: [ConnectRefusedEvent];
  disconnect: [DisconnectEvent];
  subscribe: [SubscribeEvent];
  unsubscribe: [UnsubscribeEvent];
  telemetry: [TelemetryMessage];
  twinReported: [TwinReportedEvent];
  twinRequest: [TwinRequestEvent];
  c2d: [C2dEvent];
  methodResponse: [MethodResponseEvent];
  dpsRegistration: [DpsRegistrationEvent];
  protocolViolation: [ProtocolViolationEvent];
  packet: [PacketLogEntry];
}
