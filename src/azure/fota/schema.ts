/**
 * The FOTA twin schema of the nRF Connect SDK `azure_fota` library: the desired `firmware` object (what to
 * download) and the reported `firmware` object (how the update goes). Pure functions; nothing here throws on bad
 * input: malformed documents give a coded result.
 *
 * Desired, under `desired.firmware` of a full twin or `firmware` at the root of a desired PATCH:
 * `{"fwVersion":"v1.0.3","jobId":"<id>","fwLocation":{"protocol":"https:","host":"<host[:port]>","path":"<file>"},
 * "fwFragmentSize":1800}`, plus this library's documented extension `sha256` (hex, as `firmware.sha256` or
 * `firmware.fwLocation.sha256`) and `size` (bytes, as `firmware.size` or `firmware.fwLocation.size`).
 *
 * Reported: `{"firmware":{"fwUpdateStatus":"<s>","currentFwVersion":"<running>","pendingFwVersion":"<target>",
 * "jobId":"<id>"}}`.
 *
 * @see https://developer.nordicsemi.com/nRF_Connect_SDK/doc/1.9.0/nrf/libraries/networking/azure_fota.html
 * @see https://learn.microsoft.com/azure/iot-hub/tutorial-firmware-update
 */
import { AzureIotHubError } from '../../errors.js';

/** `fwUpdateStatus` values, as the C library's `rep_status_str`. `rebooting` is never sent. */
export const FOTA_STATUSES = Object.freeze([
  'current',
  'downloading',
  'applying',
  'rebooting',
  'error',
  'rolledback',
] as const);
/** One `fwUpdateStatus` value. */
export type FotaStatus = (typeof FOTA_STATUSES)[number];

/** Longest accepted `fwVersion` (characters). The C default is 63 (`AZURE_FOTA_VERSION_MAX_LEN` 64). */
export const FOTA_MAX_VERSION_LENGTH = 128;
/** Longest accepted `jobId` (characters). The C default is 39 (`AZURE_FOTA_JOB_ID_MAX_LEN` 40). */
export const FOTA_MAX_JOB_ID_LENGTH = 128;
/** Longest accepted `fwLocation.host`, port included. */
export const FOTA_MAX_HOST_LENGTH = 261;
/** Longest accepted `fwLocation.path`, query string included. */
export const FOTA_MAX_PATH_LENGTH = 2048;

/** Where the image is: `fwLocation`, validated. */
export interface FirmwareLocation {
  /** `https:` unless the document says `http:` (`http`, `HTTP:` and so on are accepted). */
  protocol: 'https:' | 'http:';
  /** Host name or address, with `:port` when the document gives one. */
  host: string;
  /** The path as given (a query string, e.g. a blob SAS, is kept). */
  path: string;
}

/** The desired `firmware` object, validated: one FOTA job. */
export interface DesiredFirmware {
  /** `fwVersion`; a number is formatted with `String()`. */
  version: string;
  /** `jobId`, absent when missing or empty. */
  jobId?: string;
  location: FirmwareLocation;
  /** `protocol//host/path`: the image URL. May contain a secret query string: never log it unredacted. */
  url: string;
  /** `fwFragmentSize` when it is a number (the downloader bounds it); absent otherwise. */
  fragmentSize?: number;
  /** Lower-case hex SHA-256 of the image (extension). */
  sha256?: string;
  /** Image size in bytes (extension). */
  size?: number;
}

/** The reported `firmware` object as found in the twin (each field is optional there). */
export interface ReportedFirmware {
  fwUpdateStatus?: string;
  currentFwVersion?: string;
  pendingFwVersion?: string;
  jobId?: string;
}

/** A twin document: JSON text, UTF-8 bytes, or an already parsed object. */
export type TwinDocumentInput = string | Uint8Array | Readonly<Record<string, unknown>>;

/** Result of {@link parseTwinDocument}. */
export type TwinDocumentResult =
  | { kind: 'ok'; doc: Readonly<Record<string, unknown>> }
  | { kind: 'invalid'; error: AzureIotHubError };

/**
 * Result of {@link parseDesiredFirmware}: `absent` when the document has no `firmware` object (or `firmware: null`,
 * a deletion); `invalid` with an `EINVAL` error naming the field (or `ENOMSG` when the input is not a JSON object).
 */
export type DesiredFirmwareResult =
  | { kind: 'ok'; firmware: DesiredFirmware }
  | { kind: 'absent' }
  | { kind: 'invalid'; error: AzureIotHubError };

/**
 * Result of {@link parseReportedFirmware}: `none` when the document has no `reported` object (a desired PATCH),
 * `absent` when `reported` has no `firmware` object, `invalid` when `firmware` or one of its fields has the wrong
 * type.
 */
export type ReportedFirmwareResult =
  | { kind: 'ok'; firmware: ReportedFirmware }
  | { kind: 'none' }
  | { kind: 'absent' }
  | { kind: 'invalid'; error: AzureIotHubError };

/** What to report: {@link buildFirmwareReport}'s input. */
export interface FirmwareReportInput {
  status: FotaStatus;
  /** The running version (`currentFwVersion`). */
  currentVersion: string;
  /** The job's version (`pendingFwVersion`), when there is a job. */
  pendingVersion?: string;
  /** The job id, when the job has one. */
  jobId?: string;
}

/** The reported patch: `{"firmware":{...}}`. */
export interface FirmwareReport {
  firmware: {
    fwUpdateStatus: FotaStatus;
    currentFwVersion: string;
    pendingFwVersion?: string;
    jobId?: string;
  };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

function invalid(field: string, rule: string): { kind: 'invalid'; error: AzureIotHubError } {
  // The value is never echoed: a path may carry a blob SAS token.
  return { kind: 'invalid', error: new AzureIotHubError('EINVAL', `${field} ${rule}`) };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Parse a twin document (full twin `{desired, reported}` or a desired PATCH) from JSON text or bytes. An object
 * passes through. Never throws: not JSON, or JSON that is not an object, gives `ENOMSG`.
 */
export function parseTwinDocument(input: TwinDocumentInput): TwinDocumentResult {
  if (isObject(input)) return { kind: 'ok', doc: input };
  let value: unknown;
  try {
    const text = typeof input === 'string' ? input : utf8.decode(input);
    value = JSON.parse(text);
  } catch (err) {
    return { kind: 'invalid', error: new AzureIotHubError('ENOMSG', 'twin document is not valid UTF-8 JSON', { cause: err }) };
  }
  if (!isObject(value)) {
    return { kind: 'invalid', error: new AzureIotHubError('ENOMSG', 'twin document is not a JSON object') };
  }
  return { kind: 'ok', doc: value };
}

function normaliseProtocol(p: unknown): 'https:' | 'http:' | undefined | null {
  if (p === undefined || p === null || p === '') return undefined;
  if (typeof p !== 'string') return null;
  const lower = p.toLowerCase();
  if (lower === 'https:' || lower === 'https') return 'https:';
  if (lower === 'http:' || lower === 'http') return 'http:';
  return null;
}

const HOST_RE = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+)(?::(\d{1,5}))?$/;
const CONTROL_RE = /[\u0000-\u001f\u007f\s#]/;
const HEX64_RE = /^[0-9A-Fa-f]{64}$/;

function readSha(fw: Record<string, unknown>, loc: Record<string, unknown>): string | undefined | null {
  const values: string[] = [];
  for (const v of [fw['sha256'], loc['sha256']]) {
    if (v === undefined || v === null) continue;
    if (typeof v !== 'string' || !HEX64_RE.test(v)) return null;
    values.push(v.toLowerCase());
  }
  if (values.length === 2 && values[0] !== values[1]) return null;
  return values[0];
}

function readSize(fw: Record<string, unknown>, loc: Record<string, unknown>): number | undefined | null {
  const values: number[] = [];
  for (const v of [fw['size'], loc['size']]) {
    if (v === undefined || v === null) continue;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) return null;
    values.push(v);
  }
  if (values.length === 2 && values[0] !== values[1]) return null;
  return values[0];
}

/**
 * Build the image URL `protocol//host/path` (a leading `/` of `path` is not doubled). Returns undefined when the
 * parts do not form a valid URL.
 */
export function firmwareUrl(location: FirmwareLocation): string | undefined {
  try {
    const url = new URL(`${location.protocol}//${location.host}/${location.path.replace(/^\/+/, '')}`);
    if (url.username !== '' || url.password !== '') return undefined;
    return url.href;
  } catch {
    return undefined;
  }
}

/**
 * Read the desired `firmware` object of a twin document: `desired.firmware` when the root has a `desired` object
 * (a full twin), else the root's `firmware` (a desired PATCH), as the C `extract_fw_details` does.
 *
 * Required: `fwVersion` (non-empty string, or a finite number), `fwLocation.host` (`name`, `name:port`, `[v6]:port`)
 * and `fwLocation.path` (non-empty, no whitespace or control characters). Optional: `jobId` (string; empty means
 * none), `fwLocation.protocol` (`https:` by default; `http:`), `fwFragmentSize` (kept when it is a number),
 * `sha256` (64 hex digits) and `size` (positive integer), each at `firmware` or `firmware.fwLocation` (both given
 * must agree). Unlike the C library (which gives up silently), an invalid field yields an `EINVAL` result naming it.
 */
export function parseDesiredFirmware(input: TwinDocumentInput): DesiredFirmwareResult {
  const parsed = parseTwinDocument(input);
  if (parsed.kind === 'invalid') return parsed;
  const root = parsed.doc;
  const desiredValue = root['desired'];
  const desired = isObject(desiredValue) ? desiredValue : root;
  const prefix = desired === root ? 'firmware' : 'desired.firmware';
  const fw = desired['firmware'];
  if (fw === undefined || fw === null) return { kind: 'absent' };
  if (!isObject(fw)) return invalid(prefix, 'must be an object');

  const v = fw['fwVersion'];
  let version: string;
  if (typeof v === 'string' && v.length > 0) version = v;
  else if (typeof v === 'number' && Number.isFinite(v)) version = String(v);
  else return invalid(`${prefix}.fwVersion`, 'must be a non-empty string or a number');
  if (version.length > FOTA_MAX_VERSION_LENGTH) {
    return invalid(`${prefix}.fwVersion`, `must be at most ${FOTA_MAX_VERSION_LENGTH} characters`);
  }

  const j = fw['jobId'];
  let jobId: string | undefined;
  if (j !== undefined && j !== null) {
    if (typeof j !== 'string') return invalid(`${prefix}.jobId`, 'must be a string');
    if (j.length > FOTA_MAX_JOB_ID_LENGTH) {
      return invalid(`${prefix}.jobId`, `must be at most ${FOTA_MAX_JOB_ID_LENGTH} characters`);
    }
    if (j.length > 0) jobId = j;
  }

  const loc = fw['fwLocation'];
  if (!isObject(loc)) return invalid(`${prefix}.fwLocation`, 'must be an object');
  const protocol = normaliseProtocol(loc['protocol']);
  if (protocol === null) return invalid(`${prefix}.fwLocation.protocol`, 'must be "https:" or "http:"');
  const host = loc['host'];
  if (typeof host !== 'string' || host.length === 0 || host.length > FOTA_MAX_HOST_LENGTH) {
    return invalid(`${prefix}.fwLocation.host`, 'must be a non-empty host name');
  }
  const hm = HOST_RE.exec(host);
  if (!hm || (hm[2] !== undefined && (Number(hm[2]) < 1 || Number(hm[2]) > 65535))) {
    return invalid(`${prefix}.fwLocation.host`, 'must be a host name or address with an optional :port (1..65535)');
  }
  const path = loc['path'];
  if (typeof path !== 'string' || path.replace(/^\/+/, '').length === 0 || path.length > FOTA_MAX_PATH_LENGTH) {
    return invalid(`${prefix}.fwLocation.path`, `must be a non-empty path of at most ${FOTA_MAX_PATH_LENGTH} characters`);
  }
  if (CONTROL_RE.test(path)) {
    return invalid(`${prefix}.fwLocation.path`, 'must not contain whitespace, control characters or "#"');
  }
  const location: FirmwareLocation = { protocol: protocol ?? 'https:', host, path };
  const url = firmwareUrl(location);
  if (url === undefined) return invalid(`${prefix}.fwLocation`, 'does not form a valid URL');

  const sha256 = readSha(fw, loc);
  if (sha256 === null) {
    return invalid(`${prefix}.sha256`, 'must be 64 hexadecimal digits (and agree with fwLocation.sha256)');
  }
  const size = readSize(fw, loc);
  if (size === null) return invalid(`${prefix}.size`, 'must be a positive integer (and agree with fwLocation.size)');

  const firmware: DesiredFirmware = { version, location, url };
  if (jobId !== undefined) firmware.jobId = jobId;
  const frag = fw['fwFragmentSize'];
  if (typeof frag === 'number' && Number.isFinite(frag)) firmware.fragmentSize = frag;
  if (sha256 !== undefined) firmware.sha256 = sha256;
  if (size !== undefined) firmware.size = size;
  return { kind: 'ok', firmware };
}

/**
 * Read `reported.firmware` of a full twin document (the C `parse_reported_status` input). A desired PATCH has no
 * `reported` object and gives `none`.
 */
export function parseReportedFirmware(input: TwinDocumentInput): ReportedFirmwareResult {
  const parsed = parseTwinDocument(input);
  if (parsed.kind === 'invalid') return parsed;
  const reported = parsed.doc['reported'];
  if (reported === undefined || reported === null) return { kind: 'none' };
  if (!isObject(reported)) return invalid('reported', 'must be an object');
  const fw = reported['firmware'];
  if (fw === undefined || fw === null) return { kind: 'absent' };
  if (!isObject(fw)) return invalid('reported.firmware', 'must be an object');
  const firmware: ReportedFirmware = {};
  for (const key of ['fwUpdateStatus', 'currentFwVersion', 'pendingFwVersion', 'jobId'] as const) {
    const value = fw[key];
    if (value === undefined || value === null) continue;
    if (typeof value !== 'string') return invalid(`reported.firmware.${key}`, 'must be a string');
    firmware[key] = value;
  }
  return { kind: 'ok', firmware };
}

/**
 * The reported patch, in the C library's field order: `fwUpdateStatus`, `currentFwVersion`, then
 * `pendingFwVersion` and `jobId` when given. With a job id this is exactly the C `STATUS_REPORT_UPDATING`; without a
 * job it is `STATUS_REPORT` (`fwUpdateStatus` and `currentFwVersion` only).
 */
export function buildFirmwareReport(input: FirmwareReportInput): FirmwareReport {
  const firmware: FirmwareReport['firmware'] = {
    fwUpdateStatus: input.status,
    currentFwVersion: input.currentVersion,
  };
  if (input.pendingVersion !== undefined) firmware.pendingFwVersion = input.pendingVersion;
  if (input.jobId !== undefined && input.jobId.length > 0) firmware.jobId = input.jobId;
  return { firmware };
}

/** {@link buildFirmwareReport} as JSON text, ready to send as a twin reported PATCH. */
export function firmwareReportJson(input: FirmwareReportInput): string {
  return JSON.stringify(buildFirmwareReport(input));
}

/**
 * Apply a JSON merge patch (RFC 7396, the semantics of twin desired PATCHes) to a copy of `target`: `null` deletes,
 * objects merge recursively, anything else replaces. Lets a client keep the full desired document, so a PATCH that
 * changes only `firmware.fwVersion` still yields a complete job.
 * @see https://www.rfc-editor.org/rfc/rfc7396
 */
export function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return patch;
  const result: Record<string, unknown> = isObject(target) ? { ...target } : {};
  // An explicit stack, not recursion: the hub decides how deep a PATCH is, and 40 000 levels (well within 256 KiB)
  // would overflow the call stack.
  const work: Array<[Record<string, unknown>, Record<string, unknown>]> = [[result, patch]];
  for (let item = work.pop(); item !== undefined; item = work.pop()) {
    const [out, p] = item;
    for (const [key, value] of Object.entries(p)) {
      if (value === null) {
        delete out[key];
      } else if (isObject(value)) {
        const prev = Object.hasOwn(out, key) ? out[key] : undefined;
        const child: Record<string, unknown> = isObject(prev) ? { ...prev } : {};
        setOwn(out, key, child);
        work.push([child, value]);
      } else {
        setOwn(out, key, value);
      }
    }
  }
  return result;
}

/** `obj[key] = value` as an own data property, even for `__proto__` (a plain assignment would replace the prototype). */
function setOwn(obj: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  else obj[key] = value;
}
