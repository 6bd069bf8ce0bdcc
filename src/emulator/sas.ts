/**
 * Shared access signatures, the service side: parse the MQTT password, check the HMAC-SHA256 signature with a
 * device (or enrollment) key, the expiry and the resource URI; derive the device keys of a DPS enrollment group.
 * Also builds tokens, for tests and the demo.
 *
 * The signature is checked over the `sr` value exactly as it appears in the token: Microsoft's device SDK signs the
 * URL-encoded resource URI for IoT Hub but the raw one for DPS, and both are accepted by Azure.
 *
 * @see https://learn.microsoft.com/azure/iot-hub/authenticate-authorize-sas
 * @see https://learn.microsoft.com/azure/iot-dps/concepts-symmetric-key-attestation
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** A parsed `SharedAccessSignature sr=...&sig=...&se=...[&skn=...]` token. */
export interface SasToken {
  /** `sr` as sent (signed in this form). */
  resourceRaw: string;
  /** `sr` URL-decoded: the resource URI the token grants access to. */
  resource: string;
  /** The signature, URL-decoded (base64). */
  signature: string;
  /** Expiry, seconds since the Unix epoch. */
  expiry: number;
  /** Key name, present for shared access policy keys only. */
  keyName?: string;
}

/** Why a token was refused (never contains the token or a key). */
export type SasFailure = 'malformed' | 'expired' | 'wrong-resource' | 'bad-signature' | 'policy-key';

const PREFIX = 'SharedAccessSignature ';

function decode(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}

/** Parse a token; `undefined` when it is not a well-formed SAS token (fields may come in any order). */
export function parseSasToken(token: string): SasToken | undefined {
  if (!token.startsWith(PREFIX)) return undefined;
  const fields = new Map<string, string>();
  for (const part of token.slice(PREFIX.length).split('&')) {
    const eq = part.indexOf('=');
    if (eq <= 0) return undefined;
    const k = part.slice(0, eq);
    if (fields.has(k)) return undefined;
    fields.set(k, part.slice(eq + 1));
  }
  const sr = fields.get('sr');
  const sig = fields.get('sig');
  const se = fields.get('se');
  if (sr === undefined || sig === undefined || se === undefined || !/^\d{1,12}$/.test(se)) return undefined;
  const resource = decode(sr);
  const signature = decode(sig);
  if (resource === undefined || signature === undefined) return undefined;
  const token_: SasToken = { resourceRaw: sr, resource, signature, expiry: Number(se) };
  const skn = fields.get('skn');
  if (skn !== undefined) token_.keyName = decode(skn) ?? skn;
  return token_;
}

/** base64(HMAC-SHA256(base64decode(key), `${resource}\n${expiry}`)). */
export function signSas(resource: string, expiry: number, key: string): string {
  return createHmac('sha256', Buffer.from(key, 'base64')).update(`${resource}\n${expiry}`).digest('base64');
}

/** RFC 3986 strict encoding, as Azure's SDKs encode `sr`, `sig` and `skn`. */
function encodeStrict(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

/** Options of {@link createSasToken}. */
export interface CreateSasTokenOptions {
  /** Resource URI, e.g. `myhub.azure-devices.net/devices/dev1` or `0ne00000001/registrations/reg1`. */
  resource: string;
  /** The base64 symmetric key. */
  key: string;
  /** Expiry in seconds since the epoch (default: one hour from now). */
  expiry?: number;
  /** `skn`: `registration` for DPS, a policy name for policy keys; absent for device keys. */
  keyName?: string;
}

/**
 * Build a token the way Azure documents it: `sr` URL-encoded, the signature computed over the encoded `sr`.
 * @see https://learn.microsoft.com/azure/iot-hub/authenticate-authorize-sas#sas-token-structure
 */
export function createSasToken(options: CreateSasTokenOptions): string {
  const expiry = options.expiry ?? Math.floor(Date.now() / 1000) + 3600;
  const sr = encodeStrict(options.resource);
  let token = `${PREFIX}sr=${sr}&sig=${encodeStrict(signSas(sr, expiry, options.key))}&se=${expiry}`;
  if (options.keyName !== undefined) token += `&skn=${encodeStrict(options.keyName)}`;
  return token;
}

/**
 * Check `token` against `keys` (primary, secondary). `resourceMatches` decides whether the decoded `sr` grants the
 * expected resource. `nowSeconds` is the current time (seconds since the epoch). With `allowKeyName` a token may
 * carry `skn` with exactly that value (DPS: `registration`); otherwise a token with `skn` is a policy token, which the
 * emulator does not support.
 */
export function verifySasToken(
  token: SasToken,
  keys: readonly string[],
  resourceMatches: (resource: string) => boolean,
  nowSeconds: number,
  allowKeyName?: string,
): SasFailure | undefined {
  if (token.keyName !== undefined && token.keyName !== allowKeyName) return 'policy-key';
  if (!resourceMatches(token.resource)) return 'wrong-resource';
  if (token.expiry <= nowSeconds) return 'expired';
  const given = Buffer.from(token.signature, 'base64');
  for (const key of keys) {
    const expected = Buffer.from(signSas(token.resourceRaw, token.expiry, key), 'base64');
    if (expected.length === given.length && timingSafeEqual(expected, given)) return undefined;
  }
  return 'bad-signature';
}

/**
 * Whether the resource URI `granted` covers `wanted`, segment by segment (`a/b` covers `a/b/c`, not `a/bc`). The
 * first segment (a host name) is compared by `sameHost`, the others exactly.
 */
export function resourceCovers(granted: string, wanted: string, sameHost: (a: string, b: string) => boolean): boolean {
  const g = granted.replace(/\/+$/, '').split('/');
  const w = wanted.split('/');
  if (g.length > w.length || g.length === 0) return false;
  if (!sameHost(g[0]!, w[0]!)) return false;
  for (let i = 1; i < g.length; i++) if (g[i] !== w[i]) return false;
  return true;
}

/**
 * The device key of a DPS enrollment group member: base64(HMAC-SHA256(base64decode(groupKey), registrationId)).
 * @see https://learn.microsoft.com/azure/iot-dps/how-to-legacy-device-symm-key#derive-a-device-key
 */
export function deriveDeviceKey(groupKey: string, registrationId: string): string {
  return createHmac('sha256', Buffer.from(groupKey, 'base64')).update(registrationId).digest('base64');
}
