/**
 * Small helpers shared by the transport tests.
 */
import { once } from 'node:events';
import type { AzureIotHubError } from '../../src/errors.js';
import { MqttSession, type MqttSessionOptions } from '../../src/transport/index.js';
import type { FakeBroker } from './fake-broker.js';

/** A session on a plain-TCP fake broker, with reconnection off unless the test says otherwise. */
export function plainSession(
  broker: { port: number },
  options: Omit<Partial<MqttSessionOptions>, 'host'> & { host?: string | undefined } = {},
): MqttSession {
  const { host, ...rest } = options;
  return new MqttSession({
    ...('host' in options ? (host === undefined ? {} : { host }) : { host: '127.0.0.1' }),
    port: broker.port,
    tls: false,
    clientId: 'dev1',
    reconnect: false,
    ...rest,
  });
}

export type Recorded = [name: string, arg: unknown];

/** Record every event of a session, in order. */
export function record(session: MqttSession): Recorded[] {
  const log: Recorded[] = [];
  for (const name of ['connecting', 'connected', 'connectionFailed', 'message', 'puback', 'disconnected', 'reconnecting', 'error'] as const) {
    session.on(name, (arg: unknown) => log.push([name, arg]));
  }
  return log;
}

/** Poll `cond` on real time until it holds (each poll yields to I/O). */
export async function until(cond: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** Poll `cond`, yielding with setImmediate (not faked by `vi.useFakeTimers({ toFake: ['setTimeout', ...] })`). */
export async function untilImmediate(cond: () => boolean, maxTurns = 100_000): Promise<void> {
  for (let i = 0; !cond(); i++) {
    if (i > maxTurns) throw new Error('untilImmediate: condition never held');
    await new Promise((r) => setImmediate(r));
  }
}

/** Connect and wait for CONNACK. */
export async function connected(session: MqttSession): Promise<void> {
  const ready = once(session, 'connected');
  await session.connect();
  await ready;
}

/** The error a session's next `disconnected` or `connectionFailed` event carries. */
export function nextFailure(session: MqttSession): Promise<AzureIotHubError | undefined> {
  return new Promise((resolve) => {
    const on = (err: AzureIotHubError | undefined): void => {
      session.off('disconnected', on);
      session.off('connectionFailed', on);
      resolve(err);
    };
    session.on('disconnected', on);
    session.on('connectionFailed', on);
  });
}

/** Settle state of a promise, without waiting. */
export function track<T>(p: Promise<T>): { settled: number; value?: T; error?: unknown } {
  const s: { settled: number; value?: T; error?: unknown } = { settled: 0 };
  p.then(
    (v) => {
      s.settled++;
      s.value = v;
    },
    (e: unknown) => {
      s.settled++;
      s.error = e;
    },
  );
  return s;
}

export type { FakeBroker };
