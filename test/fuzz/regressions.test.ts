/**
 * Named regression fixtures: every counterexample the fuzz suite and the hostile-input tests found, as a plain test
 * that runs on every `npm test` whatever the fuzz seed. (End-to-end forms of some live in test/hostile, tagged
 * `[regression: <name>]`.)
 */
import { describe, expect, it } from 'vitest';
import { applyMergePatch } from '../../src/azure/fota/schema.js';
import { createFotaState, decideFota } from '../../src/azure/fota/state.js';
import { payloadText } from '../../src/cli/payload-text.js';
import { rawTopicParameter, topicParameters } from '../../src/emulator/property-bag.js';
import { mergePatch, type JsonObject } from '../../src/emulator/twin.js';
import { AzureIotHubError } from '../../src/errors.js';
import { MqttSession } from '../../src/transport/index.js';
import { resolveSessionOptions } from '../../src/transport/options.js';

/** `{"a":{"a":...1...}}` nested `depth` levels: valid JSON, and within 256 KiB for 40 000 levels. */
function deepJson(depth: number): string {
  return '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
}

/** Depth of the `a` chain, counted without recursion. */
function chainDepth(v: unknown): number {
  let n = 0;
  let cur = v as Record<string, unknown> | undefined;
  while (typeof cur === 'object' && cur !== null && 'a' in cur) {
    cur = cur['a'] as Record<string, unknown>;
    n++;
  }
  return n;
}

describe('regressions', () => {
  it('deep-desired-patch: applyMergePatch merges a 40 000-level PATCH without overflowing the stack (it threw RangeError, so a hub could break FOTA and TWIN_DESIRED_RECEIVED)', () => {
    const patch = JSON.parse(deepJson(40_000)) as unknown;
    const merged = applyMergePatch({ keep: 1 }, patch);
    expect(chainDepth(merged)).toBe(40_000);
    expect((merged as Record<string, unknown>)['keep']).toBe(1);
    // And merging into the deep result again still works (the target is walked along the patch only).
    expect(chainDepth(applyMergePatch(merged, { a: { b: 2 } }))).toBe(40_000);
  });

  it('proto-key-merge-patch: a "__proto__" key stays an ordinary member; its contents never become inherited fields of the desired document', () => {
    const hidden = JSON.parse('{"__proto__":{"firmware":{"fwVersion":"v9","fwLocation":{"host":"evil.example","path":"x.bin"}}}}') as unknown;
    const merged = applyMergePatch({}, hidden) as Record<string, unknown>;
    expect(Object.getPrototypeOf(merged)).toBe(Object.prototype);
    expect(Object.keys(merged)).toEqual(['__proto__']);
    expect(merged['firmware']).toBeUndefined();
    // A later PATCH that names firmware must not pick up the hidden location.
    const next = applyMergePatch(merged, { firmware: { fwVersion: 'v2' } }) as Record<string, Record<string, unknown>>;
    expect(next['firmware']).toEqual({ fwVersion: 'v2' });
    const d = decideFota(createFotaState('v1'), { firmware: next['firmware'] });
    expect(d.start).toBeUndefined();
    expect(d.ignored).toBe('invalid');
  });

  it('emulator-proto-pollution: the emulator’s twin mergePatch with a "__proto__" member no longer writes into Object.prototype', () => {
    const reported: JsonObject = {};
    mergePatch(reported, JSON.parse('{"__proto__":{"polluted":"yes"},"a":{"__proto__":{"x":1}}}') as JsonObject);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    expect(Object.getPrototypeOf(reported)).toBe(Object.prototype);
    expect(JSON.stringify(reported)).toBe('{"__proto__":{"polluted":"yes"},"a":{"__proto__":{"x":1}}}');
  });

  it('payload-text-deep-json: the CLI renders JSON nested deeper than JSON.stringify can handle as the text it came as', () => {
    const text = deepJson(40_000);
    expect(() => JSON.stringify(JSON.parse(text))).toThrow(RangeError);
    const shown = payloadText(new TextEncoder().encode(text), 50);
    expect(shown.startsWith('{"a":{"a":')).toBe(true);
    expect(shown).toMatch(/… \(240001 bytes\)$/);
  });

  it('emulator-rid-decoded: the emulator echoes a $rid as received; other parameters are still percent-decoded', () => {
    expect(rawTopicParameter('$iothub/twin/GET/?$rid=a%2Fb', '$rid')).toBe('a%2Fb');
    expect(rawTopicParameter('$iothub/twin/GET/?%24rid=%00', '$rid')).toBe('%00');
    expect(rawTopicParameter('$iothub/twin/GET/?$rid', '$rid')).toBeNull();
    expect(rawTopicParameter('$iothub/twin/GET/', '$rid')).toBeUndefined();
    expect(topicParameters('$dps/x/?$rid=1&operationId=a%2Fb').get('operationId')).toBe('a/b');
  });

  it('random-not-a-function: session options refuse a `random` or `clock` of the wrong type up front (a bad `random` threw from a socket handler at the first reconnection)', () => {
    const base = { host: 'h.example', clientId: 'c' };
    for (const [options, message] of [
      [{ ...base, random: 'x' }, 'random must be a function'],
      [{ ...base, random: 0.5 }, 'random must be a function'],
      [{ ...base, clock: {} }, 'clock must have now(), setTimeout() and clearTimeout()'],
      [{ ...base, clock: null }, 'clock must have now(), setTimeout() and clearTimeout()'],
    ] as const) {
      expect(() => resolveSessionOptions(options as never)).toThrow(message);
      let err: unknown;
      try {
        new MqttSession(options as never);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(AzureIotHubError);
      expect((err as AzureIotHubError).code).toBe('EINVAL');
    }
  });
});
