/**
 * A raw MQTT client for emulator tests: a TLS socket plus our codec, no session logic, so tests can send exactly
 * the packets a rule is about (including ones a real client would never send) and read exactly what comes back.
 */
import * as tls from 'node:tls';
import { encode, PacketDecoder, type ConnackPacket, type Packet, type PublishPacket } from '../../src/codec/index.js';
import { createSasToken } from '../../src/emulator/sas.js';
import type { Emulator } from '../../src/emulator/emulator.js';

export interface RawConnectOptions {
  port: number;
  ca: string;
  servername?: string;
  cert?: string;
  key?: string;
}

/** A connected raw client. */
export class RawClient {
  readonly socket: tls.TLSSocket;
  readonly received: Packet[] = [];
  readonly #decoder = new PacketDecoder();
  #waiters: { pred: (p: Packet) => boolean; resolve: (p: Packet) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }[] = [];
  readonly closed: Promise<void>;
  isClosed = false;

  private constructor(socket: tls.TLSSocket) {
    this.socket = socket;
    socket.setNoDelay(true);
    this.closed = new Promise((resolve) => socket.once('close', () => {
      this.isClosed = true;
      for (const w of this.#waiters) {
        clearTimeout(w.timer);
        w.reject(new Error('connection closed'));
      }
      this.#waiters = [];
      resolve();
    }));
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      this.#decoder.push(new Uint8Array(chunk), (p) => {
        const w = this.#waiters.find((x) => x.pred(p));
        if (w !== undefined) {
          this.#waiters = this.#waiters.filter((x) => x !== w);
          clearTimeout(w.timer);
          w.resolve(p);
        } else this.received.push(p);
      });
    });
  }

  static open(o: RawConnectOptions): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const opts: tls.ConnectionOptions = { host: '127.0.0.1', port: o.port, ca: o.ca };
      if (o.servername !== undefined) opts.servername = o.servername;
      if (o.cert !== undefined) opts.cert = o.cert;
      if (o.key !== undefined) opts.key = o.key;
      const socket = tls.connect(opts, () => resolve(new RawClient(socket)));
      socket.once('error', reject);
    });
  }

  send(p: Packet): void {
    this.socket.write(encode(p));
  }

  write(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  /** The next packet matching `pred` (already received ones first). */
  next<T extends Packet = Packet>(pred: (p: Packet) => boolean = () => true, timeoutMs = 3000): Promise<T> {
    const i = this.received.findIndex(pred);
    if (i !== -1) return Promise.resolve(this.received.splice(i, 1)[0] as T);
    if (this.isClosed) return Promise.reject(new Error('connection closed'));
    return new Promise<T>((resolve, reject) => {
      const w = {
        pred,
        resolve: resolve as (p: Packet) => void,
        reject,
        timer: setTimeout(() => {
          this.#waiters = this.#waiters.filter((x) => x !== w);
          reject(new Error('timeout waiting for a packet'));
        }, timeoutMs),
      };
      this.#waiters.push(w);
    });
  }

  nextOf<K extends Packet['type']>(type: K, timeoutMs?: number): Promise<Extract<Packet, { type: K }>> {
    return this.next<Extract<Packet, { type: K }>>((p) => p.type === type, timeoutMs);
  }

  nextPublish(topicPrefix: string, timeoutMs?: number): Promise<PublishPacket> {
    return this.next<PublishPacket>((p) => p.type === 'publish' && p.topic.startsWith(topicPrefix), timeoutMs);
  }

  /**
   * A deterministic sync point: PINGREQ, then wait for the PINGRESP. The server handles packets in order, so
   * whatever it sent in answer to earlier packets is in `received` afterwards.
   */
  async barrier(): Promise<void> {
    this.send({ type: 'pingreq' });
    await this.nextOf('pingresp');
  }

  close(): void {
    this.socket.destroy();
  }
}

export interface DeviceConnectOptions {
  deviceId: string;
  hub?: string;
  sasKey?: string;
  cert?: { chain: string; key: string };
  cleanSession?: boolean;
  keepalive?: number;
  username?: string;
  password?: string;
  clientId?: string;
  servername?: string;
  will?: { topic: string; payload: Uint8Array; qos: 0 | 1 | 2; retain: boolean };
}

/** Open a raw connection to the emulator's hub and send CONNECT; resolves with the client and the CONNACK. */
export async function connectDevice(emu: Emulator, o: DeviceConnectOptions): Promise<{ client: RawClient; connack: ConnackPacket }> {
  const hub = o.hub ?? emu.hub.host;
  const open: RawConnectOptions = { port: emu.hub.port, ca: emu.ca.cert, servername: o.servername ?? hub };
  if (o.cert !== undefined) {
    open.cert = o.cert.chain;
    open.key = o.cert.key;
  }
  const client = await RawClient.open(open);
  const connect: Packet = {
    type: 'connect',
    clientId: o.clientId ?? o.deviceId,
    keepalive: o.keepalive ?? 60,
    cleanSession: o.cleanSession ?? false,
    username: o.username ?? `${hub}/${o.deviceId}/?api-version=2021-04-12`,
  };
  const password = o.password ??
    (o.sasKey !== undefined ? createSasToken({ resource: `${hub}/devices/${o.deviceId}`, key: o.sasKey }) : undefined);
  if (password !== undefined) connect.password = new TextEncoder().encode(password);
  if (o.will !== undefined) connect.will = o.will;
  client.send(connect);
  const connack = await client.nextOf('connack');
  return { client, connack };
}

/** Subscribe and wait for the SUBACK. */
export async function subscribe(client: RawClient, filters: string[], qos: 0 | 1 | 2 = 1, messageId = 1): Promise<number[]> {
  client.send({ type: 'subscribe', messageId, subscriptions: filters.map((topic) => ({ topic, qos })) });
  const suback = await client.nextOf('suback');
  return suback.granted;
}

export const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
export const text = (b: Uint8Array): string => new TextDecoder().decode(b);
