/**
 * Device identity checks shared by the hub and DPS: what the TLS client certificate says (chain verified against
 * the trusted CAs, subject CN, thumbprints, validity) and how a registered identity accepts it.
 *
 * @see https://learn.microsoft.com/azure/iot-hub/authenticate-authorize-x509
 */
import { randomBytes, X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';

/** How a device authenticates on a hub (IoT Hub's three authentication types). */
export type DeviceAuth =
  /** Symmetric keys (base64). `primaryKey` is generated when absent. */
  | { type: 'sas'; primaryKey?: string; secondaryKey?: string }
  /** "X.509 CA signed": a client certificate chained to a trusted CA, subject CN = device id. */
  | { type: 'x509-ca' }
  /** "X.509 self-signed": a client certificate whose SHA-1 or SHA-256 thumbprint is registered. */
  | { type: 'x509-thumbprint'; thumbprint: string; secondaryThumbprint?: string };

/** What the emulator learned from a client certificate. */
export interface PeerCertificate {
  /** The chain verified against the trusted CAs. */
  authorized: boolean;
  /** OpenSSL's reason when not authorized (e.g. `CERT_HAS_EXPIRED`, `SELF_SIGNED_CERT_IN_CHAIN`). */
  authorizationError: string | undefined;
  commonName: string | undefined;
  /** SHA-1 thumbprint, upper-case hex without separators (the form the Azure portal shows). */
  sha1: string;
  /** SHA-256 thumbprint, same form. */
  sha256: string;
  /** SHA-256 thumbprints of the leaf and every issuer OpenSSL found (root included when trusted). */
  chain: string[];
  /** Within its validity period now. */
  validNow: boolean;
}

/** `AB:CD:..` or `abcd..` -> `ABCD..`. */
export function normalizeThumbprint(thumbprint: string): string {
  return thumbprint.replace(/[^0-9a-fA-F]/g, '').toUpperCase();
}

/** SHA-256 thumbprint (normalized) of the first certificate in `pem`. */
export function certificateThumbprint(pem: string, algorithm: 'sha1' | 'sha256' = 'sha256'): string {
  const cert = new X509Certificate(pem);
  return normalizeThumbprint(algorithm === 'sha1' ? cert.fingerprint : cert.fingerprint256);
}

/** The subject CN of the first certificate in `pem`. */
export function certificateCommonName(pem: string): string | undefined {
  const subject = new X509Certificate(pem).subject;
  for (const line of subject.split('\n')) if (line.startsWith('CN=')) return line.slice(3);
  return undefined;
}

/** Read the client certificate of `socket`; `undefined` when the client sent none. */
export function peerCertificate(socket: TLSSocket, nowMs: number): PeerCertificate | undefined {
  const leaf = socket.getPeerCertificate(true);
  if (leaf === null || leaf === undefined || Object.keys(leaf).length === 0 || leaf.raw === undefined) return undefined;
  const chain: string[] = [];
  let cur: typeof leaf | undefined = leaf;
  const seen = new Set<string>();
  while (cur !== undefined && cur.raw !== undefined) {
    const fp = normalizeThumbprint(cur.fingerprint256);
    if (seen.has(fp)) break;
    seen.add(fp);
    chain.push(fp);
    cur = cur.issuerCertificate as typeof leaf | undefined;
  }
  const from = Date.parse(leaf.valid_from);
  const to = Date.parse(leaf.valid_to);
  const cn = leaf.subject?.CN;
  const authorizationError = socket.authorizationError as unknown;
  return {
    authorized: socket.authorized,
    authorizationError: authorizationError instanceof Error ? authorizationError.message
      : typeof authorizationError === 'string' ? authorizationError : undefined,
    commonName: Array.isArray(cn) ? cn[0] : cn,
    sha1: normalizeThumbprint(leaf.fingerprint),
    sha256: normalizeThumbprint(leaf.fingerprint256),
    chain,
    validNow: Number.isFinite(from) && Number.isFinite(to) && from <= nowMs && nowMs <= to,
  };
}

/** Whether `cert` matches a registered thumbprint (SHA-1 or SHA-256, either registered thumbprint). */
export function thumbprintMatches(cert: PeerCertificate, thumbprints: readonly (string | undefined)[]): boolean {
  for (const t of thumbprints) {
    if (t === undefined) continue;
    const n = normalizeThumbprint(t);
    if (n.length > 0 && (n === cert.sha1 || n === cert.sha256)) return true;
  }
  return false;
}

/**
 * Check a client certificate against a registered X.509 identity. `expectedCn` is the device or registration id.
 * Returns a reason when refused.
 */
export function checkX509(
  cert: PeerCertificate | undefined,
  auth: Exclude<DeviceAuth, { type: 'sas' }>,
  expectedCn: string,
): string | undefined {
  if (cert === undefined) return 'no client certificate';
  if (auth.type === 'x509-ca') {
    if (!cert.authorized) return `certificate not trusted (${cert.authorizationError ?? 'unknown'})`;
    if (cert.commonName !== expectedCn) return 'certificate CN does not match the id';
    return undefined;
  }
  if (!cert.validNow) return 'certificate expired or not yet valid';
  if (!thumbprintMatches(cert, [auth.thumbprint, auth.secondaryThumbprint])) return 'certificate thumbprint not registered';
  return undefined;
}

/** A new random 256-bit symmetric key, base64 (as IoT Hub generates). */
export function generateSymmetricKey(): string {
  return randomBytes(32).toString('base64');
}
