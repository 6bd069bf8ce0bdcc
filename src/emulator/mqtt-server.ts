/**
 * The emulator's MQTT 3.1.1 server plumbing: a TLS listener on loopback, and per connection the streaming codec,
 * the CONNECT deadline, the keepalive deadline (re-armed on any traffic), the packet log and the fault hooks that
 * delay or suppress what the server writes. IoT Hub and DPS semantics live in `hub.ts` and `dps.ts`.
 *
 * @see http://docs.oasis-open.org/mqtt/mqtt/v3.1.1/os/mqtt-v3.1.1-os.html
 */
import type { AddressInfo, Socket } from 'node:net';
import * as tls from 'node:tls';
import { encode, encodeChunks, encodedLength, MqttProtocolError, PacketDecoder, type Packet } from '../codec/index.js';
import { describePacket, type EmulatorService, type PacketLog, type PacketLogEntry } from './packet-log.js';

/** What a service (hub or DPS) does with a connection's packets. */
export interface ConnectionHandler {
  /** A packet decoded from the client. May throw: the connection is then closed. */
  onPacket(conn: MqttConnection, packet: Packet): void;
  /** The connection is gone (called once). `graceful` is true after the client's DISCONNECT. */
  onClose(conn: MqttConnection, reason: string, graceful: boolean): void;
}

/** Options of {@link MqttListener.start}. */
export interface MqttListenerOptions {
  service: EmulatorService;
  /** Bind address (default `127.0.0.1`). */
  host?: string;
  /** Port (default 0: a free port). */
  port?: number;
  cert: string;
  key: string;
  /** CAs that client certificates are verified against (PEM). */
  ca: string[];
  handler: ConnectionHandler;
  log: PacketLog;
  /** Called for each log entry (the emulator re-emits them as `packet` events). */
  onLog?: (entry: PacketLogEntry) => void;
  /** Largest packet accepted; a larger one closes the connection. */
  maxPacketSize: number;
  /** Close a connection that sends no CONNECT within this time (ms). */
  connectTimeoutMs: number;
}

let nextConnectionId = 1;

/** Bytes the server lets pile up for a client that does not read before it drops the connection. */
export const MAX_UNSENT_BYTES = 8 * 1024 * 1024;

/** One client connection. */
export class MqttConnection {
  /** Unique over the process, for logs. */
  readonly id = nextConnectionId++;
  readonly service: EmulatorService;
  readonly socket: tls.TLSSocket;
  /** SNI host name the client sent, if any. */
  readonly servername: string | undefined;
  /** Client id from CONNECT; set by the service before it answers. */
  clientId: string | undefined;
  /** True once CONNACK 0 was sent. */
  accepted = false;
  /** True after the client's DISCONNECT. */
  graceful = false;
  closed = false;
  closeReason = '';
  /** Fault: delay every packet written by this many ms. */
  delayMs = 0;
  /** Fault: write nothing (packets are logged with `suppressed`). */
  suppress = false;
  /** Server-side keepalive deadline in ms (0: none). */
  keepaliveTimeoutMs = 0;
  /** Per-service state. */
  state: unknown;

  readonly #listener: MqttListener;
  readonly #decoder: PacketDecoder;
  #timer: NodeJS.Timeout | undefined;
  readonly #delayed = new Set<NodeJS.Timeout>();

  constructor(listener: MqttListener, socket: tls.TLSSocket, maxPacketSize: number, connectTimeoutMs: number) {
    this.#listener = listener;
    this.service = listener.service;
    this.socket = socket;
    const sni = (socket as tls.TLSSocket & { servername?: string | false }).servername;
    this.servername = typeof sni === 'string' && sni.length > 0 ? sni : undefined;
    this.#decoder = new PacketDecoder({ maxPacketSize });
    socket.setNoDelay(true);
    this.#timer = setTimeout(() => this.close('no CONNECT in time'), connectTimeoutMs);
    this.#timer.unref();
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (err) => {
      if (!this.closed) this.closeReason ||= `socket error: ${err.message}`;
    });
    socket.on('close', () => this.#onClosed());
  }

  /** Encode and write `packet` (logged; subject to the delay and suppress faults). */
  send(packet: Packet): void {
    if (this.closed) return;
    const chunks = encodeChunks(packet);
    if (this.#listener.logging) {
      let size = 0;
      for (const c of chunks) size += c.length;
      this.#logOut({ type: packet.type, size, ...describePacket(packet) });
    }
    if (this.suppress) return;
    this.#write(chunks);
  }

  /** Write bytes as they are (fault injection); logged as `raw`. */
  sendRaw(bytes: Uint8Array): void {
    if (this.closed) return;
    if (this.#listener.logging) this.#logOut({ type: 'raw', size: bytes.length });
    this.#write([bytes]);
  }

  /** Start or change the keepalive deadline: the connection is closed after `ms` without traffic (0: none). */
  setKeepaliveTimeout(ms: number): void {
    this.keepaliveTimeoutMs = ms;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (ms > 0 && !this.closed) {
      this.#timer = setTimeout(() => this.close('keepalive timeout'), ms);
      this.#timer.unref();
    }
  }

  /** Close now (abruptly: what IoT Hub does on a violation). The reason is kept for events. */
  close(reason: string): void {
    if (this.closed) return;
    this.closeReason ||= reason;
    // Answers already sent for this chunk (held by the cork in #onData) go out first, as they would uncorked.
    while (this.socket.writableCorked > 0) this.socket.uncork();
    this.socket.destroy();
  }

  /** Close after what was written has been flushed (after a refusing CONNACK, MQTT-3.2.2-5). */
  closeAfterFlush(reason: string): void {
    if (this.closed) return;
    this.closeReason ||= reason;
    if (this.#delayed.size > 0) {
      // A delayed CONNACK must go out first: end the socket after the last delayed write (timers with the same
      // delay fire in order).
      const t = setTimeout(() => {
        this.#delayed.delete(t);
        this.socket.end(() => this.socket.destroy());
      }, this.delayMs);
      this.#delayed.add(t);
      return;
    }
    this.socket.end(() => this.socket.destroy());
  }

  #write(chunks: Uint8Array[]): void {
    const write = (): void => {
      if (this.socket.destroyed || this.socket.writableEnded) return;
      if (this.socket.writableLength > MAX_UNSENT_BYTES) {
        this.close('the client does not read (too many unsent bytes)');
        return;
      }
      if (chunks.length === 1) this.socket.write(chunks[0]!);
      else {
        this.socket.cork();
        for (const c of chunks) this.socket.write(c);
        this.socket.uncork();
      }
    };
    if (this.delayMs > 0) {
      const t = setTimeout(() => {
        this.#delayed.delete(t);
        write();
      }, this.delayMs);
      this.#delayed.add(t);
    } else write();
  }

  #logOut(fields: Partial<PacketLogEntry> & Pick<PacketLogEntry, 'type' | 'size'>): void {
    if (this.clientId === undefined) return;
    const entry: Omit<PacketLogEntry, 'seq'> = {
      ...fields,
      at: Date.now(),
      clientId: this.clientId,
      service: this.service,
      direction: 'out',
    };
    if (this.suppress && fields.type !== 'raw') entry.suppressed = true;
    this.#listener.logEntry(entry);
  }

  #onData(chunk: Buffer): void {
    if (this.closed) return;
    if (this.#timer !== undefined && this.accepted) this.#timer.refresh();
    const bytes = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length);
    // Answers to the packets of one chunk (a burst of PUBACKs) leave in one write, not one syscall each.
    this.socket.cork();
    try {
      this.#decoder.push(bytes, (packet) => {
        if (this.closed) return;
        if (packet.type === 'connect' && this.clientId === undefined && packet.clientId.length > 0) {
          this.clientId = packet.clientId;
        }
        if (this.clientId !== undefined && this.#listener.logging) {
          this.#listener.logEntry({
            at: Date.now(),
            clientId: this.clientId,
            service: this.service,
            direction: 'in',
            type: packet.type,
            size: encodedSize(packet, chunk.length),
            ...describePacket(packet),
          });
        }
        this.#listener.handler.onPacket(this, packet);
      });
    } catch (err) {
      if (err instanceof MqttProtocolError && err.rule === 'MQTT-3.1.2-2' && this.clientId === undefined) {
        // An unsupported protocol level gets CONNACK 1 before the close (MQTT-3.1.2-2).
        this.#write([encode({ type: 'connack', sessionPresent: false, returnCode: 1 })]);
        this.closeAfterFlush(`protocol error: ${err.message}`);
      } else if (err instanceof MqttProtocolError) this.close(`protocol error: ${err.message}`);
      else this.close(`internal error: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      this.socket.uncork();
    }
  }

  #onClosed(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    for (const t of this.#delayed) clearTimeout(t);
    this.#delayed.clear();
    this.#listener.connections.delete(this);
    this.closeReason ||= this.graceful ? 'client disconnected' : 'connection closed by the client';
    this.#listener.handler.onClose(this, this.closeReason, this.graceful);
  }
}

// The decoder does not report a packet's wire size; `encodedLength` computes a PUBLISH's without copying it.
function encodedSize(packet: Packet, fallback: number): number {
  try {
    return encodedLength(packet);
  } catch {
    return fallback;
  }
}

/** A TLS listener speaking MQTT 3.1.1. */
export class MqttListener {
  readonly service: EmulatorService;
  readonly handler: ConnectionHandler;
  readonly connections = new Set<MqttConnection>();
  readonly host: string;
  readonly port: number;
  readonly #server: tls.Server;
  readonly #log: PacketLog;
  readonly #onLog: ((entry: PacketLogEntry) => void) | undefined;
  readonly #cert: string;
  readonly #key: string;
  readonly #sockets = new Set<Socket>();

  private constructor(server: tls.Server, options: MqttListenerOptions, host: string, port: number) {
    this.#server = server;
    this.service = options.service;
    this.handler = options.handler;
    this.#log = options.log;
    this.#onLog = options.onLog;
    this.#cert = options.cert;
    this.#key = options.key;
    this.host = host;
    this.port = port;
  }

  /** Listen on a free loopback port (or the given one). */
  static async start(options: MqttListenerOptions): Promise<MqttListener> {
    const server = tls.createServer({
      cert: options.cert,
      key: options.key,
      ca: options.ca,
      requestCert: true,
      // Client certificates are judged per device at CONNECT (CA-signed, thumbprint or none for SAS).
      rejectUnauthorized: false,
      minVersion: 'TLSv1.2',
    });
    const host = options.host ?? '127.0.0.1';
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const port = (server.address() as AddressInfo).port;
    const listener = new MqttListener(server, options, host, port);
    server.on('connection', (socket: Socket) => {
      listener.#sockets.add(socket);
      socket.once('close', () => listener.#sockets.delete(socket));
    });
    server.on('secureConnection', (socket: tls.TLSSocket) => {
      const conn = new MqttConnection(listener, socket, options.maxPacketSize, options.connectTimeoutMs);
      listener.connections.add(conn);
    });
    server.on('tlsClientError', () => {
      // A failed handshake never became a connection: nothing to clean up.
    });
    return listener;
  }

  /** Replace the CAs that client certificates are verified against (new connections only). */
  setTrustedCas(ca: string[]): void {
    this.#server.setSecureContext({ cert: this.#cert, key: this.#key, ca, minVersion: 'TLSv1.2' });
  }

  /** Whether packets are logged (a packet log limit of 0 turns logging off). */
  get logging(): boolean {
    return this.#log.limit > 0;
  }

  /** @internal */
  logEntry(entry: Omit<PacketLogEntry, 'seq'>): void {
    const full = this.#log.record(entry);
    this.#onLog?.(full);
  }

  /** Stop listening and destroy every connection. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const c of [...this.connections]) c.close('emulator closed');
    // Sockets still in the TLS handshake are not connections yet but would keep the server open.
    for (const s of this.#sockets) s.destroy();
    await closed;
  }
}
