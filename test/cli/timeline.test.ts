/**
 * The device timeline: aligned columns, continuation lines indented, colours only when asked for.
 */
import { describe, expect, it } from 'vitest';
import { createStyle } from '../../src/cli/color.js';
import { clockTime, LABEL_WIDTH, Timeline } from '../../src/cli/timeline.js';

function capture(): { write(t: string): boolean; text: () => string } {
  let buf = '';
  return { write: (t: string) => ((buf += t), true), text: () => buf };
}

const at = new Date(2024, 4, 1, 9, 8, 7, 6).getTime();

describe('Timeline', () => {
  it('aligns time, label and details', () => {
    const out = capture();
    const tl = new Timeline(out, createStyle(false), () => at);
    tl.line('good', 'connected', 'hub.azure-devices.net');
    tl.line('incoming', 'c2d', 'hello');
    tl.line('info', 'disconnected');
    const lines = out.text().split('\n');
    expect(lines[0]).toBe(`09:08:07.006  ${'connected'.padEnd(LABEL_WIDTH)}hub.azure-devices.net`);
    expect(lines[1]).toBe(`09:08:07.006  ${'c2d'.padEnd(LABEL_WIDTH)}hello`);
    expect(lines[2]).toBe('09:08:07.006  disconnected');
    expect(lines[0]!.indexOf('hub')).toBe(lines[1]!.indexOf('hello'));
  });

  it('indents the later lines of multi-line details to the details column', () => {
    const out = capture();
    new Timeline(out, createStyle(false), () => at).line('error', 'error', 'first\nsecond');
    const [a, b] = out.text().split('\n');
    expect(b!.trimStart()).toBe('second');
    expect(b!.indexOf('second')).toBe(a!.indexOf('first'));
  });

  it('colours label and time when colours are on, and never otherwise', () => {
    const coloured = capture();
    new Timeline(coloured, createStyle(true), () => at).line('error', 'failed', 'CONNACK 5');
    expect(coloured.text()).toContain('\u001b[31m');
    expect(coloured.text()).toContain('\u001b[2m09:08:07.006\u001b[22m');
    const plain = capture();
    new Timeline(plain, createStyle(false), () => at).line('error', 'failed', 'CONNACK 5');
    expect(plain.text()).not.toContain('\u001b');
  });

  it('clockTime pads every field', () => {
    expect(clockTime(new Date(2024, 0, 1, 1, 2, 3, 4).getTime())).toBe('01:02:03.004');
    expect(clockTime(new Date(2024, 0, 1, 23, 59, 59, 999).getTime())).toBe('23:59:59.999');
  });
});
