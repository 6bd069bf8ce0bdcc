/**
 * MQTT 3.1.1 control packets as plain objects: a discriminated union on `type`, with MQTT's own field names.
 * Binary fields are `Uint8Array`s; decoded payloads are views of the received bytes (see `PacketDecoder`).
 */

/** Quality of service. 3 is invalid in MQTT 3.1.1 (MQTT-3.3.1-4). */
export type QoS = 0 | 1 | 2;

/** SUBACK return code: a granted QoS, or 0x80 for failure (MQTT-3.9.3-2). */
export type SubackReturnCode = 0 | 1 | 2 | 0x80;

/** Numeric packet types (the high nibble of the first byte). */
export const PACKET_TYPE = Object.freeze({
  connect: 1,
  connack: 2,
  publish: 3,
  puback: 4,
  pubrec: 5,
  pubrel: 6,
  pubcomp: 7,
  subscribe: 8,
  suback: 9,
  unsubscribe: 10,
  unsuback: 11,
  pingreq: 12,
  pingresp: 13,
  disconnect: 14,
} as const);

/** CONNACK return codes (MQTT 3.1.1 section 3.2.2.3). */
export const CONNACK_RETURN_CODE = Object.freeze({
  ACCEPTED: 0,
  UNACCEPTABLE_PROTOCOL_VERSION: 1,
  IDENTIFIER_REJECTED: 2,
  SERVER_UNAVAILABLE: 3,
  BAD_USERNAME_OR_PASSWORD: 4,
  NOT_AUTHORIZED: 5,
} as const);

/** The Will message a CONNECT may carry. */
export interface Will {
  topic: string;
  payload: Uint8Array;
  qos: QoS;
  retain: boolean;
}

export interface ConnectPacket {
  type: 'connect';
  /** Always `MQTT` level 4 (3.1.1); the codec writes and requires them. */
  clientId: string;
  /** Seconds, 0..65535; 0 disables keepalive. */
  keepalive: number;
  cleanSession: boolean;
  username?: string;
  password?: Uint8Array;
  will?: Will;
}

export interface ConnackPacket {
  type: 'connack';
  sessionPresent: boolean;
  /** 0 accepted, 1..5 refused (see {@link CONNACK_RETURN_CODE}). */
  returnCode: number;
}

export interface PublishPacket {
  type: 'publish';
  topic: string;
  payload: Uint8Array;
  qos: QoS;
  dup: boolean;
  retain: boolean;
  /** Present exactly when `qos > 0` (MQTT-2.3.1-5); never 0 (MQTT-2.3.1-1). */
  messageId?: number;
}

export interface PubackPacket {
  type: 'puback';
  messageId: number;
}
export interface PubrecPacket {
  type: 'pubrec';
  messageId: number;
}
export interface PubrelPacket {
  type: 'pubrel';
  messageId: number;
}
export interface PubcompPacket {
  type: 'pubcomp';
  messageId: number;
}

export interface Subscription {
  /** A topic filter (wildcards allowed, MQTT-4.7.1-2/-3). */
  topic: string;
  qos: QoS;
}

export interface SubscribePacket {
  type: 'subscribe';
  messageId: number;
  subscriptions: Subscription[];
}

export interface SubackPacket {
  type: 'suback';
  messageId: number;
  /** One return code per requested filter, in order (MQTT-3.9.3-1). */
  granted: SubackReturnCode[];
}

export interface UnsubscribePacket {
  type: 'unsubscribe';
  messageId: number;
  unsubscriptions: string[];
}

export interface UnsubackPacket {
  type: 'unsuback';
  messageId: number;
}

export interface PingreqPacket {
  type: 'pingreq';
}
export interface PingrespPacket {
  type: 'pingresp';
}
export interface DisconnectPacket {
  type: 'disconnect';
}

export type Packet =
  | ConnectPacket
  | ConnackPacket
  | PublishPacket
  | PubackPacket
  | PubrecPacket
  | PubrelPacket
  | PubcompPacket
  | SubscribePacket
  | SubackPacket
  | UnsubscribePacket
  | UnsubackPacket
  | PingreqPacket
  | PingrespPacket
  | DisconnectPacket;

export type PacketTypeName = Packet['type'];

/** Packets whose whole content is a packet identifier. */
export type AckPacket = PubackPacket | PubrecPacket | PubrelPacket | PubcompPacket | UnsubackPacket;
