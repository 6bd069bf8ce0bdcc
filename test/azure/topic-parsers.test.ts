import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  parseDeviceboundTopic,
  parseMethodRequestTopic,
  parseTwinDesiredTopic,
  parseTwinResponseTopic,
  routeHubTopic,
} from '../../src/azure/topic-parsers.js';

describe('parseTwinResponseTopic', () => {
  it('MS doc example: $iothub/twin/res/200/?$rid=738&$version=135', () => {
    expect(parseTwinResponseTopic('$iothub/twin/res/200/?$rid=738&$version=135')).toEqual({
      kind: 'twinResponse',
      status: 200,
      rid: '738',
      version: 135,
    });
  });

  it('GET response without $version: version absent', () => {
    const r = parseTwinResponseTopic('$iothub/twin/res/200/?$rid=id_one');
    expect(r).toEqual({ kind: 'twinResponse', status: 200, rid: 'id_one' });
    expect(r && 'version' in r).toBe(false);
  });

  it('reported PATCH response: 204 with $rid and $version', () => {
    expect(parseTwinResponseTopic('$iothub/twin/res/204/?$rid=id_one&$version=16')).toEqual({
      kind: 'twinResponse',
      status: 204,
      rid: 'id_one',
      version: 16,
    });
  });

  it('$version before $rid', () => {
    expect(parseTwinResponseTopic('$iothub/twin/res/204/?$version=7&$rid=5')).toMatchObject({ rid: '5', version: 7 });
  });

  it('error statuses (400, 429, 500) are parsed, not dropped', () => {
    expect(parseTwinResponseTopic('$iothub/twin/res/429/?$rid=3')?.status).toBe(429);
    expect(parseTwinResponseTopic('$iothub/twin/res/500/?$rid=3')?.status).toBe(500);
  });

  it('$iothub/twin/rez/200 is not a twin response', () => {
    expect(parseTwinResponseTopic('$iothub/twin/rez/200')).toBeUndefined();
  });

  it('$iothub/twin/res/200 (no query at all) is malformed', () => {
    expect(parseTwinResponseTopic('$iothub/twin/res/200')).toBeUndefined();
  });

  it('$iothub/contoso/res/200 (wrong prefix) is not a twin response', () => {
    expect(parseTwinResponseTopic('$iothub/contoso/res/200/?$rid=1')).toBeUndefined();
  });

  it('the prefix must be at the start of the topic (the C SDK searched anywhere)', () => {
    expect(parseTwinResponseTopic('x/$iothub/twin/res/200/?$rid=1')).toBeUndefined();
  });

  it('a missing $rid is malformed', () => {
    expect(parseTwinResponseTopic('$iothub/twin/res/200/?$version=3')).toBeUndefined();
    expect(parseTwinResponseTopic('$iothub/twin/res/200/')).toBeUndefined();
  });

  it('an empty or value-less $rid is malformed', () => {
    expect(parseTwinResponseTopic('$iothub/twin/res/200/?$rid=')).toBeUndefined();
    expect(parseTwinResponseTopic('$iothub/twin/res/200/?$rid')).toBeUndefined();
  });

  it('a key that is a prefix of another key: $ridx is not $rid', () => {
    expect(parseTwinResponseTopic('$iothub/twin/res/200/?$ridx=9')).toBeUndefined();
    expect(parseTwinResponseTopic('$iothub/twin/res/200/?$ridx=9&$rid=2')?.rid).toBe('2');
  });

  it('a value equal to another key name is not that key', () => {
    expect(parseTwinResponseTopic('$iothub/twin/res/204/?$rid=$version&$version=4')).toEqual({
      kind: 'twinResponse',
      status: 204,
      rid: '$version',
      version: 4,
    });
    expect(parseTwinResponseTopic('$iothub/twin/res/200/?a=$rid')).toBeUndefined();
  });

  it('a non-decimal $version is malformed', () => {
    expect(parseTwinResponseTopic('$iothub/twin/res/204/?$rid=1&$version=abc')).toBeUndefined();
    expect(parseTwinResponseTopic('$iothub/twin/res/204/?$rid=1&$version=-1')).toBeUndefined();
    expect(parseTwinResponseTopic('$iothub/twin/res/204/?$rid=1&$version=')).toBeUndefined();
  });

  it('a status that is not three digits is malformed', () => {
    for (const s of ['20', '2000', 'abc', '', '-20']) {
      expect(parseTwinResponseTopic(`$iothub/twin/res/${s}/?$rid=1`)).toBeUndefined();
    }
  });

  it('the ? before the query is optional', () => {
    expect(parseTwinResponseTopic('$iothub/twin/res/200/$rid=1')?.rid).toBe('1');
  });

  it('a percent-encoded key %24rid is recognised as $rid; the rid value stays verbatim', () => {
    expect(parseTwinResponseTopic('$iothub/twin/res/200/?%24rid=a%2Db')?.rid).toBe('a%2Db');
  });

  it('the first of duplicate $rid keys wins', () => {
    expect(parseTwinResponseTopic('$iothub/twin/res/200/?$rid=1&$rid=2')?.rid).toBe('1');
  });
});

describe('parseTwinDesiredTopic', () => {
  it('desired PATCH with $version', () => {
    expect(parseTwinDesiredTopic('$iothub/twin/PATCH/properties/desired/?$version=12')).toEqual({
      kind: 'twinDesired',
      version: 12,
    });
  });

  it('$version absent: accepted without a version', () => {
    expect(parseTwinDesiredTopic('$iothub/twin/PATCH/properties/desired/')).toEqual({ kind: 'twinDesired' });
    expect(parseTwinDesiredTopic('$iothub/twin/PATCH/properties/desired')).toEqual({ kind: 'twinDesired' });
  });

  it('a non-decimal $version (the C SDK test used id_one) is malformed', () => {
    expect(parseTwinDesiredTopic('$iothub/twin/PATCH/properties/desired/?$version=id_one')).toBeUndefined();
  });

  it('the reported PATCH topic and look-alikes are not desired updates', () => {
    expect(parseTwinDesiredTopic('$iothub/twin/PATCH/properties/reported/?$rid=1')).toBeUndefined();
    expect(parseTwinDesiredTopic('$iothub/twin/PATCH/properties/desiredX/?$version=1')).toBeUndefined();
  });

  it('$versionx is not $version', () => {
    expect(parseTwinDesiredTopic('$iothub/twin/PATCH/properties/desired/?$versionx=5&$version=6')?.version).toBe(6);
  });
});

describe('parseMethodRequestTopic', () => {
  it('MS doc example: $iothub/methods/POST/my_method/?$rid=387', () => {
    expect(parseMethodRequestTopic('$iothub/methods/POST/my_method/?$rid=387')).toEqual({
      kind: 'methodRequest',
      name: 'my_method',
      rid: '387',
    });
  });

  it('a missing $rid is malformed', () => {
    expect(parseMethodRequestTopic('$iothub/methods/POST/my_method/')).toBeUndefined();
    expect(parseMethodRequestTopic('$iothub/methods/POST/my_method')).toBeUndefined();
  });

  it('an empty method name is malformed', () => {
    expect(parseMethodRequestTopic('$iothub/methods/POST//?$rid=1')).toBeUndefined();
  });

  it('a name spanning two levels is malformed', () => {
    expect(parseMethodRequestTopic('$iothub/methods/POST/a/b/?$rid=1')).toBeUndefined();
  });

  it('method responses and other verbs are not requests', () => {
    expect(parseMethodRequestTopic('$iothub/methods/res/200/?$rid=1')).toBeUndefined();
    expect(parseMethodRequestTopic('$iothub/methods/GET/x/?$rid=1')).toBeUndefined();
  });

  it('extra properties after $rid are ignored, and $rid may come second', () => {
    expect(parseMethodRequestTopic('$iothub/methods/POST/m/?x=1&$rid=7')?.rid).toBe('7');
  });
});

describe('parseDeviceboundTopic', () => {
  it('MS doc example: five properties, key1 null, key2 empty, %24.mid decoded as $.mid', () => {
    const topic =
      'devices/my-device-name/messages/devicebound/%24.mid=7d4d6d5f-1f4b-4d2a-9f5b-9c3c0fb0a0b2' +
      '&%24.to=%2Fdevices%2Fmy-device-name%2Fmessages%2Fdevicebound&key1&key2=&key3=value3';
    expect(parseDeviceboundTopic(topic)).toEqual({
      kind: 'devicebound',
      deviceId: 'my-device-name',
      propBag: [
        { key: '$.mid', value: '7d4d6d5f-1f4b-4d2a-9f5b-9c3c0fb0a0b2' },
        { key: '$.to', value: '/devices/my-device-name/messages/devicebound' },
        { key: 'key1', value: null },
        { key: 'key2', value: '' },
        { key: 'key3', value: 'value3' },
      ],
    });
  });

  it('MS doc form with ?: devicebound/?prop1&prop2=&prop3=a%20string', () => {
    expect(parseDeviceboundTopic('devices/d/messages/devicebound/?prop1&prop2=&prop3=a%20string')?.propBag).toEqual([
      { key: 'prop1', value: null },
      { key: 'prop2', value: '' },
      { key: 'prop3', value: 'a string' },
    ]);
  });

  it('empty bag: devicebound/ and devicebound give no properties', () => {
    expect(parseDeviceboundTopic('devices/d/messages/devicebound/')?.propBag).toEqual([]);
    expect(parseDeviceboundTopic('devices/d/messages/devicebound')?.propBag).toEqual([]);
  });

  it('percent-encoded ?, =, & and / inside values stay inside', () => {
    expect(parseDeviceboundTopic('devices/d/messages/devicebound/v=%3F%3D%26%2F')?.propBag).toEqual([
      { key: 'v', value: '?=&/' },
    ]);
  });

  it('a malformed escape is kept raw, not thrown', () => {
    expect(parseDeviceboundTopic('devices/d/messages/devicebound/a=%E2%82&b=%zz')?.propBag).toEqual([
      { key: 'a', value: '%E2%82' },
      { key: 'b', value: '%zz' },
    ]);
  });

  it('device ids with Azure special characters are taken whole', () => {
    expect(parseDeviceboundTopic("devices/a?b=c$'(1)/messages/devicebound/x=1")?.deviceId).toBe("a?b=c$'(1)");
  });

  it('with an identity, another device or a module topic is not mine', () => {
    const me = { deviceId: 'd' };
    expect(parseDeviceboundTopic('devices/d/messages/devicebound/', me)?.deviceId).toBe('d');
    expect(parseDeviceboundTopic('devices/other/messages/devicebound/', me)).toBeUndefined();
    expect(parseDeviceboundTopic('devices/d/modules/m/inputs/in1/', me)).toBeUndefined();
  });

  it('module input message: devices/{d}/modules/{m}/inputs/{input}/{bag}', () => {
    expect(parseDeviceboundTopic('devices/d/modules/m/inputs/in1/a=1', { deviceId: 'd', moduleId: 'm' })).toEqual({
      kind: 'devicebound',
      deviceId: 'd',
      moduleId: 'm',
      inputName: 'in1',
      propBag: [{ key: 'a', value: '1' }],
    });
  });

  it('module devicebound form is accepted too', () => {
    expect(parseDeviceboundTopic('devices/d/modules/m/messages/devicebound/')).toMatchObject({
      deviceId: 'd',
      moduleId: 'm',
    });
  });

  it('telemetry, look-alikes and truncated topics are not devicebound', () => {
    for (const t of [
      'devices/d/messages/events/',
      'devices/d/messages/deviceboundX/a=1',
      'devices//messages/devicebound/',
      'devices/d',
      'devices/d/modules//inputs/x/',
      'devices/d/modules/m/inputs//',
      'devices/d/modules/m/twin/',
      'xdevices/d/messages/devicebound/',
    ]) {
      expect(parseDeviceboundTopic(t)).toBeUndefined();
    }
  });
});

describe('routeHubTopic', () => {
  it('routes each kind of hub topic to its parser', () => {
    expect(routeHubTopic('$iothub/twin/res/200/?$rid=1')?.kind).toBe('twinResponse');
    expect(routeHubTopic('$iothub/twin/PATCH/properties/desired/?$version=2')?.kind).toBe('twinDesired');
    expect(routeHubTopic('$iothub/methods/POST/m/?$rid=3')?.kind).toBe('methodRequest');
    expect(routeHubTopic('devices/d/messages/devicebound/')?.kind).toBe('devicebound');
  });

  it('answers undefined for topics no parser claims', () => {
    for (const t of ['$iothub/twin/rez/200', '$dps/registrations/res/200/?$rid=1', 'a/b', '', '$iothub/twin/GET/?$rid=1']) {
      expect(routeHubTopic(t)).toBeUndefined();
    }
  });

  it('checks device topics against the identity', () => {
    expect(routeHubTopic('devices/x/messages/devicebound/', { deviceId: 'd' })).toBeUndefined();
  });

  it('never throws on arbitrary topics (fast-check)', () => {
    const parts = fc.constantFrom(
      '$iothub/',
      'twin/',
      'res/',
      '200/',
      '?',
      '$rid=',
      '$version=',
      '&',
      'methods/POST/',
      'devices/',
      'messages/devicebound/',
      'modules/',
      'inputs/',
      '%',
      '%2',
      '=',
      '/',
      '1',
      'x',
    );
    fc.assert(
      fc.property(fc.array(fc.oneof(parts, fc.string({ unit: 'binary', maxLength: 4 })), { maxLength: 12 }), (ps) => {
        const topic = ps.join('');
        const r = routeHubTopic(topic);
        if (r !== undefined && 'rid' in r) expect(r.rid.length).toBeGreaterThan(0);
      }),
      { numRuns: 500, seed: 0x70b1c },
    );
  });
});
