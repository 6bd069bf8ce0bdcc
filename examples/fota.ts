/**
 * Firmware over the air (FOTA), the nRF Connect SDK `azure_fota` way: the service puts a job in the device twin's
 * desired properties (`firmware: { fwVersion, jobId, fwLocation: { host, path }, fwFragmentSize }`); the library
 * downloads the image in ranges over HTTPS into a firmware slot (here a file), verifies it, reports each stage in
 * `reported.firmware` (`downloading`, `applying`) and emits FOTA_START ... FOTA_DONE. The application then reboots
 * into the new image.
 *
 *   npx tsx examples/fota.ts
 *
 * Without environment variables it runs against a local emulator and plays the service side: it publishes an image
 * on the emulator's firmware server and sets `desired.firmware`. Against Azure, set the connection variables
 * (`IOTHUB_HOSTNAME`, `IOTHUB_DEVICE_ID`, `IOTHUB_DEVICE_CERT` + `IOTHUB_DEVICE_KEY` or `IOTHUB_DEVICE_SAS_KEY`; see
 * `support/connection.ts`), host the image (for example in blob storage) and set the job in the twin:
 *
 *   az iot hub device-twin update -n NAME -d DEVICE_ID --desired '{"firmware":{"fwVersion":"1.1.0",
 *     "jobId":"job-1","fwLocation":{"protocol":"https:","host":"ACCOUNT.blob.core.windows.net",
 *     "path":"firmware/app-1.1.0.bin"},"fwFragmentSize":4096}}'
 *
 * This example also reads:
 *
 *   FIRMWARE_VERSION        the version the device runs (default 1.0.0)
 *   FOTA_SLOT               where the image goes (default: firmware.bin in a new temporary folder)
 *   FOTA_CA                 trust this CA (PEM file) for the firmware server (default: Node's root CAs)
 *   EXAMPLE_WAIT_SECONDS    how long to wait for a job (default 300)
 *
 * @see https://developer.nordicsemi.com/nRF_Connect_SDK/doc/1.9.0/nrf/libraries/networking/azure_fota.html
 */
import { mkdir, mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
// In an application: `from 'azure-iot-hub'` (these examples run from the repository's source).
import { AzureIotHub, AzureIotHubEvtType, FileFirmwareSlot, type AzureIotHubEvt } from '../src/index.js';
import { deviceFromEnv, intFromEnv, type Env, type ExampleOptions } from './support/connection.js';
import { deferred, describeFailure, runIfMain, within } from './support/run.js';

/** The device id on the local emulator. */
export const DEVICE_ID = 'example-fota';
/** The version the local emulator's job installs. */
export const NEW_VERSION = '1.1.0';

/** Connect with FOTA on and wait for a job (on the emulator: set one), until the image is in the slot. */
export async function main(env: Env = process.env, options: ExampleOptions = {}): Promise<void> {
  const log = options.log ?? console.log;
  const waitSeconds = intFromEnv(env, 'EXAMPLE_WAIT_SECONDS', 300);
  const currentVersion = env['FIRMWARE_VERSION'] ?? '1.0.0';
  const slotPath = resolve(env['FOTA_SLOT'] ?? join(await mkdtemp(join(tmpdir(), 'azure-iot-hub-fota-')), 'firmware.bin'));
  await mkdir(dirname(slotPath), { recursive: true }); // the slot writes files, not folders
  const device = await deviceFromEnv(env, { ...options, deviceId: DEVICE_ID });
  const local = device.local;
  const fotaCa = env['FOTA_CA'] !== undefined ? await readFile(env['FOTA_CA'], 'utf8') : local?.ca.cert;

  const hub = new AzureIotHub();
  const ready = deferred();
  const finished = deferred<string>();
  let lastPercent = -1;

  hub.init(
    {
      ...device.config,
      fota: {
        currentVersion,
        storage: new FileFirmwareSlot(slotPath),
        ...(fotaCa === undefined ? {} : { ca: fotaCa }),
        onProgress: ({ percent, bytes, total }) => {
          // Throttled by the library; print every 20 %.
          if (percent === 100 || percent >= lastPercent + 20) {
            lastPercent = percent;
            log(`downloading: ${percent}% (${bytes} of ${total} bytes)`);
          }
        },
      },
    },
    (evt: AzureIotHubEvt) => {
      switch (evt.type) {
        case AzureIotHubEvtType.READY:
          ready.resolve();
          break;
        case AzureIotHubEvtType.CONNECTION_FAILED:
          ready.reject(new Error(`connection failed: ${describeFailure(evt.data.err)}`));
          break;
        case AzureIotHubEvtType.FOTA_START:
          log(`FOTA job ${evt.data.fota.jobId ?? '(no id)'}: ${currentVersion} -> ${evt.data.fota.version ?? '?'}`);
          break;
        case AzureIotHubEvtType.FOTA_ERASE_DONE:
          log(`slot erased: ${slotPath}`);
          break;
        case AzureIotHubEvtType.FOTA_DONE:
          // The image is complete and verified; the twin says "applying". A real device reboots into it now and
          // reports the new version as currentFwVersion once it runs.
          finished.resolve(evt.data.fota.version ?? '?');
          break;
        case AzureIotHubEvtType.FOTA_ERROR:
          finished.reject(new Error(`FOTA failed: ${evt.data.fota.error?.message ?? 'unknown error'}`));
          break;
        default:
          break;
      }
    },
  );

  try {
    log(`connecting: ${device.description}; running firmware ${currentVersion}`);
    await hub.connect();
    await within(ready.promise, 60, 'connection', options.signal);

    if (local !== undefined) {
      // The service side, on the emulator: host the image and put the job in the twin.
      const image = new Uint8Array(48 * 1024).map((_, i) => (i * 31) & 0xff);
      const published = local.publishFirmware(`firmware/app-${NEW_VERSION}.bin`, image);
      local.updateDesired(hub.deviceId, {
        firmware: {
          fwVersion: NEW_VERSION,
          jobId: `job-${NEW_VERSION}`,
          fwLocation: { protocol: 'https:', host: published.host, path: published.path },
          fwFragmentSize: 4096,
          sha256: published.sha256,
        },
      });
      log(`the service published ${published.url} and set desired.firmware`);
    } else {
      log(`waiting up to ${waitSeconds} s for a FOTA job in desired.firmware (see the top of this file)`);
    }
    const version = await within(finished.promise, waitSeconds, 'FOTA job', options.signal);
    log(`firmware ${version} is in ${slotPath} (manifest: ${slotPath}.json); reboot to run it`);
  } finally {
    if (hub.state === 'CONNECTED' || hub.state === 'CONNECTING') await hub.disconnect();
    await device.close();
  }
}

runIfMain(import.meta, main);
