import { createHmac } from 'node:crypto';
import common from 'azure-iot-common';
import { describe, expect, it } from 'vitest';
import {
  createSasToken,
  deriveDeviceKey,
  parseSasToken,
  resourceCovers,
  signSas,
  verifySasToken,
} from '../../src/emulator/sas.js';

const KEY = Buffer.from('0123456789abcdef0123456789abcdef').toString('base64');
const OTHER = Buffer.alloc(32, 9).toString('base64');
const same = (a: string, b: string): boolean => a.toLowerCase() === b.toLowerCase();

describe('emulator SAS tokens', () => {
  it('verifies a hub token built by Microsoft\'s SDK (encoded sr)', () => {
    const expiry = 2_000_000_000;
    const resource = common.encodeUriComponentStrict('myhub.azure-devices.net/devices/dev 1');
    const token = common.SharedAccessSignature.create(resource, '', KEY, expiry).toString();
    const parsed = parseSasToken(token)!;
    expect(parsed).toMatchObject({ resource: 'myhub.azure-devices.net/devices/dev 1', expiry });
    expect(parsed.keyName).toBeUndefined();
    const covers = (sr: string): boolean => resourceCovers(sr, 'myhub.azure-devices.net/devices/dev 1', same);
    expect(verifySasToken(parsed, [KEY], covers, expiry - 1)).toBeUndefined();
    expect(verifySasToken(parsed, [OTHER, KEY], covers, expiry - 1)).toBeUndefined();
    expect(verifySasToken(parsed, [OTHER], covers, expiry - 1)).toBe('bad-signature');
    expect(verifySasToken(parsed, [KEY], covers, expiry)).toBe('expired');
    expect(verifySasToken(parsed, [KEY], (sr) => resourceCovers(sr, 'myhub.azure-devices.net/devices/dev 2', same), 0))
      .toBe('wrong-resource');
  });

  it('verifies a DPS token built by Microsoft\'s SDK (raw sr, skn=registration)', () => {
    const token = common.SharedAccessSignature.create('0ne00000001/registrations/reg-1', 'registration', KEY, 2_000_000_000).toString();
    const parsed = parseSasToken(token)!;
    expect(parsed.keyName).toBe('registration');
    const covers = (sr: string): boolean => sr === '0ne00000001/registrations/reg-1';
    expect(verifySasToken(parsed, [KEY], covers, 0, 'registration')).toBeUndefined();
    // On the hub a key name means a shared access policy, which the emulator refuses.
    expect(verifySasToken(parsed, [KEY], covers, 0)).toBe('policy-key');
  });

  it('builds tokens the SDK-compatible way, fields in any order parse', () => {
    const token = createSasToken({ resource: 'h/devices/d', key: KEY, expiry: 1234567890 });
    expect(token).toBe(`SharedAccessSignature sr=h%2Fdevices%2Fd&sig=${encodeURIComponent(signSas('h%2Fdevices%2Fd', 1234567890, KEY))}&se=1234567890`);
    const reordered = `SharedAccessSignature se=1234567890&${token.slice('SharedAccessSignature '.length).split('&').slice(0, 2).join('&')}`;
    const parsed = parseSasToken(reordered)!;
    expect(verifySasToken(parsed, [KEY], (sr) => sr === 'h/devices/d', 0)).toBeUndefined();
  });

  it('refuses malformed tokens', () => {
    for (const bad of ['', 'SharedAccessSignature', 'Bearer x', 'SharedAccessSignature sr=a&sig=b', 'SharedAccessSignature sr=a&sig=b&se=x',
      'SharedAccessSignature sr=a&sig=b&se=1&se=2', 'SharedAccessSignature sr=%E0%A4%A&sig=b&se=1', 'SharedAccessSignature sr=a&sig=b&se=1&junk']) {
      expect(parseSasToken(bad), bad).toBeUndefined();
    }
  });

  it('matches resource URIs segment by segment', () => {
    expect(resourceCovers('hub/devices/a', 'hub/devices/a', same)).toBe(true);
    expect(resourceCovers('HUB/devices/a/', 'hub/devices/a', same)).toBe(true);
    expect(resourceCovers('hub', 'hub/devices/a', same)).toBe(true);
    expect(resourceCovers('hub/devices/a', 'hub/devices/ab', same)).toBe(false);
    expect(resourceCovers('hub/devices/ab', 'hub/devices/a', same)).toBe(false);
    expect(resourceCovers('other/devices/a', 'hub/devices/a', same)).toBe(false);
    expect(resourceCovers('hub/devices/A', 'hub/devices/a', same)).toBe(false);
  });

  it('derives group member keys as Microsoft documents', () => {
    const expected = createHmac('SHA256', Buffer.from(KEY, 'base64')).update('device-007', 'utf8').digest('base64');
    expect(deriveDeviceKey(KEY, 'device-007')).toBe(expected);
  });
});
