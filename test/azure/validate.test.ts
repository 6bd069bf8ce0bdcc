import { describe, expect, it } from 'vitest';
import { AzureIotHubError } from '../../src/errors.js';
import {
  isValidDeviceId,
  isValidModelId,
  isValidRegistrationId,
  isValidRequestId,
  MAX_ID_LENGTH,
  validateDeviceId,
  validateHostname,
  validateIdScope,
  validateModelId,
  validateModuleId,
  validatePropertyKey,
  validatePropertyValue,
  validateRegistrationId,
  validateRequestId,
} from '../../src/azure/validate.js';

function einval(fn: () => unknown): AzureIotHubError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(AzureIotHubError);
    expect((err as AzureIotHubError).code).toBe('EINVAL');
    return err as AzureIotHubError;
  }
  throw new Error('expected EINVAL, nothing was thrown');
}

describe('device and module ids', () => {
  it("accepts letters, digits and every documented special character - . % _ * ? ! ( ) , : = @ $ '", () => {
    const id = "Ab9-.%_*?!(),:=@$'";
    expect(isValidDeviceId(id)).toBe(true);
    expect(() => validateDeviceId(id)).not.toThrow();
    expect(() => validateModuleId(id)).not.toThrow();
  });

  it('accepts exactly 128 characters and rejects 129, naming the limit', () => {
    expect(isValidDeviceId('a'.repeat(MAX_ID_LENGTH))).toBe(true);
    expect(einval(() => validateDeviceId('a'.repeat(129))).message).toBe(
      'deviceId is 129 characters long; the limit is 128',
    );
  });

  it('rejects the MQTT wildcards + and #, which Azure does not support', () => {
    expect(isValidDeviceId('a+b')).toBe(false);
    expect(isValidDeviceId('a#b')).toBe(false);
  });

  it('rejects / (a topic level), space, non-ASCII and NUL', () => {
    for (const id of ['a/b', 'a b', 'dévice', 'a\u0000']) expect(isValidDeviceId(id)).toBe(false);
    expect(einval(() => validateDeviceId('a/b')).message).toContain('deviceId may only contain');
  });

  it('rejects an empty id and a non-string, naming the field', () => {
    expect(einval(() => validateDeviceId('')).message).toBe('deviceId must not be empty');
    expect(einval(() => validateModuleId(42)).message).toBe('moduleId must be a string');
    expect(einval(() => validateDeviceId('', 'config.deviceId')).message).toBe('config.deviceId must not be empty');
  });
});

describe('DPS registration ids', () => {
  it('accepts letters, digits and - . _ : ending in a letter, digit or -', () => {
    for (const id of ['sn-007-888-abc-mac-a1-b2-c3-d4-e5-f6', 'a', 'A.b_c:d', 'dev-']) {
      expect(isValidRegistrationId(id)).toBe(true);
    }
  });

  it('rejects a trailing . _ or :', () => {
    for (const id of ['dev.', 'dev_', 'dev:']) expect(isValidRegistrationId(id)).toBe(false);
    expect(einval(() => validateRegistrationId('dev.')).message).toContain('must end with a letter, a digit or -');
  });

  it('rejects characters device ids allow but DPS does not', () => {
    for (const id of ['a$b', 'a%b', 'a@b', 'a/b']) expect(isValidRegistrationId(id)).toBe(false);
  });

  it('accepts 128 characters and rejects 129', () => {
    expect(isValidRegistrationId('r'.repeat(128))).toBe(true);
    expect(isValidRegistrationId('r'.repeat(129))).toBe(false);
  });
});

describe('model ids (DTMI)', () => {
  it('accepts the Thermostat example and DTDL v3 minor versions', () => {
    expect(isValidModelId('dtmi:com:example:Thermostat;1')).toBe(true);
    expect(isValidModelId('dtmi:com:example:TemperatureController;2')).toBe(true);
    expect(isValidModelId('dtmi:foo_bar:baz33;12.3')).toBe(true);
  });

  it('rejects a missing version, version 0, a leading zero and ten digits', () => {
    for (const id of ['dtmi:com:example', 'dtmi:a;0', 'dtmi:a;01', 'dtmi:a;1234567890']) {
      expect(isValidModelId(id)).toBe(false);
    }
  });

  it('rejects segments that start with a digit or end with _ , and the wrong scheme', () => {
    for (const id of ['dtmi:1a;1', 'dtmi:a_;1', 'DTMI:a;1', 'urn:a;1', 'dtmi:;1', 'dtmi:a::b;1']) {
      expect(isValidModelId(id)).toBe(false);
    }
    expect(einval(() => validateModelId('dtmi:a_;1')).message).toContain('modelId must be a DTMI');
  });

  it('rejects a model id over 2048 characters', () => {
    const long = `dtmi:${'a'.repeat(2050)};1`;
    expect(isValidModelId(long)).toBe(false);
    expect(einval(() => validateModelId(long)).message).toContain('the limit is 2048');
  });
});

describe('request ids ($rid)', () => {
  it('accepts decimal counters, GUIDs and hub-style hex ids', () => {
    for (const rid of ['1', '18446744073709551615', '3f2504e0-4f89-11d3-9a0c-0305e82c3301', 'id_one', 'A.b~c:d%20']) {
      expect(isValidRequestId(rid)).toBe(true);
    }
  });

  it('rejects & = / ? # + which would end the value, the level or form a wildcard', () => {
    for (const c of ['&', '=', '/', '?', '#', '+']) {
      expect(isValidRequestId(`a${c}b`)).toBe(false);
      expect(einval(() => validateRequestId(`a${c}b`)).message).toBe('rid must not contain & = / ? # or +');
    }
  });

  it('rejects empty, space, control, non-ASCII and over-long ids', () => {
    expect(einval(() => validateRequestId('')).message).toBe('rid must not be empty');
    expect(isValidRequestId('a b')).toBe(false);
    expect(isValidRequestId('a\nb')).toBe(false);
    expect(isValidRequestId('é')).toBe(false);
    expect(isValidRequestId('1'.repeat(128))).toBe(true);
    expect(einval(() => validateRequestId('1'.repeat(129))).message).toContain('the limit is 128');
  });
});

describe('property keys and values', () => {
  it('accept everything percent-encoding can carry', () => {
    expect(() => validatePropertyKey('a b&c=d/e?f#g+h%i$é😀')).not.toThrow();
    expect(() => validatePropertyValue('')).not.toThrow();
    expect(() => validatePropertyValue(null)).not.toThrow();
    expect(() => validatePropertyValue(undefined)).not.toThrow();
  });

  it('reject NUL, naming the field and the index', () => {
    expect(einval(() => validatePropertyKey('ab\u0000')).message).toBe('propBag key contains U+0000 (NUL) at index 2');
  });

  it('reject unpaired surrogates (high alone, low alone, high at the end)', () => {
    expect(einval(() => validatePropertyValue('\ud800x')).message).toContain('unpaired surrogate at index 0');
    expect(einval(() => validatePropertyValue('x\udc00')).message).toContain('unpaired surrogate at index 1');
    expect(einval(() => validatePropertyValue('\ud83d')).message).toContain('unpaired surrogate');
  });

  it('reject an empty key', () => {
    expect(einval(() => validatePropertyKey('')).message).toBe('propBag key must not be empty');
  });
});

describe('host names and id scopes', () => {
  it('accept hub names, host:port and DPS scopes', () => {
    expect(() => validateHostname('myhub.azure-devices.net')).not.toThrow();
    expect(() => validateHostname('localhost:8883')).not.toThrow();
    expect(() => validateIdScope('0ne00000A0A')).not.toThrow();
  });

  it('reject empty values and / ? # + or space', () => {
    expect(einval(() => validateHostname('')).message).toBe('hostname must not be empty');
    for (const bad of ['a/b', 'a?b', 'a#b', 'a+b', 'a b']) {
      expect(() => validateHostname(bad)).toThrow(AzureIotHubError);
      expect(() => validateIdScope(bad)).toThrow(AzureIotHubError);
    }
  });
});
