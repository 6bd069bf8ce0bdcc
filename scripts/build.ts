/**
 * Build `dist/`: type declarations from tsc, JavaScript from esbuild. Each public entry (`.`, `./codec`,
 * `./emulator`, the CLI) is one self-contained ES module, because a cold `import` of one file costs a fraction of the
 * same code spread over ~60 modules (or over shared chunks). The error classes recognise instances from another entry
 * (`instanceof` through a registered-symbol brand), so duplicated code between entries is harmless.
 *
 *   npm run build     (also run by `npm ci` / `npm install` through the prepare script)
 */
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');

rmSync(dist, { recursive: true, force: true });
execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.build.json')], {
  stdio: 'inherit',
});
await build({
  absWorkingDir: root,
  entryPoints: {
    index: 'src/index.ts',
    'codec/index': 'src/codec/index.ts',
    'emulator/index': 'src/emulator/index.ts',
    'cli/main': 'src/cli/main.ts',
  },
  outdir: 'dist',
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  sourcemap: true,
  minifySyntax: true,
  minifyWhitespace: true,
  legalComments: 'none',
  logLevel: 'warning',
});
