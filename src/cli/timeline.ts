/**
 * The `device` command's output: one line per event, `HH:MM:SS.mmm  label         details`, with the time, the
 * label and the details in aligned columns, coloured by kind on a terminal.
 */
import type { CliOutput } from './io.js';
import type { Style } from './color.js';

/** What a timeline line is about; decides the label colour. */
export type TimelineKind = 'progress' | 'good' | 'incoming' | 'outgoing' | 'warning' | 'error' | 'info';

/** Width of the label column: the longest label (`disconnected`) plus room. */
export const LABEL_WIDTH = 13;

function pad2(n: number): string {
  return String(n).padStart(2, '0');
}

/** Local wall-clock time as `HH:MM:SS.mmm`. */
export function clockTime(ms: number): string {
  const d = new Date(ms);
  return `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

/** Writes aligned, optionally coloured event lines. */
export class Timeline {
  readonly #out: CliOutput;
  readonly #style: Style;
  readonly #now: () => number;

  constructor(out: CliOutput, style: Style, now: () => number = Date.now) {
    this.#out = out;
    this.#style = style;
    this.#now = now;
  }

  /**
   * Write one event. `details` may hold several lines: the later ones are indented to the details column.
   * @param label a short lower-case word (`connected`, `c2d`, `method`, ...), at most {@link LABEL_WIDTH} characters
   */
  line(kind: TimelineKind, label: string, details = ''): void {
    const s = this.#style;
    const time = clockTime(this.#now());
    const paint = this.#paint(kind);
    const indent = ' '.repeat(time.length + 2 + LABEL_WIDTH);
    const body = details.split('\n').join(`\n${indent}`);
    const labelText = details === '' ? label : label.padEnd(LABEL_WIDTH);
    this.#out.write(`${s.dim(time)}  ${paint(labelText)}${body}\n`);
  }

  #paint(kind: TimelineKind): (text: string) => string {
    const s = this.#style;
    switch (kind) {
      case 'progress':
        return s.yellow;
      case 'good':
        return (t) => s.bold(s.green(t));
      case 'incoming':
        return (t) => s.bold(s.cyan(t));
      case 'outgoing':
        return s.magenta;
      case 'warning':
        return (t) => s.bold(s.yellow(t));
      case 'error':
        return (t) => s.bold(s.red(t));
      case 'info':
        return s.dim;
    }
  }
}
