/**
 * `classifyIncoming`: what an incoming PUBLISH means to the application (C2D, twin response, desired update,
 * method request, or a topic the library does not know), with the topic data and message fields events carry.
 */
import { describe, expect, it } from 'vitest';
import type { PublishPacket } from '../../../src/codec/types.js';
import { classifyIncoming } from '../../../src/azure/incoming.js';

const dev = { deviceId: 'dev-1' };
const bytes = new TextEncoder().encode('{"a":1}');

function publish(topic: string, extra: Partial<PublishPacket> = {}): PublishPacket {
  return { type: 'publish', topic, payload: bytes, qos: 0, dup: false, retain: false, ...extra } as PublishPacket;
}

describe('classifyIncoming', () => {
  it('a cloud-to-device message: DEVICEBOUND, decoded bag in order, the packet flags, the same payload bytes', () => {
    const topic = 'devices/dev-1/messages/devicebound/%24.mid=m%2F1&%24.to=%2Fdevices%2Fdev-1%2Fmessages%2FdeviceBound&bare&empty=&k=v%26w';
    const r = classifyIncoming(publish(topic, { qos: 1, messageId: 7, dup: true, retain: true }), dev);
    expect(r.kind).toBe('devicebound');
    if (r.kind !== 'devicebound') return;
    expect(r.topic).toEqual({
      type: 'DEVICEBOUND',
      str: topic,
      propBag: [
        { key: '$.mid', value: 'm/1' },
        { key: '$.to', value: '/devices/dev-1/messages/deviceBound' },
        { key: 'bare', value: null },
        { key: 'empty', value: '' },
        { key: 'k', value: 'v&w' },
      ],
    });
    expect(r.msg).toEqual({ topic: r.topic, payload: bytes, qos: 1, dup: true, retain: true, messageId: 7 });
    expect(r.msg.payload).toBe(bytes);
  });

  it('a bag-less cloud-to-device message (with and without the trailing slash) has an empty bag and no messageId at QoS 0', () => {
    for (const topic of ['devices/dev-1/messages/devicebound/', 'devices/dev-1/messages/devicebound']) {
      const r = classifyIncoming(publish(topic), dev);
      expect(r.kind).toBe('devicebound');
      if (r.kind !== 'devicebound') continue;
      expect(r.topic.propBag).toEqual([]);
      expect(r.msg).not.toHaveProperty('messageId');
      expect(r.msg.qos).toBe(0);
    }
  });

  it('a twin GET response: status, rid verbatim, no version, topic type TWIN_REQUEST', () => {
    const r = classifyIncoming(publish('$iothub/twin/res/200/?$rid=abc-1'), dev);
    expect(r).toMatchObject({ kind: 'twinResponse', status: 200, rid: 'abc-1', topic: { type: 'TWIN_REQUEST', str: '$iothub/twin/res/200/?$rid=abc-1' } });
    expect(r).not.toHaveProperty('version');
  });

  it('a reported PATCH response carries the new version; failures keep their status', () => {
    expect(classifyIncoming(publish('$iothub/twin/res/204/?$rid=3&$version=17'), dev)).toMatchObject({ kind: 'twinResponse', status: 204, rid: '3', version: 17 });
    expect(classifyIncoming(publish('$iothub/twin/res/429/?$rid=4'), dev)).toMatchObject({ kind: 'twinResponse', status: 429, rid: '4' });
  });

  it('a desired update with or without its version', () => {
    expect(classifyIncoming(publish('$iothub/twin/PATCH/properties/desired/?$version=9'), dev)).toMatchObject({
      kind: 'twinDesired', version: 9, topic: { type: 'TWIN_DESIRED', str: '$iothub/twin/PATCH/properties/desired/?$version=9' },
    });
    const bare = classifyIncoming(publish('$iothub/twin/PATCH/properties/desired/'), dev);
    expect(bare.kind).toBe('twinDesired');
    expect(bare).not.toHaveProperty('version');
  });

  it('a method request: name, rid and the payload', () => {
    const r = classifyIncoming(publish('$iothub/methods/POST/reboot/?$rid=42'), dev);
    expect(r).toMatchObject({ kind: 'method', method: { name: 'reboot', rid: '42' } });
    if (r.kind === 'method') expect(r.method.payload).toBe(bytes);
  });

  it('anything else is unknown (passed on as DATA_RECEIVED), never thrown', () => {
    const topics = [
      'devices/other/messages/devicebound/a=1', // another device
      '$iothub/twin/res/200/', // no $rid
      '$iothub/twin/res/2000/?$rid=1', // not a three-digit status
      '$iothub/twin/res/204/?$rid=1&$version=x', // malformed version
      '$iothub/twin/rez/200/?$rid=1',
      '$iothub/methods/POST//?$rid=1', // no name
      '$iothub/methods/POST/m/?$ridx=1',
      'some/other/topic',
    ];
    for (const topic of topics) {
      const r = classifyIncoming(publish(topic, { qos: 1, messageId: 5 }), dev);
      expect(r.kind, topic).toBe('unknown');
      if (r.kind !== 'unknown') continue;
      expect(r.topic).toEqual({ type: 'DEVICEBOUND', str: topic, propBag: [] });
      expect(r.msg).toMatchObject({ payload: bytes, qos: 1, messageId: 5 });
    }
  });

  it('a module identity accepts its own input and devicebound messages, not the device\'s', () => {
    const mod = { deviceId: 'dev-1', moduleId: 'm1' };
    expect(classifyIncoming(publish('devices/dev-1/modules/m1/inputs/in1/a=1'), mod)).toMatchObject({
      kind: 'devicebound', topic: { propBag: [{ key: 'a', value: '1' }] },
    });
    expect(classifyIncoming(publish('devices/dev-1/modules/m1/messages/devicebound/'), mod).kind).toBe('devicebound');
    expect(classifyIncoming(publish('devices/dev-1/messages/devicebound/'), mod).kind).toBe('unknown');
    expect(classifyIncoming(publish('devices/dev-1/modules/m2/inputs/in1/'), mod).kind).toBe('unknown');
  });
});
