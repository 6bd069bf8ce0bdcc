/**
 * The default DPS assignment store: one small JSON file, written atomically (a temporary file in the same folder,
 * fsync, rename, then fsync of the folder), so that a power cut leaves either the old assignment or the new one,
 * never half a file. A corrupt or unreadable file counts as "no assignment" (with a warning): the device then
 * provisions again and the next save replaces it.
 *
 * File format (UTF-8 JSON, version 1; no secret is ever written):
 * ```json
 * {
 *   "version": 1,
 *   "idScope": "0ne00000A0A",
 *   "registrationId": "dev-1",
 *   "assignedHub": "my-hub.azure-devices.net",
 *   "deviceId": "dev-1",
 *   "assignedAt": "2024-05-01T12:00:00.000Z"
 * }
 * ```
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { AzureIotHubError } from '../../errors.js';
import type { DpsAssignment, DpsStore } from '../types.js';
import { checkDpsAssignment } from './assignment.js';
import { dpsWarning } from './diagnostics.js';

/** The `version` written in, and required of, the store file. */
export const DPS_STORE_FILE_VERSION = 1;

/** Folder of the default store file, relative to the working directory. */
export const DEFAULT_DPS_STORE_DIR = '.azure-iot-hub';

/**
 * The default store file of `registrationId`: `.azure-iot-hub/dps-{registrationId}.json` under `cwd` (default: the
 * working directory), absolute. A `:` (allowed in registration ids, not in Windows file names) is written `%3A`.
 */
export function defaultDpsStorePath(registrationId: string, cwd: string = process.cwd()): string {
  return resolve(cwd, DEFAULT_DPS_STORE_DIR, `dps-${registrationId.replaceAll(':', '%3A')}.json`);
}

/** Options of {@link FileDpsStore}. */
export interface FileDpsStoreOptions {
  /**
   * Called for a file that cannot be used (corrupt, another version), besides the `azure-iot-hub:dps:warning`
   * diagnostics channel. Default: the channel only.
   */
  onWarning?: (message: string) => void;
}

/** Serialise an assignment in the file format (version 1). */
export function serializeDpsAssignment(assignment: DpsAssignment): string {
  const doc: Record<string, unknown> = {
    version: DPS_STORE_FILE_VERSION,
    idScope: assignment.idScope,
    registrationId: assignment.registrationId,
    assignedHub: assignment.assignedHub,
    deviceId: assignment.deviceId,
  };
  if (assignment.assignedAt !== undefined) doc['assignedAt'] = assignment.assignedAt;
  return `${JSON.stringify(doc, null, 2)}\n`;
}

/** Parse the file format: the assignment, or the reason the text is unusable. */
export function parseDpsAssignmentFile(text: string): DpsAssignment | string {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return 'not JSON';
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return 'not a JSON object';
  const version = (doc as Record<string, unknown>)['version'];
  if (version !== DPS_STORE_FILE_VERSION) return `unsupported version ${JSON.stringify(version) ?? 'undefined'}`;
  return checkDpsAssignment(doc);
}

function errnoOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** fsync a folder so that a rename or unlink in it is durable. Not possible everywhere (Windows): best effort. */
async function syncFolder(folder: string): Promise<void> {
  let fh: FileHandle | undefined;
  try {
    fh = await open(folder, 'r');
    await fh.sync();
  } catch {
    // Durability of the folder entry is a bonus; the file itself was synced.
  } finally {
    await fh?.close().catch(() => undefined);
  }
}

/**
 * A {@link DpsStore} in a JSON file (see the module documentation for the format). The folder is created on the
 * first save (mode 0700; the file gets 0600).
 */
export class FileDpsStore implements DpsStore {
  /** Absolute path of the file. */
  readonly path: string;
  readonly #onWarning: ((message: string) => void) | undefined;

  /** @throws AzureIotHubError `EINVAL` for an empty path. */
  constructor(path: string, options: FileDpsStoreOptions = {}) {
    if (typeof path !== 'string' || path.length === 0) throw new AzureIotHubError('EINVAL', 'the DPS store path must be a non-empty string');
    this.path = resolve(path);
    this.#onWarning = options.onWarning;
  }

  /**
   * The stored assignment; `undefined` when there is no file or it cannot be used (a warning says why).
   * @throws AzureIotHubError `EIO` when the file exists but cannot be read (permissions, say).
   */
  async load(): Promise<DpsAssignment | undefined> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return undefined;
      throw new AzureIotHubError('EIO', `cannot read the DPS store ${this.path}: ${describe(err)}`, { cause: err });
    }
    const parsed = parseDpsAssignmentFile(text);
    if (typeof parsed === 'string') {
      this.#warn(`ignoring the DPS store ${this.path}: ${parsed}`);
      return undefined;
    }
    return parsed;
  }

  /**
   * Replace the file atomically with `assignment`.
   * @throws AzureIotHubError `EINVAL` for an invalid assignment, `EIO` when the file cannot be written.
   */
  async save(assignment: DpsAssignment): Promise<void> {
    const checked = checkDpsAssignment(assignment);
    if (typeof checked === 'string') throw new AzureIotHubError('EINVAL', `cannot store this DPS assignment: ${checked}`);
    const folder = dirname(this.path);
    const tmp = join(folder, `.${basename(this.path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
    let fh: FileHandle | undefined;
    try {
      await mkdir(folder, { recursive: true, mode: 0o700 });
      fh = await open(tmp, 'wx', 0o600);
      await fh.writeFile(serializeDpsAssignment(checked), 'utf8');
      await fh.sync();
      await fh.close();
      fh = undefined;
      await rename(tmp, this.path);
    } catch (err) {
      await fh?.close().catch(() => undefined);
      await unlink(tmp).catch(() => undefined);
      throw new AzureIotHubError('EIO', `cannot write the DPS store ${this.path}: ${describe(err)}`, { cause: err });
    }
    await syncFolder(folder);
  }

  /**
   * Delete the file (nothing happens when there is none).
   * @throws AzureIotHubError `EIO` when it cannot be deleted.
   */
  async clear(): Promise<void> {
    try {
      await unlink(this.path);
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return;
      throw new AzureIotHubError('EIO', `cannot delete the DPS store ${this.path}: ${describe(err)}`, { cause: err });
    }
    await syncFolder(dirname(this.path));
  }

  #warn(message: string): void {
    dpsWarning({ message, path: this.path });
    try {
      this.#onWarning?.(message);
    } catch {
      // A throwing warning callback must not turn a warning into a failure.
    }
  }
}
