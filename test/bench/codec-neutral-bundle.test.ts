/**
 * `azure-iot-hub/codec` is runtime-neutral: bundled with esbuild for `--platform=neutral` it needs no Node built-in
 * and no `Buffer`, and the bundle works where only the JavaScript built-ins and TextEncoder/TextDecoder exist.
 */
import { runInNewContext } from 'node:vm';
import { fileURLToPath } from 'node:url';
import { build, type BuildResult } from 'esbuild';
import { beforeAll, describe, expect, it } from 'vitest';

const entry = fileURLToPath(new URL('../../src/codec/index.ts', import.meta.url));
const NODE_BUILTINS = ['buffer', 'crypto', 'events', 'fs', 'net', 'os', 'path', 'stream', 'tls', 'util', 'zlib', 'process'];

let esm: { text: string; result: BuildResult<{ metafile: true; write: false }> };
let iife: string;

beforeAll(async () => {
  const result = await build({ entryPoints: [entry], bundle: true, minify: true, platform: 'neutral', format: 'esm', write: false, metafile: true, logLevel: 'silent' });
  esm = { text: result.outputFiles[0]!.text, result };
  const global = await build({ entryPoints: [entry], bundle: true, platform: 'neutral', format: 'iife', globalName: 'codec', write: false, logLevel: 'silent' });
  iife = global.outputFiles[0]!.text;
});

describe('the codec bundled with esbuild --platform=neutral', () => {
  it('builds without errors or warnings and imports nothing', () => {
    expect(esm.result.errors).toEqual([]);
    expect(esm.result.warnings).toEqual([]);
    const outputs = Object.values(esm.result.metafile.outputs);
    expect(outputs).toHaveLength(1);
    expect(outputs[0]!.imports).toEqual([]);
  });

  it('has only src/codec (and the shared errors) among its inputs, no node: module', () => {
    const inputs = Object.keys(esm.result.metafile.inputs);
    expect(inputs.length).toBeGreaterThan(3);
    for (const input of inputs) {
      expect(input).not.toMatch(/^node:/);
      expect(input).toMatch(/^src\/(codec\/|errors\.ts$)/);
    }
  });

  it('references no Node built-in, Buffer, process or require in its output', () => {
    const text = esm.text;
    expect(text).not.toMatch(/\bnode:/);
    expect(text).not.toMatch(/\bBuffer\b/);
    expect(text).not.toMatch(/\brequire\s*\(/);
    expect(text).not.toMatch(/\bprocess\./);
    for (const m of NODE_BUILTINS) expect(text).not.toMatch(new RegExp(`from\\s*["']${m}["']`));
  });

  it('encodes and decodes in a context that has only the JavaScript built-ins and TextEncoder/TextDecoder', () => {
    const context: Record<string, unknown> = { TextEncoder, TextDecoder };
    // Everything runs inside the context, so the Uint8Arrays are that realm's own (as in a browser or a worker).
    runInNewContext(`${iife}
      const bytes = codec.encode({ type: 'publish', topic: 'devices/d/messages/events/a=1', payload: Uint8Array.of(104, 195, 169),
        qos: 1, dup: false, retain: false, messageId: 7 });
      const packet = codec.decode(bytes);
      this.result = { type: packet.type, topic: packet.topic, messageId: packet.messageId, payload: Array.from(packet.payload),
        size: bytes.length, pingreq: Array.from(codec.encode({ type: 'pingreq' })) };`, context);
    const result = context['result'] as { type: string; topic: string; messageId: number; payload: number[]; size: number; pingreq: number[] };
    expect(result).toEqual({ type: 'publish', topic: 'devices/d/messages/events/a=1', messageId: 7, payload: [104, 195, 169], size: 2 + 2 + 29 + 2 + 3,
      pingreq: [0xc0, 0] });
    expect(typeof context['Buffer']).toBe('undefined');
    expect(typeof context['process']).toBe('undefined');
  });
});
