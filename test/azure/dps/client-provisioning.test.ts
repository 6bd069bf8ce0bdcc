/**
 * `connect()` with `config.dps` against the emulator's DPS: X.509 and symmetric-key attestation (individual and
 * group), the event sequence, the assigned device id, custom payloads, several polls, `retry-after` in either order,
 * failed / disabled / refused registrations, 429 and 5xx retried, the overall timeout, a DPS link drop, cancellation
 * by `disconnect()`, and DPS with a hub in manual input mode.
 */
import { createHmac } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MemoryDpsStore } from '../../../src/azure/dps/memory-store.js';
import type { AzureIotHubError } from '../../../src/errors.js';
import { createCa, createDeviceCertificate, type CertificateAndKey } from '../../../src/emulator/certs.js';
import { startEmulator, type Emulator } from '../../../src/emulator/emulator.js';
import { FaultProxy } from '../../helpers/fault-proxy.js';
import { closeClients, createClient, pump } from '../client/harness.js';
import { dpsConfig, dpsPackets, dpsRequests, keyOf } from './helpers.js';

const HUB_A = 'hub-a.azure-devices.net';
const HUB_B = 'hub-b.azure-devices.net';
let emu: Emulator;
let xInd: CertificateAndKey;
let xMember: CertificateAndKey;

beforeAll(async () => {
  emu = await startEmulator({ hubs: [HUB_A, HUB_B], firmware: false, dpsRetryAfterSeconds: 0 });
  const groupCa = await createCa('dps group CA', { issuer: { cert: emu.ca.cert, key: emu.ca.key!, chain: emu.ca.cert } });
  [xInd, xMember] = await Promise.all([emu.createDeviceCredentials('x-ind'), createDeviceCertificate(groupCa, 'x-member')]);
  emu.addEnrollment({ registrationId: 'x-ind', attestation: { type: 'x509' }, assignedHub: HUB_B });
  emu.addEnrollmentGroup({ groupId: 'g-x509', attestation: { type: 'x509-ca', caCert: groupCa.cert } });
});

afterEach(async () => {
  await closeClients();
  emu.faults.reset();
});

afterAll(async () => {
  await emu.close();
});

function errOf(evt: { data: { err: AzureIotHubError } }): AzureIotHubError {
  return evt.data.err;
}

describe('DPS provisioning in connect()', () => {
  it('X.509 individual enrollment: DPS events, then the assigned hub with the same certificate', async () => {
    const store = new MemoryDpsStore();
    const { hub, rec } = createClient(dpsConfig(emu, 'x-ind', { cert: xInd.chain, key: xInd.key }, store));
    const dpsConnect = emu.waitFor('connect', (c) => c.service === 'dps' && c.clientId === 'x-ind');
    const hubConnect = emu.waitFor('connect', (c) => c.service === 'hub' && c.clientId === 'x-ind');
    await hub.connect();
    await rec.waitFor('READY');
    expect(rec.types()).toEqual(['DPS_CONNECTING', 'DPS_REGISTERING', 'DPS_DONE', 'CONNECTING', 'CONNECTED', 'READY']);
    expect((await rec.waitFor('DPS_DONE')).data.dps).toEqual({ assignedHub: HUB_B, deviceId: 'x-ind' });
    const d = await dpsConnect;
    expect(d).toMatchObject({ auth: 'x509', cleanSession: true, apiVersion: '2019-03-31', username: `${emu.dps.idScope}/registrations/x-ind/api-version=2019-03-31` });
    expect(d.servername).toBe(emu.dps.host);
    const h = await hubConnect;
    expect(h).toMatchObject({ host: HUB_B, auth: 'x509', servername: HUB_B });
    expect(h.username.startsWith(`${HUB_B}/x-ind/?api-version=`)).toBe(true);
    expect(hub.hubHostname).toBe(HUB_B);
    expect(hub.state).toBe('CONNECTED');
    expect(store.assignment).toMatchObject({ idScope: emu.dps.idScope, registrationId: 'x-ind', assignedHub: HUB_B, deviceId: 'x-ind' });
    expect(Number.isNaN(Date.parse(store.assignment!.assignedAt!))).toBe(false);
    // DPS was closed with DISCONNECT before the hub connection opened.
    const dpsLog = dpsPackets(emu, 'x-ind');
    expect(dpsLog.at(-1)).toMatchObject({ direction: 'in', type: 'disconnect' });
    const hubConnectSeq = emu.packetLog('x-ind').find((e) => e.service === 'hub' && e.type === 'connect')!.seq;
    expect(dpsLog.at(-1)!.seq).toBeLessThan(hubConnectSeq);
  });

  it('X.509 enrollment group: a member certificate signed by the group CA', async () => {
    const { hub, rec } = createClient(dpsConfig(emu, 'x-member', { cert: xMember.chain, key: xMember.key }, new MemoryDpsStore()));
    await hub.connect();
    await rec.waitFor('READY');
    expect((await rec.waitFor('DPS_DONE')).data.dps).toEqual({ assignedHub: HUB_A, deviceId: 'x-member' });
    expect(emu.dpsRegistrations().at(-1)).toMatchObject({ registrationId: 'x-member', enrollment: { kind: 'group', groupId: 'g-x509' } });
    expect(emu.isConnected('x-member', HUB_A)).toBe(true);
  });

  it('symmetric key, individual: SAS to DPS (skn=registration), the same key on the hub, the assigned device id', async () => {
    const e = emu.addEnrollment({ registrationId: 'sas-ind', attestation: { type: 'sas' }, assignedHub: HUB_B, deviceId: 'sas-ind-device' });
    const { hub, rec } = createClient(dpsConfig(emu, 'sas-ind', { symmetricKey: keyOf(e) }, new MemoryDpsStore()));
    const dpsConnect = emu.waitFor('connect', (c) => c.service === 'dps' && c.clientId === 'sas-ind');
    await hub.connect();
    await rec.waitFor('READY');
    expect((await dpsConnect).auth).toBe('sas');
    expect((await rec.waitFor('DPS_DONE')).data.dps).toEqual({ assignedHub: HUB_B, deviceId: 'sas-ind-device' });
    // The hub connection uses the device id DPS returned, not the registration id.
    expect(hub.deviceId).toBe('sas-ind-device');
    expect(emu.deviceStatus('sas-ind-device', HUB_B).connection).toMatchObject({ auth: 'sas', clientId: 'sas-ind-device' });
    await hub.sendEvent({ t: 1 });
    const [msg] = await emu.waitForTelemetry('sas-ind-device', 1);
    expect(msg).toMatchObject({ deviceId: 'sas-ind-device', hub: HUB_B });
    // The register request's body is valid JSON naming the registration id.
    expect(emu.dpsRegistrations().at(-1)).toMatchObject({ registrationId: 'sas-ind', status: 'assigned' });
  });

  it('symmetric key, group: the device key is derived with HMAC-SHA256 and also used on the hub', async () => {
    const g = emu.addEnrollmentGroup({ groupId: 'g-sas', attestation: { type: 'sas' }, assignedHub: HUB_B });
    const { hub, rec } = createClient(dpsConfig(emu, 'sas-member-1', { symmetricKey: keyOf(g), groupKey: true }, new MemoryDpsStore()));
    await hub.connect();
    await rec.waitFor('READY');
    const derived = createHmac('sha256', Buffer.from(keyOf(g), 'base64')).update('sas-member-1').digest('base64');
    expect(emu.getDevice('sas-member-1', HUB_B)?.primaryKey).toBe(derived);
    expect(emu.deviceStatus('sas-member-1', HUB_B).connection?.auth).toBe('sas');
  });

  it('a registration id other than the device id, a custom payload, and the allocation payload in DPS_DONE', async () => {
    const e = emu.addEnrollment({ registrationId: 'reg-pay', attestation: { type: 'sas' }, responsePayload: { tier: 'gold' } });
    const cfg = dpsConfig(emu, 'ignored-device-id', { symmetricKey: keyOf(e) }, new MemoryDpsStore(), {
      dps: { registrationId: 'reg-pay', payload: { modelId: 'dtmi:com:example:Thermostat;1', n: 1 } },
    });
    const { hub, rec } = createClient(cfg);
    await hub.connect();
    await rec.waitFor('READY');
    expect((await rec.waitFor('DPS_DONE')).data.dps).toEqual({ assignedHub: HUB_A, deviceId: 'reg-pay', payload: { tier: 'gold' } });
    expect(emu.dpsRegistrations().at(-1)?.payload).toEqual({ modelId: 'dtmi:com:example:Thermostat;1', n: 1 });
    expect(hub.deviceId).toBe('reg-pay');
    const [register] = dpsRequests(emu, 'reg-pay');
    expect(register).toMatch(/^\$dps\/registrations\/PUT\/iotdps-register\/\?\$rid=\d+$/);
  });

  it('polls with the operationId until the assignment, each poll with a new $rid', async () => {
    const e = emu.addEnrollment({ registrationId: 'polls-3', attestation: { type: 'sas' }, polls: 3 });
    const { hub, rec } = createClient(dpsConfig(emu, 'polls-3', { symmetricKey: keyOf(e) }, new MemoryDpsStore()));
    await hub.connect();
    await rec.waitFor('READY');
    const requests = dpsRequests(emu, 'polls-3');
    expect(requests).toHaveLength(5);
    const polls = requests.slice(1);
    for (const p of polls) expect(p).toMatch(/^\$dps\/registrations\/GET\/iotdps-get-operationstatus\/\?\$rid=\d+&operationId=4\./);
    const rids = requests.map((t) => /\$rid=(\d+)/.exec(t)![1]);
    expect(new Set(rids).size).toBe(5);
    const answers = dpsPackets(emu, 'polls-3').filter((p) => p.direction === 'out' && p.type === 'publish').map((p) => p.topic!.split('/')[3]);
    expect(answers).toEqual(['202', '202', '202', '202', '200']);
  });

  it('honours retry-after placed first in the topic, waiting before the poll', async () => {
    const other = await startEmulator({ hubs: [HUB_A], firmware: false, dpsTopicOrder: 'retry-after-first', dpsRetryAfterSeconds: 1,
      ca: { cert: emu.ca.cert, key: emu.ca.key! }, serverCertificate: emu.serverCertificate });
    try {
      const e = other.addEnrollment({ registrationId: 'order-1', attestation: { type: 'sas' } });
      const { hub, rec } = createClient(dpsConfig(other, 'order-1', { symmetricKey: keyOf(e) }, new MemoryDpsStore()));
      await hub.connect();
      await rec.waitFor('READY');
      const log = dpsPackets(other, 'order-1').filter((p) => p.type === 'publish');
      const accepted = log.find((p) => p.direction === 'out')!;
      expect(accepted.topic).toMatch(/^\$dps\/registrations\/res\/202\/\?retry-after=1&\$rid=\d+$/);
      const poll = log.find((p) => p.direction === 'in' && p.topic!.includes('iotdps-get-operationstatus'))!;
      expect(poll.at - accepted.at).toBeGreaterThanOrEqual(950);
      await hub.disconnect();
    } finally {
      await other.close();
    }
  });

  it('a failed registration: DPS_FAILED with EIO, the errorCode status and message; connect() rejects; back to INIT', async () => {
    const e = emu.addEnrollment({ registrationId: 'reg-failed', attestation: { type: 'sas' }, result: 'failed' });
    const { hub, rec } = createClient(dpsConfig(emu, 'reg-failed', { symmetricKey: keyOf(e) }, new MemoryDpsStore()));
    const err = (await hub.connect().catch((x: unknown) => x)) as AzureIotHubError;
    expect(err).toMatchObject({ code: 'EIO', status: 400 });
    expect(err.message).toMatch(/failed.*errorCode 400207.*Custom allocation failed/);
    expect(rec.types()).toEqual(['DPS_CONNECTING', 'DPS_REGISTERING', 'DPS_FAILED']);
    expect(errOf(await rec.waitFor('DPS_FAILED'))).toBe(err);
    expect(hub.state).toBe('INIT');
    expect(emu.getDevice('reg-failed')).toBeUndefined();
  });

  it('a disabled enrollment: DPS_FAILED with EACCES and status 401; connect() can be called again', async () => {
    const e = emu.addEnrollment({ registrationId: 'reg-disabled', attestation: { type: 'sas' }, status: 'disabled' });
    const { hub, rec } = createClient(dpsConfig(emu, 'reg-disabled', { symmetricKey: keyOf(e) }, new MemoryDpsStore()));
    await expect(hub.connect()).rejects.toMatchObject({ code: 'EACCES', status: 401 });
    expect(errOf(await rec.waitFor('DPS_FAILED')).message).toMatch(/disabled.*401002/);
    // Enabled again: the next connect() provisions.
    emu.addEnrollment({ registrationId: 'reg-disabled', attestation: { type: 'sas', primaryKey: keyOf(e) } });
    await hub.connect();
    await rec.waitFor('READY');
    expect(hub.state).toBe('CONNECTED');
  });

  it('a non-retriable error status (400) fails at once with its code and status', async () => {
    const e = emu.addEnrollment({ registrationId: 'reg-400', attestation: { type: 'sas' } });
    const { hub, rec } = createClient(dpsConfig(emu, 'reg-400', { symmetricKey: keyOf(e) }, new MemoryDpsStore()));
    emu.faults.failNextDps(400, 1);
    await expect(hub.connect()).rejects.toMatchObject({ code: 'EINVAL', status: 400 });
    expect(errOf(await rec.waitFor('DPS_FAILED')).message).toMatch(/DPS answered 400 \(errorCode 400001\)/);
    expect(dpsRequests(emu, 'reg-400')).toHaveLength(1);
  });

  it('retries a register answered 429 after its retry-after, then succeeds', async () => {
    const e = emu.addEnrollment({ registrationId: 'reg-429', attestation: { type: 'sas' }, polls: 1 });
    const { hub, rec } = createClient(dpsConfig(emu, 'reg-429', { symmetricKey: keyOf(e) }, new MemoryDpsStore()), { random: () => 0 });
    emu.faults.failNextDps(429, 1, 0);
    await hub.connect().then(() => rec.waitFor('READY'));
    emu.faults.reset();
    const answers = dpsPackets(emu, 'reg-429').filter((p) => p.direction === 'out' && p.type === 'publish').map((p) => p.topic);
    expect(answers[0]).toMatch(/^\$dps\/registrations\/res\/429\/\?\$rid=1&retry-after=0$/);
    expect(dpsRequests(emu, 'reg-429').map((t) => t.split('/')[2])).toEqual(['PUT', 'PUT', 'GET', 'GET']);
  });

  it('retries a register answered 500 twice (no retry-after: jittered backoff), then succeeds', async () => {
    const e = emu.addEnrollment({ registrationId: 'reg-500', attestation: { type: 'sas' } });
    const { hub, rec } = createClient(dpsConfig(emu, 'reg-500', { symmetricKey: keyOf(e) }, new MemoryDpsStore()), { random: () => 0 });
    emu.faults.failNextDps(500, 2);
    await hub.connect();
    await rec.waitFor('READY');
    const statuses = dpsPackets(emu, 'reg-500').filter((p) => p.direction === 'out' && p.type === 'publish').map((p) => p.topic!.split('/')[3]);
    expect(statuses).toEqual(['500', '500', '202', '200']);
    expect(dpsRequests(emu, 'reg-500').map((t) => t.split('/')[2])).toEqual(['PUT', 'PUT', 'PUT', 'GET']);
    expect(rec.types().filter((t) => t.startsWith('DPS_'))).toEqual(['DPS_CONNECTING', 'DPS_REGISTERING', 'DPS_DONE']);
  });

  it('times out with ETIMEDOUT when DPS never answers (dps.timeoutMs)', async () => {
    const e = emu.addEnrollment({ registrationId: 'reg-silent', attestation: { type: 'sas' } });
    const { hub, rec } = createClient(dpsConfig(emu, 'reg-silent', { symmetricKey: keyOf(e) }, new MemoryDpsStore(), { dps: { timeoutMs: 300 } }));
    emu.faults.dpsStopAnswering(true);
    const closed = emu.waitFor('disconnect', (d) => d.service === 'dps' && d.clientId === 'reg-silent');
    await expect(hub.connect()).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    expect(errOf(await rec.waitFor('DPS_FAILED')).message).toMatch(/within 300 ms/);
    expect(rec.types()).toEqual(['DPS_CONNECTING', 'DPS_REGISTERING', 'DPS_FAILED']);
    expect(hub.state).toBe('INIT');
    await closed; // the DPS connection is closed, not left open
  });

  it('times out after a 429 that keeps coming, with the 429 as the cause', async () => {
    const e = emu.addEnrollment({ registrationId: 'reg-throttled', attestation: { type: 'sas' } });
    const { hub, rec } = createClient(dpsConfig(emu, 'reg-throttled', { symmetricKey: keyOf(e) }, new MemoryDpsStore(), { dps: { timeoutMs: 400 } }));
    emu.faults.failNextDps(429, 1000, 0);
    const err = (await hub.connect().catch((x: unknown) => x)) as AzureIotHubError;
    expect(err.code).toBe('ETIMEDOUT');
    expect(err.cause).toMatchObject({ code: 'ENOBUFS', status: 429 });
    await rec.waitFor('DPS_FAILED');
    expect(dpsRequests(emu, 'reg-throttled').length).toBeGreaterThan(1);
  });

  it('a DPS link drop during the registration: DPS_FAILED with ECONNRESET', async () => {
    const proxy = await FaultProxy.start(emu.dps.port);
    try {
      const e = emu.addEnrollment({ registrationId: 'reg-drop', attestation: { type: 'sas' } });
      const { hub, rec } = createClient(
        dpsConfig(emu, 'reg-drop', { symmetricKey: keyOf(e) }, new MemoryDpsStore(), { dps: { address: '127.0.0.1', port: proxy.port } }),
      );
      emu.faults.dpsStopAnswering(true);
      const connecting = hub.connect().catch((x: unknown) => x);
      await rec.waitFor('DPS_REGISTERING');
      await until(() => dpsRequests(emu, 'reg-drop').length === 1);
      proxy.resetAll();
      expect(await connecting).toMatchObject({ code: 'ECONNRESET' });
      expect(rec.types()).toEqual(['DPS_CONNECTING', 'DPS_REGISTERING', 'DPS_FAILED']);
      expect(hub.state).toBe('INIT');
    } finally {
      await proxy.close();
    }
  });

  it('DPS refuses the CONNECT (wrong key): DPS_FAILED with ECONNREFUSED and the CONNACK code, no hub events', async () => {
    emu.addEnrollment({ registrationId: 'reg-wrong', attestation: { type: 'sas' } });
    const { hub, rec } = createClient(dpsConfig(emu, 'reg-wrong', { symmetricKey: Buffer.alloc(32, 7).toString('base64') }, new MemoryDpsStore()));
    await expect(hub.connect()).rejects.toMatchObject({ code: 'ECONNREFUSED', connack: 4 });
    expect(rec.types()).toEqual(['DPS_CONNECTING', 'DPS_FAILED']);
    // No key or token in what the application sees.
    const message = errOf(await rec.waitFor('DPS_FAILED')).message;
    expect(message).not.toMatch(/SharedAccessSignature|sig=/);
  });

  it('disconnect() during DPS cancels it: DPS_FAILED (ECANCELED), DISCONNECTED, INIT', async () => {
    const e = emu.addEnrollment({ registrationId: 'reg-cancel', attestation: { type: 'sas' } });
    const { hub, rec } = createClient(dpsConfig(emu, 'reg-cancel', { symmetricKey: keyOf(e) }, new MemoryDpsStore()));
    emu.faults.dpsStopAnswering(true);
    const connecting = hub.connect().catch((x: unknown) => x);
    await rec.waitFor('DPS_REGISTERING');
    await expect(hub.dpsReset()).rejects.toMatchObject({ code: 'EINPROGRESS' });
    await hub.disconnect();
    expect(hub.state).toBe('INIT');
    expect(await connecting).toMatchObject({ code: 'ECANCELED' });
    expect(rec.types()).toEqual(['DPS_CONNECTING', 'DPS_REGISTERING', 'DPS_FAILED', 'DISCONNECTED']);
    await expect(hub.disconnect()).rejects.toMatchObject({ code: 'ENOTCONN' });
  });

  it('runs DPS by itself even when the hub connection is in manual input mode (autoInput: false)', async () => {
    const e = emu.addEnrollment({ registrationId: 'reg-manual', attestation: { type: 'sas' }, polls: 1 });
    const { hub, rec } = createClient(dpsConfig(emu, 'reg-manual', { symmetricKey: keyOf(e) }, new MemoryDpsStore(), { autoInput: false }));
    await hub.connect(); // DPS completed without a single input() call
    expect(rec.types()).toEqual(['DPS_CONNECTING', 'DPS_REGISTERING', 'DPS_DONE', 'CONNECTING']);
    const stop = pump(hub);
    try {
      await rec.waitFor('READY');
    } finally {
      stop();
    }
    // DPS PUBACKs are not PUBACK events.
    expect(rec.types()).not.toContain('PUBACK');
  });
});

async function until(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 2));
  }
}
