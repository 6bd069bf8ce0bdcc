#!/usr/bin/env node
/**
 * `azure-iot-hub`: the package's command-line tool (`bin`). No dependencies: Node's standard library only.
 *
 * ```sh
 * azure-iot-hub demo                          # the quick start (npm start): one device through every feature
 * azure-iot-hub emulator --out ./emu          # a local IoT Hub + DPS; prints credentials
 * azure-iot-hub device --emulator ./emu       # a device: send lines as telemetry, print what arrives
 * azure-iot-hub certs all --id dev1 --out ./certs
 * ```
 *
 * In-process use (tests, embedding): `await runCli(['device', '--help'], { stdout })` resolves with the exit code.
 */
import { readFileSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { UsageError } from './args.js';
import { certsCommand } from './certs.js';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, type CliCommand } from './command.js';
import { demoCommand } from './demo.js';
import { deviceCommand } from './device.js';
import { emulatorCommand } from './emulator.js';
import { resolveIo, type CliIo } from './io.js';

export type { CliIo, CliOutput } from './io.js';
export type { CliCommand } from './command.js';
export { EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from './command.js';

/** The program name, as installed by the package's `bin`. */
export const PROGRAM = 'azure-iot-hub';

/** The commands, in the order the overview lists them; `demo` (what `npm start` runs) first. */
export const COMMANDS: readonly CliCommand[] = [demoCommand, emulatorCommand, deviceCommand, certsCommand];

/** The package version, from the package.json next to `src/` or `dist/` (both are two levels below it). */
export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
  return typeof pkg.version === 'string' ? pkg.version : '0.0.0';
}

function overview(commands: readonly CliCommand[]): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return `Usage: ${PROGRAM} <command> [options]

Azure IoT Hub device tools: a local IoT Hub emulator, a device for manual testing, and test certificates.

Commands:
${commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n')}

Options:
  --help       print this help (also: ${PROGRAM} <command> --help, ${PROGRAM} help <command>)
  --version    print the version

Quick start:
  ${PROGRAM} demo                         one device through every feature on a local emulator
  ${PROGRAM} emulator --out ./emu         then, in another terminal:
  ${PROGRAM} device --emulator ./emu --message hello
`;
}

/**
 * Run the tool with `argv` (the arguments after the program name). Resolves with the exit code: 0 success, 1 the
 * command failed, 2 bad usage (unknown command or option, missing or malformed value).
 */
export async function runCli(argv: readonly string[], io: CliIo = {}): Promise<number> {
  const r = resolveIo(io);
  const [first, ...rest] = argv;
  if (first === undefined) {
    r.stderr.write(`error: a command is required\n\n${overview(COMMANDS)}`);
    return EXIT_USAGE;
  }
  let name = first;
  let args = rest;
  if (first === '--help' || first === '-h') {
    r.stdout.write(overview(COMMANDS));
    return EXIT_OK;
  }
  if (first === '--version') {
    r.stdout.write(`${packageVersion()}\n`);
    return EXIT_OK;
  }
  if (first === 'help') {
    if (rest[0] === undefined) {
      r.stdout.write(overview(COMMANDS));
      return EXIT_OK;
    }
    name = rest[0];
    args = [...rest.slice(1), '--help'];
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (command === undefined) {
    const what = name.startsWith('-') ? `unknown option ${name}` : `unknown command ${JSON.stringify(name)}`;
    r.stderr.write(`error: ${what}\nRun "${PROGRAM} --help" for the commands.\n`);
    return EXIT_USAGE;
  }
  try {
    return await command.run(args, r);
  } catch (err) {
    if (err instanceof UsageError) {
      r.stderr.write(`error: ${err.message}\nRun "${PROGRAM} ${err.command ?? command.name} --help" for the options.\n`);
      return EXIT_USAGE;
    }
    r.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`);
    return EXIT_FAILURE;
  }
}

function isMain(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMain()) {
  // `azure-iot-hub ... | head`: the reader went away; stop quietly instead of crashing on EPIPE.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? EXIT_OK);
  });
  runCli(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
      // Everything is closed by now; a handle left open (a paused terminal stdin, say) must not keep us alive.
      setTimeout(() => process.exit(), 1000).unref();
    },
    (err: unknown) => {
      process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = EXIT_FAILURE;
    },
  );
}
