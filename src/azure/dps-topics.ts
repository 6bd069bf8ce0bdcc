/**
 * Device Provisioning Service (DPS) over MQTT: the topics (subscribe, register, poll), the response-topic parser,
 * the register payload, the parser of DPS JSON responses and the classification of a response into "poll again",
 * "assigned" or "failed".
 *
 * Flow: subscribe {@link DPS_SUBSCRIBE_TOPIC}; publish {@link dpsRegisterPayload} on {@link dpsRegisterTopic};
 * a 202 response carries an `operationId` and `retry-after`; publish (empty) on {@link dpsPollTopic} after that
 * delay until a 200 response carries the final `registrationState`.
 *
 * @see https://learn.microsoft.com/azure/iot-dps/iot-dps-mqtt-support
 * @see https://learn.microsoft.com/rest/api/iot-dps/device/runtime-registration/register-device
 */
import { AzureIotHubError } from '../errors.js';
import { percentEncode } from './property-bag.js';
import { errorCodeForStatus, isRetriableStatus } from './status.js';
import { parseDecimal, queryValue, splitStatusAndQuery } from './topic-parsers.js';
import { isValidRequestId, validateRegistrationId, validateRequestId } from './validate.js';

/** The public DPS endpoint. */
export const DPS_GLOBAL_HOSTNAME = 'global.azure-devices-provisioning.net';

/**
 * Filter for DPS responses (`$dps/registrations/res/{status}/?$rid={rid}[&retry-after={s}]`).
 * @see https://learn.microsoft.com/azure/iot-dps/iot-dps-mqtt-support#registering-a-device
 */
export const DPS_SUBSCRIBE_TOPIC = '$dps/registrations/res/#';

const DPS_RES_PREFIX = '$dps/registrations/res/';

/**
 * Values of `status` and `registrationState.status`. `unassigned` and `assigning` are still in progress;
 * `assigned`, `failed` and `disabled` are final.
 * @see https://learn.microsoft.com/rest/api/iot-dps/device/runtime-registration/register-device#registrationoperationstatus
 */
export const DpsRegistrationStatus = Object.freeze({
  UNASSIGNED: 'unassigned',
  ASSIGNING: 'assigning',
  ASSIGNED: 'assigned',
  FAILED: 'failed',
  DISABLED: 'disabled',
} as const);
/** One of the {@link DpsRegistrationStatus} values. */
export type DpsRegistrationStatus = (typeof DpsRegistrationStatus)[keyof typeof DpsRegistrationStatus];

/**
 * The register request topic: `$dps/registrations/PUT/iotdps-register/?$rid={rid}`.
 * Throws `EINVAL` for an invalid request id.
 * @see https://learn.microsoft.com/azure/iot-dps/iot-dps-mqtt-support#registering-a-device
 */
export function dpsRegisterTopic(rid: string): string {
  validateRequestId(rid);
  return `$dps/registrations/PUT/iotdps-register/?$rid=${rid}`;
}

/**
 * The operation-status poll topic:
 * `$dps/registrations/GET/iotdps-get-operationstatus/?$rid={rid}&operationId={urlenc(operationId)}`.
 * Throws `EINVAL` for an invalid request id or an empty operation id.
 * @see https://learn.microsoft.com/azure/iot-dps/iot-dps-mqtt-support#registering-a-device
 */
export function dpsPollTopic(rid: string, operationId: string): string {
  validateRequestId(rid);
  if (typeof operationId !== 'string' || operationId.length === 0) {
    throw new AzureIotHubError('EINVAL', 'operationId must be a non-empty string');
  }
  return `$dps/registrations/GET/iotdps-get-operationstatus/?$rid=${rid}&operationId=${percentEncode(operationId, 'operationId')}`;
}

/** A parsed DPS response topic. */
export interface DpsResponseTopic {
  kind: 'dpsResponse';
  status: number;
  /** The request id, verbatim. */
  rid: string;
  /** Seconds to wait before polling (`retry-after`), when present. */
  retryAfterSeconds?: number;
}

/**
 * Parse `$dps/registrations/res/{status}/?$rid={rid}&retry-after={s}`: `$rid` and `retry-after` in either order,
 * `retry-after` optional (decimal seconds when present). `undefined` when the topic is not a DPS response or is
 * malformed (status not three digits, no valid `$rid`, non-decimal `retry-after`).
 * @see https://learn.microsoft.com/azure/iot-dps/iot-dps-mqtt-support#registering-a-device
 */
export function parseDpsResponseTopic(topic: string): DpsResponseTopic | undefined {
  if (!topic.startsWith(DPS_RES_PREFIX)) return undefined;
  const parts = splitStatusAndQuery(topic.slice(DPS_RES_PREFIX.length));
  if (parts === undefined) return undefined;
  const rid = queryValue(parts.query, '$rid');
  if (!isValidRequestId(rid)) return undefined;
  const out: DpsResponseTopic = { kind: 'dpsResponse', status: parts.status, rid };
  const retryRaw = queryValue(parts.query, 'retry-after');
  if (retryRaw !== undefined) {
    const retryAfterSeconds = parseDecimal(retryRaw);
    if (retryAfterSeconds === undefined) return undefined;
    out.retryAfterSeconds = retryAfterSeconds;
  }
  return out;
}

/**
 * The register request body: `{"registrationId":"<id>"}`, plus `"payload":<json>` when `payload` is given (any
 * JSON-serialisable value; Azure expects an object). Always valid JSON. Throws `EINVAL` for an invalid registration
 * id or a payload that cannot be serialised (a cycle, a BigInt, a function).
 * @see https://learn.microsoft.com/rest/api/iot-dps/device/runtime-registration/register-device#deviceregistration
 */
export function dpsRegisterPayload(registrationId: string, payload?: unknown): string {
  validateRegistrationId(registrationId);
  if (payload === undefined) return JSON.stringify({ registrationId });
  let json: string | undefined;
  try {
    json = JSON.stringify(payload);
  } catch (err) {
    throw new AzureIotHubError('EINVAL', 'dps payload cannot be serialised as JSON', { cause: err });
  }
  if (json === undefined) throw new AzureIotHubError('EINVAL', 'dps payload cannot be serialised as JSON');
  return `{"registrationId":${JSON.stringify(registrationId)},"payload":${json}}`;
}

/**
 * `registrationState` of a DPS response. Every field is optional (DPS sends what applies); types are checked.
 * @see https://learn.microsoft.com/rest/api/iot-dps/device/runtime-registration/register-device#deviceregistrationresult
 */
export interface DpsRegistrationState {
  registrationId?: string;
  createdDateTimeUtc?: string;
  assignedHub?: string;
  deviceId?: string;
  status?: string;
  substatus?: string;
  errorCode?: number;
  errorMessage?: string;
  lastUpdatedDateTimeUtc?: string;
  etag?: string;
  /** Custom allocation payload returned by DPS, as parsed JSON. */
  payload?: unknown;
}

/**
 * A DPS response body: an operation (`operationId`, `status`, `registrationState`) or an error (`errorCode`,
 * `trackingId`, `message`, `timestampUtc`).
 * @see https://learn.microsoft.com/rest/api/iot-dps/device/runtime-registration/register-device#registrationoperationstatus
 */
export interface DpsOperationResponse {
  operationId?: string;
  status?: string;
  registrationState?: DpsRegistrationState;
  errorCode?: number;
  trackingId?: string;
  message?: string;
  timestampUtc?: string;
}

const decoder = new TextDecoder('utf-8', { fatal: true });

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function malformed(why: string): AzureIotHubError {
  return new AzureIotHubError('EPROTO', `malformed DPS response: ${why}`);
}

/** Copy `keys` of `src` that are strings (or numbers, for `numberKeys`) into `dst`; the first wrong type wins. */
function copyTyped(
  src: Record<string, unknown>,
  dst: Record<string, unknown>,
  stringKeys: readonly string[],
  numberKeys: readonly string[],
  where: string,
): AzureIotHubError | undefined {
  for (const key of stringKeys) {
    const v = src[key];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'string') return malformed(`${where}${key} is not a string`);
    dst[key] = v;
  }
  for (const key of numberKeys) {
    const v = src[key];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'number' || !Number.isFinite(v)) return malformed(`${where}${key} is not a number`);
    dst[key] = v;
  }
  return undefined;
}

/**
 * Parse a DPS response body (bytes or text). Never throws: returns the typed response, or an
 * {@link AzureIotHubError} with code `EPROTO` naming the problem (not UTF-8, not JSON, not an object, a field of
 * the wrong type, neither an operation nor an error, `assignedHub` without `deviceId` or the reverse). Unknown fields
 * are ignored; `null` fields count as absent.
 */
export function parseDpsResponse(body: Uint8Array | string): DpsOperationResponse | AzureIotHubError {
  let text: string;
  if (typeof body === 'string') {
    text = body;
  } else {
    try {
      text = decoder.decode(body);
    } catch {
      return malformed('body is not UTF-8');
    }
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return malformed('body is not JSON');
  }
  if (!isObject(json)) return malformed('body is not a JSON object');
  const out: DpsOperationResponse = {};
  const err = copyTyped(
    json,
    out as Record<string, unknown>,
    ['operationId', 'status', 'trackingId', 'message', 'timestampUtc'],
    ['errorCode'],
    '',
  );
  if (err !== undefined) return err;
  const rs = json['registrationState'];
  if (rs !== undefined && rs !== null) {
    if (!isObject(rs)) return malformed('registrationState is not an object');
    const state: DpsRegistrationState = {};
    const err2 = copyTyped(
      rs,
      state as Record<string, unknown>,
      [
        'registrationId',
        'createdDateTimeUtc',
        'assignedHub',
        'deviceId',
        'status',
        'substatus',
        'errorMessage',
        'lastUpdatedDateTimeUtc',
        'etag',
      ],
      ['errorCode'],
      'registrationState.',
    );
    if (err2 !== undefined) return err2;
    if ((state.assignedHub === undefined) !== (state.deviceId === undefined)) {
      return malformed('registrationState has only one of assignedHub and deviceId');
    }
    if (rs['payload'] !== undefined) state.payload = rs['payload'];
    out.registrationState = state;
  }
  const isOperation = out.operationId !== undefined && out.status !== undefined;
  if (!isOperation && out.errorCode === undefined) {
    return malformed('neither operationId and status nor errorCode is present');
  }
  return out;
}

/** What to do after a DPS response; see {@link classifyDpsResponse}. */
export type DpsOutcome =
  | {
      kind: 'pending';
      /** The operation to poll with {@link dpsPollTopic}. */
      operationId: string;
      /** Seconds to wait before polling, from the topic's `retry-after` (`undefined` when absent). */
      retryAfterSeconds: number | undefined;
    }
  | {
      kind: 'assigned';
      assignedHub: string;
      deviceId: string;
      /** Custom allocation payload returned by DPS, when any. */
      payload?: unknown;
    }
  | {
      kind: 'failed';
      /** Coded error; `status` holds the DPS or HTTP-like status. Its message never carries secrets. */
      error: AzureIotHubError;
      /** Whether trying again later may succeed (429, 5xx). */
      retriable: boolean;
      /** Seconds to wait before trying again, from the topic's `retry-after` (`undefined` when absent). */
      retryAfterSeconds: number | undefined;
    };

const MAX_REASON = 200;

function reason(text: string | undefined): string {
  if (text === undefined || text.length === 0) return '';
  return `: ${text.length > MAX_REASON ? text.slice(0, MAX_REASON) + '...' : text}`;
}

/**
 * Decide what a DPS response means (the project's rule: a final status other than `assigned` is a failure, never an
 * empty hub):
 * - topic status 202, or 200 with status `assigning`/`unassigned`: `pending` (needs an `operationId`);
 * - 200 with status `assigned` and `registrationState.assignedHub` and `deviceId`: `assigned`;
 * - 200 with `failed`/`disabled` (or `assigned` without a hub): `failed`, `EACCES` for `disabled`, else `EIO`;
 * - any other status: `failed` with {@link errorCodeForStatus}, `retriable` for 429 and 5xx.
 * A body that {@link parseDpsResponse} rejects gives `failed` with `EPROTO` (unless the status is an error status,
 * whose code then wins).
 */
export function classifyDpsResponse(topic: DpsResponseTopic, body: Uint8Array | string): DpsOutcome {
  const retryAfterSeconds = topic.retryAfterSeconds;
  const parsed = parseDpsResponse(body);
  const fail = (error: AzureIotHubError, retriable = false): DpsOutcome => ({
    kind: 'failed',
    error,
    retriable,
    retryAfterSeconds,
  });
  const status = topic.status;
  if (status !== 200 && status !== 202) {
    const detail = parsed instanceof AzureIotHubError ? undefined : parsed;
    const errorCode = detail?.errorCode;
    const extended = errorCode !== undefined ? ` (errorCode ${errorCode})` : '';
    return fail(
      new AzureIotHubError(
        errorCodeForStatus(status),
        `DPS answered ${status}${extended}${reason(detail?.message)}`,
        { status },
      ),
      isRetriableStatus(status),
    );
  }
  if (parsed instanceof AzureIotHubError) return fail(parsed);
  const state = parsed.registrationState;
  const opStatus = parsed.status ?? state?.status;
  if (status === 202 || opStatus === DpsRegistrationStatus.ASSIGNING || opStatus === DpsRegistrationStatus.UNASSIGNED) {
    if (parsed.operationId === undefined) return fail(malformed('a pending response has no operationId'));
    return { kind: 'pending', operationId: parsed.operationId, retryAfterSeconds };
  }
  if (opStatus === DpsRegistrationStatus.ASSIGNED) {
    if (state?.assignedHub === undefined || state.deviceId === undefined || state.assignedHub.length === 0) {
      return fail(new AzureIotHubError('EPROTO', 'DPS reported assigned without an assignedHub and deviceId', { status }));
    }
    const out: DpsOutcome = { kind: 'assigned', assignedHub: state.assignedHub, deviceId: state.deviceId };
    if (state.payload !== undefined) out.payload = state.payload;
    return out;
  }
  const code = opStatus === DpsRegistrationStatus.DISABLED ? 'EACCES' : 'EIO';
  const extended = state?.errorCode !== undefined ? ` (errorCode ${state.errorCode})` : '';
  return fail(
    new AzureIotHubError(
      code,
      `DPS registration ${opStatus ?? 'without status'}${state?.substatus !== undefined ? `/${state.substatus}` : ''}${extended}${reason(state?.errorMessage)}`,
      { status },
    ),
  );
}
