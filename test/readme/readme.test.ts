/**
 * The README's code never rots: every TypeScript block is type-checked against the library's real API (fragments get
 * the free names they use, such as `hub` or `config`, declared with the library's types), the API reference block
 * lists only methods that exist, and the complete programs (the emulator example, the diagnostics snippet and the
 * quick start) are run against the emulator.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AzureIotHub } from '../../src/index.js';
import { startEmulator, type Emulator } from '../../src/emulator/index.js';

const root = join(import.meta.dirname, '..', '..');

interface Block {
  /** 1-based line of the opening fence. */
  line: number;
  heading: string;
  code: string;
}

async function readmeBlocks(): Promise<Block[]> {
  const text = await readFile(join(root, 'README.md'), 'utf8');
  const lines = text.split('\n');
  const blocks: Block[] = [];
  let heading = '';
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    if (l.startsWith('#')) heading = l.replace(/^#+\s*/, '');
    if (l.trim() !== '```ts') continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && lines[i]!.trim() !== '```'; i++) body.push(lines[i]!);
    blocks.push({ line: start + 1, heading, code: body.join('\n') });
  }
  return blocks;
}

/** Declaration-only blocks (the API reference and the data types): checked by name, not compiled. */
function isReference(b: Block): boolean {
  return /^\s*(class AzureIotHub \{|AzureIotHubTopicType = )/m.test(b.code) || /^import .*\n\nclass AzureIotHub \{/m.test(b.code);
}

/** Free names the README's fragments use, with the types they stand for. */
const FREE_NAMES: Record<string, string> = {
  hub: 'declare const hub: __lib.AzureIotHub;',
  config: 'declare const config: __lib.AzureIotHubConfig;',
  handler: 'declare const handler: __lib.AzureIotHubEvtHandler;',
  cert: 'declare const cert: string;',
  key: 'declare const key: string;',
  sleep: 'declare function sleep(ms: number): Promise<void>;',
  scheduleRebootInto: 'declare function scheduleRebootInto(version: string | undefined): void;',
  payload: 'declare const payload: Uint8Array;',
  packet: 'declare const packet: __codec.Packet;',
  socket: "declare const socket: import('node:net').Socket;",
  handle: 'declare function handle(packet: __codec.Packet): void;',
  readFileSync: "declare const readFileSync: typeof import('node:fs').readFileSync;",
};

function prelude(code: string): string {
  const out = ["import type * as __lib from 'azure-iot-hub';", "import type * as __codec from 'azure-iot-hub/codec';"];
  for (const [name, decl] of Object.entries(FREE_NAMES)) {
    const used = new RegExp(`\\b${name}\\b`).test(code);
    const declared =
      new RegExp(`\\b(const|let|var|function|class)\\s+${name}\\b`).test(code) ||
      new RegExp(`import\\s+(type\\s+)?\\{[^}]*\\b${name}\\b[^}]*\\}`).test(code) ||
      new RegExp(`import\\s+${name}\\b`).test(code);
    if (used && !declared) out.push(decl);
  }
  return out.join('\n') + '\n';
}

describe('README', () => {
  let blocks: Block[];
  beforeAll(async () => {
    blocks = await readmeBlocks();
  });

  it('has TypeScript blocks to check', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(10);
  });

  it('every method in the API reference exists on AzureIotHub, with the getters it names', () => {
    const ref = blocks.find((b) => /class AzureIotHub \{/.test(b.code))!;
    const methods = [...ref.code.matchAll(/^\s{2}([a-zA-Z]+)\(/gm)].map((m) => m[1]!).filter((n) => n !== 'constructor');
    const getters = [...ref.code.matchAll(/^\s{2}readonly ([a-zA-Z]+):/gm)].map((m) => m[1]!);
    expect(methods.length).toBeGreaterThanOrEqual(13);
    for (const m of methods) expect(typeof (AzureIotHub.prototype as unknown as Record<string, unknown>)[m], m).toBe('function');
    for (const g of getters) expect(Object.getOwnPropertyDescriptor(AzureIotHub.prototype, g)?.get, g).toBeTypeOf('function');
  });

  it('every other TypeScript block type-checks against the library (strict)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'readme-snippets-'));
    try {
      const files: string[] = [];
      const where = new Map<string, Block>();
      for (const [i, b] of blocks.entries()) {
        if (isReference(b)) continue;
        const file = join(dir, `snippet-${i}.mts`);
        await writeFile(file, `${prelude(b.code)}${b.code}\nexport {};\n`);
        files.push(file);
        where.set(file, b);
      }
      const program = ts.createProgram(files, {
        target: ts.ScriptTarget.ES2022,
        module: ts.ModuleKind.NodeNext,
        moduleResolution: ts.ModuleResolutionKind.NodeNext,
        strict: true,
        noEmit: true,
        skipLibCheck: true,
        types: ['node'],
        typeRoots: [join(root, 'node_modules', '@types')],
        baseUrl: root,
        paths: {
          'azure-iot-hub': ['src/index.ts'],
          'azure-iot-hub/codec': ['src/codec/index.ts'],
          'azure-iot-hub/emulator': ['src/emulator/index.ts'],
        },
        allowImportingTsExtensions: false,
      });
      const problems = ts
        .getPreEmitDiagnostics(program)
        .filter((d) => d.file !== undefined && files.includes(d.file.fileName))
        .map((d) => {
          const b = where.get(d.file!.fileName)!;
          return `README line ${b.line} (${b.heading}): ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
        });
      expect(problems).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

/** Run a snippet as a program of its own (tsx), its package imports pointed at the sources. */
function runSnippet(code: string, env: Record<string, string>, cwd: string, stop?: AbortSignal): Promise<{ code: number | null; out: string }> {
  const program = code
    .replaceAll("from 'azure-iot-hub/emulator'", `from '${join(root, 'src/emulator/index.ts')}'`)
    .replaceAll("from 'azure-iot-hub/codec'", `from '${join(root, 'src/codec/index.ts')}'`)
    .replaceAll("from 'azure-iot-hub'", `from '${join(root, 'src/index.ts')}'`);
  return new Promise((resolve, reject) => {
    const file = join(cwd, `program-${Math.random().toString(36).slice(2)}.mts`);
    void writeFile(file, program).then(() => {
      const child = spawn(process.execPath, ['--import', 'tsx', file], { cwd: root, env: { ...process.env, ...env } });
      let out = '';
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      stop?.addEventListener('abort', () => child.kill('SIGTERM'), { once: true });
      const onData = (d: Buffer): void => {
        out += d.toString();
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      child.on('error', reject);
      child.on('close', (status) => {
        clearTimeout(timer);
        resolve({ code: status, out });
      });
    }, reject);
  });
}

describe('README programs run', () => {
  let emu: Emulator;
  let dir: string;
  let blocks: Block[];
  beforeAll(async () => {
    blocks = await readmeBlocks();
    dir = await mkdtemp(join(tmpdir(), 'readme-run-'));
    emu = await startEmulator({ hubs: ['my-hub.azure-devices.net'], firmware: false });
  });
  afterAll(async () => {
    await emu.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('the emulator example connects a device, sends telemetry and exits', async () => {
    const b = blocks.find((x) => x.code.includes("from 'azure-iot-hub/emulator'") && x.code.includes('waitForTelemetry'))!;
    const r = await runSnippet(b.code, {}, dir);
    expect(r.out).toBe('');
    expect(r.code).toBe(0);
  }, 40_000);

  it('the quick start reaches READY and updates the twin on a hub (the emulator, by its host name)', async () => {
    const b = blocks.find((x) => x.heading === 'Quick start' && x.code.includes('thermostat-1'))!;
    emu.registerDevice({ deviceId: 'thermostat-1', auth: { type: 'x509-ca' } });
    const creds = await emu.createDeviceCredentials('thermostat-1');
    await writeFile(join(root, '.tmp-readme-thermostat-1.cert.pem'), creds.chain);
    await writeFile(join(root, '.tmp-readme-thermostat-1.key.pem'), creds.key);
    await writeFile(join(dir, 'ca.pem'), emu.ca.cert);
    try {
      // The one change: reach my-hub.azure-devices.net at the emulator's address (the TLS name stays the hub's).
      const code = b.code
        .replace("hostname: 'my-hub.azure-devices.net',", `hostname: 'my-hub.azure-devices.net', address: '127.0.0.1', port: ${emu.hub.port},`)
        .replaceAll("'thermostat-1.cert.pem'", "'.tmp-readme-thermostat-1.cert.pem'")
        .replaceAll("'thermostat-1.key.pem'", "'.tmp-readme-thermostat-1.key.pem'");
      expect(code).not.toBe(b.code);
      const reported = emu.waitFor('twinReported', (e) => e.deviceId === 'thermostat-1', 20_000);
      const stop = new AbortController();
      const run = runSnippet(code, { NODE_EXTRA_CA_CERTS: join(dir, 'ca.pem') }, dir, stop.signal);
      await reported;
      expect(emu.telemetry('thermostat-1')).toHaveLength(1);
      expect(emu.getTwin('thermostat-1').reported).toMatchObject({ firmware: '1.0.0', interval: 60 });
      // The program stays connected, as a device does: stop it.
      stop.abort();
      const { out } = await run;
      expect(out).toContain('ready');
      expect(out).not.toMatch(/Error|error/);
    } finally {
      await rm(join(root, '.tmp-readme-thermostat-1.cert.pem'), { force: true });
      await rm(join(root, '.tmp-readme-thermostat-1.key.pem'), { force: true });
    }
  }, 40_000);

  it('the diagnostics snippet runs', async () => {
    const b = blocks.find((x) => x.code.includes('diagnostics_channel.subscribe'))!;
    const r = await runSnippet(b.code, {}, dir);
    expect(r.code).toBe(0);
  }, 40_000);
});
