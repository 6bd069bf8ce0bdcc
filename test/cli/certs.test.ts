/**
 * `azure-iot-hub certs`: the files it writes form the chain a hub verifies for "X.509 CA signed" (checked with
 * `openssl verify`), the device CN is the device id, keys are private, existing files are never replaced silently,
 * and a missing `openssl` is a clear error.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, runChild } from './helpers.js';

const exec = promisify(execFile);
let tmp: string;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'cli-certs-test-'));
});

afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

async function subject(file: string): Promise<string> {
  const { stdout } = await exec('openssl', ['x509', '-in', file, '-noout', '-subject', '-nameopt', 'RFC2253']);
  return stdout.trim();
}

async function issuer(file: string): Promise<string> {
  const { stdout } = await exec('openssl', ['x509', '-in', file, '-noout', '-issuer', '-nameopt', 'RFC2253']);
  return stdout.trim();
}

/** `openssl verify -CAfile root -untrusted intermediate leaf`: resolves with its output, rejects when it fails. */
async function verify(root: string, intermediate: string | undefined, leaf: string): Promise<string> {
  const args = ['verify', '-CAfile', root, ...(intermediate === undefined ? [] : ['-untrusted', intermediate]), leaf];
  const { stdout } = await exec('openssl', args);
  return stdout.trim();
}

function countCerts(pem: string): number {
  return pem.split('-----BEGIN CERTIFICATE-----').length - 1;
}

describe('certs all', () => {
  it('writes a root, an intermediate and a device certificate that openssl verifies, CN = device id', async () => {
    const out = join(tmp, 'all');
    const r = await run(['certs', 'all', '--id', 'dev-1', '--id', 'dev$2', '--out', out, '--code', 'C0DE42', '--days', '30']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const f = (name: string): string => join(out, name);
    for (const id of ['dev-1', 'dev$2']) {
      expect(await verify(f('root-ca.pem'), f('intermediate-ca.pem'), f(`${id}.cert.pem`))).toBe(`${f(`${id}.cert.pem`)}: OK`);
      expect(await subject(f(`${id}.cert.pem`))).toBe(`subject=CN=${id}`);
      // The device file carries the intermediate too: the chain the device presents in the TLS handshake.
      expect(countCerts(await readFile(f(`${id}.cert.pem`), 'utf8'))).toBe(2);
      expect((await stat(f(`${id}.key.pem`))).mode & 0o777).toBe(0o600);
    }
    // Without the intermediate the device certificate does not verify: it really is signed by the intermediate.
    await expect(verify(f('root-ca.pem'), undefined, f('dev-1.cert.pem'))).rejects.toThrow();
    expect(await subject(f('root-ca.pem'))).toBe('subject=CN=Azure IoT Hub Test Root CA');
    expect(await issuer(f('intermediate-ca.pem'))).toBe('issuer=CN=Azure IoT Hub Test Root CA');
    expect(await subject(f('intermediate-ca.pem'))).toBe('subject=CN=Azure IoT Hub Test Root CA Intermediate');
    // Proof of possession: CN = the code, signed by the root CA's key.
    expect(await subject(f('verification-C0DE42.pem'))).toBe('subject=CN=C0DE42');
    expect(await verify(f('root-ca.pem'), undefined, f('verification-C0DE42.pem'))).toContain(': OK');
    for (const key of ['root-ca.key.pem', 'intermediate-ca.key.pem']) expect((await stat(f(key))).mode & 0o777).toBe(0o600);

    expect(r.stdout).toContain(`${f('root-ca.pem')}  `);
    expect(r.stdout).toContain(f('verification-C0DE42.pem'));
    expect(r.stdout).toContain('Next steps in the Azure portal:');
    expect(r.stdout).toContain(`upload ${f('verification-C0DE42.pem')}`);
    expect(r.stdout).toContain('Authentication type "X.509 CA Signed"');
    expect(r.stdout).toContain(`--device-id dev-1`);
    expect(r.stdout).toContain(`--cert ${f('dev-1.cert.pem')} --key ${f('dev-1.key.pem')}`);
    // Keys are never printed.
    expect(r.stdout).not.toContain('PRIVATE KEY');
  });

  it('refuses to overwrite existing files (exit 1, nothing written), and --force replaces them', async () => {
    const out = join(tmp, 'overwrite');
    expect((await run(['certs', 'all', '--id', 'd', '--out', out])).code).toBe(0);
    const before = await readFile(join(out, 'root-ca.pem'), 'utf8');
    const again = await run(['certs', 'all', '--id', 'd', '--out', out]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^error: refusing to overwrite .*root-ca\.pem.*\(use --force/);
    expect(await readFile(join(out, 'root-ca.pem'), 'utf8')).toBe(before);
    const forced = await run(['certs', 'all', '--id', 'd', '--out', out, '--force']);
    expect(forced.code).toBe(0);
    expect(await readFile(join(out, 'root-ca.pem'), 'utf8')).not.toBe(before);
  });
});

describe('certs ca, device, verify', () => {
  it('build the same chain step by step, into another folder for the devices', async () => {
    const caDir = join(tmp, 'steps');
    const devDir = join(tmp, 'steps-devices');
    const ca = await run(['certs', 'ca', '--out', caDir, '--cn', 'My Test CA']);
    expect(ca.code).toBe(0);
    expect(ca.stdout).toContain(`azure-iot-hub certs verify --code CODE --ca-dir ${caDir}`);
    expect(ca.stdout).toContain(`azure-iot-hub certs device --id ID --ca-dir ${caDir}`);
    expect(await subject(join(caDir, 'root-ca.pem'))).toBe('subject=CN=My Test CA');

    const dev = await run(['certs', 'device', '--id', 'sensor-7', '--ca-dir', caDir, '--out', devDir]);
    expect(dev.code).toBe(0);
    const cert = join(devDir, 'sensor-7.cert.pem');
    expect(await verify(join(caDir, 'root-ca.pem'), join(caDir, 'intermediate-ca.pem'), cert)).toBe(`${cert}: OK`);
    expect(await subject(cert)).toBe('subject=CN=sensor-7');
    expect(dev.stdout).toContain('Device ID sensor-7');

    const root = await run(['certs', 'verify', '--code', 'ABCDEF0123', '--ca-dir', caDir]);
    expect(root.code).toBe(0);
    const rootPop = join(caDir, 'verification-ABCDEF0123.pem');
    expect(await issuer(rootPop)).toBe('issuer=CN=My Test CA');
    expect(await verify(join(caDir, 'root-ca.pem'), undefined, rootPop)).toContain(': OK');

    const inter = await run(['certs', 'verify', '--code', 'FEDCBA', '--ca-dir', caDir, '--signer', 'intermediate', '--out', devDir]);
    expect(inter.code).toBe(0);
    const interPop = join(devDir, 'verification-FEDCBA.pem');
    expect(await issuer(interPop)).toBe('issuer=CN=My Test CA Intermediate');
    expect(inter.stdout).toContain('verification pane of the intermediate CA certificate');
  });

  it('device and verify need the CA folder: a clear error naming the file and the fix', async () => {
    const missing = join(tmp, 'no-such-ca');
    const r = await run(['certs', 'device', '--id', 'd', '--ca-dir', missing]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `error: ${join(missing, 'intermediate-ca.pem')} not found: create the CAs first with "azure-iot-hub certs ca --out ${missing}"\n`,
    );
    const v = await run(['certs', 'verify', '--code', 'AB', '--ca-dir', missing]);
    expect(v.code).toBe(1);
    expect(v.stderr).toContain(`${join(missing, 'root-ca.pem')} not found`);
  });
});

describe('certs without openssl', () => {
  it('fails with a clear message (exit 1) when the openssl command is missing', async () => {
    const emptyBin = await mkdtemp(join(tmp, 'empty-path-'));
    const r = await runChild(['certs', 'all', '--id', 'd', '--out', join(tmp, 'no-openssl')], { PATH: emptyBin });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: the `openssl` command was not found; install OpenSSL/);
  });
});
