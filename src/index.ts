/**
 * `azure-iot-hub`: an Azure IoT Hub device library for Node (>= 20). Public entry: the client, its events and
 * types, the errors, and the codec's types.
 */
export * from './azure/types.js';
export { AzureIotHubError, MqttProtocolError, type AzureIotHubErrorCode, type AzureIotHubErrorDetails } from './errors.js';
export type { Packet, PublishPacket, QoS } from './codec/index.js';
export { AzureIotHub, MAX_SEND_PAYLOAD_BYTES, type AzureIotHubState, type AzureIotHubOptions, type EventProperties, type SendEventOptions } from './azure/client.js';
export type { MethodHandler, MethodRequest, MethodResponse } from './azure/methods.js';
export type { Twin, TwinProperties } from './azure/twin.js';
export {
  FileFirmwareSlot,
  MemoryFirmwareSlot,
  FOTA_CHANNEL,
  type FileFirmwareSlotOptions,
  type MemoryFirmwareSlotOptions,
} from './azure/fota/index.js';
export { MQTT_CHANNELS } from './transport/index.js';
export {
  DEFAULT_OUTBOX_COMPACT_THRESHOLD_BYTES,
  DEFAULT_OUTBOX_FSYNC_INTERVAL_MS,
  FileOutboxStore,
  MemoryOutboxStore,
  OUTBOX_CHANNELS,
  type FileOutboxStoreOptions,
  type OutboxDiagnostic,
  type OutboxFileSystem,
} from './azure/outbox/index.js';
export {
  defaultDpsStorePath,
  DPS_CHANNELS,
  FileDpsStore,
  MemoryDpsStore,
  type DpsWarningMessage,
  type FileDpsStoreOptions,
} from './azure/dps/index.js';
