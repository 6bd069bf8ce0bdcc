import { describe, expect, it } from 'vitest';
import { topicMatchesFilter, validateTopicFilter, validateTopicName } from '../../src/codec/topic.js';
import { AzureIotHubError } from '../../src/errors.js';
import { parseDeviceboundTopic, parseTwinResponseTopic, routeHubTopic } from '../../src/azure/topic-parsers.js';
import {
  deviceboundSubscribeTopic,
  METHODS_SUBSCRIBE_TOPIC,
  methodResponseTopic,
  RequestIdGenerator,
  subscribeTopics,
  telemetryTopic,
  TWIN_DESIRED_SUBSCRIBE_TOPIC,
  TWIN_RESPONSE_SUBSCRIBE_TOPIC,
  twinGetTopic,
  twinReportedTopic,
} from '../../src/azure/topics.js';

const device = { deviceId: 'my-device' };
const module = { deviceId: 'my-device', moduleId: 'my-module' };

describe('subscription filters', () => {
  it('the three $iothub filters are the documented ones', () => {
    expect(TWIN_RESPONSE_SUBSCRIBE_TOPIC).toBe('$iothub/twin/res/#');
    expect(TWIN_DESIRED_SUBSCRIBE_TOPIC).toBe('$iothub/twin/PATCH/properties/desired/#');
    expect(METHODS_SUBSCRIBE_TOPIC).toBe('$iothub/methods/POST/#');
  });

  it('device C2D filter is devices/{id}/messages/devicebound/#', () => {
    expect(deviceboundSubscribeTopic(device)).toBe('devices/my-device/messages/devicebound/#');
  });

  it('module filter is devices/{id}/modules/{module}/#', () => {
    expect(deviceboundSubscribeTopic(module)).toBe('devices/my-device/modules/my-module/#');
  });

  it('subscribeTopics lists the four filters, all valid MQTT filters', () => {
    const topics = subscribeTopics(device);
    expect(topics).toEqual([
      'devices/my-device/messages/devicebound/#',
      '$iothub/twin/res/#',
      '$iothub/twin/PATCH/properties/desired/#',
      '$iothub/methods/POST/#',
    ]);
    for (const t of topics) expect(() => validateTopicFilter(t)).not.toThrow();
  });

  it('each filter matches the topics its parser claims', () => {
    const [c2d, twinRes, desired, methods] = subscribeTopics(device);
    expect(topicMatchesFilter(c2d!, 'devices/my-device/messages/devicebound/a=1')).toBe(true);
    expect(topicMatchesFilter(twinRes!, '$iothub/twin/res/200/?$rid=1')).toBe(true);
    expect(topicMatchesFilter(desired!, '$iothub/twin/PATCH/properties/desired/?$version=2')).toBe(true);
    expect(topicMatchesFilter(methods!, '$iothub/methods/POST/reboot/?$rid=9')).toBe(true);
  });

  it('rejects an invalid device id with EINVAL', () => {
    expect(() => deviceboundSubscribeTopic({ deviceId: 'a/b' })).toThrow(AzureIotHubError);
    expect(() => deviceboundSubscribeTopic({ deviceId: 'a', moduleId: '' })).toThrow(/moduleId must not be empty/);
  });
});

describe('telemetry topic', () => {
  it('without properties: devices/{id}/messages/events/', () => {
    expect(telemetryTopic(device)).toBe('devices/my-device/messages/events/');
    expect(telemetryTopic(device, [])).toBe('devices/my-device/messages/events/');
  });

  it('module form: devices/{id}/modules/{module}/messages/events/', () => {
    expect(telemetryTopic(module)).toBe('devices/my-device/modules/my-module/messages/events/');
  });

  it('appends the encoded bag with no leading ?', () => {
    expect(
      telemetryTopic(device, [
        { key: '$.ct', value: 'application/json' },
        { key: '$.ce', value: 'utf-8' },
        { key: 'alert', value: 'temp > 30' },
        { key: 'flag' },
      ]),
    ).toBe('devices/my-device/messages/events/%24.ct=application%2Fjson&%24.ce=utf-8&alert=temp%20%3E%2030&flag');
  });

  it('a hostile property cannot add a topic level or a wildcard: the topic stays a valid MQTT topic name', () => {
    const topic = telemetryTopic(device, [{ key: 'a/b', value: '#/+' }]);
    expect(topic.split('/')).toHaveLength(5);
    expect(() => validateTopicName(topic)).not.toThrow();
  });
});

describe('twin and method topics', () => {
  it('twin GET: $iothub/twin/GET/?$rid={rid}', () => {
    expect(twinGetTopic('42')).toBe('$iothub/twin/GET/?$rid=42');
  });

  it('twin reported PATCH: $iothub/twin/PATCH/properties/reported/?$rid={rid}', () => {
    expect(twinReportedTopic('id_one')).toBe('$iothub/twin/PATCH/properties/reported/?$rid=id_one');
  });

  it('method response: $iothub/methods/res/{status}/?$rid={rid}', () => {
    expect(methodResponseTopic(200, '387')).toBe('$iothub/methods/res/200/?$rid=387');
    expect(methodResponseTopic(-1, 'x')).toBe('$iothub/methods/res/-1/?$rid=x');
  });

  it('rejects a request id that would break the query string', () => {
    expect(() => twinGetTopic('1&$version=2')).toThrow(/rid must not contain/);
    expect(() => twinReportedTopic('')).toThrow(/rid must not be empty/);
    expect(() => methodResponseTopic(200, 'a/b')).toThrow(AzureIotHubError);
  });

  it('rejects a method status that is not a 32-bit integer', () => {
    for (const status of [200.5, NaN, 2 ** 31, Infinity]) {
      expect(() => methodResponseTopic(status, '1')).toThrow(/status must be a 32-bit integer/);
    }
  });
});

describe('builders and parsers agree', () => {
  it('a method response topic built from a parsed request echoes the rid byte for byte', () => {
    const req = routeHubTopic('$iothub/methods/POST/reboot/?$rid=a%20b');
    if (req?.kind !== 'methodRequest') throw new Error('not a method request');
    expect(methodResponseTopic(200, req.rid)).toBe('$iothub/methods/res/200/?$rid=a%20b');
  });

  it('a twin response to a generated rid parses back to the same rid', () => {
    const rid = new RequestIdGenerator().next();
    const topic = twinGetTopic(rid).replace('$iothub/twin/GET/', '$iothub/twin/res/200/');
    expect(parseTwinResponseTopic(topic)).toEqual({ kind: 'twinResponse', status: 200, rid });
  });

  it('a devicebound topic with an encoded bag parses back to the same properties', () => {
    const props = [{ key: 'k&=', value: 'v/?#+' }, { key: 'n', value: null }];
    const bag = telemetryTopic(device, props).slice('devices/my-device/messages/events/'.length);
    expect(parseDeviceboundTopic(`devices/my-device/messages/devicebound/${bag}`)?.propBag).toEqual(props);
  });
});

describe('RequestIdGenerator', () => {
  it('hands out "1", "2", "3" ... as unsigned decimal strings', () => {
    const gen = new RequestIdGenerator();
    expect([gen.next(), gen.next(), gen.next()]).toEqual(['1', '2', '3']);
  });

  it('skips ids that are still outstanding', () => {
    const gen = new RequestIdGenerator();
    const outstanding = new Set(['1', '2', '4']);
    expect(gen.next(outstanding)).toBe('3');
    expect(gen.next(outstanding)).toBe('5');
  });

  it('wraps after Number.MAX_SAFE_INTEGER to "1", never negative or "0", still skipping outstanding ids', () => {
    const gen = new RequestIdGenerator(Number.MAX_SAFE_INTEGER);
    expect(gen.next()).toBe(String(Number.MAX_SAFE_INTEGER));
    expect(gen.next(new Set(['1']))).toBe('2');
  });

  it('reset starts a new connection from 1', () => {
    const gen = new RequestIdGenerator();
    gen.next();
    gen.next();
    gen.reset();
    expect(gen.next()).toBe('1');
  });

  it('every id it hands out is a valid request id and unique within a run', () => {
    const gen = new RequestIdGenerator();
    const seen = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      const rid = gen.next();
      expect(() => twinGetTopic(rid)).not.toThrow();
      seen.add(rid);
    }
    expect(seen.size).toBe(1000);
  });

  it('rejects a start that is not a positive safe integer', () => {
    expect(() => new RequestIdGenerator(0)).toThrow(AzureIotHubError);
    expect(() => new RequestIdGenerator(-5)).toThrow(AzureIotHubError);
    expect(() => new RequestIdGenerator().reset(1.5)).toThrow(AzureIotHubError);
  });
});
