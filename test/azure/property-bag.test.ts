import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AzureIotHubError } from '../../src/errors.js';
import {
  decodePropertyBag,
  encodePropertyBag,
  findProperty,
  percentDecode,
  percentEncode,
  SystemProperty,
} from '../../src/azure/property-bag.js';
import type { AzureIotHubPropBag } from '../../src/azure/types.js';

function expectEinval(fn: () => unknown, messagePart: string): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(AzureIotHubError);
  expect((caught as AzureIotHubError).code).toBe('EINVAL');
  expect((caught as AzureIotHubError).message).toContain(messagePart);
}

describe('percentEncode', () => {
  it('leaves the RFC 3986 unreserved characters alone', () => {
    expect(percentEncode('AZaz09-._~')).toBe('AZaz09-._~');
  });

  it('encodes every reserved character, including the five encodeURIComponent keeps (! \' ( ) *)', () => {
    expect(percentEncode(":/?#[]@!$&'()*+,;=% ")).toBe(
      '%3A%2F%3F%23%5B%5D%40%21%24%26%27%28%29%2A%2B%2C%3B%3D%25%20',
    );
  });

  it('writes UTF-8 bytes with upper-case hex', () => {
    expect(percentEncode('é€😀')).toBe('%C3%A9%E2%82%AC%F0%9F%98%80');
  });

  it('writes system property names with $ as %24', () => {
    expect(percentEncode(SystemProperty.CONTENT_TYPE)).toBe('%24.ct');
    expect(percentEncode(SystemProperty.MESSAGE_ID)).toBe('%24.mid');
  });

  it('rejects U+0000 with EINVAL', () => {
    expectEinval(() => percentEncode('a\u0000b'), 'U+0000');
  });

  it('rejects an unpaired surrogate with EINVAL', () => {
    expectEinval(() => percentEncode('a\ud800b'), 'unpaired surrogate');
    expectEinval(() => percentEncode('\udc00'), 'unpaired surrogate');
  });
});

describe('percentDecode', () => {
  it('decodes escapes in either case', () => {
    expect(percentDecode('a%20b%2fc%2F')).toBe('a b/c/');
  });

  it('returns text without % unchanged', () => {
    expect(percentDecode('plain+text')).toBe('plain+text');
  });

  it('answers undefined for a % without two hex digits', () => {
    expect(percentDecode('%zz')).toBeUndefined();
    expect(percentDecode('abc%')).toBeUndefined();
    expect(percentDecode('%4')).toBeUndefined();
  });

  it('answers undefined for escapes that are not UTF-8 (truncated, overlong, surrogate)', () => {
    expect(percentDecode('%E2%82')).toBeUndefined();
    expect(percentDecode('%C0%AF')).toBeUndefined();
    expect(percentDecode('%ED%A0%80')).toBeUndefined();
  });
});

describe('encodePropertyBag', () => {
  it('gives the empty string for no bag and for an empty bag', () => {
    expect(encodePropertyBag(undefined)).toBe('');
    expect(encodePropertyBag([])).toBe('');
  });

  it('key vs key= vs key=value: null and undefined give key, empty string gives key=, a string gives key=value', () => {
    expect(
      encodePropertyBag([{ key: 'a', value: null }, { key: 'b' }, { key: 'c', value: '' }, { key: 'd', value: 'v' }]),
    ).toBe('a&b&c=&d=v');
  });

  it('keeps a trailing value-less key (the C library dropped it)', () => {
    expect(encodePropertyBag([{ key: 'a', value: '1' }, { key: 'last' }])).toBe('a=1&last');
  });

  it('writes system properties as %24.ct, %24.ce, %24.mid, %24.cid', () => {
    expect(
      encodePropertyBag([
        { key: '$.ct', value: 'application/json' },
        { key: '$.ce', value: 'utf-8' },
        { key: '$.mid', value: 'm1' },
        { key: '$.cid', value: 'c1' },
      ]),
    ).toBe('%24.ct=application%2Fjson&%24.ce=utf-8&%24.mid=m1&%24.cid=c1');
  });

  it('a value cannot inject a topic level, another property or a wildcard', () => {
    const bag = encodePropertyBag([{ key: 'k', value: 'x/y&evil=1#+?' }]);
    expect(bag).toBe('k=x%2Fy%26evil%3D1%23%2B%3F');
    expect(decodePropertyBag(bag)).toEqual([{ key: 'k', value: 'x/y&evil=1#+?' }]);
  });

  it('a key cannot inject a value or another property', () => {
    const bag = encodePropertyBag([{ key: 'a=b&c', value: 'v' }]);
    expect(bag).toBe('a%3Db%26c=v');
    expect(decodePropertyBag(bag)).toEqual([{ key: 'a=b&c', value: 'v' }]);
  });

  it('has no count limit (the C library capped incoming bags at 3)', () => {
    const props = Array.from({ length: 50 }, (_, i) => ({ key: `k${i}`, value: String(i) }));
    expect(decodePropertyBag(encodePropertyBag(props))).toEqual(props);
  });

  it('rejects an empty key with EINVAL naming its index', () => {
    expectEinval(() => encodePropertyBag([{ key: 'ok' }, { key: '' }]), 'propBag[1].key');
  });

  it('rejects NUL in a value with EINVAL naming the field', () => {
    expectEinval(() => encodePropertyBag([{ key: 'k', value: 'a\u0000' }]), 'propBag[0].value contains U+0000');
  });

  it('rejects an unpaired surrogate in a key with EINVAL naming the field', () => {
    expectEinval(() => encodePropertyBag([{ key: '\ud83d' }]), 'propBag[0].key contains an unpaired surrogate');
  });

  it('rejects a non-object entry and a non-string value with EINVAL', () => {
    expectEinval(() => encodePropertyBag([null as unknown as AzureIotHubPropBag]), 'propBag[0]');
    expectEinval(() => encodePropertyBag([{ key: 'k', value: 5 as unknown as string }]), 'propBag[0].value');
  });
});

describe('decodePropertyBag', () => {
  it('empty bag gives no properties', () => {
    expect(decodePropertyBag('')).toEqual([]);
  });

  it('key vs key= vs key=value give null, empty string and the value', () => {
    expect(decodePropertyBag('key&key2=&key3=value3')).toEqual([
      { key: 'key', value: null },
      { key: 'key2', value: '' },
      { key: 'key3', value: 'value3' },
    ]);
  });

  it('the MS doc example /?prop1&prop2=&prop3=a%20string (after the ?)', () => {
    expect(decodePropertyBag('prop1&prop2=&prop3=a%20string')).toEqual([
      { key: 'prop1', value: null },
      { key: 'prop2', value: '' },
      { key: 'prop3', value: 'a string' },
    ]);
  });

  it('percent-encoded ?, =, & and / inside values stay inside the value', () => {
    expect(decodePropertyBag('q=a%3Fb&e=c%3Dd&amp=x%26y=z&path=%2Fa%2Fb')).toEqual([
      { key: 'q', value: 'a?b' },
      { key: 'e', value: 'c=d' },
      { key: 'amp', value: 'x&y=z' },
      { key: 'path', value: '/a/b' },
    ]);
  });

  it('only the first raw = splits key and value', () => {
    expect(decodePropertyBag('k=a=b')).toEqual([{ key: 'k', value: 'a=b' }]);
  });

  it('keeps a malformed escape raw instead of throwing', () => {
    expect(decodePropertyBag('bad%zz=%E2%82&ok=%41')).toEqual([
      { key: 'bad%zz', value: '%E2%82' },
      { key: 'ok', value: 'A' },
    ]);
  });

  it('skips empty items (double or trailing &)', () => {
    expect(decodePropertyBag('a=1&&b&')).toEqual([
      { key: 'a', value: '1' },
      { key: 'b', value: null },
    ]);
  });

  it('keeps duplicate keys in order', () => {
    expect(decodePropertyBag('a=1&a=2')).toEqual([
      { key: 'a', value: '1' },
      { key: 'a', value: '2' },
    ]);
  });
});

describe('findProperty', () => {
  const bag = decodePropertyBag('keyx=1&a=key&key=3&key=4');

  it('a key that is a prefix of another key does not match the longer key', () => {
    expect(findProperty(bag, 'key')).toEqual({ key: 'key', value: '3' });
  });

  it('a value equal to another key name is not a key', () => {
    expect(findProperty(decodePropertyBag('a=key'), 'key')).toBeUndefined();
  });

  it('answers undefined for an absent key and an absent bag', () => {
    expect(findProperty(bag, 'nope')).toBeUndefined();
    expect(findProperty(undefined, 'key')).toBeUndefined();
  });
});

/** Strings rich in the characters that matter to a query string, plus arbitrary well-formed Unicode (no NUL). */
const text = fc.string({
  unit: fc.oneof(
    fc.constantFrom('&', '=', '/', '?', '#', '+', '%', ' ', '$', '.', '~', 'é', '😀', '%2F', '%zz'),
    fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }).filter((c) => c !== '\u0000'),
  ),
  maxLength: 24,
});
// `value` is sometimes absent (requiredKeys), sometimes null, sometimes a string.
const prop: fc.Arbitrary<AzureIotHubPropBag> = fc.record(
  { key: text.filter((k) => k.length > 0), value: fc.oneof(text, fc.constant(null)) },
  { requiredKeys: ['key'] },
);
const FC = { numRuns: 2000, seed: 0x5eed } as const;

describe('property bag properties (fast-check)', () => {
  it('encode then decode round-trips any keys and values (an absent value comes back as null)', () => {
    fc.assert(
      fc.property(fc.array(prop, { maxLength: 8 }), (props) => {
        const expected = props.map((p) => ({ key: p.key, value: p.value ?? null }));
        expect(decodePropertyBag(encodePropertyBag(props))).toEqual(expected);
      }),
      FC,
    );
  });

  it('an encoded bag holds no / # + and no raw & or = inside a key or value', () => {
    fc.assert(
      fc.property(fc.array(prop, { minLength: 1, maxLength: 8 }), (props) => {
        const bag = encodePropertyBag(props);
        expect(bag).not.toMatch(/[/#+?\s]/);
        const items = bag.split('&');
        expect(items).toHaveLength(props.length);
        items.forEach((item, i) => {
          const p = props[i]!;
          const parts = item.split('=');
          expect(parts.length).toBe(p.value === null || p.value === undefined ? 1 : 2);
          for (const part of parts) expect(part).toMatch(/^(?:[A-Za-z0-9\-._~]|%[0-9A-F]{2})*$/);
        });
      }),
      FC,
    );
  });

  it('decoding arbitrary text never throws and never invents keys from encoded separators', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 64 }), (s) => {
        const props = decodePropertyBag(s);
        const nonEmptyItems = s.split('&').filter((i) => i.length > 0);
        expect(props).toHaveLength(nonEmptyItems.length);
      }),
      FC,
    );
  });
});
