/**
 * Microsoft's official provisioning SDK (azure-iot-provisioning-device + -mqtt, symmetric-key and X.509 security
 * clients) against the emulator's DPS, followed by connecting Microsoft's device SDK to the assigned hub.
 */
import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCa, createDeviceCertificate, type CertificateAndKey } from '../../src/emulator/certs.js';
import { startEmulator, type Emulator } from '../../src/emulator/emulator.js';
import {
  Client,
  DeviceMqtt,
  ProvisioningDeviceClient,
  provisioningTransport,
  SymmetricKeySecurityClient,
  X509AuthenticationProvider,
  X509Security,
} from './sdk.js';

const HUB_A = 'hub-a.azure-devices.net';
const HUB_B = 'hub-b.azure-devices.net';

let emu: Emulator;
let root: CertificateAndKey;

beforeAll(async () => {
  emu = await startEmulator({ hubs: [HUB_A, HUB_B], dpsRetryAfterSeconds: 0 });
  root = { cert: emu.ca.cert, key: emu.ca.key!, chain: emu.ca.cert };
});

afterAll(async () => {
  await emu.close();
});

interface RegistrationResult {
  assignedHub: string;
  deviceId: string;
  status?: string;
  substatus?: string;
}

type RegistrationClient = ReturnType<typeof ProvisioningDeviceClient.create>;
type SecurityClient = Parameters<typeof ProvisioningDeviceClient.create>[3];

function symmetricClient(registrationId: string, key: string): RegistrationClient {
  return ProvisioningDeviceClient.create(`127.0.0.1:${emu.dps.port}`, emu.dps.idScope, provisioningTransport(emu.ca.cert),
    new SymmetricKeySecurityClient(registrationId, key) as unknown as SecurityClient);
}

function x509Client(registrationId: string, cert: CertificateAndKey): RegistrationClient {
  return ProvisioningDeviceClient.create(`127.0.0.1:${emu.dps.port}`, emu.dps.idScope, provisioningTransport(emu.ca.cert),
    new X509Security(registrationId, { cert: cert.chain, key: cert.key }));
}

async function register(client: RegistrationClient): Promise<RegistrationResult> {
  return (await client.register()) as unknown as RegistrationResult;
}

describe('Microsoft provisioning SDK against the emulator', () => {
  it('registers with an individual symmetric-key enrollment, then connects to the assigned hub', async () => {
    const e = emu.addEnrollment({ registrationId: 'prov-sas', attestation: { type: 'sas' }, assignedHub: HUB_B,
      deviceId: 'prov-sas-device', polls: 2 });
    const key = e.attestation.type === 'sas' ? e.attestation.primaryKey : '';
    const dpsConnect = emu.waitFor('connect', (c) => c.service === 'dps' && c.clientId === 'prov-sas');
    const result = await register(symmetricClient('prov-sas', key));
    expect(result.assignedHub).toBe(HUB_B);
    expect(result.deviceId).toBe('prov-sas-device');
    expect(result.status).toBe('assigned');
    expect(result.substatus).toBe('initialAssignment');
    expect((await dpsConnect).apiVersion).toBe('2019-03-31');
    expect(emu.dpsRegistrations().at(-1)).toMatchObject({ registrationId: 'prov-sas', status: 'assigned', assignedHub: HUB_B });

    const client = Client.fromConnectionString(
      `HostName=${result.assignedHub};DeviceId=${result.deviceId};SharedAccessKey=${key};GatewayHostName=127.0.0.1:${emu.hub.port}`,
      DeviceMqtt);
    await client.setOptions({ ca: emu.ca.cert });
    const hubConnect = emu.waitFor('connect', (c) => c.service === 'hub' && c.clientId === 'prov-sas-device');
    await client.open();
    expect((await hubConnect).host).toBe(HUB_B);
    await client.close();
  });

  it('registers a member of a symmetric-key group with its derived key', async () => {
    const g = emu.addEnrollmentGroup({ groupId: 'sas-group', attestation: { type: 'sas' } });
    const groupKey = g.attestation.type === 'sas' ? g.attestation.primaryKey : '';
    // The derivation as Microsoft's samples write it.
    const deviceKey = createHmac('SHA256', Buffer.from(groupKey, 'base64')).update('group-member-1', 'utf8').digest('base64');
    const result = await register(symmetricClient('group-member-1', deviceKey));
    expect(result.assignedHub).toBe(HUB_A);
    expect(result.deviceId).toBe('group-member-1');
    expect(emu.getDevice('group-member-1', HUB_A)?.primaryKey).toBe(deviceKey);
  });

  it('registers with an individual X.509 enrollment, then connects to the hub with the same certificate', async () => {
    const cert = await emu.createDeviceCredentials('prov-x509');
    emu.addEnrollment({ registrationId: 'prov-x509', attestation: { type: 'x509' } });
    const result = await register(x509Client('prov-x509', cert));
    expect(result).toMatchObject({ assignedHub: HUB_A, deviceId: 'prov-x509' });

    const auth = new X509AuthenticationProvider({
      host: result.assignedHub,
      deviceId: result.deviceId,
      gatewayHostName: `127.0.0.1:${emu.hub.port}`,
      x509: { cert: cert.chain, key: cert.key },
    } as ConstructorParameters<typeof X509AuthenticationProvider>[0]);
    const client = Client.fromAuthenticationProvider(auth, DeviceMqtt);
    await client.setOptions({ ca: emu.ca.cert });
    const hubConnect = emu.waitFor('connect', (c) => c.service === 'hub' && c.clientId === 'prov-x509');
    await client.open();
    expect((await hubConnect).auth).toBe('x509');
    await client.close();
  });

  it('registers a device of an X.509 group whose CA is an intermediate', async () => {
    const intermediate = await createCa('group intermediate', { issuer: root });
    const cert = await createDeviceCertificate(intermediate, 'x509-member');
    emu.addEnrollmentGroup({ groupId: 'x509-group', attestation: { type: 'x509-ca', caCert: intermediate.cert },
      assignedHub: HUB_B });
    const result = await register(x509Client('x509-member', cert));
    expect(result).toMatchObject({ assignedHub: HUB_B, deviceId: 'x509-member' });
    expect(emu.getDevice('x509-member', HUB_B)?.auth).toEqual({ type: 'x509-ca' });
  });

  it('retries after a 429 answer and then succeeds', async () => {
    const e = emu.addEnrollment({ registrationId: 'prov-429', attestation: { type: 'sas' } });
    emu.faults.failNextDps(429, 1, 0);
    const result = await register(symmetricClient('prov-429', e.attestation.type === 'sas' ? e.attestation.primaryKey : ''));
    expect(result.assignedHub).toBe(HUB_A);
    const answers = emu.packetLog('prov-429').filter((p) => p.direction === 'out' && p.topic?.startsWith('$dps/registrations/res/'));
    expect(answers[0]!.topic).toMatch(/^\$dps\/registrations\/res\/429\/\?\$rid=[^&]+&retry-after=0$/);
  });

  it('fails for a disabled enrollment and for a failed allocation', async () => {
    const d = emu.addEnrollment({ registrationId: 'prov-disabled', attestation: { type: 'sas' }, status: 'disabled' });
    await expect(register(symmetricClient('prov-disabled', d.attestation.type === 'sas' ? d.attestation.primaryKey : '')))
      .rejects.toThrow();
    const f = emu.addEnrollment({ registrationId: 'prov-failed', attestation: { type: 'sas' }, result: 'failed' });
    await expect(register(symmetricClient('prov-failed', f.attestation.type === 'sas' ? f.attestation.primaryKey : '')))
      .rejects.toThrow();
    expect(emu.dpsRegistrations().filter((r) => r.registrationId.startsWith('prov-d') || r.registrationId.startsWith('prov-f'))
      .map((r) => r.status)).toEqual(['disabled', 'failed']);
    expect(emu.getDevice('prov-failed')).toBeUndefined();
  });

  it('refuses a registration with the wrong key', async () => {
    emu.addEnrollment({ registrationId: 'prov-wrong', attestation: { type: 'sas' } });
    const refused = emu.waitFor('connectRefused', (r) => r.service === 'dps' && r.clientId === 'prov-wrong');
    await expect(register(symmetricClient('prov-wrong', Buffer.alloc(32, 7).toString('base64')))).rejects.toThrow();
    expect((await refused).returnCode).toBe(4);
  });
});
