import { createHmac } from 'node:crypto';
import common from 'azure-iot-common';
import { describe, expect, it } from 'vitest';
import { AzureIotHubError } from '../../src/errors.js';
import {
  deriveGroupDeviceKey,
  DPS_SAS_KEY_NAME,
  dpsSasResource,
  dpsSasToken,
  generateSasToken,
  hubSasResource,
  hubSasToken,
  sasExpiry,
} from '../../src/azure/sas.js';

const { SharedAccessSignature, encodeUriComponentStrict } = common;

// Test keys only (random bytes, base64).
const KEY = 'tK4wQ7hV1c0mY2z8q5r3Lw6pN9sJ1dF0aB2cD3eF4gE=';
const GROUP_KEY = 'Z3JvdXAta2V5LWZvci10ZXN0cy1vbmx5LTEyMzQ1Njc4OTA=';
const EXPIRY = 1893456000; // 2030-01-01T00:00:00Z

/** The documented algorithm, written out independently with node:crypto. */
function reference(resource: string, key: string, expiry: number, keyName?: string): string {
  const sr = encodeURIComponent(resource);
  const sig = createHmac('sha256', Buffer.from(key, 'base64')).update(`${sr}\n${expiry}`).digest('base64');
  return (
    `SharedAccessSignature sr=${sr}&sig=${encodeURIComponent(sig)}&se=${expiry}` +
    (keyName === undefined ? '' : `&skn=${encodeURIComponent(keyName)}`)
  );
}

/** A token's fields as a map, for order-independent comparison. */
function fields(token: string): Record<string, string> {
  expect(token.startsWith('SharedAccessSignature ')).toBe(true);
  return Object.fromEntries(token.slice('SharedAccessSignature '.length).split('&').map((kv) => kv.split('=', 2)));
}

describe('generateSasToken', () => {
  it('known vector: device token for contoso.azure-devices.net/devices/dev1, cross-checked with node:crypto', () => {
    const token = generateSasToken({ resourceUri: 'contoso.azure-devices.net/devices/dev1', key: KEY, expiry: EXPIRY });
    expect(token).toBe(reference('contoso.azure-devices.net/devices/dev1', KEY, EXPIRY));
    expect(token).toMatch(/^SharedAccessSignature sr=contoso\.azure-devices\.net%2Fdevices%2Fdev1&sig=[^&]+&se=1893456000$/);
  });

  it("equals Microsoft's azure-iot-common SharedAccessSignature.create for a device key (no skn)", () => {
    const resource = 'contoso.azure-devices.net/devices/dev-1_a.b';
    const ours = generateSasToken({ resourceUri: resource, key: KEY, expiry: EXPIRY });
    const theirs = SharedAccessSignature.create(encodeUriComponentStrict(resource), '', KEY, EXPIRY).toString();
    expect(ours).toBe(theirs);
  });

  it("has the same fields as Microsoft's token with skn (Microsoft writes skn before se; order is free)", () => {
    const resource = 'contoso.azure-devices.net';
    const ours = generateSasToken({ resourceUri: resource, key: KEY, expiry: EXPIRY, keyName: 'iothubowner' });
    const theirs = SharedAccessSignature.create(encodeUriComponentStrict(resource), 'iothubowner', KEY, EXPIRY).toString();
    expect(fields(ours)).toEqual(fields(theirs));
    expect(ours.endsWith('&se=1893456000&skn=iothubowner')).toBe(true);
  });

  it('encodes ! \' ( ) * in the resource with upper-case hex (RFC 3986); Microsoft writes lower case there', () => {
    const resource = "h/devices/d!'()*";
    const ours = generateSasToken({ resourceUri: resource, key: KEY, expiry: EXPIRY });
    expect(fields(ours)['sr']).toBe('h%2Fdevices%2Fd%21%27%28%29%2A');
    const theirs = SharedAccessSignature.create(encodeUriComponentStrict(resource), '', KEY, EXPIRY).toString();
    expect(fields(theirs)['sr']).toBe('h%2Fdevices%2Fd%21%27%28%29%2a');
  });

  it('the signature changes with the resource, the key and the expiry', () => {
    const base = { resourceUri: 'h/devices/d', key: KEY, expiry: EXPIRY };
    const sig = (o: typeof base) => fields(generateSasToken(o))['sig'];
    expect(sig({ ...base, resourceUri: 'h/devices/e' })).not.toBe(sig(base));
    expect(sig({ ...base, key: GROUP_KEY })).not.toBe(sig(base));
    expect(sig({ ...base, expiry: EXPIRY + 1 })).not.toBe(sig(base));
  });

  it('rejects a key that is not base64 without showing the key', () => {
    const secret = 'not*base64!secret';
    let caught: unknown;
    try {
      generateSasToken({ resourceUri: 'h/devices/d', key: secret, expiry: EXPIRY });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(AzureIotHubError);
    expect((caught as AzureIotHubError).code).toBe('EINVAL');
    expect((caught as AzureIotHubError).message).toBe('key is not valid base64');
    expect((caught as AzureIotHubError).message).not.toContain(secret);
  });

  it('rejects an empty key, a bad expiry, an empty resource and an empty key name', () => {
    expect(() => generateSasToken({ resourceUri: 'r', key: '', expiry: EXPIRY })).toThrow(/key must be a non-empty/);
    for (const expiry of [0, -1, 1.5, NaN, 1e20]) {
      expect(() => generateSasToken({ resourceUri: 'r', key: KEY, expiry })).toThrow(/expiry must be/);
    }
    expect(() => generateSasToken({ resourceUri: '', key: KEY, expiry: EXPIRY })).toThrow(/resourceUri/);
    expect(() => generateSasToken({ resourceUri: 'r', key: KEY, expiry: EXPIRY, keyName: '' })).toThrow(/keyName/);
  });
});

describe('hub SAS', () => {
  it('device resource is {host}/devices/{id}; module resource adds /modules/{module}', () => {
    expect(hubSasResource('h.azure-devices.net', { deviceId: 'd' })).toBe('h.azure-devices.net/devices/d');
    expect(hubSasResource('h.azure-devices.net', { deviceId: 'd', moduleId: 'm' })).toBe(
      'h.azure-devices.net/devices/d/modules/m',
    );
  });

  it("hubSasToken equals Microsoft's token for a module identity", () => {
    const ours = hubSasToken('h.azure-devices.net', { deviceId: 'd', moduleId: 'm' }, KEY, EXPIRY);
    const theirs = SharedAccessSignature.create(
      encodeUriComponentStrict('h.azure-devices.net/devices/d/modules/m'),
      '',
      KEY,
      EXPIRY,
    ).toString();
    expect(ours).toBe(theirs);
    expect(ours).not.toContain('skn=');
  });

  it('rejects an invalid identity', () => {
    expect(() => hubSasResource('h', { deviceId: 'a/b' })).toThrow(AzureIotHubError);
  });
});

describe('DPS SAS', () => {
  it('resource is {idScope}/registrations/{regId} and the key name is registration', () => {
    expect(DPS_SAS_KEY_NAME).toBe('registration');
    expect(dpsSasResource('0ne00000A0A', 'reg-1')).toBe('0ne00000A0A/registrations/reg-1');
  });

  it('token is sr=...&sig=...&se=...&skn=registration, cross-checked with node:crypto and Microsoft', () => {
    const token = dpsSasToken('0ne00000A0A', 'reg-1', KEY, EXPIRY);
    expect(token).toBe(reference('0ne00000A0A/registrations/reg-1', KEY, EXPIRY, 'registration'));
    const theirs = SharedAccessSignature.create(
      encodeUriComponentStrict('0ne00000A0A/registrations/reg-1'),
      'registration',
      KEY,
      EXPIRY,
    ).toString();
    expect(fields(token)).toEqual(fields(theirs));
  });
});

describe('group key derivation', () => {
  it('is base64(HMAC-SHA256(base64decode(groupKey), registrationId))', () => {
    const expected = createHmac('sha256', Buffer.from(GROUP_KEY, 'base64')).update('sn-007-888-abc').digest('base64');
    expect(deriveGroupDeviceKey(GROUP_KEY, 'sn-007-888-abc')).toBe(expected);
  });

  it('derives different keys for different registration ids, usable as SAS keys', () => {
    const a = deriveGroupDeviceKey(GROUP_KEY, 'dev-a');
    const b = deriveGroupDeviceKey(GROUP_KEY, 'dev-b');
    expect(a).not.toBe(b);
    expect(Buffer.from(a, 'base64')).toHaveLength(32);
    expect(() => dpsSasToken('0ne', 'dev-a', a, EXPIRY)).not.toThrow();
  });

  it('rejects a group key that is not base64 without showing it', () => {
    expect(() => deriveGroupDeviceKey('%%%', 'dev-a')).toThrow('groupKey is not valid base64');
  });
});

describe('sasExpiry', () => {
  it('is floor(now / 1000) + ttl', () => {
    expect(sasExpiry(1_700_000_000_999, 3600)).toBe(1_700_003_600);
  });

  it('rejects a non-positive or fractional TTL and a negative time', () => {
    expect(() => sasExpiry(0, 0)).toThrow(/ttlSeconds/);
    expect(() => sasExpiry(0, 1.5)).toThrow(/ttlSeconds/);
    expect(() => sasExpiry(-1, 60)).toThrow(/nowMs/);
  });
});
