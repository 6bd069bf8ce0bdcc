/**
 * `azure-iot-hub emulator` and `azure-iot-hub device` together: the emulator command runs in-process (its
 * credentials.json feeds `device --emulator DIR`), devices run in-process through `runCli` or as real processes
 * (stdin lines, Ctrl-C). What the emulator received is the proof; the printed timeline is checked too.
 */
import { createServer } from 'node:net';
import { access, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Emulator } from '../../src/emulator/emulator.js';
import type { DisconnectEvent } from '../../src/emulator/types.js';
import { capture, run, spawnCli } from './helpers.js';

const text = (b: Uint8Array): string => new TextDecoder().decode(b);
const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** A timeline line: time, label padded to its column, details starting with `details` ('': any details or none). */
const line = (label: string, details: string): RegExp =>
  new RegExp(`^\\d\\d:\\d\\d:\\d\\d\\.\\d{3}  ${details === '' ? `${escape(label)}(?: |$)` : escape(label.padEnd(13)) + escape(details)}`, 'm');

let tmp: string;
let dir: string;
let emu: Emulator;
let emulatorOut: ReturnType<typeof capture>;
let stopEmulator: AbortController;
let emulatorExit: Promise<{ code: number; stdout: string; stderr: string }>;
let sasKey: string;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'cli-device-test-'));
  dir = join(tmp, 'emu');
  stopEmulator = new AbortController();
  emulatorOut = capture();
  let ready!: (e: Emulator) => void;
  const started = new Promise<Emulator>((resolve) => (ready = resolve));
  emulatorExit = run(
    ['emulator', '--out', dir, '--retry-after=0', ...['msg', 'live', 'pipe', 'sigint', 'color', 'dps', 'bad'].flatMap((d) => ['--device', d])],
    { stdout: emulatorOut, signal: stopEmulator.signal, onEmulatorReady: (e) => ready(e) },
  );
  const early = emulatorExit.then((r) => {
    throw new Error(`the emulator command ended early (${r.code}): ${r.stderr}`);
  });
  emu = await Promise.race([started, early]);
  const creds = JSON.parse(await readFile(join(dir, 'credentials.json'), 'utf8')) as { devices: { deviceId: string; primaryKey?: string }[] };
  sasKey = creds.devices.find((d) => d.deviceId === 'msg-sas')!.primaryKey!;
});

afterAll(async () => {
  stopEmulator.abort();
  await emulatorExit;
  await rm(tmp, { recursive: true, force: true });
});

describe('emulator', () => {
  it('prints host, ports, CA file and ready-made device credentials, and how to connect a device', () => {
    const out = emulatorOut.text();
    expect(out).toContain(`${emu.hub.host} on 127.0.0.1:${emu.hub.port}`);
    expect(out).toContain(`127.0.0.1:${emu.dps.port}, id scope ${emu.dps.idScope}`);
    expect(out).toContain(`CA        ${join(dir, 'ca.pem')}`);
    expect(out).toContain(`certificate   ${join(dir, 'msg.cert.pem')}`);
    expect(out).toContain(`primary key   ${sasKey}`);
    expect(out).toContain(`Connect a device:  azure-iot-hub device --emulator ${dir}`);
  });
});

describe('device --message', () => {
  it('sends each message, exits 0 after the PUBACKs and disconnects cleanly', async () => {
    const gone = emu.waitFor('disconnect', (e) => e.clientId === 'msg');
    const r = await run(['device', '--emulator', dir, '--device-id', 'msg', '--message', 'hello', '--message', '{ "t": 21.5 }', '--property', 'k=v w', '--property', 'flag']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const got = emu.telemetry('msg');
    expect(got.map((m) => text(m.payload))).toEqual(['hello', '{ "t": 21.5 }']);
    expect(got[0]!.properties).toEqual({ k: 'v w', flag: null });
    expect(got[0]!.systemProperties['$.ct']).toBeUndefined();
    // JSON goes as typed, marked as JSON so IoT Hub can route on the body.
    expect(got[1]!.systemProperties['$.ct']).toBe('application/json');
    expect(got[1]!.systemProperties['$.ce']).toBe('utf-8');
    expect(got.every((m) => m.qos === 1)).toBe(true);
    expect((await gone).graceful).toBe(true);
    expect(r.stdout).toMatch(line('connecting', `msg on ${emu.hub.host} (127.0.0.1:${emu.hub.port}), X.509`));
    expect(r.stdout).toMatch(line('connected', emu.hub.host));
    expect(r.stdout).toMatch(line('ready', 'receiving C2D messages'));
    expect(r.stdout).toMatch(line('sent', '#1 hello'));
    expect(r.stdout).toMatch(line('sent', '#2 {"t":21.5}'));
    expect(r.stdout).toMatch(line('done', 'sent 2; received 0 C2D'));
    expect(r.stdout).toMatch(/^\S+  disconnected$/m);
  });

  it('--count without --message sends generated messages; --qos 0; SAS without printing the key', async () => {
    emu.clearTelemetry();
    const r = await run(['device', '--emulator', dir, '--device-id', 'msg-sas', '--count', '3', '--qos', '0', '--interval', '1ms']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(line('connecting', 'msg-sas on'));
    expect(r.stdout).toContain(', SAS');
    const got = await emu.waitForTelemetry('msg-sas', 3);
    expect(got.map((m) => (JSON.parse(text(m.payload)) as { seq: number }).seq)).toEqual([1, 2, 3]);
    expect(got.every((m) => m.qos === 0)).toBe(true);
    expect(r.stdout).toMatch(line('sent', '#3 {"seq":3,'));
    expect(r.stdout + r.stderr).not.toContain(sasKey);
  });

  it('connects with explicit options (--hub --address --port --ca --cert --key), as for a real hub', async () => {
    emu.clearTelemetry();
    const r = await run([
      'device', '--hub', emu.hub.host, '--address', '127.0.0.1', '--port', String(emu.hub.port), '--ca', join(dir, 'ca.pem'),
      '--device-id', 'msg', '--cert', join(dir, 'msg.cert.pem'), '--key', join(dir, 'msg.key.pem'), '--message', 'explicit',
    ]);
    expect(r.code).toBe(0);
    expect(emu.telemetry('msg').map((m) => text(m.payload))).toEqual(['explicit']);
  });

  it('--emulator DIR --dps provisions through the emulator DPS first', async () => {
    const store = join(tmp, 'dps-store', 'dps.json');
    const r = await run(['device', '--emulator', dir, '--device-id', 'dps-sas', '--dps', '--dps-store', store, '--message', 'provisioned']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(line('connecting', `dps-sas via DPS ${emu.dps.host} (127.0.0.1:${emu.dps.port}), id scope ${emu.dps.idScope}, SAS`));
    expect(r.stdout).toMatch(line('dps', 'registering'));
    expect(r.stdout).toMatch(line('dps', `assigned to ${emu.hub.host} as dps-sas`));
    expect(emu.telemetry('dps-sas').map((m) => text(m.payload))).toEqual(['provisioned']);
    expect(emu.dpsRegistrations().some((x) => x.registrationId === 'dps-sas')).toBe(true);
    await access(store);
  });

  it('--timeout: fails (exit 1) when a PUBACK never comes', async () => {
    emu.faults.withholdPubacks('bad', 1);
    const r = await run(['device', '--emulator', dir, '--device-id', 'bad', '--message', 'lost?', '--timeout', '300ms']);
    emu.faults.resume('bad');
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(line('timeout', 'not done after 0.3 s'));
    expect(r.stdout).not.toMatch(line('sent', '#1'));
  });
});

describe('device failures', () => {
  it('a refused TCP connection: exit 1 with the reason', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const r = await run(['device', '--emulator', dir, '--device-id', 'bad', '--port', String(port), '--message', 'x']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(line('failed', 'the server refused the TCP connection (ECONNREFUSED)'));
  });

  it('a wrong SAS key: CONNACK 4, exit 1, and the key is not printed', async () => {
    const wrong = Buffer.alloc(32, 7).toString('base64');
    const r = await run(['device', '--emulator', dir, '--device-id', 'bad-sas', '--sas-key', wrong, '--message', 'x']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(line('failed', 'CONNACK 4 (bad user name or password)'));
    expect(r.stdout).not.toContain(wrong);
  });

  it('the link dropped with --no-reconnect: exit 1', async () => {
    const stdin = new PassThrough();
    const out = capture();
    const exit = run(['device', '--emulator', dir, '--device-id', 'bad', '--no-reconnect'], { stdin, stdout: out, signal: new AbortController().signal });
    await expect.poll(() => out.text()).toMatch(line('ready', ''));
    expect(emu.faults.dropConnection('bad')).toBe(true);
    const r = await exit;
    expect(r.code).toBe(1);
    expect(out.text()).toMatch(line('disconnected', ''));
    stdin.end();
  });

  it('--emulator: a folder without credentials, or an unknown device, is a clear error', async () => {
    const none = await run(['device', '--emulator', join(tmp, 'nothing-here'), '--message', 'x']);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('not found: start the emulator with "azure-iot-hub emulator --out');
    const unknown = await run(['device', '--emulator', dir, '--device-id', 'ghost', '--message', 'x']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("the emulator's credentials have no device ghost; it has msg, msg-sas, live");
  });
});

describe('device, interactive', () => {
  it('prints C2D messages, desired changes and method calls; answers methods 200 with the payload; sends stdin lines', async () => {
    const stdin = new PassThrough();
    const out = capture();
    const stop = new AbortController();
    const exit = run(['device', '--emulator', dir, '--device-id', 'live'], { stdin, stdout: out, signal: stop.signal });
    await expect.poll(() => out.text()).toMatch(line('ready', ''));

    emu.sendC2D('live', 'turn on', { properties: { color: 'red' } });
    await expect.poll(() => out.text()).toMatch(line('c2d', 'turn on  ['));
    expect(out.text()).toMatch(/c2d +turn on {2}\[.*color=red/);

    emu.updateDesired('live', { interval: 5 });
    await expect.poll(() => out.text()).toMatch(line('desired', '{"interval":5,"$version":2}'));

    const answer = await emu.invokeMethod('live', 'reboot', { delay: 3 }, { timeoutMs: 5000 });
    expect(answer.status).toBe(200);
    expect(answer.payload).toEqual({ delay: 3 });
    expect(out.text()).toMatch(line('method', 'reboot {"delay":3}  (answered 200, payload echoed)'));

    stdin.write('plain text\n\n{"json": true}\r\n');
    const got = await emu.waitForTelemetry('live', 2);
    expect(got.map((m) => text(m.payload))).toEqual(['plain text', '{"json": true}']);
    expect(got[1]!.systemProperties['$.ct']).toBe('application/json');
    await expect.poll(() => out.text()).toMatch(line('sent', '#2 {"json":true}'));

    stdin.end();
    const r = await exit;
    expect(r.code).toBe(0);
    expect(out.text()).toMatch(line('end of input', ''));
    expect(out.text()).toMatch(line('done', 'sent 2; received 1 C2D, 1 desired, 1 method'));
    expect(emu.isConnected('live')).toBe(false);
  });

  it('stops cleanly (exit 0, DISCONNECT) when aborted, as Ctrl-C does', async () => {
    const stdin = new PassThrough();
    const out = capture();
    const stop = new AbortController();
    const exit = run(['device', '--emulator', dir, '--device-id', 'live-sas'], { stdin, stdout: out, signal: stop.signal });
    await expect.poll(() => out.text()).toMatch(line('ready', ''));
    const gone = emu.waitFor('disconnect', (e) => e.clientId === 'live-sas');
    stop.abort();
    expect((await exit).code).toBe(0);
    expect((await gone).graceful).toBe(true);
    expect(out.text()).toMatch(/^\S+  stopping$/m);
  });

  it('Ctrl-C while DPS is registering cancels the registration and exits 0', async () => {
    emu.faults.dpsStopAnswering(true);
    try {
      const out = capture();
      const stop = new AbortController();
      const exit = run(['device', '--emulator', dir, '--device-id', 'dps', '--dps', '--dps-store', join(tmp, 'dps-cancel.json')], {
        stdin: new PassThrough(),
        stdout: out,
        signal: stop.signal,
      });
      await expect.poll(() => out.text()).toMatch(line('dps', 'registering'));
      stop.abort();
      const r = await exit;
      expect(r.code).toBe(0);
      expect(out.text()).toMatch(line('dps', 'cancelled'));
      expect(out.text()).not.toMatch(/failed/);
    } finally {
      emu.faults.dpsStopAnswering(false);
    }
  });

  it('reconnects after the link drops, and says so', async () => {
    const stdin = new PassThrough();
    const out = capture();
    const stop = new AbortController();
    const exit = run(['device', '--emulator', dir, '--device-id', 'live'], { stdin, stdout: out, signal: stop.signal });
    await expect.poll(() => out.text()).toMatch(line('ready', ''));
    emu.faults.dropConnection('live');
    await expect.poll(() => out.text()).toMatch(line('disconnected', ''));
    expect(out.text()).toMatch(/disconnected +.*; reconnecting/);
    await expect.poll(() => out.text().split(/ ready /).length, { timeout: 5000 }).toBe(3);
    expect(out.text()).toMatch(line('reconnecting', emu.hub.host));
    stop.abort();
    expect((await exit).code).toBe(0);
  });
});

describe('device colours', () => {
  const argv = (): string[] => ['device', '--emulator', dir, '--device-id', 'color', '--message', 'c'];

  it('colours a terminal, and not with NO_COLOR, not on a pipe; FORCE_COLOR forces', async () => {
    const tty = await run(argv(), { stdout: capture(true), env: {} });
    expect(tty.code).toBe(0);
    expect(tty.stdout).toContain('\u001b[');
    const noColor = await run(argv(), { stdout: capture(true), env: { NO_COLOR: '1' } });
    expect(noColor.code).toBe(0);
    expect(noColor.stdout).toMatch(line('sent', '#1 c'));
    expect(noColor.stdout).not.toContain('\u001b');
    const pipe = await run(argv(), { stdout: capture(false), env: {} });
    expect(pipe.stdout).not.toContain('\u001b');
    const forced = await run(argv(), { stdout: capture(false), env: { FORCE_COLOR: '1' } });
    expect(forced.stdout).toContain('\u001b[');
  });
});

describe('device as a process', () => {
  it('sends stdin lines as telemetry and exits 0 at end of input', async () => {
    const child = spawnCli(['device', '--emulator', dir, '--device-id', 'pipe']);
    child.proc.stdin!.end('first line\n{"n":2}\n');
    expect(await child.exited).toBe(0);
    expect(emu.telemetry('pipe').map((m) => text(m.payload))).toEqual(['first line', '{"n":2}']);
    expect(child.stdout()).toMatch(line('end of input', ''));
    expect(child.stdout()).not.toContain('\u001b');
    expect(child.stderr()).toBe('');
  });

  it('Ctrl-C (SIGINT) disconnects cleanly and exits 0', async () => {
    const child = spawnCli(['device', '--emulator', dir, '--device-id', 'sigint']);
    try {
      await expect.poll(() => child.stdout(), { timeout: 15_000 }).toMatch(line('ready', ''));
      const gone = emu.waitFor('disconnect', (e: DisconnectEvent) => e.clientId === 'sigint');
      child.proc.kill('SIGINT');
      expect(await child.exited).toBe(0);
      expect((await gone).graceful).toBe(true);
      expect(child.stdout()).toMatch(line('stopping', 'SIGINT received'));
      expect(child.stdout()).toMatch(/^\S+  disconnected$/m);
    } finally {
      child.proc.kill('SIGKILL');
    }
  });
});
