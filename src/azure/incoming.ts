/**
 * Incoming PUBLISH -> what it means to the application: a cloud-to-device message, a twin response, a desired
 * properties update, a direct method request, or a topic the library does not know (passed on as DATA_RECEIVED, as
 * the C library does). Pure: no I/O, no state.
 */
import type { PublishPacket } from '../codec/types.js';
import type { AzureIotHubIdentity } from './identity.js';
import { routeHubTopic } from './topic-parsers.js';
import {
  AzureIotHubTopicType,
  type AzureIotHubData,
  type AzureIotHubMethod,
  type AzureIotHubTopicData,
} from './types.js';

export type Incoming =
  | { kind: 'devicebound'; msg: AzureIotHubData; topic: AzureIotHubTopicData }
  | { kind: 'twinResponse'; status: number; rid: string; version?: number; msg: AzureIotHubData; topic: AzureIotHubTopicData }
  | { kind: 'twinDesired'; version?: number; msg: AzureIotHubData; topic: AzureIotHubTopicData }
  | { kind: 'method'; method: AzureIotHubMethod; topic: AzureIotHubTopicData }
  | { kind: 'unknown'; msg: AzureIotHubData; topic: AzureIotHubTopicData };

function message(packet: PublishPacket, topic: AzureIotHubTopicData): AzureIotHubData {
  const msg: AzureIotHubData = {
    topic,
    payload: packet.payload,
    qos: packet.qos === 0 ? 0 : 1,
    dup: packet.dup,
    retain: packet.retain,
  };
  if (packet.messageId !== undefined) msg.messageId = packet.messageId;
  return msg;
}

/**
 * Classify an incoming PUBLISH for the device (or module) `identity`. Never throws: a topic the parsers do not
 * recognise (or recognise as malformed, such as a twin response without `$rid`) is `unknown`.
 */
export function classifyIncoming(packet: PublishPacket, identity: AzureIotHubIdentity): Incoming {
  const parsed = routeHubTopic(packet.topic, identity);
  switch (parsed?.kind) {
    case 'devicebound': {
      const topic: AzureIotHubTopicData = { type: AzureIotHubTopicType.DEVICEBOUND, str: packet.topic, propBag: parsed.propBag };
      return { kind: 'devicebound', msg: message(packet, topic), topic };
    }
    case 'twinResponse': {
      const topic: AzureIotHubTopicData = { type: AzureIotHubTopicType.TWIN_REQUEST, str: packet.topic };
      const out: Incoming = { kind: 'twinResponse', status: parsed.status, rid: parsed.rid, msg: message(packet, topic), topic };
      if (parsed.version !== undefined) out.version = parsed.version;
      return out;
    }
    case 'twinDesired': {
      const topic: AzureIotHubTopicData = { type: AzureIotHubTopicType.TWIN_DESIRED, str: packet.topic };
      const out: Incoming = { kind: 'twinDesired', msg: message(packet, topic), topic };
      if (parsed.version !== undefined) out.version = parsed.version;
      return out;
    }
    case 'methodRequest': {
      const topic: AzureIotHubTopicData = { type: AzureIotHubTopicType.DEVICEBOUND, str: packet.topic };
      return { kind: 'method', method: { name: parsed.name, rid: parsed.rid, payload: packet.payload }, topic };
    }
    default: {
      const topic: AzureIotHubTopicData = { type: AzureIotHubTopicType.DEVICEBOUND, str: packet.topic, propBag: [] };
      return { kind: 'unknown', msg: message(packet, topic), topic };
    }
  }
}
