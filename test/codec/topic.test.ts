/**
 * Topic names and filters (MQTT 3.1.1 section 4.7): topicMatchesFilter, validateTopicFilter, validateTopicName.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { topicMatchesFilter, validateTopicFilter, validateTopicName } from '../../src/codec/index.js';
import { protocolError } from '../helpers/fixtures.js';
import { runs, topicFilter, topicName } from './arbitraries.js';

describe('topicMatchesFilter', () => {
  // [filter, topic, matches]
  const CASES: Array<[string, string, boolean]> = [
    // Exact levels
    ['a/b', 'a/b', true],
    ['a/b', 'a/c', false],
    ['a/b', 'a/b/c', false],
    ['a/b/c', 'a/b', false],
    ['a', 'a/', false],
    ['ACCOUNTS', 'Accounts', false], // case sensitive (section 4.7.3)
    ['a b/c', 'a b/c', true], // spaces are ordinary characters
    ['café/☃', 'café/☃', true],
    // Single-level wildcard (section 4.7.1.3)
    ['sport/tennis/+', 'sport/tennis/player1', true],
    ['sport/tennis/+', 'sport/tennis/player1/ranking', false],
    ['sport/+', 'sport', false],
    ['sport/+', 'sport/', true], // + matches an empty level
    ['+/+', '/finance', true],
    ['/+', '/finance', true],
    ['+', '/finance', false],
    ['+', 'a', true],
    ['+/b/+', 'a/b/c', true],
    ['+/b/+', 'a/x/c', false],
    // Multi-level wildcard (section 4.7.1.2)
    ['#', 'a', true],
    ['#', 'a/b/c', true],
    ['#', '/', true],
    ['sport/tennis/player1/#', 'sport/tennis/player1', true], // # also matches the parent level
    ['sport/tennis/player1/#', 'sport/tennis/player1/ranking', true],
    ['sport/tennis/player1/#', 'sport/tennis/player1/score/wimbledon', true],
    ['a/#', 'a', true],
    ['a/#', 'a/', true],
    ['a/#', 'ab', false],
    ['a/#', 'b/a', false],
    ['+/#', 'a', true],
    ['+/+/#', 'a', false],
    // Topics starting with $ and leading wildcards (MQTT-4.7.2-1)
    ['#', '$SYS/monitor', false],
    ['+/monitor/Clients', '$SYS/monitor/Clients', false],
    ['+', '$SYS', false],
    ['$SYS/#', '$SYS/monitor', true],
    ['$SYS/monitor/+', '$SYS/monitor/Clients', true],
    ['$SYS/#', '$SYS', true],
    ['a/#', 'a/$b', true], // $ only matters as the first character of the topic
    ['a/+', 'a/$b', true],
    // Azure IoT Hub subscriptions
    ['$iothub/twin/res/#', '$iothub/twin/res/200/?$rid=1', true],
    ['$iothub/twin/res/#', '$iothub/twin/PATCH/properties/desired/?$version=2', false],
    ['$iothub/twin/PATCH/properties/desired/#', '$iothub/twin/PATCH/properties/desired/?$version=2', true],
    ['$iothub/methods/POST/#', '$iothub/methods/POST/reboot/?$rid=42', true],
    ['devices/dev1/messages/devicebound/#', 'devices/dev1/messages/devicebound/%24.to=%2Fdevices%2Fdev1&a=1', true],
    ['devices/dev1/messages/devicebound/#', 'devices/dev2/messages/devicebound/x', false],
    ['$dps/registrations/res/#', '$dps/registrations/res/202/?$rid=1&retry-after=3', true],
  ];

  for (const [filter, topic, matches] of CASES) {
    it(`${JSON.stringify(filter)} ${matches ? 'matches' : 'does not match'} ${JSON.stringify(topic)}`, () => {
      expect(topicMatchesFilter(filter, topic)).toBe(matches);
    });
  }

  it('agrees with a reference matcher on random filters and topics over a small alphabet', () => {
    // Independent reference: recursive, level by level.
    const reference = (f: string[], t: string[]): boolean => {
      if (f.length === 0) return t.length === 0;
      const [head, ...rest] = f;
      if (head === '#') return true;
      if (t.length === 0) return false;
      return (head === '+' || head === t[0]) && reference(rest, t.slice(1));
    };
    const level = fc.constantFrom('', 'a', 'b', '$a');
    const topicArb = fc.array(level, { minLength: 1, maxLength: 4 }).map((l) => l.join('/')).filter((t) => t.length > 0);
    const filterArb = fc
      .tuple(fc.array(fc.constantFrom('', 'a', 'b', '$a', '+'), { minLength: 1, maxLength: 4 }), fc.boolean())
      .map(([l, hash]) => (hash ? [...l, '#'] : l).join('/'))
      .filter((f) => f.length > 0);
    fc.assert(
      fc.property(filterArb, topicArb, (filter, topic) => {
        validateTopicFilter(filter);
        const dollarGuard = topic.startsWith('$') && (filter.startsWith('+') || filter.startsWith('#'));
        const expected = !dollarGuard && reference(filter.split('/'), topic.split('/'));
        expect(topicMatchesFilter(filter, topic)).toBe(expected);
      }),
      runs(3000, 800),
    );
  });

  it('every valid topic name matches itself as a filter, and # matches it unless it starts with $', () => {
    fc.assert(
      fc.property(topicName(), (topic) => {
        expect(topicMatchesFilter(topic, topic)).toBe(true);
        expect(topicMatchesFilter('#', topic)).toBe(!topic.startsWith('$'));
      }),
      runs(1000, 500),
    );
  });
});

describe('validateTopicFilter', () => {
  const VALID = ['#', '+', 'a', 'a/#', '+/+', '+/#', '/', '//', 'a//b', '/#', '$SYS/#', 'sport/+/player1', 'é/+/☃', '$iothub/twin/res/#'];
  for (const f of VALID) {
    it(`accepts ${JSON.stringify(f)}`, () => {
      expect(() => validateTopicFilter(f)).not.toThrow();
    });
  }

  const INVALID: Array<[string, string]> = [
    ['', 'MQTT-4.7.3-1'],
    ['a#', 'MQTT-4.7.1-2'],
    ['#a', 'MQTT-4.7.1-2'],
    ['#/', 'MQTT-4.7.1-2'],
    ['##', 'MQTT-4.7.1-2'],
    ['a/#/b', 'MQTT-4.7.1-2'],
    ['sport/tennis#', 'MQTT-4.7.1-2'],
    ['a+', 'MQTT-4.7.1-3'],
    ['+a', 'MQTT-4.7.1-3'],
    ['++', 'MQTT-4.7.1-3'],
    ['+#', 'MQTT-4.7.1-3'],
    ['sport+', 'MQTT-4.7.1-3'],
    ['a/b+/c', 'MQTT-4.7.1-3'],
  ];
  for (const [f, rule] of INVALID) {
    it(`refuses ${JSON.stringify(f)} with ${rule}`, () => {
      const err = protocolError(() => validateTopicFilter(f, 7));
      expect(err.rule).toBe(rule);
      expect(err.offset).toBe(7);
    });
  }

  it('accepts every filter the arbitrary makes', () => {
    fc.assert(
      fc.property(topicFilter(), (f) => validateTopicFilter(f)),
      runs(1000, 400),
    );
  });
});

describe('validateTopicName', () => {
  it('accepts names with $, spaces, empty levels and non-ASCII characters', () => {
    for (const t of ['a', '/', 'a//b', '$iothub/twin/res/200/?$rid=1', 'a b', '\uFEFFbom', '😀']) {
      expect(() => validateTopicName(t)).not.toThrow();
    }
  });

  const INVALID: Array<[string, string]> = [
    ['', 'MQTT-4.7.3-1'],
    ['#', 'MQTT-3.3.2-2'],
    ['+', 'MQTT-3.3.2-2'],
    ['a/+/b', 'MQTT-3.3.2-2'],
    ['a/#', 'MQTT-3.3.2-2'],
    ['a+b', 'MQTT-3.3.2-2'],
  ];
  for (const [t, rule] of INVALID) {
    it(`refuses ${JSON.stringify(t)} with ${rule}`, () => {
      const err = protocolError(() => validateTopicName(t, 3));
      expect(err.rule).toBe(rule);
      expect(err.offset).toBe(3);
    });
  }
});
