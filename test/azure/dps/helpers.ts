/**
 * Shared helpers for the DPS client tests: a config that provisions through the emulator's DPS (DPS reached at
 * `dps.address`/`dps.port`, the assigned hub at `address`/`port`, real host names as SNI and in usernames), and
 * readers of the emulator's DPS packet log.
 */
import type { AzureIotHubConfig, AzureIotHubDpsConfig, DpsStore } from '../../../src/azure/types.js';
import type { Emulator } from '../../../src/emulator/emulator.js';
import type { PacketLogEntry } from '../../../src/emulator/packet-log.js';

/** Credentials of a test device: a DPS symmetric key (individual or group), or an X.509 certificate. */
export type DpsAuth = { symmetricKey: string; groupKey?: boolean } | { cert: string; key: string };

/** A config that provisions `registrationId` through the emulator's DPS and reaches the assigned hub on loopback. */
export function dpsConfig(
  emu: Emulator,
  registrationId: string,
  auth: DpsAuth,
  store: DpsStore | undefined,
  overrides: { dps?: Partial<AzureIotHubDpsConfig> } & Partial<Omit<AzureIotHubConfig, 'dps'>> = {},
): AzureIotHubConfig {
  const dps: AzureIotHubDpsConfig = {
    idScope: emu.dps.idScope,
    hostname: emu.dps.host,
    address: emu.dps.address,
    port: emu.dps.port,
    timeoutMs: 10_000,
  };
  if (store !== undefined) dps.store = store;
  if ('symmetricKey' in auth) {
    dps.symmetricKey = auth.symmetricKey;
    if (auth.groupKey === true) dps.groupKey = true;
  }
  const { dps: dpsOverrides, ...rest } = overrides;
  const cfg: AzureIotHubConfig = {
    deviceId: registrationId,
    address: emu.hub.address,
    port: emu.hub.port,
    credentials: 'cert' in auth ? { ca: emu.ca.cert, cert: auth.cert, key: auth.key } : { ca: emu.ca.cert },
    autoTwinRequest: false,
    reconnect: false,
    dps: { ...dps, ...dpsOverrides },
    ...rest,
  };
  return cfg;
}

/** Packets between the emulator's DPS and `registrationId`. */
export function dpsPackets(emu: Emulator, registrationId: string): PacketLogEntry[] {
  return emu.packetLog(registrationId).filter((e) => e.service === 'dps');
}

/** Topics the device published to DPS, in order. */
export function dpsRequests(emu: Emulator, registrationId: string): string[] {
  return dpsPackets(emu, registrationId)
    .filter((e) => e.direction === 'in' && e.type === 'publish')
    .map((e) => e.topic ?? '');
}

/** The symmetric key of an emulator enrollment (or group) with SAS attestation. */
export function keyOf(e: { attestation: { type: string; primaryKey?: string } }): string {
  const key = e.attestation.primaryKey;
  if (key === undefined) throw new Error('not a SAS enrollment');
  return key;
}
