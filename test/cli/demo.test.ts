/**
 * `azure-iot-hub demo` (what `npm start` runs): in-process through `runCli` (plain output, a colour terminal,
 * NO_COLOR, Ctrl-C, openssl missing, bad options), as the real `npm start` child process, and against a "real" hub
 * (the test's own emulator given by --hub/--cert/--key, with the service side skipped, then driven by the test
 * during --wait as a user would from the portal).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_READINGS, DEMO_STEPS, formatBytes, formatDuration, progressBar } from '../../src/cli/demo.js';
import { startEmulator, type Emulator } from '../../src/emulator/emulator.js';
import { capture, ROOT, run } from './helpers.js';

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** A timeline line: time, the label padded to its column, then details starting with `details`. */
const line = (label: string, details: string): RegExp =>
  new RegExp(`^\\d\\d:\\d\\d:\\d\\d\\.\\d{3}  ${escape(label.padEnd(13))}${escape(details)}`, 'm');
const count = (text: string, re: RegExp): number => text.match(new RegExp(re.source, 'gm'))?.length ?? 0;
const SGR = /\u001b\[\d+(;\d+)*m/;

/** The lines every successful embedded run prints, step by step. */
function expectEveryStep(out: string, readings: number): void {
  expect(out).toMatch(line('demo', 'Azure IoT Hub quick start: one device on a local emulator'));
  expect(out).toMatch(line('certs', "minted a root CA, the server certificate and demo-device's certificate"));
  expect(out).toMatch(line('emulator', 'hub emulator.azure-devices.net on 127.0.0.1:'));
  expect(out).toMatch(/^ {27}DPS global\.azure-devices-provisioning\.net on 127\.0\.0\.1:\d+, id scope 0ne00000001, demo-device enrolled \(X\.509\)$/m);
  expect(out).toMatch(line('dps', 'connecting to the Device Provisioning Service'));
  expect(out).toMatch(line('dps', 'registering'));
  expect(out).toMatch(line('dps', 'assigned to emulator.azure-devices.net as demo-device'));
  expect(out).toMatch(line('connected', 'emulator.azure-devices.net over TLS'));
  expect(out).toMatch(line('ready', 'subscribed to C2D messages, desired properties and direct methods'));
  expect(out).toMatch(line('twin', 'desired v1'));
  expect(out).toMatch(line('reported', 'deviceInfo, telemetryIntervalMs: now reported v'));
  for (let i = 1; i <= readings; i++) expect(out).toMatch(line('telemetry', `#${i} {"seq":${i},"temperature":`));
  expect(count(out, line('telemetry', '#'))).toBe(readings);
  expect(out).toMatch(line('telemetry', `the hub stored all ${readings} readings with their properties`));
  expect(out).toMatch(line('method', 'the service invokes blink {"count":3} on the device'));
  expect(out).toMatch(line('method', 'blink {"count":3}: the device answers 200 {"blinked":3}'));
  expect(out).toMatch(line('method', 'the service got 200 {"blinked":3} (round trip'));
  expect(out).toMatch(line('c2d', '"Hello from the cloud"  [priority=high kind=greeting]'));
  expect(out).toMatch(line('c2d', 'the device had it'));
  expect(out).toMatch(line('desired', 'targetTemperature = 22.5 (desired v2): applied'));
  expect(out).toMatch(line('reported', 'targetTemperature acknowledged: now reported v'));
  expect(out).toMatch(line('desired', 'the twin reports targetTemperature 22.5'));
  expect(out).toMatch(line('fota', 'job demo-fw-1.1.0: 1.0.0 -> 1.1.0 from https://127.0.0.1:'));
  expect(out).toMatch(line('fota', 'image 1.1.0 in the slot, SHA-256 '));
  expect(out).toMatch(line('disconnected', 'sent DISCONNECT; the hub saw a clean close'));
  expect(out).toMatch(line('summary', `all ${DEMO_STEPS.length} steps passed in `));
  expect(out).toMatch(new RegExp(`^ {27}telemetry: ${readings} sent, ${readings} acknowledged; round trip min .+, median .+, max .+$`, 'm'));
  expect(out).toMatch(/^ {27}timings: DPS .+, twin update .+, method .+, C2D .+, desired change .+$/m);
  expect(out).toMatch(/^ {27}bytes: MQTT [\d.]+ KiB sent, [\d.]+ KiB received; firmware 128 KiB over HTTPS in .+$/m);
  expect(out).not.toMatch(/^\s+at /m); // no stack trace
}

describe('demo on the embedded emulator, in-process', () => {
  it('--quick: every step, checked on the hub side; plain aligned text when not a terminal; exit 0', async () => {
    const r = await run(['demo', '--quick', '--readings', '3']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expectEveryStep(r.stdout, 3);
    expect(r.stdout).toMatch(line('download', '[########################] 100%  128 KiB of 128 KiB'));
    expect(r.stdout).not.toMatch(SGR);
    expect(r.stdout).not.toContain('\r');
    expect(r.stdout).not.toContain('\u001b');
  });

  it('on a terminal: coloured labels and a progress bar redrawn in place; NO_COLOR keeps the bar, drops colours', async () => {
    const tty = capture(true);
    const coloured = await run(['demo', '--quick', '--readings', '2'], { stdout: tty, env: { TERM: 'xterm-256color' } });
    expect(coloured.code).toBe(0);
    expect(coloured.stdout).toMatch(SGR);
    expect(coloured.stdout).toContain('\r\u001b[2K');
    expect(coloured.stdout).toContain('████████████████████████] 100%');

    const noColor = await run(['demo', '--quick', '--readings', '2'], { stdout: capture(true), env: { NO_COLOR: '1', TERM: 'xterm-256color' } });
    expect(noColor.code).toBe(0);
    expectEveryStep(noColor.stdout.replaceAll(/\r\u001b\[2K[^\r\n]*(?=\r)/g, ''), 2);
    expect(noColor.stdout).not.toMatch(SGR);
    expect(noColor.stdout).toContain('\r\u001b[2K');
  });

  it('without --quick: readings paced by --interval and the download in quarters on a log', async () => {
    const r = await run(['demo', '--readings', '2', '--interval', '5ms']);
    expect(r.code).toBe(0);
    expectEveryStep(r.stdout, 2);
    // The firmware server is slowed to a cellular pace: the bar shows up at each quarter, ending at 100 %.
    const bars = r.stdout.match(/^\S+  download {5}\[[#-]+\] +(\d+)%/gm) ?? [];
    expect(bars.length).toBeGreaterThanOrEqual(2);
    expect(bars.at(-1)).toContain('100%');
  });

  it('stops cleanly on Ctrl-C (the signal): the running step fails, the rest is skipped, exit 1', async () => {
    const stop = new AbortController();
    const out = capture();
    const write = out.write;
    out.write = (t: string) => {
      if (/telemetry {4}#2 /.test(t)) stop.abort();
      return write(t);
    };
    const r = await run(['demo', '--readings', '50', '--interval', '20ms'], { stdout: out, signal: stop.signal });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(line('failed', 'telemetry: stopped'));
    expect(r.stdout).toMatch(line('summary', `step "telemetry" failed (5 of ${DEMO_STEPS.length} passed): stopped`));
    expect(r.stdout).not.toMatch(line('method', ''));
    expect(r.stdout).not.toMatch(/^\s+at /m);
  });

  it('says how to install openssl when it is missing, and fails at the first step', async () => {
    const r = await run(['demo', '--quick'], { env: { PATH: '/nonexistent' } });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(line('failed', 'certs: the demo mints its test certificates with the openssl command, which was not found; install OpenSSL'));
    expect(r.stdout).toMatch(line('summary', `step "certs" failed (0 of ${DEMO_STEPS.length} passed)`));
    expect(r.stdout).not.toMatch(/^\s+at /m);
  });

  it('rejects contradictory options with exit 2; --help documents both modes', async () => {
    const wait = await run(['demo', '--wait', '10']);
    expect(wait.code).toBe(2);
    expect(wait.stderr).toContain('--wait goes with a real hub');
    expect((await run(['demo', '--quick', '--interval', '1s'])).code).toBe(2);
    expect((await run(['demo', '--readings', '0'])).code).toBe(2);
    expect((await run(['demo', 'extra'])).code).toBe(2);
    const help = await run(['demo', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: azure-iot-hub demo [options]');
    expect(help.stdout).toContain(`--readings N            telemetry readings to send (default ${DEFAULT_READINGS})`);
    expect(help.stdout).toContain('--wait SECONDS');
    expect(help.stdout).toContain('--dps-id-scope SCOPE');
    const overview = await run(['--help']);
    expect(overview.stdout).toMatch(/^Commands:\n {2}demo /m); // listed first
  });
});

describe('npm start', () => {
  it('runs the demo with its defaults as a child process: exit 0, every step, no colours on a pipe', async () => {
    const started = Date.now();
    const child = spawn('npm', ['start', '--silent'], { cwd: ROOT, env: { ...process.env, NO_COLOR: undefined, FORCE_COLOR: undefined, npm_config_update_notifier: 'false' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    const seconds = (Date.now() - started) / 1000;
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expectEveryStep(stdout, DEFAULT_READINGS);
    expect(stdout).not.toContain('\u001b');
    // Not a timing assertion: the duration is reported for the README ("well under a minute").
    console.info(`npm start took ${seconds.toFixed(1)} s`);
  }, 90_000);
});

describe('demo against a "real" hub (the test emulator given by connection options)', () => {
  let emu: Emulator;
  let dir: string;
  let files: { ca: string; cert: string; key: string };

  beforeAll(async () => {
    emu = await startEmulator();
    dir = await mkdtemp(join(tmpdir(), 'cli-demo-test-'));
    emu.registerDevice({ deviceId: 'ext', auth: { type: 'x509-ca' } });
    const creds = await emu.createDeviceCredentials('ext');
    files = { ca: join(dir, 'ca.pem'), cert: join(dir, 'ext.cert.pem'), key: join(dir, 'ext.key.pem') };
    await Promise.all([writeFile(files.ca, emu.ca.cert), writeFile(files.cert, creds.chain), writeFile(files.key, creds.key)]);
  });
  afterAll(async () => {
    await emu.close();
    await rm(dir, { recursive: true, force: true });
  });

  const hubArgs = (): string[] => [
    '--hub', emu.hub.host, '--address', '127.0.0.1', '--port', String(emu.hub.port), '--ca', files.ca,
    '--device-id', 'ext', '--cert', files.cert, '--key', files.key,
  ];

  it('runs the device-side steps and skips the service side with a note; exit 0', async () => {
    emu.clearTelemetry();
    const gone = emu.waitFor('disconnect', (d) => d.clientId === 'ext', 20_000);
    const r = await run(['demo', ...hubArgs(), '--quick', '--readings', '2']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(line('demo', 'Azure IoT Hub quick start against your hub (2 readings)'));
    expect(r.stdout).toMatch(line('connecting', `ext on ${emu.hub.host} (127.0.0.1:${emu.hub.port}), X.509`));
    expect(r.stdout).toMatch(line('ready', ''));
    expect(r.stdout).toMatch(line('twin', 'desired v'));
    expect(count(r.stdout, line('telemetry', '#'))).toBe(2);
    expect(r.stdout).toMatch(line('skipped', 'direct method, C2D message, desired change and FOTA job need the service side:'));
    expect(r.stdout).toContain('run again with --wait 300');
    expect(r.stdout).toMatch(line('summary', 'all 5 steps passed'));
    expect(r.stdout).not.toMatch(line('certs', '')); // no emulator of its own
    expect(emu.telemetry('ext').map((m) => m.properties['sensor'])).toEqual(['bme280', 'bme280']);
    expect((await gone).graceful).toBe(true);
  });

  it('--wait: prints the az commands, then handles what the service side does (method, C2D, desired, FOTA)', async () => {
    const subscribed = emu.waitFor('subscribe', (s) => s.clientId === 'ext' && s.subscriptions.some((x) => x.topic.startsWith('$iothub/methods/')), 20_000);
    const pending = run(['demo', ...hubArgs(), '--quick', '--readings', '1', '--wait', '30']);
    await subscribed;
    // The user, from the portal: a method call, a C2D message, a desired change with a firmware job.
    const method = await emu.invokeMethod('ext', 'blink', { count: 2 }, { timeoutMs: 10_000 });
    expect(method).toMatchObject({ status: 200, payload: { blinked: 2 } });
    emu.sendC2D('ext', 'portal says hi', { properties: { from: 'portal' } });
    const image = new Uint8Array(10_000).map((_, i) => i & 0xff);
    const pub = emu.publishFirmware('fw/ext.bin', image);
    emu.updateDesired('ext', {
      targetTemperature: 19.5,
      firmware: { fwVersion: '9.9.9', jobId: 'ext-job', fwLocation: { protocol: 'https:', host: pub.host, path: pub.path }, sha256: pub.sha256 },
    });
    const r = await pending;
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(line('waiting', 'up to 30 s for the service side'));
    expect(r.stdout).toContain(`az iot hub invoke-device-method -n emulator -d ext --method-name blink --method-payload '{"count":3}'`);
    expect(r.stdout).toMatch(line('method', 'blink {"count":2}: the device answers 200 {"blinked":2}'));
    expect(r.stdout).toMatch(line('c2d', '"portal says hi"  [from=portal]'));
    expect(r.stdout).toMatch(line('desired', 'targetTemperature = 19.5'));
    expect(r.stdout).toMatch(line('fota', 'job ext-job: 1.0.0 -> 9.9.9 from https://127.0.0.1:'));
    expect(r.stdout).toMatch(line('download', '[########################] 100%'));
    expect(r.stdout).toMatch(line('service', 'a direct method, a C2D message and a desired change were handled'));
    expect(r.stdout).toMatch(line('summary', 'all 5 steps passed'));
    expect(emu.getTwin('ext').reported['targetTemperature']).toMatchObject({ value: 19.5, ac: 200 });
    expect(emu.getTwin('ext').reported['firmware']).toMatchObject({ fwUpdateStatus: 'applying', pendingFwVersion: '9.9.9' });
  });

  it('a refused connection fails the connect step with the reason, exit 1', async () => {
    emu.registerDevice({ deviceId: 'ext-sas', auth: { type: 'sas' } });
    const r = await run(['demo', '--hub', emu.hub.host, '--address', '127.0.0.1', '--port', String(emu.hub.port), '--ca', files.ca,
      '--device-id', 'ext-sas', '--sas-key', Buffer.from('wrong key, 32 bytes long........').toString('base64'), '--quick']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(line('failed', 'connect: the hub refused the connection (CONNACK 4: bad user name or password)'));
    expect(r.stdout).toMatch(line('summary', 'step "connect" failed (0 of 5 passed)'));
  });
});

describe('demo formatting helpers', () => {
  it('progress bars, durations and sizes', () => {
    expect(progressBar(0, 10, false)).toBe('[----------]   0%');
    expect(progressBar(50, 10, false)).toBe('[#####-----]  50%');
    expect(progressBar(100, 4, true)).toBe('[████] 100%');
    expect(progressBar(120, 4, false)).toBe('[####] 100%');
    expect(formatDuration(1.234)).toBe('1.2 ms');
    expect(formatDuration(35.4)).toBe('35 ms');
    expect(formatDuration(1250)).toBe('1.25 s');
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(128 * 1024)).toBe('128 KiB');
    expect(formatBytes(2900)).toBe('2.8 KiB');
    expect(formatBytes(3 * 1024 * 1024)).toBe('3 MiB');
  });
});
