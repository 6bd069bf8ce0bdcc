/**
 * Test certificates minted with the `openssl` command: a root CA, intermediates, a server certificate for loopback,
 * device certificates whose CN is the device id ("X.509 CA signed" in Azure terms) and proof-of-possession
 * verification certificates. Keys are EC P-256 (fast to generate; accepted by Azure IoT Hub and DPS).
 *
 * For tests and demos only: the keys are written to a temporary folder and returned as PEM strings.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A certificate and its private key, PEM. `chain` is the certificate followed by its issuers (not the root). */
export interface CertificateAndKey {
  cert: string;
  key: string;
  /** `cert` followed by intermediate certificates, the form a TLS client presents. */
  chain: string;
}

export interface CertificateOptions {
  /** Validity in days from now (default 3650). Negative values are not supported; see `notBefore`. */
  days?: number;
  /**
   * Start and end of validity as `YYYYMMDDHHMMSSZ` (for expired or not-yet-valid test certificates). When given,
   * they replace `days`.
   */
  notBefore?: string;
  notAfter?: string;
}

export interface ServerCertificateOptions extends CertificateOptions {
  /** DNS names in subjectAltName (default `localhost`). */
  dnsNames?: string[];
  /** IP addresses in subjectAltName (default `127.0.0.1`). */
  ipAddresses?: string[];
}

/** The error thrown when `openssl` is missing or fails; it never includes key material. */
export class CertificateToolError extends Error {
  override readonly name = 'CertificateToolError';
  readonly code = 'ENOENT';
}

async function openssl(args: string[], cwd: string): Promise<void> {
  try {
    await run('openssl', args, { cwd });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') {
      throw new CertificateToolError(
        'the `openssl` command was not found; install OpenSSL (Debian: apt-get install openssl) to mint certificates',
      );
    }
    throw new CertificateToolError(`openssl ${args[0] ?? ''} failed: ${(e.stderr ?? e.message).trim().slice(0, 500)}`);
  }
}

async function inTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'azure-iot-hub-certs-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

let serial = BigInt(Date.now()) * 1000n;
function nextSerial(): string {
  serial += 1n + BigInt(Math.floor(Math.random() * 1000));
  return '0x' + serial.toString(16);
}

function evenHex(h: string): string {
  return h.length % 2 === 0 ? h : '0' + h;
}

async function sign(
  dir: string,
  subject: string,
  issuer: CertificateAndKey | undefined,
  extensions: string,
  options: CertificateOptions,
): Promise<CertificateAndKey> {
  await openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'leaf.key'], dir);
  await openssl(['pkcs8', '-topk8', '-nocrypt', '-in', 'leaf.key', '-out', 'leaf.p8'], dir);
  await openssl(['req', '-new', '-key', 'leaf.p8', '-subj', subject, '-out', 'leaf.csr'], dir);
  await writeFile(join(dir, 'ext.cnf'), `[ext]\n${extensions}\n`);
  const signer = issuer ?? null;
  if (signer) {
    await writeFile(join(dir, 'issuer.crt'), signer.cert);
    await writeFile(join(dir, 'issuer.key'), signer.key);
  }
  if (options.notBefore !== undefined || options.notAfter !== undefined) {
    // `openssl ca` is the portable way (OpenSSL 1.1 and 3.x) to set explicit validity dates.
    await writeFile(join(dir, 'index.txt'), '');
    await writeFile(join(dir, 'serial'), evenHex(nextSerial().slice(2)) + '\n');
    const conf = [
      '[ca]',
      'default_ca = ca_section',
      '[ca_section]',
      `database = ${join(dir, 'index.txt')}`,
      `new_certs_dir = ${dir}`,
      `serial = ${join(dir, 'serial')}`,
      'default_md = sha256',
      'policy = policy_any',
      'unique_subject = no',
      'email_in_dn = no',
      'copy_extensions = none',
      '[policy_any]',
      'commonName = supplied',
      'organizationName = optional',
      '',
    ].join('\n');
    await writeFile(join(dir, 'ca.cnf'), conf);
    const selfSign = signer === null;
    await openssl(
      [
        'ca',
        '-batch',
        '-config',
        'ca.cnf',
        '-in',
        'leaf.csr',
        '-out',
        'leaf.crt',
        '-notext',
        ...(selfSign ? ['-selfsign', '-keyfile', 'leaf.p8'] : ['-cert', 'issuer.crt', '-keyfile', 'issuer.key']),
        '-startdate',
        options.notBefore ?? '20200101000000Z',
        '-enddate',
        options.notAfter ?? '20991231235959Z',
        '-extfile',
        'ext.cnf',
        '-extensions',
        'ext',
      ],
      dir,
    );
  } else {
    const days = String(options.days ?? 3650);
    if (signer === null) {
      await openssl(
        ['x509', '-req', '-in', 'leaf.csr', '-signkey', 'leaf.p8', '-days', days, '-set_serial', nextSerial(),
          '-extfile', 'ext.cnf', '-extensions', 'ext', '-sha256', '-out', 'leaf.crt'],
        dir,
      );
    } else {
      await openssl(
        ['x509', '-req', '-in', 'leaf.csr', '-CA', 'issuer.crt', '-CAkey', 'issuer.key', '-days', days,
          '-set_serial', nextSerial(), '-extfile', 'ext.cnf', '-extensions', 'ext', '-sha256', '-out', 'leaf.crt'],
        dir,
      );
    }
  }
  const cert = await readFile(join(dir, 'leaf.crt'), 'utf8');
  const key = await readFile(join(dir, 'leaf.p8'), 'utf8');
  const pemOnly = cert.slice(cert.indexOf('-----BEGIN CERTIFICATE-----'));
  const chain = signer && signer.chain !== signer.cert ? pemOnly + signer.chain : signer ? pemOnly + signer.cert : pemOnly;
  return { cert: pemOnly, key, chain: signer === null ? pemOnly : chain };
}

/** A self-signed root CA (or, with `issuer`, an intermediate CA signed by it). */
export function createCa(
  commonName: string,
  options: CertificateOptions & { issuer?: CertificateAndKey } = {},
): Promise<CertificateAndKey> {
  return inTempDir(async (dir) => {
    const ca = await sign(
      dir,
      `/CN=${commonName}`,
      options.issuer,
      'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash',
      options,
    );
    // An intermediate's chain is itself only (roots are never sent); a leaf appends it.
    return { ...ca, chain: ca.cert };
  });
}

/** A TLS server certificate for loopback: SAN DNS `localhost` and IP `127.0.0.1` unless told otherwise. */
export function createServerCertificate(
  ca: CertificateAndKey,
  commonName: string,
  options: ServerCertificateOptions = {},
): Promise<CertificateAndKey> {
  const dns = options.dnsNames ?? ['localhost'];
  const ips = options.ipAddresses ?? ['127.0.0.1'];
  const san = [...dns.map((d) => `DNS:${d}`), ...ips.map((i) => `IP:${i}`)].join(',');
  return inTempDir((dir) =>
    sign(
      dir,
      `/CN=${commonName}`,
      ca,
      `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=${san}`,
      options,
    ),
  );
}

/** A device (TLS client) certificate whose subject CN is `deviceId`, signed by `ca`. */
export function createDeviceCertificate(
  ca: CertificateAndKey,
  deviceId: string,
  options: CertificateOptions = {},
): Promise<CertificateAndKey> {
  return inTempDir((dir) =>
    sign(
      dir,
      `/CN=${deviceId}`,
      ca,
      'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth',
      options,
    ),
  );
}

/**
 * Proof of possession for a CA uploaded to IoT Hub or DPS: a certificate whose CN is the verification code the
 * portal shows, signed by that CA's key.
 */
export function createVerificationCertificate(ca: CertificateAndKey, code: string): Promise<CertificateAndKey> {
  return createDeviceCertificate(ca, code);
}
