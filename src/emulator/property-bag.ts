/**
 * Property bags as IoT Hub writes and reads them in MQTT topics: `key=value&key2=&key3`, keys and values
 * percent-encoded like an HTTP query string (RFC 3986). The emulator has its own implementation (it never imports
 * `src/azure`), so tests of the device library against the emulator check two independent readings of the format.
 *
 * @see https://learn.microsoft.com/azure/iot-hub/iot-hub-mqtt-support#sending-device-to-cloud-messages
 */

/** One property. `value` is `null` for the bare `key` form, `''` for `key=`. */
export interface PropertyBagEntry {
  key: string;
  value: string | null;
}

/**
 * Percent-encode everything but RFC 3986 unreserved characters (`A-Z a-z 0-9 - . _ ~`), as Azure writes bags
 * (`$` becomes `%24`, `/` becomes `%2F`).
 */
export function encodeBagComponent(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

/**
 * Percent-decode one key or value. `+` stays `+` (RFC 3986, not form encoding). A malformed escape leaves the text
 * as received rather than dropping the property.
 */
export function decodeBagComponent(text: string): string {
  if (text.indexOf('%') === -1) return text;
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/**
 * Parse a property bag. Empty segments (`a=1&&b`, a trailing `&`) are skipped; a leading `?` is kept as part of the
 * first key, as IoT Hub does (see PROTOCOL.md 1.1).
 */
export function parsePropertyBag(bag: string): PropertyBagEntry[] {
  const out: PropertyBagEntry[] = [];
  if (bag.length === 0) return out;
  for (const part of bag.split('&')) {
    if (part.length === 0) continue;
    const eq = part.indexOf('=');
    if (eq === -1) out.push({ key: decodeBagComponent(part), value: null });
    else out.push({ key: decodeBagComponent(part.slice(0, eq)), value: decodeBagComponent(part.slice(eq + 1)) });
  }
  return out;
}

/** Format a property bag: `key=value`, `key=` for `''`, `key` for `null`, joined with `&`, each part encoded. */
export function formatPropertyBag(entries: readonly PropertyBagEntry[]): string {
  return entries
    .map((e) => (e.value === null ? encodeBagComponent(e.key) : `${encodeBagComponent(e.key)}=${encodeBagComponent(e.value)}`))
    .join('&');
}

/**
 * The query part of a request topic such as `$iothub/twin/GET/?$rid=1` (everything after the first `?`), parsed as
 * a property bag. A topic without `?` has no parameters.
 */
export function topicParameters(topic: string): Map<string, string | null> {
  const q = topic.indexOf('?');
  const params = new Map<string, string | null>();
  if (q === -1) return params;
  for (const e of parsePropertyBag(topic.slice(q + 1))) if (!params.has(e.key)) params.set(e.key, e.value);
  return params;
}

/**
 * The value of `key` in a request topic's query (after the first `?`) exactly as received, not percent-decoded:
 * request ids (`$rid`) are opaque and are echoed byte for byte, as Azure's SDKs expect. `null` for a bare `key`,
 * `undefined` when absent.
 */
export function rawTopicParameter(topic: string, key: string): string | null | undefined {
  const q = topic.indexOf('?');
  if (q === -1) return undefined;
  for (const part of topic.slice(q + 1).split('&')) {
    const eq = part.indexOf('=');
    if (decodeBagComponent(eq === -1 ? part : part.slice(0, eq)) === key) return eq === -1 ? null : part.slice(eq + 1);
  }
  return undefined;
}
