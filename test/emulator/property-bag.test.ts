import { describe, expect, it } from 'vitest';
import {
  decodeBagComponent,
  encodeBagComponent,
  formatPropertyBag,
  parsePropertyBag,
  topicParameters,
} from '../../src/emulator/property-bag.js';

describe('emulator property bags', () => {
  it('parses the three forms key=value, key= and key, URL-decoding keys and values', () => {
    expect(parsePropertyBag('%24.mid=abc&%24.to=%2Fdevices%2Fd%2Fmessages%2Fdevicebound&key1&key2=&key3=value%203')).toEqual([
      { key: '$.mid', value: 'abc' },
      { key: '$.to', value: '/devices/d/messages/devicebound' },
      { key: 'key1', value: null },
      { key: 'key2', value: '' },
      { key: 'key3', value: 'value 3' },
    ]);
  });

  it('keeps + literal, skips empty segments, keeps a leading ? in the first key as IoT Hub does', () => {
    expect(parsePropertyBag('a=1+2&&b=&')).toEqual([{ key: 'a', value: '1+2' }, { key: 'b', value: '' }]);
    expect(parsePropertyBag('?a=1')).toEqual([{ key: '?a', value: '1' }]);
    expect(parsePropertyBag('')).toEqual([]);
  });

  it('keeps text with a malformed escape instead of dropping it', () => {
    expect(decodeBagComponent('100%')).toBe('100%');
    expect(parsePropertyBag('k=%zz')).toEqual([{ key: 'k', value: '%zz' }]);
  });

  it('splits key and value at the first = only', () => {
    expect(parsePropertyBag('k=a=b')).toEqual([{ key: 'k', value: 'a=b' }]);
  });

  it('formats with RFC 3986 encoding and round-trips', () => {
    const entries = [
      { key: '$.ct', value: 'application/json;charset=utf-8' },
      { key: "it's (ok)!", value: '*' },
      { key: 'n', value: null },
      { key: 'e', value: '' },
      { key: 'ü', value: '€ & =' },
    ];
    const bag = formatPropertyBag(entries);
    expect(bag).toBe('%24.ct=application%2Fjson%3Bcharset%3Dutf-8&it%27s%20%28ok%29%21=%2A&n&e=&%C3%BC=%E2%82%AC%20%26%20%3D');
    expect(parsePropertyBag(bag)).toEqual(entries);
    expect(encodeBagComponent('A-z_0.9~')).toBe('A-z_0.9~');
  });

  it('reads request parameters after the first ?', () => {
    const p = topicParameters('$iothub/twin/res/200/?$rid=738&$version=135');
    expect(p.get('$rid')).toBe('738');
    expect(p.get('$version')).toBe('135');
    expect(topicParameters('$iothub/twin/GET/').size).toBe(0);
    // The first occurrence of a key wins.
    expect(topicParameters('x/?$rid=1&$rid=2').get('$rid')).toBe('1');
  });
});
