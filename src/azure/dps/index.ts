/**
 * Device Provisioning Service in the client: the MQTT registration exchange, the assignment stores (a JSON file by
 * default, memory for tests) and the warning channel. The client runs them from `connect()` when `config.dps` is set.
 * @see https://learn.microsoft.com/azure/iot-dps/iot-dps-mqtt-support
 */
export { assignmentMismatch, checkDpsAssignment } from './assignment.js';
export { DPS_CHANNELS, type DpsWarningMessage } from './diagnostics.js';
export {
  DEFAULT_DPS_STORE_DIR,
  defaultDpsStorePath,
  DPS_STORE_FILE_VERSION,
  FileDpsStore,
  parseDpsAssignmentFile,
  serializeDpsAssignment,
  type FileDpsStoreOptions,
} from './file-store.js';
export { MemoryDpsStore } from './memory-store.js';
export {
  DEFAULT_DPS_MAX_POLLS,
  DEFAULT_DPS_RETRY_AFTER_MS,
  DEFAULT_DPS_RETRY_BACKOFF,
  DEFAULT_DPS_SAS_TTL_SECONDS,
  provisionDevice,
  type ProvisionOptions,
} from './provision.js';
