/**
 * `azure-iot-hub certs`: the certificates for X.509 "CA signed" authentication, as in the nRF Connect SDK guide's
 * "Creating Azure IoT Hub certificates" (Microsoft's `certGen.sh` steps): a root CA, an intermediate CA signed by it,
 * device certificates (CN = device id) signed by the intermediate, and the proof-of-possession certificate for the
 * verification code Azure shows after the CA is uploaded. EC P-256 keys, PEM files, minted with the `openssl` command.
 *
 * For development and testing; production devices get certificates from a real PKI.
 * @see https://learn.microsoft.com/azure/iot-hub/tutorial-x509-test-certs
 * @see https://learn.microsoft.com/azure/iot-hub/iot-hub-x509ca-overview
 */
import { access, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { isValidDeviceId } from '../azure/validate.js';
import {
  createCa,
  createDeviceCertificate,
  createVerificationCertificate,
  type CertificateAndKey,
} from '../emulator/certs.js';
import { parseOptions, UsageError, type OptionSpecs, type ParsedArgs } from './args.js';
import { EXIT_OK, type CliCommand } from './command.js';
import type { ResolvedIo } from './io.js';
import { shellQuote } from './shell-quote.js';

/** File names inside a CA folder. */
export const CERT_FILES = Object.freeze({
  rootCert: 'root-ca.pem',
  rootKey: 'root-ca.key.pem',
  intermediateCert: 'intermediate-ca.pem',
  intermediateKey: 'intermediate-ca.key.pem',
  /** Device certificate followed by the intermediate: the chain a device presents in the TLS handshake. */
  deviceCert: (id: string): string => `${id}.cert.pem`,
  deviceKey: (id: string): string => `${id}.key.pem`,
  verification: (code: string): string => `verification-${code}.pem`,
});

/** Default root CA common name; the intermediate's is this plus ` Intermediate`. */
export const DEFAULT_ROOT_CN = 'Azure IoT Hub Test Root CA';
/** Default validity of every certificate, in days. */
export const DEFAULT_DAYS = 365;

/** Longest common name (X.520 ub-common-name). */
const MAX_CN_LENGTH = 64;

/** Verification codes are what the portal shows (hex today); they become a CN, at most 64 characters. */
const CODE_RE = /^[A-Za-z0-9._-]{1,64}$/;

const OVERVIEW = `Usage: azure-iot-hub certs <subcommand> [options]

Create certificates for X.509 "CA signed" authentication with Azure IoT Hub and DPS: a root CA, an
intermediate CA, device certificates whose common name (CN) is the device id, and the proof-of-possession
certificate for a verification code. EC P-256 keys and PEM files, made with the openssl command.
For development and testing only.

Subcommands:
  ca       create a root CA and an intermediate CA in a folder
  device   create a device certificate (CN = device id) signed by the intermediate CA
  verify   create the verification certificate for the code the Azure portal shows
  all      ca and device (and verify, with --code) in one go

Run "azure-iot-hub certs <subcommand> --help" for its options.

Example:
  azure-iot-hub certs all --id my-device --out ./certs
`;

const COMMON_OPTIONS = `  --days N          validity in days (default ${DEFAULT_DAYS})
  --force           overwrite existing files (without it, nothing is written when a file exists)
  --help            print this help`;

const CA_USAGE = `Usage: azure-iot-hub certs ca --out DIR [options]

Create a root CA and an intermediate CA signed by it.

Options:
  --out DIR         folder for the files (created when missing)
  --cn NAME         root CA common name (default "${DEFAULT_ROOT_CN}");
                    the intermediate is "NAME Intermediate"
${COMMON_OPTIONS}

Writes ${CERT_FILES.rootCert}, ${CERT_FILES.rootKey}, ${CERT_FILES.intermediateCert}, ${CERT_FILES.intermediateKey}.

Example:
  azure-iot-hub certs ca --out ./certs
`;

const DEVICE_USAGE = `Usage: azure-iot-hub certs device --id ID --ca-dir DIR [options]

Create a device certificate whose CN is the device id, signed by the intermediate CA of DIR.

Options:
  --id ID           device id (the certificate's CN); repeat for several devices
  --ca-dir DIR      folder made by "certs ca" (${CERT_FILES.intermediateCert} and ${CERT_FILES.intermediateKey})
  --out DIR         folder for the device files (default: --ca-dir)
${COMMON_OPTIONS}

Writes ID.cert.pem (the device certificate followed by the intermediate: the chain the device presents)
and ID.key.pem.

Example:
  azure-iot-hub certs device --id my-device --ca-dir ./certs
`;

const VERIFY_USAGE = `Usage: azure-iot-hub certs verify --code CODE --ca-dir DIR [options]

Create the proof-of-possession certificate for an uploaded CA: its CN is the verification code the Azure
portal shows, and it is signed by that CA's key.

Options:
  --code CODE       the verification code from the portal
  --ca-dir DIR      folder made by "certs ca"
  --signer CA       the CA you uploaded: root (default) or intermediate
  --out DIR         folder for the file (default: --ca-dir)
${COMMON_OPTIONS}

Writes verification-CODE.pem (upload it in the certificate's verification pane).

Example:
  azure-iot-hub certs verify --code 1A2B3C4D5E6F --ca-dir ./certs
`;

const ALL_USAGE = `Usage: azure-iot-hub certs all --id ID --out DIR [options]

Create the root and intermediate CAs and a device certificate in one folder (and the verification
certificate, with --code).

Options:
  --id ID           device id (the certificate's CN); repeat for several devices
  --out DIR         folder for the files (created when missing)
  --cn NAME         root CA common name (default "${DEFAULT_ROOT_CN}")
  --code CODE       also create the verification certificate for this code (signed by the root CA)
${COMMON_OPTIONS}

Example:
  azure-iot-hub certs all --id my-device --out ./certs
`;

const COMMON_SPECS: OptionSpecs = {
  days: { type: 'integer', min: 1, max: 36_500 },
  force: { type: 'boolean' },
};
const CA_SPECS: OptionSpecs = { ...COMMON_SPECS, out: { type: 'string' }, cn: { type: 'string' } };
const DEVICE_SPECS: OptionSpecs = {
  ...COMMON_SPECS,
  id: { type: 'string', multiple: true },
  'ca-dir': { type: 'string' },
  out: { type: 'string' },
};
const VERIFY_SPECS: OptionSpecs = {
  ...COMMON_SPECS,
  code: { type: 'string' },
  'ca-dir': { type: 'string' },
  signer: { type: 'string' },
  out: { type: 'string' },
};
const ALL_SPECS: OptionSpecs = {
  ...COMMON_SPECS,
  id: { type: 'string', multiple: true },
  out: { type: 'string' },
  cn: { type: 'string' },
  code: { type: 'string' },
};

/** One file to write, and what it is (printed after writing). */
interface OutputFile {
  path: string;
  contents: string;
  what: string;
  secret: boolean;
}

class CertsCommand implements CliCommand {
  readonly name = 'certs';
  readonly summary = 'create a root CA, an intermediate, device and verification certificates (openssl)';

  async run(argv: readonly string[], io: ResolvedIo): Promise<number> {
    const [sub, ...rest] = argv;
    if (sub === undefined) throw new UsageError('a subcommand is required: ca, device, verify or all');
    if (sub === '--help' || sub === '-h') {
      io.stdout.write(OVERVIEW);
      return EXIT_OK;
    }
    try {
      switch (sub) {
        case 'ca':
          return await this.#ca(rest, io);
        case 'device':
          return await this.#device(rest, io);
        case 'verify':
          return await this.#verify(rest, io);
        case 'all':
          return await this.#all(rest, io);
        default:
          throw new UsageError(
            sub.startsWith('-') ? `unknown option ${sub} (a subcommand comes first)` : `unknown subcommand ${JSON.stringify(sub)}`,
            'certs',
          );
      }
    } catch (err) {
      // Point the hint at the subcommand's help, where the option is explained.
      if (err instanceof UsageError && err.command === undefined) throw new UsageError(err.message, `certs ${sub}`);
      throw err;
    }
  }

  async #ca(argv: readonly string[], io: ResolvedIo): Promise<number> {
    const args = parse(argv, CA_SPECS);
    if (args === undefined) return help(io, CA_USAGE);
    const out = resolve(args.required('out'));
    const cn = rootCn(args.string('cn'), 'certs ca');
    const days = args.integer('days') ?? DEFAULT_DAYS;
    await refuseExisting(caPaths(out), args.flag('force'));
    const files = caFiles(out, await mintCas(cn, days));
    await writeAll(files, args.flag('force'));
    printWritten(io, files);
    printNextSteps(io, { dir: out, step: 'ca' });
    return EXIT_OK;
  }

  async #device(argv: readonly string[], io: ResolvedIo): Promise<number> {
    const args = parse(argv, DEVICE_SPECS);
    if (args === undefined) return help(io, DEVICE_USAGE);
    const ids = deviceIds(args.strings('id'), 'certs device');
    const caDir = resolve(args.required('ca-dir'));
    const out = resolve(args.string('out') ?? caDir);
    const intermediate = await loadCa(caDir, 'intermediate');
    const days = args.integer('days') ?? DEFAULT_DAYS;
    await refuseExisting(ids.flatMap((id) => devicePaths(out, id)), args.flag('force'));
    const files: OutputFile[] = [];
    for (const id of ids) files.push(...deviceFiles(out, id, await createDeviceCertificate(intermediate, id, { days })));
    await writeAll(files, args.flag('force'));
    printWritten(io, files);
    printNextSteps(io, { dir: out, step: 'device', ids });
    return EXIT_OK;
  }

  async #verify(argv: readonly string[], io: ResolvedIo): Promise<number> {
    const args = parse(argv, VERIFY_SPECS);
    if (args === undefined) return help(io, VERIFY_USAGE);
    const code = verificationCode(args.required('code'), 'certs verify');
    const caDir = resolve(args.required('ca-dir'));
    const out = resolve(args.string('out') ?? caDir);
    const signer = args.string('signer') ?? 'root';
    if (signer !== 'root' && signer !== 'intermediate') {
      throw new UsageError(`--signer: ${JSON.stringify(signer)} is neither root nor intermediate`, 'certs verify');
    }
    const ca = await loadCa(caDir, signer);
    await refuseExisting([join(out, CERT_FILES.verification(code))], args.flag('force'));
    const files = [verificationFile(out, code, await createVerificationCertificate(ca, code), signer)];
    await writeAll(files, args.flag('force'));
    printWritten(io, files);
    printNextSteps(io, { dir: out, step: 'verify', signer, file: files[0]!.path });
    return EXIT_OK;
  }

  async #all(argv: readonly string[], io: ResolvedIo): Promise<number> {
    const args = parse(argv, ALL_SPECS);
    if (args === undefined) return help(io, ALL_USAGE);
    const ids = deviceIds(args.strings('id'), 'certs all');
    const out = resolve(args.required('out'));
    const cn = rootCn(args.string('cn'), 'certs all');
    const codeText = args.string('code');
    const code = codeText === undefined ? undefined : verificationCode(codeText, 'certs all');
    const days = args.integer('days') ?? DEFAULT_DAYS;
    const paths = [...caPaths(out), ...ids.flatMap((id) => devicePaths(out, id))];
    if (code !== undefined) paths.push(join(out, CERT_FILES.verification(code)));
    await refuseExisting(paths, args.flag('force'));
    const cas = await mintCas(cn, days);
    const files = caFiles(out, cas);
    for (const id of ids) files.push(...deviceFiles(out, id, await createDeviceCertificate(cas.intermediate, id, { days })));
    if (code !== undefined) files.push(verificationFile(out, code, await createVerificationCertificate(cas.root, code), 'root'));
    await writeAll(files, args.flag('force'));
    printWritten(io, files);
    printNextSteps(io, code === undefined ? { dir: out, step: 'all', ids } : { dir: out, step: 'all', ids, code });
    return EXIT_OK;
  }
}

/** The `certs` command. */
export const certsCommand: CliCommand = new CertsCommand();

/** Parse, or undefined for `--help`. */
function parse(argv: readonly string[], specs: OptionSpecs): ParsedArgs | undefined {
  const args = parseOptions(argv, specs);
  return args.flag('help') ? undefined : args;
}

function help(io: ResolvedIo, text: string): number {
  io.stdout.write(text);
  return EXIT_OK;
}

function deviceIds(ids: string[], command: string): string[] {
  if (ids.length === 0) throw new UsageError('--id is required', command);
  for (const id of ids) {
    if (!isValidDeviceId(id)) {
      throw new UsageError(
        `--id: ${JSON.stringify(id)} is not a device id (1 to 128 ASCII letters, digits and - . % _ * ? ! ( ) , : = @ $ ')`,
        command,
      );
    }
  }
  const long = ids.find((id) => id.length > MAX_CN_LENGTH);
  if (long !== undefined) {
    throw new UsageError(`--id: ${long} is ${long.length} characters; a certificate CN holds at most ${MAX_CN_LENGTH}`, command);
  }
  if (new Set(ids).size !== ids.length) throw new UsageError('--id: the same device id was given twice', command);
  return ids;
}

function verificationCode(code: string, command: string): string {
  if (!CODE_RE.test(code)) {
    throw new UsageError(`--code: ${JSON.stringify(code)} is not a verification code (1 to 64 letters, digits, . _ -)`, command);
  }
  return code;
}

/** The root CA's CN from `--cn`. @throws UsageError for characters openssl's `-subj` would misread */
function rootCn(cn: string | undefined, command: string): string {
  if (cn === undefined) return DEFAULT_ROOT_CN;
  // The intermediate's CN adds " Intermediate" (13); a CN holds at most 64 characters.
  // openssl's -subj gives `/`, `+`, `\` and `=` meanings of their own: keep to plain characters.
  if (!/^[A-Za-z0-9 ._()-]{1,51}$/.test(cn)) {
    throw new UsageError('--cn must be 1 to 51 ASCII letters, digits, spaces and . _ ( ) -', command);
  }
  return cn;
}

async function mintCas(cn: string, days: number): Promise<{ root: CertificateAndKey; intermediate: CertificateAndKey }> {
  const root = await createCa(cn, { days });
  const intermediate = await createCa(`${cn} Intermediate`, { days, issuer: root });
  return { root, intermediate };
}

async function loadCa(dir: string, which: 'root' | 'intermediate'): Promise<CertificateAndKey> {
  const certPath = join(dir, which === 'root' ? CERT_FILES.rootCert : CERT_FILES.intermediateCert);
  const keyPath = join(dir, which === 'root' ? CERT_FILES.rootKey : CERT_FILES.intermediateKey);
  let cert: string;
  let key: string;
  try {
    cert = await readFile(certPath, 'utf8');
    key = await readFile(keyPath, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT') {
      throw new Error(`${e.path ?? certPath} not found: create the CAs first with "azure-iot-hub certs ca --out ${shellQuote(dir)}"`);
    }
    throw new Error(`cannot read the ${which} CA in ${dir}: ${e.message}`);
  }
  if (!cert.includes('-----BEGIN CERTIFICATE-----')) throw new Error(`${certPath} holds no PEM certificate`);
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(key)) throw new Error(`${keyPath} holds no PEM private key`);
  return { cert, key, chain: cert };
}

function caPaths(dir: string): string[] {
  return [CERT_FILES.rootCert, CERT_FILES.rootKey, CERT_FILES.intermediateCert, CERT_FILES.intermediateKey].map((f) => join(dir, f));
}

function devicePaths(dir: string, id: string): string[] {
  return [join(dir, CERT_FILES.deviceCert(id)), join(dir, CERT_FILES.deviceKey(id))];
}

function caFiles(dir: string, cas: { root: CertificateAndKey; intermediate: CertificateAndKey }): OutputFile[] {
  return [
    { path: join(dir, CERT_FILES.rootCert), contents: cas.root.cert, what: 'root CA certificate (upload this to Azure)', secret: false },
    { path: join(dir, CERT_FILES.rootKey), contents: cas.root.key, what: 'root CA private key (keep it secret)', secret: true },
    { path: join(dir, CERT_FILES.intermediateCert), contents: cas.intermediate.cert, what: 'intermediate CA certificate', secret: false },
    { path: join(dir, CERT_FILES.intermediateKey), contents: cas.intermediate.key, what: 'intermediate CA private key (keep it secret)', secret: true },
  ];
}

function deviceFiles(dir: string, id: string, cert: CertificateAndKey): OutputFile[] {
  return [
    { path: join(dir, CERT_FILES.deviceCert(id)), contents: cert.chain, what: `device ${id}: certificate + intermediate`, secret: false },
    { path: join(dir, CERT_FILES.deviceKey(id)), contents: cert.key, what: `device ${id}: private key`, secret: true },
  ];
}

function verificationFile(dir: string, code: string, cert: CertificateAndKey, signer: string): OutputFile {
  // Only the certificate: its key has no use once the certificate is signed.
  return { path: join(dir, CERT_FILES.verification(code)), contents: cert.cert, what: `verification certificate (signed by the ${signer} CA)`, secret: false };
}

/**
 * Refuse to replace files that exist already (unless `force`), before anything is minted or written.
 * @throws Error naming the files that exist
 */
async function refuseExisting(paths: readonly string[], force: boolean): Promise<void> {
  if (force) return;
  const existing: string[] = [];
  for (const path of paths) {
    try {
      await access(path);
      existing.push(path);
    } catch {
      // absent: fine
    }
  }
  if (existing.length > 0) {
    throw new Error(`refusing to overwrite ${existing.join(', ')} (use --force; replacing an uploaded CA breaks its devices)`);
  }
}

/** Write every file (keys with mode 0600), creating folders as needed; `wx` unless `force`, so nothing is replaced. */
async function writeAll(files: readonly OutputFile[], force: boolean): Promise<void> {
  for (const dir of new Set(files.map((f) => dirname(f.path)))) await mkdir(dir, { recursive: true });
  for (const f of files) {
    await writeFile(f.path, f.contents, { mode: f.secret ? 0o600 : 0o644, flag: force ? 'w' : 'wx' });
  }
}

function printWritten(io: ResolvedIo, files: readonly OutputFile[]): void {
  const width = Math.max(...files.map((f) => f.path.length));
  io.stdout.write(`Wrote:\n${files.map((f) => `  ${f.path.padEnd(width)}  ${f.what}\n`).join('')}`);
}

type NextSteps =
  | { dir: string; step: 'ca' }
  | { dir: string; step: 'device'; ids: string[] }
  | { dir: string; step: 'verify'; signer: string; file: string }
  | { dir: string; step: 'all'; ids: string[]; code?: string };

function printNextSteps(io: ResolvedIo, s: NextSteps): void {
  const dir = shellQuote(s.dir);
  const rootPath = shellQuote(join(s.dir, CERT_FILES.rootCert));
  const upload = [
    `Upload the root CA: IoT Hub > Security settings > Certificates > Add, file ${rootPath}.`,
    '   (Ticking "Set certificate status to verified on upload" skips the next step.)',
  ];
  const verify = (code: string | undefined): string[] =>
    code === undefined
      ? [
          'Prove possession: open the certificate, generate a verification code, then run',
          `     azure-iot-hub certs verify --code CODE --ca-dir ${dir}`,
          '   and upload the verification-CODE.pem it writes.',
        ]
      : [`Prove possession: upload ${shellQuote(join(s.dir, CERT_FILES.verification(code)))} in the certificate's verification pane.`];
  const device = (ids: readonly string[] | undefined): string[][] => {
    const id = ids?.[0];
    const create = [
      `Create the device: IoT Hub > Devices > Add device, Device ID ${ids === undefined ? 'ID' : ids.join(', ')},`,
      '   Authentication type "X.509 CA Signed".',
    ];
    const connect = [
      `Connect it:  azure-iot-hub device --hub HUB.azure-devices.net --device-id ${id === undefined ? 'ID' : shellQuote(id)} \\`,
      id === undefined
        ? `     --cert ${dir}/ID.cert.pem --key ${dir}/ID.key.pem`
        : `     --cert ${shellQuote(join(s.dir, CERT_FILES.deviceCert(id)))} --key ${shellQuote(join(s.dir, CERT_FILES.deviceKey(id)))}`,
    ];
    const make = [`Make a device certificate:  azure-iot-hub certs device --id ID --ca-dir ${dir}`];
    return id === undefined ? [make, create, connect] : [create, connect];
  };
  let steps: string[][];
  switch (s.step) {
    case 'ca':
      steps = [upload, verify(undefined), ...device(undefined)];
      break;
    case 'device':
      steps = device(s.ids);
      break;
    case 'verify':
      steps = [
        [
          `Upload ${shellQuote(s.file)} in the verification pane of the ${s.signer} CA certificate`,
          '   (IoT Hub or DPS > Certificates); its status becomes Verified.',
        ],
      ];
      break;
    case 'all':
      steps = [upload, verify(s.code), ...device(s.ids)];
      break;
  }
  const numbered = steps.map((lines, i) => `${i + 1}. ${lines.join('\n')}`);
  io.stdout.write(`\nNext steps in the Azure portal:\n${numbered.map((t) => indent(t)).join('\n')}\n`);
  if (s.step === 'ca' || s.step === 'all') {
    io.stdout.write(
      '\nFor DPS: upload the same root CA under the DPS instance > Certificates, create an enrollment group\n' +
        'with it, and connect with --dps-id-scope SCOPE instead of --hub.\n',
    );
  }
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n');
}
