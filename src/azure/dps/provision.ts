/**
 * The DPS registration exchange over MQTT: connect to the provisioning service with its own session (clean session,
 * no reconnection), subscribe to `$dps/registrations/res/#`, publish the register request, poll the operation
 * after each `retry-after` until a final answer, then close the session.
 *
 * Rules (the project's, not the C library's quirks): the register body is valid JSON; `retry-after` is honoured in
 * either parameter order and a default applies when it is absent; each registration has its own poll budget; 429
 * and 5xx answers are retried (after `retry-after`, else after a capped exponential backoff with full jitter); any
 * other non-2xx answer, and a final status other than `assigned`, fail with the details; one overall timeout bounds
 * everything. The returned `deviceId` is the one to use on the hub (it may differ from the registration id).
 *
 * @see https://learn.microsoft.com/azure/iot-dps/iot-dps-mqtt-support
 * @see https://learn.microsoft.com/azure/iot/concepts-manage-device-reconnections
 */
import { AzureIotHubError, toAzureIotHubError } from '../../errors.js';
import type { PublishPacket } from '../../codec/types.js';
import {
  MqttSession,
  reconnectDelay,
  type MqttSessionOptions,
  type ReconnectOptions,
  type TransportTlsOptions,
} from '../../transport/index.js';
import {
  classifyDpsResponse,
  dpsPollTopic,
  dpsRegisterPayload,
  dpsRegisterTopic,
  DPS_SUBSCRIBE_TOPIC,
  parseDpsResponse,
  parseDpsResponseTopic,
} from '../dps-topics.js';
import { dpsClientId, dpsUsername } from '../identity.js';
import { dpsSasToken, sasExpiry } from '../sas.js';
import { statusFromDpsErrorCode } from '../status.js';
import type { AzureIotHubDpsResult } from '../types.js';
import { isValidDeviceId, validateHostname } from '../validate.js';

/**
 * Wait before polling when a `202` carries no `retry-after`, in ms. DPS normally sends `retry-after=3`; the Azure
 * SDK for Embedded C treats a missing value as optional, so a conservative default applies.
 */
export const DEFAULT_DPS_RETRY_AFTER_MS = 3000;

/**
 * Polls allowed per registration (reset by each new register request). With DPS's usual 3 s `retry-after` this is
 * more than the default 90 s overall timeout allows; it bounds the exchange when `retry-after` is 0.
 */
export const DEFAULT_DPS_MAX_POLLS = 60;

/** Backoff for 429 / 5xx answers without `retry-after`: full jitter under a cap from 1 s doubling to 30 s. */
export const DEFAULT_DPS_RETRY_BACKOFF: Readonly<Required<Pick<ReconnectOptions, 'initialDelayMs' | 'maxDelayMs' | 'factor'>>> =
  Object.freeze({ initialDelayMs: 1000, maxDelayMs: 30_000, factor: 2 });

/** Lifetime of the DPS SAS token, seconds (the registration takes far less). */
export const DEFAULT_DPS_SAS_TTL_SECONDS = 3600;

/** Options of {@link provisionDevice}. */
export interface ProvisionOptions {
  /** The DPS instance's id scope. */
  idScope: string;
  /** The registration id: MQTT client id, username part and request body. */
  registrationId: string;
  /** DPS host name: TLS SNI and the name its certificate must match. */
  hostname: string;
  /** DPS port (8883 on Azure). */
  port: number;
  /** Connect here instead of resolving `hostname` (which stays the SNI). */
  address?: string;
  /** Custom JSON sent as `payload` in the register request. */
  payload?: unknown;
  /** TLS settings: `ca`, and `cert`/`key` for X.509 attestation. `false` is plain TCP, for tests against a fake only. */
  tls: TransportTlsOptions | false;
  /**
   * Symmetric-key attestation: the individual enrollment key, or the device key derived from a group key (base64).
   * Absent: X.509 attestation (the TLS client certificate).
   */
  symmetricKey?: string;
  /** SAS token lifetime, seconds. Default {@link DEFAULT_DPS_SAS_TTL_SECONDS}. */
  sasTokenTtlSeconds?: number;
  /** Overall timeout in ms: connecting, registering, polling and retries. */
  timeoutMs: number;
  /** MQTT keepalive of the DPS session, seconds. Default 60. */
  keepaliveSeconds?: number;
  /** Wait before polling when a 202 has no `retry-after`, ms. Default {@link DEFAULT_DPS_RETRY_AFTER_MS}. */
  defaultRetryAfterMs?: number;
  /** Polls allowed per registration. Default {@link DEFAULT_DPS_MAX_POLLS}. */
  maxPolls?: number;
  /** Backoff for 429 / 5xx without `retry-after`. Default {@link DEFAULT_DPS_RETRY_BACKOFF}. */
  retry?: Pick<ReconnectOptions, 'initialDelayMs' | 'maxDelayMs' | 'factor'>;
  /** Wall clock in ms for the SAS expiry. Default `Date.now`. */
  now?: () => number;
  /** Random numbers in [0, 1) for the backoff jitter. Default `Math.random`. */
  random?: () => number;
  /** Cancels the exchange (it then rejects with `ECANCELED`). */
  signal?: AbortSignal;
  /** Called once the DPS accepted the connection (CONNACK 0), just before subscribing and registering. */
  onRegistering?: () => void;
  /** Extra MQTT session options. */
  session?: Partial<Pick<MqttSessionOptions, 'pingTimeoutMs' | 'connectTimeoutMs'>>;
}

/**
 * Provision the device with DPS. Resolves with the assigned hub and device id (and the custom allocation payload,
 * if any) after the DPS session is closed.
 *
 * Rejects with an {@link AzureIotHubError} (its message never holds a key or token):
 * - `ETIMEDOUT`: the overall timeout passed (its `cause` is the last retried failure, if any), or the poll budget
 *   of a registration ran out;
 * - the code of the DPS status (`errorCodeForStatus`, with `status`) for a non-2xx answer other than 429 / 5xx;
 * - `EACCES` for a `disabled` enrollment, `EIO` for a `failed` registration, with `status` taken from DPS's
 *   `errorCode` (401002 -> 401) and `errorCode` and `errorMessage` in the message;
 * - `EPROTO` for a malformed answer; `ECONNREFUSED` (with `connack`) when DPS refuses the CONNECT; `EACCES` for a
 *   TLS failure; `ECONNRESET` when the link drops during the registration; `ECANCELED` when `signal` aborts;
 *   `EINVAL` for bad options.
 */
export function provisionDevice(options: ProvisionOptions): Promise<AzureIotHubDpsResult> {
  return new Registration(options).run();
}

/** One provisioning run. */
class Registration {
  readonly #o: ProvisionOptions;
  readonly #maxPolls: number;
  #session: MqttSession | undefined;
  #done = false;
  #resolve: (result: AzureIotHubDpsResult) => void = () => undefined;
  #reject: (err: AzureIotHubError) => void = () => undefined;
  #deadline: ReturnType<typeof setTimeout> | undefined;
  #wait: ReturnType<typeof setTimeout> | undefined;
  #ridCounter = 0;
  /** `$rid` of the request whose answer is awaited; answers to anything else are ignored. */
  #expectedRid: string | undefined;
  /** Set by a 202: the operation to poll. Undefined while the register request itself is outstanding. */
  #operationId: string | undefined;
  #pollsLeft = 0;
  #retries = 0;
  #lastRetried: AzureIotHubError | undefined;
  readonly #onAbort = (): void => this.#fail(new AzureIotHubError('ECANCELED', 'DPS provisioning was cancelled'));

  constructor(options: ProvisionOptions) {
    this.#o = options;
    this.#maxPolls = options.maxPolls ?? DEFAULT_DPS_MAX_POLLS;
  }

  run(): Promise<AzureIotHubDpsResult> {
    const promise = new Promise<AzureIotHubDpsResult>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    const o = this.#o;
    if (o.signal?.aborted === true) {
      this.#onAbort();
      return promise;
    }
    let session: MqttSession;
    try {
      session = this.#createSession();
    } catch (err) {
      this.#fail(toAzureIotHubError(err, 'EINVAL'));
      return promise;
    }
    this.#session = session;
    this.#deadline = setTimeout(() => {
      const cause = this.#lastRetried;
      this.#fail(
        new AzureIotHubError('ETIMEDOUT', `DPS provisioning did not finish within ${o.timeoutMs} ms`, cause === undefined ? {} : { cause }),
      );
    }, o.timeoutMs);
    o.signal?.addEventListener('abort', this.#onAbort, { once: true });
    session.connect().catch((err: unknown) => this.#fail(toAzureIotHubError(err, 'ECONNRESET')));
    return promise;
  }

  #createSession(): MqttSession {
    const o = this.#o;
    const options: MqttSessionOptions = {
      ...o.session,
      host: o.hostname,
      port: o.port,
      tls: o.tls === false ? false : { ...o.tls },
      clientId: dpsClientId(o.registrationId),
      username: dpsUsername(o.idScope, o.registrationId),
      // DPS sessions are never persistent; the overall timeout replaces reconnection; DPS is always read by the
      // library itself, whatever the hub connection's input mode.
      cleanSession: true,
      reconnect: false,
      autoInput: true,
      keepaliveSeconds: o.keepaliveSeconds ?? 60,
    };
    if (o.address !== undefined) options.address = o.address;
    const key = o.symmetricKey;
    if (key !== undefined) {
      const now = o.now ?? Date.now;
      const ttl = o.sasTokenTtlSeconds ?? DEFAULT_DPS_SAS_TTL_SECONDS;
      options.password = () => dpsSasToken(o.idScope, o.registrationId, key, sasExpiry(now(), ttl));
    }
    const session = new MqttSession(options);
    session.onConnect = () => this.#onConnected(session);
    session.on('connectionFailed', (err) => this.#fail(err));
    session.on('disconnected', (err) => {
      this.#fail(err ?? new AzureIotHubError('ECONNRESET', 'the DPS connection closed during the registration'));
    });
    session.on('message', (packet) => this.#onMessage(packet));
    return session;
  }

  #onConnected(session: MqttSession): void {
    if (this.#done) return;
    try {
      this.#o.onRegistering?.();
    } catch {
      // The callback reports progress; its failure must not break the registration.
    }
    if (this.#done) return;
    session.subscribe([{ topic: DPS_SUBSCRIBE_TOPIC, qos: 1 }]).then(
      (granted) => {
        if (this.#done) return;
        if (granted[0] === 0x80) {
          this.#fail(new AzureIotHubError('EACCES', `DPS refused the subscription to ${DPS_SUBSCRIBE_TOPIC}`));
          return;
        }
        this.#register();
      },
      (err: unknown) => this.#fail(toAzureIotHubError(err, 'ECONNRESET')),
    );
  }

  /** A new registration: a fresh poll budget. */
  #register(): void {
    this.#operationId = undefined;
    this.#pollsLeft = this.#maxPolls;
    const rid = this.#nextRid();
    let body: string;
    try {
      body = dpsRegisterPayload(this.#o.registrationId, this.#o.payload);
    } catch (err) {
      this.#fail(toAzureIotHubError(err, 'EINVAL'));
      return;
    }
    this.#send(dpsRegisterTopic(rid), body, rid);
  }

  #poll(): void {
    const operationId = this.#operationId!;
    if (this.#pollsLeft <= 0) {
      const cause = this.#lastRetried;
      this.#fail(
        new AzureIotHubError('ETIMEDOUT', `DPS gave no final answer after ${this.#maxPolls} polls`, cause === undefined ? {} : { cause }),
      );
      return;
    }
    this.#pollsLeft--;
    const rid = this.#nextRid();
    this.#send(dpsPollTopic(rid, operationId), '', rid);
  }

  #nextRid(): string {
    this.#ridCounter++;
    return String(this.#ridCounter);
  }

  #send(topic: string, body: string, rid: string): void {
    this.#expectedRid = rid;
    // QoS 1 as the C library and Microsoft's SDKs; the answer, not the PUBACK, moves the exchange on.
    this.#session!.publish(topic, body, { qos: 1 }).catch((err: unknown) => this.#fail(toAzureIotHubError(err, 'ECONNRESET')));
  }

  #onMessage(packet: PublishPacket): void {
    if (this.#done) return;
    const topic = parseDpsResponseTopic(packet.topic);
    // Not a DPS answer, or the answer to an earlier request (a duplicate, or one that was retried since).
    if (topic === undefined || topic.rid !== this.#expectedRid) return;
    this.#expectedRid = undefined;
    const outcome = classifyDpsResponse(topic, packet.payload);
    switch (outcome.kind) {
      case 'pending': {
        this.#operationId = outcome.operationId;
        this.#retries = 0;
        const s = outcome.retryAfterSeconds;
        this.#after(s === undefined ? (this.#o.defaultRetryAfterMs ?? DEFAULT_DPS_RETRY_AFTER_MS) : s * 1000, () => this.#poll());
        return;
      }
      case 'assigned': {
        const { assignedHub, deviceId } = outcome;
        try {
          validateHostname(assignedHub, 'assignedHub');
        } catch {
          this.#fail(new AzureIotHubError('EPROTO', 'DPS assigned a hub whose name is not a valid host name', { status: topic.status }));
          return;
        }
        if (!isValidDeviceId(deviceId)) {
          this.#fail(new AzureIotHubError('EPROTO', 'DPS assigned a device id that IoT Hub does not accept', { status: topic.status }));
          return;
        }
        const result: AzureIotHubDpsResult = { assignedHub, deviceId };
        if (outcome.payload !== undefined) result.payload = outcome.payload;
        this.#succeed(result);
        return;
      }
      case 'failed': {
        if (!outcome.retriable) {
          this.#fail(withDpsStatus(outcome.error, packet.payload));
          return;
        }
        this.#lastRetried = outcome.error;
        const s = outcome.retryAfterSeconds;
        const delay = s !== undefined ? s * 1000 : reconnectDelay(this.#retries, this.#o.retry ?? DEFAULT_DPS_RETRY_BACKOFF, this.#o.random);
        this.#retries++;
        this.#after(delay, this.#operationId === undefined ? () => this.#register() : () => this.#poll());
        return;
      }
    }
  }

  #after(ms: number, then: () => void): void {
    this.#wait = setTimeout(() => {
      this.#wait = undefined;
      if (!this.#done) then();
    }, ms);
  }

  #cleanup(): void {
    this.#done = true;
    if (this.#deadline !== undefined) clearTimeout(this.#deadline);
    if (this.#wait !== undefined) clearTimeout(this.#wait);
    this.#deadline = undefined;
    this.#wait = undefined;
    this.#o.signal?.removeEventListener('abort', this.#onAbort);
  }

  #succeed(result: AzureIotHubDpsResult): void {
    if (this.#done) return;
    this.#cleanup();
    // Close DPS (DISCONNECT, then wait for the close) before the hub connection opens; after the current packet, so
    // that an answer sent at QoS 1 is acknowledged first.
    const session = this.#session!;
    queueMicrotask(() => {
      session.disconnect().then(
        () => this.#resolve(result),
        () => this.#resolve(result),
      );
    });
  }

  #fail(err: AzureIotHubError): void {
    if (this.#done) return;
    this.#cleanup();
    this.#session?.destroy();
    this.#reject(err);
  }
}

/**
 * A final `failed` / `disabled` registration arrives with topic status 200; its real status is in DPS's 6-digit
 * `errorCode` (401002 -> 401). Give the error that status when there is one.
 */
function withDpsStatus(err: AzureIotHubError, body: Uint8Array): AzureIotHubError {
  if (err.status !== 200 || err.code === 'EPROTO') return err;
  const parsed = parseDpsResponse(body);
  if (parsed instanceof AzureIotHubError) return err;
  const errorCode = parsed.registrationState?.errorCode ?? parsed.errorCode;
  const status = errorCode === undefined ? undefined : statusFromDpsErrorCode(errorCode);
  return status === undefined ? err : new AzureIotHubError(err.code, err.message, { status });
}
