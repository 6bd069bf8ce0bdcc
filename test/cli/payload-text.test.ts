/**
 * Payloads shown on the terminal: JSON compacted, text with control characters escaped (no terminal escape
 * sequence from the network reaches the screen), binary as hex, long payloads cut.
 */
import { describe, expect, it } from 'vitest';
import { escapeControls, MAX_PAYLOAD_CHARS, payloadText, tryParseJson } from '../../src/cli/payload-text.js';

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('payloadText', () => {
  it('compacts JSON', () => {
    expect(payloadText(bytes('{ "a" : [1, 2],\n "b": "x" }'))).toBe('{"a":[1,2],"b":"x"}');
    expect(payloadText('  42 ')).toBe('42');
  });

  it('shows text as it is', () => {
    expect(payloadText(bytes('hello world'))).toBe('hello world');
    expect(payloadText('grüße ✓')).toBe('grüße ✓');
  });

  it('escapes control characters, so a payload cannot drive the terminal', () => {
    const evil = 'a\u001b[2J\u001b]0;title\u0007b\r\nc\td\u009b31m\u202eright';
    const shown = payloadText(bytes(evil));
    expect(shown).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u202e]/);
    expect(shown).toBe('a\\u001b[2J\\u001b]0;title\\u0007b\\r\\nc\\td\\u009b31m\\u202eright');
  });

  it('escapes control characters inside JSON strings too (C1 and bidi controls JSON.stringify keeps)', () => {
    expect(payloadText(bytes('{"k":"\u0085\u2066x"}'))).toBe('{"k":"\\u0085\\u2066x"}');
    expect(payloadText(bytes('"\\u001b[31m"'))).toBe('"\\u001b[31m"');
  });

  it('shows bytes that are not UTF-8 as hex', () => {
    expect(payloadText(new Uint8Array([0xff, 0x00, 0x10]))).toBe('<3 bytes: ff 00 10>');
    const long = new Uint8Array(40).fill(0xc3);
    expect(payloadText(long)).toMatch(/^<40 bytes: (c3 ){31}c3 …>$/);
  });

  it('says (empty) for nothing', () => {
    expect(payloadText(new Uint8Array())).toBe('(empty)');
    expect(payloadText('')).toBe('(empty)');
  });

  it('cuts long payloads and gives their size', () => {
    const shown = payloadText(bytes('x'.repeat(5000)));
    expect(shown).toBe(`${'x'.repeat(MAX_PAYLOAD_CHARS)}… (5000 bytes)`);
    expect(payloadText('é'.repeat(20), 10)).toBe(`${'é'.repeat(10)}… (40 bytes)`);
  });
});

describe('tryParseJson / escapeControls', () => {
  it('tells JSON from text', () => {
    expect(tryParseJson('{"a":1}')).toEqual({ value: { a: 1 } });
    expect(tryParseJson('null')).toEqual({ value: null });
    expect(tryParseJson('hello')).toBeUndefined();
    expect(tryParseJson('   ')).toBeUndefined();
  });

  it('leaves printable text alone', () => {
    expect(escapeControls('plain ASCII ~ and ü')).toBe('plain ASCII ~ and ü');
    expect(escapeControls('\u007f')).toBe('\\u007f');
  });
});
