/**
 * Helpers for the TLS failure tests: a bare TLS server with a chosen certificate and protocol range that counts the
 * handshakes it sees (a client that retried blindly would show up here), and a TCP switch that sends the first
 * connection to one port (the emulator) and later ones to another (a bad server), so that a failure can be
 * injected into a reconnection.
 */
import { once } from 'node:events';
import { createServer as createNetServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import * as tls from 'node:tls';

/** A TLS server that completes or fails handshakes and never speaks MQTT. */
export class BadTlsServer {
  /** TCP connections accepted (every attempt a client makes). */
  connections = 0;
  /** Handshakes that failed on the server side, with OpenSSL's code. */
  readonly handshakeErrors: string[] = [];
  /** Handshakes that succeeded (a client that should have refused did not). */
  secured = 0;
  readonly #sockets = new Set<Socket>();
  port = 0;

  private constructor(readonly server: tls.Server) {}

  static async start(options: tls.TlsOptions): Promise<BadTlsServer> {
    const s = new BadTlsServer(tls.createServer(options));
    s.server.on('connection', (socket: Socket) => {
      s.connections++;
      socket.setNoDelay(true);
      s.#sockets.add(socket);
      socket.once('close', () => s.#sockets.delete(socket));
    });
    s.server.on('secureConnection', (socket) => {
      s.secured++;
      socket.on('error', () => undefined);
    });
    s.server.on('tlsClientError', (err: NodeJS.ErrnoException) => {
      s.handshakeErrors.push(err.code ?? err.message);
    });
    s.server.listen(0, '127.0.0.1');
    await once(s.server, 'listening');
    s.port = (s.server.address() as AddressInfo).port;
    return s;
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** Forwards connection number `i` (0-based) to `route(i)` on 127.0.0.1, bytes untouched. */
export class SwitchProxy {
  connections = 0;
  readonly #sockets = new Set<Socket>();
  port = 0;

  private constructor(readonly server: Server) {}

  static async start(route: (index: number) => number): Promise<SwitchProxy> {
    let p: SwitchProxy | undefined;
    const server = createNetServer((client) => {
      const proxy = p!;
      const index = proxy.connections++;
      const upstream = connect({ host: '127.0.0.1', port: route(index) });
      for (const s of [client, upstream]) {
        s.setNoDelay(true);
        proxy.#sockets.add(s);
        s.once('close', () => proxy.#sockets.delete(s));
        s.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
    p = new SwitchProxy(server);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    p.port = (server.address() as AddressInfo).port;
    return p;
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Poll `cond` every few ms; reject after `timeoutMs`. */
export async function until(cond: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(2);
  }
}
