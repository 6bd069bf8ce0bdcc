/**
 * A module identity and a caller-supplied socket (`config.socket`, the C config's socket), against the transport
 * tests' scriptable broker over plain TCP. The emulator has no module identities (its username parser refuses
 * `{host}/{device}/{module}/`), so this checks the client id, username, subscriptions and topics a module uses.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { once } from 'node:events';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { PublishPacket } from '../../../src/codec/types.js';
import { FakeBroker } from '../../transport/fake-broker.js';
import { closeClients, createClient, text, utf8 } from './harness.js';

let broker: FakeBroker;
let socket: Socket;

beforeEach(async () => {
  broker = await FakeBroker.start();
  socket = netConnect({ host: '127.0.0.1', port: broker.port });
  socket.setNoDelay(true);
  await once(socket, 'connect');
});
afterEach(async () => {
  await closeClients();
  socket.destroy();
  await broker.close();
});

function publish(topic: string, payload: string): PublishPacket {
  return { type: 'publish', topic, payload: utf8.encode(payload), qos: 0, dup: false, retain: false };
}

describe('module identity over a caller-supplied socket', () => {
  it('CONNECT as device/module, the module filters, module telemetry and input messages', async () => {
    const { hub, rec } = createClient({
      deviceId: 'dev-1',
      moduleId: 'mod-1',
      hostname: 'hub.example.net',
      socket,
      reconnect: false,
      modelId: 'dtmi:com:example:Thermostat;1',
    });
    await hub.connect();
    const connectPacket = await broker.waitFor((p) => p.type === 'connect');
    expect(connectPacket).toMatchObject({
      clientId: 'dev-1/mod-1',
      username: 'hub.example.net/dev-1/mod-1/?api-version=2021-04-12&model-id=dtmi%3Acom%3Aexample%3AThermostat%3B1',
      cleanSession: false,
      keepalive: 60,
    });
    expect(connectPacket).not.toHaveProperty('password');
    const subscribe = await broker.waitFor((p) => p.type === 'subscribe');
    expect(subscribe.type === 'subscribe' && subscribe.subscriptions).toEqual([
      { topic: 'devices/dev-1/modules/mod-1/#', qos: 1 },
      { topic: '$iothub/twin/res/#', qos: 0 },
      { topic: '$iothub/twin/PATCH/properties/desired/#', qos: 0 },
      { topic: '$iothub/methods/POST/#', qos: 0 },
    ]);
    await rec.waitFor('READY');
    const get = await broker.waitFor((p) => p.type === 'publish');
    expect(get).toMatchObject({ topic: '$iothub/twin/GET/?$rid=1', qos: 0 });
    broker.send(publish('$iothub/twin/res/200/?$rid=1', '{"desired":{"$version":1},"reported":{"$version":1}}'));
    await rec.waitFor('TWIN_RECEIVED');

    await hub.sendEvent('hi', { k: 'v' });
    expect(broker.packets('publish').at(-1)).toMatchObject({ topic: 'devices/dev-1/modules/mod-1/messages/events/k=v', qos: 1 });
    expect(rec.all('PUBACK')).toHaveLength(1);

    broker.send(publish('devices/dev-1/modules/mod-1/inputs/in1/a=1&b', 'input message'));
    const input = await rec.waitFor('DATA_RECEIVED');
    expect(input.topic).toMatchObject({ type: 'DEVICEBOUND', propBag: [{ key: 'a', value: '1' }, { key: 'b', value: null }] });
    expect(text(input.data.msg.payload)).toBe('input message');

    await hub.disconnect();
    expect(rec.types().at(-1)).toBe('DISCONNECTED');
    await broker.waitFor((p) => p.type === 'disconnect');
  });

  it('a filter the hub refuses (SUBACK 0x80): ERROR with EACCES naming it, and READY still follows', async () => {
    broker.behaviour.suback = () => [1, 0x80, 0, 0];
    const { hub, rec } = createClient({ deviceId: 'dev-3', hostname: 'hub.example.net', socket, autoTwinRequest: false });
    await hub.connect();
    await rec.waitFor('READY');
    expect(rec.types()).toEqual(['CONNECTING', 'CONNECTED', 'ERROR', 'READY']);
    expect(rec.all('ERROR')[0]!.data.err).toMatchObject({ code: 'EACCES', message: 'the hub refused the subscription 2 of 4' });
  });

  it('a supplied socket cannot be reopened: after the link drops the default policy does not retry (INIT)', async () => {
    const { hub, rec } = createClient({ deviceId: 'dev-2', hostname: 'hub.example.net', socket, autoTwinRequest: false });
    await hub.connect();
    await rec.waitFor('READY');
    broker.sockets[0]!.destroy();
    const evt = await rec.waitFor('DISCONNECTED');
    expect(evt.data?.err?.code).toBe('ECONNRESET');
    expect(hub.state).toBe('INIT');
    expect(broker.sockets).toHaveLength(1);
  });
});
