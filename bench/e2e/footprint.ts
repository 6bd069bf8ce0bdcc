/**
 * Footprint: runtime dependencies and installed size, bundle sizes (esbuild, minified and gzipped) of a program that
 * connects and sends one message, the runtime-neutral codec bundle, and cold `import` time.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, lstatSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build, type Metafile } from 'esbuild';
import { median } from './lib/stats.js';
import { OUT_DIR, ROOT } from './lib/processes.js';

/** Installed size of a set of packages. */
export interface InstalledSize {
  /** Packages installed (the roots included). */
  packages: number;
  /** Sum of the sizes of their files (apparent size; each package's own folder, nested node_modules excluded). */
  bytes: number;
  /** Files. */
  files: number;
  /** Disk usage (allocated blocks, as `du` counts). */
  diskBytes: number;
}

/** Our package as `npm pack --dry-run --json` describes it. */
export interface PackedSize {
  runtimeDependencies: number;
  /** Unpacked size of every file in the package (JavaScript, declarations, source maps, README). */
  unpackedBytes: number;
  /** The .tgz. */
  tarballBytes: number;
  files: number;
  /** JavaScript files only (what Node loads). */
  jsBytes: number;
}

/** A bundle esbuild produced. */
export interface BundleSize {
  minifiedBytes: number;
  gzipBytes: number;
  /** Largest inputs, grouped by folder (bytes in the output). */
  breakdown: [string, number][];
  /** Node built-ins the bundle imports (from the metafile). */
  imports: string[];
  /** The bundle, run against the emulator, printed `sent` (undefined: not run). */
  ran?: boolean;
  error?: string;
}

/** Cold import times, ms: median wall time of a fresh `node` per sample. */
export interface ColdImport {
  samples: number;
  baselineMs: number;
  oursMs: number;
  oursBundledMs: number;
  sdkMs: number;
  /** Source modules behind `dist/index.js` (the inputs of its bundle) and their bytes. */
  modules: number;
  moduleBytes: number;
}

/** Everything measured here. */
export interface Footprint {
  ours?: PackedSize;
  oursError?: string;
  sdk: InstalledSize;
  mqttjs: InstalledSize;
  bundles: { ours: BundleSize; sdk: BundleSize; codec: BundleSize };
  cold?: ColdImport;
  coldError?: string;
}

interface LockPackage {
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
}

/**
 * Walk the dependency tree of `roots` in package-lock.json (Node's resolution: the nearest `node_modules/<name>` up
 * the folder chain) and sum the installed size of every package reached.
 */
export function installedSize(roots: string[]): InstalledSize {
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockPackage> };
  const pkgs = lock.packages;
  const seen = new Set<string>();
  const resolve = (from: string, name: string): string | undefined => {
    let dir = from;
    for (;;) {
      const candidate = `${dir}${dir === '' ? '' : '/'}node_modules/${name}`;
      if (pkgs[candidate] !== undefined) return candidate;
      if (dir === '') return undefined;
      const i = dir.lastIndexOf('/node_modules/');
      dir = i === -1 ? '' : dir.slice(0, i);
    }
  };
  const stack = roots.map((r) => `node_modules/${r}`);
  while (stack.length > 0) {
    const path = stack.pop()!;
    if (seen.has(path)) continue;
    const p = pkgs[path];
    if (p === undefined) continue;
    seen.add(path);
    const optionalPeers = p.peerDependenciesMeta ?? {};
    const deps = [
      ...Object.keys(p.dependencies ?? {}),
      ...Object.keys(p.optionalDependencies ?? {}),
      ...Object.keys(p.peerDependencies ?? {}).filter((n) => optionalPeers[n]?.optional !== true),
    ];
    for (const name of deps) {
      const to = resolve(path, name);
      if (to !== undefined) stack.push(to);
    }
  }
  const total = { bytes: 0, files: 0, diskBytes: 0 };
  for (const path of seen) folderSize(join(ROOT, path), total);
  return { packages: seen.size, ...total };
}

function folderSize(dir: string, total: { bytes: number; files: number; diskBytes: number }): void {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of entries) {
    if (name === 'node_modules') continue; // nested packages are counted as packages of their own
    const p = join(dir, name);
    const st = lstatSync(p);
    total.diskBytes += st.blocks * 512;
    if (st.isDirectory()) {
      folderSize(p, total);
    } else if (st.isFile()) {
      total.bytes += st.size;
      total.files++;
    }
  }
}

/** Our package: `npm pack --dry-run --json` (which runs `prepare`, i.e. the build). */
export function packedSize(): PackedSize {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
  const r = spawnSync('npm', ['pack', '--dry-run', '--json'], { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`npm pack --dry-run failed: ${r.stderr.slice(-2000)}`);
  const start = r.stdout.indexOf('[');
  const [info] = JSON.parse(r.stdout.slice(start)) as { size: number; unpackedSize: number; entryCount: number; files: { path: string; size: number }[] }[];
  if (info === undefined) throw new Error('npm pack --dry-run printed nothing');
  return {
    runtimeDependencies: Object.keys(pkg.dependencies ?? {}).length,
    unpackedBytes: info.unpackedSize,
    tarballBytes: info.size,
    files: info.entryCount,
    jsBytes: info.files.filter((f) => f.path.endsWith('.js')).reduce((n, f) => n + f.size, 0),
  };
}

function groupOf(input: string): string {
  if (input.startsWith('node_modules/')) {
    const parts = input.split('/');
    return parts[1]!.startsWith('@') ? `${parts[1]}/${parts[2]}` : parts[1]!;
  }
  const m = /^src\/(azure\/(?:fota|dps|outbox)|[^/]+)/.exec(input);
  return m === null ? input : `src/${m[1]!.replace(/\.ts$/, '')}`;
}

const NODE_REQUIRE_BANNER = "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);";

/** Bundle `entry` with esbuild and measure it; the output is written to `outfile`. */
export async function bundle(entry: string, platform: 'node' | 'neutral', outfile: string): Promise<BundleSize> {
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    minify: true,
    platform,
    format: 'esm',
    target: 'node20',
    write: false,
    metafile: true,
    logLevel: 'silent',
    // CommonJS code (Microsoft's SDK) calls require() for Node built-ins, which an ESM bundle lacks: give it one,
    // on both sides alike (the usual banner for ESM bundles of CommonJS packages).
    ...(platform === 'node' ? { banner: { js: NODE_REQUIRE_BANNER } } : {}),
  });
  const out = result.outputFiles[0]!.contents;
  writeFileSync(outfile, out);
  const meta: Metafile = result.metafile;
  const output = Object.values(meta.outputs)[0]!;
  const groups = new Map<string, number>();
  for (const [input, v] of Object.entries(output.inputs)) groups.set(groupOf(input), (groups.get(groupOf(input)) ?? 0) + v.bytesInOutput);
  return {
    minifiedBytes: out.length,
    gzipBytes: gzipSync(out, { level: 9 }).length,
    breakdown: [...groups].sort((a, b) => b[1] - a[1]),
    imports: [...new Set(output.imports.map((i) => i.path))].sort(),
  };
}

/** Run a bundled program with `env`; true when it printed `sent` and exited 0. */
export function runBundle(file: string, env: Record<string, string>): { ok: boolean; error?: string } {
  const r = spawnSync(process.execPath, [file], { cwd: OUT_DIR, env: { ...process.env, ...env }, encoding: 'utf8', timeout: 30_000 });
  if (r.status === 0 && r.stdout.includes('sent')) return { ok: true };
  return { ok: false, error: `exit ${String(r.status)}: ${(r.stderr || r.stdout).slice(-500)}` };
}

/**
 * Cold import: a fresh `node --input-type=module -e <imports>` per sample, the cases interleaved so that machine
 * noise hits them alike; the median wall time of each, an empty program's included (the baseline).
 */
export async function coldImport(samples: number): Promise<ColdImport> {
  const dist = pathToFileURL(join(ROOT, 'dist', 'index.js')).href;
  // The same public entry as one file: how much of the cold start is the number of modules loaded.
  const bundled = join(OUT_DIR, 'index-bundled.mjs');
  const built = await build({ entryPoints: [join(ROOT, 'src', 'index.ts')], bundle: true, platform: 'node', format: 'esm', target: 'node20', outfile: bundled, metafile: true, logLevel: 'silent' });
  const inputs = Object.entries(built.metafile.inputs).filter(([k]) => k.startsWith('src/'));
  const cases: Record<string, string> = {
    baseline: '',
    ours: `import ${JSON.stringify(dist)};`,
    oursBundled: `import ${JSON.stringify(pathToFileURL(bundled).href)};`,
    sdk: "import 'azure-iot-device'; import 'azure-iot-device-mqtt';",
  };
  const times: Record<string, number[]> = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
  for (let i = 0; i < samples + 1; i++) {
    for (const [name, code] of Object.entries(cases)) {
      const t0 = performance.now();
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
      const dt = performance.now() - t0;
      if (r.status !== 0) throw new Error(`cold import of ${name} failed: ${r.stderr.toString().slice(-500)}`);
      if (i > 0) times[name]!.push(dt); // the first round warms the file system cache
    }
  }
  return {
    samples,
    baselineMs: median(times['baseline']!),
    oursMs: median(times['ours']!),
    oursBundledMs: median(times['oursBundled']!),
    sdkMs: median(times['sdk']!),
    modules: inputs.length,
    moduleBytes: inputs.reduce((n, [, v]) => n + v.bytes, 0),
  };
}
