/** `parseTwin`: the twin GET body, or an `EPROTO` error value for a malformed document (never a throw). */
import { describe, expect, it } from 'vitest';
import { parseTwin } from '../../../src/azure/twin.js';
import { AzureIotHubError } from '../../../src/errors.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('parseTwin', () => {
  it('returns desired and reported with their versions and members, from bytes or a string', () => {
    const doc = '{"desired":{"a":1,"$version":4},"reported":{"b":{"c":null},"$version":2},"tags":{}}';
    const twin = parseTwin(enc(doc));
    expect(twin).toEqual({ desired: { a: 1, $version: 4 }, reported: { b: { c: null }, $version: 2 } });
    expect(parseTwin(doc)).toEqual(twin);
  });

  const bad: [string, string, RegExp][] = [
    ['not JSON', '{', /not valid JSON/],
    ['empty', '', /not valid JSON/],
    ['an array', '[]', /lacks "desired" or "reported"/],
    ['no reported', '{"desired":{"$version":1}}', /lacks "desired" or "reported"/],
    ['desired not an object', '{"desired":[],"reported":{"$version":1}}', /lacks "desired" or "reported"/],
    ['no desired version', '{"desired":{},"reported":{"$version":1}}', /numeric \$version/],
    ['a string version', '{"desired":{"$version":"1"},"reported":{"$version":1}}', /numeric \$version/],
  ];
  it.each(bad)('%s is EPROTO', (_name, body, message) => {
    const r = parseTwin(enc(body));
    expect(r).toBeInstanceOf(AzureIotHubError);
    expect((r as AzureIotHubError).code).toBe('EPROTO');
    expect((r as AzureIotHubError).message).toMatch(message);
  });
});
