/**
 * Payloads as one safe line of text for the terminal. Payloads come from the network (cloud-to-device messages,
 * method calls, twin documents), so control characters, which could move the cursor or rewrite the screen, are shown
 * escaped, never written raw.
 */

const decoder = new TextDecoder('utf-8', { fatal: true });

/** Default longest rendering, in characters, before the text is cut. */
export const MAX_PAYLOAD_CHARS = 2000;

/** How many bytes of a binary payload are shown as hex. */
const HEX_PREVIEW_BYTES = 32;

// C0 and C1 controls, DEL, and the bidirectional overrides and isolates (they reorder the rest of the line).
const UNSAFE_RE = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/** Escape control characters as `\n`, `\t`, `\r` or `\uXXXX`. */
export function escapeControls(text: string): string {
  return text.replace(UNSAFE_RE, (c) => {
    switch (c) {
      case '\n':
        return '\\n';
      case '\r':
        return '\\r';
      case '\t':
        return '\\t';
      default:
        return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
    }
  });
}

/** Parse `text` as JSON; undefined when it is not JSON. */
export function tryParseJson(text: string): { value: unknown } | undefined {
  const t = text.trim();
  if (t === '') return undefined;
  try {
    return { value: JSON.parse(t) as unknown };
  } catch {
    return undefined;
  }
}

/**
 * One line for a payload: JSON compacted, other UTF-8 text with its control characters escaped, anything else as
 * `<N bytes: hex…>`; `(empty)` for nothing. Cut at `maxChars` with the total size noted.
 */
export function payloadText(payload: Uint8Array | string, maxChars = MAX_PAYLOAD_CHARS): string {
  let text: string;
  if (typeof payload === 'string') {
    text = payload;
  } else {
    if (payload.length === 0) return '(empty)';
    try {
      text = decoder.decode(payload);
    } catch {
      const hex = Array.from(payload.subarray(0, HEX_PREVIEW_BYTES), (b) => b.toString(16).padStart(2, '0')).join(' ');
      return `<${payload.length} bytes: ${hex}${payload.length > HEX_PREVIEW_BYTES ? ' …' : ''}>`;
    }
  }
  if (text.length === 0) return '(empty)';
  const json = tryParseJson(text);
  const shown = escapeControls(json === undefined ? text : compactJson(json.value, text));
  if (shown.length <= maxChars) return shown;
  const size = typeof payload === 'string' ? new TextEncoder().encode(payload).length : payload.length;
  return `${shown.slice(0, maxChars)}… (${size} bytes)`;
}

/** `value` as compact JSON, or `text` as it came when that fails (JSON nested deeper than the call stack allows). */
function compactJson(value: unknown, text: string): string {
  try {
    return JSON.stringify(value);
  } catch {
    return text;
  }
}
