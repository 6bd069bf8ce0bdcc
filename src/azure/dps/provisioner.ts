/**
 * What the client needs for DPS, from its resolved config: the assignment store (load with checks, save, clear),
 * one provisioning run with the DPS_CONNECTING / DPS_REGISTERING events, and the hub SAS key after DPS.
 */
import { AzureIotHubError, toAzureIotHubError } from '../../errors.js';
import type { TransportTlsOptions } from '../../transport/index.js';
import type { ResolvedConfig, ResolvedDpsConfig } from '../config.js';
import { deriveGroupDeviceKey } from '../sas.js';
import type { AzureIotHubDpsResult, AzureIotHubEvt, DpsAssignment, DpsStore } from '../types.js';
import { assignmentMismatch, checkDpsAssignment } from './assignment.js';
import { dpsWarning } from './diagnostics.js';
import { defaultDpsStorePath, FileDpsStore } from './file-store.js';
import { provisionDevice, type ProvisionOptions } from './provision.js';

/** Hooks of {@link DpsProvisioner} (the client's `AzureIotHubOptions`). */
export interface DpsProvisionerOptions {
  now?: (() => number) | undefined;
  random?: (() => number) | undefined;
  session?: ProvisionOptions['session'] | undefined;
}

/**
 * The key the hub connection signs its SAS tokens with: `config.sasKey` when set; else, with DPS symmetric-key
 * attestation, the individual enrollment key, or for a group the device key derived from the group key (the hub
 * device is registered with it); else none (X.509).
 */
export function hubSasKey(cfg: ResolvedConfig): string | undefined {
  if (cfg.sasKey !== undefined) return cfg.sasKey;
  const dps = cfg.dps;
  if (dps?.symmetricKey === undefined) return undefined;
  return dps.groupKey === true ? deriveGroupDeviceKey(dps.symmetricKey, dps.registrationId) : dps.symmetricKey;
}

/** DPS for one client: store and provisioning. */
export class DpsProvisioner {
  readonly store: DpsStore;
  readonly #cfg: ResolvedConfig;
  readonly #dps: ResolvedDpsConfig;
  readonly #options: DpsProvisionerOptions;
  readonly #failures = new WeakSet<AzureIotHubError>();

  constructor(cfg: ResolvedConfig, dps: ResolvedDpsConfig, options: DpsProvisionerOptions = {}) {
    this.#cfg = cfg;
    this.#dps = dps;
    this.#options = options;
    this.store = dps.store ?? new FileDpsStore(dps.storePath ?? defaultDpsStorePath(dps.registrationId));
  }

  /**
   * The stored assignment for the configured id scope and registration id, or undefined: none stored, or the
   * store failed, or what it holds is malformed or for another id scope / registration id (a warning says which).
   * Never rejects.
   */
  async load(): Promise<DpsAssignment | undefined> {
    let raw: unknown;
    try {
      raw = await this.store.load();
    } catch (err) {
      dpsWarning({ message: 'the DPS store could not be read: provisioning again', error: err });
      return undefined;
    }
    if (raw === undefined || raw === null) return undefined;
    const checked = checkDpsAssignment(raw);
    if (typeof checked === 'string') {
      dpsWarning({ message: `ignoring the stored DPS assignment: ${checked}` });
      return undefined;
    }
    const mismatch = assignmentMismatch(checked, this.#dps.idScope, this.#dps.registrationId);
    if (mismatch !== undefined) {
      dpsWarning({ message: `ignoring the stored DPS assignment: ${mismatch}` });
      return undefined;
    }
    return checked;
  }

  /**
   * Store `result` for the configured id scope and registration id.
   * @throws AzureIotHubError what the store throws, as `EIO` unless coded.
   */
  async save(result: AzureIotHubDpsResult, assignedAtMs: number): Promise<void> {
    const assignment: DpsAssignment = {
      idScope: this.#dps.idScope,
      registrationId: this.#dps.registrationId,
      assignedHub: result.assignedHub,
      deviceId: result.deviceId,
      assignedAt: new Date(assignedAtMs).toISOString(),
    };
    try {
      await this.store.save(assignment);
    } catch (err) {
      throw toAzureIotHubError(err, 'EIO', `the DPS assignment could not be stored: ${errorText(err)}`);
    }
  }

  /**
   * Forget the stored assignment.
   * @throws AzureIotHubError what the store throws, as `EIO` unless coded.
   */
  async clear(): Promise<void> {
    try {
      await this.store.clear();
    } catch (err) {
      throw toAzureIotHubError(err, 'EIO', `the DPS assignment could not be cleared: ${errorText(err)}`);
    }
  }

  /**
   * Run one provisioning: DPS_CONNECTING now, DPS_REGISTERING when DPS accepts the connection. Resolves with the
   * assignment; rejects with the coded error (see `provisionDevice`), which {@link isFailure} then recognises.
   */
  async provision(emit: (evt: AzureIotHubEvt) => void, signal: AbortSignal): Promise<AzureIotHubDpsResult> {
    const cfg = this.#cfg;
    const dps = this.#dps;
    const c = cfg.credentials;
    const tls: TransportTlsOptions = {};
    if (c?.ca !== undefined) tls.ca = c.ca;
    // X.509 attestation uses the device certificate; with a symmetric key no client certificate is sent.
    if (dps.symmetricKey === undefined) {
      if (c?.cert !== undefined) tls.cert = c.cert;
      if (c?.key !== undefined) tls.key = c.key;
      if (c?.passphrase !== undefined) tls.passphrase = c.passphrase;
    }
    const options: ProvisionOptions = {
      idScope: dps.idScope,
      registrationId: dps.registrationId,
      hostname: dps.hostname,
      port: dps.port,
      tls,
      timeoutMs: dps.timeoutMs,
      keepaliveSeconds: cfg.keepaliveSeconds,
      sasTokenTtlSeconds: cfg.sasTokenTtlSeconds,
      signal,
      onRegistering: () => emit({ type: 'DPS_REGISTERING' }),
    };
    if (dps.address !== undefined) options.address = dps.address;
    if (dps.payload !== undefined) options.payload = dps.payload;
    if (dps.symmetricKey !== undefined) {
      options.symmetricKey = dps.groupKey === true ? deriveGroupDeviceKey(dps.symmetricKey, dps.registrationId) : dps.symmetricKey;
    }
    const { now, random, session } = this.#options;
    if (now !== undefined) options.now = now;
    if (random !== undefined) options.random = random;
    if (session !== undefined) options.session = session;
    emit({ type: 'DPS_CONNECTING' });
    try {
      return await provisionDevice(options);
    } catch (err) {
      const e = toAzureIotHubError(err, 'EIO');
      this.#failures.add(e);
      throw e;
    }
  }

  /** Whether `err` is the failure of a provisioning run (the client reports it as DPS_FAILED). */
  isFailure(err: unknown): boolean {
    return err instanceof AzureIotHubError && this.#failures.has(err);
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
