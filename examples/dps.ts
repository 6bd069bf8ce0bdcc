/**
 * Device Provisioning Service: the device knows only the DPS id scope and its own credentials; DPS assigns it a hub.
 * The first connection provisions (DPS_CONNECTING, DPS_REGISTERING, DPS_DONE, then the hub); the assignment is
 * stored, so the second connection goes straight to the assigned hub. `dpsReset()` forgets it.
 *
 *   npx tsx examples/dps.ts
 *
 * Without environment variables it runs against a local emulator, which enrolls the device in its DPS. Against
 * Azure, set `DPS_ID_SCOPE` (from the DPS overview page), `IOTHUB_DEVICE_ID` (the registration id of an individual
 * enrollment) and `IOTHUB_DEVICE_CERT` + `IOTHUB_DEVICE_KEY` (X.509: the certificate's CN is the registration id) or
 * `IOTHUB_DEVICE_SAS_KEY` (the enrollment's primary key). Optional:
 *
 *   DPS_HOSTNAME    default global.azure-devices-provisioning.net
 *   DPS_STORE       the file that keeps the assignment (default .azure-iot-hub/dps-REGISTRATION_ID.json)
 *   IOTHUB_CA       trust this CA (PEM file) for DPS and the hub (default: Node's root CAs)
 *
 * @see https://learn.microsoft.com/azure/iot-dps/iot-dps-mqtt-support
 */
// In an application: `from 'azure-iot-hub'` (these examples run from the repository's source).
import { AzureIotHub, AzureIotHubEvtType, defaultDpsStorePath, type AzureIotHubEvt } from '../src/index.js';
import { deviceFromEnv, type Env, type ExampleOptions } from './support/connection.js';
import { deferred, describeFailure, runIfMain, within, type Deferred } from './support/run.js';

/** The registration id (and device id) on the local emulator. */
export const DEVICE_ID = 'example-dps';

/** Provision through DPS and connect, disconnect, connect again with the stored assignment, disconnect. */
export async function main(env: Env = process.env, options: ExampleOptions = {}): Promise<void> {
  const log = options.log ?? console.log;
  const device = await deviceFromEnv(env, { ...options, deviceId: DEVICE_ID, dps: true });
  const hub = new AzureIotHub();
  let ready: Deferred<void> = deferred();

  hub.init(device.config, (evt: AzureIotHubEvt) => {
    switch (evt.type) {
      case AzureIotHubEvtType.DPS_CONNECTING:
        log('DPS: connecting');
        break;
      case AzureIotHubEvtType.DPS_REGISTERING:
        log('DPS: registering');
        break;
      case AzureIotHubEvtType.DPS_DONE:
        log(`DPS: assigned to ${evt.data.dps.assignedHub} as ${evt.data.dps.deviceId}`);
        break;
      case AzureIotHubEvtType.DPS_FAILED:
        log(`DPS: failed: ${evt.data.err.message}`);
        break;
      case AzureIotHubEvtType.CONNECTING:
        log('hub: connecting');
        break;
      case AzureIotHubEvtType.READY:
        log(`hub: connected to ${hub.hubHostname} as ${hub.deviceId}`);
        ready.resolve();
        break;
      case AzureIotHubEvtType.CONNECTION_FAILED:
        ready.reject(new Error(`connection failed: ${describeFailure(evt.data.err)}`));
        break;
      default:
        break;
    }
  });

  try {
    log(`first connection: ${device.description}`);
    // connect() provisions first (it rejects with a coded error, e.g. EACCES, if DPS refuses the device).
    await hub.connect();
    await within(ready.promise, 60, 'connection', options.signal);
    await hub.sendEvent({ hello: 'provisioned' });
    log('sent a message');
    await hub.disconnect();

    const dps = device.config.dps!;
    const where = dps.store !== undefined ? 'in memory' : dps.storePath ?? defaultDpsStorePath(dps.registrationId ?? device.config.deviceId);
    log(`second connection: the assignment is stored (${where}), so no DPS this time`);
    ready = deferred();
    await hub.connect();
    await within(ready.promise, 60, 'connection', options.signal);
    await hub.sendEvent({ hello: 'again' });
    log('sent a message');
  } finally {
    if (hub.state === 'CONNECTED' || hub.state === 'CONNECTING') await hub.disconnect();
    await device.close();
  }
  log('done: disconnected (to provision again: hub.dpsReset(), or delete the stored assignment)');
}

runIfMain(import.meta, main);
