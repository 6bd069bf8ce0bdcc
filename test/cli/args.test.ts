/**
 * The option parser: value forms, repeats, flags, help, positionals, and every usage error it raises.
 */
import { describe, expect, it } from 'vitest';
import { parseDuration, parseOptions, UsageError, type OptionSpecs } from '../../src/cli/args.js';

const SPECS: OptionSpecs = {
  name: { type: 'string' },
  tag: { type: 'string', multiple: true },
  port: { type: 'integer', min: 1, max: 65535 },
  force: { type: 'boolean' },
};

describe('parseOptions', () => {
  it('reads --name value and --name=value, repeats, flags and integers', () => {
    const a = parseOptions(['--name', 'x', '--tag=a', '--tag', 'b', '--port=8883', '--force'], SPECS);
    expect(a.string('name')).toBe('x');
    expect(a.strings('tag')).toEqual(['a', 'b']);
    expect(a.integer('port')).toBe(8883);
    expect(a.flag('force')).toBe(true);
    expect(a.flag('help')).toBe(false);
    expect(a.has('name')).toBe(true);
    expect(a.has('port') && !a.has('missing')).toBe(true);
    expect(a.required('name')).toBe('x');
  });

  it('passes a value that starts with -- only in the --name=value form, and a lone - as a value', () => {
    expect(parseOptions(['--name=--odd'], SPECS).string('name')).toBe('--odd');
    expect(parseOptions(['--name', '-'], SPECS).string('name')).toBe('-');
    expect(parseOptions(['--name', '-x'], SPECS).string('name')).toBe('-x');
    expect(parseOptions(['--name='], SPECS).string('name')).toBe('');
  });

  it('takes --help and -h anywhere, and then tolerates extra arguments', () => {
    expect(parseOptions(['--help'], SPECS).flag('help')).toBe(true);
    expect(parseOptions(['--name', 'x', '-h'], SPECS).flag('help')).toBe(true);
    expect(parseOptions(['stray', '--help'], SPECS).flag('help')).toBe(true);
  });

  it('collects positionals up to the limit, and everything after --', () => {
    expect(parseOptions(['a', '--force', '--', '--name'], SPECS, 2).positionals).toEqual(['a', '--name']);
  });

  it.each([
    [['--nope'], 'unknown option --nope'],
    [['-x'], 'unknown option -x'],
    [['--name'], '--name needs a value'],
    [['--name', '--force'], '--name needs a value'],
    [['--force=yes'], '--force takes no value'],
    [['--help=1'], '--help takes no value'],
    [['--port', 'abc'], '--port: "abc" is not an integer from 1 to 65535'],
    [['--port', '0'], 'not an integer from 1 to 65535'],
    [['--port', '70000'], 'not an integer from 1 to 65535'],
    [['--port', '-1'], '--port: "-1" is not an integer'],
    [['--port', '1.5'], 'not an integer'],
    [['--name', 'a', '--name', 'b'], '--name was given more than once'],
    [['extra'], 'unexpected argument "extra"'],
    [['--constructor', 'x'], 'unknown option --constructor'],
  ])('%j is a usage error: %s', (argv, message) => {
    let caught: unknown;
    try {
      parseOptions(argv, SPECS);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(UsageError);
    expect((caught as Error).message).toContain(message);
  });

  it('required() names the missing option', () => {
    expect(() => parseOptions([], SPECS).required('name')).toThrow(new UsageError('--name is required'));
  });
});

describe('parseDuration', () => {
  it.each([
    ['0', 0],
    ['250', 250],
    ['250ms', 250],
    ['2s', 2000],
    ['1.5s', 1500],
    ['1m', 60_000],
    [' 3s ', 3000],
  ])('%s is %d ms', (text, ms) => {
    expect(parseDuration('interval', text)).toBe(ms);
  });

  it.each(['', 'soon', '-1', '1h', '1 s', 's', '1e3'])('%j is refused, naming the option', (text) => {
    expect(() => parseDuration('interval', text)).toThrow(/^--interval: .* is not a duration/);
  });

  it('refuses durations a timer cannot hold', () => {
    expect(() => parseDuration('timeout', '100000m')).toThrow('--timeout: 100000m is too long');
  });
});
