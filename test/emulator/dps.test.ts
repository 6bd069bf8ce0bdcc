/**
 * The emulator's DPS, with raw packets: CONNECT rules, subscriptions, register / 202 / poll / 200, enrollments
 * (individual, groups, disabled, failed, several polls), faults, and the registration on the assigned hub.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Packet, PublishPacket } from '../../src/codec/index.js';
import { createCa, createDeviceCertificate, type CertificateAndKey } from '../../src/emulator/certs.js';
import { certificateThumbprint } from '../../src/emulator/auth.js';
import { startEmulator, type Emulator } from '../../src/emulator/emulator.js';
import { createSasToken, deriveDeviceKey } from '../../src/emulator/sas.js';
import { connectDevice, RawClient, subscribe, text, utf8 } from './raw-client.js';

const HUB_A = 'hub-a.azure-devices.net';
const HUB_B = 'hub-b.azure-devices.net';
let emu: Emulator;

beforeAll(async () => {
  emu = await startEmulator({ hubs: [HUB_A, HUB_B], firmware: false, dpsRetryAfterSeconds: 0 });
});

afterAll(async () => {
  await emu.close();
});

interface DpsConnectOptions {
  regId: string;
  key?: string;
  cert?: CertificateAndKey;
  username?: string;
  password?: string;
  port?: number;
  ca?: string;
}

async function connectDps(o: DpsConnectOptions): Promise<{ client: RawClient; returnCode: number }> {
  const open: Parameters<typeof RawClient.open>[0] = { port: o.port ?? emu.dps.port, ca: o.ca ?? emu.ca.cert,
    servername: emu.dps.host };
  if (o.cert !== undefined) {
    open.cert = o.cert.chain;
    open.key = o.cert.key;
  }
  const client = await RawClient.open(open);
  const connect: Packet = { type: 'connect', clientId: o.regId, keepalive: 60, cleanSession: true,
    username: o.username ?? `${emu.dps.idScope}/registrations/${o.regId}/api-version=2019-03-31&ClientVersion=raw` };
  const password = o.password ?? (o.key === undefined ? undefined : createSasToken({
    resource: `${emu.dps.idScope}/registrations/${o.regId}`, key: o.key, keyName: 'registration' }));
  if (password !== undefined) connect.password = utf8(password);
  client.send(connect);
  const connack = await client.nextOf('connack');
  return { client, returnCode: connack.returnCode };
}

function request(client: RawClient, topic: string, body = '', qos: 0 | 1 = 1, messageId = 1): void {
  const p: PublishPacket = { type: 'publish', topic, payload: utf8(body), qos, dup: false, retain: false };
  if (qos === 1) p.messageId = messageId;
  client.send(p);
}

async function answer(client: RawClient): Promise<{ topic: string; status: number; body: Record<string, unknown> }> {
  const p = await client.nextPublish('$dps/registrations/res/');
  return { topic: p.topic, status: Number(p.topic.split('/')[3]), body: JSON.parse(text(p.payload)) as Record<string, unknown> };
}

function sasKey(e: { attestation: { type: string; primaryKey?: string } }): string {
  return e.attestation.primaryKey!;
}

describe('emulator DPS', () => {
  it('registers: subscribe, 202 with retry-after and operationId, poll, 200 with registrationState', async () => {
    const e = emu.addEnrollment({ registrationId: 'reg-1', attestation: { type: 'sas' }, assignedHub: HUB_B, deviceId: 'dev-of-reg-1',
      responsePayload: { config: 'blue' } });
    const { client, returnCode } = await connectDps({ regId: 'reg-1', key: sasKey(e) });
    expect(returnCode).toBe(0);
    expect(await subscribe(client, ['$dps/registrations/res/#', '$iothub/twin/res/#'], 2)).toEqual([1, 0x80]);
    request(client, '$dps/registrations/PUT/iotdps-register/?$rid=r1', JSON.stringify({ registrationId: 'reg-1', payload: { a: 1 } }));
    expect(await client.nextOf('puback')).toEqual({ type: 'puback', messageId: 1 });
    const accepted = await answer(client);
    expect(accepted.topic).toBe('$dps/registrations/res/202/?$rid=r1&retry-after=0');
    expect(accepted.body['status']).toBe('assigning');
    const operationId = accepted.body['operationId'] as string;
    expect(operationId).toMatch(/^4\.[0-9a-f]{16}\.[0-9a-f-]{36}$/);

    const assigned = emu.waitFor('dpsRegistration', (r) => r.registrationId === 'reg-1');
    request(client, `$dps/registrations/GET/iotdps-get-operationstatus/?$rid=r2&operationId=${operationId}`, '', 0);
    const final = await answer(client);
    expect(final.topic).toBe('$dps/registrations/res/200/?$rid=r2');
    expect(final.body).toMatchObject({ operationId, status: 'assigned' });
    const state = final.body['registrationState'] as Record<string, string>;
    expect(state).toMatchObject({ registrationId: 'reg-1', assignedHub: HUB_B, deviceId: 'dev-of-reg-1', status: 'assigned',
      substatus: 'initialAssignment', payload: { config: 'blue' } });
    for (const f of ['createdDateTimeUtc', 'lastUpdatedDateTimeUtc']) expect(Number.isNaN(Date.parse(state[f]!))).toBe(false);
    expect(state['etag']!.length).toBeGreaterThan(0);
    expect(await assigned).toEqual({ registrationId: 'reg-1', status: 'assigned', assignedHub: HUB_B, deviceId: 'dev-of-reg-1' });
    expect(emu.dpsRegistrations().at(-1)).toMatchObject({ payload: { a: 1 }, enrollment: { kind: 'individual' } });
    // A poll of a finished operation gets the same answer again.
    request(client, `$dps/registrations/GET/iotdps-get-operationstatus/?$rid=r3&operationId=${operationId}`, '', 0);
    expect((await answer(client)).body).toEqual(final.body);
    client.close();

    // The device is now registered on the assigned hub with the enrollment's key, and only there.
    const ok = await connectDevice(emu, { hub: HUB_B, deviceId: 'dev-of-reg-1', sasKey: sasKey(e) });
    expect(ok.connack.returnCode).toBe(0);
    ok.client.close();
    const stale = await connectDevice(emu, { hub: HUB_A, deviceId: 'dev-of-reg-1', sasKey: sasKey(e) });
    expect(stale.connack.returnCode).toBe(5);
  });

  it('answers 202 assigning for the configured number of polls', async () => {
    const e = emu.addEnrollment({ registrationId: 'reg-polls', attestation: { type: 'sas' }, polls: 2 });
    const { client } = await connectDps({ regId: 'reg-polls', key: sasKey(e) });
    await subscribe(client, ['$dps/registrations/res/#'], 1);
    request(client, '$dps/registrations/PUT/iotdps-register/?$rid=1', '');
    const op = (await answer(client)).body['operationId'] as string;
    const statuses: number[] = [];
    for (let i = 2; i < 5; i++) {
      request(client, `$dps/registrations/GET/iotdps-get-operationstatus/?$rid=${i}&operationId=${op}`, '', 1, i);
      const a = await answer(client);
      statuses.push(a.status);
      if (a.status === 202) expect(a.body['status']).toBe('assigning');
    }
    expect(statuses).toEqual([202, 202, 200]);
    client.close();
  });

  it('puts retry-after first when configured, and uses the configured retry-after', async () => {
    const other = await startEmulator({ firmware: false, dpsTopicOrder: 'retry-after-first', dpsRetryAfterSeconds: 2,
      ca: { cert: emu.ca.cert, key: emu.ca.key! }, serverCertificate: emu.serverCertificate });
    try {
      const e = other.addEnrollment({ registrationId: 'reg-order', attestation: { type: 'sas' } });
      const client = await RawClient.open({ port: other.dps.port, ca: other.ca.cert, servername: 'localhost' });
      client.send({ type: 'connect', clientId: 'reg-order', keepalive: 60, cleanSession: true,
        username: `${other.dps.idScope}/registrations/reg-order/api-version=2019-03-31`,
        password: utf8(createSasToken({ resource: `${other.dps.idScope}/registrations/reg-order`, key: sasKey(e), keyName: 'registration' })) });
      expect((await client.nextOf('connack')).returnCode).toBe(0);
      await subscribe(client, ['$dps/registrations/res/#'], 1);
      request(client, '$dps/registrations/PUT/iotdps-register/?$rid=9', '{"registrationId":"reg-order"}');
      expect((await answer(client)).topic).toBe('$dps/registrations/res/202/?retry-after=2&$rid=9');
      client.close();
    } finally {
      await other.close();
    }
  });

  it('answers 400 to a bad body, 404 to an unknown operation, and closes on requests without $rid or other topics', async () => {
    const e = emu.addEnrollment({ registrationId: 'reg-bad', attestation: { type: 'sas' } });
    const { client } = await connectDps({ regId: 'reg-bad', key: sasKey(e) });
    await subscribe(client, ['$dps/registrations/res/#'], 1);
    request(client, '$dps/registrations/PUT/iotdps-register/?$rid=1', '{registrationId:"reg-bad"}'); // the NCS 1.x quirk
    expect((await answer(client)).status).toBe(400);
    request(client, '$dps/registrations/PUT/iotdps-register/?$rid=2', '{"registrationId":"someone-else"}');
    expect((await answer(client)).status).toBe(400);
    request(client, '$dps/registrations/GET/iotdps-get-operationstatus/?$rid=3&operationId=4.nope', '', 0);
    const notFound = await answer(client);
    expect(notFound.status).toBe(404);
    expect(notFound.body).toMatchObject({ errorCode: 404001 });
    request(client, '$dps/registrations/GET/iotdps-get-operationstatus/?$rid=4', '', 0);
    expect((await answer(client)).status).toBe(400);
    request(client, '$dps/registrations/PUT/iotdps-register/?x=1', '');
    await client.closed;

    const again = await connectDps({ regId: 'reg-bad', key: sasKey(e) });
    request(again.client, 'devices/reg-bad/messages/events/', 'x', 0);
    await again.client.closed;
  });

  it('refuses bad CONNECTs', async () => {
    const e = emu.addEnrollment({ registrationId: 'reg-c', attestation: { type: 'sas' } });
    const key = sasKey(e);
    expect((await connectDps({ regId: 'reg-c', key, username: '0ne99999999/registrations/reg-c/api-version=2019-03-31' })).returnCode).toBe(5);
    expect((await connectDps({ regId: 'reg-c', key, username: `${emu.dps.idScope}/registrations/reg-c/` })).returnCode).toBe(5);
    expect((await connectDps({ regId: 'reg-c', key, username: `${emu.dps.idScope}/registrations/other/api-version=2019-03-31` })).returnCode).toBe(5);
    expect((await connectDps({ regId: 'nobody', key })).returnCode).toBe(5);
    expect((await connectDps({ regId: 'reg-c', key: Buffer.alloc(32, 1).toString('base64') })).returnCode).toBe(4);
    expect((await connectDps({ regId: 'reg-c', password: createSasToken({
      resource: `${emu.dps.idScope}/registrations/reg-c`, key, keyName: 'registration', expiry: 1 }) })).returnCode).toBe(4);
    expect((await connectDps({ regId: 'reg-c' })).returnCode).toBe(5); // neither token nor certificate
  });

  async function registerOnce(regId: string, o: { key?: string; cert?: CertificateAndKey }):
    Promise<{ status: number; body: Record<string, unknown> }> {
    const c: DpsConnectOptions = { regId };
    if (o.key !== undefined) c.key = o.key;
    if (o.cert !== undefined) c.cert = o.cert;
    const { client, returnCode } = await connectDps(c);
    expect(returnCode).toBe(0);
    await subscribe(client, ['$dps/registrations/res/#'], 1);
    request(client, '$dps/registrations/PUT/iotdps-register/?$rid=1', JSON.stringify({ registrationId: regId }));
    const first = await answer(client);
    if (first.status !== 202) {
      client.close();
      return first;
    }
    request(client, `$dps/registrations/GET/iotdps-get-operationstatus/?$rid=2&operationId=${first.body['operationId'] as string}`, '', 0);
    const final = await answer(client);
    client.close();
    return final;
  }

  it('ends with status disabled or failed, without registering the device', async () => {
    const d = emu.addEnrollment({ registrationId: 'reg-disabled', attestation: { type: 'sas' }, status: 'disabled' });
    const disabled = await registerOnce('reg-disabled', { key: sasKey(d) });
    expect(disabled.status).toBe(200);
    expect(disabled.body).toMatchObject({ status: 'disabled', registrationState: { status: 'disabled' } });
    const f = emu.addEnrollment({ registrationId: 'reg-failed', attestation: { type: 'sas' }, result: 'failed' });
    const failed = await registerOnce('reg-failed', { key: sasKey(f) });
    expect(failed.body).toMatchObject({ status: 'failed', registrationState: { status: 'failed' } });
    expect((failed.body['registrationState'] as Record<string, unknown>)['errorMessage']).toEqual(expect.any(String));
    expect(emu.getDevice('reg-disabled')).toBeUndefined();
    expect(emu.getDevice('reg-failed')).toBeUndefined();
  });

  it('registers members of a symmetric-key group with derived keys', async () => {
    const g = emu.addEnrollmentGroup({ groupId: 'g-sas', attestation: { type: 'sas' }, assignedHub: HUB_B });
    const member = await registerOnce('member-7', { key: deriveDeviceKey(sasKey(g), 'member-7') });
    expect(member.body).toMatchObject({ status: 'assigned', registrationState: { assignedHub: HUB_B, deviceId: 'member-7' } });
    expect(emu.getDevice('member-7', HUB_B)?.primaryKey).toBe(deriveDeviceKey(sasKey(g), 'member-7'));
    // The group key itself is not a member's key.
    expect((await connectDps({ regId: 'member-8', key: sasKey(g) })).returnCode).toBe(4);
  });

  it('registers X.509 devices: individual by CA or by certificate, groups by CA', async () => {
    const root = { cert: emu.ca.cert, key: emu.ca.key!, chain: emu.ca.cert };
    const groupCa = await createCa('dps group CA', { issuer: root });
    const outsider = await createCa('outsider');
    const [byCa, byCert, inGroup, wrongCn] = await Promise.all([
      emu.createDeviceCredentials('x-ind'),
      createDeviceCertificate(outsider, 'x-self'),
      createDeviceCertificate(groupCa, 'x-member'),
      emu.createDeviceCredentials('x-wrong'),
    ]);
    emu.addEnrollment({ registrationId: 'x-ind', attestation: { type: 'x509' } });
    emu.addEnrollment({ registrationId: 'x-self', attestation: { type: 'x509', certificate: byCert.cert } });
    emu.addEnrollmentGroup({ groupId: 'g-x509', attestation: { type: 'x509-ca', caCert: groupCa.cert } });

    expect((await registerOnce('x-ind', { cert: byCa })).body).toMatchObject({ status: 'assigned' });
    expect(emu.getDevice('x-ind')?.auth).toEqual({ type: 'x509-ca' });
    expect((await registerOnce('x-self', { cert: byCert })).body).toMatchObject({ status: 'assigned' });
    expect(emu.getDevice('x-self')?.auth).toEqual({ type: 'x509-thumbprint', thumbprint: certificateThumbprint(byCert.cert) });
    expect((await registerOnce('x-member', { cert: inGroup })).body).toMatchObject({ status: 'assigned' });
    expect(emu.dpsRegistrations().at(-1)).toMatchObject({ registrationId: 'x-member', enrollment: { kind: 'group', groupId: 'g-x509' } });
    // The certificate's CN must be the registration id.
    expect((await connectDps({ regId: 'x-ind', cert: wrongCn })).returnCode).toBe(5);
    // A device the root CA signed directly is not in the group.
    emu.trustCa(outsider.cert);
    const stranger = await createDeviceCertificate(outsider, 'x-stranger');
    expect((await connectDps({ regId: 'x-stranger', cert: stranger })).returnCode).toBe(5);
    // The provisioned X.509 device connects to the hub.
    const hub = await connectDevice(emu, { hub: HUB_A, deviceId: 'x-member', cert: inGroup });
    expect(hub.connack.returnCode).toBe(0);
    hub.client.close();
  });

  it('marks a second assignment of the same device as reprovisioned', async () => {
    const e = emu.addEnrollment({ registrationId: 'reg-twice', attestation: { type: 'sas' } });
    await registerOnce('reg-twice', { key: sasKey(e) });
    const again = await registerOnce('reg-twice', { key: sasKey(e) });
    expect(again.body).toMatchObject({ registrationState: { substatus: 'reprovisionedToInitialAssignment' } });
  });

  it('injects failures (429 with retry-after, 500) and silence', async () => {
    const e = emu.addEnrollment({ registrationId: 'reg-f', attestation: { type: 'sas' } });
    const { client } = await connectDps({ regId: 'reg-f', key: sasKey(e) });
    await subscribe(client, ['$dps/registrations/res/#'], 1);
    emu.faults.failNextDps(429, 1, 5);
    request(client, '$dps/registrations/PUT/iotdps-register/?$rid=1', '');
    const throttled = await answer(client);
    expect(throttled.topic).toBe('$dps/registrations/res/429/?$rid=1&retry-after=5');
    expect(throttled.body).toMatchObject({ errorCode: 429001, message: expect.any(String), trackingId: expect.any(String) });
    emu.faults.failNextDps(500);
    request(client, '$dps/registrations/PUT/iotdps-register/?$rid=2', '');
    expect((await answer(client)).topic).toBe('$dps/registrations/res/500/?$rid=2');
    emu.faults.dpsStopAnswering();
    request(client, '$dps/registrations/PUT/iotdps-register/?$rid=3', '', 0);
    await client.barrier();
    expect(client.received.filter((p) => p.type === 'publish')).toEqual([]);
    emu.faults.dpsStopAnswering(false);
    request(client, '$dps/registrations/PUT/iotdps-register/?$rid=4', '', 0);
    expect((await answer(client)).status).toBe(202);
    client.close();
  });

  it('validates enrollments', () => {
    expect(() => emu.addEnrollment({ registrationId: 'v', attestation: { type: 'sas' }, assignedHub: 'nope.azure-devices.net' }))
      .toThrow(expect.objectContaining({ code: 'EINVAL' }) as Error);
    expect(() => emu.addEnrollment({ registrationId: 'v', attestation: { type: 'x509' }, deviceId: 'other' }))
      .toThrow(expect.objectContaining({ code: 'EINVAL' }) as Error);
    expect(() => emu.addEnrollment({ registrationId: 'v', attestation: { type: 'sas' }, polls: -1 }))
      .toThrow(expect.objectContaining({ code: 'EINVAL' }) as Error);
    expect(emu.removeEnrollment('g-sas')).toBe(true);
    expect(emu.removeEnrollment('g-sas')).toBe(false);
  });
});
