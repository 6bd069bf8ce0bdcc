/**
 * The DPS fields of `resolveConfig` added with provisioning: `dps.storePath`, and that DPS can authenticate (exactly
 * one of a symmetric key and an X.509 certificate).
 */
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../../../src/azure/config.js';
import { MemoryDpsStore } from '../../../src/azure/dps/memory-store.js';

const KEY = Buffer.alloc(32, 1).toString('base64');
const PEM_CERT = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const PEM_KEY = '-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n';

function einval(config: unknown): string {
  try {
    resolveConfig(config);
  } catch (err) {
    expect(err).toMatchObject({ code: 'EINVAL' });
    return (err as Error).message;
  }
  throw new Error('no error');
}

describe('resolveConfig: DPS store and attestation', () => {
  it('keeps dps.storePath', () => {
    expect(resolveConfig({ deviceId: 'd', dps: { idScope: 's', symmetricKey: KEY, storePath: '/var/lib/dev/dps.json' } }).dps?.storePath)
      .toBe('/var/lib/dev/dps.json');
  });

  it('refuses an empty storePath, and storePath with store', () => {
    expect(einval({ deviceId: 'd', dps: { idScope: 's', symmetricKey: KEY, storePath: '' } })).toMatch(/^config\.dps\.storePath must be a non-empty string/);
    expect(einval({ deviceId: 'd', dps: { idScope: 's', symmetricKey: KEY, storePath: 'a.json', store: new MemoryDpsStore() } }))
      .toMatch(/^config\.dps\.storePath and dps\.store are both set/);
  });

  it('needs exactly one DPS attestation: a symmetric key or an X.509 certificate', () => {
    expect(einval({ deviceId: 'd', sasKey: KEY, dps: { idScope: 's' } })).toMatch(/^config\.dps needs dps\.symmetricKey or credentials\.cert/);
    expect(einval({ deviceId: 'd', credentials: { cert: PEM_CERT, key: PEM_KEY }, dps: { idScope: 's', symmetricKey: KEY } }))
      .toMatch(/^config\.dps\.symmetricKey and credentials\.cert are both set/);
    expect(resolveConfig({ deviceId: 'd', credentials: { cert: PEM_CERT, key: PEM_KEY }, dps: { idScope: 's' } }).dps?.idScope).toBe('s');
    // sasKey overrides the hub key only; DPS still uses dps.symmetricKey.
    expect(resolveConfig({ deviceId: 'd', sasKey: KEY, dps: { idScope: 's', symmetricKey: KEY } }).sasKey).toBe(KEY);
  });
});
