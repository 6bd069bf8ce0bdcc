/**
 * A scriptable fake DPS over plain TCP on loopback, built on our codec: CONNACK, SUBACK and PUBACK are automatic;
 * each register or poll request goes to the test's `onRequest`, which answers (or not) as the case needs. Used to
 * drive `provisionDevice` through answers the emulator never gives (wrong `$rid`, malformed bodies, endless 202s).
 */
import { once } from 'node:events';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { encode, PacketDecoder, type ConnectPacket, type Packet, type SubackReturnCode } from '../../../src/codec/index.js';

/** A register or poll request as the fake saw it. */
export interface FakeRequest {
  kind: 'register' | 'poll';
  topic: string;
  rid: string;
  operationId: string | undefined;
  body: string;
  qos: number;
}

/** One connection to the fake. */
export class FakeConnection {
  readonly received: Packet[] = [];
  connect: ConnectPacket | undefined;
  readonly #socket: Socket;

  constructor(socket: Socket) {
    this.#socket = socket;
  }

  send(packet: Packet): void {
    if (!this.#socket.destroyed) this.#socket.write(encode(packet));
  }

  /** Publish a DPS answer: `$dps/registrations/res/{status}/?{query}` with a JSON body. */
  answer(status: number, query: string, body: unknown, qos: 0 | 1 = 0): void {
    const payload = new TextEncoder().encode(typeof body === 'string' ? body : JSON.stringify(body));
    const topic = `$dps/registrations/res/${status}/?${query}`;
    this.send(qos === 1 ? { type: 'publish', topic, payload, qos: 1, dup: false, retain: false, messageId: 77 }
      : { type: 'publish', topic, payload, qos: 0, dup: false, retain: false });
  }

  close(): void {
    this.#socket.destroy();
  }
}

const decoder = new TextDecoder();

export class FakeDps {
  readonly server: Server;
  readonly connections: FakeConnection[] = [];
  readonly requests: FakeRequest[] = [];
  port = 0;
  /** CONNACK return code. */
  connack = 0;
  /** SUBACK return code for every filter. */
  granted: SubackReturnCode = 1;
  onRequest: (req: FakeRequest, conn: FakeConnection) => void = () => undefined;

  private constructor() {
    this.server = createServer((socket) => this.#accept(socket));
  }

  static async start(): Promise<FakeDps> {
    const f = new FakeDps();
    f.server.listen(0, '127.0.0.1');
    await once(f.server, 'listening');
    f.port = (f.server.address() as AddressInfo).port;
    return f;
  }

  #accept(socket: Socket): void {
    socket.setNoDelay(true);
    socket.on('error', () => undefined);
    const conn = new FakeConnection(socket);
    this.connections.push(conn);
    const dec = new PacketDecoder();
    socket.on('data', (chunk: Buffer) => {
      dec.push(chunk, (p) => this.#onPacket(conn, p));
    });
  }

  #onPacket(conn: FakeConnection, p: Packet): void {
    conn.received.push(p);
    switch (p.type) {
      case 'connect':
        conn.connect = p;
        conn.send({ type: 'connack', sessionPresent: false, returnCode: this.connack as 0 });
        if (this.connack !== 0) conn.close();
        return;
      case 'subscribe':
        conn.send({ type: 'suback', messageId: p.messageId, granted: p.subscriptions.map(() => this.granted) });
        return;
      case 'pingreq':
        conn.send({ type: 'pingresp' });
        return;
      case 'disconnect':
        conn.close();
        return;
      case 'publish': {
        if (p.qos === 1) conn.send({ type: 'puback', messageId: p.messageId! });
        const query = new URLSearchParams(p.topic.slice(p.topic.indexOf('?') + 1));
        const req: FakeRequest = {
          kind: p.topic.includes('iotdps-register') ? 'register' : 'poll',
          topic: p.topic,
          rid: query.get('$rid') ?? '',
          operationId: query.get('operationId') ?? undefined,
          body: decoder.decode(p.payload),
          qos: p.qos,
        };
        this.requests.push(req);
        this.onRequest(req, conn);
        return;
      }
      default:
        return;
    }
  }

  async close(): Promise<void> {
    for (const c of this.connections) c.close();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** A final `assigned` body. */
export function assignedBody(assignedHub: string, deviceId: string, extra: Record<string, unknown> = {}): unknown {
  return { operationId: 'op-1', status: 'assigned', registrationState: { registrationId: deviceId, assignedHub, deviceId, status: 'assigned', ...extra } };
}
