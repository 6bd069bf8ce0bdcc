/**
 * Device Provisioning Service semantics over MQTT, the service side: enrollments (individual, or groups by
 * symmetric key or by CA), the register request answered `202` with `retry-after` and an `operationId`, polling, and
 * the final `200` with `registrationState`. On assignment the device is registered on the assigned hub with
 * matching authentication.
 *
 * @see https://learn.microsoft.com/azure/iot-dps/iot-dps-mqtt-support
 * @see https://learn.microsoft.com/rest/api/iot-dps/device/runtime-registration/register-device
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { ConnectPacket, Packet, PublishPacket, QoS, SubackReturnCode } from '../codec/index.js';
import { topicMatchesFilter } from '../codec/index.js';
import { AzureIotHubError } from '../errors.js';
import {
  certificateCommonName,
  certificateThumbprint,
  generateSymmetricKey,
  peerCertificate,
  type DeviceAuth,
  type PeerCertificate,
} from './auth.js';
import type { FaultState } from './faults.js';
import { IDLE_TIMEOUT_SECONDS, MAX_KEEPALIVE_SECONDS } from './hub.js';
import type { ConnectionHandler, MqttConnection } from './mqtt-server.js';
import { parsePropertyBag, rawTopicParameter, topicParameters } from './property-bag.js';
import type { Registry } from './registry.js';
import { deriveDeviceKey, parseSasToken, verifySasToken, type SasToken } from './sas.js';
import type { EmulatorEventMap } from './types.js';

/** The api-version DPS documents for MQTT. */
export const DPS_API_VERSION = '2019-03-31';

/** Final states of a registration. */
export type DpsResult = 'assigned' | 'failed' | 'disabled';

/** Options shared by enrollments and enrollment groups. */
export interface EnrollmentCommon {
  /** Hub to assign (default: the emulator's first hub). */
  assignedHub?: string;
  /** `disabled`: registrations end with status `disabled` (default `enabled`). */
  status?: 'enabled' | 'disabled';
  /** Force the outcome (default `assigned`). */
  result?: DpsResult;
  /** Number of polls answered `202 assigning` before the final answer (default 0: the first poll gets it). */
  polls?: number;
  /** Returned to the device as `registrationState.payload` on assignment (what a custom allocation returns). */
  responsePayload?: unknown;
}

/** An individual enrollment. */
export interface EnrollmentOptions extends EnrollmentCommon {
  registrationId: string;
  /**
   * `sas`: symmetric keys (primary generated when absent). `x509`: a client certificate whose CN is the
   * registration id, either exactly `certificate` (any issuer, e.g. self-signed) or, without it, any certificate
   * chained to a trusted CA.
   */
  attestation: { type: 'sas'; primaryKey?: string; secondaryKey?: string } | { type: 'x509'; certificate?: string };
  /** Device id on the hub (default: the registration id; X.509 requires them equal, as DPS does). */
  deviceId?: string;
}

/** An enrollment group. */
export interface EnrollmentGroupOptions extends EnrollmentCommon {
  groupId: string;
  /**
   * `sas`: members authenticate with `deriveDeviceKey(groupKey, registrationId)`. `x509-ca`: members present a
   * certificate chained to `caCert` (which becomes trusted), CN = registration id.
   */
  attestation: { type: 'sas'; primaryKey?: string; secondaryKey?: string } | { type: 'x509-ca'; caCert: string };
}

/** An enrollment as stored (keys filled in). */
export interface Enrollment extends EnrollmentOptions {
  attestation: { type: 'sas'; primaryKey: string; secondaryKey?: string } | { type: 'x509'; certificate?: string };
}

/** An enrollment group as stored (keys filled in). */
export interface EnrollmentGroup extends EnrollmentGroupOptions {
  attestation: { type: 'sas'; primaryKey: string; secondaryKey?: string } | { type: 'x509-ca'; caCert: string };
}

/** A registration that reached a final state. */
export interface DpsRegistrationRecord {
  registrationId: string;
  status: DpsResult;
  assignedHub?: string;
  deviceId?: string;
  /** The `payload` of the register request, if any. */
  payload?: unknown;
  /** The individual enrollment or group it matched. */
  enrollment: { kind: 'individual'; registrationId: string } | { kind: 'group'; groupId: string };
  at: number;
}

/** Options of the DPS service. */
export interface DpsServiceOptions {
  idScope: string;
  host: string;
  registry: Registry;
  faults: FaultState;
  emit: <K extends keyof EmulatorEventMap>(name: K, ...args: EmulatorEventMap[K]) => void;
  now: () => number;
  /** `retry-after` of 202 answers, seconds (0 allowed). */
  retryAfterSeconds: number;
  /** Order of the parameters of 202 answers. */
  topicOrder: 'rid-first' | 'retry-after-first';
  /** Make `pem` a trusted CA for client certificates (hub and DPS listeners). */
  trustCa: (pem: string) => void;
}

type Match =
  | { kind: 'individual'; enrollment: Enrollment; auth: 'sas' | 'x509'; cert: PeerCertificate | undefined }
  | { kind: 'group'; group: EnrollmentGroup; auth: 'sas' | 'x509'; cert: PeerCertificate | undefined };

interface DpsConnected {
  kind: 'connected';
  registrationId: string;
  match: Match;
  subscribed: Map<string, QoS>;
}

interface Operation {
  id: string;
  registrationId: string;
  match: Match;
  payload: unknown;
  pollsLeft: number;
  createdAt: string;
  final?: object;
}

const UTF8 = new TextDecoder();
const UTF8_ENCODE = new TextEncoder();

/** The DPS side of the emulator. */
export class DpsService implements ConnectionHandler {
  readonly #o: DpsServiceOptions;
  readonly enrollments = new Map<string, Enrollment>();
  readonly groups = new Map<string, EnrollmentGroup>();
  readonly registrations: DpsRegistrationRecord[] = [];
  readonly #operations = new Map<string, Operation>();
  readonly #assignedBefore = new Set<string>();

  constructor(options: DpsServiceOptions) {
    this.#o = options;
  }

  // -------------------------------------------------------------------------------------------------------------
  // Enrollments

  addEnrollment(options: EnrollmentOptions): Enrollment {
    if (!options.registrationId) throw new AzureIotHubError('EINVAL', 'registrationId: required');
    this.#checkCommon(options);
    const a = options.attestation;
    if (a.type === 'x509' && options.deviceId !== undefined && options.deviceId !== options.registrationId) {
      throw new AzureIotHubError('EINVAL', 'deviceId: an X.509 enrollment provisions the registration id (the CN)');
    }
    const enrollment: Enrollment = {
      ...options,
      attestation: a.type === 'sas' ? { ...a, primaryKey: a.primaryKey ?? generateSymmetricKey() } : { ...a },
    };
    if (a.type === 'x509' && a.certificate !== undefined &&
      certificateCommonName(a.certificate) !== options.registrationId) {
      throw new AzureIotHubError('EINVAL', 'attestation.certificate: its CN must be the registration id');
    }
    this.enrollments.set(options.registrationId, enrollment);
    return enrollment;
  }

  addEnrollmentGroup(options: EnrollmentGroupOptions): EnrollmentGroup {
    if (!options.groupId) throw new AzureIotHubError('EINVAL', 'groupId: required');
    this.#checkCommon(options);
    const a = options.attestation;
    const group: EnrollmentGroup = {
      ...options,
      attestation: a.type === 'sas' ? { ...a, primaryKey: a.primaryKey ?? generateSymmetricKey() } : { ...a },
    };
    if (a.type === 'x509-ca') this.#o.trustCa(a.caCert);
    this.groups.set(options.groupId, group);
    return group;
  }

  #checkCommon(o: EnrollmentCommon): void {
    if (o.assignedHub !== undefined) this.#o.registry.hub(o.assignedHub);
    if (o.polls !== undefined && !(Number.isInteger(o.polls) && o.polls >= 0)) {
      throw new AzureIotHubError('EINVAL', 'polls: a non-negative integer');
    }
  }

  // -------------------------------------------------------------------------------------------------------------
  // ConnectionHandler

  onPacket(conn: MqttConnection, packet: Packet): void {
    const st = conn.state as DpsConnected | { kind: 'refused' } | undefined;
    if (st?.kind === 'refused') return;
    if (packet.type === 'connect') {
      if (st !== undefined) return this.#violation(conn, 'a second CONNECT [MQTT-3.1.0-2]');
      return this.#connect(conn, packet);
    }
    if (st === undefined) return this.#violation(conn, `${packet.type} before CONNECT [MQTT-3.1.0-1]`);
    switch (packet.type) {
      case 'publish':
        return this.#publish(conn, st, packet);
      case 'puback':
        return;
      case 'subscribe': {
        const granted: SubackReturnCode[] = [];
        const report: { topic: string; qos: QoS; granted: number }[] = [];
        for (const s of packet.subscriptions) {
          const code: SubackReturnCode = s.topic === '$dps/registrations/res/#' ? (s.qos === 2 ? 1 : s.qos) : 0x80;
          if (code !== 0x80) st.subscribed.set(s.topic, code);
          granted.push(code);
          report.push({ topic: s.topic, qos: s.qos, granted: code });
        }
        conn.send({ type: 'suback', messageId: packet.messageId, granted });
        this.#o.emit('subscribe', { service: 'dps', clientId: st.registrationId, subscriptions: report });
        return;
      }
      case 'unsubscribe':
        for (const f of packet.unsubscriptions) st.subscribed.delete(f);
        conn.send({ type: 'unsuback', messageId: packet.messageId });
        this.#o.emit('unsubscribe', { service: 'dps', clientId: st.registrationId, filters: [...packet.unsubscriptions] });
        return;
      case 'pingreq':
        conn.send({ type: 'pingresp' });
        return;
      case 'disconnect':
        conn.graceful = true;
        conn.close('client disconnected');
        return;
      default:
        return this.#violation(conn, `unexpected ${packet.type} from a device`);
    }
  }

  onClose(conn: MqttConnection, reason: string, graceful: boolean): void {
    const st = conn.state as DpsConnected | { kind: 'refused' } | undefined;
    if (reason.startsWith('protocol error') && conn.clientId !== undefined) {
      this.#o.emit('protocolViolation', { service: 'dps', clientId: conn.clientId, reason });
    }
    if (st?.kind !== 'connected') return;
    this.#o.emit('disconnect', { service: 'dps', clientId: st.registrationId, host: this.#o.host, reason, graceful });
  }

  #violation(conn: MqttConnection, reason: string): void {
    if (conn.clientId !== undefined) this.#o.emit('protocolViolation', { service: 'dps', clientId: conn.clientId, reason });
    conn.close(`protocol violation: ${reason}`);
  }

  #refuse(conn: MqttConnection, clientId: string, code: number, reason: string): void {
    conn.state = { kind: 'refused' };
    conn.send({ type: 'connack', sessionPresent: false, returnCode: code });
    conn.closeAfterFlush(`CONNECT refused (${code}): ${reason}`);
    this.#o.emit('connectRefused', { service: 'dps', clientId, returnCode: code, reason });
  }

  #connect(conn: MqttConnection, p: ConnectPacket): void {
    const regId = p.clientId;
    if (regId.length === 0) return this.#refuse(conn, '', 2, 'empty client id');
    if (p.username === undefined) return this.#refuse(conn, regId, 5, 'no username');
    // {idScope}/registrations/{registrationId}/api-version=2019-03-31[&ClientVersion=...]
    const parts = p.username.split('/');
    if (parts.length !== 4 || parts[1] !== 'registrations') return this.#refuse(conn, regId, 5, 'malformed username');
    const [scope, , userRegId, query] = parts as [string, string, string, string];
    if (scope !== this.#o.idScope) return this.#refuse(conn, regId, 5, `unknown id scope ${scope}`);
    if (userRegId !== regId) return this.#refuse(conn, regId, 5, 'client id differs from the username registration id');
    const params = new Map(parsePropertyBag(query.startsWith('?') ? query.slice(1) : query).map((e) => [e.key, e.value]));
    const apiVersion = params.get('api-version');
    if (typeof apiVersion !== 'string' || apiVersion.length === 0) {
      return this.#refuse(conn, regId, 5, 'username has no api-version');
    }

    const nowMs = this.#o.now();
    let match: Match | undefined;
    if (p.password !== undefined) {
      const token = parseSasToken(UTF8.decode(p.password));
      if (token === undefined) return this.#refuse(conn, regId, 4, 'malformed SAS token');
      const r = this.#matchSas(regId, token, nowMs);
      if (typeof r === 'string') return this.#refuse(conn, regId, r === 'no enrollment' ? 5 : 4, r);
      match = r;
    } else {
      const cert = peerCertificate(conn.socket, nowMs);
      const r = this.#matchX509(regId, cert);
      if (typeof r === 'string') return this.#refuse(conn, regId, 5, r);
      match = r;
    }

    const st: DpsConnected = { kind: 'connected', registrationId: regId, match, subscribed: new Map() };
    conn.state = st;
    conn.accepted = true;
    const f = this.#o.faults.devices.get(regId);
    conn.delayMs = f?.delayMs ?? 0;
    conn.suppress = f?.stopAnswering === true;
    // DPS ignores CleanSession: sessions are never persistent.
    conn.send({ type: 'connack', sessionPresent: false, returnCode: 0 });
    const ka = p.keepalive === 0 ? 0 : Math.min(p.keepalive, MAX_KEEPALIVE_SECONDS);
    conn.setKeepaliveTimeout(ka === 0 ? IDLE_TIMEOUT_SECONDS * 1000 : ka * 1500);
    const event: EmulatorEventMap['connect'][0] = {
      service: 'dps',
      clientId: regId,
      host: this.#o.host,
      auth: match.auth,
      cleanSession: p.cleanSession,
      sessionPresent: false,
      keepalive: p.keepalive,
      apiVersion,
      username: p.username,
    };
    if (conn.servername !== undefined) event.servername = conn.servername;
    this.#o.emit('connect', event);
  }

  #matchSas(regId: string, token: SasToken, nowMs: number): Match | string {
    const resource = `${this.#o.idScope}/registrations/${regId}`;
    const now = Math.floor(nowMs / 1000);
    const covers = (sr: string): boolean => sr === resource;
    const e = this.enrollments.get(regId);
    if (e !== undefined) {
      if (e.attestation.type !== 'sas') return 'the enrollment uses X.509 but a SAS token was sent';
      const keys = [e.attestation.primaryKey, e.attestation.secondaryKey].filter((k): k is string => k !== undefined);
      const failure = verifySasToken(token, keys, covers, now, 'registration');
      if (failure !== undefined) return `SAS token refused: ${failure}`;
      return { kind: 'individual', enrollment: e, auth: 'sas', cert: undefined };
    }
    let failure: string | undefined;
    for (const g of this.groups.values()) {
      if (g.attestation.type !== 'sas') continue;
      const keys = [g.attestation.primaryKey, g.attestation.secondaryKey]
        .filter((k): k is string => k !== undefined)
        .map((k) => deriveDeviceKey(k, regId));
      const f = verifySasToken(token, keys, covers, now, 'registration');
      if (f === undefined) return { kind: 'group', group: g, auth: 'sas', cert: undefined };
      failure ??= `SAS token refused: ${f}`;
    }
    return failure ?? 'no enrollment';
  }

  #matchX509(regId: string, cert: PeerCertificate | undefined): Match | string {
    if (cert === undefined) return 'no client certificate and no SAS token';
    if (cert.commonName !== regId) return 'certificate CN differs from the registration id';
    const e = this.enrollments.get(regId);
    if (e !== undefined) {
      if (e.attestation.type !== 'x509') return 'the enrollment uses SAS but a certificate was sent';
      if (e.attestation.certificate !== undefined) {
        if (!cert.validNow) return 'certificate expired or not yet valid';
        if (certificateThumbprint(e.attestation.certificate) !== cert.sha256) return 'not the enrolled certificate';
      } else if (!cert.authorized) {
        return `certificate not trusted (${cert.authorizationError ?? 'unknown'})`;
      }
      return { kind: 'individual', enrollment: e, auth: 'x509', cert };
    }
    if (!cert.authorized) return `certificate not trusted (${cert.authorizationError ?? 'unknown'})`;
    for (const g of this.groups.values()) {
      if (g.attestation.type !== 'x509-ca') continue;
      if (cert.chain.includes(certificateThumbprint(g.attestation.caCert))) {
        return { kind: 'group', group: g, auth: 'x509', cert };
      }
    }
    return 'no enrollment';
  }

  // -------------------------------------------------------------------------------------------------------------
  // Requests

  #publish(conn: MqttConnection, st: DpsConnected, p: PublishPacket): void {
    if (p.qos === 2) return this.#violation(conn, 'PUBLISH with QoS 2');
    const register = p.topic.startsWith('$dps/registrations/PUT/iotdps-register/?');
    const poll = p.topic.startsWith('$dps/registrations/GET/iotdps-get-operationstatus/?');
    if (!register && !poll) return this.#violation(conn, `PUBLISH to a topic the device may not use: ${p.topic}`);
    const params = topicParameters(p.topic);
    const rid = rawTopicParameter(p.topic, '$rid'); // echoed as received: request ids are opaque
    if (rid === undefined || rid === null || rid.length === 0) return this.#violation(conn, `request without $rid: ${p.topic}`);
    if (p.qos === 1 && p.messageId !== undefined && !this.#o.faults.takeWithheldPuback(st.registrationId)) {
      conn.send({ type: 'puback', messageId: p.messageId });
    }
    if (this.#o.faults.dpsSilent) return;
    const forced = this.#o.faults.takeDpsFailure();
    if (forced !== undefined) {
      return this.#respond(conn, st, forced.status, rid, forced.retryAfter,
        errorBody(forced.status, forced.status === 429 ? 'Too many requests.' : 'Failure forced by the emulator.'));
    }
    if (register) this.#register(conn, st, rid, p.payload);
    else this.#poll(conn, st, rid, params.get('operationId'));
  }

  #respond(conn: MqttConnection, st: DpsConnected, status: number, rid: string, retryAfter: number | undefined,
    body: object): void {
    let topic = `$dps/registrations/res/${status}/?`;
    if (retryAfter === undefined) topic += `$rid=${rid}`;
    else if (this.#o.topicOrder === 'retry-after-first') topic += `retry-after=${retryAfter}&$rid=${rid}`;
    else topic += `$rid=${rid}&retry-after=${retryAfter}`;
    let granted = false;
    for (const f of st.subscribed.keys()) if (topicMatchesFilter(f, topic)) granted = true;
    if (!granted) return;
    // Not verified: the QoS DPS publishes its answers with; QoS 0 needs no acknowledgement from any client.
    conn.send({ type: 'publish', topic, payload: UTF8_ENCODE.encode(JSON.stringify(body)), qos: 0, dup: false,
      retain: false });
  }

  #register(conn: MqttConnection, st: DpsConnected, rid: string, body: Uint8Array): void {
    let request: unknown = {};
    if (body.length > 0) {
      try {
        request = JSON.parse(UTF8.decode(body));
      } catch {
        return this.#respond(conn, st, 400, rid, undefined, errorBody(400, 'The request body is not valid JSON.'));
      }
    }
    if (typeof request !== 'object' || request === null || Array.isArray(request)) {
      return this.#respond(conn, st, 400, rid, undefined, errorBody(400, 'The request body must be a JSON object.'));
    }
    const r = request as { registrationId?: unknown; payload?: unknown };
    if (r.registrationId !== undefined && r.registrationId !== st.registrationId) {
      return this.#respond(conn, st, 400, rid, undefined,
        errorBody(400, 'registrationId in the body differs from the connection\'s.'));
    }
    const common = st.match.kind === 'individual' ? st.match.enrollment : st.match.group;
    const op: Operation = {
      id: `4.${randomBytes(8).toString('hex')}.${randomUUID()}`,
      registrationId: st.registrationId,
      match: st.match,
      payload: r.payload,
      pollsLeft: common.polls ?? 0,
      createdAt: new Date(this.#o.now()).toISOString(),
    };
    this.#operations.set(op.id, op);
    this.#respond(conn, st, 202, rid, this.#o.retryAfterSeconds, { operationId: op.id, status: 'assigning' });
  }

  #poll(conn: MqttConnection, st: DpsConnected, rid: string, operationId: string | null | undefined): void {
    if (typeof operationId !== 'string' || operationId.length === 0) {
      return this.#respond(conn, st, 400, rid, undefined, errorBody(400, 'operationId is missing.'));
    }
    const op = this.#operations.get(operationId);
    if (op === undefined || op.registrationId !== st.registrationId) {
      return this.#respond(conn, st, 404, rid, undefined, errorBody(404, 'Operation not found.'));
    }
    if (op.final !== undefined) return this.#respond(conn, st, 200, rid, undefined, op.final);
    if (op.pollsLeft > 0) {
      op.pollsLeft--;
      return this.#respond(conn, st, 202, rid, this.#o.retryAfterSeconds, {
        operationId: op.id,
        status: 'assigning',
        registrationState: { registrationId: op.registrationId, status: 'assigning' },
      });
    }
    op.final = this.#finish(op);
    this.#respond(conn, st, 200, rid, undefined, op.final);
  }

  #finish(op: Operation): object {
    const m = op.match;
    const common = m.kind === 'individual' ? m.enrollment : m.group;
    const status: DpsResult = common.status === 'disabled' ? 'disabled' : common.result ?? 'assigned';
    const now = new Date(this.#o.now()).toISOString();
    const state: Record<string, unknown> = {
      registrationId: op.registrationId,
      createdDateTimeUtc: op.createdAt,
      status,
      lastUpdatedDateTimeUtc: now,
      etag: `"${randomUUID()}"`,
    };
    const record: DpsRegistrationRecord = {
      registrationId: op.registrationId,
      status,
      enrollment: m.kind === 'individual' ? { kind: 'individual', registrationId: m.enrollment.registrationId }
        : { kind: 'group', groupId: m.group.groupId },
      at: Date.now(),
    };
    if (op.payload !== undefined) record.payload = op.payload;
    if (status === 'assigned') {
      const hub = this.#o.registry.hub(common.assignedHub);
      const deviceId = m.kind === 'individual' ? m.enrollment.deviceId ?? op.registrationId : op.registrationId;
      this.#o.registry.upsert(hub, deviceId, this.#hubAuth(m, op.registrationId));
      const key = `${hub}\n${deviceId}`;
      state['assignedHub'] = hub;
      state['deviceId'] = deviceId;
      state['substatus'] = this.#assignedBefore.has(key) ? 'reprovisionedToInitialAssignment' : 'initialAssignment';
      this.#assignedBefore.add(key);
      if (m.auth === 'x509') state['x509'] = {};
      else state['symmetricKey'] = {};
      if (common.responsePayload !== undefined) state['payload'] = structuredClone(common.responsePayload);
      record.assignedHub = hub;
      record.deviceId = deviceId;
    } else if (status === 'failed') {
      // Not verified: the error code DPS reports for a failed allocation.
      state['errorCode'] = 400207;
      state['errorMessage'] = 'Custom allocation failed (forced by the emulator).';
    } else {
      state['errorCode'] = 401002;
      state['errorMessage'] = 'The enrollment is disabled.';
    }
    this.registrations.push(record);
    const event: EmulatorEventMap['dpsRegistration'][0] = { registrationId: op.registrationId, status };
    if (record.assignedHub !== undefined) event.assignedHub = record.assignedHub;
    if (record.deviceId !== undefined) event.deviceId = record.deviceId;
    this.#o.emit('dpsRegistration', event);
    return { operationId: op.id, status, registrationState: state };
  }

  #hubAuth(m: Match, regId: string): DeviceAuth {
    if (m.kind === 'individual') {
      const a = m.enrollment.attestation;
      if (a.type === 'sas') {
        const auth: DeviceAuth = { type: 'sas', primaryKey: a.primaryKey };
        if (a.secondaryKey !== undefined) auth.secondaryKey = a.secondaryKey;
        return auth;
      }
      return a.certificate !== undefined ? { type: 'x509-thumbprint', thumbprint: certificateThumbprint(a.certificate) }
        : { type: 'x509-ca' };
    }
    const a = m.group.attestation;
    if (a.type === 'sas') {
      const auth: DeviceAuth = { type: 'sas', primaryKey: deriveDeviceKey(a.primaryKey, regId) };
      if (a.secondaryKey !== undefined) auth.secondaryKey = deriveDeviceKey(a.secondaryKey, regId);
      return auth;
    }
    return { type: 'x509-ca' };
  }
}

/** DPS's error body: `{errorCode, trackingId, message, timestampUtc}`, errorCode = status * 1000 + detail. */
function errorBody(status: number, message: string): object {
  return { errorCode: status * 1000 + 1, trackingId: randomUUID(), message, timestampUtc: new Date().toISOString() };
}
