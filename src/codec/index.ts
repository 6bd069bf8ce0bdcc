/**
 * `azure-iot-hub/codec`: a strict, zero-dependency MQTT 3.1.1 packet codec, both directions, all 14 packet types.
 * Runtime-neutral: only `Uint8Array`, `TextEncoder` and `TextDecoder`, so it runs in Node, Deno, Bun, browsers and
 * workers.
 */
export type {
  AckPacket,
  ConnackPacket,
  ConnectPacket,
  DisconnectPacket,
  Packet,
  PacketTypeName,
  PingreqPacket,
  PingrespPacket,
  PubackPacket,
  PubcompPacket,
  PublishPacket,
  PubrecPacket,
  PubrelPacket,
  QoS,
  SubackPacket,
  SubackReturnCode,
  SubscribePacket,
  Subscription,
  UnsubackPacket,
  UnsubscribePacket,
  Will,
} from './types.js';
export { CONNACK_RETURN_CODE, PACKET_TYPE } from './types.js';
export { MqttProtocolError } from './errors.js';
export { encode, encodeChunks, encodedLength } from './encode.js';
export { decode } from './decode.js';
export {
  DEFAULT_MAX_PACKET_SIZE,
  MAX_PUBLISH_HEADER_BYTES,
  PacketDecoder,
  type OversizedPublish,
  type PacketDecoderOptions,
} from './stream.js';
export { topicMatchesFilter, validateTopicFilter, validateTopicName } from './topic.js';
export { MAX_STRING_BYTES, utf8Bytes } from './utf8.js';
export { MAX_REMAINING_LENGTH } from './varint.js';
export { POOL_MAX_BYTES, setLargeAllocator } from './alloc.js';
