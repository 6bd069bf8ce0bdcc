/**
 * A scriptable MQTT 3.1.1 server for transport tests, built on our codec: plain TCP (or TLS) on a free loopback
 * port. It records every packet it receives (with the connection it came on) and answers CONNECT, PUBLISH QoS 1,
 * SUBSCRIBE, UNSUBSCRIBE and PINGREQ unless told otherwise. Tests can also write raw bytes to a connection.
 */
import { EventEmitter, once } from 'node:events';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TlsOptions } from 'node:tls';
import { encode, PacketDecoder, type ConnectPacket, type Packet, type SubackReturnCode } from '../../src/codec/index.js';

export interface ReceivedPacket {
  /** Index of the connection (0 for the first accepted connection). */
  conn: number;
  packet: Packet;
}

export interface FakeBrokerBehaviour {
  /** CONNACK return code for the n-th connection (default 0). `undefined` from the function: send no CONNACK. */
  connack: (conn: number, connect: ConnectPacket) => { returnCode: number; sessionPresent?: boolean } | undefined;
  /** Answer QoS 1 PUBLISH with PUBACK (default true). */
  puback: (conn: number, messageId: number) => boolean;
  /** SUBACK return codes (`[]`: the requested QoS of each filter, the default; null: send no SUBACK). */
  suback: (topics: string[]) => SubackReturnCode[] | null;
  /** Answer PINGREQ (default true). */
  pingresp: boolean;
}

export class FakeBroker extends EventEmitter {
  readonly server: Server;
  readonly received: ReceivedPacket[] = [];
  readonly sockets: Socket[] = [];
  behaviour: FakeBrokerBehaviour = {
    connack: () => ({ returnCode: 0 }),
    puback: () => true,
    suback: () => [],
    pingresp: true,
  };
  port = 0;

  private constructor(tls: TlsOptions | undefined) {
    super();
    const onSocket = (socket: Socket): void => this.#accept(socket);
    this.server = tls === undefined ? createServer(onSocket) : createTlsServer(tls, onSocket);
  }

  /** Start on 127.0.0.1 with a free port. */
  static async start(tls?: TlsOptions): Promise<FakeBroker> {
    const b = new FakeBroker(tls);
    b.server.listen(0, '127.0.0.1');
    await once(b.server, 'listening');
    b.port = (b.server.address() as AddressInfo).port;
    return b;
  }

  #accept(socket: Socket): void {
    const conn = this.sockets.length;
    this.sockets.push(socket);
    socket.setNoDelay(true);
    const decoder = new PacketDecoder({ maxPacketSize: 64 * 1024 * 1024 });
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      let packets: Packet[];
      try {
        packets = decoder.decodeAll(chunk);
      } catch (err) {
        this.emit('decodeError', err, conn);
        socket.destroy();
        return;
      }
      for (const packet of packets) this.#onPacket(conn, socket, packet);
    });
    socket.on('close', () => this.emit('connectionClosed', conn));
    this.emit('connection', conn, socket);
  }

  #onPacket(conn: number, socket: Socket, packet: Packet): void {
    this.received.push({ conn, packet });
    this.emit('packet', packet, conn);
    if (socket.destroyed) return;
    switch (packet.type) {
      case 'connect': {
        const ack = this.behaviour.connack(conn, packet);
        if (ack !== undefined) {
          socket.write(encode({ type: 'connack', returnCode: ack.returnCode, sessionPresent: ack.sessionPresent ?? false }));
          if (ack.returnCode !== 0) socket.end();
        }
        return;
      }
      case 'publish':
        if (packet.qos === 1 && this.behaviour.puback(conn, packet.messageId!)) {
          socket.write(encode({ type: 'puback', messageId: packet.messageId! }));
        }
        return;
      case 'subscribe': {
        const custom = this.behaviour.suback(packet.subscriptions.map((s) => s.topic));
        if (custom === null) return;
        const granted = custom.length > 0 ? custom : packet.subscriptions.map((s) => s.qos as SubackReturnCode);
        socket.write(encode({ type: 'suback', messageId: packet.messageId, granted }));
        return;
      }
      case 'unsubscribe':
        socket.write(encode({ type: 'unsuback', messageId: packet.messageId }));
        return;
      case 'pingreq':
        if (this.behaviour.pingresp) socket.write(encode({ type: 'pingresp' }));
        return;
      case 'disconnect':
        socket.end();
        return;
      default:
    }
  }

  /** Packets of one type, in arrival order. */
  packets<T extends Packet['type']>(type: T, conn?: number): Extract<Packet, { type: T }>[] {
    return this.received
      .filter((r) => r.packet.type === type && (conn === undefined || r.conn === conn))
      .map((r) => r.packet as Extract<Packet, { type: T }>);
  }

  /** Resolve when a packet matching `pred` has arrived (including one that arrived before the call). */
  waitFor(pred: (p: Packet, conn: number) => boolean, timeoutMs = 5000): Promise<Packet> {
    const seen = this.received.find((r) => pred(r.packet, r.conn));
    if (seen !== undefined) return Promise.resolve(seen.packet);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off('packet', on);
        reject(new Error('FakeBroker.waitFor timed out'));
      }, timeoutMs);
      const on = (p: Packet, conn: number): void => {
        if (!pred(p, conn)) return;
        clearTimeout(timer);
        this.off('packet', on);
        resolve(p);
      };
      this.on('packet', on);
    });
  }

  /** Resolve when `n` connections have been accepted. */
  async waitForConnections(n: number): Promise<void> {
    while (this.sockets.length < n) await once(this, 'connection');
  }

  /** Write a packet or raw bytes to connection `conn` (default: the latest). */
  send(data: Packet | Uint8Array, conn = this.sockets.length - 1): void {
    const socket = this.sockets[conn];
    if (socket === undefined) throw new Error(`no connection ${conn}`);
    socket.write(data instanceof Uint8Array ? data : encode(data));
  }

  /** Close every connection and the server. */
  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
