/**
 * Test harness for Debian's `mosquitto` broker (an independent C implementation of MQTT): writes certificates and a
 * config into a temporary folder, starts `mosquitto -c FILE` in the foreground on a free loopback port, waits until
 * it accepts connections and stops it by pid.
 *
 * The listener is mutual TLS: `require_certificate true` and `use_identity_as_username true`, so the client
 * certificate's CN becomes the MQTT user name.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Where Debian installs the broker; `mosquitto` on the PATH is the fallback. */
export const MOSQUITTO_PATH = existsSync('/usr/sbin/mosquitto') ? '/usr/sbin/mosquitto' : 'mosquitto';

export interface MosquittoOptions {
  /** CA certificate (PEM) that signs client certificates. */
  ca: string;
  /** Server certificate chain and key (PEM). */
  cert: string;
  key: string;
  /** Extra config lines appended to the generated file. */
  extraConfig?: string[];
}

export interface Mosquitto {
  host: '127.0.0.1';
  port: number;
  pid: number;
  /** Everything the broker wrote to stderr so far (its log). */
  log(): string;
  /** Stop the broker (SIGTERM, then SIGKILL after 2 s) and delete its folder. */
  stop(): Promise<void>;
}

/** Whether the mosquitto binary exists, so a test file can skip cleanly on machines without it. */
export function hasMosquitto(): boolean {
  return MOSQUITTO_PATH !== 'mosquitto' || process.env['PATH']?.split(':').some((d) => existsSync(join(d, 'mosquitto'))) === true;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = netConnect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/**
 * Start mosquitto. Retries with another port when the chosen one was taken between probing and binding.
 */
export async function startMosquitto(options: MosquittoOptions): Promise<Mosquitto> {
  const dir = await mkdtemp(join(tmpdir(), 'azure-iot-hub-mosquitto-'));
  try {
    await writeFile(join(dir, 'ca.pem'), options.ca);
    await writeFile(join(dir, 'server.pem'), options.cert);
    await writeFile(join(dir, 'server.key'), options.key, { mode: 0o600 });
    let lastError = '';
    for (let attempt = 0; attempt < 5; attempt++) {
      const port = await freePort();
      const config = [
        'per_listener_settings false',
        'persistence false',
        'log_dest stderr',
        'log_type error',
        'log_type warning',
        'log_type notice',
        'log_type information',
        'connection_messages true',
        // mosquitto 2.x refuses clients without a user name unless told otherwise; with use_identity_as_username the
        // certificate CN is the user name, so no client is anonymous.
        'allow_anonymous false',
        ...(process.getuid?.() === 0 ? ['user root'] : []),
        `listener ${port} 127.0.0.1`,
        `cafile ${join(dir, 'ca.pem')}`,
        `certfile ${join(dir, 'server.pem')}`,
        `keyfile ${join(dir, 'server.key')}`,
        'require_certificate true',
        'use_identity_as_username true',
        ...(options.extraConfig ?? []),
        '',
      ].join('\n');
      const file = join(dir, 'mosquitto.conf');
      await writeFile(file, config);
      const child = spawn(MOSQUITTO_PATH, ['-c', file], { stdio: ['ignore', 'ignore', 'pipe'] });
      let log = '';
      child.stderr!.setEncoding('utf8');
      child.stderr!.on('data', (s: string) => {
        log += s;
      });
      child.once('error', (err) => {
        log += `\nspawn error: ${err.message}`;
      });
      const deadline = Date.now() + 5000;
      let up = false;
      while (Date.now() < deadline && child.exitCode === null && child.signalCode === null) {
        if (await canConnect(port)) {
          up = true;
          break;
        }
        await new Promise((r) => setTimeout(r, 20));
      }
      if (up && child.pid !== undefined) {
        const pid = child.pid;
        return {
          host: '127.0.0.1',
          port,
          pid,
          log: () => log,
          async stop() {
            if (child.exitCode === null && child.signalCode === null) {
              process.kill(pid, 'SIGTERM');
              const timer = setTimeout(() => {
                if (child.exitCode === null && child.signalCode === null) process.kill(pid, 'SIGKILL');
              }, 2000);
              await exited(child);
              clearTimeout(timer);
            }
            await rm(dir, { recursive: true, force: true });
          },
        };
      }
      lastError = log;
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
        process.kill(child.pid, 'SIGKILL');
      }
      await exited(child);
      // A port race shows as "Address already in use"; anything else will not get better by retrying.
      if (!/in use/i.test(log)) break;
    }
    throw new Error(`mosquitto did not start: ${lastError.trim().slice(0, 2000)}`);
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}
