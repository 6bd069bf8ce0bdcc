/**
 * Terminal colours for the command-line output, on only where they belong: a terminal, unless `NO_COLOR` says no;
 * `FORCE_COLOR` turns them on (or off) regardless. The same rules as Node's own `tty.WriteStream.hasColors()`.
 * @see https://no-color.org/
 * @see https://nodejs.org/api/cli.html#force_color1-2-3
 */
import type { CliOutput } from './io.js';

/**
 * Whether to colour text written to `stream`:
 * 1. `FORCE_COLOR` set: `''`, `1`, `2`, `3` or `true` turn colours on, any other value (`0`, `false`) off;
 * 2. `NO_COLOR` set and not empty, or `NODE_DISABLE_COLORS` set: off;
 * 3. otherwise on when `stream` is a terminal and `TERM` is not `dumb`.
 */
export function colorEnabled(stream: CliOutput, env: Readonly<Record<string, string | undefined>>): boolean {
  const force = env['FORCE_COLOR'];
  if (force !== undefined) return ['', '1', '2', '3', 'true'].includes(force);
  const noColor = env['NO_COLOR'];
  if (noColor !== undefined && noColor !== '') return false;
  if (env['NODE_DISABLE_COLORS'] !== undefined) return false;
  return stream.isTTY === true && env['TERM'] !== 'dumb';
}

/** Text styles; each returns its argument unchanged when colours are off. */
export interface Style {
  readonly enabled: boolean;
  dim(text: string): string;
  bold(text: string): string;
  red(text: string): string;
  green(text: string): string;
  yellow(text: string): string;
  blue(text: string): string;
  magenta(text: string): string;
  cyan(text: string): string;
}

const sgr = (open: number, close: number) => (text: string): string => `\u001b[${open}m${text}\u001b[${close}m`;
const plain = (text: string): string => text;

/** Styles that colour when `enabled` (see {@link colorEnabled}), or pass text through. */
export function createStyle(enabled: boolean): Style {
  if (!enabled) {
    return { enabled, dim: plain, bold: plain, red: plain, green: plain, yellow: plain, blue: plain, magenta: plain, cyan: plain };
  }
  return {
    enabled,
    dim: sgr(2, 22),
    bold: sgr(1, 22),
    red: sgr(31, 39),
    green: sgr(32, 39),
    yellow: sgr(33, 39),
    blue: sgr(34, 39),
    magenta: sgr(35, 39),
    cyan: sgr(36, 39),
  };
}
