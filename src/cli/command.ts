/**
 * The shape of one `azure-iot-hub` command, as the command table in `main.ts` lists it.
 */
import type { ResolvedIo } from './io.js';

/** Exit codes of every command. */
export const EXIT_OK = 0;
/** The command ran and failed (connection refused, openssl missing, a file that cannot be written, ...). */
export const EXIT_FAILURE = 1;
/** Bad command line: unknown command or option, missing or malformed value. */
export const EXIT_USAGE = 2;

/** One command: `azure-iot-hub <name> [options]`. */
export interface CliCommand {
  /** The word after `azure-iot-hub`. */
  readonly name: string;
  /** One line for the overview (`azure-iot-hub --help`). */
  readonly summary: string;
  /**
   * Run with the arguments after the command name. Prints its own help for `--help`/`-h`. Resolves with the exit
   * code; throws `UsageError` for a bad command line (exit 2) and anything else for a failure (exit 1).
   */
  run(argv: readonly string[], io: ResolvedIo): Promise<number>;
}
