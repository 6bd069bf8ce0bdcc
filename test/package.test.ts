/**
 * The package as users get it: `dist/` built by `npm run build` (run by `npm ci` through the prepare script), its
 * exports map, the bin, and the contract's "no runtime dependencies".
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  name: string;
  dependencies?: Record<string, string>;
  engines: { node: string };
  type: string;
  bin: Record<string, string>;
  exports: Record<string, string | { types: string; default: string }>;
};

beforeAll(() => {
  if (!existsSync(join(root, 'dist', 'index.js'))) {
    execFileSync(process.execPath, [join(root, 'node_modules', 'tsx', 'dist', 'cli.mjs'), 'scripts/build.ts'], { cwd: root, stdio: 'ignore' });
  }
}, 120_000);

describe('package', () => {
  it('is azure-iot-hub, ESM, Node >= 20, with no runtime dependencies', () => {
    expect(pkg.name).toBe('azure-iot-hub');
    expect(pkg.type).toBe('module');
    expect(pkg.engines.node).toBe('>=20');
    expect(Object.keys(pkg.dependencies ?? {})).toEqual([]);
  });

  it('every exports entry points at built files, types first', () => {
    for (const [key, target] of Object.entries(pkg.exports)) {
      if (typeof target === 'string') {
        expect(existsSync(join(root, target)), key).toBe(true);
        continue;
      }
      expect(Object.keys(target)[0], key).toBe('types');
      expect(existsSync(join(root, target.types)), target.types).toBe(true);
      expect(existsSync(join(root, target.default)), target.default).toBe(true);
    }
  });

  it('the built entries load and export the contract names', async () => {
    const main = (await import(pathToFileURL(join(root, 'dist', 'index.js')).href)) as Record<string, unknown>;
    for (const name of ['AzureIotHub', 'AzureIotHubEvtType', 'AzureIotHubTopicType', 'AzureIotHubError', 'MqttProtocolError']) {
      expect(main[name], name).toBeDefined();
    }
    const codec = (await import(pathToFileURL(join(root, 'dist', 'codec', 'index.js')).href)) as Record<string, unknown>;
    for (const name of ['encode', 'encodeChunks', 'encodedLength', 'decode', 'PacketDecoder']) expect(codec[name], name).toBeDefined();
    const emulator = (await import(pathToFileURL(join(root, 'dist', 'emulator', 'index.js')).href)) as Record<string, unknown>;
    expect(emulator['startEmulator']).toBeTypeOf('function');
    // Each entry carries its own copy of the error classes; instanceof still works across them.
    const E = main['AzureIotHubError'] as new (code: string, message: string) => Error;
    const EmuE = emulator['AzureIotHubError'] as (new (code: string, message: string) => Error) | undefined;
    if (EmuE !== undefined) expect(new EmuE('EIO', 'x')).toBeInstanceOf(E);
    const source = readFileSync(join(root, 'dist', 'codec', 'index.js'), 'utf8');
    expect(source).not.toMatch(/from\s*["']node:|require\(|\bBuffer\b/);
  });

  it('the bin runs from dist: --version, and a command other than emulator does not start the emulator', () => {
    const bin = join(root, pkg.bin['azure-iot-hub']!);
    expect(readFileSync(bin, 'utf8').startsWith('#!/usr/bin/env node')).toBe(true);
    const version = spawnSync(process.execPath, [bin, '--version'], { encoding: 'utf8' });
    expect(version.status).toBe(0);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    const help = spawnSync(process.execPath, [bin, 'certs', '--help'], { encoding: 'utf8', timeout: 10_000 });
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('azure-iot-hub certs');
    expect(help.stdout + help.stderr).not.toContain('emulator is running');
    expect(help.stderr).toBe('');
  });

  it('the scripts run as npm runs them (outside vitest): soak --help', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/soak.ts', '--help'], { cwd: root, encoding: 'utf8', timeout: 20_000 });
    expect(r.status).toBe(0);
    expect(r.stdout + r.stderr).toContain('usage: npm run soak');
    expect(r.stderr).not.toMatch(/Error|vitest/);
  });
});
