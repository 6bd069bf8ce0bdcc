/**
 * Observability through node:diagnostics_channel: connect, packets sent and received (type, id, size), disconnect;
 * never payloads or credentials.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MQTT_CHANNELS, type MqttSession } from '../../src/transport/index.js';
import { FakeBroker } from './fake-broker.js';
import { connected, plainSession, until } from './helpers.js';

let broker: FakeBroker;
let session: MqttSession | undefined;
const seen: [string, Record<string, unknown>][] = [];
const listeners = Object.entries(MQTT_CHANNELS).map(([key, name]) => {
  const fn = (m: unknown): void => {
    if ((m as { clientId?: string }).clientId === 'diag-dev') seen.push([key, m as Record<string, unknown>]);
  };
  return [name, fn] as const;
});

beforeEach(async () => {
  broker = await FakeBroker.start();
  for (const [name, fn] of listeners) subscribe(name, fn);
});
afterEach(async () => {
  for (const [name, fn] of listeners) unsubscribe(name, fn);
  seen.length = 0;
  session?.destroy();
  await broker.close();
});

describe('diagnostics channels', () => {
  it('report connect, packets (type, id, size) and disconnect, without payloads or passwords', async () => {
    session = plainSession(broker, { clientId: 'diag-dev', username: 'user', password: 'SharedAccessSignature sig=TOPSECRET' });
    await connected(session);
    await session.publish('devices/diag-dev/messages/events/', 'PAYLOAD-SECRET', { qos: 1 });
    broker.send({ type: 'puback', messageId: 999 }); // unknown: a warning, not an error
    broker.send({ type: 'publish', topic: 'c2d', payload: Buffer.from('INCOMING-SECRET'), qos: 1, dup: false, retain: false, messageId: 5 });
    await broker.waitFor((p) => p.type === 'puback');
    await until(() => seen.some(([k]) => k === 'warning'));
    await session.disconnect();
    const text = JSON.stringify(seen);
    for (const secret of ['TOPSECRET', 'PAYLOAD-SECRET', 'INCOMING-SECRET']) expect(text).not.toContain(secret);
    const kinds = seen.map(([k, m]) => (k === 'packetSent' || k === 'packetReceived' ? `${k}:${String(m['type'])}` : k));
    expect(kinds).toEqual([
      'connect',
      'packetSent:connect',
      'packetReceived:connack',
      'connected',
      'packetSent:publish',
      'packetReceived:puback',
      'packetReceived:puback',
      'warning',
      'packetReceived:publish',
      'packetSent:puback',
      'packetSent:disconnect',
      'disconnect',
    ]);
    const pub = seen.find(([k, m]) => k === 'packetSent' && m['type'] === 'publish')![1];
    expect(pub).toMatchObject({ qos: 1, dup: false, topic: 'devices/diag-dev/messages/events/', id: 1 });
    expect(pub['size']).toBe(2 + 2 + 'devices/diag-dev/messages/events/'.length + 2 + 'PAYLOAD-SECRET'.length);
    const connect = seen.find(([k]) => k === 'connect')![1];
    expect(connect).toMatchObject({ host: '127.0.0.1', port: broker.port, attempt: 0 });
    expect(seen.at(-1)![1]['error']).toBeUndefined();
  });
});
