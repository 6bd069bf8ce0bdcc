#!/usr/bin/env node
/**
 * The emulator as a terminal command: starts the hub, DPS and firmware server, writes the CA and ready-made device
 * credentials to a folder, prints how to connect, and runs until SIGINT/SIGTERM.
 *
 * Run it with `npx tsx src/emulator/cli.ts --help` (or through the package's bin).
 */
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEVICE_ID_RE, startEmulator, type Emulator, type EmulatorOptions } from './emulator.js';

/** Where the command writes, and how it is stopped (tests pass their own). */
export interface CliIo {
  /** Default `process.stdout`. */
  stdout?: { write(text: string): unknown };
  /** Default `process.stderr`. */
  stderr?: { write(text: string): unknown };
  /** Stop the emulator when aborted. Without it, SIGINT and SIGTERM stop it. */
  signal?: AbortSignal;
  /** Called once the emulator runs and the credentials are written. */
  onReady?: (emulator: Emulator, outDir: string) => void;
}

const USAGE = `Usage: azure-iot-hub-emulator [options]

Runs a local Azure IoT Hub (MQTT over TLS), Device Provisioning Service and HTTPS firmware server on 127.0.0.1,
writes a test CA and device credentials, and prints how to connect. Stop it with Ctrl+C.

Options:
  --port N            hub port (default: a free port)
  --dps-port N        DPS port (default: a free port)
  --firmware-port N   firmware server port (default: a free port)
  --hub-host NAME     hub host name; repeat for several hubs, the first is the default
                      (default: emulator.azure-devices.net)
  --id-scope SCOPE    DPS id scope (default: 0ne00000001)
  --retry-after N     DPS retry-after seconds (default: 1)
  --out DIR           folder for ca.pem and the device credentials (default: a new temporary folder)
  --device ID         pre-register device ID (X.509, CA-signed) and ID-sas (symmetric key), each with a DPS
                      enrollment; repeat for several (default: demo-device)
  --help              print this help
`;

interface CliOptions {
  port?: number;
  dpsPort?: number;
  firmwarePort?: number;
  hubs: string[];
  idScope?: string;
  retryAfter: number;
  out?: string;
  devices: string[];
  help: boolean;
}

class UsageError extends Error {}

function parseArgs(argv: readonly string[]): CliOptions {
  const o: CliOptions = { hubs: [], devices: [], retryAfter: 1, help: false };
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i]!;
    let value: string | undefined;
    const eq = arg.indexOf('=');
    if (arg.startsWith('--') && eq !== -1) {
      value = arg.slice(eq + 1);
      arg = arg.slice(0, eq);
    }
    const next = (): string => {
      if (value !== undefined) return value;
      const v = argv[++i];
      if (v === undefined || v.startsWith('--')) throw new UsageError(`${arg} needs a value`);
      return v;
    };
    const int = (min: number, max: number): number => {
      const text = next();
      const n = Number(text);
      if (!/^\d+$/.test(text) || n < min || n > max) throw new UsageError(`${arg}: ${text} is not an integer ${min}..${max}`);
      return n;
    };
    switch (arg) {
      case '--help':
      case '-h':
        o.help = true;
        break;
      case '--port':
        o.port = int(0, 65535);
        break;
      case '--dps-port':
        o.dpsPort = int(0, 65535);
        break;
      case '--firmware-port':
        o.firmwarePort = int(0, 65535);
        break;
      case '--hub-host':
        o.hubs.push(next());
        break;
      case '--id-scope':
        o.idScope = next();
        break;
      case '--retry-after':
        o.retryAfter = int(0, 3600);
        break;
      case '--out':
        o.out = next();
        break;
      case '--device': {
        const id = next();
        // `-sas` is appended for the symmetric-key twin of the device.
        if (!DEVICE_ID_RE.test(`${id}-sas`)) throw new UsageError(`--device: ${id} is not a valid device id`);
        o.devices.push(id);
        break;
      }
      default:
        throw new UsageError(`unknown option ${arg}`);
    }
  }
  return o;
}

/**
 * Run the emulator command with `argv` (without the node and script paths). Resolves with the exit code: 0 after a
 * clean stop or `--help`, 2 for bad options, 1 when the emulator cannot start.
 */
export async function runEmulatorCli(argv: readonly string[], io: CliIo = {}): Promise<number> {
  const out = io.stdout ?? process.stdout;
  const err = io.stderr ?? process.stderr;
  let o: CliOptions;
  try {
    o = parseArgs(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    err.write(`error: ${e.message}\n\n${USAGE}`);
    return 2;
  }
  if (o.help) {
    out.write(USAGE);
    return 0;
  }

  const options: EmulatorOptions = { dpsRetryAfterSeconds: o.retryAfter };
  if (o.hubs.length > 0) options.hubs = o.hubs;
  if (o.port !== undefined) options.port = o.port;
  if (o.dpsPort !== undefined) options.dpsPort = o.dpsPort;
  if (o.firmwarePort !== undefined) options.firmwarePort = o.firmwarePort;
  if (o.idScope !== undefined) options.idScope = o.idScope;

  let emulator: Emulator;
  let dir: string;
  try {
    dir = o.out !== undefined ? resolve(o.out) : await mkdtemp(join(tmpdir(), 'azure-iot-hub-emulator-'));
    await mkdir(dir, { recursive: true });
    emulator = await startEmulator(options);
  } catch (e) {
    err.write(`error: the emulator could not start: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }

  try {
    const lines = await describe(emulator, dir, o.devices.length > 0 ? o.devices : ['demo-device']);
    out.write(lines.join('\n') + '\n');
  } catch (e) {
    err.write(`error: ${e instanceof Error ? e.message : String(e)}\n`);
    await emulator.close();
    return 1;
  }

  emulator.on('connect', (e) => out.write(`[${e.service}] ${e.clientId} connected (${e.auth})\n`));
  emulator.on('disconnect', (e) => out.write(`[${e.service}] ${e.clientId} disconnected: ${e.reason}\n`));
  emulator.on('connectRefused', (e) => out.write(`[${e.service}] ${e.clientId} refused (${e.returnCode}): ${e.reason}\n`));
  emulator.on('telemetry', (m) => out.write(`[hub] telemetry from ${m.deviceId}: ${m.payload.length} bytes\n`));
  emulator.on('dpsRegistration', (r) => out.write(`[dps] ${r.registrationId}: ${r.status}` +
    `${r.assignedHub === undefined ? '' : ` -> ${r.assignedHub}`}\n`));

  await new Promise<void>((done) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      io.signal?.removeEventListener('abort', stop);
      done();
    };
    if (io.signal !== undefined) {
      if (io.signal.aborted) return stop();
      io.signal.addEventListener('abort', stop);
    } else {
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    }
    io.onReady?.(emulator, dir);
  });
  await emulator.close();
  out.write('emulator stopped\n');
  return 0;
}

async function describe(emu: Emulator, dir: string, deviceIds: string[]): Promise<string[]> {
  const caPath = join(dir, 'ca.pem');
  await writeFile(caPath, emu.ca.cert);
  const lines = [
    'Azure IoT Hub emulator is running. Stop it with Ctrl+C.',
    '',
    `IoT Hub   ${emu.hub.host} on ${emu.hub.address}:${emu.hub.port} (MQTT 3.1.1 over TLS)`,
    `          connect to ${emu.hub.address}:${emu.hub.port}, TLS server name and username host ${emu.hub.host}`,
  ];
  for (const h of emu.hub.hosts.slice(1)) lines.push(`          also hub ${h} (same port, told apart by SNI/username)`);
  lines.push(
    `DPS       ${emu.dps.host} on ${emu.dps.address}:${emu.dps.port}, id scope ${emu.dps.idScope}`,
    emu.firmware === undefined ? 'Firmware  (off)' : `Firmware  ${emu.firmware.origin}`,
    `CA        ${caPath} (trust it for the server certificate)`,
  );
  const credentials: Record<string, unknown> = {
    hub: emu.hub,
    dps: emu.dps,
    firmware: emu.firmware ?? null,
    caPath,
    devices: [] as unknown[],
  };
  for (const id of deviceIds) {
    const cert = await emu.createDeviceCredentials(id);
    const certPath = join(dir, `${id}.cert.pem`);
    const keyPath = join(dir, `${id}.key.pem`);
    await writeFile(certPath, cert.chain);
    await writeFile(keyPath, cert.key, { mode: 0o600 });
    const x509 = emu.registerDevice({ deviceId: id, auth: { type: 'x509-ca' } });
    emu.addEnrollment({ registrationId: id, attestation: { type: 'x509' } });
    const sasId = `${id}-sas`;
    const sas = emu.registerDevice({ deviceId: sasId, auth: { type: 'sas' } });
    emu.addEnrollment({ registrationId: sasId, attestation: { type: 'sas', primaryKey: sas.primaryKey! } });
    lines.push(
      '',
      `Device ${id} (X.509, CA-signed; DPS registration id ${id})`,
      `  certificate   ${certPath}`,
      `  private key   ${keyPath}`,
      `  SDK string    ${x509.connectionString.replace(/;GatewayHostName=.*$/, '')} (with HostName=${emu.hub.address}:${emu.hub.port} for Microsoft's SDK)`,
      `Device ${sasId} (symmetric key; DPS registration id ${sasId}, same key)`,
      `  primary key   ${sas.primaryKey!}`,
      `  SDK string    ${sas.connectionString}`,
    );
    (credentials['devices'] as unknown[]).push(
      { deviceId: id, auth: 'x509-ca', certPath, keyPath, connectionString: x509.connectionString },
      { deviceId: sasId, auth: 'sas', primaryKey: sas.primaryKey, connectionString: sas.connectionString },
    );
  }
  const credPath = join(dir, 'credentials.json');
  await writeFile(credPath, JSON.stringify(credentials, null, 2) + '\n', { mode: 0o600 });
  lines.push('', `All of the above as JSON: ${credPath}`);
  return lines;
}

function isMain(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    const self = realpathSync(fileURLToPath(import.meta.url));
    // Bundled into another program (dist/cli/main.js), import.meta.url is that program's: only this file runs itself.
    if (basename(dirname(self)) !== 'emulator') return false;
    return realpathSync(script) === self;
  } catch {
    return false;
  }
}

if (isMain()) {
  runEmulatorCli(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`error: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
