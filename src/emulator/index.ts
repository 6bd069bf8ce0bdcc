/**
 * `azure-iot-hub/emulator`: a local Azure IoT Hub + Device Provisioning Service + HTTPS firmware server, the hub
 * side of the device protocols (MQTT 3.1.1 over TLS), on loopback. For tests, the quick-start demo and CI.
 *
 * ```ts
 * import { startEmulator } from 'azure-iot-hub/emulator';
 * const emu = await startEmulator();
 * const dev = emu.registerDevice({ deviceId: 'dev1', auth: { type: 'sas' } });
 * // connect a device to emu.hub.address:emu.hub.port, SNI emu.hub.host, trusting emu.ca.cert ...
 * const [msg] = await emu.waitForTelemetry('dev1', 1);
 * await emu.close();
 * ```
 *
 * @see https://learn.microsoft.com/azure/iot-hub/iot-hub-mqtt-support
 * @see https://learn.microsoft.com/azure/iot-dps/iot-dps-mqtt-support
 */
export {
  DEFAULT_DPS_HOST,
  DEFAULT_HUB_HOST,
  DEFAULT_ID_SCOPE,
  Emulator,
  startEmulator,
  type DeviceStatus,
  type DpsEndpoint,
  type EmulatorOptions,
  type FirmwareEndpoint,
  type HubEndpoint,
  type TwinOptions,
} from './emulator.js';
export type {
  C2dEvent,
  ConnectEvent,
  ConnectRefusedEvent,
  DisconnectEvent,
  DpsRegistrationEvent,
  EmulatorEventMap,
  MethodResponseEvent,
  ProtocolViolationEvent,
  RegisterDeviceOptions,
  RegisteredDevice,
  SubscribeEvent,
  TelemetryMessage,
  TwinReportedEvent,
  TwinRequestEvent,
  UnsubscribeEvent,
} from './types.js';
export {
  certificateCommonName,
  certificateThumbprint,
  generateSymmetricKey,
  normalizeThumbprint,
  type DeviceAuth,
} from './auth.js';
export type { C2dMessage, C2dOptions } from './c2d.js';
export {
  CertificateToolError,
  createCa,
  createDeviceCertificate,
  createServerCertificate,
  createVerificationCertificate,
  type CertificateAndKey,
  type CertificateOptions,
  type ServerCertificateOptions,
} from './certs.js';
export {
  DPS_API_VERSION,
  type DpsRegistrationRecord,
  type DpsResult,
  type Enrollment,
  type EnrollmentGroup,
  type EnrollmentGroupOptions,
  type EnrollmentOptions,
} from './dps.js';
export type { EmulatorFaults } from './faults.js';
export {
  FirmwareServer,
  type FirmwareRequestLog,
  type FirmwareServerFaults,
  type FirmwareServerOptions,
  type PublishedFirmware,
} from './firmware-server.js';
export { IDLE_TIMEOUT_SECONDS, MAX_KEEPALIVE_SECONDS, MAX_MESSAGE_BYTES, MAX_SUBSCRIPTIONS } from './hub.js';
export type { InvokeMethodOptions, MethodResult } from './methods.js';
export type { EmulatorService, PacketLogEntry } from './packet-log.js';
export { formatPropertyBag, parsePropertyBag, type PropertyBagEntry } from './property-bag.js';
export { createSasToken, deriveDeviceKey, type CreateSasTokenOptions } from './sas.js';
export type { JsonObject, TwinDocument } from './twin.js';
export { runEmulatorCli, type CliIo } from './cli.js';
