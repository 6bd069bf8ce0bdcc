/**
 * IoT Hub semantics over MQTT, the hub side: CONNECT authentication (X.509 or SAS), one connection per device,
 * the allowed subscriptions, telemetry, twin requests, direct-method responses, cloud-to-device delivery, keepalive
 * at 1.5 times the client's (capped as Azure does), and the rules whose violation makes IoT Hub close the connection.
 *
 * @see https://learn.microsoft.com/azure/iot-hub/iot-hub-mqtt-support
 */
import type { ConnectPacket, Packet, PublishPacket, QoS, SubackReturnCode, SubscribePacket, Will } from '../codec/index.js';
import { topicMatchesFilter } from '../codec/index.js';
import { AzureIotHubError } from '../errors.js';
import { checkX509, peerCertificate } from './auth.js';
import { c2dTopic, type C2dMessage } from './c2d.js';
import type { FaultState } from './faults.js';
import { methodError, type MethodInvocations, type MethodResult } from './methods.js';
import type { ConnectionHandler, MqttConnection } from './mqtt-server.js';
import { parsePropertyBag, rawTopicParameter, topicParameters } from './property-bag.js';
import type { DeviceState, Registry } from './registry.js';
import { parseSasToken, resourceCovers, verifySasToken } from './sas.js';
import type { TelemetryStore } from './telemetry-store.js';
import { isJsonObject } from './twin.js';
import type { ConnectEvent, EmulatorEventMap, TelemetryMessage } from './types.js';

/** Largest keepalive IoT Hub honours, seconds; larger values are capped (1767 s idle timeout / 1.5). */
export const MAX_KEEPALIVE_SECONDS = 1177;
/** Idle timeout applied when the client disables keepalive (Azure's load balancer), seconds. */
export const IDLE_TIMEOUT_SECONDS = 1767;
/** IoT Hub's largest device-to-cloud message, bytes. */
export const MAX_MESSAGE_BYTES = 256 * 1024;
/** IoT Hub's limit of subscriptions per device. */
export const MAX_SUBSCRIPTIONS = 5;

/** A parsed hub username `{host}/{deviceId}/?api-version=...&model-id=...`. */
export interface HubUsername {
  host: string;
  deviceId: string;
  /** Query parameters (URL-decoded). */
  params: Map<string, string | null>;
}

/**
 * Parse a hub username. The part after the device id must be `?`-prefixed query parameters (`api-version=...`,
 * `model-id=...`, `DeviceClientType=...`). Module identities (`{host}/{device}/{module}/?...`) are not supported.
 */
export function parseHubUsername(username: string): HubUsername | undefined {
  const first = username.indexOf('/');
  if (first <= 0) return undefined;
  const second = username.indexOf('/', first + 1);
  if (second === -1) return undefined;
  const host = username.slice(0, first);
  const deviceId = username.slice(first + 1, second);
  const rest = username.slice(second + 1);
  if (deviceId.length === 0 || (rest.length > 0 && !rest.startsWith('?'))) return undefined;
  return { host, deviceId, params: topicParameters(rest) };
}

/** The filters a device may subscribe to (IoT Hub refuses any other). */
export function allowedFilter(filter: string, deviceId: string): boolean {
  return (
    filter === `devices/${deviceId}/messages/devicebound/#` ||
    // Azure SDK for Embedded C (and NCS 2.x) subscribes with a wildcard device id.
    filter === 'devices/+/messages/devicebound/#' ||
    filter === '$iothub/twin/res/#' ||
    filter === '$iothub/twin/PATCH/properties/desired/#' ||
    filter === '$iothub/methods/POST/#'
  );
}

/** Options of the hub service. */
export interface HubServiceOptions {
  registry: Registry;
  faults: FaultState;
  methods: MethodInvocations;
  telemetry: TelemetryStore;
  emit: <K extends keyof EmulatorEventMap>(name: K, ...args: EmulatorEventMap[K]) => void;
  /** Clock for SAS expiry and certificate validity (ms since the epoch). */
  now: () => number;
  /** Redeliver an unacknowledged C2D message after this long on the same connection (ms, 0: only on reconnect). */
  c2dRedeliveryMs: number;
  c2dMaxDeliveryCount: number;
}

interface Connected {
  kind: 'connected';
  device: DeviceState;
  auth: 'sas' | 'x509';
  info?: ConnectEvent;
  will: Will | undefined;
  timers: NodeJS.Timeout[];
  detached: boolean;
}
type HubConnState = Connected | { kind: 'refused' };

const UTF8 = new TextDecoder();
const EMPTY = new Uint8Array(0);

/** The IoT Hub side of the emulator. */
export class HubService implements ConnectionHandler {
  readonly #o: HubServiceOptions;

  constructor(options: HubServiceOptions) {
    this.#o = options;
  }

  // -------------------------------------------------------------------------------------------------------------
  // ConnectionHandler

  onPacket(conn: MqttConnection, packet: Packet): void {
    const st = conn.state as HubConnState | undefined;
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
        return this.#puback(st, packet.messageId);
      case 'subscribe':
        return this.#subscribe(conn, st, packet);
      case 'unsubscribe': {
        const subs = st.device.session?.subscriptions;
        for (const f of packet.unsubscriptions) subs?.delete(f);
        conn.send({ type: 'unsuback', messageId: packet.messageId });
        this.#o.emit('unsubscribe', { service: 'hub', clientId: st.device.deviceId, filters: [...packet.unsubscriptions] });
        return;
      }
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
    const st = conn.state as HubConnState | undefined;
    if (reason.startsWith('protocol error') && conn.clientId !== undefined) {
      this.#o.emit('protocolViolation', { service: 'hub', clientId: conn.clientId, reason });
    }
    if (st?.kind !== 'connected') return;
    this.#detach(conn, st, reason, graceful);
  }

  // -------------------------------------------------------------------------------------------------------------
  // Service-side API

  /** Deliver a desired-properties patch to the device if it is connected and subscribed. */
  pushDesired(device: DeviceState, body: object, version: number): boolean {
    return this.#deliver(device, `$iothub/twin/PATCH/properties/desired/?$version=${version}`,
      new TextEncoder().encode(JSON.stringify(body)), 0);
  }

  /** Invoke a direct method (404 when the device is not connected and subscribed, 504 on timeout). */
  invokeMethod(device: DeviceState, name: string, payload: Uint8Array, timeoutMs: number): Promise<MethodResult> {
    const conn = device.connection;
    const offline = methodError(404, 404103, 'Timed out waiting for device to connect.');
    if (conn === undefined || this.#granted(device, `$iothub/methods/POST/${name}/`) === undefined) {
      return Promise.resolve(offline);
    }
    const rid = this.#o.methods.nextRid();
    const result = this.#o.methods.wait(rid, device.deviceId, timeoutMs);
    this.#deliver(device, `$iothub/methods/POST/${name}/?$rid=${rid}`, payload, 0);
    return result;
  }

  /** Queue a cloud-to-device message and deliver what can be delivered. */
  enqueueC2d(device: DeviceState, message: C2dMessage, limit: number): void {
    if (device.c2d.size >= limit) {
      throw new AzureIotHubError('ENOBUFS',
        `the cloud-to-device queue of ${device.deviceId} is full (${limit}; IoT Hub: 403004 DeviceMaximumQueueDepthExceeded)`);
    }
    device.c2d.waiting.push(message);
    this.#pumpC2d(device);
  }

  /** What the device's current connection sent in its CONNECT (a copy), or undefined when not connected. */
  connectionInfo(device: DeviceState): ConnectEvent | undefined {
    const st = device.connection?.state as HubConnState | undefined;
    return st?.kind === 'connected' && st.info !== undefined ? { ...st.info } : undefined;
  }

  /** Drop the device's connection (fault). */
  drop(device: DeviceState, reason: string): boolean {
    if (device.connection === undefined) return false;
    device.connection.close(reason);
    return true;
  }

  // -------------------------------------------------------------------------------------------------------------
  // CONNECT

  #refuse(conn: MqttConnection, clientId: string, code: number, reason: string): void {
    conn.state = { kind: 'refused' } satisfies HubConnState;
    conn.send({ type: 'connack', sessionPresent: false, returnCode: code });
    conn.closeAfterFlush(`CONNECT refused (${code}): ${reason}`);
    this.#o.emit('connectRefused', { service: 'hub', clientId, returnCode: code, reason });
  }

  #connect(conn: MqttConnection, p: ConnectPacket): void {
    const { registry, faults } = this.#o;
    const clientId = p.clientId;
    if (clientId.length === 0) return this.#refuse(conn, '', 2, 'empty client id');
    // Delay and silence faults apply from the CONNACK on, whatever its code.
    const f = faults.devices.get(clientId);
    conn.delayMs = f?.delayMs ?? 0;
    conn.suppress = f?.stopAnswering === true;
    const forced = faults.takeRefusal(clientId);
    if (forced !== undefined) return this.#refuse(conn, clientId, forced, 'refused by fault injection');
    if (p.username === undefined) return this.#refuse(conn, clientId, 5, 'no username');
    const user = parseHubUsername(p.username);
    if (user === undefined) return this.#refuse(conn, clientId, 5, 'malformed username');
    const hub = registry.resolveHost(user.host);
    if (hub === undefined) return this.#refuse(conn, clientId, 5, `unknown hub host ${user.host}`);
    if (conn.servername !== undefined && !isLoopbackName(conn.servername)) {
      const sniHub = registry.resolveHost(conn.servername);
      if (sniHub !== hub) return this.#refuse(conn, clientId, 5, `SNI ${conn.servername} does not name hub ${hub}`);
    }
    if (user.deviceId !== clientId) return this.#refuse(conn, clientId, 5, 'client id differs from the username device id');
    const apiVersion = user.params.get('api-version');
    if (apiVersion === undefined || apiVersion === null || apiVersion.length === 0) {
      return this.#refuse(conn, clientId, 5, 'username has no api-version');
    }
    const device = registry.get(hub, clientId);
    if (device === undefined) return this.#refuse(conn, clientId, 5, `device not registered on ${hub}`);

    const nowMs = this.#o.now();
    let sasExpiry: number | undefined;
    let authKind: 'sas' | 'x509';
    if (p.password !== undefined) {
      if (device.auth.type !== 'sas') return this.#refuse(conn, clientId, 5, 'an X.509 device sent a SAS token');
      const token = parseSasToken(UTF8.decode(p.password));
      if (token === undefined) return this.#refuse(conn, clientId, 4, 'malformed SAS token');
      const keys = [device.auth.primaryKey, device.auth.secondaryKey].filter((k): k is string => k !== undefined);
      const failure = verifySasToken(token, keys,
        (sr) => resourceCovers(sr, `${hub}/devices/${clientId}`, (a, b) => registry.resolveHost(a) === b),
        Math.floor(nowMs / 1000));
      if (failure !== undefined) return this.#refuse(conn, clientId, 4, `SAS token refused: ${failure}`);
      sasExpiry = token.expiry;
      authKind = 'sas';
    } else {
      if (device.auth.type === 'sas') return this.#refuse(conn, clientId, 5, 'a SAS device sent no SAS token');
      const reason = checkX509(peerCertificate(conn.socket, nowMs), device.auth, clientId);
      if (reason !== undefined) return this.#refuse(conn, clientId, 5, reason);
      authKind = 'x509';
    }

    // One connection per device: the new one wins (IoT Hub error 400027 on the old one).
    const old = device.connection;
    if (old !== undefined) {
      const oldState = old.state as HubConnState | undefined;
      if (oldState?.kind === 'connected') this.#detach(old, oldState, 'replaced by a new connection', false);
      old.close('replaced by a new connection');
    }

    let sessionPresent = false;
    if (p.cleanSession) {
      for (const m of device.c2d.clear()) this.#c2dEvent(device, m, 'dropped');
      device.session = { persistent: false, subscriptions: new Map() };
    } else if (device.session?.persistent === true) {
      sessionPresent = true;
    } else {
      device.session = { persistent: true, subscriptions: new Map() };
    }

    const st: Connected = { kind: 'connected', device, auth: authKind, will: p.will, timers: [], detached: false };
    conn.state = st;
    conn.accepted = true;
    device.connection = conn;
    conn.send({ type: 'connack', sessionPresent, returnCode: 0 });

    const ka = p.keepalive === 0 ? 0 : Math.min(p.keepalive, MAX_KEEPALIVE_SECONDS);
    conn.setKeepaliveTimeout(ka === 0 ? IDLE_TIMEOUT_SECONDS * 1000 : ka * 1500);
    if (sasExpiry !== undefined) {
      // IoT Hub closes a connection when its token expires; the device must reconnect with a fresh one.
      const ms = Math.min(sasExpiry * 1000 - nowMs, 2 ** 31 - 1);
      const t = setTimeout(() => conn.close('SAS token expired'), ms);
      t.unref();
      st.timers.push(t);
    }
    if (this.#o.c2dRedeliveryMs > 0) {
      const t = setInterval(() => this.#redeliverStale(device), Math.max(10, Math.floor(this.#o.c2dRedeliveryMs / 2)));
      t.unref();
      st.timers.push(t);
    }

    const event: ConnectEvent = {
      service: 'hub',
      clientId,
      host: hub,
      auth: authKind,
      cleanSession: p.cleanSession,
      sessionPresent,
      keepalive: p.keepalive,
      apiVersion,
      username: p.username,
    };
    const modelId = user.params.get('model-id');
    if (typeof modelId === 'string') event.modelId = modelId;
    if (conn.servername !== undefined) event.servername = conn.servername;
    st.info = event;
    this.#o.emit('connect', { ...event });

    // A resumed session gets its unacknowledged messages again, with DUP=1 (MQTT-4.4.0-1).
    if (sessionPresent) {
      for (const m of [...device.c2d.inFlight.values()]) this.#redeliver(device, m);
    }
    this.#pumpC2d(device);
  }

  /** Apply the device's delay/suppress faults to its connection. */
  #applyFaults(device: DeviceState): void {
    const conn = device.connection;
    if (conn === undefined) return;
    const f = this.#o.faults.devices.get(device.deviceId);
    conn.delayMs = f?.delayMs ?? 0;
    conn.suppress = f?.stopAnswering === true;
  }

  /** Re-read the fault state of every connection of `deviceId`. */
  refreshFaults(deviceId: string): void {
    for (const d of this.#o.registry.named(deviceId)) this.#applyFaults(d);
  }

  #detach(conn: MqttConnection, st: Connected, reason: string, graceful: boolean): void {
    if (st.detached) return;
    st.detached = true;
    for (const t of st.timers) clearTimeout(t);
    st.timers.length = 0;
    const device = st.device;
    if (device.connection === conn) device.connection = undefined;
    if (device.session !== undefined && !device.session.persistent) {
      device.c2d.requeueInFlight();
      device.session = undefined;
    }
    if (!graceful && st.will !== undefined && reason !== 'replaced by a new connection') {
      const will = st.will;
      const t = telemetryTopic(will.topic, device.deviceId);
      if (t !== undefined) {
        this.#store(device, st, { type: 'publish', topic: will.topic, payload: will.payload, qos: will.qos, dup: false,
          retain: will.retain }, t, { 'iothub-MessageType': 'Will' });
      }
    }
    this.#o.emit('disconnect', { service: 'hub', clientId: device.deviceId, host: device.hub, reason, graceful });
  }

  #violation(conn: MqttConnection, reason: string): void {
    if (conn.clientId !== undefined) this.#o.emit('protocolViolation', { service: 'hub', clientId: conn.clientId, reason });
    conn.close(`protocol violation: ${reason}`);
  }

  // -------------------------------------------------------------------------------------------------------------
  // PUBLISH from the device

  #puback(st: Connected, messageId: number): void {
    const device = st.device;
    const m = device.c2d.inFlight.get(messageId);
    if (m === undefined) return;
    device.c2d.inFlight.delete(messageId);
    delete m.packetId;
    this.#c2dEvent(device, m, 'completed');
  }

  #ack(conn: MqttConnection, device: DeviceState, p: PublishPacket): void {
    if (p.qos !== 1 || p.messageId === undefined) return;
    if (this.#o.faults.takeWithheldPuback(device.deviceId)) return;
    conn.send({ type: 'puback', messageId: p.messageId });
  }

  #publish(conn: MqttConnection, st: Connected, p: PublishPacket): void {
    const device = st.device;
    if (p.qos === 2) return this.#violation(conn, 'PUBLISH with QoS 2 (IoT Hub supports QoS 0 and 1)');
    if (p.payload.length > MAX_MESSAGE_BYTES) {
      return this.#violation(conn, `message of ${p.payload.length} bytes exceeds IoT Hub's ${MAX_MESSAGE_BYTES}`);
    }
    const bag = telemetryTopic(p.topic, device.deviceId);
    if (bag !== undefined) {
      this.#store(device, st, p, bag, p.retain ? { 'mqtt-retain': 'true' } : {});
      this.#ack(conn, device, p);
      return;
    }
    if (p.topic.startsWith('$iothub/twin/')) return this.#twinRequest(conn, st, p);
    if (p.topic.startsWith('$iothub/methods/res/')) return this.#methodResponse(conn, st, p);
    return this.#violation(conn, `PUBLISH to a topic the device may not use: ${p.topic}`);
  }

  #store(device: DeviceState, st: Connected, p: PublishPacket, bag: string, extra: Record<string, string>): void {
    const properties: Record<string, string | null> = {};
    const systemProperties: Record<string, string> = {};
    for (const e of parsePropertyBag(bag)) {
      // Own data properties: an assignment to `__proto__` would replace the prototype and lose the property.
      if (e.key.startsWith('$.')) systemProperties[e.key] = e.value ?? '';
      else Object.defineProperty(properties, e.key, { value: e.value, enumerable: true, writable: true, configurable: true });
    }
    Object.assign(properties, extra);
    const receivedAt = Date.now();
    systemProperties['iothub-connection-device-id'] = device.deviceId;
    systemProperties['iothub-enqueuedtime'] = new Date(receivedAt).toISOString();
    systemProperties['iothub-connection-auth-method'] = JSON.stringify({
      scope: 'device',
      type: st.auth === 'sas' ? 'sas' : device.auth.type === 'x509-ca' ? 'x509Certificate' : 'selfSigned',
      issuer: 'iothub',
    });
    systemProperties['iothub-message-source'] = 'Telemetry';
    const message: TelemetryMessage = {
      deviceId: device.deviceId,
      hub: device.hub,
      topic: p.topic,
      payload: p.payload.slice(),
      properties,
      systemProperties,
      qos: p.qos,
      dup: p.dup,
      retain: p.retain,
      receivedAt,
    };
    this.#o.telemetry.add(message);
    this.#o.emit('telemetry', message);
  }

  #twinRequest(conn: MqttConnection, st: Connected, p: PublishPacket): void {
    const device = st.device;
    const rest = p.topic.slice('$iothub/twin/'.length);
    const q = rest.indexOf('?');
    const path = (q === -1 ? rest : rest.slice(0, q)).replace(/\/$/, '');
    const kind = path === 'GET' ? 'get' : path === 'PATCH/properties/reported' ? 'patch-reported' : undefined;
    if (kind === undefined) return this.#violation(conn, `PUBLISH to a topic the device may not use: ${p.topic}`);
    const rid = rawTopicParameter(p.topic, '$rid');
    if (rid === undefined || rid === null || rid.length === 0) {
      return this.#violation(conn, `twin request without $rid: ${p.topic}`);
    }
    this.#ack(conn, device, p);
    const respond = (status: number, body: Uint8Array, extra = ''): void => {
      this.#deliver(device, `$iothub/twin/res/${status}/?$rid=${rid}${extra}`, body, 0);
      this.#o.emit('twinRequest', { deviceId: device.deviceId, hub: device.hub, kind, rid, status });
    };
    const forced = this.#o.faults.takeTwinFailure(device.deviceId);
    if (forced !== undefined) return respond(forced, errorBody(forced, 'Failure forced by the emulator.'));
    if (kind === 'get') {
      return respond(200, new TextEncoder().encode(JSON.stringify(device.twin.document())));
    }
    let patch: unknown;
    try {
      patch = JSON.parse(UTF8.decode(p.payload));
    } catch {
      return respond(400, errorBody(400, 'Malformed JSON in the reported properties patch.'));
    }
    if (!isJsonObject(patch)) return respond(400, errorBody(400, 'The reported properties patch must be a JSON object.'));
    const version = device.twin.patchReported(patch);
    respond(204, EMPTY, `&$version=${version}`);
    this.#o.emit('twinReported', { deviceId: device.deviceId, hub: device.hub, patch, version });
  }

  #methodResponse(conn: MqttConnection, st: Connected, p: PublishPacket): void {
    const device = st.device;
    const rest = p.topic.slice('$iothub/methods/res/'.length);
    const m = /^(\d{1,9})\/?\?/.exec(rest);
    if (m === null) return this.#violation(conn, `malformed method response topic: ${p.topic}`);
    const rid = rawTopicParameter(p.topic, '$rid');
    if (rid === undefined || rid === null || rid.length === 0) {
      return this.#violation(conn, `method response without $rid: ${p.topic}`);
    }
    this.#ack(conn, device, p);
    const status = Number(m[1]);
    if (this.#o.methods.respond(rid, device.deviceId, status, p.payload)) {
      this.#o.emit('methodResponse', { deviceId: device.deviceId, hub: device.hub, rid, status });
    }
  }

  // -------------------------------------------------------------------------------------------------------------
  // SUBSCRIBE

  #subscribe(conn: MqttConnection, st: Connected, p: SubscribePacket): void {
    const device = st.device;
    const session = device.session!;
    const granted: SubackReturnCode[] = [];
    const report: { topic: string; qos: QoS; granted: number }[] = [];
    for (const s of p.subscriptions) {
      let code: SubackReturnCode = 0x80;
      if (allowedFilter(s.topic, device.deviceId) &&
        (session.subscriptions.has(s.topic) || session.subscriptions.size < MAX_SUBSCRIPTIONS)) {
        const q: QoS = s.qos === 2 ? 1 : s.qos;
        session.subscriptions.set(s.topic, q);
        code = q;
      }
      granted.push(code);
      report.push({ topic: s.topic, qos: s.qos, granted: code });
    }
    conn.send({ type: 'suback', messageId: p.messageId, granted });
    this.#o.emit('subscribe', { service: 'hub', clientId: device.deviceId, subscriptions: report });
    this.#pumpC2d(device);
  }

  /** The QoS the device's subscriptions grant for `topic`, or undefined when none matches. */
  #granted(device: DeviceState, topic: string): QoS | undefined {
    let best: QoS | undefined;
    for (const [filter, qos] of device.session?.subscriptions ?? []) {
      if (topicMatchesFilter(filter, topic) && (best === undefined || qos > best)) best = qos;
    }
    return best;
  }

  /** Publish to the device if connected and subscribed, at min(qos, granted). */
  #deliver(device: DeviceState, topic: string, payload: Uint8Array, qos: 0): boolean {
    const conn = device.connection;
    if (conn === undefined || this.#granted(device, topic) === undefined) return false;
    conn.send({ type: 'publish', topic, payload, qos, dup: false, retain: false });
    return true;
  }

  // -------------------------------------------------------------------------------------------------------------
  // Cloud-to-device

  #c2dEvent(device: DeviceState, m: C2dMessage, kind: 'delivered' | 'completed' | 'dropped' | 'deadLettered'): void {
    this.#o.emit('c2d', { deviceId: device.deviceId, hub: device.hub, messageId: m.messageId, kind,
      deliveryCount: m.deliveryCount });
  }

  #allocPacketId(device: DeviceState): number {
    for (let i = 0; i < 65535; i++) {
      const id = device.nextPacketId;
      device.nextPacketId = id === 65535 ? 1 : id + 1;
      if (!device.c2d.inFlight.has(id)) return id;
    }
    throw new AzureIotHubError('ENOBUFS', 'no free packet identifier');
  }

  #pumpC2d(device: DeviceState): void {
    const conn = device.connection;
    if (conn === undefined) return;
    const granted = this.#granted(device, `devices/${device.deviceId}/messages/devicebound/`);
    if (granted === undefined) return;
    while (device.c2d.waiting.length > 0) {
      const m = device.c2d.waiting.shift()!;
      m.deliveryCount++;
      m.deliveredAt = Date.now();
      if (granted === 0) {
        conn.send({ type: 'publish', topic: c2dTopic(m), payload: m.payload, qos: 0, dup: false, retain: false });
        this.#c2dEvent(device, m, 'delivered');
        this.#c2dEvent(device, m, 'completed');
        continue;
      }
      m.packetId = this.#allocPacketId(device);
      device.c2d.inFlight.set(m.packetId, m);
      conn.send({ type: 'publish', topic: c2dTopic(m), payload: m.payload, qos: 1, dup: false, retain: false,
        messageId: m.packetId });
      this.#c2dEvent(device, m, 'delivered');
    }
  }

  #redeliver(device: DeviceState, m: C2dMessage): void {
    const conn = device.connection;
    if (conn === undefined || m.packetId === undefined) return;
    if (this.#granted(device, `devices/${device.deviceId}/messages/devicebound/`) === undefined) return;
    if (m.deliveryCount >= this.#o.c2dMaxDeliveryCount) {
      device.c2d.inFlight.delete(m.packetId);
      delete m.packetId;
      this.#c2dEvent(device, m, 'deadLettered');
      return;
    }
    m.deliveryCount++;
    m.deliveredAt = Date.now();
    conn.send({ type: 'publish', topic: c2dTopic(m), payload: m.payload, qos: 1, dup: true, retain: false,
      messageId: m.packetId });
    this.#c2dEvent(device, m, 'delivered');
  }

  #redeliverStale(device: DeviceState): void {
    const limit = Date.now() - this.#o.c2dRedeliveryMs;
    for (const m of [...device.c2d.inFlight.values()]) {
      if ((m.deliveredAt ?? 0) <= limit) this.#redeliver(device, m);
    }
  }
}

/**
 * The property bag of a telemetry topic of `deviceId` (`devices/{id}/messages/events/{bag}`; `''` without a bag),
 * or undefined for another topic.
 */
export function telemetryTopic(topic: string, deviceId: string): string | undefined {
  const prefix = `devices/${deviceId}/messages/events`;
  if (topic === prefix || topic === prefix + '/') return '';
  if (topic.startsWith(prefix + '/')) return topic.slice(prefix.length + 1);
  return undefined;
}

function isLoopbackName(host: string): boolean {
  const h = host.toLowerCase();
  return h === 'localhost' || h === '127.0.0.1' || h === '::1';
}

/** IoT Hub's error body shape (not verified for MQTT twin answers: the shape of its REST errors). */
function errorBody(status: number, message: string): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ errorCode: status * 1000 + 1, message }));
}
