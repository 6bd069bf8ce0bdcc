/**
 * Error thrown by the codec for every violation of MQTT 3.1.1, on decode (bytes from the peer) and on encode
 * (a packet the caller asked for that MQTT forbids).
 *
 * `rule` is the normative statement id of MQTT 3.1.1 (for example `MQTT-3.3.1-4`), or the section number
 * (`MQTT-2.2.3`) where the standard states a format without a numbered statement. `offset` is the byte offset of the
 * offending field, counted from the first byte of the packet, when known.
 *
 * The only `code` other than `EPROTO` is `EMSGSIZE`, for a packet larger than the decoder's `maxPacketSize`
 * (a local limit, not a protocol rule: `rule` is then `maxPacketSize`).
 *
 * @see http://docs.oasis-open.org/mqtt/mqtt/v3.1.1/os/mqtt-v3.1.1-os.html
 */
export class MqttProtocolError extends Error {
  /**
   * `instanceof` also holds for an instance made by another copy of this class (each bundled entry point of the
   * package carries its own): they share a registered-symbol brand.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return Function.prototype[Symbol.hasInstance].call(this, value) || (this === MqttProtocolError && isBranded(value, PROTOCOL_BRAND));
  }

  override readonly name = 'MqttProtocolError';
  readonly code: 'EPROTO' | 'EMSGSIZE';
  readonly rule: string;
  readonly offset: number | undefined;

  constructor(rule: string, message: string, offset?: number, code: 'EPROTO' | 'EMSGSIZE' = 'EPROTO') {
    super(`${message} [${rule}]`);
    this.code = code;
    this.rule = rule;
    this.offset = offset;
  }
}

const PROTOCOL_BRAND = Symbol.for('azure-iot-hub.MqttProtocolError');
Object.defineProperty(MqttProtocolError.prototype, PROTOCOL_BRAND, { value: true });

/** Whether `value` carries `brand` (an own or inherited property set to true). */
export function isBranded(value: unknown, brand: symbol): boolean {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[brand] === true;
}

/** Throw a protocol error. A function (not `throw new` inline) keeps the hot paths small. */
export function fail(rule: string, message: string, offset?: number): never {
  throw new MqttProtocolError(rule, message, offset);
}
