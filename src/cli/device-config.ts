/**
 * The `device` command's connection options turned into an {@link AzureIotHubConfig}: a hub with X.509 or SAS
 * credentials, DPS, or the credentials file (`credentials.json`) that `azure-iot-hub emulator` writes.
 */
import { readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { AzureIotHubConfig, AzureIotHubCredentials, AzureIotHubDpsConfig } from '../azure/types.js';
import { UsageError, type OptionSpecs, type ParsedArgs } from './args.js';

/** Options that say where and how the device connects (shared by `device` and, later, `demo`). */
export const CONNECTION_OPTIONS: OptionSpecs = {
  hub: { type: 'string' },
  'device-id': { type: 'string' },
  cert: { type: 'string' },
  key: { type: 'string' },
  'sas-key': { type: 'string' },
  ca: { type: 'string' },
  address: { type: 'string' },
  port: { type: 'integer', min: 1, max: 65535 },
  'dps-id-scope': { type: 'string' },
  'dps-host': { type: 'string' },
  'dps-address': { type: 'string' },
  'dps-port': { type: 'integer', min: 1, max: 65535 },
  'registration-id': { type: 'string' },
  'group-key': { type: 'boolean' },
  'dps-store': { type: 'string' },
  emulator: { type: 'string' },
  dps: { type: 'boolean' },
  'model-id': { type: 'string' },
  keepalive: { type: 'integer', min: 0, max: 1177 },
  'no-reconnect': { type: 'boolean' },
};

/** Help text for {@link CONNECTION_OPTIONS}. */
export const CONNECTION_HELP = `Connection (a hub, DPS, or the emulator's credentials):
  --hub HOST              IoT Hub host name (NAME.azure-devices.net); TLS server name and username host
  --device-id ID          device id (with --emulator: which of its devices; default the first)
  --cert FILE --key FILE  X.509 authentication: device certificate (PEM, with its chain) and private key
  --sas-key KEY           symmetric-key (SAS) authentication: the device's primary key (base64)
  --ca FILE               trust this CA (PEM) for the server certificate (default: Node's root CAs)
  --address ADDR          connect to ADDR instead of resolving the hub's host name
  --port N                hub port (default 8883)
  --dps-id-scope SCOPE    provision with the Device Provisioning Service first (instead of --hub)
  --dps-host HOST         DPS host name (default global.azure-devices-provisioning.net)
  --dps-address ADDR      connect to ADDR instead of resolving the DPS host name
  --dps-port N            DPS port (default: --port, or 8883)
  --registration-id ID    DPS registration id (default: the device id)
  --group-key             --sas-key is an enrollment group key (the device key is derived from it)
  --dps-store FILE        where the DPS assignment is kept
                          (default .azure-iot-hub/dps-REGISTRATION_ID.json in the working directory)
  --emulator DIR          use the credentials.json that "azure-iot-hub emulator --out DIR" wrote
  --dps                   with --emulator: provision through the emulator's DPS
  --model-id DTMI         IoT Plug and Play model id
  --keepalive SECONDS     MQTT keepalive (default 60, at most 1177; 0 turns it off)
  --no-reconnect          do not reconnect after the link drops (default: reconnect with backoff)`;

/** The parts of `credentials.json` (written by the emulator command) that a device needs. */
export interface EmulatorCredentials {
  hub: { host: string; address: string; port: number };
  dps: { host: string; address: string; port: number; idScope: string };
  caPath: string;
  devices: EmulatorDevice[];
}

/** A device in `credentials.json`. */
export interface EmulatorDevice {
  deviceId: string;
  auth: string;
  certPath?: string;
  keyPath?: string;
  primaryKey?: string;
}

/** A config ready for `AzureIotHub.init`, and one line describing it for the timeline (never with a secret). */
export interface DeviceConnection {
  config: AzureIotHubConfig;
  /** `dev1 on hub.azure-devices.net (127.0.0.1:8883), X.509` or `dev1 via DPS (scope ...), SAS`. */
  description: string;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0;
}

/**
 * Read the emulator's `credentials.json` from `dirOrFile` (the `--out` folder, or the file itself).
 * @throws Error when it is missing or not what the emulator writes
 */
export async function readEmulatorCredentials(dirOrFile: string): Promise<EmulatorCredentials> {
  let path = resolve(dirOrFile);
  try {
    if ((await stat(path)).isDirectory()) path = join(path, 'credentials.json');
  } catch {
    throw new Error(`${path} not found: start the emulator with "azure-iot-hub emulator --out ${dirOrFile}" first`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT') throw new Error(`${path} not found: is this the emulator's --out folder?`);
    throw new Error(`${path} is not the emulator's credentials file: ${e.message}`);
  }
  const bad = (): never => {
    throw new Error(`${path} is not the emulator's credentials file (hub, dps, caPath, devices expected)`);
  };
  if (!isRecord(doc) || !isRecord(doc['hub']) || !isRecord(doc['dps']) || !str(doc['caPath']) || !Array.isArray(doc['devices'])) {
    return bad();
  }
  const hub = doc['hub'];
  const dps = doc['dps'];
  if (!str(hub['host']) || !str(hub['address']) || typeof hub['port'] !== 'number') return bad();
  if (!str(dps['host']) || !str(dps['address']) || typeof dps['port'] !== 'number' || !str(dps['idScope'])) return bad();
  const devices: EmulatorDevice[] = [];
  for (const d of doc['devices'] as unknown[]) {
    if (!isRecord(d) || !str(d['deviceId']) || !str(d['auth'])) return bad();
    const device: EmulatorDevice = { deviceId: d['deviceId'], auth: d['auth'] };
    if (str(d['certPath'])) device.certPath = d['certPath'];
    if (str(d['keyPath'])) device.keyPath = d['keyPath'];
    if (str(d['primaryKey'])) device.primaryKey = d['primaryKey'];
    devices.push(device);
  }
  if (devices.length === 0) throw new Error(`${path} lists no device`);
  return {
    hub: { host: hub['host'], address: hub['address'], port: hub['port'] },
    dps: { host: dps['host'], address: dps['address'], port: dps['port'], idScope: dps['idScope'] },
    caPath: doc['caPath'],
    devices,
  };
}

async function readPem(path: string, what: string): Promise<string> {
  try {
    return await readFile(resolve(path), 'utf8');
  } catch (err) {
    throw new Error(`cannot read the ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}

/**
 * Build the device configuration from the command line (explicit options win over `--emulator`'s file).
 * @throws UsageError for a missing or contradictory option; Error for a file that cannot be read
 */
export async function deviceConnection(args: ParsedArgs): Promise<DeviceConnection> {
  let hub = args.string('hub');
  let deviceId = args.string('device-id');
  let certPath = args.string('cert');
  let keyPath = args.string('key');
  let sasKey = args.string('sas-key');
  let caPath = args.string('ca');
  let address = args.string('address');
  let port = args.integer('port');
  let dps: AzureIotHubDpsConfig | undefined;
  const idScope = args.string('dps-id-scope');

  if ((certPath !== undefined || keyPath !== undefined) && sasKey !== undefined) {
    throw new UsageError('choose X.509 (--cert and --key) or SAS (--sas-key), not both');
  }
  if (hub !== undefined && idScope !== undefined) {
    throw new UsageError('choose --hub (connect to a hub) or --dps-id-scope (provision with DPS), not both');
  }
  if (args.flag('dps') && !args.has('emulator')) {
    throw new UsageError('--dps goes with --emulator; for a real DPS give --dps-id-scope');
  }

  const emulatorDir = args.string('emulator');
  if (emulatorDir !== undefined) {
    const creds = await readEmulatorCredentials(emulatorDir);
    const device = deviceId === undefined ? creds.devices[0]! : creds.devices.find((d) => d.deviceId === deviceId);
    if (device === undefined) {
      throw new UsageError(
        `--device-id: the emulator's credentials have no device ${deviceId ?? ''}; it has ${creds.devices.map((d) => d.deviceId).join(', ')}`,
      );
    }
    deviceId = device.deviceId;
    const explicitAuth = certPath !== undefined || keyPath !== undefined || sasKey !== undefined;
    if (!explicitAuth) {
      if (device.certPath !== undefined && device.keyPath !== undefined) {
        certPath = device.certPath;
        keyPath = device.keyPath;
      } else {
        sasKey = device.primaryKey;
      }
    }
    caPath ??= creds.caPath;
    address ??= creds.hub.address;
    port ??= creds.hub.port;
    if (args.flag('dps') || idScope !== undefined) {
      dps = { idScope: idScope ?? creds.dps.idScope, hostname: creds.dps.host, address: creds.dps.address, port: creds.dps.port };
    } else {
      hub ??= creds.hub.host;
    }
  } else if (idScope !== undefined) {
    dps = { idScope };
  }

  if (deviceId === undefined) throw new UsageError('--device-id is required (or --emulator DIR)');
  if (dps === undefined && hub === undefined) throw new UsageError('--hub HOST or --dps-id-scope SCOPE is required (or --emulator DIR)');
  if ((certPath === undefined) !== (keyPath === undefined)) throw new UsageError('--cert and --key go together');
  if (certPath === undefined && sasKey === undefined) {
    throw new UsageError('credentials are required: --cert FILE --key FILE (X.509) or --sas-key KEY (symmetric key)');
  }
  if (dps === undefined) {
    for (const name of ['dps-host', 'dps-address', 'dps-port', 'registration-id', 'group-key', 'dps-store']) {
      if (args.has(name)) throw new UsageError(`--${name} needs DPS (--dps-id-scope, or --emulator with --dps)`);
    }
  }

  const credentials: AzureIotHubCredentials = {};
  if (caPath !== undefined) credentials.ca = await readPem(caPath, 'CA certificate');
  if (certPath !== undefined && keyPath !== undefined) {
    credentials.cert = await readPem(certPath, 'device certificate');
    credentials.key = await readPem(keyPath, 'private key');
  }
  const config: AzureIotHubConfig = { deviceId };
  if (Object.keys(credentials).length > 0) config.credentials = credentials;
  if (address !== undefined) config.address = address;
  if (port !== undefined) config.port = port;
  const modelId = args.string('model-id');
  if (modelId !== undefined) config.modelId = modelId;
  const keepalive = args.integer('keepalive');
  if (keepalive !== undefined) config.keepaliveSeconds = keepalive;
  if (args.flag('no-reconnect')) config.reconnect = false;

  const auth = certPath !== undefined ? 'X.509' : args.flag('group-key') ? 'SAS (group key)' : 'SAS';
  let description: string;
  if (dps !== undefined) {
    const dpsHost = args.string('dps-host');
    const dpsAddress = args.string('dps-address');
    const dpsPort = args.integer('dps-port');
    const registrationId = args.string('registration-id');
    const storePath = args.string('dps-store');
    if (dpsHost !== undefined) dps.hostname = dpsHost;
    if (dpsAddress !== undefined) dps.address = dpsAddress;
    if (dpsPort !== undefined) dps.port = dpsPort;
    if (registrationId !== undefined) dps.registrationId = registrationId;
    if (storePath !== undefined) dps.storePath = resolve(storePath);
    if (sasKey !== undefined) {
      // DPS attests with the key; the hub key follows from it (the same key, or derived from a group key).
      dps.symmetricKey = sasKey;
      if (args.flag('group-key')) dps.groupKey = true;
    }
    config.dps = dps;
    const where = endpoint(dps.hostname ?? 'global.azure-devices-provisioning.net', dps.address, dps.port ?? port);
    description = `${deviceId} via DPS ${where}, id scope ${dps.idScope}, ${auth}`;
  } else {
    config.hostname = hub!;
    if (sasKey !== undefined) config.sasKey = sasKey;
    description = `${deviceId} on ${endpoint(hub!, address, port)}, ${auth}`;
  }
  return { config, description };
}

function endpoint(host: string, address: string | undefined, port: number | undefined): string {
  const p = port ?? 8883;
  return address === undefined || address === host ? `${host}:${p}` : `${host} (${address}:${p})`;
}
