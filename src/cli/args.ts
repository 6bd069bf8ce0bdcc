/**
 * A small, dependency-free option parser for the `azure-iot-hub` commands: `--name value`, `--name=value`, boolean
 * flags, repeatable options, `-h` for `--help`, and `--` to end the options. Anything unknown or malformed is a
 * {@link UsageError} (exit code 2).
 *
 * Written by hand rather than with `node:util` `parseArgs` so that every error names the option and says what is
 * wrong with it in the same words across commands.
 */

/** A bad command line: unknown option, missing or malformed value, missing required option. Exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  /** The command whose `--help` explains the fix (`device`, `certs ca`, ...); default: the command that ran. */
  readonly command: string | undefined;

  constructor(message: string, command?: string) {
    super(message);
    this.command = command;
  }
}

/** How one option is parsed. */
export interface OptionSpec {
  /** `string` and `integer` take a value; `boolean` is a flag. */
  type: 'string' | 'integer' | 'boolean';
  /** May be given several times (values are collected in order). Default false. */
  multiple?: boolean;
  /** Smallest accepted integer (default 0). */
  min?: number;
  /** Largest accepted integer (default `Number.MAX_SAFE_INTEGER`). */
  max?: number;
}

/** Option name (without `--`) to its spec. `help` is always accepted (also as `-h`). */
export type OptionSpecs = Readonly<Record<string, OptionSpec>>;

/** The parsed command line. Getters take the option name without `--`. */
export class ParsedArgs {
  readonly #values: Map<string, (string | number | boolean)[]>;
  /** Arguments that are not options (in order). */
  readonly positionals: readonly string[];

  constructor(values: Map<string, (string | number | boolean)[]>, positionals: string[]) {
    this.#values = values;
    this.positionals = positionals;
  }

  /** Whether the option was given at all. */
  has(name: string): boolean {
    return this.#values.has(name);
  }

  /** The last value of a string option, or undefined. */
  string(name: string): string | undefined {
    const v = this.#values.get(name)?.at(-1);
    return typeof v === 'string' ? v : undefined;
  }

  /** Every value of a repeatable string option (empty when absent). */
  strings(name: string): string[] {
    return (this.#values.get(name) ?? []).filter((v): v is string => typeof v === 'string');
  }

  /** The last value of an integer option, or undefined. */
  integer(name: string): number | undefined {
    const v = this.#values.get(name)?.at(-1);
    return typeof v === 'number' ? v : undefined;
  }

  /** Whether a boolean flag was given. */
  flag(name: string): boolean {
    return this.#values.get(name)?.at(-1) === true;
  }

  /** The string value of a required option. @throws UsageError when absent. */
  required(name: string): string {
    const v = this.string(name);
    if (v === undefined) throw new UsageError(`--${name} is required`);
    return v;
  }
}

/**
 * Parse `argv` (without node, script and command names) against `specs`.
 * @param maxPositionals how many non-option arguments are allowed (default 0)
 * @throws UsageError for an unknown option, a missing or bad value, a repeated single option, or extra arguments
 */
export function parseOptions(argv: readonly string[], specs: OptionSpecs, maxPositionals = 0): ParsedArgs {
  const values = new Map<string, (string | number | boolean)[]>();
  const positionals: string[] = [];
  let optionsEnded = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (optionsEnded || !arg.startsWith('-') || arg === '-') {
      positionals.push(arg);
      continue;
    }
    if (arg === '--') {
      optionsEnded = true;
      continue;
    }
    if (arg === '-h') {
      values.set('help', [true]);
      continue;
    }
    if (!arg.startsWith('--')) throw new UsageError(`unknown option ${arg}`);
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq === -1 ? undefined : eq);
    const inline = eq === -1 ? undefined : arg.slice(eq + 1);
    if (name === 'help') {
      if (inline !== undefined) throw new UsageError('--help takes no value');
      values.set('help', [true]);
      continue;
    }
    const spec = Object.hasOwn(specs, name) ? specs[name] : undefined;
    if (spec === undefined) throw new UsageError(`unknown option --${name}`);
    let value: string | number | boolean;
    if (spec.type === 'boolean') {
      if (inline !== undefined) throw new UsageError(`--${name} takes no value`);
      value = true;
    } else {
      let text = inline;
      if (text === undefined) {
        const next = argv[i + 1];
        // A value that looks like an option is almost always a forgotten value; `--name=--x` passes one on purpose.
        if (next === undefined || (next.startsWith('--') && next.length > 2)) {
          throw new UsageError(`--${name} needs a value`);
        }
        text = next;
        i++;
      }
      value = spec.type === 'integer' ? parseInteger(name, text, spec) : text;
    }
    const list = values.get(name);
    if (list === undefined) {
      values.set(name, [value]);
    } else if (spec.multiple === true) {
      list.push(value);
    } else {
      throw new UsageError(`--${name} was given more than once`);
    }
  }
  if (!values.has('help') && positionals.length > maxPositionals) {
    throw new UsageError(`unexpected argument ${JSON.stringify(positionals[maxPositionals])}`);
  }
  return new ParsedArgs(values, positionals);
}

function parseInteger(name: string, text: string, spec: OptionSpec): number {
  const min = spec.min ?? 0;
  const max = spec.max ?? Number.MAX_SAFE_INTEGER;
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < min || n > max) {
    throw new UsageError(`--${name}: ${JSON.stringify(text)} is not an integer from ${min} to ${max}`);
  }
  return n;
}

/**
 * Parse a duration: a number of milliseconds, or a number followed by `ms`, `s` or `m` (`250ms`, `1.5s`, `2m`).
 * @throws UsageError naming `--option` when malformed or negative
 */
export function parseDuration(option: string, text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (m === null) throw new UsageError(`--${option}: ${JSON.stringify(text)} is not a duration (such as 500, 500ms, 2s, 1m)`);
  const n = Number(m[1]);
  const unit = m[2] ?? 'ms';
  const ms = unit === 'ms' ? n : unit === 's' ? n * 1000 : n * 60_000;
  if (!Number.isFinite(ms) || ms > 2_147_483_647) throw new UsageError(`--${option}: ${text} is too long`);
  return Math.round(ms);
}
