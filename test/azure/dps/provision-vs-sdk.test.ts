/**
 * Differential check: Microsoft's provisioning SDK (azure-iot-provisioning-device-mqtt) and our `provisionDevice`
 * register against the same emulator DPS in the cases test/interop does not cover (custom payload both ways,
 * `retry-after` first in the topic, several polls), and must agree on what DPS assigned and what it received.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deriveGroupDeviceKey } from '../../../src/azure/sas.js';
import { provisionDevice } from '../../../src/azure/dps/provision.js';
import { startEmulator, type Emulator } from '../../../src/emulator/emulator.js';
import { ProvisioningDeviceClient, provisioningTransport, SymmetricKeySecurityClient } from '../../interop/sdk.js';
import { keyOf } from './helpers.js';

const HUB_B = 'hub-b.azure-devices.net';
let emu: Emulator;

beforeAll(async () => {
  emu = await startEmulator({ hubs: ['hub-a.azure-devices.net', HUB_B], firmware: false, dpsTopicOrder: 'retry-after-first', dpsRetryAfterSeconds: 0 });
});

afterAll(async () => {
  await emu.close();
});

type SecurityClient = Parameters<typeof ProvisioningDeviceClient.create>[3];

async function sdkRegister(registrationId: string, key: string, payload: unknown): Promise<Record<string, unknown>> {
  const client = ProvisioningDeviceClient.create(`127.0.0.1:${emu.dps.port}`, emu.dps.idScope, provisioningTransport(emu.ca.cert),
    new SymmetricKeySecurityClient(registrationId, key) as unknown as SecurityClient);
  client.setProvisioningPayload(payload as never);
  return (await client.register()) as unknown as Record<string, unknown>;
}

function ours(registrationId: string, key: string, payload: unknown): ReturnType<typeof provisionDevice> {
  return provisionDevice({ idScope: emu.dps.idScope, registrationId, hostname: emu.dps.host, address: emu.dps.address, port: emu.dps.port,
    tls: { ca: emu.ca.cert }, symmetricKey: key, payload, timeoutMs: 10_000 });
}

describe('provisionDevice agrees with Microsoft provisioning SDK', () => {
  it('on a group enrollment with several polls, retry-after first, and custom payloads both ways', async () => {
    const g = emu.addEnrollmentGroup({ groupId: 'diff-group', attestation: { type: 'sas' }, assignedHub: HUB_B, polls: 2,
      responsePayload: { firmware: { channel: 'beta' } } });
    const payload = { modelId: 'dtmi:com:example:Thermostat;1', site: 'lab' };

    const sdk = await sdkRegister('diff-sdk', deriveGroupDeviceKey(keyOf(g), 'diff-sdk'), payload);
    const sdkRecord = emu.dpsRegistrations().at(-1);
    const mine = await ours('diff-ours', deriveGroupDeviceKey(keyOf(g), 'diff-ours'), payload);
    const ourRecord = emu.dpsRegistrations().at(-1);

    expect(sdk).toMatchObject({ assignedHub: HUB_B, deviceId: 'diff-sdk', status: 'assigned', payload: { firmware: { channel: 'beta' } } });
    expect(mine).toEqual({ assignedHub: HUB_B, deviceId: 'diff-ours', payload: sdk['payload'] });
    expect(sdkRecord).toMatchObject({ registrationId: 'diff-sdk', status: 'assigned', payload });
    expect(ourRecord).toMatchObject({ registrationId: 'diff-ours', status: 'assigned', payload });
    // Both polled the same number of times with the operation id DPS gave.
    const polls = (id: string): number => emu.packetLog(id).filter((p) => p.direction === 'in' && p.topic?.includes('iotdps-get-operationstatus') === true).length;
    expect(polls('diff-ours')).toBe(polls('diff-sdk'));
    expect(polls('diff-ours')).toBe(3);
  });
});
