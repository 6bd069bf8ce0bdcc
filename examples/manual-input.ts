/**
 * The application's own input loop (`autoInput: false`), as with the C library's `azure_iot_hub_input()`: the
 * library reads nothing and sends no PINGREQ by itself. The loop calls `input()` to process whatever arrived
 * (CONNACK, SUBACK, PUBACKs, C2D messages, twin responses) and `ping()` when `keepaliveTimeLeft()` says it is due,
 * and does its own work in between: here, a reading every `TELEMETRY_INTERVAL_MS`. Events are emitted from inside
 * `input()`, and a QoS 1 `sendEvent` settles only when a later `input()` processes its PUBACK.
 *
 *   npx tsx examples/manual-input.ts
 *
 * Without environment variables it runs against a local emulator, which also sends the device a cloud-to-device
 * message. Against Azure, set `IOTHUB_HOSTNAME`, `IOTHUB_DEVICE_ID` and `IOTHUB_DEVICE_CERT` + `IOTHUB_DEVICE_KEY`
 * or `IOTHUB_DEVICE_SAS_KEY` (see `support/connection.ts`); send it C2D messages while it runs with
 * `az iot device c2d-message send -n NAME -d DEVICE_ID --data hello`. This example also reads:
 *
 *   TELEMETRY_COUNT         readings to send before it stops (default 5)
 *   TELEMETRY_INTERVAL_MS   pause between readings in ms (default 1000)
 *   IOTHUB_KEEPALIVE        MQTT keepalive in seconds (default 60)
 *
 * @see https://developer.nordicsemi.com/nRF_Connect_SDK/doc/1.9.0/nrf/libraries/networking/azure_iot_hub.html
 */
// In an application: `from 'azure-iot-hub'` (these examples run from the repository's source).
import { AzureIotHub, AzureIotHubEvtType, type AzureIotHubEvt } from '../src/index.js';
import { deviceFromEnv, intFromEnv, type Env, type ExampleOptions } from './support/connection.js';
import { describeFailure, runIfMain, sleep, text } from './support/run.js';

/** The device id on the local emulator. */
export const DEVICE_ID = 'example-manual-input';
/** The longest the loop sleeps between two `input()` calls, in ms (a device would wait on its socket or a timer). */
const POLL_MS = 20;

/** Connect with `autoInput: false` and drive everything from an application loop; stop after the readings. */
export async function main(env: Env = process.env, options: ExampleOptions = {}): Promise<void> {
  const log = options.log ?? console.log;
  const count = intFromEnv(env, 'TELEMETRY_COUNT', 5);
  const intervalMs = intFromEnv(env, 'TELEMETRY_INTERVAL_MS', 1000);
  const keepaliveSeconds = intFromEnv(env, 'IOTHUB_KEEPALIVE', 60);
  const device = await deviceFromEnv(env, { ...options, deviceId: DEVICE_ID });
  const hub = new AzureIotHub();

  let ready = false;
  let failure: Error | undefined;
  let c2dReceived = 0;
  hub.init({ ...device.config, autoInput: false, keepaliveSeconds }, (evt: AzureIotHubEvt) => {
    // Called from inside hub.input(): keep it short.
    switch (evt.type) {
      case AzureIotHubEvtType.CONNECTED:
        log('connected (CONNACK processed by input())');
        break;
      case AzureIotHubEvtType.READY:
        log('ready (SUBACK processed)');
        ready = true;
        break;
      case AzureIotHubEvtType.CONNECTION_FAILED:
        failure = new Error(`connection failed: ${describeFailure(evt.data.err)}`);
        break;
      case AzureIotHubEvtType.DISCONNECTED:
        if (evt.data?.err !== undefined) failure = new Error(`disconnected: ${evt.data.err.message}`);
        break;
      case AzureIotHubEvtType.DATA_RECEIVED:
        c2dReceived++;
        log(`C2D message: ${text(evt.data.msg.payload)}`);
        break;
      default:
        break;
    }
  });

  let sent = 0;
  let acked = 0;
  let nextSendAt = 0;
  const inFlight = new Set<Promise<void>>();
  try {
    log(`connecting: ${device.description} (autoInput off: this loop reads the socket)`);
    await hub.connect(); // CONNECT is on its way; nothing is read until input()

    let askedForC2d = false;
    const done = (): boolean => sent === count && inFlight.size === 0 && (device.local === undefined || c2dReceived > 0);
    while (!done() && options.signal?.aborted !== true) {
      hub.input(); // process everything buffered; returns the number of packets handled
      if (failure !== undefined) throw failure;
      if (hub.keepaliveTimeLeft() === 0) hub.ping(); // nothing was sent for a keepalive period

      if (ready && device.local !== undefined && !askedForC2d) {
        // The service side, on the emulator: a cloud-to-device message for this loop to pick up.
        askedForC2d = true;
        device.local.sendC2D(hub.deviceId, 'hello from the cloud', { properties: { kind: 'greeting' } });
      }
      if (ready && sent < count && Date.now() >= nextSendAt) {
        const seq = ++sent;
        nextSendAt = Date.now() + intervalMs;
        const acknowledged: Promise<void> = hub.sendEvent({ seq, uptimeMs: Math.round(performance.now()) }).then(
          () => {
            acked++;
            log(`#${seq} acknowledged (PUBACK processed by input())`);
          },
          (err: unknown) => log(`#${seq} failed: ${err instanceof Error ? err.message : String(err)}`),
        ).finally(() => inFlight.delete(acknowledged));
        inFlight.add(acknowledged);
        log(`sent #${seq}`);
      }

      // Sleep until the next job: a reading, a ping, or simply the next look at the socket.
      const pingIn = hub.keepaliveTimeLeft();
      await sleep(Math.min(POLL_MS, pingIn < 0 ? POLL_MS : pingIn), options.signal);
    }
    log(`sent ${sent}, acknowledged ${acked}, received ${c2dReceived} C2D message(s)`);
  } finally {
    if (hub.state === 'CONNECTED' || hub.state === 'CONNECTING') await hub.disconnect();
    await device.close();
  }
  log('disconnected');
}

runIfMain(import.meta, main);
