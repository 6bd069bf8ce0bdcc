/**
 * FOTA building blocks: the twin schema, the decision logic (pure), the downloader and the firmware slots.
 * The client wires them to the twin and to the FOTA_* events.
 * @see https://developer.nordicsemi.com/nRF_Connect_SDK/doc/1.9.0/nrf/libraries/networking/azure_fota.html
 */
export {
  FOTA_MAX_HOST_LENGTH,
  FOTA_MAX_JOB_ID_LENGTH,
  FOTA_MAX_PATH_LENGTH,
  FOTA_MAX_VERSION_LENGTH,
  FOTA_STATUSES,
  applyMergePatch,
  buildFirmwareReport,
  firmwareReportJson,
  firmwareUrl,
  parseDesiredFirmware,
  parseReportedFirmware,
  parseTwinDocument,
  type DesiredFirmware,
  type DesiredFirmwareResult,
  type FirmwareLocation,
  type FirmwareReport,
  type FirmwareReportInput,
  type FotaStatus,
  type ReportedFirmware,
  type ReportedFirmwareResult,
  type TwinDocumentInput,
  type TwinDocumentResult,
} from './schema.js';
export {
  createFotaState,
  decideFota,
  fotaDownloadAborted,
  fotaDownloadDone,
  fotaDownloadFailed,
  fotaReport,
  type FotaDecideOptions,
  type FotaDecision,
  type FotaIgnoreReason,
  type FotaJob,
  type FotaState,
} from './state.js';
export {
  DEFAULT_FRAGMENT_SIZE,
  DEFAULT_MAX_IMAGE_BYTES,
  MAX_FRAGMENT_SIZE,
  MIN_FRAGMENT_SIZE,
  FirmwareDownload,
  downloadFirmware,
  fragmentRetryDelay,
  fragmentSizeFor,
  jobDownloadOptions,
  parseContentRange,
  redactUrl,
  type ContentRange,
  type DownloadTimers,
  type FirmwareDownloadOptions,
  type FirmwareDownloadProgress,
  type FirmwareDownloadResult,
  type FirmwareDownloadState,
  type FragmentRetryPolicy,
} from './download.js';
export { FileFirmwareSlot, type FileFirmwareSlotOptions } from './file-slot.js';
export {
  MEMORY_SLOT_DEFAULT_MAX_BYTES,
  MemoryFirmwareSlot,
  type FinalizedFirmware,
  type MemoryFirmwareSlotOptions,
} from './memory-slot.js';
export {
  DEFAULT_REPORT_RETRY_MS,
  FOTA_CHANNEL,
  FotaController,
  type FotaControllerIo,
  type FotaControllerOptions,
} from './controller.js';
