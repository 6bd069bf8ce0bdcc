/**
 * Bundle-size entry, ours: connect with a SAS key, send one telemetry message (QoS 1, two properties), disconnect.
 * Configured from the environment so that the benchmark can run the bundle against the emulator:
 * `HUB_HOST`, `HUB_ADDRESS`, `HUB_PORT`, `DEVICE_ID`, `SAS_KEY`, `CA_PEM`.
 */
import { AzureIotHub } from '../../../src/index.js';

const env = process.env;
const hub = new AzureIotHub();
hub.init(
  {
    deviceId: env['DEVICE_ID'] ?? '',
    hostname: env['HUB_HOST'] ?? '',
    ...(env['HUB_ADDRESS'] !== undefined ? { address: env['HUB_ADDRESS'] } : {}),
    port: Number(env['HUB_PORT'] ?? 8883),
    sasKey: env['SAS_KEY'] ?? '',
    ...(env['CA_PEM'] !== undefined ? { credentials: { ca: env['CA_PEM'] } } : {}),
  },
  (evt) => {
    if (evt.type !== 'READY') return;
    hub.sendEvent('{"temperature":21.5}', { alert: 'false', sensor: 'therm-7' }).then(
      () => {
        console.log('sent');
        return hub.disconnect();
      },
      (err: unknown) => {
        console.error(err);
        process.exitCode = 1;
        return hub.disconnect();
      },
    );
  },
);
await hub.connect();
