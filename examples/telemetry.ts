/**
 * Telemetry: connect, send a few sensor readings with application properties (a property bag), each acknowledged
 * by the hub (QoS 1: `sendEvent` resolves on PUBACK), then disconnect.
 *
 *   npx tsx examples/telemetry.ts
 *
 * Without environment variables it runs against a local IoT Hub emulator it starts itself. Against Azure, set
 * `IOTHUB_HOSTNAME`, `IOTHUB_DEVICE_ID` and either `IOTHUB_DEVICE_CERT` + `IOTHUB_DEVICE_KEY` (X.509, PEM files) or
 * `IOTHUB_DEVICE_SAS_KEY` (symmetric key); optionally `IOTHUB_CA`, or `DPS_ID_SCOPE` to provision through DPS (the
 * full list is in `support/connection.ts`). This example also reads:
 *
 *   TELEMETRY_COUNT         readings to send (default 5)
 *   TELEMETRY_INTERVAL_MS   pause between readings in ms (default 1000)
 *
 * Watch the messages arrive: `az iot hub monitor-events -n NAME -d DEVICE_ID --properties app`.
 * @see https://learn.microsoft.com/azure/iot-hub/iot-hub-devguide-messages-construct
 */
// In an application: `from 'azure-iot-hub'` (these examples run from the repository's source).
import { AzureIotHub, AzureIotHubEvtType, type AzureIotHubEvt } from '../src/index.js';
import { deviceFromEnv, intFromEnv, type Env, type ExampleOptions } from './support/connection.js';
import { deferred, describeFailure, runIfMain, sleep, within } from './support/run.js';

/** The device id on the local emulator. */
export const DEVICE_ID = 'example-telemetry';

/** Connect, send `TELEMETRY_COUNT` readings with properties (each acknowledged), disconnect. */
export async function main(env: Env = process.env, options: ExampleOptions = {}): Promise<void> {
  const log = options.log ?? console.log;
  const count = intFromEnv(env, 'TELEMETRY_COUNT', 5);
  const intervalMs = intFromEnv(env, 'TELEMETRY_INTERVAL_MS', 1000);
  const device = await deviceFromEnv(env, { ...options, deviceId: DEVICE_ID });
  const hub = new AzureIotHub();
  const ready = deferred();

  hub.init(device.config, (evt: AzureIotHubEvt) => {
    switch (evt.type) {
      case AzureIotHubEvtType.READY:
        ready.resolve();
        break;
      case AzureIotHubEvtType.CONNECTION_FAILED:
        ready.reject(new Error(`connection failed: ${describeFailure(evt.data.err)}`));
        break;
      case AzureIotHubEvtType.DISCONNECTED:
        if (evt.data?.err !== undefined) log(`disconnected: ${evt.data.err.message}`);
        break;
      default:
        break;
    }
  });

  try {
    log(`connecting: ${device.description}`);
    await hub.connect();
    await within(ready.promise, 60, 'connection', options.signal);
    log('connected');

    for (let seq = 1; seq <= count && options.signal?.aborted !== true; seq++) {
      const reading = { seq, temperature: Math.round((20 + seq * 0.7) * 10) / 10, humidity: 40 + seq };
      // The body is JSON (sendEvent adds $.ct=application/json and $.ce=utf-8, so IoT Hub can route on it); the
      // application properties travel in the topic's property bag, for routing without reading the body.
      await hub.sendEvent(reading, { sensor: 'bme280', temperatureAlert: reading.temperature > 22 ? 'true' : 'false' });
      log(`sent #${seq} ${JSON.stringify(reading)}: acknowledged`);
      if (seq < count) await sleep(intervalMs, options.signal);
    }

    if (device.local !== undefined) {
      // On the emulator we can look at the hub's side: what it stored, with the properties.
      for (const m of device.local.telemetry(hub.deviceId)) {
        log(`the hub stored ${new TextDecoder().decode(m.payload)} with sensor=${m.properties['sensor'] ?? '?'}`);
      }
    }
  } finally {
    if (hub.state === 'CONNECTED' || hub.state === 'CONNECTING') await hub.disconnect();
    await device.close();
  }
  log('disconnected');
}

runIfMain(import.meta, main);
