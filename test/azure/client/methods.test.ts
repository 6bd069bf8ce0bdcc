/** Direct-method helpers: parsing a request payload and encoding a handler's response. */
import { describe, expect, it } from 'vitest';
import { CATCH_ALL_METHOD, encodeResponsePayload, parseJsonPayload } from '../../../src/azure/methods.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('parseJsonPayload', () => {
  it('parses JSON of any kind', () => {
    expect(parseJsonPayload(enc('{"a":[1,2]}'))).toEqual({ a: [1, 2] });
    expect(parseJsonPayload(enc('null'))).toBeNull();
    expect(parseJsonPayload(enc('"x"'))).toBe('x');
    expect(parseJsonPayload(enc('12'))).toBe(12);
  });

  it('is undefined for an empty or invalid payload (never throws)', () => {
    expect(parseJsonPayload(new Uint8Array(0))).toBeUndefined();
    expect(parseJsonPayload(enc('{'))).toBeUndefined();
    expect(parseJsonPayload(Uint8Array.of(0xff, 0xfe))).toBeUndefined();
  });
});

describe('encodeResponsePayload', () => {
  it('sends bytes and strings as they are, anything else as JSON, undefined as an empty body', () => {
    const b = enc('raw');
    expect(encodeResponsePayload(b)).toBe(b);
    expect(encodeResponsePayload('text')).toBe('text');
    expect(encodeResponsePayload({ ok: true })).toBe('{"ok":true}');
    expect(encodeResponsePayload(null)).toBe('null');
    expect(encodeResponsePayload(0)).toBe('0');
    expect(encodeResponsePayload(undefined)).toBe('');
  });

  it('sends an empty body for what JSON cannot represent (a function)', () => {
    expect(encodeResponsePayload(() => 1)).toBe('');
  });

  it('throws for what JSON.stringify refuses (BigInt, cycles): the client answers such a handler with 500', () => {
    expect(() => encodeResponsePayload({ n: 1n })).toThrow(TypeError);
  });

  it('registers the catch-all under "*"', () => {
    expect(CATCH_ALL_METHOD).toBe('*');
  });
});
