/**
 * `azure-iot-hub emulator`: the local IoT Hub + DPS + firmware server in the foreground. The emulator's own terminal
 * command (`runEmulatorCli`) does the work; this adds the program name and the hint to connect `device` to it.
 */
import { runEmulatorCli, type CliIo as EmulatorCliIo } from '../emulator/cli.js';
import type { CliCommand } from './command.js';
import type { CliOutput } from './io.js';
import { shellQuote } from './shell-quote.js';

/** The emulator's help names its standalone script; under this program it is a subcommand. */
function renamed(out: CliOutput): CliOutput {
  return { write: (text: string) => out.write(text.replaceAll('azure-iot-hub-emulator', 'azure-iot-hub emulator')) };
}

/** `azure-iot-hub emulator [options]`: see `runEmulatorCli` for the options. */
export const emulatorCommand: CliCommand = {
  name: 'emulator',
  summary: 'run a local IoT Hub, DPS and firmware server; print how to connect',
  async run(argv, io) {
    const stdout = renamed(io.stdout);
    const options: EmulatorCliIo = {
      stdout,
      stderr: renamed(io.stderr),
      onReady: (emulator, outDir) => {
        stdout.write(`\nConnect a device:  azure-iot-hub device --emulator ${shellQuote(outDir)}\n\n`);
        io.onEmulatorReady?.(emulator, outDir);
      },
    };
    if (io.signal !== undefined) options.signal = io.signal;
    const code = await runEmulatorCli(argv, options);
    if (code === 0 && (argv.includes('--help') || argv.includes('-h'))) {
      stdout.write('\nThen, in another terminal:  azure-iot-hub device --emulator DIR   (DIR: the --out folder)\n');
    }
    return code;
  },
};
