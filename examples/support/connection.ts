/**
 * Shared by the examples: the device's connection, read from environment variables (a real Azure IoT Hub, directly
 * or through DPS), or, when they are absent, a local IoT Hub emulator started on the spot, with the device
 * registered on it. On the emulator the examples also play the service side (invoke a method, send a C2D message,
 * change a desired property, publish firmware) so that they run end to end with no Azure account.
 *
 * Environment variables (every example reads these):
 *
 * | variable                | meaning                                                                         |
 * |-------------------------|---------------------------------------------------------------------------------|
 * | `IOTHUB_HOSTNAME`       | the hub, `NAME.azure-devices.net` (without it and `DPS_ID_SCOPE`: the emulator) |
 * | `IOTHUB_DEVICE_ID`      | the device id (with DPS: the registration id)                                   |
 * | `IOTHUB_DEVICE_CERT`    | X.509: the device certificate, a PEM file (with its chain)                      |
 * | `IOTHUB_DEVICE_KEY`     | X.509: its private key, a PEM file                                              |
 * | `IOTHUB_DEVICE_SAS_KEY` | or symmetric key: the device's primary key (base64)                             |
 * | `IOTHUB_CA`             | optional: trust this CA (PEM file) for the server (default: Node's root CAs)    |
 * | `IOTHUB_ADDRESS`        | optional: connect to this address instead of resolving the hub's name           |
 * | `IOTHUB_PORT`           | optional: the hub's port (default 8883)                                         |
 * | `DPS_ID_SCOPE`          | provision through the Device Provisioning Service first (instead of a hub)     |
 * | `DPS_HOSTNAME`          | optional: DPS host (default `global.azure-devices-provisioning.net`)            |
 * | `DPS_ADDRESS`           | optional: connect to this address instead of resolving the DPS host             |
 * | `DPS_PORT`              | optional: the DPS port (default: the hub's)                                     |
 * | `DPS_STORE`             | optional: the file that keeps the DPS assignment                                |
 *
 * @see https://learn.microsoft.com/azure/iot-hub/iot-hub-mqtt-support
 * @see https://learn.microsoft.com/azure/iot-dps/iot-dps-mqtt-support
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { MemoryDpsStore, type AzureIotHubConfig, type AzureIotHubDpsConfig } from '../../src/index.js';
import { startEmulator, type Emulator } from '../../src/emulator/index.js';

/** The environment an example reads (`process.env`, or what a test passes). */
export type Env = Readonly<Record<string, string | undefined>>;

/** How an example is run: by its runner (`npx tsx examples/NAME.ts`) or by a test. */
export interface ExampleOptions {
  /** Use this running emulator instead of starting one (tests pass theirs to observe what the device did). */
  emulator?: Emulator;
  /** Where the example prints its lines (default `console.log`). */
  log?: (line: string) => void;
  /** Stops an example that waits (Ctrl-C). */
  signal?: AbortSignal;
}

/** The device's connection, ready for `hub.init(config, handler)`. */
export interface ExampleDevice {
  config: AzureIotHubConfig;
  /** The emulator when running locally: the example then plays the service side itself. Undefined on Azure. */
  local: Emulator | undefined;
  /** Where the device connects, for a log line (never a key). */
  description: string;
  /** Stop the emulator if the example started it. */
  close(): Promise<void>;
}

/** Where the device goes: a real hub (or DPS) from the environment, else the emulator. */
export interface DeviceRequest extends ExampleOptions {
  /** The device id on the emulator (on Azure: `IOTHUB_DEVICE_ID`). */
  deviceId: string;
  /** Provision through DPS (on the emulator: an individual enrollment; on Azure `DPS_ID_SCOPE` is required). */
  dps?: boolean;
}

/** An integer from the environment, or `fallback`. @throws Error naming the variable when it is not one */
export function intFromEnv(env: Env, name: string, fallback: number): number {
  const text = env[name];
  if (text === undefined || text === '') return fallback;
  if (!/^\d+$/.test(text)) throw new Error(`${name} must be a whole number, not ${JSON.stringify(text)}`);
  return Number(text);
}

async function pemFile(env: Env, name: string): Promise<string> {
  const path = env[name]!;
  try {
    return await readFile(resolve(path), 'utf8');
  } catch (err) {
    throw new Error(`${name}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

/**
 * Build the device configuration from `env`; without `IOTHUB_HOSTNAME` and `DPS_ID_SCOPE`, start the emulator (or
 * use `request.emulator`) and register the device there (symmetric key).
 * @throws Error naming the variable that is missing or wrong
 */
export async function deviceFromEnv(env: Env, request: DeviceRequest): Promise<ExampleDevice> {
  const idScope = env['DPS_ID_SCOPE'];
  const hostname = env['IOTHUB_HOSTNAME'];
  if (hostname === undefined && idScope === undefined) return localDevice(request);
  if (request.dps === true && idScope === undefined) throw new Error('DPS_ID_SCOPE is required: this example provisions through DPS');

  const deviceId = env['IOTHUB_DEVICE_ID'];
  if (deviceId === undefined) throw new Error('IOTHUB_DEVICE_ID is required');
  const config: AzureIotHubConfig = { deviceId };
  const hasCert = env['IOTHUB_DEVICE_CERT'] !== undefined || env['IOTHUB_DEVICE_KEY'] !== undefined;
  const sasKey = env['IOTHUB_DEVICE_SAS_KEY'];
  if (hasCert && sasKey !== undefined) throw new Error('set IOTHUB_DEVICE_CERT and IOTHUB_DEVICE_KEY (X.509) or IOTHUB_DEVICE_SAS_KEY, not both');
  if (hasCert) {
    if (env['IOTHUB_DEVICE_CERT'] === undefined || env['IOTHUB_DEVICE_KEY'] === undefined) {
      throw new Error('IOTHUB_DEVICE_CERT and IOTHUB_DEVICE_KEY go together');
    }
    config.credentials = { cert: await pemFile(env, 'IOTHUB_DEVICE_CERT'), key: await pemFile(env, 'IOTHUB_DEVICE_KEY') };
  } else if (sasKey === undefined) {
    throw new Error('credentials are required: IOTHUB_DEVICE_CERT and IOTHUB_DEVICE_KEY (X.509), or IOTHUB_DEVICE_SAS_KEY');
  }
  if (env['IOTHUB_CA'] !== undefined) config.credentials = { ...config.credentials, ca: await pemFile(env, 'IOTHUB_CA') };
  if (env['IOTHUB_ADDRESS'] !== undefined) config.address = env['IOTHUB_ADDRESS'];
  if (env['IOTHUB_PORT'] !== undefined) config.port = intFromEnv(env, 'IOTHUB_PORT', 8883);
  const auth = hasCert ? 'X.509' : 'symmetric key';

  if (idScope !== undefined) {
    const dps: AzureIotHubDpsConfig = { idScope };
    if (env['DPS_HOSTNAME'] !== undefined) dps.hostname = env['DPS_HOSTNAME'];
    if (env['DPS_ADDRESS'] !== undefined) dps.address = env['DPS_ADDRESS'];
    if (env['DPS_PORT'] !== undefined) dps.port = intFromEnv(env, 'DPS_PORT', 8883);
    if (env['DPS_STORE'] !== undefined) dps.storePath = resolve(env['DPS_STORE']);
    // DPS attests with the device's key; the hub then accepts the same key.
    if (sasKey !== undefined) dps.symmetricKey = sasKey;
    config.dps = dps;
    return {
      config,
      local: undefined,
      description: `${deviceId} through DPS ${dps.hostname ?? 'global.azure-devices-provisioning.net'} (id scope ${idScope}), ${auth}`,
      close: () => Promise.resolve(),
    };
  }
  config.hostname = hostname!;
  if (sasKey !== undefined) config.sasKey = sasKey;
  return { config, local: undefined, description: `${deviceId} on ${hostname!}, ${auth}`, close: () => Promise.resolve() };
}

/** The device on the emulator: registered with a symmetric key (or enrolled in its DPS). */
async function localDevice(request: DeviceRequest): Promise<ExampleDevice> {
  const owned = request.emulator === undefined;
  const emu = request.emulator ?? (await startEmulator({ dpsRetryAfterSeconds: 0 }));
  const close = (): Promise<void> => (owned ? emu.close() : Promise.resolve());
  const { deviceId } = request;
  // The emulator's hub answers on a loopback port; its host name stays the TLS name and the username's host.
  const config: AzureIotHubConfig = { deviceId, address: emu.hub.address, port: emu.hub.port, credentials: { ca: emu.ca.cert } };
  if (request.dps === true) {
    const enrollment = emu.addEnrollment({ registrationId: deviceId, attestation: { type: 'sas' } });
    const key = enrollment.attestation.type === 'sas' ? enrollment.attestation.primaryKey : '';
    config.dps = {
      idScope: emu.dps.idScope,
      hostname: emu.dps.host,
      address: emu.dps.address,
      port: emu.dps.port,
      symmetricKey: key,
      store: new MemoryDpsStore(),
    };
    return { config, local: emu, description: `${deviceId} through the emulator's DPS (id scope ${emu.dps.idScope}), symmetric key`, close };
  }
  const registered = emu.registerDevice({ deviceId, auth: { type: 'sas' } });
  config.hostname = emu.hub.host;
  config.sasKey = registered.primaryKey!;
  return { config, local: emu, description: `${deviceId} on the local emulator (${emu.hub.host}), symmetric key`, close };
}
