/**
 * Quoting of the commands the tool prints for copying.
 */
import { describe, expect, it } from 'vitest';
import { shellQuote } from '../../src/cli/shell-quote.js';

describe('shellQuote', () => {
  it('leaves safe words alone', () => {
    expect(shellQuote('/tmp/certs/dev-1.cert.pem')).toBe('/tmp/certs/dev-1.cert.pem');
  });

  it('single-quotes anything a shell would expand or split', () => {
    expect(shellQuote('a$b')).toBe(`'a$b'`);
    expect(shellQuote('my dir')).toBe(`'my dir'`);
    expect(shellQuote(`it's`)).toBe(`'it'\\''s'`);
    expect(shellQuote('')).toBe(`''`);
  });
});
