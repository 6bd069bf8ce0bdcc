/**
 * Opening the byte stream under the MQTT session: TLS (the default), plain TCP (tests), or a caller-supplied
 * connected Duplex (the C API's `config.socket`), and classifying socket failures into stable error codes.
 *
 * TLS verifies the server certificate against `ca` (Node's bundled roots by default) and the logical host name,
 * sends that host name as SNI even when connecting to an explicit `address`, and refuses anything below TLS 1.2.
 *
 * @see https://learn.microsoft.com/azure/iot-hub/iot-hub-tls-support
 */
import { createHash } from 'node:crypto';
import { isIP, connect as netConnect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import {
  checkServerIdentity,
  connect as tlsConnect,
  createSecureContext,
  TLSSocket,
  type ConnectionOptions,
  type PeerCertificate,
  type SecureContext,
  type SecureVersion,
} from 'node:tls';
import { AzureIotHubError } from '../errors.js';

/** Default port for MQTT over TLS (Azure IoT Hub, DPS). */
export const MQTT_TLS_PORT = 8883;
/** Default port for plain MQTT (tests only). */
export const MQTT_PLAIN_PORT = 1883;

/** TLS settings. All PEM strings; never logged or put in errors. */
export interface TransportTlsOptions {
  /** CA certificate(s) that sign the server certificate. Default: Node's bundled root CAs. */
  ca?: string | string[];
  /** Client certificate, followed by its intermediates, for X.509 authentication. */
  cert?: string;
  /** Private key of `cert`. */
  key?: string;
  /** Passphrase of an encrypted `key`. */
  passphrase?: string;
  /** SNI and the name the server certificate must match. Default: the session's `host`. */
  servername?: string;
  /** Lowest TLS version. Default and minimum `'TLSv1.2'`. */
  minVersion?: 'TLSv1.2' | 'TLSv1.3';
  /** Highest TLS version. Default: Node's (TLS 1.3). */
  maxVersion?: 'TLSv1.2' | 'TLSv1.3';
  /**
   * Accept any server certificate, so anyone on the path can read and change the traffic. For local experiments
   * only. Default false.
   */
  dangerouslyDisableServerCertificateVerification?: boolean;
}

/** A connected stream, or a function giving one (called on every connection attempt). */
export type SocketSource = Duplex | (() => Duplex | Promise<Duplex>);

/** Where and how to connect. */
export interface SocketOptions {
  /**
   * Logical server host name: the TLS SNI and the name the server certificate must match. Required unless
   * `socket` is given.
   */
  host?: string;
  /** Default 8883 with TLS, 1883 with `tls: false`. */
  port?: number;
  /** Connect to this address instead of resolving `host` (which stays the SNI and the name verified). */
  address?: string;
  /** TLS settings, or false for plain TCP (tests against a local broker only). Default `{}` (TLS). */
  tls?: TransportTlsOptions | false;
  /**
   * Use this already connected stream instead of opening one. A single Duplex serves one connection only (no
   * reconnection); a function is called for every attempt, so reconnection works.
   */
  socket?: SocketSource;
}

/** Socket options checked and completed. */
export interface ResolvedSocketOptions {
  host: string | undefined;
  port: number;
  address: string | undefined;
  tls: TransportTlsOptions | false;
  socket: SocketSource | undefined;
}

/** Check socket options; throws `EINVAL` naming the field. */
export function resolveSocketOptions(o: SocketOptions): ResolvedSocketOptions {
  if (o.socket !== undefined && typeof o.socket !== 'function' && !isDuplexLike(o.socket)) {
    throw new AzureIotHubError('EINVAL', 'socket must be a Duplex stream or a function returning one');
  }
  if (o.socket === undefined && (typeof o.host !== 'string' || o.host.length === 0)) {
    throw new AzureIotHubError('EINVAL', 'host is required (or pass a connected socket)');
  }
  if (o.host !== undefined && typeof o.host !== 'string') throw new AzureIotHubError('EINVAL', 'host must be a string');
  if (o.address !== undefined && (typeof o.address !== 'string' || o.address.length === 0)) {
    throw new AzureIotHubError('EINVAL', 'address must be a non-empty string');
  }
  const tls = o.tls ?? {};
  if (tls !== false && (typeof tls !== 'object' || tls === null)) {
    throw new AzureIotHubError('EINVAL', 'tls must be an object or false');
  }
  if (tls !== false) {
    for (const v of ['minVersion', 'maxVersion'] as const) {
      const val = tls[v];
      if (val !== undefined && val !== 'TLSv1.2' && val !== 'TLSv1.3') {
        throw new AzureIotHubError('EINVAL', `tls.${v} must be 'TLSv1.2' or 'TLSv1.3'`);
      }
    }
    if ((tls.cert === undefined) !== (tls.key === undefined)) {
      throw new AzureIotHubError('EINVAL', 'tls.cert and tls.key must be given together');
    }
  }
  const port = o.port ?? (tls === false ? MQTT_PLAIN_PORT : MQTT_TLS_PORT);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new AzureIotHubError('EINVAL', 'port must be an integer 1..65535');
  }
  return { host: o.host, port, address: o.address, tls, socket: o.socket };
}

function isDuplexLike(s: unknown): s is Duplex {
  const d = s as Partial<Duplex> | null;
  return typeof d === 'object' && d !== null && typeof d.write === 'function' && typeof d.on === 'function';
}

/** An opened stream and whether it is TLS (which decides how a close before CONNACK is classified). */
export interface OpenedSocket {
  socket: Duplex;
  secure: boolean;
}

/**
 * Opens streams for one session. Keeps the TLS secure context (parsed certificates and key) across attempts so that
 * a reconnect does not parse the PEM again.
 */
export class SocketOpener {
  readonly options: ResolvedSocketOptions;
  #context: SecureContext | undefined;
  #usedSingle = false;

  constructor(options: ResolvedSocketOptions) {
    this.options = options;
  }

  /** Whether another attempt can get a fresh stream (false for a single caller-supplied Duplex already used). */
  get canReopen(): boolean {
    const s = this.options.socket;
    return s === undefined || typeof s === 'function' || !this.#usedSingle;
  }

  /**
   * Open a stream. `track` receives it as soon as it exists (before it is connected), so the caller can destroy it
   * on a timeout or a user `disconnect()`, and must add its own `error` listener there: the listeners of `open`
   * are removed once the stream is ready. Rejects with a classified {@link AzureIotHubError}.
   */
  async open(track: (socket: Duplex) => void): Promise<OpenedSocket> {
    const o = this.options;
    if (o.socket !== undefined) {
      let s: Duplex;
      if (typeof o.socket === 'function') {
        try {
          s = await o.socket();
        } catch (err) {
          throw classifySocketError(err, true); // the function may have done TLS itself
        }
        if (!isDuplexLike(s)) throw new AzureIotHubError('EINVAL', 'the socket function did not return a Duplex');
      } else {
        if (this.#usedSingle) {
          throw new AzureIotHubError('ECONNRESET', 'the supplied socket was used already; pass a function to reconnect');
        }
        this.#usedSingle = true;
        s = o.socket;
      }
      track(s);
      if (s.destroyed || s.writableEnded) throw new AzureIotHubError('ECONNRESET', 'the supplied socket is closed');
      (s as Partial<Socket>).setNoDelay?.(true);
      return { socket: s, secure: s instanceof TLSSocket };
    }

    let socket: Socket;
    const secure = o.tls !== false;
    try {
      socket = secure ? tlsConnect(this.#tlsOptions(o.tls as TransportTlsOptions)) : netConnect(this.#netOptions());
    } catch (err) {
      throw classifySocketError(err, secure);
    }
    track(socket);
    await new Promise<void>((resolve, reject) => {
      const ready = secure ? 'secureConnect' : 'connect';
      const done = (err: AzureIotHubError | undefined): void => {
        socket.off(ready, onReady);
        socket.off('error', onError);
        socket.off('close', onClose);
        if (err === undefined) resolve();
        else reject(err);
      };
      const onReady = (): void => done(undefined);
      const onError = (err: Error): void => done(classifySocketError(err, secure));
      const onClose = (): void => done(new AzureIotHubError('ECONNRESET', 'the connection closed while opening'));
      socket.once(ready, onReady);
      socket.once('error', onError);
      socket.once('close', onClose);
    });
    socket.setNoDelay(true);
    return { socket, secure };
  }

  #netOptions(): { host: string; port: number } {
    const o = this.options;
    return { host: o.address ?? o.host!, port: o.port };
  }

  #tlsOptions(t: TransportTlsOptions): ConnectionOptions {
    const o = this.options;
    const name = t.servername ?? o.host;
    const verify = t.dangerouslyDisableServerCertificateVerification !== true;
    if (this.#context === undefined) {
      try {
        this.#context = sharedSecureContext(t);
      } catch (err) {
        // The OpenSSL message names the failing step, never the key; still, keep it out of our message.
        throw new AzureIotHubError('EINVAL', 'tls: the CA, certificate or key could not be loaded (check the PEM and passphrase)', {
          cause: err,
        });
      }
    }
    const options: ConnectionOptions = {
      host: o.address ?? name,
      port: o.port,
      secureContext: this.#context,
      rejectUnauthorized: verify,
      // Verify against the logical host even when connecting to an explicit address.
      checkServerIdentity: verify
        ? (_host: string, cert: PeerCertificate) => (name === undefined ? undefined : checkServerIdentity(name, cert))
        : () => undefined,
    };
    // RFC 6066 forbids an IP address as SNI (Node warns), so send SNI only for a DNS name.
    if (name !== undefined && isIP(name) === 0) options.servername = name;
    return options;
  }
}

/**
 * Secure contexts of the sessions alive, by a SHA-256 of their TLS settings: sessions with the same CA, certificate
 * and key (a gateway's thousand SAS devices trusting one CA) share one context instead of parsing the PEM again and
 * holding ~12 KiB each. Held weakly, so a context goes with its last session; the key is a digest, so no PEM (and no
 * private key) is kept by the cache itself.
 */
const secureContexts = new Map<string, WeakRef<SecureContext>>();
const secureContextGone = new FinalizationRegistry<string>((key) => {
  if (secureContexts.get(key)?.deref() === undefined) secureContexts.delete(key);
});

/**
 * The secure context for `t`: the one already in use by another session with the same settings, or a new one.
 * @internal exported for tests.
 */
export function sharedSecureContext(t: TransportTlsOptions): SecureContext {
  const minVersion = (t.minVersion ?? 'TLSv1.2') as SecureVersion;
  const key = createHash('sha256')
    .update(JSON.stringify([t.ca ?? null, t.cert ?? null, t.key ?? null, t.passphrase ?? null, minVersion, t.maxVersion ?? null]))
    .digest('base64');
  const cached = secureContexts.get(key)?.deref();
  if (cached !== undefined) return cached;
  const context = createSecureContext({
    ...(t.ca !== undefined ? { ca: t.ca } : {}),
    ...(t.cert !== undefined ? { cert: t.cert } : {}),
    ...(t.key !== undefined ? { key: t.key } : {}),
    ...(t.passphrase !== undefined ? { passphrase: t.passphrase } : {}),
    minVersion,
    ...(t.maxVersion !== undefined ? { maxVersion: t.maxVersion as SecureVersion } : {}),
  });
  secureContexts.set(key, new WeakRef(context));
  secureContextGone.register(context, key);
  return context;
}

// Node's certificate verification failures (OpenSSL X509_V_ERR_* names) and host name mismatch.
const CERT_ERROR_CODES = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_CRL',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECRYPT_CRL_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'CERT_SIGNATURE_FAILURE',
  'CRL_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID',
  'CERT_HAS_EXPIRED',
  'CRL_NOT_YET_VALID',
  'CRL_HAS_EXPIRED',
  'ERROR_IN_CERT_NOT_BEFORE_FIELD',
  'ERROR_IN_CERT_NOT_AFTER_FIELD',
  'ERROR_IN_CRL_LAST_UPDATE_FIELD',
  'ERROR_IN_CRL_NEXT_UPDATE_FIELD',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'CERT_CHAIN_TOO_LONG',
  'CERT_REVOKED',
  'INVALID_CA',
  'PATH_LENGTH_EXCEEDED',
  'INVALID_PURPOSE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

const TIMEOUT_CODES = new Set(['ETIMEDOUT', 'ESOCKETTIMEDOUT']);

/** Whether a Node error code is a TLS or certificate failure. */
export function isTlsErrorCode(code: string): boolean {
  return CERT_ERROR_CODES.has(code) || code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_');
}

/**
 * Classify a socket or TLS failure:
 * - certificate verification failures and TLS alerts (`ERR_SSL_*`, `ERR_TLS_*`, `CERT_HAS_EXPIRED`, ...) -> `EACCES`;
 * - PEM/key loading failures (`ERR_OSSL_*`) -> `EINVAL`;
 * - TCP connection refused -> `ECONNREFUSED` (with no `connack`, which tells it from a CONNACK refusal);
 * - timeouts -> `ETIMEDOUT`;
 * - anything else (reset, DNS failure, unreachable network, ...) -> `ECONNRESET`.
 *
 * The message names the code and never contains credentials; the original error is the `cause`.
 */
export function classifySocketError(err: unknown, secure: boolean): AzureIotHubError {
  if (err instanceof AzureIotHubError) return err;
  const code = typeof (err as { code?: unknown } | null)?.code === 'string' ? (err as { code: string }).code : '';
  if (secure && isTlsErrorCode(code)) {
    return new AzureIotHubError('EACCES', `TLS handshake or certificate failure (${code})`, { cause: err });
  }
  if (code.startsWith('ERR_OSSL_')) {
    return new AzureIotHubError('EINVAL', `tls: the certificate or key could not be used (${code})`, { cause: err });
  }
  if (code === 'ECONNREFUSED') return new AzureIotHubError('ECONNREFUSED', 'the server refused the TCP connection', { cause: err });
  if (TIMEOUT_CODES.has(code)) return new AzureIotHubError('ETIMEDOUT', `the connection timed out (${code})`, { cause: err });
  return new AzureIotHubError('ECONNRESET', `the connection failed (${code || 'closed'})`, { cause: err });
}
