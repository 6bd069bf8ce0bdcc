/**
 * Store-and-forward for QoS 1 telemetry: the outbox the client keeps (`config.queue.store`), the append-only file
 * store and its log format, the memory store, and the `azure-iot-hub:outbox` diagnostics channel.
 */
export { crc32 } from './crc32.js';
export { OUTBOX_CHANNELS, type OutboxDiagnostic } from './diagnostics.js';
export {
  DEFAULT_OUTBOX_COMPACT_THRESHOLD_BYTES,
  DEFAULT_OUTBOX_FSYNC_INTERVAL_MS,
  FileOutboxStore,
  type FileOutboxStoreOptions,
  type OutboxFileSystem,
} from './file-store.js';
export {
  ACK_RECORD_BYTES,
  checkHeader,
  encodeAckRecords,
  encodeMessageRecord,
  MAX_RECORD_PAYLOAD_BYTES,
  OUTBOX_FILE_HEADER,
  OUTBOX_FILE_VERSION,
  RECORD_ACK,
  RECORD_MESSAGE,
  RECORD_PREFIX_BYTES,
  scanRecords,
  type OutboxLogRecord,
  type ScannedRecord,
  type ScanResult,
  type ScanStop,
} from './log-format.js';
export { MemoryOutboxStore } from './memory-store.js';
export { Outbox, type OutboxHooks, type OutboxLimits } from './outbox.js';
