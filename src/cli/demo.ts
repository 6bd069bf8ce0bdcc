/**
 * `azure-iot-hub demo`: the quick start (`npm start`). On the embedded default it starts the local IoT Hub emulator
 * with freshly minted certificates and takes one device through every feature of the library: DPS provisioning, the
 * twin, telemetry with property bags, a direct method, a cloud-to-device message, a desired-property change and a
 * FOTA job, then a clean disconnect and a summary (messages, round-trip times, bytes). Each step is checked from the
 * service side (what the emulator received), so exit code 0 means every step really worked.
 *
 * With connection options (`--hub ...` or `--dps-id-scope ...`) the same device runs against a real Azure IoT Hub:
 * the device-side steps run; the steps that need the service side are skipped with a note, or, with `--wait`, the
 * device waits while the user drives them from the Azure portal or the az CLI (the commands are printed).
 *
 * @see https://learn.microsoft.com/azure/iot-hub/iot-hub-mqtt-support
 * @see https://learn.microsoft.com/azure/iot-dps/iot-dps-mqtt-support
 */
import { execFile } from 'node:child_process';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { performance } from 'node:perf_hooks';
import { rootCertificates } from 'node:tls';
import { AzureIotHub } from '../azure/client.js';
import { MemoryDpsStore } from '../azure/dps/memory-store.js';
import { MemoryFirmwareSlot } from '../azure/fota/memory-slot.js';
import type { MethodRequest } from '../azure/methods.js';
import type { AzureIotHubConfig, AzureIotHubEvt, AzureIotHubFotaDebug, AzureIotHubFotaProgress } from '../azure/types.js';
import { createCa, createDeviceCertificate, createServerCertificate, type CertificateAndKey } from '../emulator/certs.js';
import { DEFAULT_DPS_HOST, DEFAULT_HUB_HOST, startEmulator, type Emulator } from '../emulator/emulator.js';
import { AzureIotHubError } from '../errors.js';
import { MQTT_CHANNELS, type MqttPacketMessage } from '../transport/diagnostics.js';
import { parseDuration, parseOptions, UsageError, type OptionSpecs, type ParsedArgs } from './args.js';
import { colorEnabled, createStyle, type Style } from './color.js';
import { EXIT_FAILURE, EXIT_OK, type CliCommand } from './command.js';
import { CONNECTION_HELP, CONNECTION_OPTIONS, deviceConnection } from './device-config.js';
import { stopRequested, type CliOutput, type ResolvedIo } from './io.js';
import { escapeControls, payloadText } from './payload-text.js';
import { shellQuote } from './shell-quote.js';
import { Timeline, type TimelineKind } from './timeline.js';

/** The device id of the embedded demo (also its DPS registration id and its certificate's CN). */
export const DEMO_DEVICE_ID = 'demo-device';
/** The firmware version the demo device runs. */
export const DEMO_FIRMWARE_VERSION = '1.0.0';
/** The firmware version the demo's FOTA job installs. */
export const DEMO_NEW_FIRMWARE_VERSION = '1.1.0';
/** Size of the demo's firmware image (bytes). */
export const DEMO_FIRMWARE_BYTES = 128 * 1024;
/** Default `--readings`. */
export const DEFAULT_READINGS = 8;
/** Default `--interval` (ms between readings). */
export const DEFAULT_INTERVAL_MS = 400;
/** How long one step may take before the demo calls it failed (ms). */
export const STEP_TIMEOUT_MS = 20_000;

/** Steps of the embedded demo, in order (each prints lines labelled with its name or its own labels). */
export const DEMO_STEPS = Object.freeze([
  'certs',
  'emulator',
  'provision',
  'connect',
  'twin',
  'telemetry',
  'method',
  'c2d',
  'desired',
  'fota',
  'disconnect',
] as const);
/** One step of the embedded demo. */
export type DemoStep = (typeof DEMO_STEPS)[number];

/** Fragment size of the demo's FOTA job (`fwFragmentSize`). */
const FOTA_FRAGMENT_BYTES = 4096;
/** Per-request delay of the emulator's firmware server without `--quick`: a slow link, so the bar can be seen. */
const FOTA_LINK_DELAY_MS = 20;
/** Progress notifications at most this often (ms). */
const FOTA_PROGRESS_MS = 40;
/** Width of the progress bar, in cells. */
const BAR_CELLS = 24;

const SPECS: OptionSpecs = {
  ...CONNECTION_OPTIONS,
  readings: { type: 'integer', min: 1, max: 10_000 },
  interval: { type: 'string' },
  quick: { type: 'boolean' },
  wait: { type: 'integer', min: 1, max: 86_400 },
};

const USAGE = `Usage: azure-iot-hub demo [options]

The quick start (what "npm start" runs). Without connection options it starts a local IoT Hub emulator (hub,
DPS and HTTPS firmware server on 127.0.0.1, with freshly minted test certificates) and takes one device
through every feature: DPS provisioning, the twin, telemetry with properties, a direct method, a
cloud-to-device message, a desired-property change and a firmware update (FOTA); then it disconnects and
prints a summary. Every step is checked on the hub's side. Needs the openssl command (for the certificates).

With connection options it runs the same device against a real Azure IoT Hub (directly or through DPS): it
connects, reads and reports its twin and sends telemetry. The steps that need the service side (direct
method, C2D message, desired change, FOTA job) are skipped with a note, unless --wait gives you the time to
drive them from the Azure portal or the az CLI (the demo prints the commands).

Demo:
  --readings N            telemetry readings to send (default ${DEFAULT_READINGS})
  --interval TIME         pause between readings: 500, 500ms, 2s (default ${DEFAULT_INTERVAL_MS}ms)
  --quick                 no pauses: readings back to back, the firmware at full speed
  --wait SECONDS          with a real hub: wait up to SECONDS for a direct method call, a C2D message and a
                          desired-property change (and a FOTA job when you set desired.firmware)

${CONNECTION_HELP}

Examples:
  npm start                                   (runs: azure-iot-hub demo)
  azure-iot-hub demo --hub my-hub.azure-devices.net --device-id dev1 --cert dev1.cert.pem --key dev1.key.pem
  azure-iot-hub demo --dps-id-scope 0ne00000A0A --device-id dev1 --sas-key KEY --wait 300

Output: a timeline (time, step, details), coloured on a terminal unless NO_COLOR is set (FORCE_COLOR=1
forces colours, FORCE_COLOR=0 turns them off), with a progress bar for the firmware download.
Exit status: 0 when every step succeeded, 1 when one failed (or Ctrl-C), 2 for bad options.
`;

/** What the summary reports. */
interface Stats {
  sent: number;
  acked: number;
  rtts: number[];
  dpsMs?: number;
  twinMs?: number;
  methodMs?: number;
  c2dMs?: number;
  desiredMs?: number;
  mqttSent: number;
  mqttReceived: number;
  firmwareBytes: number;
  firmwareMs?: number;
}

interface Step {
  name: string;
  run: () => Promise<void>;
  timeoutMs?: number;
}

class StepFailure extends Error {}

/** Wait for the next client event that matches; rejected by `cancelAll` (the run ends). */
class EventWaiters {
  readonly #waiters = new Set<{ match: (e: AzureIotHubEvt) => boolean; resolve: (e: AzureIotHubEvt) => void; reject: (err: Error) => void }>();

  push(evt: AzureIotHubEvt): void {
    for (const w of [...this.#waiters]) {
      if (w.match(evt)) {
        this.#waiters.delete(w);
        w.resolve(evt);
      }
    }
  }

  next<T extends AzureIotHubEvt['type']>(
    types: readonly T[],
    match: (e: Extract<AzureIotHubEvt, { type: T }>) => boolean = () => true,
  ): Promise<Extract<AzureIotHubEvt, { type: T }>> {
    const promise = new Promise<Extract<AzureIotHubEvt, { type: T }>>((resolve, reject) => {
      this.#waiters.add({
        match: (e) => (types as readonly string[]).includes(e.type) && match(e as Extract<AzureIotHubEvt, { type: T }>),
        resolve: resolve as (e: AzureIotHubEvt) => void,
        reject,
      });
    });
    promise.catch(() => undefined); // a step that failed earlier no longer awaits it: cancelAll must not crash
    return promise;
  }

  cancelAll(): void {
    for (const w of this.#waiters) w.reject(new Error('the demo ended'));
    this.#waiters.clear();
  }
}

function errorText(err: unknown): string {
  if (err instanceof AzureIotHubError) return `${err.message} (${err.code})`;
  return err instanceof Error ? err.message : String(err);
}

/** `1.2 ms`, `35 ms`, `1.25 s`. */
export function formatDuration(ms: number): string {
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(2)} s`;
}

/** `512 B`, `7.4 KiB`, `1.5 MiB`. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const [value, unit] = n < 1024 * 1024 ? [n / 1024, 'KiB'] : [n / 1024 / 1024, 'MiB'];
  return `${value.toFixed(1).replace(/\.0$/, '')} ${unit}`;
}

/** `[######------]  50%`: `percent` (0..100) as a bar of `cells` cells; block characters on a terminal. */
export function progressBar(percent: number, cells: number, unicode: boolean): string {
  const p = Math.max(0, Math.min(100, Math.floor(percent)));
  const full = Math.round((p / 100) * cells);
  const [on, off] = unicode ? ['█', '░'] : ['#', '-'];
  return `[${on.repeat(full)}${off.repeat(cells - full)}] ${String(p).padStart(3)}%`;
}

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** A deterministic pseudo-random walk, so every run prints the same readings. */
class SimulatedSensor {
  #x = 20240601;
  #temperature = 21.0;
  #humidity = 45.0;

  #next(): number {
    this.#x = (Math.imul(this.#x, 1103515245) + 12345) >>> 0;
    return this.#x / 2 ** 32 - 0.5;
  }

  read(): { temperature: number; humidity: number } {
    this.#temperature = Math.round((this.#temperature + this.#next() * 1.2) * 10) / 10;
    this.#humidity = Math.round((this.#humidity + this.#next() * 2) * 10) / 10;
    return { temperature: this.#temperature, humidity: this.#humidity };
  }
}

/** Resolve when `openssl version` runs; reject with a message that says how to install it. */
function checkOpenssl(env: Readonly<Record<string, string | undefined>>): Promise<void> {
  // The lookup follows the given PATH (tests point it elsewhere); without one, the process's.
  const options = env['PATH'] === undefined ? {} : { env: { PATH: env['PATH'] } };
  return new Promise((resolve, reject) => {
    execFile('openssl', ['version'], options, (err) => {
      if (err === null) {
        resolve();
        return;
      }
      const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
      reject(new StepFailure(missing
        ? 'the demo mints its test certificates with the openssl command, which was not found; install OpenSSL ' +
          '(Debian/Ubuntu: apt-get install openssl; Fedora: dnf install openssl; macOS: brew install openssl) and run it again'
        : `openssl does not run: ${err.message}`));
    });
  });
}

/** The options that say "connect to a real hub" (anything in {@link CONNECTION_OPTIONS}). */
function externalHub(args: ParsedArgs): boolean {
  return Object.keys(CONNECTION_OPTIONS).some((name) => args.has(name));
}

class DemoCommand implements CliCommand {
  readonly name = 'demo';
  readonly summary = 'the quick start: one device through every feature on a local emulator (npm start)';

  async run(argv: readonly string[], io: ResolvedIo): Promise<number> {
    const args = parseOptions(argv, SPECS);
    if (args.flag('help')) {
      io.stdout.write(USAGE);
      return EXIT_OK;
    }
    const quick = args.flag('quick');
    if (quick && args.has('interval')) throw new UsageError('--quick and --interval contradict each other: choose one');
    const settings: DemoSettings = {
      readings: args.integer('readings') ?? DEFAULT_READINGS,
      intervalMs: quick ? 0 : parseDuration('interval', args.string('interval') ?? String(DEFAULT_INTERVAL_MS)),
      quick,
      waitSeconds: args.integer('wait'),
    };
    const run = new DemoRun(io, settings);
    if (!externalHub(args)) {
      if (settings.waitSeconds !== undefined) {
        throw new UsageError('--wait goes with a real hub (--hub or --dps-id-scope): the local demo drives every step itself');
      }
      return run.embedded();
    }
    const connection = await deviceConnection(args);
    return run.external(connection.config, connection.description);
  }
}

/** The `demo` command. */
export const demoCommand: CliCommand = new DemoCommand();

interface DemoSettings {
  readings: number;
  intervalMs: number;
  quick: boolean;
  waitSeconds: number | undefined;
}

/** One run of the demo: the timeline, the device, the emulator (embedded), the steps and the numbers. */
class DemoRun {
  readonly #io: ResolvedIo;
  readonly #settings: DemoSettings;
  readonly #style: Style;
  readonly #timeline: Timeline;
  /** Writes the progress bar in place on a terminal (carriage return, no newline). */
  readonly #barTimeline: Timeline | undefined;
  #barOpen = false;
  #barMilestone = 0;
  readonly #hub = new AzureIotHub();
  readonly #events = new EventWaiters();
  readonly #stats: Stats = { sent: 0, acked: 0, rtts: [], mqttSent: 0, mqttReceived: 0, firmwareBytes: 0 };
  readonly #clientIds = new Set<string>();
  readonly #sensor = new SimulatedSensor();
  #emulator: Emulator | undefined;
  #userDisconnect = false;
  #dpsStartedAt = 0;
  #fotaStartedAt = 0;
  #fotaUrl = '';
  #methodCalls = 0;
  #c2dCount = 0;
  #desiredCount = 0;
  #fotaRunning = false;
  #desiredAck: Promise<void> | undefined;
  #readyPromise: Promise<Extract<AzureIotHubEvt, { type: 'READY' | 'CONNECTION_FAILED' | 'DISCONNECTED' }>> | undefined;
  /** Rejects when the user stops the run (Ctrl-C or `io.signal`); set up by `#runAll`. */
  #stopped: Promise<never> = new Promise<never>(() => undefined);

  constructor(io: ResolvedIo, settings: DemoSettings) {
    this.#io = io;
    this.#settings = settings;
    this.#style = createStyle(colorEnabled(io.stdout, io.env));
    this.#timeline = new Timeline(io.stdout, this.#style, io.now);
    if (io.stdout.isTTY === true) {
      const out: CliOutput = {
        write: (text: string) => io.stdout.write(`\r\u001b[2K${text.replace(/\n$/, '')}`),
      };
      this.#barTimeline = new Timeline(out, this.#style, io.now);
    }
  }

  #say(kind: TimelineKind, label: string, details = ''): void {
    this.#endBar();
    this.#timeline.line(kind, label, details);
  }

  #endBar(): void {
    if (!this.#barOpen) return;
    this.#barOpen = false;
    this.#io.stdout.write('\n');
  }

  // ----------------------------------------------------------------------------------------------------------------
  // The embedded demo

  /** The demo on a local emulator. Resolves with the exit code. */
  async embedded(): Promise<number> {
    const s = this.#settings;
    const started = performance.now();
    const slot = new MemoryFirmwareSlot();
    let ca: CertificateAndKey | undefined;
    let server: CertificateAndKey | undefined;
    let device: CertificateAndKey | undefined;
    const emu = (): Emulator => this.#emulator!;
    this.#say('info', 'demo', `Azure IoT Hub quick start: one device on a local emulator (${s.readings} readings${s.quick ? ', --quick' : ''})`);

    const steps: (Step & { name: DemoStep })[] = [
      {
        name: 'certs',
        run: async () => {
          await checkOpenssl(this.#io.env);
          const t0 = performance.now();
          ca = await createCa('Azure IoT Hub demo root CA');
          [server, device] = await Promise.all([
            createServerCertificate(ca, DEFAULT_HUB_HOST, {
              dnsNames: [DEFAULT_HUB_HOST, DEFAULT_DPS_HOST, 'localhost'],
              ipAddresses: ['127.0.0.1', '::1'],
            }),
            createDeviceCertificate(ca, DEMO_DEVICE_ID),
          ]);
          this.#say('good', 'certs',
            `minted a root CA, the server certificate and ${DEMO_DEVICE_ID}'s certificate (EC P-256, ${formatDuration(performance.now() - t0)})`);
        },
      },
      {
        name: 'emulator',
        run: async () => {
          this.#emulator = await startEmulator({
            ca: ca!,
            serverCertificate: { cert: server!.chain, key: server!.key },
            dpsRetryAfterSeconds: 0,
          });
          const e = emu();
          // An individual X.509 enrollment: DPS accepts a certificate chained to a trusted CA whose CN is the id.
          e.addEnrollment({ registrationId: DEMO_DEVICE_ID, attestation: { type: 'x509' } });
          if (!s.quick) e.firmwareServer!.faults.delayMs = FOTA_LINK_DELAY_MS;
          this.#say('good', 'emulator',
            `hub ${e.hub.host} on ${e.hub.address}:${e.hub.port}\n` +
            `DPS ${e.dps.host} on ${e.dps.address}:${e.dps.port}, id scope ${e.dps.idScope}, ${DEMO_DEVICE_ID} enrolled (X.509)\n` +
            `firmware server ${e.firmware!.origin}`);
        },
      },
      {
        name: 'provision',
        run: async () => {
          const e = emu();
          const config: AzureIotHubConfig = {
            deviceId: DEMO_DEVICE_ID,
            // DPS assigns the hub by name; the TLS connection goes to the emulator's loopback port.
            address: e.hub.address,
            port: e.hub.port,
            credentials: { ca: e.ca.cert, cert: device!.chain, key: device!.key },
            dps: { idScope: e.dps.idScope, hostname: e.dps.host, address: e.dps.address, port: e.dps.port, store: new MemoryDpsStore() },
            fota: this.#fotaConfig(slot, e.ca.cert),
            reconnect: false,
          };
          this.#init(config);
          const ready = this.#events.next(['READY', 'CONNECTION_FAILED', 'DISCONNECTED']);
          this.#readyPromise = ready;
          await this.#hub.connect();
          if (this.#stats.dpsMs === undefined) throw new StepFailure('the client connected without provisioning');
        },
      },
      {
        name: 'connect',
        run: async () => {
          const evt = await this.#readyPromise!;
          if (evt.type !== 'READY') throw new StepFailure(connectFailure(evt));
          if (!emu().isConnected(DEMO_DEVICE_ID)) throw new StepFailure('the hub does not see the device connected');
        },
      },
      { name: 'twin', run: () => this.#twinStep() },
      {
        name: 'telemetry',
        run: async () => {
          await this.#telemetryStep();
          const stored = emu().telemetry(DEMO_DEVICE_ID);
          const tagged = stored.filter((m) => m.properties['sensor'] === 'bme280' && m.systemProperties['$.ct'] === 'application/json');
          if (stored.length !== s.readings || tagged.length !== s.readings) {
            throw new StepFailure(`the hub stored ${stored.length} of ${s.readings} readings (${tagged.length} with their properties)`);
          }
          this.#say('good', 'telemetry', `the hub stored all ${stored.length} readings with their properties`);
        },
      },
      {
        name: 'method',
        run: async () => {
          this.#say('outgoing', 'method', 'the service invokes blink {"count":3} on the device');
          const t0 = performance.now();
          const result = await emu().invokeMethod(DEMO_DEVICE_ID, 'blink', { count: 3 }, { timeoutMs: STEP_TIMEOUT_MS });
          this.#stats.methodMs = performance.now() - t0;
          if (result.status !== 200) throw new StepFailure(`the service got status ${result.status}: ${JSON.stringify(result.payload)}`);
          this.#say('good', 'method',
            `the service got ${result.status} ${payloadText(result.rawPayload)} (round trip ${formatDuration(this.#stats.methodMs)})`);
        },
      },
      {
        name: 'c2d',
        run: async () => {
          const e = emu();
          const received = this.#events.next(['DATA_RECEIVED']);
          const completed = e.waitFor('c2d', (c) => c.deviceId === DEMO_DEVICE_ID && c.kind === 'completed', STEP_TIMEOUT_MS);
          completed.catch(() => undefined); // unobserved when an earlier await fails; the emulator's close rejects it
          this.#say('outgoing', 'c2d', 'the service sends "Hello from the cloud" [priority=high kind=greeting]');
          const t0 = performance.now();
          e.sendC2D(DEMO_DEVICE_ID, 'Hello from the cloud', {
            properties: { priority: 'high', kind: 'greeting' },
            contentType: 'text/plain',
          });
          await received;
          this.#stats.c2dMs = performance.now() - t0;
          await completed;
          this.#say('good', 'c2d', `the device had it ${formatDuration(this.#stats.c2dMs)} after it was sent and acknowledged it (PUBACK)`);
        },
      },
      {
        name: 'desired',
        run: async () => {
          const e = emu();
          const applied = e.waitFor('twinReported', (r) => r.deviceId === DEMO_DEVICE_ID && 'targetTemperature' in r.patch, STEP_TIMEOUT_MS);
          applied.catch(() => undefined);
          this.#say('outgoing', 'desired', 'the service sets desired targetTemperature = 22.5');
          const t0 = performance.now();
          e.updateDesired(DEMO_DEVICE_ID, { targetTemperature: 22.5 });
          await applied;
          await this.#desiredAck;
          this.#stats.desiredMs = performance.now() - t0;
          const reported = e.getTwin(DEMO_DEVICE_ID).reported['targetTemperature'] as { value?: unknown } | undefined;
          if (reported?.value !== 22.5) throw new StepFailure('the twin does not report targetTemperature 22.5');
          this.#say('good', 'desired', `the twin reports targetTemperature 22.5 (applied in ${formatDuration(this.#stats.desiredMs)})`);
        },
      },
      {
        name: 'fota',
        run: async () => {
          const e = emu();
          const image = demoFirmwareImage(DEMO_FIRMWARE_BYTES);
          const published = e.publishFirmware(`fw/demo-${DEMO_NEW_FIRMWARE_VERSION}.bin`, image);
          const done = this.#events.next(['FOTA_DONE', 'FOTA_ERROR']);
          const applying = e.waitFor('twinReported', (r) => r.deviceId === DEMO_DEVICE_ID &&
            (r.patch['firmware'] as { fwUpdateStatus?: unknown } | undefined)?.fwUpdateStatus === 'applying', STEP_TIMEOUT_MS);
          applying.catch(() => undefined);
          this.#say('outgoing', 'fota',
            `the service publishes firmware ${DEMO_NEW_FIRMWARE_VERSION} (${formatBytes(image.length)}) and sets desired.firmware`);
          e.updateDesired(DEMO_DEVICE_ID, {
            firmware: {
              fwVersion: DEMO_NEW_FIRMWARE_VERSION,
              jobId: `demo-fw-${DEMO_NEW_FIRMWARE_VERSION}`,
              fwLocation: { protocol: 'https:', host: published.host, path: published.path },
              fwFragmentSize: FOTA_FRAGMENT_BYTES,
              sha256: published.sha256,
              size: published.size,
            },
          });
          const evt = await done;
          if (evt.type === 'FOTA_ERROR') throw new StepFailure(`the download failed: ${errorText(evt.data.fota.error)}`);
          await applying;
          const fin = slot.finalized;
          if (fin === undefined || fin.sha256 !== published.sha256 || !sameBytes(slot.image(), image)) {
            throw new StepFailure('the image in the firmware slot differs from the published one');
          }
          this.#say('good', 'fota',
            `image ${fin.version} in the slot, SHA-256 ${fin.sha256.slice(0, 12)}… verified; reported "applying": reboot to run it`);
        },
      },
      {
        name: 'disconnect',
        run: async () => {
          const gone = emu().waitFor('disconnect', (d) => d.service === 'hub' && d.clientId === DEMO_DEVICE_ID, STEP_TIMEOUT_MS);
          gone.catch(() => undefined);
          const down = this.#events.next(['DISCONNECTED']);
          this.#userDisconnect = true;
          await this.#hub.disconnect();
          await down;
          const d = await gone;
          if (!d.graceful) throw new StepFailure(`the hub saw no clean close: ${d.reason}`);
          this.#say('good', 'disconnected', 'sent DISCONNECT; the hub saw a clean close');
        },
      },
    ];
    return this.#runAll(steps, started);
  }

  // ----------------------------------------------------------------------------------------------------------------
  // Against a real hub

  /** The demo against a real hub (or DPS): device-side steps, and the service side driven by the user or skipped. */
  async external(config: AzureIotHubConfig, description: string): Promise<number> {
    const s = this.#settings;
    const started = performance.now();
    const wait = s.waitSeconds;
    const slot = new MemoryFirmwareSlot();
    this.#say('info', 'demo', `Azure IoT Hub quick start against your hub (${s.readings} readings)`);
    if (wait !== undefined) {
      const ca = config.credentials?.ca;
      // Firmware usually sits behind a public CA (blob storage); a --ca for the hub is trusted in addition.
      const fotaCa = ca === undefined ? undefined : [...rootCertificates, ...(Array.isArray(ca) ? ca : [ca])];
      config.fota = this.#fotaConfig(slot, fotaCa);
    }
    const steps: Step[] = [
      {
        name: 'connect',
        run: async () => {
          this.#say('progress', 'connecting', description);
          this.#init(config);
          const ready = this.#events.next(['READY', 'CONNECTION_FAILED', 'DISCONNECTED']);
          await this.#hub.connect();
          const evt = await ready;
          if (evt.type !== 'READY') throw new StepFailure(connectFailure(evt));
        },
        timeoutMs: (config.dps?.timeoutMs ?? 90_000) + STEP_TIMEOUT_MS,
      },
      { name: 'twin', run: () => this.#twinStep() },
      { name: 'telemetry', run: () => this.#telemetryStep() },
      {
        name: 'service',
        run: async () => {
          if (wait === undefined) {
            this.#say('warning', 'skipped',
              'direct method, C2D message, desired change and FOTA job need the service side:\n' +
              'run again with --wait 300 and drive them from the Azure portal or the az CLI');
            return;
          }
          await this.#waitForService(wait);
        },
        timeoutMs: (wait ?? 0) * 1000 + STEP_TIMEOUT_MS,
      },
      {
        name: 'disconnect',
        run: async () => {
          const down = this.#events.next(['DISCONNECTED']);
          this.#userDisconnect = true;
          await this.#hub.disconnect();
          await down;
          this.#say('good', 'disconnected', 'sent DISCONNECT');
        },
      },
    ];
    return this.#runAll(steps, started);
  }

  /** Print the az CLI commands, then wait until a method, a C2D message and a desired change arrived (or time out). */
  async #waitForService(seconds: number): Promise<void> {
    const hubName = this.#hub.hubHostname.split('.')[0] ?? this.#hub.hubHostname;
    const id = shellQuote(this.#hub.deviceId);
    const n = shellQuote(hubName);
    this.#say('info', 'waiting',
      `up to ${seconds} s for the service side; from the Azure portal or the az CLI (azure-iot extension):\n` +
      `az iot hub invoke-device-method -n ${n} -d ${id} --method-name blink --method-payload '{"count":3}'\n` +
      `az iot device c2d-message send -n ${n} -d ${id} --data 'Hello from the cloud' --props 'priority=high'\n` +
      `az iot hub device-twin update -n ${n} -d ${id} --desired '{"targetTemperature":22.5}'`);
    const deadline = performance.now() + seconds * 1000;
    const complete = (): boolean => this.#methodCalls > 0 && this.#c2dCount > 0 && this.#desiredCount > 0 && !this.#fotaRunning;
    while (!complete() && performance.now() < deadline) {
      // The handlers count what arrives; look again every 250 ms.
      await Promise.race([new Promise((resolve) => setTimeout(resolve, Math.min(250, deadline - performance.now()))), this.#stopped]);
    }
    const missing = [
      this.#methodCalls === 0 ? 'direct method' : '',
      this.#c2dCount === 0 ? 'C2D message' : '',
      this.#desiredCount === 0 ? 'desired change' : '',
    ].filter((m) => m !== '');
    if (missing.length > 0) this.#say('warning', 'skipped', `nothing arrived in ${seconds} s for: ${missing.join(', ')}`);
    else this.#say('good', 'service', 'a direct method, a C2D message and a desired change were handled');
  }

  // ----------------------------------------------------------------------------------------------------------------
  // Shared steps

  async #twinStep(): Promise<void> {
    const twin = await this.#hub.getTwin();
    const keys = (o: Record<string, unknown>): string => {
      const k = Object.keys(o).filter((x) => !x.startsWith('$'));
      return k.length === 0 ? 'no properties' : k.join(', ');
    };
    this.#say('incoming', 'twin', `desired v${twin.desired.$version} (${keys(twin.desired)}), reported v${twin.reported.$version} (${keys(twin.reported)})`);
    const patch = {
      deviceInfo: { manufacturer: 'Contoso', model: 'demo-sensor', swVersion: DEMO_FIRMWARE_VERSION },
      telemetryIntervalMs: this.#settings.intervalMs,
    };
    const t0 = performance.now();
    const { version } = await this.#hub.updateReported(patch);
    this.#stats.twinMs = performance.now() - t0;
    this.#say('outgoing', 'reported', `${Object.keys(patch).join(', ')}: now reported v${version} (round trip ${formatDuration(this.#stats.twinMs)})`);
  }

  async #telemetryStep(): Promise<void> {
    const { readings, intervalMs } = this.#settings;
    for (let seq = 1; seq <= readings; seq++) {
      if (seq > 1 && intervalMs > 0) await Promise.race([new Promise((r) => setTimeout(r, intervalMs)), this.#stopped]);
      const reading = { seq, ...this.#sensor.read() };
      const properties = { sensor: 'bme280', temperatureAlert: reading.temperature > 22 ? 'true' : 'false' };
      const t0 = performance.now();
      this.#stats.sent++;
      await this.#hub.sendEvent(reading, properties);
      const rtt = performance.now() - t0;
      this.#stats.acked++;
      this.#stats.rtts.push(rtt);
      this.#say('outgoing', 'telemetry',
        `#${seq} ${JSON.stringify(reading)}  [sensor=bme280 temperatureAlert=${properties.temperatureAlert}]  acked in ${formatDuration(rtt)}`);
    }
  }

  // ----------------------------------------------------------------------------------------------------------------
  // The device

  #fotaConfig(slot: MemoryFirmwareSlot, ca: string | string[] | undefined): NonNullable<AzureIotHubConfig['fota']> {
    const fota: NonNullable<AzureIotHubConfig['fota']> = {
      currentVersion: DEMO_FIRMWARE_VERSION,
      storage: slot,
      onProgress: (p) => this.#onProgress(p),
      onDebug: (m) => this.#onFotaDebug(m),
      progressIntervalMs: FOTA_PROGRESS_MS,
    };
    if (ca !== undefined) fota.ca = ca;
    return fota;
  }

  #init(config: AzureIotHubConfig): void {
    this.#clientIds.add(config.deviceId);
    if (config.dps?.registrationId !== undefined) this.#clientIds.add(config.dps.registrationId);
    this.#hub.init(config, (evt) => this.#onEvent(evt));
    this.#hub.onMethod('*', (req) => this.#onMethod(req));
  }

  #onMethod(req: MethodRequest): { status: number; payload: unknown } {
    this.#methodCalls++;
    const body = req.body as { count?: unknown } | undefined;
    const payload = req.name === 'blink' && typeof body?.count === 'number'
      ? { blinked: body.count }
      : { method: req.name, received: req.body ?? null };
    this.#say('incoming', 'method', `${escapeControls(req.name)} ${payloadText(req.payload)}: the device answers 200 ${JSON.stringify(payload)}`);
    return { status: 200, payload };
  }

  #onEvent(evt: AzureIotHubEvt): void {
    switch (evt.type) {
      case 'DPS_CONNECTING':
        this.#dpsStartedAt = performance.now();
        this.#say('progress', 'dps', 'connecting to the Device Provisioning Service');
        break;
      case 'DPS_REGISTERING':
        this.#say('progress', 'dps', 'registering');
        break;
      case 'DPS_DONE':
        this.#stats.dpsMs = performance.now() - this.#dpsStartedAt;
        this.#clientIds.add(evt.data.dps.deviceId);
        this.#say('good', 'dps', `assigned to ${evt.data.dps.assignedHub} as ${evt.data.dps.deviceId} (${formatDuration(this.#stats.dpsMs)})`);
        break;
      case 'CONNECTED':
        this.#say('good', 'connected', `${this.#hub.hubHostname} over TLS (MQTT 3.1.1)`);
        break;
      case 'READY':
        this.#say('good', 'ready', 'subscribed to C2D messages, desired properties and direct methods');
        break;
      case 'DISCONNECTED':
        if (!this.#userDisconnect) {
          this.#say('error', 'disconnected', evt.data?.err === undefined ? 'the link closed' : errorText(evt.data.err));
        }
        break;
      case 'DATA_RECEIVED': {
        this.#c2dCount++;
        const bag = (evt.data.msg.topic.propBag ?? [])
          .filter((p) => !p.key.startsWith('$.') && !p.key.startsWith('iothub-'))
          .map((p) => (p.value === null || p.value === undefined ? p.key : `${p.key}=${p.value}`));
        this.#say('incoming', 'c2d', `${JSON.stringify(payloadText(evt.data.msg.payload))}${bag.length > 0 ? `  [${escapeControls(bag.join(' '))}]` : ''}`);
        break;
      }
      case 'TWIN_DESIRED_RECEIVED':
        this.#onDesired(evt.data.msg.payload);
        break;
      case 'FOTA_START':
        this.#fotaRunning = true;
        this.#fotaStartedAt = performance.now();
        this.#barMilestone = 0;
        this.#say('incoming', 'fota',
          `job ${evt.data.fota.jobId ?? '(no id)'}: ${DEMO_FIRMWARE_VERSION} -> ${evt.data.fota.version ?? '?'} from ${this.#fotaUrl}`);
        break;
      case 'FOTA_DONE':
        this.#fotaRunning = false;
        this.#stats.firmwareMs = performance.now() - this.#fotaStartedAt;
        this.#endBar();
        break;
      case 'FOTA_ERROR':
        this.#fotaRunning = false;
        this.#say('error', 'fota', `failed: ${errorText(evt.data.fota.error)}`);
        break;
      case 'ERROR':
        this.#say('error', 'error', errorText(evt.data.err));
        break;
      default:
        break;
    }
    this.#events.push(evt);
  }

  /** The application's part of a desired change: apply what it knows and acknowledge it in the reported properties. */
  #onDesired(payload: Uint8Array | string): void {
    let patch: Record<string, unknown>;
    try {
      patch = JSON.parse(typeof payload === 'string' ? payload : new TextDecoder().decode(payload)) as Record<string, unknown>;
    } catch {
      return;
    }
    const version = patch['$version'];
    const target = patch['targetTemperature'];
    if (typeof target !== 'number') return; // a firmware job is the FOTA library's business
    this.#desiredCount++;
    this.#say('incoming', 'desired', `targetTemperature = ${target} (desired v${String(version)}): applied`);
    // IoT Plug and Play's acknowledgement of a writable property: value, status code, desired version, description.
    this.#desiredAck = this.#hub.updateReported({ targetTemperature: { value: target, ac: 200, av: version, ad: 'applied' } }).then(
      ({ version: v }) => this.#say('outgoing', 'reported', `targetTemperature acknowledged: now reported v${v}`),
      (err: unknown) => this.#say('error', 'reported', `targetTemperature: ${errorText(err)}`),
    );
  }

  #onFotaDebug(m: AzureIotHubFotaDebug): void {
    if (m.event === 'start') this.#fotaUrl = m.url;
  }

  #onProgress(p: AzureIotHubFotaProgress): void {
    this.#stats.firmwareBytes = p.bytes;
    const text = `${progressBar(p.percent, BAR_CELLS, this.#io.stdout.isTTY === true)}  ${formatBytes(p.bytes)} of ${formatBytes(p.total)}`;
    if (this.#barTimeline !== undefined) {
      this.#barTimeline.line('progress', 'download', text);
      this.#barOpen = true;
      return;
    }
    // Not a terminal: one line per quarter, so a log shows the progress without a line per fragment.
    const milestone = Math.floor(p.percent / 25) * 25;
    if (milestone > this.#barMilestone || (p.percent === 100 && this.#barMilestone < 100)) {
      this.#barMilestone = milestone;
      this.#timeline.line('progress', 'download', text);
    }
  }

  // ----------------------------------------------------------------------------------------------------------------
  // Running the steps

  async #runAll(steps: readonly Step[], started: number): Promise<number> {
    const onPacket = (direction: 'sent' | 'received') => (message: unknown): void => {
      const m = message as MqttPacketMessage;
      if (!this.#clientIds.has(m.clientId)) return;
      if (direction === 'sent') this.#stats.mqttSent += m.size;
      else this.#stats.mqttReceived += m.size;
    };
    const onSent = onPacket('sent');
    const onReceived = onPacket('received');
    subscribe(MQTT_CHANNELS.packetSent, onSent);
    subscribe(MQTT_CHANNELS.packetReceived, onReceived);
    const stop = stopRequested(this.#io.signal);
    this.#stopped = stop.stopped.then((how) => {
      throw new StepFailure(how === 'abort' ? 'stopped' : `stopped (${how})`);
    });
    this.#stopped.catch(() => undefined);
    let failed: { step: string; message: string } | undefined;
    let passed = 0;
    try {
      for (const step of steps) {
        const error = await this.#runStep(step);
        if (error !== undefined) {
          failed = { step: step.name, message: error };
          break;
        }
        passed++;
      }
    } finally {
      stop.cancel();
      await this.#cleanup();
      unsubscribe(MQTT_CHANNELS.packetSent, onSent);
      unsubscribe(MQTT_CHANNELS.packetReceived, onReceived);
    }
    this.#summary(passed, steps.length, failed, performance.now() - started);
    return failed === undefined ? EXIT_OK : EXIT_FAILURE;
  }

  /** Run one step with its timeout and Ctrl-C; resolves with an error message, or undefined when it passed. */
  async #runStep(step: Step): Promise<string | undefined> {
    const ms = step.timeoutMs ?? STEP_TIMEOUT_MS;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new StepFailure(`no result within ${formatDuration(ms)}`)), ms);
    });
    const work = step.run();
    work.catch(() => undefined); // still running after a timeout or Ctrl-C: its late failure is of no interest
    try {
      await Promise.race([work, timeout, this.#stopped]);
      return undefined;
    } catch (err) {
      const message = errorText(err);
      this.#say('error', 'failed', `${step.name}: ${message}`);
      return message;
    } finally {
      clearTimeout(timer);
    }
  }

  async #cleanup(): Promise<void> {
    this.#events.cancelAll();
    const state = this.#hub.state;
    if (state === 'CONNECTED' || state === 'CONNECTING') {
      this.#userDisconnect = true;
      await this.#hub.disconnect().catch(() => undefined);
    }
    this.#endBar();
    await this.#emulator?.close();
  }

  #summary(passed: number, total: number, failed: { step: string; message: string } | undefined, elapsed: number): void {
    const s = this.#stats;
    const lines: string[] = [];
    if (s.sent > 0) {
      const rtt = s.rtts.length === 0 ? '' : `; round trip min ${formatDuration(Math.min(...s.rtts))}, median ${formatDuration(median(s.rtts))}, max ${formatDuration(Math.max(...s.rtts))}`;
      lines.push(`telemetry: ${s.sent} sent, ${s.acked} acknowledged${rtt}`);
    }
    const times = [
      s.dpsMs === undefined ? '' : `DPS ${formatDuration(s.dpsMs)}`,
      s.twinMs === undefined ? '' : `twin update ${formatDuration(s.twinMs)}`,
      s.methodMs === undefined ? '' : `method ${formatDuration(s.methodMs)}`,
      s.c2dMs === undefined ? '' : `C2D ${formatDuration(s.c2dMs)}`,
      s.desiredMs === undefined ? '' : `desired change ${formatDuration(s.desiredMs)}`,
    ].filter((t) => t !== '');
    if (times.length > 0) lines.push(`timings: ${times.join(', ')}`);
    const firmware = s.firmwareBytes > 0
      ? `; firmware ${formatBytes(s.firmwareBytes)} over HTTPS${s.firmwareMs === undefined ? '' : ` in ${formatDuration(s.firmwareMs)}`}`
      : '';
    lines.push(`bytes: MQTT ${formatBytes(s.mqttSent)} sent, ${formatBytes(s.mqttReceived)} received${firmware}`);
    if (failed === undefined) {
      this.#say('good', 'summary', [`all ${total} steps passed in ${formatDuration(elapsed)}`, ...lines].join('\n'));
    } else {
      this.#say('error', 'summary', [`step "${failed.step}" failed (${passed} of ${total} passed): ${failed.message}`, ...lines].join('\n'));
    }
  }
}

/** What CONNACK return codes mean (MQTT 3.1.1 table 3.1). */
const CONNACK_TEXT: Readonly<Record<number, string>> = {
  1: 'unacceptable protocol version',
  2: 'identifier rejected',
  3: 'server unavailable',
  4: 'bad user name or password',
  5: 'not authorized',
};

function connectFailure(evt: Extract<AzureIotHubEvt, { type: 'CONNECTION_FAILED' | 'DISCONNECTED' | 'READY' }>): string {
  if (evt.type === 'CONNECTION_FAILED') {
    const err = evt.data.err;
    return typeof err === 'number' ? `the hub refused the connection (CONNACK ${err}${CONNACK_TEXT[err] === undefined ? '' : `: ${CONNACK_TEXT[err]}`})` : errorText(err);
  }
  if (evt.type === 'DISCONNECTED') return `the link closed before the device was ready${evt.data?.err === undefined ? '' : `: ${errorText(evt.data.err)}`}`;
  return 'unexpected event';
}

/** A deterministic image (the same bytes every run, so its SHA-256 is stable). */
export function demoFirmwareImage(size: number): Uint8Array {
  const out = new Uint8Array(size);
  let x = 0x9e3779b9;
  for (let i = 0; i < size; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
