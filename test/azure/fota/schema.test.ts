/**
 * FOTA twin schema: the desired `firmware` object (valid and invalid documents), the reported one, the report JSON
 * (exactly the C library's format) and JSON merge patches.
 */
import { describe, expect, it } from 'vitest';
import {
  applyMergePatch,
  buildFirmwareReport,
  firmwareReportJson,
  firmwareUrl,
  parseDesiredFirmware,
  parseReportedFirmware,
  parseTwinDocument,
  type DesiredFirmwareResult,
} from '../../../src/azure/fota/schema.js';
import { AzureIotHubError } from '../../../src/errors.js';

const SHA = 'a1'.repeat(32);

function fw(extra: Record<string, unknown> = {}, location: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    fwVersion: 'v1.0.3',
    jobId: '6a6f9f6e-3b1a-4d7e-9d0c-0d2f2b1c3e4f',
    fwLocation: { protocol: 'https:', host: 'fw.example.com', path: 'app_update.bin', ...location },
    fwFragmentSize: 1800,
    ...extra,
  };
}

function ok(r: DesiredFirmwareResult) {
  if (r.kind !== 'ok') throw new Error(`expected ok, got ${r.kind}${r.kind === 'invalid' ? `: ${r.error.message}` : ''}`);
  return r.firmware;
}

function invalidField(r: DesiredFirmwareResult): string {
  if (r.kind !== 'invalid') throw new Error(`expected invalid, got ${r.kind}`);
  expect(r.error).toBeInstanceOf(AzureIotHubError);
  expect(r.error.code).toBe('EINVAL');
  return r.error.message;
}

describe('parseDesiredFirmware: valid documents', () => {
  it('reads desired.firmware of a full twin (the C example document)', () => {
    const doc = { desired: { firmware: fw(), $version: 4 }, reported: { $version: 2 } };
    expect(ok(parseDesiredFirmware(doc))).toEqual({
      version: 'v1.0.3',
      jobId: '6a6f9f6e-3b1a-4d7e-9d0c-0d2f2b1c3e4f',
      location: { protocol: 'https:', host: 'fw.example.com', path: 'app_update.bin' },
      url: 'https://fw.example.com/app_update.bin',
      fragmentSize: 1800,
    });
  });

  it('reads the root firmware of a desired PATCH, from JSON text and from UTF-8 bytes', () => {
    const text = JSON.stringify({ firmware: fw(), $version: 5 });
    expect(ok(parseDesiredFirmware(text)).version).toBe('v1.0.3');
    expect(ok(parseDesiredFirmware(new TextEncoder().encode(text))).version).toBe('v1.0.3');
  });

  it('a numeric fwVersion becomes its decimal string', () => {
    expect(ok(parseDesiredFirmware({ firmware: fw({ fwVersion: 3 }) })).version).toBe('3');
    expect(ok(parseDesiredFirmware({ firmware: fw({ fwVersion: 1.5 }) })).version).toBe('1.5');
  });

  it('jobId is optional; an empty jobId means none', () => {
    const { jobId: _j, ...noJob } = fw();
    void _j;
    expect(ok(parseDesiredFirmware({ firmware: noJob })).jobId).toBeUndefined();
    expect('jobId' in ok(parseDesiredFirmware({ firmware: fw({ jobId: '' }) }))).toBe(false);
  });

  it('host may carry :port, also for IPv4 and bracketed IPv6', () => {
    expect(ok(parseDesiredFirmware({ firmware: fw({}, { host: '127.0.0.1:8443' }) })).url).toBe(
      'https://127.0.0.1:8443/app_update.bin',
    );
    expect(ok(parseDesiredFirmware({ firmware: fw({}, { host: '[::1]:8443' }) })).url).toBe(
      'https://[::1]:8443/app_update.bin',
    );
  });

  it('protocol defaults to https:, accepts http/HTTPS spellings', () => {
    expect(ok(parseDesiredFirmware({ firmware: fw({}, { protocol: undefined }) })).location.protocol).toBe('https:');
    expect(ok(parseDesiredFirmware({ firmware: fw({}, { protocol: '' }) })).location.protocol).toBe('https:');
    expect(ok(parseDesiredFirmware({ firmware: fw({}, { protocol: 'http' }) })).url).toBe('http://fw.example.com/app_update.bin');
    expect(ok(parseDesiredFirmware({ firmware: fw({}, { protocol: 'HTTPS:' }) })).location.protocol).toBe('https:');
  });

  it('a leading / in path is not doubled; a query string (blob SAS) is kept', () => {
    expect(ok(parseDesiredFirmware({ firmware: fw({}, { path: '/dir/a.bin' }) })).url).toBe('https://fw.example.com/dir/a.bin');
    expect(ok(parseDesiredFirmware({ firmware: fw({}, { path: 'c/a.bin?sv=1&sig=abc%2B' }) })).url).toBe(
      'https://fw.example.com/c/a.bin?sv=1&sig=abc%2B',
    );
  });

  it('fwFragmentSize is kept when numeric and dropped otherwise (the downloader picks the default)', () => {
    expect(ok(parseDesiredFirmware({ firmware: fw({ fwFragmentSize: 0 }) })).fragmentSize).toBe(0);
    expect('fragmentSize' in ok(parseDesiredFirmware({ firmware: fw({ fwFragmentSize: '1800' }) }))).toBe(false);
    expect('fragmentSize' in ok(parseDesiredFirmware({ firmware: fw({ fwFragmentSize: undefined }) }))).toBe(false);
  });

  it('sha256 (extension) at firmware or fwLocation, lower-cased; size likewise', () => {
    expect(ok(parseDesiredFirmware({ firmware: fw({ sha256: SHA.toUpperCase() }) })).sha256).toBe(SHA);
    expect(ok(parseDesiredFirmware({ firmware: fw({}, { sha256: SHA }) })).sha256).toBe(SHA);
    expect(ok(parseDesiredFirmware({ firmware: fw({ sha256: SHA }, { sha256: SHA.toUpperCase() }) })).sha256).toBe(SHA);
    expect(ok(parseDesiredFirmware({ firmware: fw({ size: 1234 }) })).size).toBe(1234);
    expect(ok(parseDesiredFirmware({ firmware: fw({}, { size: 1234 }) })).size).toBe(1234);
  });
});

describe('parseDesiredFirmware: absent', () => {
  it.each([
    ['a patch without firmware', { telemetryInterval: 5, $version: 3 }],
    ['firmware: null (deleted)', { firmware: null }],
    ['a full twin whose desired has no firmware (root firmware is not looked at)', { desired: { $version: 1 }, firmware: fw() }],
  ])('%s', (_name, doc) => {
    expect(parseDesiredFirmware(doc).kind).toBe('absent');
  });
});

describe('parseDesiredFirmware: invalid documents give a coded result, never a throw', () => {
  it.each<[string, Record<string, unknown>, RegExp]>([
    ['firmware is a string', { firmware: 'v2' }, /^firmware must be an object/],
    ['fwVersion missing', { firmware: fw({ fwVersion: undefined }) }, /firmware\.fwVersion/],
    ['fwVersion empty', { firmware: fw({ fwVersion: '' }) }, /firmware\.fwVersion/],
    ['fwVersion boolean', { firmware: fw({ fwVersion: true }) }, /firmware\.fwVersion/],
    ['fwVersion NaN-like (Infinity is not JSON, but an object is)', { firmware: fw({ fwVersion: {} }) }, /fwVersion/],
    ['fwVersion too long', { firmware: fw({ fwVersion: 'v'.repeat(129) }) }, /at most 128/],
    ['jobId a number', { firmware: fw({ jobId: 42 }) }, /firmware\.jobId must be a string/],
    ['jobId too long', { firmware: fw({ jobId: 'j'.repeat(129) }) }, /firmware\.jobId/],
    ['fwLocation missing', { firmware: fw({ fwLocation: undefined }) }, /firmware\.fwLocation must be an object/],
    ['fwLocation an array', { firmware: fw({ fwLocation: [] }) }, /firmware\.fwLocation must be an object/],
    ['protocol ftp:', { firmware: fw({}, { protocol: 'ftp:' }) }, /protocol/],
    ['protocol a number', { firmware: fw({}, { protocol: 443 }) }, /protocol/],
    ['host missing', { firmware: fw({}, { host: undefined }) }, /fwLocation\.host/],
    ['host empty', { firmware: fw({}, { host: '' }) }, /fwLocation\.host/],
    ['host with a path', { firmware: fw({}, { host: 'fw.example.com/dir' }) }, /fwLocation\.host/],
    ['host with a scheme', { firmware: fw({}, { host: 'https://fw.example.com' }) }, /fwLocation\.host/],
    ['host with user info', { firmware: fw({}, { host: 'user@fw.example.com' }) }, /fwLocation\.host/],
    ['port 0', { firmware: fw({}, { host: 'fw.example.com:0' }) }, /1\.\.65535/],
    ['port 70000', { firmware: fw({}, { host: 'fw.example.com:70000' }) }, /1\.\.65535/],
    ['path missing', { firmware: fw({}, { path: undefined }) }, /fwLocation\.path/],
    ['path only slashes', { firmware: fw({}, { path: '//' }) }, /fwLocation\.path/],
    ['path with a space', { firmware: fw({}, { path: 'a b.bin' }) }, /fwLocation\.path/],
    ['path with a control character', { firmware: fw({}, { path: 'a\nb.bin' }) }, /fwLocation\.path/],
    ['sha256 not hex', { firmware: fw({ sha256: 'zz'.repeat(32) }) }, /sha256/],
    ['sha256 too short', { firmware: fw({ sha256: 'ab' }) }, /sha256/],
    ['sha256 disagreeing', { firmware: fw({ sha256: SHA }, { sha256: 'b2'.repeat(32) }) }, /sha256/],
    ['size 0', { firmware: fw({ size: 0 }) }, /size/],
    ['size fractional', { firmware: fw({ size: 10.5 }) }, /size/],
    ['size a string', { firmware: fw({ size: '10' }) }, /size/],
    ['size disagreeing', { firmware: fw({ size: 10 }, { size: 11 }) }, /size/],
  ])('%s', (_name, doc, message) => {
    expect(invalidField(parseDesiredFirmware(doc))).toMatch(message);
  });

  it('names fields under desired. for a full twin', () => {
    expect(invalidField(parseDesiredFirmware({ desired: { firmware: fw({ jobId: 1 }) } }))).toMatch(/^desired\.firmware\.jobId/);
  });

  it('never echoes the offending value (a path may carry a SAS token)', () => {
    const message = invalidField(parseDesiredFirmware({ firmware: fw({}, { path: 'a b?sig=TOPSECRET' }) }));
    expect(message).not.toContain('TOPSECRET');
  });

  it.each<[string, string | Uint8Array]>([
    ['not JSON', '{"firmware":'],
    ['a JSON array', '[1,2]'],
    ['JSON null', 'null'],
    ['invalid UTF-8', new Uint8Array([0x7b, 0xff, 0x7d])],
  ])('%s gives ENOMSG', (_name, input) => {
    const r = parseDesiredFirmware(input);
    expect(r.kind).toBe('invalid');
    if (r.kind === 'invalid') expect(r.error.code).toBe('ENOMSG');
  });
});

describe('parseReportedFirmware', () => {
  it('none for a desired PATCH (no reported object)', () => {
    expect(parseReportedFirmware({ firmware: fw() })).toEqual({ kind: 'none' });
  });

  it('absent when reported has no firmware object', () => {
    expect(parseReportedFirmware({ desired: {}, reported: { $version: 1 } })).toEqual({ kind: 'absent' });
  });

  it('reads the four fields, each optional', () => {
    const reported = { firmware: { fwUpdateStatus: 'applying', currentFwVersion: 'v1', pendingFwVersion: 'v2', jobId: 'J' } };
    expect(parseReportedFirmware({ reported })).toEqual({ kind: 'ok', firmware: reported.firmware });
    expect(parseReportedFirmware({ reported: { firmware: { currentFwVersion: 'v1' } } })).toEqual({
      kind: 'ok',
      firmware: { currentFwVersion: 'v1' },
    });
  });

  it('invalid when firmware or a field has the wrong type', () => {
    expect(parseReportedFirmware({ reported: { firmware: 5 } }).kind).toBe('invalid');
    expect(parseReportedFirmware({ reported: { firmware: { fwUpdateStatus: 1 } } }).kind).toBe('invalid');
    expect(parseReportedFirmware({ reported: 'x' }).kind).toBe('invalid');
  });
});

describe('firmware report JSON (PROTOCOL.md 1.11, exact)', () => {
  it('with a job id: status, current, pending, jobId in that order', () => {
    expect(firmwareReportJson({ status: 'downloading', currentVersion: 'v1.0.0', pendingVersion: 'v1.0.3', jobId: 'J-1' })).toBe(
      '{"firmware":{"fwUpdateStatus":"downloading","currentFwVersion":"v1.0.0","pendingFwVersion":"v1.0.3","jobId":"J-1"}}',
    );
  });

  it('without a job: status and current only', () => {
    expect(firmwareReportJson({ status: 'current', currentVersion: 'v1.0.0' })).toBe(
      '{"firmware":{"fwUpdateStatus":"current","currentFwVersion":"v1.0.0"}}',
    );
  });

  it('escapes strings as JSON (unlike the C snprintf)', () => {
    const report = buildFirmwareReport({ status: 'current', currentVersion: 'v"1\\' });
    expect(JSON.parse(JSON.stringify(report))).toEqual({ firmware: { fwUpdateStatus: 'current', currentFwVersion: 'v"1\\' } });
  });

  it('an empty job id is left out', () => {
    expect(buildFirmwareReport({ status: 'error', currentVersion: 'a', pendingVersion: 'b', jobId: '' })).toEqual({
      firmware: { fwUpdateStatus: 'error', currentFwVersion: 'a', pendingFwVersion: 'b' },
    });
  });
});

describe('helpers', () => {
  it('parseTwinDocument passes objects through and parses text', () => {
    const doc = { a: 1 };
    expect(parseTwinDocument(doc)).toEqual({ kind: 'ok', doc });
    expect(parseTwinDocument('{"a":1}')).toEqual({ kind: 'ok', doc });
  });

  it('firmwareUrl joins protocol, host and path', () => {
    expect(firmwareUrl({ protocol: 'http:', host: 'h:8080', path: '/x.bin' })).toBe('http://h:8080/x.bin');
  });

  it('applyMergePatch: null deletes, objects merge, the target is not modified', () => {
    const target = { firmware: fw(), other: 1 };
    const merged = applyMergePatch(target, { firmware: { fwVersion: 'v2', jobId: 'J2', fwFragmentSize: null }, other: null });
    expect(merged).toEqual({
      firmware: { fwVersion: 'v2', jobId: 'J2', fwLocation: fw()['fwLocation'] },
    });
    expect(target.other).toBe(1);
    expect(ok(parseDesiredFirmware(merged as Record<string, unknown>)).version).toBe('v2');
    expect(applyMergePatch({ a: 1 }, 'x')).toBe('x');
  });
});
