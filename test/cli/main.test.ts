/**
 * The program as a user meets it: the overview, --version, --help on every command and subcommand, `help
 * <command>`, and clear usage errors with exit code 2. A few cases run the real process
 * (`node --import tsx src/cli/main.ts`); the rest call `runCli` in-process for speed.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { COMMANDS, EXIT_USAGE, packageVersion } from '../../src/cli/main.js';
import { ROOT, run, runChild } from './helpers.js';

const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

describe('azure-iot-hub (process)', () => {
  it('--help lists every command and exits 0', async () => {
    const r = await runChild(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: azure-iot-hub <command> \[options\]/);
    for (const c of COMMANDS) expect(r.stdout).toMatch(new RegExp(`^  ${c.name} +${c.summary.slice(0, 20).replace(/[()]/g, '\\$&')}`, 'm'));
    expect(r.stderr).toBe('');
  });

  it('--version prints the package version', async () => {
    const r = await runChild(['--version']);
    expect(r).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
  });

  it('an unknown option is a clear error with exit code 2', async () => {
    const r = await runChild(['device', '--frobnicate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('error: unknown option --frobnicate\nRun "azure-iot-hub device --help" for the options.\n');
    expect(r.stdout).toBe('');
  });
});

describe('azure-iot-hub (in-process)', () => {
  it('packageVersion() reads package.json', () => {
    expect(packageVersion()).toBe(version);
  });

  it('without a command: usage on stderr, exit 2', async () => {
    const r = await run([]);
    expect(r.code).toBe(EXIT_USAGE);
    expect(r.stderr).toMatch(/^error: a command is required\n\nUsage: azure-iot-hub <command>/);
  });

  it('an unknown command or top-level option: exit 2', async () => {
    const a = await run(['frobnicate']);
    expect(a.code).toBe(2);
    expect(a.stderr).toBe('error: unknown command "frobnicate"\nRun "azure-iot-hub --help" for the commands.\n');
    const b = await run(['--verbose']);
    expect(b.code).toBe(2);
    expect(b.stderr).toContain('error: unknown option --verbose');
  });

  it.each([
    [['emulator', '--help'], 'Usage: azure-iot-hub emulator [options]'],
    [['device', '--help'], 'Usage: azure-iot-hub device [options]'],
    [['device', '-h'], 'Usage: azure-iot-hub device [options]'],
    [['certs', '--help'], 'Usage: azure-iot-hub certs <subcommand> [options]'],
    [['certs', 'ca', '--help'], 'Usage: azure-iot-hub certs ca --out DIR [options]'],
    [['certs', 'device', '--help'], 'Usage: azure-iot-hub certs device --id ID --ca-dir DIR [options]'],
    [['certs', 'verify', '--help'], 'Usage: azure-iot-hub certs verify --code CODE --ca-dir DIR [options]'],
    [['certs', 'all', '--help'], 'Usage: azure-iot-hub certs all --id ID --out DIR [options]'],
    [['help', 'device'], 'Usage: azure-iot-hub device [options]'],
    [['help', 'certs'], 'Usage: azure-iot-hub certs <subcommand> [options]'],
    [['help'], 'Usage: azure-iot-hub <command> [options]'],
    [['-h'], 'Usage: azure-iot-hub <command> [options]'],
  ])('%j prints its help and exits 0', async (argv, first) => {
    const r = await run(argv);
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')[0]).toBe(first);
    expect(r.stderr).toBe('');
  });

  it('the emulator help names this program, not the emulator script', async () => {
    const r = await run(['emulator', '--help']);
    expect(r.stdout).not.toContain('azure-iot-hub-emulator');
    expect(r.stdout).toContain('--dps-port N');
    expect(r.stdout).toContain('azure-iot-hub device --emulator DIR');
  });

  it('emulator usage errors exit 2 with the program name', async () => {
    const r = await run(['emulator', '--port', 'x']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: --port: x is not an integer/);
    expect(r.stderr).toContain('Usage: azure-iot-hub emulator');
  });

  it.each([
    [['certs'], 'error: a subcommand is required: ca, device, verify or all', 'certs'],
    [['certs', 'sign'], 'error: unknown subcommand "sign"', 'certs'],
    [['certs', '--out', 'x'], 'error: unknown option --out (a subcommand comes first)', 'certs'],
    [['certs', 'ca'], 'error: --out is required', 'certs ca'],
    [['certs', 'ca', '--out', 'x', '--cn', 'a/b'], 'error: --cn must be', 'certs ca'],
    [['certs', 'device', '--ca-dir', 'x'], 'error: --id is required', 'certs device'],
    [['certs', 'device', '--id', 'a b', '--ca-dir', 'x'], 'error: --id: "a b" is not a device id', 'certs device'],
    [['certs', 'all', '--id', 'x'.repeat(65), '--out', 'x'], 'a certificate CN holds at most 64', 'certs all'],
    [['certs', 'all', '--id', 'a', '--id', 'a', '--out', 'x'], 'the same device id was given twice', 'certs all'],
    [['certs', 'verify', '--code', 'a/b', '--ca-dir', 'x'], 'error: --code: "a/b" is not a verification code', 'certs verify'],
    [['certs', 'verify', '--code', 'AB', '--ca-dir', 'x', '--signer', 'leaf'], 'neither root nor intermediate', 'certs verify'],
    [['certs', 'ca', '--out', 'x', '--days', '0'], '--days: "0" is not an integer from 1', 'certs ca'],
    [['device'], 'error: --device-id is required (or --emulator DIR)', 'device'],
    [['device', '--device-id', 'd'], 'error: --hub HOST or --dps-id-scope SCOPE is required', 'device'],
    [['device', '--device-id', 'd', '--hub', 'h'], 'error: credentials are required', 'device'],
    [['device', '--device-id', 'd', '--hub', 'h', '--cert', 'c'], 'error: --cert and --key go together', 'device'],
    [['device', '--device-id', 'd', '--hub', 'h', '--cert', 'c', '--key', 'k', '--sas-key', 's'], 'choose X.509', 'device'],
    [['device', '--device-id', 'd', '--hub', 'h', '--dps-id-scope', 's', '--sas-key', 'k'], 'choose --hub', 'device'],
    [['device', '--device-id', 'd', '--hub', 'h', '--sas-key', 'k', '--dps'], '--dps goes with --emulator', 'device'],
    [['device', '--device-id', 'd', '--hub', 'h', '--sas-key', 'k', '--registration-id', 'r'], '--registration-id needs DPS', 'device'],
    [['device', '--device-id', 'd', '--hub', 'h', '--sas-key', 'k', '--group-key'], '--group-key needs DPS', 'device'],
    [['device', '--device-id', 'd', '--hub', 'h', '--sas-key', 'k', '--property', '=v'], '--property "=v": key must not be empty', 'device'],
    [['device', '--device-id', 'd', '--hub', 'h', '--sas-key', 'k', '--interval', '1s'], '--interval goes with --message', 'device'],
    [['device', '--device-id', 'd', '--hub', 'h', '--sas-key', 'k', '--timeout', '1s'], '--timeout goes with --message', 'device'],
    [['device', '--device-id', 'd', '--hub', 'h', '--sas-key', 'k', '--message', 'm', '--no-stdin'], '--no-stdin goes without', 'device'],
    [['device', '--device-id', 'd', '--hub', 'h', '--sas-key', 'k', '--message', 'm', '--interval', 'soon'], '--interval: "soon" is not a duration', 'device'],
    [['device', '--device-id', 'd', '--hub', 'h', '--sas-key', 'k', '--qos', '2'], '--qos: "2" is not an integer from 0 to 1', 'device'],
    [['device', '--device-id', 'd', '--hub', 'h', '--sas-key', 'not base64!'], 'sasKey', 'device'],
    [['device', '--device-id', 'a b', '--hub', 'h', '--sas-key', 'AAAA'], 'deviceId', 'device'],
    [['device', 'stray'], 'error: unexpected argument "stray"', 'device'],
  ])('%j is a usage error (exit 2)', async (argv, message, command) => {
    const r = await run(argv);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(message);
    expect(r.stderr).toContain(`Run "azure-iot-hub ${command} --help" for the options.`);
    expect(r.stdout).toBe('');
  });
});
