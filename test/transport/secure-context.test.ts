/**
 * Sessions with the same TLS settings share one secure context (the CA and key are parsed once, not per device);
 * any difference in the settings gives a context of its own.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { createCa, createDeviceCertificate, type CertificateAndKey } from '../../src/emulator/certs.js';
import { sharedSecureContext } from '../../src/transport/socket.js';

let ca: CertificateAndKey;
let otherCa: CertificateAndKey;
let device: CertificateAndKey;

beforeAll(async () => {
  [ca, otherCa] = await Promise.all([createCa('secure-context test CA'), createCa('secure-context other CA')]);
  device = await createDeviceCertificate(ca, 'dev-1');
});

describe('sharedSecureContext', () => {
  it('returns the same context for the same settings', () => {
    const a = sharedSecureContext({ ca: ca.cert });
    const b = sharedSecureContext({ ca: `${ca.cert}` });
    expect(b).toBe(a);
    const x = sharedSecureContext({ ca: ca.cert, cert: device.chain, key: device.key });
    expect(sharedSecureContext({ ca: ca.cert, cert: device.chain, key: device.key })).toBe(x);
  });

  it('gives a context of its own to any other CA, certificate, key or TLS version', () => {
    const base = sharedSecureContext({ ca: ca.cert });
    const others = [
      sharedSecureContext({ ca: otherCa.cert }),
      sharedSecureContext({ ca: [ca.cert] }),
      sharedSecureContext({ ca: ca.cert, cert: device.chain, key: device.key }),
      sharedSecureContext({ ca: ca.cert, minVersion: 'TLSv1.3' }),
      sharedSecureContext({ ca: ca.cert, maxVersion: 'TLSv1.2' }),
      sharedSecureContext({}),
    ];
    expect(new Set([base, ...others]).size).toBe(others.length + 1);
  });

  it('throws for a PEM that does not load, and caches nothing for it', () => {
    const bad = { ca: ca.cert, cert: device.chain, key: otherCa.key! };
    expect(() => sharedSecureContext(bad)).toThrow();
    expect(() => sharedSecureContext(bad)).toThrow();
  });
});
