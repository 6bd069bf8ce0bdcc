/**
 * Device twin and direct methods: read the twin, report properties, answer a direct method (`setLed`) and apply a
 * desired-property change (`telemetryIntervalMs`), acknowledging it in the reported properties.
 *
 *   npx tsx examples/twin-and-methods.ts
 *
 * Without environment variables it runs against a local IoT Hub emulator and plays the service side itself (it
 * invokes the method and changes the desired property). Against Azure, set `IOTHUB_HOSTNAME`, `IOTHUB_DEVICE_ID`
 * and `IOTHUB_DEVICE_CERT` + `IOTHUB_DEVICE_KEY` or `IOTHUB_DEVICE_SAS_KEY` (the full list is in
 * `support/connection.ts`); the device then waits for you to do both from the Azure portal or the az CLI:
 *
 *   az iot hub invoke-device-method -n NAME -d DEVICE_ID --method-name setLed --method-payload '{"on":true}'
 *   az iot hub device-twin update -n NAME -d DEVICE_ID --desired '{"telemetryIntervalMs":2000}'
 *
 * This example also reads:
 *
 *   EXAMPLE_WAIT_SECONDS    how long to wait for the method call and the desired change (default 300)
 *
 * @see https://learn.microsoft.com/azure/iot-hub/iot-hub-devguide-device-twins
 * @see https://learn.microsoft.com/azure/iot-hub/iot-hub-devguide-direct-methods
 */
// In an application: `from 'azure-iot-hub'` (these examples run from the repository's source).
import { AzureIotHub, AzureIotHubEvtType, type AzureIotHubEvt } from '../src/index.js';
import { deviceFromEnv, intFromEnv, type Env, type ExampleOptions } from './support/connection.js';
import { deferred, describeFailure, runIfMain, text, within } from './support/run.js';

/** The device id on the local emulator. */
export const DEVICE_ID = 'example-twin';

/** Connect, read and report the twin, then handle one `setLed` call and one desired change, and disconnect. */
export async function main(env: Env = process.env, options: ExampleOptions = {}): Promise<void> {
  const log = options.log ?? console.log;
  const waitSeconds = intFromEnv(env, 'EXAMPLE_WAIT_SECONDS', 300);
  const device = await deviceFromEnv(env, { ...options, deviceId: DEVICE_ID });
  const hub = new AzureIotHub();
  const ready = deferred();
  const methodCalled = deferred();
  const desiredApplied = deferred();

  // The application's state, driven by the cloud.
  let led = false;
  let telemetryIntervalMs = 5000;

  hub.init(device.config, (evt: AzureIotHubEvt) => {
    switch (evt.type) {
      case AzureIotHubEvtType.READY:
        ready.resolve();
        break;
      case AzureIotHubEvtType.CONNECTION_FAILED:
        ready.reject(new Error(`connection failed: ${describeFailure(evt.data.err)}`));
        break;
      case AzureIotHubEvtType.TWIN_DESIRED_RECEIVED: {
        // A desired PATCH holds only what changed, plus the new desired $version.
        const patch = JSON.parse(text(evt.data.msg.payload)) as { telemetryIntervalMs?: unknown; $version?: number };
        log(`desired change: ${text(evt.data.msg.payload)}`);
        if (typeof patch.telemetryIntervalMs !== 'number') break;
        telemetryIntervalMs = patch.telemetryIntervalMs;
        // Acknowledge it, so the service sees the device applied it.
        hub.updateReported({ telemetryIntervalMs }).then(({ version }) => {
          log(`applied telemetryIntervalMs = ${telemetryIntervalMs}, reported (twin reported version ${version})`);
          desiredApplied.resolve();
        }, desiredApplied.reject);
        break;
      }
      default:
        break;
    }
  });

  // The library answers with what the handler returns; a throw answers 500.
  hub.onMethod('setLed', ({ body }) => {
    const on = (body as { on?: unknown } | undefined)?.on;
    if (typeof on !== 'boolean') return { status: 400, payload: { error: 'expected {"on": true|false}' } };
    led = on;
    log(`method setLed: the LED is ${led ? 'on' : 'off'}`);
    methodCalled.resolve();
    return { status: 200, payload: { led } };
  });

  try {
    log(`connecting: ${device.description}`);
    await hub.connect();
    await within(ready.promise, 60, 'connection', options.signal);

    const twin = await hub.getTwin();
    log(`twin: desired ${JSON.stringify(twin.desired)}, reported version ${twin.reported.$version}`);
    if (typeof twin.desired['telemetryIntervalMs'] === 'number') telemetryIntervalMs = twin.desired['telemetryIntervalMs'];
    const { version } = await hub.updateReported({ led, telemetryIntervalMs, deviceInfo: { model: 'example', fwVersion: '1.0.0' } });
    log(`reported led, telemetryIntervalMs and deviceInfo (twin reported version ${version})`);

    const local = device.local;
    if (local !== undefined) {
      // The service side, on the emulator: what the portal or a back-end application does with a real hub.
      const result = await local.invokeMethod(hub.deviceId, 'setLed', { on: true });
      log(`the service invoked setLed and got ${result.status} ${JSON.stringify(result.payload)}`);
      local.updateDesired(hub.deviceId, { telemetryIntervalMs: 2000 });
    } else {
      log(`waiting up to ${waitSeconds} s: invoke setLed and change desired telemetryIntervalMs (see the top of this file)`);
    }
    await within(Promise.all([methodCalled.promise, desiredApplied.promise]), waitSeconds, 'method call and desired change', options.signal);
  } finally {
    if (hub.state === 'CONNECTED' || hub.state === 'CONNECTING') await hub.disconnect();
    await device.close();
  }
  log('done: disconnected');
}

runIfMain(import.meta, main);
