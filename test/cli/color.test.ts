/**
 * When colours are on: NO_COLOR, FORCE_COLOR, NODE_DISABLE_COLORS, TERM=dumb and whether the stream is a terminal.
 */
import { describe, expect, it } from 'vitest';
import { colorEnabled, createStyle } from '../../src/cli/color.js';

const tty = { write: () => true, isTTY: true };
const pipe = { write: () => true };

describe('colorEnabled', () => {
  it.each([
    ['a terminal', tty, {}, true],
    ['a pipe', pipe, {}, false],
    ['a terminal with NO_COLOR=1', tty, { NO_COLOR: '1' }, false],
    ['a terminal with NO_COLOR= (empty: ignored, as no-color.org says)', tty, { NO_COLOR: '' }, true],
    ['a terminal with NODE_DISABLE_COLORS', tty, { NODE_DISABLE_COLORS: '1' }, false],
    ['a terminal with TERM=dumb', tty, { TERM: 'dumb' }, false],
    ['a pipe with FORCE_COLOR=1', pipe, { FORCE_COLOR: '1' }, true],
    ['a pipe with FORCE_COLOR= (empty)', pipe, { FORCE_COLOR: '' }, true],
    ['a pipe with FORCE_COLOR=3', pipe, { FORCE_COLOR: '3' }, true],
    ['a pipe with FORCE_COLOR=true', pipe, { FORCE_COLOR: 'true' }, true],
    ['a terminal with FORCE_COLOR=0', tty, { FORCE_COLOR: '0' }, false],
    ['a terminal with FORCE_COLOR=false', tty, { FORCE_COLOR: 'false' }, false],
    ['a pipe with FORCE_COLOR=1 and NO_COLOR=1 (FORCE_COLOR wins, as in Node)', pipe, { FORCE_COLOR: '1', NO_COLOR: '1' }, true],
  ])('%s: %s', (_name, stream, env, expected) => {
    expect(colorEnabled(stream, env)).toBe(expected);
  });
});

describe('createStyle', () => {
  it('wraps text in SGR codes when enabled', () => {
    const s = createStyle(true);
    expect(s.red('x')).toBe('\u001b[31mx\u001b[39m');
    expect(s.bold(s.green('ok'))).toBe('\u001b[1m\u001b[32mok\u001b[39m\u001b[22m');
    expect(s.dim('t')).toBe('\u001b[2mt\u001b[22m');
  });

  it('passes text through unchanged when disabled', () => {
    const s = createStyle(false);
    for (const f of [s.dim, s.bold, s.red, s.green, s.yellow, s.blue, s.magenta, s.cyan]) expect(f('text')).toBe('text');
    expect(s.enabled).toBe(false);
  });
});
