/**
 * `azure-iot-hub device`: a small device for trying a hub by hand. It connects (directly, through DPS, or with the
 * emulator's credentials), prints cloud-to-device messages, desired-property changes and direct-method calls as they
 * arrive (answering every method with 200 and its own payload), and sends telemetry: the `--message` texts (then it
 * exits), or each line read from stdin (until end of input). Ctrl-C disconnects cleanly.
 */
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { AzureIotHub } from '../azure/client.js';
import type { AzureIotHubConfig, AzureIotHubEvt, AzureIotHubPropBag } from '../azure/types.js';
import { validatePropertyKey, validatePropertyValue } from '../azure/validate.js';
import { AzureIotHubError } from '../errors.js';
import { parseDuration, parseOptions, UsageError, type OptionSpecs } from './args.js';
import { colorEnabled, createStyle } from './color.js';
import { EXIT_FAILURE, EXIT_OK, type CliCommand } from './command.js';
import { CONNECTION_HELP, CONNECTION_OPTIONS, deviceConnection } from './device-config.js';
import { stopRequested, type ResolvedIo } from './io.js';
import { escapeControls, payloadText, tryParseJson } from './payload-text.js';
import { Timeline } from './timeline.js';

/** Default `--timeout` for `--message`/`--count` runs: give up when the messages are not acknowledged by then. */
export const DEFAULT_SEND_TIMEOUT_MS = 60_000;

const SPECS: OptionSpecs = {
  ...CONNECTION_OPTIONS,
  message: { type: 'string', multiple: true },
  count: { type: 'integer', min: 1, max: 1_000_000 },
  interval: { type: 'string' },
  property: { type: 'string', multiple: true },
  qos: { type: 'integer', min: 0, max: 1 },
  timeout: { type: 'string' },
  'no-stdin': { type: 'boolean' },
};

const USAGE = `Usage: azure-iot-hub device [options]

A small device for manual testing. It connects, prints cloud-to-device messages, desired-property changes
and direct-method calls as they arrive (each method is answered with status 200 and its own payload), and
sends telemetry: each line read from stdin (JSON when it parses, else text) until end of input (Ctrl-D),
or the --message texts, after which it exits. Ctrl-C disconnects and exits.

${CONNECTION_HELP}

Telemetry:
  --message TEXT          send TEXT (JSON when it parses, else text); repeat for several; exits once
                          every message is acknowledged (PUBACK)
  --count N               send the messages N times (without --message: N generated {"seq":n} messages)
  --interval TIME         pause between messages: 500, 500ms, 2s, 1m (default 0)
  --property KEY=VALUE    application property on every message (KEY alone: no value); repeatable
  --qos 0|1               MQTT QoS of telemetry (default 1: wait for the hub's PUBACK)
  --timeout TIME          with --message/--count: fail when not done by then (default 60s; 0: never)
  --no-stdin              do not read stdin: just listen until Ctrl-C
  --help                  print this help

Examples:
  azure-iot-hub emulator --out ./emu                      (in another terminal)
  azure-iot-hub device --emulator ./emu
  azure-iot-hub device --emulator ./emu --device-id demo-device-sas --message '{"temperature":21.5}'
  azure-iot-hub device --hub my-hub.azure-devices.net --device-id dev1 --sas-key "$KEY"
  azure-iot-hub device --hub my-hub.azure-devices.net --device-id dev1 \\
      --cert certs/dev1.cert.pem --key certs/dev1.key.pem --count 10 --interval 1s
  azure-iot-hub device --dps-id-scope 0ne00000A0A --device-id dev1 --cert dev1.cert.pem --key dev1.key.pem
  sensor-reader | azure-iot-hub device --emulator ./emu

Output: one line per event (time, event, details); coloured on a terminal unless NO_COLOR is set
(FORCE_COLOR=1 forces colours, FORCE_COLOR=0 turns them off).
Exit status: 0 when done (or stopped with Ctrl-C), 1 when connecting or sending failed, 2 for bad options.
`;

/** Counters for the closing line. */
interface Tally {
  sent: number;
  failed: number;
  c2d: number;
  desired: number;
  methods: number;
}

class DeviceCommand implements CliCommand {
  readonly name = 'device';
  readonly summary = 'connect a device: send telemetry, print C2D messages, desired changes and method calls';

  async run(argv: readonly string[], io: ResolvedIo): Promise<number> {
    const args = parseOptions(argv, SPECS);
    if (args.flag('help')) {
      io.stdout.write(USAGE);
      return EXIT_OK;
    }
    const messages = args.strings('message');
    const count = args.integer('count');
    const intervalMs = parseDuration('interval', args.string('interval') ?? '0');
    const timeoutMs = parseDuration('timeout', args.string('timeout') ?? String(DEFAULT_SEND_TIMEOUT_MS));
    const properties = args.strings('property').map(parseProperty);
    const qos = (args.integer('qos') ?? 1) as 0 | 1;
    const batch = messages.length > 0 || count !== undefined;
    if (batch && args.flag('no-stdin')) throw new UsageError('--no-stdin goes without --message and --count (they never read stdin)');
    if (!batch && args.has('timeout')) throw new UsageError('--timeout goes with --message or --count');
    if (!batch && args.has('interval')) throw new UsageError('--interval goes with --message or --count');
    const { config, description } = await deviceConnection(args);

    const timeline = new Timeline(io.stdout, createStyle(colorEnabled(io.stdout, io.env)), io.now);
    const run = new DeviceRun(timeline, properties, qos);
    return run.start(config, description, io, async (signal) => {
      if (!batch) return run.readLines(io, args.flag('no-stdin'), signal);
      const texts = messages.length > 0 ? messages : undefined;
      return run.sendBatch(texts, count ?? 1, intervalMs, signal);
    }, batch ? timeoutMs : 0);
  }
}

/** The `device` command. */
export const deviceCommand: CliCommand = new DeviceCommand();

/** `KEY=VALUE` (or `KEY=`, or `KEY`) as a property-bag entry. */
function parseProperty(text: string): AzureIotHubPropBag {
  const eq = text.indexOf('=');
  const entry: AzureIotHubPropBag = eq === -1 ? { key: text, value: null } : { key: text.slice(0, eq), value: text.slice(eq + 1) };
  try {
    validatePropertyKey(entry.key, 'key');
    validatePropertyValue(entry.value, 'value');
  } catch (err) {
    throw new UsageError(`--property ${JSON.stringify(text)}: ${err instanceof Error ? err.message : String(err)}`);
  }
  return entry;
}

function errorText(err: unknown): string {
  if (err instanceof AzureIotHubError) return `${err.message} (${err.code})`;
  return err instanceof Error ? err.message : String(err);
}

/** What CONNACK return codes mean (MQTT 3.1.1 table 3.1). */
const CONNACK_TEXT: Readonly<Record<number, string>> = {
  1: 'unacceptable protocol version',
  2: 'identifier rejected',
  3: 'server unavailable',
  4: 'bad user name or password',
  5: 'not authorized',
};

/** One run of the device: the client, its events on the timeline, and how the run ends. */
class DeviceRun {
  readonly #timeline: Timeline;
  readonly #properties: readonly AzureIotHubPropBag[];
  readonly #qos: 0 | 1;
  readonly #hub = new AzureIotHub();
  readonly #tally: Tally = { sent: 0, failed: 0, c2d: 0, desired: 0, methods: 0 };
  readonly #work = new AbortController();
  #finish: (code: number) => void = () => undefined;
  #finished = false;
  #userDisconnect = false;
  #failureShown = false;
  #readyOnce = false;
  #markReady: () => void = () => undefined;
  readonly #ready = new Promise<void>((resolve) => {
    this.#markReady = resolve;
  });
  #seq = 0;

  constructor(timeline: Timeline, properties: readonly AzureIotHubPropBag[], qos: 0 | 1) {
    this.#timeline = timeline;
    this.#properties = properties;
    this.#qos = qos;
  }

  /**
   * Connect and run `work` once the device is ready; end on the first of: work done, Ctrl-C (or `io.signal`), the
   * link lost for good, `timeoutMs` (0: none). Then disconnect and resolve with the exit code.
   */
  async start(
    config: AzureIotHubConfig,
    description: string,
    io: ResolvedIo,
    work: (signal: AbortSignal) => Promise<number>,
    timeoutMs: number,
  ): Promise<number> {
    const t = this.#timeline;
    const done = new Promise<number>((resolve) => {
      this.#finish = (code) => {
        if (this.#finished) return;
        this.#finished = true;
        resolve(code);
      };
    });
    try {
      this.#hub.init(config, (evt) => this.#onEvent(evt));
    } catch (err) {
      if (err instanceof AzureIotHubError && err.code === 'EINVAL') throw new UsageError(err.message);
      throw err;
    }
    this.#hub.onMethod('*', (req) => {
      this.#tally.methods++;
      t.line('incoming', 'method', `${req.name} ${payloadText(req.payload)}  (answered 200, payload echoed)`);
      return { status: 200, payload: req.payload.length > 0 ? req.payload : 'null' };
    });

    const stop = stopRequested(io.signal);
    void stop.stopped.then((how) => {
      if (this.#finished) return;
      t.line('info', 'stopping', how === 'abort' ? '' : `${how} received`);
      this.#finish(EXIT_OK);
    });
    let timer: ReturnType<typeof setTimeout> | undefined;
    if (timeoutMs > 0) {
      timer = setTimeout(() => {
        t.line('error', 'timeout', `not done after ${timeoutMs / 1000} s`);
        this.#finish(EXIT_FAILURE);
      }, timeoutMs);
    }

    t.line('progress', 'connecting', description);
    this.#hub.connect().then(
      () => {
        void Promise.race([this.#ready, done]).then(() => {
          if (this.#finished) return;
          work(this.#work.signal).then(
            (code) => this.#finish(code),
            (err: unknown) => {
              if (!this.#finished) t.line('error', 'error', errorText(err));
              this.#finish(EXIT_FAILURE);
            },
          );
        });
      },
      (err: unknown) => {
        // After Ctrl-C the connection attempt is cancelled on purpose: that is no failure to report.
        if (!this.#failureShown && !this.#finished) t.line('error', 'failed', errorText(err));
        this.#finish(EXIT_FAILURE);
      },
    );

    const code = await done;
    stop.cancel();
    if (timer !== undefined) clearTimeout(timer);
    this.#work.abort();
    const state = this.#hub.state;
    if (state === 'CONNECTED' || state === 'CONNECTING') {
      this.#userDisconnect = true;
      try {
        await this.#hub.disconnect();
      } catch (err) {
        t.line('error', 'error', `disconnect: ${errorText(err)}`);
      }
    }
    const n = this.#tally;
    t.line(
      'info',
      'done',
      `sent ${n.sent}${n.failed > 0 ? ` (${n.failed} failed)` : ''}; received ${n.c2d} C2D, ${n.desired} desired, ${n.methods} method`,
    );
    return code === EXIT_OK && n.failed > 0 ? EXIT_FAILURE : code;
  }

  /** Send `texts` (or generated messages) `count` times, `intervalMs` apart. */
  async sendBatch(texts: readonly string[] | undefined, count: number, intervalMs: number, signal: AbortSignal): Promise<number> {
    let first = true;
    for (let i = 0; i < count; i++) {
      for (const text of texts ?? [undefined]) {
        if (!first && intervalMs > 0) await sleep(intervalMs, undefined, { signal });
        first = false;
        if (signal.aborted) return EXIT_OK;
        await this.#send(text ?? JSON.stringify({ seq: this.#seq + 1, time: new Date().toISOString() }));
      }
    }
    return this.#tally.failed > 0 ? EXIT_FAILURE : EXIT_OK;
  }

  /** Send every non-empty stdin line, in order, until end of input (or just wait, with `noStdin`). */
  async readLines(io: ResolvedIo, noStdin: boolean, signal: AbortSignal): Promise<number> {
    if (noStdin) {
      this.#timeline.line('info', 'listening', 'Ctrl-C to quit');
      await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
      return EXIT_OK;
    }
    if (io.stdin.isTTY === true) {
      this.#timeline.line('info', 'listening', 'type a line to send it as telemetry (JSON or text); Ctrl-D or Ctrl-C to quit');
    }
    const lines = createInterface({ input: io.stdin, crlfDelay: Infinity, terminal: false });
    const close = (): void => lines.close();
    signal.addEventListener('abort', close, { once: true });
    try {
      for await (const line of lines) {
        if (signal.aborted) break;
        if (line.trim() === '') continue;
        await this.#send(line);
      }
    } finally {
      signal.removeEventListener('abort', close);
      lines.close();
    }
    if (!signal.aborted) this.#timeline.line('info', 'end of input', '');
    return EXIT_OK;
  }

  async #send(text: string): Promise<void> {
    const bag = [...this.#properties];
    if (tryParseJson(text) !== undefined) {
      // The text goes as it is (not re-serialised); the content type lets IoT Hub route on the body.
      if (!bag.some((p) => p.key === '$.ct')) bag.push({ key: '$.ct', value: 'application/json' });
      if (!bag.some((p) => p.key === '$.ce')) bag.push({ key: '$.ce', value: 'utf-8' });
    }
    const seq = ++this.#seq;
    try {
      await this.#hub.sendEvent(text, bag, { qos: this.#qos });
      this.#tally.sent++;
      this.#timeline.line('outgoing', 'sent', `#${seq} ${payloadText(text)}${this.#qos === 0 ? '  (QoS 0)' : ''}`);
    } catch (err) {
      if (this.#finished) return;
      this.#tally.failed++;
      this.#timeline.line('error', 'send failed', `#${seq} ${payloadText(text)}: ${errorText(err)}`);
    }
  }

  #onEvent(evt: AzureIotHubEvt): void {
    const t = this.#timeline;
    switch (evt.type) {
      case 'CONNECTING':
        if (this.#readyOnce) t.line('progress', 'reconnecting', this.#hub.hubHostname);
        return;
      case 'CONNECTED':
        t.line('good', 'connected', `${this.#hub.hubHostname}${evt.sessionPresent === true ? ' (session present)' : ''}`);
        return;
      case 'CONNECTION_FAILED': {
        const err = evt.data.err;
        const why = typeof err === 'number' ? `CONNACK ${err} (${CONNACK_TEXT[err] ?? 'refused'})` : errorText(err);
        const final = this.#hub.state === 'INIT' || this.#hub.state === 'IDLE';
        t.line('error', 'failed', `${why}${final ? '' : '; retrying'}`);
        if (final) {
          this.#failureShown = true;
          this.#finish(EXIT_FAILURE);
        }
        return;
      }
      case 'READY':
        t.line('good', 'ready', 'receiving C2D messages, desired properties and direct methods');
        this.#readyOnce = true;
        this.#markReady();
        return;
      case 'DISCONNECTED': {
        if (this.#userDisconnect) {
          t.line('info', 'disconnected', '');
          return;
        }
        const final = this.#hub.state === 'INIT';
        const why = evt.data?.err === undefined ? 'the link closed' : errorText(evt.data.err);
        t.line(final ? 'error' : 'warning', 'disconnected', `${why}${final ? '' : '; reconnecting'}`);
        if (final) {
          this.#failureShown = true;
          this.#finish(EXIT_FAILURE);
        }
        return;
      }
      case 'DATA_RECEIVED': {
        this.#tally.c2d++;
        const bag = evt.data.msg.topic.propBag ?? [];
        const props = bag.map((p) => (p.value === null || p.value === undefined ? p.key : `${p.key}=${p.value}`));
        t.line('incoming', 'c2d', `${payloadText(evt.data.msg.payload)}${props.length > 0 ? `  [${escapeControls(props.join(' '))}]` : ''}`);
        return;
      }
      case 'PUBACK':
        return; // the `sent` line says it: a QoS 1 send completes on its PUBACK
      case 'TWIN_RECEIVED':
        t.line('incoming', 'twin', payloadText(evt.data.msg.payload));
        return;
      case 'TWIN_DESIRED_RECEIVED':
        this.#tally.desired++;
        t.line('incoming', 'desired', payloadText(evt.data.msg.payload));
        return;
      case 'TWIN_RESULT_SUCCESS':
        t.line('info', 'twin result', `status ${evt.data.result.status}`);
        return;
      case 'TWIN_RESULT_FAIL':
        t.line('error', 'twin result', `status ${evt.data.result.status} ${payloadText(evt.data.result.payload ?? '')}`);
        return;
      case 'DPS_CONNECTING':
        t.line('progress', 'dps', 'connecting to the Device Provisioning Service');
        return;
      case 'DPS_REGISTERING':
        t.line('progress', 'dps', 'registering');
        return;
      case 'DPS_DONE':
        t.line('good', 'dps', `assigned to ${evt.data.dps.assignedHub} as ${evt.data.dps.deviceId}`);
        return;
      case 'DPS_FAILED':
        this.#failureShown = true;
        if (this.#userDisconnect && evt.data.err.code === 'ECANCELED') t.line('info', 'dps', 'cancelled');
        else t.line('error', 'dps failed', errorText(evt.data.err));
        return;
      case 'DIRECT_METHOD':
        // Only without a handler; the catch-all handler registered in start() answers every method.
        t.line('incoming', 'method', `${evt.data.method.name} ${payloadText(evt.data.method.payload)}`);
        return;
      case 'FOTA_START':
      case 'FOTA_DONE':
      case 'FOTA_ERASE_PENDING':
      case 'FOTA_ERASE_DONE':
      case 'FOTA_ERROR':
        t.line('info', 'fota', evt.type);
        return;
      case 'ERROR':
        t.line('error', 'error', errorText(evt.data.err));
        return;
    }
  }
}
