import { describe, expect, it } from 'vitest';
import { utf8Bytes } from '../../src/codec/utf8.js';
import { AzureIotHubError } from '../../src/errors.js';
import {
  API_VERSION,
  DPS_API_VERSION,
  dpsClientId,
  dpsUsername,
  hubClientId,
  hubUsername,
} from '../../src/azure/identity.js';

const HUB = 'contoso.azure-devices.net';

describe('hub client id', () => {
  it('a device is its device id', () => {
    expect(hubClientId({ deviceId: 'dev1' })).toBe('dev1');
  });

  it('a module is device/module', () => {
    expect(hubClientId({ deviceId: 'dev1', moduleId: 'mod1' })).toBe('dev1/mod1');
  });

  it('rejects invalid ids with EINVAL naming the field', () => {
    expect(() => hubClientId({ deviceId: '' })).toThrow(/deviceId must not be empty/);
    expect(() => hubClientId({ deviceId: 'd', moduleId: 'a#b' })).toThrow(/moduleId may only contain/);
  });
});

describe('hub username', () => {
  it('device: {host}/{device}/?api-version=2021-04-12', () => {
    expect(API_VERSION).toBe('2021-04-12');
    expect(hubUsername(HUB, { deviceId: 'dev1' })).toBe('contoso.azure-devices.net/dev1/?api-version=2021-04-12');
  });

  it('module: {host}/{device}/{module}/?api-version=2021-04-12', () => {
    expect(hubUsername(HUB, { deviceId: 'dev1', moduleId: 'mod1' })).toBe(
      'contoso.azure-devices.net/dev1/mod1/?api-version=2021-04-12',
    );
  });

  it('model id is appended URL-encoded as &model-id=', () => {
    expect(hubUsername(HUB, { deviceId: 'dev1' }, { modelId: 'dtmi:com:example:Thermostat;1' })).toBe(
      'contoso.azure-devices.net/dev1/?api-version=2021-04-12&model-id=dtmi%3Acom%3Aexample%3AThermostat%3B1',
    );
  });

  it('an invalid model id is rejected with EINVAL', () => {
    expect(() => hubUsername(HUB, { deviceId: 'dev1' }, { modelId: 'thermostat' })).toThrow(AzureIotHubError);
  });

  it('DeviceClientType and api-version overrides are URL-encoded', () => {
    expect(
      hubUsername(HUB, { deviceId: 'dev1' }, { apiVersion: '2020-09-30', deviceClientType: 'azure-iot-hub/0.1 (node)' }),
    ).toBe('contoso.azure-devices.net/dev1/?api-version=2020-09-30&DeviceClientType=azure-iot-hub%2F0.1%20%28node%29');
  });

  it('is a valid MQTT UTF-8 string', () => {
    expect(() => utf8Bytes(hubUsername(HUB, { deviceId: "d$'()" }), 'username')).not.toThrow();
  });

  it('rejects a bad host name', () => {
    expect(() => hubUsername('', { deviceId: 'd' })).toThrow(/hostname must not be empty/);
    expect(() => hubUsername('a/b', { deviceId: 'd' })).toThrow(/hostname must be a host name/);
  });
});

describe('DPS identity', () => {
  it('client id is the registration id', () => {
    expect(dpsClientId('reg-1')).toBe('reg-1');
  });

  it('username: {idScope}/registrations/{regId}/api-version=2019-03-31, without ?', () => {
    expect(DPS_API_VERSION).toBe('2019-03-31');
    expect(dpsUsername('0ne00000A0A', 'reg-1')).toBe('0ne00000A0A/registrations/reg-1/api-version=2019-03-31');
  });

  it('appends &ClientVersion= URL-encoded when given', () => {
    expect(dpsUsername('0ne00000A0A', 'reg-1', 'azure-iot-hub/0.1')).toBe(
      '0ne00000A0A/registrations/reg-1/api-version=2019-03-31&ClientVersion=azure-iot-hub%2F0.1',
    );
  });

  it('rejects an invalid registration id or id scope', () => {
    expect(() => dpsClientId('reg.')).toThrow(/registrationId/);
    expect(() => dpsUsername('', 'reg-1')).toThrow(/idScope must not be empty/);
    expect(() => dpsUsername('0ne', 'a/b')).toThrow(/registrationId/);
  });
});
