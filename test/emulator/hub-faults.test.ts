/**
 * Keepalive enforcement, fault controls and the packet log of the emulator's hub, with raw packets.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encode } from '../../src/codec/index.js';
import { startEmulator, type Emulator } from '../../src/emulator/emulator.js';
import type { PacketLogEntry } from '../../src/emulator/packet-log.js';
import { connectDevice, subscribe, text, utf8, type RawClient } from './raw-client.js';

let emu: Emulator;
let n = 0;

beforeAll(async () => {
  emu = await startEmulator({ firmware: false });
});

afterAll(async () => {
  await emu.close();
});

async function device(keepalive = 60): Promise<{ id: string; key: string; client: RawClient }> {
  const id = `f-${++n}`;
  const key = emu.registerDevice({ deviceId: id, auth: { type: 'sas' } }).primaryKey!;
  const { client, connack } = await connectDevice(emu, { deviceId: id, sasKey: key, keepalive });
  expect(connack.returnCode).toBe(0);
  return { id, key, client };
}

describe('emulator hub: keepalive', () => {
  it('enforces 1.5 times the keepalive, capped at 1177 s, and 1767 s idle when disabled', async () => {
    for (const [ka, ms] of [[60, 90_000], [1177, 1_765_500], [65535, 1_765_500], [0, 1_767_000]] as const) {
      const { id, client } = await device(ka);
      expect(emu.deviceStatus(id).keepaliveTimeoutMs, `keepalive ${ka}`).toBe(ms);
      client.close();
    }
  });

  it('answers PINGREQ and disconnects a silent device', async () => {
    const { id, client } = await device(1);
    await client.barrier();
    const gone = emu.waitFor('disconnect', (e) => e.clientId === id);
    await client.closed; // nothing sent for 1.5 s
    expect(await gone).toMatchObject({ reason: 'keepalive timeout', graceful: false });
  });
});

describe('emulator hub: faults', () => {
  it('drops a connection', async () => {
    const { id, client } = await device();
    const gone = emu.waitFor('disconnect', (e) => e.clientId === id);
    expect(emu.faults.dropConnection(id)).toBe(true);
    await client.closed;
    expect((await gone).reason).toMatch(/fault/);
    expect(emu.faults.dropConnection(id)).toBe(false);
  });

  it('refuses the next CONNECTs with a given code', async () => {
    const { id, key, client } = await device();
    client.close();
    emu.faults.refuseNextConnect(id, 3, 2);
    for (let i = 0; i < 2; i++) {
      const r = await connectDevice(emu, { deviceId: id, sasKey: key });
      expect(r.connack.returnCode).toBe(3);
      await r.client.closed;
    }
    const ok = await connectDevice(emu, { deviceId: id, sasKey: key });
    expect(ok.connack.returnCode).toBe(0);
    ok.client.close();
    expect(() => emu.faults.refuseNextConnect(id, 0)).toThrow(RangeError);
  });

  it('sends a delayed refusing CONNACK before closing', async () => {
    const { id, key, client } = await device();
    client.close();
    emu.faults.refuseNextConnect(id, 5);
    emu.faults.delayResponses(id, 30);
    const t0 = Date.now();
    const r = await connectDevice(emu, { deviceId: id, sasKey: key });
    expect(r.connack.returnCode).toBe(5);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(25);
    await r.client.closed;
    emu.faults.resume(id);
  });

  it('withholds PUBACKs but still processes the messages', async () => {
    const { id, client } = await device();
    emu.faults.withholdPubacks(id, 1);
    const publish = (messageId: number): void => client.send({ type: 'publish', topic: `devices/${id}/messages/events/`,
      payload: utf8(String(messageId)), qos: 1, dup: false, retain: false, messageId });
    publish(1);
    await client.barrier();
    expect(client.received).toEqual([]);
    publish(2);
    expect(await client.nextOf('puback')).toEqual({ type: 'puback', messageId: 2 });
    expect(emu.telemetry(id).map((m) => text(m.payload))).toEqual(['1', '2']);
    emu.faults.withholdPubacks(id); // all, until resume
    publish(3);
    await client.barrier();
    expect(client.received).toEqual([]);
    emu.faults.resume(id);
    publish(4);
    expect((await client.nextOf('puback')).messageId).toBe(4);
    client.close();
  });

  it('delays what it writes to the device', async () => {
    const { id, client } = await device();
    emu.faults.delayResponses(id, 120);
    const t0 = Date.now();
    await client.barrier();
    expect(Date.now() - t0).toBeGreaterThanOrEqual(100); // a lower bound only: timers never fire early
    emu.faults.resume(id);
    await client.barrier();
    client.close();
  });

  it('applies a delay to later connections too, including the CONNACK', async () => {
    const { id, key, client } = await device();
    client.close();
    emu.faults.delayResponses(id, 80);
    const t0 = Date.now();
    const again = await connectDevice(emu, { deviceId: id, sasKey: key });
    expect(again.connack.returnCode).toBe(0);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(60);
    emu.faults.reset();
    again.client.close();
  });

  it('stops answering (even PINGREQ) until resumed', async () => {
    const { id, client } = await device();
    emu.faults.stopAnswering(id);
    client.send({ type: 'pingreq' });
    client.send({ type: 'publish', topic: `devices/${id}/messages/events/`, payload: utf8('still stored'), qos: 1,
      dup: false, retain: false, messageId: 1 });
    await emu.waitForTelemetry(id, 1);
    emu.faults.resume(id);
    await client.barrier();
    expect(client.received).toEqual([]); // the suppressed PINGRESP and PUBACK were never written
    const out = emu.packetLog(id).filter((e) => e.direction === 'out' && e.suppressed === true).map((e) => e.type);
    expect(out).toEqual(['pingresp', 'puback']);
    client.close();
  });

  it('sends raw bytes to the device', async () => {
    const { id, client } = await device();
    const bytes = encode({ type: 'publish', topic: 'anything/at/all', payload: utf8('raw'), qos: 0, dup: false, retain: false });
    expect(emu.faults.sendRaw(id, bytes)).toBe(true);
    const p = await client.nextPublish('anything/');
    expect(text(p.payload)).toBe('raw');
    expect(emu.packetLog(id).at(-1)).toMatchObject({ direction: 'out', type: 'raw', size: bytes.length });
    expect(emu.faults.sendRaw('nobody', bytes)).toBe(false);
    client.close();
  });

  it('forces the next twin responses\' status', async () => {
    const { id, client } = await device();
    await subscribe(client, ['$iothub/twin/res/#'], 0);
    emu.faults.failNextTwin(id, 429, 2);
    const get = (rid: string): void => client.send({ type: 'publish', topic: `$iothub/twin/GET/?$rid=${rid}`,
      payload: new Uint8Array(0), qos: 0, dup: false, retain: false });
    get('1');
    expect((await client.nextPublish('$iothub/twin/res/')).topic).toBe('$iothub/twin/res/429/?$rid=1');
    client.send({ type: 'publish', topic: '$iothub/twin/PATCH/properties/reported/?$rid=2', payload: utf8('{"a":1}'), qos: 0,
      dup: false, retain: false });
    expect((await client.nextPublish('$iothub/twin/res/')).topic).toBe('$iothub/twin/res/429/?$rid=2');
    expect(emu.getTwin(id).reported.$version).toBe(1); // the failed patch was not applied
    emu.faults.failNextTwin(id, 500);
    get('3');
    expect((await client.nextPublish('$iothub/twin/res/')).topic).toBe('$iothub/twin/res/500/?$rid=3');
    get('4');
    expect((await client.nextPublish('$iothub/twin/res/')).topic).toBe('$iothub/twin/res/200/?$rid=4');
    client.close();
  });
});

describe('emulator hub: packet log', () => {
  it('records every packet in order with its fields, and emits packet events', async () => {
    const id = `log-${++n}`;
    const key = emu.registerDevice({ deviceId: id, auth: { type: 'sas' } }).primaryKey!;
    const events: PacketLogEntry[] = [];
    emu.on('packet', (e) => e.clientId === id && events.push(e));
    const { client } = await connectDevice(emu, { deviceId: id, sasKey: key, keepalive: 30 });
    await subscribe(client, [`devices/${id}/messages/devicebound/#`], 1, 3);
    client.send({ type: 'publish', topic: `devices/${id}/messages/events/k=v`, payload: utf8('12345'), qos: 1, dup: false,
      retain: false, messageId: 9 });
    await client.nextOf('puback');
    emu.sendC2D(id, 'c2d');
    const c2d = await client.nextPublish(`devices/${id}/messages/devicebound/`);
    client.send({ type: 'puback', messageId: c2d.messageId! });
    const gone = emu.waitFor('disconnect', (e) => e.clientId === id);
    client.send({ type: 'disconnect' });
    await gone;

    const log = emu.packetLog(id);
    expect(log.map((e) => `${e.direction} ${e.type}`)).toEqual([
      'in connect', 'out connack', 'in subscribe', 'out suback', 'in publish', 'out puback', 'out publish', 'in puback',
      'in disconnect',
    ]);
    expect(log[0]).toMatchObject({ service: 'hub', cleanSession: false, keepalive: 30, username: `${emu.hub.host}/${id}/?api-version=2021-04-12` });
    expect(log[1]).toMatchObject({ returnCode: 0, sessionPresent: false, size: 4 });
    expect(log[2]).toMatchObject({ messageId: 3, filters: [`devices/${id}/messages/devicebound/#`] });
    expect(log[3]).toMatchObject({ messageId: 3, granted: [1] });
    expect(log[4]).toMatchObject({ topic: `devices/${id}/messages/events/k=v`, qos: 1, dup: false, retain: false, messageId: 9,
      payloadSize: 5, size: encode({ type: 'publish', topic: `devices/${id}/messages/events/k=v`, payload: utf8('12345'), qos: 1,
        dup: false, retain: false, messageId: 9 }).length });
    expect(log[6]).toMatchObject({ qos: 1, messageId: c2d.messageId, payloadSize: 3 });
    for (let i = 1; i < log.length; i++) expect(log[i]!.seq).toBeGreaterThan(log[i - 1]!.seq);
    expect(events.map((e) => e.seq)).toEqual(log.map((e) => e.seq));
    emu.clearPacketLog(id);
    expect(emu.packetLog(id)).toEqual([]);
  });
});
