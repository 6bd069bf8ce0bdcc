/**
 * Options, events and callback types of {@link MqttSession}, and the check that turns options into settings.
 */
import type { PublishPacket, Will } from '../codec/types.js';
import { AzureIotHubError } from '../errors.js';
import { resolveReconnectOptions, type ReconnectOptions } from './backoff.js';
import { systemClock, type Clock } from './keepalive.js';
import { DEFAULT_IN_FLIGHT_WINDOW, DEFAULT_MAX_QUEUED, DEFAULT_MAX_QUEUED_BYTES, type QueueOverflow } from './outgoing.js';
import { MAX_PACKET_ID } from './packet-ids.js';
import { resolveSocketOptions, type ResolvedSocketOptions, type SocketOptions } from './socket.js';

/** Default keepalive period in seconds (the nRF library's `CONFIG_MQTT_KEEPALIVE`). */
export const DEFAULT_KEEPALIVE_SECONDS = 60;
/** Default time to open the connection and receive CONNACK, in ms. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 30_000;
/** Default largest incoming PUBLISH payload: 256 KiB (Azure IoT Hub's largest device-to-cloud message). */
export const DEFAULT_MAX_PAYLOAD_BYTES = 256 * 1024;
/**
 * Room for the rest of an incoming PUBLISH beyond its payload: fixed header (5) + topic length and the longest topic
 * (2 + 65535) + packet identifier (2). The incoming packet limit is `maxPayloadBytes` plus this.
 */
export const PUBLISH_OVERHEAD_BYTES = 5 + 2 + 65535 + 2;

/** A password, or a function called for every CONNECT (to supply a fresh SAS token per connection attempt). */
export type PasswordSource = string | Uint8Array | (() => string | Uint8Array | Promise<string | Uint8Array>);

/** What `connected` listeners and the {@link OnConnectHook} receive. */
export interface ConnectedInfo {
  /** CONNACK Session Present: the server kept a session from an earlier connection. */
  sessionPresent: boolean;
  /** False for the first CONNACK after `connect()`, true for every later one (reconnections). */
  reconnect: boolean;
}

/**
 * Called after every accepted CONNACK, before the `connected` event and before anything queued is sent: the place to
 * (re)subscribe. What it subscribes goes out first; publishes it (or a `connected` listener) makes wait in the queue.
 * If it returns a promise, unacknowledged and queued publishes wait until it settles (for example until SUBACK); a
 * rejection is reported as an `error` event and the queue is released anyway.
 */
export type OnConnectHook = (info: ConnectedInfo) => void | Promise<unknown>;

/** The `reconnecting` event. */
export interface ReconnectingInfo {
  /** 1 for the first retry after a success, 2 for the next, ... */
  attempt: number;
  /** Delay before the attempt: `reconnectDelay(attempt - 1, policy, random)`; 0 for `reconnectNow()`. */
  delayMs: number;
  /** The error that ended the connection or the failed attempt; undefined for `reconnectNow()`. */
  error: AzureIotHubError | undefined;
}

/** Options of `MqttSession.publish`. */
export interface PublishOptions {
  /** 0 (default) or 1. QoS 2 is not supported (Azure IoT Hub does not support it). */
  qos?: 0 | 1;
  /** Default false. */
  retain?: boolean;
  /** QoS 1 only: the packet identifier to use (1..65535). Default: allocated. One still in use is refused (`EALREADY`). */
  messageId?: number;
  /**
   * Queue this publish even when the queue is full (the bounds still apply to later publishes, and `drop-oldest` may
   * drop it later). For messages admitted earlier and carried over from elsewhere, such as a store-and-forward outbox
   * handing its backlog to a new session. Default false.
   */
  bypassQueueLimit?: boolean;
}

/** A queued publish removed by `queueOverflow: 'drop-oldest'` (the `dropped` event). Its promise rejects with `ENOBUFS`. */
export interface DroppedPublish {
  topic: string;
  qos: 0 | 1;
  /** Its packet identifier (QoS 1), 0 for QoS 0. */
  messageId: number;
  payloadBytes: number;
}

/** Options of `MqttSession`. Where and how to connect (`host`, `port`, `address`, `tls`, `socket`): {@link SocketOptions}. */
export interface MqttSessionOptions extends SocketOptions {
  /** MQTT client identifier (the Azure device id). */
  clientId: string;
  username?: string;
  /** Needs `username` (MQTT-3.1.2-22). A function is called on every CONNECT. */
  password?: PasswordSource;
  will?: Will;
  /** CONNECT CleanSession. Default true. */
  cleanSession?: boolean;
  /** Keepalive period in seconds, 0..65535; 0 disables keepalive. Default 60. */
  keepaliveSeconds?: number;
  /**
   * How long to wait for any packet after a PINGREQ before declaring the connection dead, in ms.
   * Default `min(keepalive period, 30 s)` (30 s when keepalive is disabled and `ping()` is called by hand).
   */
  pingTimeoutMs?: number;
  /**
   * Time to open the connection (TCP + TLS) and receive CONNACK, in ms; 0 disables. Default 30000. With
   * `autoInput: false` the CONNACK part is checked by `input()`, since nothing is read before the application asks.
   */
  connectTimeoutMs?: number;
  /**
   * Default true: the socket is read as data arrives and PINGREQs are sent on time. False: nothing is read or pinged
   * until the application calls `input()` and `ping()` (guided by `keepaliveTimeLeft()`), as with the C API.
   */
  autoInput?: boolean;
  /** QoS 1 publishes in flight (sent, awaiting PUBACK) at most. Default 32. */
  inFlightWindow?: number;
  /** Publishes waiting to be sent at most; beyond it `publish()` rejects with `ENOBUFS`. Default 8192. */
  maxQueued?: number;
  /** Payload bytes waiting to be sent at most; beyond it `publish()` rejects with `ENOBUFS`. Default 32 MiB. */
  maxQueuedBytes?: number;
  /**
   * What a full queue does with one more publish: `reject` (default) refuses it with `ENOBUFS`; `drop-oldest` drops
   * the oldest queued publishes (never one in flight) until it fits: each dropped one rejects with `ENOBUFS` and a
   * `dropped` event lists them. A publish larger than `maxQueuedBytes` (or any, with `maxQueued: 0`) is refused
   * either way.
   */
  queueOverflow?: QueueOverflow;
  /**
   * Largest incoming PUBLISH payload. A packet that cannot fit (`maxPayloadBytes` + {@link PUBLISH_OVERHEAD_BYTES})
   * is refused from its fixed header, before any of it is buffered; a larger payload closes the connection with
   * `EMSGSIZE`. Default 256 KiB.
   */
  maxPayloadBytes?: number;
  /** Reconnection policy, or false for none. Default `{}` (see {@link ReconnectOptions} for its defaults). */
  reconnect?: ReconnectOptions | false;
  /** See {@link OnConnectHook}; also settable later as the `onConnect` property. */
  onConnect?: OnConnectHook;
  /** Time source and timers (for fake-timer tests). Default: the real ones. */
  clock?: Clock;
  /** Random numbers in [0, 1) for the backoff jitter. Default `Math.random`. */
  random?: () => number;
}

/** Session states. */
export type MqttSessionState = 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'disconnecting';

/**
 * Events. `connected`, `connectionFailed`, `message`, `puback` and `disconnected` are what the Azure layer maps to
 * CONNECTED, CONNECTION_FAILED, DATA_RECEIVED (and the twin/method events), PUBACK and DISCONNECTED.
 */
export type MqttSessionEvents = {
  /** An attempt starts: 0 for the one `connect()` started, n for the n-th retry. */
  connecting: [info: { attempt: number }];
  /** CONNACK accepted (after the {@link OnConnectHook} was called). */
  connected: [info: ConnectedInfo];
  /**
   * An attempt ended before an accepted CONNACK: a TLS failure (`EACCES`), a network failure (`ECONNRESET`,
   * `ECONNREFUSED` without `connack`), a timeout (`ETIMEDOUT`), a refusal (`ECONNREFUSED`, `connack` = the return
   * code) or a protocol error (`EPROTO`). `reconnecting` follows when the policy retries; read `state` to know.
   */
  connectionFailed: [error: AzureIotHubError];
  /**
   * An incoming PUBLISH. Its payload is a view of received bytes that the session never writes again. A QoS 1
   * PUBLISH is acknowledged after the listeners ran (even if one threw).
   */
  message: [packet: PublishPacket];
  /** A PUBACK for a publish of this session (its promise is resolved). */
  puback: [messageId: number];
  /**
   * An incoming PUBLISH over `maxPayloadBytes` was not delivered (and, at QoS 1, was acknowledged so that the server
   * does not send it again); the connection stays up. Without an `oversized` listener it is reported as an `error`
   * event (`EMSGSIZE`).
   */
  oversized: [info: OversizedMessage];
  /**
   * `queueOverflow: 'drop-oldest'` removed these queued publishes (oldest first) to make room for a newer one; each
   * one's promise rejects with `ENOBUFS`. Emitted once per `publish()` that dropped something, after it was queued.
   */
  dropped: [publishes: DroppedPublish[]];
  /**
   * A connection that had been accepted ended (`error` says why), or the application closed the session
   * (`disconnect()`, `destroy()`; `reconnectNow()`) in any state but idle, with `error` undefined. `reconnecting`
   * follows when the session will retry; read `state` to know.
   */
  disconnected: [error: AzureIotHubError | undefined];
  /** A retry is scheduled. */
  reconnecting: [info: ReconnectingInfo];
  /**
   * Something went wrong that did not end the connection: a listener or the onConnect hook threw or rejected
   * (`EIO`). Emitted only when there is an `error` listener (never EventEmitter's crash on an unheard `error`);
   * otherwise it goes to the `azure-iot-hub:mqtt:warning` diagnostics channel.
   */
  error: [error: AzureIotHubError];
};

/** An incoming message refused for its size: what is known of it. */
export interface OversizedMessage {
  topic: string;
  qos: 0 | 1;
  messageId: number | undefined;
  /** Payload bytes, or the whole packet's size when it was skipped without being read into memory. */
  size: number;
  /** `EMSGSIZE`, with a message naming the topic, the size and the limit. */
  error: AzureIotHubError;
}

/** Options checked and completed. */
export interface SessionSettings {
  socket: ResolvedSocketOptions;
  clientId: string;
  username: string | undefined;
  password: PasswordSource | undefined;
  will: Will | undefined;
  cleanSession: boolean;
  keepaliveSeconds: number;
  pingTimeoutMs: number;
  connectTimeoutMs: number;
  autoInput: boolean;
  inFlightWindow: number;
  maxQueued: number;
  maxQueuedBytes: number;
  queueOverflow: QueueOverflow;
  maxPayloadBytes: number;
  reconnect: Required<ReconnectOptions> | false;
  clock: Clock;
  random: () => number;
}

/**
 * Check options and fill in defaults.
 * @throws AzureIotHubError `EINVAL` naming the bad option.
 */
export function resolveSessionOptions(o: MqttSessionOptions): SessionSettings {
  if (typeof o !== 'object' || o === null) throw new AzureIotHubError('EINVAL', 'options are required');
  const socket = resolveSocketOptions(o);
  if (typeof o.clientId !== 'string') throw new AzureIotHubError('EINVAL', 'clientId must be a string');
  if (o.username !== undefined && typeof o.username !== 'string') {
    throw new AzureIotHubError('EINVAL', 'username must be a string');
  }
  const pw = o.password;
  if (pw !== undefined && typeof pw !== 'string' && typeof pw !== 'function' && !(pw instanceof Uint8Array)) {
    throw new AzureIotHubError('EINVAL', 'password must be a string, a Uint8Array or a function');
  }
  if (pw !== undefined && o.username === undefined) {
    throw new AzureIotHubError('EINVAL', 'password needs a username (MQTT-3.1.2-22)', { rule: 'MQTT-3.1.2-22' });
  }
  const keepaliveSeconds = int('keepaliveSeconds', o.keepaliveSeconds, DEFAULT_KEEPALIVE_SECONDS, 0, 65535);
  const inFlightWindow = int('inFlightWindow', o.inFlightWindow, DEFAULT_IN_FLIGHT_WINDOW, 1, 65535);
  const maxQueued = int('maxQueued', o.maxQueued, DEFAULT_MAX_QUEUED, 0, 65535);
  // Queued and in-flight publishes hold packet ids; leave some for SUBSCRIBE and UNSUBSCRIBE.
  if (inFlightWindow + maxQueued > MAX_PACKET_ID - 1024) {
    throw new AzureIotHubError('EINVAL', 'inFlightWindow + maxQueued must be at most 64511');
  }
  return {
    socket,
    clientId: o.clientId,
    username: o.username,
    password: pw,
    will: o.will,
    cleanSession: bool('cleanSession', o.cleanSession, true),
    keepaliveSeconds,
    pingTimeoutMs: int('pingTimeoutMs', o.pingTimeoutMs, keepaliveSeconds > 0 ? Math.min(keepaliveSeconds * 1000, 30_000) : 30_000, 1, 2 ** 31 - 1),
    connectTimeoutMs: int('connectTimeoutMs', o.connectTimeoutMs, DEFAULT_CONNECT_TIMEOUT_MS, 0, 2 ** 31 - 1),
    autoInput: bool('autoInput', o.autoInput, true),
    inFlightWindow,
    maxQueued,
    maxQueuedBytes: int('maxQueuedBytes', o.maxQueuedBytes, DEFAULT_MAX_QUEUED_BYTES, 0, Number.MAX_SAFE_INTEGER),
    queueOverflow: overflow(o.queueOverflow),
    maxPayloadBytes: int('maxPayloadBytes', o.maxPayloadBytes, DEFAULT_MAX_PAYLOAD_BYTES, 0, 268_435_455),
    reconnect: o.reconnect === false ? false : resolveReconnectOptions(o.reconnect ?? {}),
    clock: clockOption(o.clock),
    random: functionOption('random', o.random) ?? Math.random,
  };
}

function int(name: string, value: number | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new AzureIotHubError('EINVAL', `${name} must be an integer ${min}..${max}`);
  }
  return value;
}

function overflow(value: QueueOverflow | undefined): QueueOverflow {
  if (value === undefined) return 'reject';
  if (value !== 'reject' && value !== 'drop-oldest') throw new AzureIotHubError('EINVAL', "queueOverflow must be 'reject' or 'drop-oldest'");
  return value;
}

// Checked here rather than failing later: a bad `random` would throw from a socket event handler at the first
// reconnection, where nothing can catch it.
function functionOption<F>(name: string, value: F | undefined): F | undefined {
  if (value !== undefined && typeof value !== 'function') throw new AzureIotHubError('EINVAL', `${name} must be a function`);
  return value;
}

function clockOption(value: Clock | undefined): Clock {
  if (value === undefined) return systemClock;
  const c = value as unknown as Record<string, unknown> | null;
  if (typeof c !== 'object' || c === null || ['now', 'setTimeout', 'clearTimeout'].some((k) => typeof c[k] !== 'function')) {
    throw new AzureIotHubError('EINVAL', 'clock must have now(), setTimeout() and clearTimeout()');
  }
  return value;
}

function bool(name: string, value: boolean | undefined, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw new AzureIotHubError('EINVAL', `${name} must be a boolean`);
  return value;
}
