import { describe, expect, it } from 'vitest';
import { isJsonObject, mergePatch, Twin, type JsonObject } from '../../src/emulator/twin.js';

describe('emulator twin', () => {
  it('merges patches recursively, null deletes, arrays and scalars replace', () => {
    const doc: JsonObject = { a: 1, nested: { x: 1, y: { z: 1 } }, list: [1, 2], gone: true };
    mergePatch(doc, { nested: { y: { z: null, w: 2 }, v: 'new' }, list: [3], gone: null, b: { c: null } });
    expect(doc).toEqual({ a: 1, nested: { x: 1, y: { w: 2 }, v: 'new' }, list: [3], b: {} });
  });

  it('replaces a scalar with an object and copies values (no aliasing of the patch)', () => {
    const doc: JsonObject = { a: 1 };
    const patch = { a: { deep: [1] } };
    mergePatch(doc, patch);
    patch.a.deep.push(2);
    expect(doc).toEqual({ a: { deep: [1] } });
  });

  it('starts at version 1 and bumps each document separately', () => {
    const t = new Twin();
    expect(t.document()).toEqual({ desired: { $version: 1 }, reported: { $version: 1 } });
    expect(t.patchReported({ fw: '1.0' })).toBe(2);
    expect(t.patchDesired({ interval: 5 })).toEqual({ interval: 5, $version: 2 });
    expect(t.patchDesired({ interval: null })).toEqual({ interval: null, $version: 3 });
    expect(t.document()).toEqual({ desired: { $version: 3 }, reported: { fw: '1.0', $version: 2 } });
  });

  it('hands out copies', () => {
    const t = new Twin();
    t.patchReported({ a: { b: 1 } });
    const d = t.document();
    (d.reported['a'] as JsonObject)['b'] = 2;
    expect(t.document().reported['a']).toEqual({ b: 1 });
  });

  it('tells JSON objects from arrays and null', () => {
    expect(isJsonObject({})).toBe(true);
    expect(isJsonObject([])).toBe(false);
    expect(isJsonObject(null)).toBe(false);
    expect(isJsonObject('x')).toBe(false);
  });
});
