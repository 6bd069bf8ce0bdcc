/**
 * One MQTT 3.1.1 client session over a byte stream (TLS by default, plain TCP, or a caller-supplied Duplex):
 * CONNECT/CONNACK, SUBSCRIBE/UNSUBSCRIBE, PUBLISH QoS 0 and 1 with an in-flight window and a bounded queue,
 * keepalive, the non-blocking input loop (automatic or manual), backpressure, reconnection with capped exponential
 * backoff and full jitter, and retransmission of unacknowledged QoS 1 publishes with DUP=1.
 *
 * Nothing here knows about Azure topics; the Azure layer sits on top.
 *
 * @see http://docs.oasis-open.org/mqtt/mqtt/v3.1.1/os/mqtt-v3.1.1-os.html
 */
import { Buffer } from 'node:buffer';
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { TLSSocket } from 'node:tls';
import { encode, encodeChunks, encodedLength } from '../codec/encode.js';
import { PacketDecoder } from '../codec/stream.js';
import type { ConnackPacket, ConnectPacket, Packet, PublishPacket, SubackPacket, SubackReturnCode, Subscription } from '../codec/types.js';
import { AzureIotHubError, MqttProtocolError, toAzureIotHubError } from '../errors.js';
import { reconnectDelay, shouldRetry } from './backoff.js';
import {
  connectChannel,
  connectedChannel,
  disconnectChannel,
  packetReceivedChannel,
  packetSentChannel,
  warningChannel,
} from './diagnostics.js';
import { Keepalive, type TimerHandle } from './keepalive.js';
import {
  PUBLISH_OVERHEAD_BYTES,
  resolveSessionOptions,
  type ConnectedInfo,
  type DroppedPublish,
  type MqttSessionEvents,
  type MqttSessionOptions,
  type MqttSessionState,
  type OnConnectHook,
  type PublishOptions,
  type SessionSettings,
} from './options.js';
import { Outgoing, OutgoingPublish } from './outgoing.js';
import { isPacketId, PacketIdAllocator } from './packet-ids.js';
import { classifySocketError, SocketOpener, type OpenedSocket } from './socket.js';
import { BatchWriter } from './writer.js';

/** Upper bound on the wait for the peer to close after DISCONNECT before the socket is destroyed, in ms. */
export const DISCONNECT_GRACE_MS = 2000;

const PINGREQ_BYTES = encode({ type: 'pingreq' });
const DISCONNECT_BYTES = encode({ type: 'disconnect' });
const CONNACK_TEXT: Readonly<Record<number, string>> = {
  1: 'unacceptable protocol version',
  2: 'identifier rejected',
  3: 'server unavailable',
  4: 'bad user name or password',
  5: 'not authorized',
};

/** A SUBSCRIBE or UNSUBSCRIBE awaiting its acknowledgement. */
interface PendingAck {
  kind: 'subscribe' | 'unsubscribe';
  /** Topic filters in the request (a SUBACK must carry as many return codes, MQTT-3.9.3-1). */
  count: number;
  resolve: (codes: SubackReturnCode[]) => void;
  reject: (err: AzureIotHubError) => void;
}

const kSession = Symbol('azure-iot-hub.mqtt-session');
type TaggedSocket = Duplex & { [kSession]?: MqttSession | null };

/** Socket listeners, filled in by the class's static block (the only code that may touch its private members). */
interface SocketHandlers {
  data(socket: TaggedSocket, chunk: Uint8Array): void;
  error(socket: TaggedSocket, err: Error): void;
  closed(socket: TaggedSocket, message: string): void;
  drain(socket: TaggedSocket): void;
}
let handlers: SocketHandlers;

let sessionCount = 0;

/**
 * An MQTT 3.1.1 client session. Create it, set `onConnect` if you subscribe, listen to its events, then `connect()`.
 *
 * ```ts
 * const session = new MqttSession({ host: 'hub.azure-devices.net', clientId: 'dev1', username, tls: { cert, key } });
 * session.onConnect = () => session.subscribe([{ topic: 'devices/dev1/messages/devicebound/#', qos: 1 }]);
 * session.on('message', (p) => console.log(p.topic, p.payload));
 * await session.connect();
 * await session.publish('devices/dev1/messages/events/', 'hello', { qos: 1 });
 * await session.disconnect();
 * ```
 */
export class MqttSession extends EventEmitter<MqttSessionEvents> {
  /** Per-process number of this session (in diagnostics messages). */
  readonly id: number;
  readonly clientId: string;
  /** See {@link OnConnectHook}. */
  onConnect: OnConnectHook | undefined;

  readonly #o: SessionSettings;
  readonly #opener: SocketOpener;
  readonly #decoder: PacketDecoder;
  readonly #keepalive: Keepalive;
  readonly #writer: BatchWriter;
  readonly #ids = new PacketIdAllocator();
  readonly #out: Outgoing;
  readonly #acks = new Map<number, PendingAck>();
  readonly #onPacketBound: (packet: Packet) => void;
  readonly #onConnectTimeoutBound: () => void;
  readonly #onReconnectTimerBound: () => void;

  #state: MqttSessionState = 'idle';
  #gen = 0; // bumped whenever a connection or attempt ends: stale callbacks compare and bail out
  #inputGen = -1;
  #socket: TaggedSocket | null = null; // connected (CONNECT written or about to be)
  #pendingSocket: TaggedSocket | null = null; // being opened
  #secure = false;
  #awaitingConnack = false;
  #connackDeadline = Infinity;
  #connectTimer: TimerHandle | null = null;
  #reconnectTimer: TimerHandle | null = null;
  #retries = 0; // consecutive failed attempts since the last accepted CONNACK
  #attempt = 0;
  #everConnected = false;
  #holdQueue = false; // after CONNACK, until the onConnect hook is done and retransmissions are written
  #acked = false; // a PUBACK freed room in the window during this chunk
  #processing = false; // inside the decoder: a listener's input() must not re-enter it
  #userConnect: { resolve: () => void; reject: (err: AzureIotHubError) => void } | null = null;
  #disconnectPromise: Promise<void> | null = null;
  #disconnectDone: (() => void) | null = null;
  #batchQos0: OutgoingPublish[] = []; // QoS 0 publishes in the writer's batch: settled when it is written

  /** @throws AzureIotHubError `EINVAL` naming the bad option. */
  constructor(options: MqttSessionOptions) {
    super();
    const o = resolveSessionOptions(options);
    this.#o = o;
    this.id = ++sessionCount;
    this.clientId = o.clientId;
    this.onConnect = options.onConnect;
    this.#opener = new SocketOpener(o.socket);
    this.#out = new Outgoing(o.inFlightWindow, o.maxQueued, o.maxQueuedBytes);
    this.#decoder = new PacketDecoder({
      maxPacketSize: Math.min(o.maxPayloadBytes + PUBLISH_OVERHEAD_BYTES, 268_435_460),
      // Too big to buffer: read past it (keeping only topic and id) and acknowledge it, instead of closing the link.
      onOversizedPublish: (info) => {
        if (this.#gen !== this.#inputGen) return;
        this.#onOversized(info.topic, info.qos, info.messageId, info.size);
      },
    });
    this.#keepalive = new Keepalive(o.keepaliveSeconds * 1000, o.pingTimeoutMs, o.clock, {
      keepalivePing: () => this.#sendPing(),
      keepaliveDead: () => this.#lost(this.#pingTimeoutError()),
    });
    this.#writer = new BatchWriter(() => this.#onFlushed());
    this.#onPacketBound = (packet) => this.#onPacket(packet);
    this.#onConnectTimeoutBound = () => this.#onConnectTimeout();
    this.#onReconnectTimerBound = () => {
      this.#reconnectTimer = null;
      if (this.#state === 'reconnecting') this.#startAttempt();
    };
    // Check what goes into CONNECT now, so that a bad client id or Will fails here and not on every attempt.
    try {
      encode(this.#connectPacket(undefined));
    } catch (err) {
      throw invalid(err, 'CONNECT');
    }
  }

  /** The session state. */
  get state(): MqttSessionState {
    return this.#state;
  }

  /** Whether CONNACK was accepted and the connection is up. */
  get connected(): boolean {
    return this.#state === 'connected';
  }

  /** QoS 1 publishes sent and awaiting PUBACK. */
  get inFlightCount(): number {
    return this.#out.inFlight.size;
  }

  /** Publishes waiting to be sent. */
  get queuedCount(): number {
    return this.#out.queue.length;
  }

  // ------------------------------------------------------------------------------------------------------------
  // Lifecycle

  /**
   * Open the connection and send CONNECT. Resolves once CONNECT is written; the CONNACK outcome follows as
   * `connected` or `connectionFailed` (read in the background, or by `input()` with `autoInput: false`).
   *
   * Rejects, and does not retry, when this first attempt fails before CONNECT is written: `EACCES` (TLS),
   * `ECONNREFUSED`/`ECONNRESET` (network), `ETIMEDOUT`, `EINVAL` (credentials that do not load); `connectionFailed`
   * is emitted too. Also rejects with `EALREADY` when connected and `EINPROGRESS` while connecting, reconnecting or
   * disconnecting. Failures after CONNECT go through the reconnection policy.
   */
  connect(): Promise<void> {
    if (this.#state === 'connected') return Promise.reject(new AzureIotHubError('EALREADY', 'the session is connected already'));
    if (this.#state !== 'idle') return Promise.reject(new AzureIotHubError('EINPROGRESS', `the session is ${this.#state}`));
    this.#retries = 0;
    this.#attempt = 0;
    this.#everConnected = false;
    const p = new Promise<void>((resolve, reject) => {
      this.#userConnect = { resolve, reject };
    });
    this.#startAttempt();
    return p;
  }

  /**
   * Close the session: when connected, send DISCONNECT and close the socket; nothing is written after DISCONNECT
   * (MQTT-3.14.4-1/2). Stops reconnection. Every publish not acknowledged yet (queued or in flight) and every pending
   * subscribe rejects with `ENOTCONN`. Emits `disconnected` (without error) unless the session was idle. Resolves
   * when the socket is closed; at once when idle.
   */
  disconnect(): Promise<void> {
    switch (this.#state) {
      case 'idle':
        return Promise.resolve();
      case 'disconnecting':
        return this.#disconnectPromise ?? Promise.resolve();
      case 'connecting':
      case 'reconnecting':
        this.#close(undefined, 'disconnect() was called');
        return Promise.resolve();
      case 'connected':
        break;
    }
    const socket = this.#socket!;
    this.#state = 'disconnecting';
    this.#keepalive.stop();
    this.#disconnectPromise = new Promise<void>((resolve) => {
      this.#disconnectDone = resolve;
    });
    this.#writeDisconnect();
    endSocket(socket, this.#o.clock); // its 'close' ends the disconnect (see #lost)
    return this.#disconnectPromise;
  }

  /**
   * Close at once, without DISCONNECT (so the server publishes the Will, if any). Settles like {@link disconnect};
   * `disconnected` carries `error`.
   */
  destroy(error?: AzureIotHubError): void {
    if (this.#state !== 'idle') this.#close(error, 'destroy() was called');
  }

  /**
   * Reconnect now, keeping every queued and unacknowledged publish (for a fresh SAS token, say). When connected:
   * DISCONNECT, close, emit `disconnected` (no error) and `reconnecting` (delay 0), and start a new attempt at once;
   * unacknowledged QoS 1 publishes are sent again with DUP=1 after CONNACK. While waiting to retry: retry now.
   * Works with `reconnect: false` too.
   *
   * @throws AzureIotHubError `ENOTCONN` when idle or disconnecting, `EINPROGRESS` while an attempt is running.
   */
  reconnectNow(): void {
    switch (this.#state) {
      case 'idle':
      case 'disconnecting':
        throw new AzureIotHubError('ENOTCONN', `the session is ${this.#state}`);
      case 'connecting':
        throw new AzureIotHubError('EINPROGRESS', 'a connection attempt is in progress');
      case 'reconnecting':
        this.#clearReconnectTimer();
        this.#startAttempt();
        return;
      case 'connected':
        break;
    }
    const old = this.#socket!;
    this.#writeDisconnect();
    this.#teardown(undefined, false);
    endSocket(old, this.#o.clock);
    this.#state = 'reconnecting';
    this.#retries = 0;
    this.#attempt = 1;
    this.#traceDisconnect(undefined);
    const gen = this.#gen;
    this.#emit('disconnected', undefined);
    if (this.#gen !== gen || this.#state !== 'reconnecting') return;
    this.#emit('reconnecting', { attempt: 1, delayMs: 0, error: undefined });
    if (this.#gen !== gen || this.#state !== 'reconnecting') return;
    this.#startAttempt();
  }

  // ------------------------------------------------------------------------------------------------------------
  // Publish, subscribe

  /**
   * Publish. QoS 0 resolves when the packet is handed to the socket; QoS 1 when its PUBACK arrives (a `puback` event
   * is emitted too). While not connected (connecting, reconnecting) publishes wait in the queue, in order.
   * Unacknowledged QoS 1 publishes survive a reconnect and are sent again with DUP=1 and the same packet id, in order.
   *
   * The payload is not copied: do not change it before the promise settles. A string is sent as UTF-8.
   *
   * Rejects with `EINVAL` (bad QoS, topic or id; with the MQTT `rule`), `EALREADY` (the given `messageId` is in use),
   * `ENOBUFS` (the queue is full under `queueOverflow: 'reject'`; or, under `drop-oldest`, this publish waited in the
   * queue and was dropped to make room for a newer one), `EMSGSIZE` (too large for MQTT), `ENOTCONN` (idle or
   * disconnecting, or the session was closed before the PUBACK).
   */
  publish(topic: string, payload: Uint8Array | string, options?: PublishOptions): Promise<void> {
    const qos = options?.qos ?? 0;
    if (qos !== 0 && qos !== 1) return rejected('EINVAL', 'qos must be 0 or 1 (QoS 2 is not supported)');
    const state = this.#state;
    if (state === 'idle' || state === 'disconnecting') return rejected('ENOTCONN', `cannot publish: the session is ${state}`);
    const bytes = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
    if (!(bytes instanceof Uint8Array)) return rejected('EINVAL', 'payload must be a Uint8Array or a string');
    const retain = options?.retain === true;
    let id = 0;
    if (qos === 1) {
      const given = options?.messageId;
      if (given !== undefined) {
        if (!isPacketId(given)) return rejected('EINVAL', 'messageId must be an integer 1..65535');
        if (!this.#ids.reserve(given)) return rejected('EALREADY', `packet identifier ${given} is in use`);
        id = given;
      } else {
        try {
          id = this.#ids.allocate();
        } catch (err) {
          return Promise.reject(err);
        }
      }
    } else if (options?.messageId !== undefined) {
      return rejected('EINVAL', 'messageId applies to QoS 1 only');
    }
    let header: Uint8Array;
    try {
      const packet: PublishPacket =
        qos === 1
          ? { type: 'publish', topic, payload: bytes, qos, dup: false, retain, messageId: id }
          : { type: 'publish', topic, payload: bytes, qos, dup: false, retain };
      header = encodeChunks(packet)[0]!;
    } catch (err) {
      if (qos === 1) this.#ids.release(id);
      return Promise.reject(invalid(err, 'PUBLISH'));
    }
    const out = this.#out;
    const now = this.#sendsNow(qos);
    let dropped: OutgoingPublish[] | undefined;
    if (!now && options?.bypassQueueLimit !== true && !out.hasRoom(bytes.length)) {
      if (this.#o.queueOverflow === 'drop-oldest') dropped = out.dropOldestFor(bytes.length);
      if (dropped === undefined) {
        if (qos === 1) this.#ids.release(id);
        return rejected('ENOBUFS', `the outgoing queue is full (${out.maxQueued} publishes, ${out.maxQueuedBytes} bytes)`);
      }
    }
    const promise = new Promise<void>((resolve, reject) => {
      const p = new OutgoingPublish(topic, bytes, qos, id, header, resolve, reject);
      if (now) this.#sendPublish(p);
      else out.enqueue(p);
    });
    if (dropped !== undefined && dropped.length > 0) this.#dropped(dropped);
    return promise;
  }

  /**
   * Whether `publish()` would take a publish of `payloadBytes` payload bytes at QoS `qos` now, rather than refuse it
   * with `ENOTCONN` (idle or disconnecting) or `ENOBUFS` (the queue is full and `queueOverflow` is `reject`, or the
   * publish is larger than the whole queue). With `drop-oldest`, taking it may drop older queued publishes.
   */
  canPublish(payloadBytes: number, qos: 0 | 1 = 1): boolean {
    const state = this.#state;
    if (state === 'idle' || state === 'disconnecting') return false;
    const out = this.#out;
    if (this.#sendsNow(qos) || out.hasRoom(payloadBytes)) return true;
    return this.#o.queueOverflow === 'drop-oldest' && out.fitsAlone(payloadBytes);
  }

  /** Whether a publish made now goes straight to the writer (rather than waiting in the queue). */
  #sendsNow(qos: 0 | 1): boolean {
    const out = this.#out;
    return this.#state === 'connected' && !this.#holdQueue && !this.#writer.blocked && out.queue.length === 0 && (qos === 0 || out.windowOpen);
  }

  /** Queued publishes removed by `drop-oldest`: free their ids, reject them, then tell listeners. */
  #dropped(publishes: OutgoingPublish[]): void {
    const info: DroppedPublish[] = [];
    for (const p of publishes) {
      if (p.qos === 1) this.#ids.release(p.messageId);
      info.push({ topic: p.topic, qos: p.qos, messageId: p.messageId, payloadBytes: p.payload.length });
      p.reject(new AzureIotHubError('ENOBUFS', 'dropped from the full outgoing queue to make room for a newer publish (queueOverflow: drop-oldest)'));
    }
    this.#emit('dropped', info);
  }

  /**
   * SUBSCRIBE (only while connected; typically from the {@link OnConnectHook}). Resolves with the SUBACK return
   * codes, one per filter in order (MQTT-3.9.3-1): the granted QoS, or `0x80` for a filter the server refused.
   * Rejects with `EINVAL` (no filter, QoS other than 0/1, bad filter) or `ENOTCONN` (not connected, or the
   * connection ended before SUBACK).
   */
  subscribe(subscriptions: readonly Subscription[]): Promise<SubackReturnCode[]> {
    if (this.#state !== 'connected') return rejected('ENOTCONN', `cannot subscribe: the session is ${this.#state}`);
    if (!Array.isArray(subscriptions) || subscriptions.length === 0) {
      return rejected('EINVAL', 'subscribe needs at least one { topic, qos }');
    }
    for (const s of subscriptions) {
      if (s === null || typeof s !== 'object' || (s.qos !== 0 && s.qos !== 1)) {
        return rejected('EINVAL', 'each subscription needs a topic and qos 0 or 1 (QoS 2 is not supported)');
      }
    }
    const copy = subscriptions.map((s) => ({ topic: s.topic, qos: s.qos }));
    return this.#sendAcked('subscribe', copy.length, (messageId) => encode({ type: 'subscribe', messageId, subscriptions: copy }));
  }

  /** UNSUBSCRIBE (only while connected). Resolves on UNSUBACK; rejects like {@link subscribe}. */
  async unsubscribe(topics: readonly string[]): Promise<void> {
    if (this.#state !== 'connected') throw new AzureIotHubError('ENOTCONN', `cannot unsubscribe: the session is ${this.#state}`);
    if (!Array.isArray(topics) || topics.length === 0) throw new AzureIotHubError('EINVAL', 'unsubscribe needs at least one topic filter');
    const copy = [...topics];
    await this.#sendAcked('unsubscribe', copy.length, (messageId) => encode({ type: 'unsubscribe', messageId, unsubscriptions: copy }));
  }

  // ------------------------------------------------------------------------------------------------------------
  // Input and keepalive (the C API's mqtt_input / mqtt_live)

  /**
   * Process whatever bytes are buffered on the socket, without blocking; returns the number of packets handled
   * (0 when not connected). With `autoInput: true` this happens by itself as data arrives; with `autoInput: false`
   * nothing is read until the application calls it. Called from a listener while a chunk is being handled, it
   * returns 0. A protocol error closes the connection (`EPROTO`, MQTT-4.8.0-1) and is reported through events, never
   * thrown.
   */
  input(): number {
    const socket = this.#socket;
    if (socket === null || this.#processing) return 0;
    let count = 0;
    let chunk: unknown;
    while (this.#socket === socket && (chunk = socket.read()) !== null) {
      count += this.#process(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Uint8Array));
    }
    if (this.#awaitingConnack && this.#socket === socket && this.#o.clock.now() >= this.#connackDeadline) {
      this.#lost(new AzureIotHubError('ETIMEDOUT', `no CONNACK within ${this.#o.connectTimeoutMs} ms`));
    }
    return count;
  }

  /**
   * Send PINGREQ now. When an earlier PINGREQ has gone unanswered past its deadline (`pingTimeoutMs`), the
   * connection is declared dead instead (`disconnected` with `ETIMEDOUT`, then the reconnection policy).
   * @throws AzureIotHubError `ENOTCONN` when not connected.
   */
  ping(): void {
    if (this.#state !== 'connected') throw new AzureIotHubError('ENOTCONN', `cannot ping: the session is ${this.#state}`);
    if (this.#keepalive.expired(this.#o.clock.now())) this.#lost(this.#pingTimeoutError());
    else this.#sendPing();
  }

  /**
   * Milliseconds until `ping()` is due: the keepalive period after the last packet sent or, while a PINGREQ is
   * unanswered, its deadline if that comes first. 0 when overdue; -1 when keepalive is disabled
   * (`keepaliveSeconds: 0`) or the session is not connected.
   */
  keepaliveTimeLeft(): number {
    return this.#state === 'connected' ? this.#keepalive.timeLeft(this.#o.clock.now()) : -1;
  }

  // ------------------------------------------------------------------------------------------------------------
  // Attempts

  #startAttempt(): void {
    const gen = ++this.#gen;
    this.#state = 'connecting';
    this.#awaitingConnack = false;
    const attempt = this.#attempt;
    if (connectChannel.hasSubscribers) {
      const s = this.#o.socket;
      const own = s.socket === undefined;
      connectChannel.publish({ session: this.id, clientId: this.clientId, host: own ? s.host : undefined, port: own ? s.port : undefined, attempt });
    }
    this.#emit('connecting', { attempt });
    if (this.#gen !== gen) return;
    if (this.#o.connectTimeoutMs > 0) {
      this.#clearConnectTimer();
      const t = this.#o.clock.setTimeout(this.#onConnectTimeoutBound, this.#o.connectTimeoutMs);
      t.unref?.();
      this.#connectTimer = t;
    }
    void this.#runAttempt(gen);
  }

  async #runAttempt(gen: number): Promise<void> {
    let password: Uint8Array | undefined;
    try {
      password = await this.#getPassword();
    } catch (err) {
      if (this.#gen === gen) {
        this.#lost(err instanceof AzureIotHubError ? err : new AzureIotHubError('EINVAL', 'the password function failed', { cause: err }));
      }
      return;
    }
    if (this.#gen !== gen) return;
    let opened: OpenedSocket;
    try {
      opened = await this.#opener.open((s) => this.#track(s, gen));
    } catch (err) {
      if (this.#gen === gen) this.#lost(classifySocketError(err, this.#secure));
      return;
    }
    if (this.#gen !== gen) {
      opened.socket.destroy();
      return;
    }
    this.#attach(opened.socket);
    let bytes: Uint8Array;
    try {
      bytes = encode(this.#connectPacket(password));
    } catch (err) {
      this.#lost(invalid(err, 'CONNECT'));
      return;
    }
    this.#writer.push(bytes);
    this.#writer.flush();
    this.#traceSent('connect', undefined, bytes.length);
    this.#awaitingConnack = true;
    if (!this.#o.autoInput) {
      // Nothing is read before input(): input() checks the CONNACK deadline, not a timer.
      this.#clearConnectTimer();
      this.#connackDeadline = this.#o.connectTimeoutMs > 0 ? this.#o.clock.now() + this.#o.connectTimeoutMs : Infinity;
    }
    const user = this.#userConnect;
    if (user !== null) {
      this.#userConnect = null;
      user.resolve();
    }
  }

  #connectPacket(password: Uint8Array | undefined): ConnectPacket {
    const o = this.#o;
    const packet: ConnectPacket = { type: 'connect', clientId: o.clientId, keepalive: o.keepaliveSeconds, cleanSession: o.cleanSession };
    if (o.username !== undefined) packet.username = o.username;
    if (password !== undefined) packet.password = password;
    if (o.will !== undefined) packet.will = o.will;
    return packet;
  }

  async #getPassword(): Promise<Uint8Array | undefined> {
    const src = this.#o.password;
    if (src === undefined) return undefined;
    const value = typeof src === 'function' ? await src() : src;
    if (typeof value === 'string') return Buffer.from(value, 'utf8');
    if (value instanceof Uint8Array) return value;
    throw new AzureIotHubError('EINVAL', 'the password function must return a string or a Uint8Array');
  }

  /** A socket of this attempt exists (not connected yet): listen for its failures at once. */
  #track(socket: TaggedSocket, gen: number): void {
    if (this.#gen !== gen) {
      socket.destroy();
      return;
    }
    socket[kSession] = this;
    this.#pendingSocket = socket;
    this.#secure = socket instanceof TLSSocket;
    // Error listeners stay for the socket's lifetime, so that a late error of a dropped socket is never unhandled.
    socket.on('error', onSocketError);
    socket.on('end', onSocketEnd);
    socket.on('close', onSocketClose);
  }

  /** The socket is open: from now on it carries this session's packets. */
  #attach(socket: TaggedSocket): void {
    this.#pendingSocket = null;
    this.#socket = socket;
    this.#decoder.reset();
    this.#writer.attach(socket);
    socket.on('drain', onSocketDrain);
    if (this.#o.autoInput) socket.on('data', onSocketData);
  }

  #onConnectTimeout(): void {
    this.#connectTimer = null;
    if (this.#state !== 'connecting') return;
    const ms = this.#o.connectTimeoutMs;
    this.#lost(
      new AzureIotHubError(
        'ETIMEDOUT',
        this.#awaitingConnack ? `no CONNACK within ${ms} ms` : `the connection could not be opened within ${ms} ms`,
      ),
    );
  }

  /** The connection or attempt ended with `err`: retry or give up, settle, emit. */
  #lost(err: AzureIotHubError): void {
    const state = this.#state;
    if (state === 'idle' || state === 'reconnecting') return;
    if (state === 'disconnecting') {
      this.#close(undefined, 'disconnect() was called');
      return;
    }
    const wasConnected = state === 'connected';
    // Only before the first accepted CONNACK: once these credentials have been accepted, a close in the same window
    // is a network blip (and must be retried), not a rejected certificate.
    if (!wasConnected && !this.#everConnected && this.#awaitingConnack && this.#secure && err.code === 'ECONNRESET') {
      // TLS 1.3 delivers the server's verdict on the client certificate after the handshake has completed, so a
      // rejected certificate can show up as a close or reset before CONNACK rather than as a handshake failure.
      err = new AzureIotHubError('EACCES', 'the server closed the TLS connection before CONNACK (a rejected client certificate looks like this)', {
        cause: err,
      });
    } else if (wasConnected && err.code === 'EACCES') {
      // The credentials were accepted on this very connection (CONNACK 0): a TLS failure now (a corrupted record, the
      // peer's bad_record_mac alert) is a broken link, not a refused certificate, and is retried like one.
      const tlsCode = (err.cause as { code?: unknown } | undefined)?.code;
      err = new AzureIotHubError('ECONNRESET', `the TLS connection failed after it was established (${typeof tlsCode === 'string' ? tlsCode : 'TLS error'})`, {
        cause: err,
      });
    }
    this.#teardown(err, true);
    this.#traceDisconnect(err);
    const user = this.#userConnect;
    if (user !== null) {
      // The attempt connect() started failed before CONNECT was written: connect() reports it; no retry.
      this.#userConnect = null;
      this.#state = 'idle';
      this.#rejectAll(new AzureIotHubError('ENOTCONN', 'the connection could not be opened', { cause: err }));
      user.reject(err);
      this.#emit('connectionFailed', err);
      return;
    }
    const policy = this.#o.reconnect;
    const retry = policy !== false && this.#opener.canReopen && shouldRetry(err, policy) && this.#retries < policy.maxAttempts;
    let delayMs = 0;
    if (retry) {
      this.#state = 'reconnecting';
      delayMs = reconnectDelay(this.#retries, policy, this.#o.random);
      this.#retries++;
      this.#attempt = this.#retries;
      // Not unref'd: a session asked to reconnect keeps the process alive, as its socket did.
      this.#reconnectTimer = this.#o.clock.setTimeout(this.#onReconnectTimerBound, delayMs);
    } else {
      this.#state = 'idle';
      this.#rejectAll(new AzureIotHubError('ENOTCONN', 'the connection ended and will not be retried', { cause: err }));
    }
    const gen = this.#gen;
    this.#emit(wasConnected ? 'disconnected' : 'connectionFailed', err);
    if (retry && this.#gen === gen && this.#state === 'reconnecting') {
      this.#emit('reconnecting', { attempt: this.#attempt, delayMs, error: err });
    }
  }

  /** Close for good: `disconnect()`, `destroy()`, or the end of a graceful disconnect. */
  #close(error: AzureIotHubError | undefined, reason: string): void {
    this.#clearReconnectTimer();
    this.#teardown(error, true);
    this.#state = 'idle';
    const err = new AzureIotHubError('ENOTCONN', reason, error === undefined ? {} : { cause: error });
    this.#rejectAll(err);
    const user = this.#userConnect;
    this.#userConnect = null;
    user?.reject(err);
    this.#traceDisconnect(error);
    this.#emit('disconnected', error);
    const done = this.#disconnectDone;
    this.#disconnectDone = null;
    this.#disconnectPromise = null;
    done?.();
  }

  /** Drop the current connection or attempt; keep queued and in-flight publishes. */
  #teardown(err: AzureIotHubError | undefined, destroy: boolean): void {
    this.#gen++;
    this.#clearConnectTimer();
    this.#keepalive.stop();
    this.#writer.detach();
    this.#decoder.reset(); // also ends the decoding of a chunk in progress, if a listener got us here
    for (const s of [this.#socket, this.#pendingSocket]) {
      if (s === null) continue;
      s[kSession] = null;
      if (destroy || s === this.#pendingSocket) s.destroy();
    }
    this.#socket = null;
    this.#pendingSocket = null;
    this.#awaitingConnack = false;
    this.#connackDeadline = Infinity;
    this.#holdQueue = false;
    this.#acked = false;
    if (this.#batchQos0.length > 0) {
      // Handed to the writer but never written: back to the front of the queue.
      this.#out.requeueFront(this.#batchQos0);
      this.#batchQos0 = [];
    }
    if (this.#acks.size > 0) {
      const e = new AzureIotHubError('ENOTCONN', 'the connection ended before the acknowledgement', err === undefined ? {} : { cause: err });
      const acks = [...this.#acks];
      this.#acks.clear();
      for (const [id, a] of acks) {
        this.#ids.release(id);
        a.reject(e);
      }
    }
  }

  #rejectAll(err: AzureIotHubError): void {
    for (const p of this.#out.takeAll()) {
      if (p.qos === 1) this.#ids.release(p.messageId);
      p.reject(err);
    }
  }

  #clearConnectTimer(): void {
    if (this.#connectTimer !== null) {
      this.#o.clock.clearTimeout(this.#connectTimer);
      this.#connectTimer = null;
    }
  }

  #clearReconnectTimer(): void {
    if (this.#reconnectTimer !== null) {
      this.#o.clock.clearTimeout(this.#reconnectTimer);
      this.#reconnectTimer = null;
    }
  }

  #pingTimeoutError(): AzureIotHubError {
    return new AzureIotHubError('ETIMEDOUT', `no packet from the server within ${this.#o.pingTimeoutMs} ms of a PINGREQ`);
  }

  // ------------------------------------------------------------------------------------------------------------
  // Incoming

  #process(chunk: Uint8Array): number {
    if (this.#state === 'disconnecting') return 0; // after DISCONNECT nothing more is answered
    this.#keepalive.received();
    const gen = this.#gen;
    this.#inputGen = gen;
    let count = 0;
    this.#processing = true;
    try {
      count = this.#decoder.push(chunk, this.#onPacketBound);
    } catch (err) {
      if (this.#gen === gen) this.#lost(toAzureIotHubError(err, 'EPROTO'));
      return count;
    } finally {
      this.#processing = false;
    }
    if (this.#acked && this.#gen === gen) {
      this.#acked = false;
      this.#pump(); // refill the window once per chunk, however many PUBACKs it held
    }
    return count;
  }

  #onPacket(packet: Packet): void {
    if (this.#gen !== this.#inputGen) return; // the connection ended while this chunk was being decoded
    if (packetReceivedChannel.hasSubscribers) this.#traceReceived(packet);
    if (this.#awaitingConnack) {
      if (packet.type === 'connack') this.#onConnack(packet);
      else this.#protocolError('MQTT-3.2.0-1', `the first packet from the server must be CONNACK, not ${packet.type.toUpperCase()}`);
      return;
    }
    switch (packet.type) {
      case 'publish':
        this.#onPublish(packet);
        return;
      case 'puback':
        this.#onPuback(packet.messageId);
        return;
      case 'suback':
        this.#onAck(packet.messageId, 'subscribe', packet);
        return;
      case 'unsuback':
        this.#onAck(packet.messageId, 'unsubscribe', undefined);
        return;
      case 'pingresp':
        return; // #process already noted that the connection is alive
      case 'connack':
        this.#protocolError('MQTT-4.8.0-1', 'a second CONNACK');
        return;
      case 'pubrec':
      case 'pubrel':
      case 'pubcomp':
        this.#protocolError('MQTT-4.3.3', `${packet.type.toUpperCase()}, but this client never uses QoS 2`);
        return;
      default:
        this.#protocolError('MQTT-2.2.1', `${packet.type.toUpperCase()} only flows from client to server`);
    }
  }

  #protocolError(rule: string, message: string): void {
    this.#lost(new AzureIotHubError('EPROTO', `protocol error from the server: ${message} [${rule}]`, { rule }));
  }

  #onConnack(p: ConnackPacket): void {
    this.#awaitingConnack = false;
    this.#clearConnectTimer();
    if (p.returnCode !== 0) {
      const text = CONNACK_TEXT[p.returnCode] ?? 'refused';
      this.#lost(
        new AzureIotHubError('ECONNREFUSED', `the server refused the connection: CONNACK ${p.returnCode} (${text})`, { connack: p.returnCode }),
      );
      return;
    }
    if (p.sessionPresent && this.#o.cleanSession) {
      this.#protocolError('MQTT-3.2.2-1', 'Session Present is set although CleanSession was 1');
      return;
    }
    this.#state = 'connected';
    this.#retries = 0;
    this.#holdQueue = true; // publishes made by the hook or `connected` listeners queue behind the retransmissions
    this.#keepalive.start(this.#o.autoInput);
    if (connectedChannel.hasSubscribers) {
      connectedChannel.publish({ session: this.id, clientId: this.clientId, sessionPresent: p.sessionPresent });
    }
    const info: ConnectedInfo = { sessionPresent: p.sessionPresent, reconnect: this.#everConnected };
    this.#everConnected = true;
    const gen = this.#gen;
    let hold: unknown;
    const hook = this.onConnect;
    if (hook !== undefined) {
      try {
        hold = hook(info);
      } catch (err) {
        this.#reportError(err, 'the onConnect hook threw');
      }
    }
    if (this.#gen !== gen) return;
    this.#emit('connected', info);
    if (this.#gen !== gen) return;
    if (isThenable(hold)) {
      hold.then(
        () => this.#release(gen),
        (err: unknown) => {
          // After the connection ended (a SUBSCRIBE rejected with ENOTCONN, say) there is nothing new to report.
          if (this.#gen !== gen) return;
          this.#reportError(err, 'the onConnect hook rejected');
          this.#release(gen);
        },
      );
    } else {
      this.#release(gen);
    }
  }

  /** After CONNACK and the hook: resend unacknowledged QoS 1 publishes with DUP=1, in order, then the queue. */
  #release(gen: number): void {
    if (this.#gen !== gen || this.#state !== 'connected') return;
    this.#holdQueue = false;
    for (const p of this.#out.inFlight.values()) {
      if ((p.header[0]! & 0x08) === 0) {
        // A fresh copy: the old socket may still hold the first header in its write buffer.
        const h = p.header.slice();
        h[0]! |= 0x08; // DUP (MQTT-3.3.1-1)
        p.header = h;
      }
      this.#writer.push(p.header);
      if (p.payload.length > 0) this.#writer.push(p.payload);
      if (packetSentChannel.hasSubscribers) this.#tracePublish(p);
    }
    this.#pump();
  }

  #onPublish(p: PublishPacket): void {
    if (p.qos === 2) {
      this.#protocolError('MQTT-3.8.4', 'a QoS 2 PUBLISH, but this client subscribes with QoS 0 or 1 only');
      return;
    }
    if (p.payload.length > this.#o.maxPayloadBytes) {
      this.#onOversized(p.topic, p.qos, p.messageId, p.payload.length);
      return;
    }
    const gen = this.#gen;
    this.#emit('message', p);
    if (p.qos === 1 && this.#gen === gen && this.#state === 'connected') {
      const id = p.messageId!;
      this.#writer.push(Uint8Array.of(0x40, 2, id >> 8, id & 0xff));
      this.#traceSent('puback', id, 4);
    }
  }

  /**
   * An incoming message over `maxPayloadBytes`: not delivered, reported as an `error` event (`EMSGSIZE`), and
   * acknowledged, so that a persistent session does not redeliver it forever (closing the link would only bring it
   * back after the reconnect). The connection stays up.
   */
  #onOversized(topic: string, qos: number, messageId: number | undefined, size: number): void {
    if (this.#awaitingConnack) {
      this.#protocolError('MQTT-3.2.0-1', 'the first packet from the server must be CONNACK, not PUBLISH');
      return;
    }
    if (qos === 2) {
      this.#protocolError('MQTT-3.8.4', 'a QoS 2 PUBLISH, but this client subscribes with QoS 0 or 1 only');
      return;
    }
    const shown = topic.length > 200 ? `${topic.slice(0, 200)}...` : topic;
    const err = new AzureIotHubError(
      'EMSGSIZE',
      `dropped an incoming message of ${size} bytes on ${shown}: larger than maxPayloadBytes ${this.#o.maxPayloadBytes}` +
        (qos === 1 ? ' (acknowledged, so that the server does not send it again)' : ''),
      { rule: 'maxPayloadBytes' },
    );
    const gen = this.#gen;
    if (warningChannel.hasSubscribers) warningChannel.publish({ session: this.id, clientId: this.clientId, message: err.message });
    const event = this.listenerCount('oversized') > 0 ? 'oversized' : this.listenerCount('error') > 0 ? 'error' : undefined;
    try {
      if (event === 'oversized') this.emit('oversized', { topic, qos: qos === 1 ? 1 : 0, messageId, size, error: err });
      else if (event === 'error') this.emit('error', err);
    } catch (again) {
      this.#warn(`an '${event ?? 'error'}' listener threw`, again);
    }
    if (qos === 1 && messageId !== undefined && this.#gen === gen && this.#state === 'connected') {
      this.#writer.push(Uint8Array.of(0x40, 2, messageId >> 8, messageId & 0xff));
      this.#traceSent('puback', messageId, 4);
    }
  }

  #onPuback(id: number): void {
    const p = this.#out.inFlight.get(id);
    if (p === undefined) {
      // Harmless (a duplicate, or an ack for a publish settled before a reconnect): not worth dropping the connection.
      this.#warn(`PUBACK for unknown packet identifier ${id} ignored`);
      return;
    }
    this.#out.inFlight.delete(id);
    this.#ids.release(id);
    this.#acked = true;
    p.resolve();
    this.#emit('puback', id);
  }

  #onAck(id: number, kind: PendingAck['kind'], suback: SubackPacket | undefined): void {
    const a = this.#acks.get(id);
    if (a === undefined || a.kind !== kind) {
      this.#warn(`${kind === 'subscribe' ? 'SUBACK' : 'UNSUBACK'} for unknown packet identifier ${id} ignored`);
      return;
    }
    if (suback !== undefined && suback.granted.length !== a.count) {
      this.#protocolError('MQTT-3.9.3-1', `SUBACK has ${suback.granted.length} return codes for ${a.count} topic filters`);
      return;
    }
    this.#acks.delete(id);
    this.#ids.release(id);
    a.resolve(suback?.granted ?? []);
  }

  // ------------------------------------------------------------------------------------------------------------
  // Outgoing

  #sendAcked(kind: PendingAck['kind'], count: number, build: (id: number) => Uint8Array): Promise<SubackReturnCode[]> {
    let id: number;
    try {
      id = this.#ids.allocate();
    } catch (err) {
      return Promise.reject(err);
    }
    let bytes: Uint8Array;
    try {
      bytes = build(id);
    } catch (err) {
      this.#ids.release(id);
      return Promise.reject(invalid(err, kind.toUpperCase()));
    }
    return new Promise<SubackReturnCode[]>((resolve, reject) => {
      this.#acks.set(id, { kind, count, resolve, reject });
      this.#writer.push(bytes);
      this.#traceSent(kind, id, bytes.length);
    });
  }

  #sendPublish(p: OutgoingPublish): void {
    if (p.qos === 1) this.#out.inFlight.set(p.messageId, p);
    p.sent = true;
    if (packetSentChannel.hasSubscribers) this.#tracePublish(p);
    const w = this.#writer;
    w.push(p.header);
    if (p.payload.length > 0) w.push(p.payload);
    if (p.qos === 0) {
      // Settled when written: now if the pushes above already flushed the whole packet, else with the batch.
      if (w.pending === 0) p.resolve();
      else this.#batchQos0.push(p);
    }
  }

  /** Move queued publishes to the writer while the socket accepts data and the window has room. */
  #pump(): void {
    if (this.#state !== 'connected' || this.#holdQueue) return;
    const out = this.#out;
    while (!this.#writer.blocked) {
      const p = out.next();
      if (p === undefined) break;
      this.#sendPublish(p);
    }
  }

  #sendPing(): void {
    this.#writer.push(PINGREQ_BYTES);
    this.#keepalive.pinged(this.#o.clock.now());
    this.#traceSent('pingreq', undefined, 2);
  }

  /** DISCONNECT, written now; nothing is written after it (MQTT-3.14.4-2). */
  #writeDisconnect(): void {
    this.#writer.push(DISCONNECT_BYTES);
    this.#writer.flush();
    this.#writer.detach();
    this.#traceSent('disconnect', undefined, 2);
  }

  #onFlushed(): void {
    this.#keepalive.sent(this.#o.clock.now());
    const done = this.#batchQos0;
    if (done.length > 0) {
      this.#batchQos0 = [];
      for (const p of done) p.resolve();
    }
  }

  // ------------------------------------------------------------------------------------------------------------
  // Events and diagnostics

  #emit<K extends keyof MqttSessionEvents>(name: K, ...args: MqttSessionEvents[K]): void {
    try {
      (this.emit as (n: K, ...a: MqttSessionEvents[K]) => boolean)(name, ...args);
    } catch (err) {
      this.#reportError(err, `a '${name}' listener threw`);
    }
  }

  /** A listener or hook failed: an `error` event when someone listens, else the warning channel. Never throws. */
  #reportError(err: unknown, message: string): void {
    if (warningChannel.hasSubscribers) warningChannel.publish({ session: this.id, clientId: this.clientId, message, error: err });
    if (this.listenerCount('error') === 0) return;
    try {
      this.emit('error', new AzureIotHubError('EIO', message, { cause: err }));
    } catch (again) {
      this.#warn("an 'error' listener threw", again);
    }
  }

  #warn(message: string, error?: unknown): void {
    if (!warningChannel.hasSubscribers) return;
    warningChannel.publish(error === undefined ? { session: this.id, clientId: this.clientId, message } : { session: this.id, clientId: this.clientId, message, error });
  }

  #traceSent(type: Packet['type'], id: number | undefined, size: number): void {
    if (packetSentChannel.hasSubscribers) packetSentChannel.publish({ session: this.id, clientId: this.clientId, type, id, size });
  }

  #traceDisconnect(error: AzureIotHubError | undefined): void {
    if (disconnectChannel.hasSubscribers) disconnectChannel.publish({ session: this.id, clientId: this.clientId, error });
  }

  #tracePublish(p: OutgoingPublish): void {
    packetSentChannel.publish({
      session: this.id,
      clientId: this.clientId,
      type: 'publish',
      id: p.qos === 1 ? p.messageId : undefined,
      size: p.size,
      qos: p.qos,
      dup: (p.header[0]! & 0x08) !== 0,
      topic: p.topic,
    });
  }

  #traceReceived(packet: Packet): void {
    let size = 0;
    try {
      size = encodedLength(packet);
    } catch {
      // A packet our encoder refuses (a QoS 2 PUBLISH from a server, say) is still traced, without its size.
    }
    const id = 'messageId' in packet ? packet.messageId : undefined;
    const base = { session: this.id, clientId: this.clientId, type: packet.type, id, size };
    packetReceivedChannel.publish(
      packet.type === 'publish' ? { ...base, qos: packet.qos, dup: packet.dup, topic: packet.topic } : base,
    );
  }

  static {
    handlers = {
      data(socket, chunk) {
        const s = socket[kSession];
        if (s != null) s.#process(chunk);
      },
      error(socket, err) {
        const s = socket[kSession];
        if (s != null) s.#lost(classifySocketError(err, s.#secure));
      },
      closed(socket, message) {
        const s = socket[kSession];
        if (s != null) s.#lost(new AzureIotHubError('ECONNRESET', message));
      },
      drain(socket) {
        const s = socket[kSession];
        if (s == null) return;
        s.#writer.blocked = false;
        s.#pump();
      },
    };
  }
}

// Socket listeners: module-level functions (no per-connection closures) that find the session through its tag.
function onSocketData(this: TaggedSocket, chunk: Uint8Array): void {
  handlers.data(this, chunk);
}
function onSocketError(this: TaggedSocket, err: Error): void {
  handlers.error(this, err);
}
function onSocketEnd(this: TaggedSocket): void {
  handlers.closed(this, 'the server closed the connection');
}
function onSocketClose(this: TaggedSocket): void {
  handlers.closed(this, 'the connection closed');
}
function onSocketDrain(this: TaggedSocket): void {
  handlers.drain(this);
}

/** End a socket once its data is flushed, then destroy it; destroy it after {@link DISCONNECT_GRACE_MS} at the latest. */
function endSocket(socket: Duplex, clock: SessionSettings['clock']): void {
  const timer = clock.setTimeout(() => socket.destroy(), DISCONNECT_GRACE_MS);
  timer.unref?.();
  socket.end(() => {
    clock.clearTimeout(timer);
    socket.destroy();
  });
}

function rejected<T>(code: 'EINVAL' | 'ENOTCONN' | 'EALREADY' | 'ENOBUFS', message: string): Promise<T> {
  return Promise.reject(new AzureIotHubError(code, message));
}

/** A codec refusal of a packet we were asked to send: `EINVAL` (`EMSGSIZE` when too large), with its rule. */
function invalid(err: unknown, what: string): AzureIotHubError {
  if (err instanceof AzureIotHubError) return err;
  if (err instanceof MqttProtocolError) {
    const tooLarge = err.rule === 'MQTT-2.2.3' && /remaining length/.test(err.message);
    return new AzureIotHubError(tooLarge ? 'EMSGSIZE' : 'EINVAL', `invalid ${what}: ${err.message}`, { cause: err, rule: err.rule });
  }
  return toAzureIotHubError(err, 'EINVAL');
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function';
}
