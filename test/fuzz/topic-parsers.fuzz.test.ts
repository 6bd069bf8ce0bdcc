/**
 * Fuzzing every topic, query and property-bag parser, the library's (`src/azure/topic-parsers.ts`,
 * `property-bag.ts`, `dps-topics.ts`) and the emulator's own (`src/emulator/property-bag.ts`, `hub.ts`, `sas.ts`).
 * Invariants: no parser throws, whatever the string (lone surrogates, NUL, broken escapes included); what a parser
 * accepts is well typed (three-digit status, a `$rid` that can be echoed, decimal versions); and every builder and
 * parser pair round-trips, including across the two independent implementations (the library's encoder against the
 * emulator's decoder, and the reverse).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { dpsPollTopic, parseDpsResponseTopic } from '../../src/azure/dps-topics.js';
import { hubUsername } from '../../src/azure/identity.js';
import { decodePropertyBag, encodePropertyBag, percentDecode, percentEncode } from '../../src/azure/property-bag.js';
import { hubSasToken } from '../../src/azure/sas.js';
import {
  parseDeviceboundTopic,
  parseMethodRequestTopic,
  parseTwinDesiredTopic,
  parseTwinResponseTopic,
  queryValue,
  routeHubTopic,
} from '../../src/azure/topic-parsers.js';
import { RequestIdGenerator, telemetryTopic } from '../../src/azure/topics.js';
import type { AzureIotHubPropBag } from '../../src/azure/types.js';
import { isValidRequestId } from '../../src/azure/validate.js';
import { allowedFilter, parseHubUsername, telemetryTopic as emulatorTelemetryBag } from '../../src/emulator/hub.js';
import { formatPropertyBag, parsePropertyBag, rawTopicParameter, topicParameters } from '../../src/emulator/property-bag.js';
import { parseSasToken, resourceCovers, verifySasToken } from '../../src/emulator/sas.js';
import { anyText, fuzz, fuzzTimeout, mutateString, stringEdits, topicLike } from './fuzz.js';

// ---------------------------------------------------------------------------------------------------------------
// Arbitraries of valid parts

const deviceId = fc.stringMatching(/^[A-Za-z0-9\-.%_*?!(),:=@$']{1,24}$/);
const requestId = fc.stringMatching(/^[!-~]{1,24}$/).filter((r) => !/[&=/?#+]/.test(r));
const hostName = fc.domain();
const status = fc.integer({ min: 100, max: 999 });
const version = fc.integer({ min: 0, max: 999_999_999_999_999 });
/** A property-bag key or value that an encoding can carry: no U+0000 and no unpaired surrogate. */
const bagText = (minLength: number): fc.Arbitrary<string> =>
  fc
    .oneof(
      fc.string({ minLength, maxLength: 16 }),
      fc.string({ minLength, maxLength: 8, unit: 'grapheme' }),
      fc.constantFrom('&', '=', '/', '#', '+', '?', '%', '%24', '$.ct', ' ', '__proto__', '%zz', 'a=b&c'),
    )
    .map((s) => s.replace(/\u0000/g, ''))
    .filter((s) => s.length >= minLength && isWellFormed(s));
const bag: fc.Arbitrary<AzureIotHubPropBag[]> = fc.array(
  fc.record({ key: bagText(1), value: fc.oneof(bagText(0), fc.constant(null)) }),
  { maxLength: 6 },
);
const identity = fc.record({ deviceId });

/** No unpaired UTF-16 surrogate (`String#isWellFormed`, which the ES2022 lib typings lack). */
function isWellFormed(s: string): boolean {
  return !/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(s);
}

/** Run every parser on `topic`; none may throw, and what they accept must be well typed. */
function parseEverything(topic: string, id: { deviceId: string }): void {
  const routed = routeHubTopic(topic, id);
  const twin = parseTwinResponseTopic(topic);
  if (twin !== undefined) {
    expect(Number.isInteger(twin.status) && twin.status >= 0 && twin.status <= 999).toBe(true);
    expect(isValidRequestId(twin.rid)).toBe(true);
    if (twin.version !== undefined) expect(Number.isSafeInteger(twin.version) && twin.version >= 0).toBe(true);
  }
  const desired = parseTwinDesiredTopic(topic);
  if (desired?.version !== undefined) expect(Number.isSafeInteger(desired.version)).toBe(true);
  const method = parseMethodRequestTopic(topic);
  if (method !== undefined) {
    expect(method.name.length).toBeGreaterThan(0);
    expect(method.name).not.toContain('/');
    expect(isValidRequestId(method.rid)).toBe(true);
  }
  const c2d = parseDeviceboundTopic(topic);
  if (c2d !== undefined) {
    expect(c2d.deviceId.length).toBeGreaterThan(0);
    expect(c2d.deviceId).not.toContain('/');
    for (const p of c2d.propBag) expect(typeof p.key).toBe('string');
  }
  parseDeviceboundTopic(topic, id);
  const dps = parseDpsResponseTopic(topic);
  if (dps !== undefined) {
    expect(isValidRequestId(dps.rid)).toBe(true);
    if (dps.retryAfterSeconds !== undefined) expect(Number.isSafeInteger(dps.retryAfterSeconds)).toBe(true);
  }
  if (routed !== undefined) expect(['devicebound', 'twinResponse', 'twinDesired', 'methodRequest']).toContain(routed.kind);
  for (const key of ['$rid', '$version', 'retry-after', '']) queryValue(topic, key);
  percentDecode(topic);
  decodePropertyBag(topic);
  // The emulator's parsers.
  parsePropertyBag(topic);
  topicParameters(topic);
  rawTopicParameter(topic, '$rid');
  parseHubUsername(topic);
  emulatorTelemetryBag(topic, id.deviceId);
  allowedFilter(topic, id.deviceId);
  parseSasToken(topic);
  parseSasToken(`SharedAccessSignature ${topic}`);
}

describe('no parser throws', () => {
  it('on arbitrary strings (any UTF-16, lone surrogates and NUL included)', () => {
    fc.assert(fc.property(anyText, identity, (s, id) => parseEverything(s, id)), fuzz(1500, 250));
  }, fuzzTimeout());

  it('on strings built from topic fragments (prefixes, $rid, %-escapes, wildcards)', () => {
    fc.assert(fc.property(topicLike, identity, (s, id) => parseEverything(s, id)), fuzz(1500, 250));
  }, fuzzTimeout());

  it('on valid hub and DPS topics with random edits', () => {
    const valid = fc.oneof(
      fc.tuple(status, requestId, version).map(([s, r, v]) => `$iothub/twin/res/${s}/?$rid=${r}&$version=${v}`),
      version.map((v) => `$iothub/twin/PATCH/properties/desired/?$version=${v}`),
      fc.tuple(fc.stringMatching(/^[A-Za-z0-9_-]{1,12}$/), requestId).map(([n, r]) => `$iothub/methods/POST/${n}/?$rid=${r}`),
      fc.tuple(deviceId, bag).map(([d, b]) => `devices/${d}/messages/devicebound/${encodePropertyBag(b)}`),
      fc.tuple(status, requestId, fc.nat(99)).map(([s, r, a]) => `$dps/registrations/res/${s}/?$rid=${r}&retry-after=${a}`),
    );
    fc.assert(
      fc.property(valid, stringEdits, identity, (topic, edits, id) => parseEverything(mutateString(topic, edits), id)),
      fuzz(1500, 250),
    );
  }, fuzzTimeout());
});

describe('round trips', () => {
  it('property bags: encode then decode gives the bag back; the encoding holds only unreserved characters, %XX, & and =', () => {
    fc.assert(
      fc.property(bag, (b) => {
        const text = encodePropertyBag(b);
        expect(text).toMatch(/^(?:[A-Za-z0-9\-._~&=]|%[0-9A-F]{2})*$/);
        expect(decodePropertyBag(text)).toEqual(b.map((p) => ({ key: p.key, value: p.value ?? null })));
      }),
      fuzz(1500, 250),
    );
  }, fuzzTimeout());

  it('property bags across implementations: the library encodes what the emulator decodes, and the reverse', () => {
    fc.assert(
      fc.property(bag, (b) => {
        const entries = b.map((p) => ({ key: p.key, value: p.value ?? null }));
        expect(parsePropertyBag(encodePropertyBag(b))).toEqual(entries);
        expect(decodePropertyBag(formatPropertyBag(entries))).toEqual(entries);
      }),
      fuzz(1500, 250),
    );
  }, fuzzTimeout());

  it('telemetry topics: the emulator reads the library’s bag back exactly', () => {
    fc.assert(
      fc.property(deviceId, bag, (d, b) => {
        const topic = telemetryTopic({ deviceId: d }, b);
        const raw = emulatorTelemetryBag(topic, d);
        expect(raw).toBeDefined();
        expect(parsePropertyBag(raw!)).toEqual(b.map((p) => ({ key: p.key, value: p.value ?? null })));
      }),
      fuzz(1000, 250),
    );
  }, fuzzTimeout());

  it('cloud-to-device topics (with and without the "?" before the bag) decode to their bag, for the right device only', () => {
    fc.assert(
      fc.property(deviceId, deviceId, bag, fc.boolean(), (d, other, b, question) => {
        const topic = `devices/${d}/messages/devicebound/${question ? '?' : ''}${formatPropertyBag(b.map((p) => ({ key: p.key, value: p.value ?? null })))}`;
        const parsed = parseDeviceboundTopic(topic, { deviceId: d });
        expect(parsed?.propBag).toEqual(b.map((p) => ({ key: p.key, value: p.value ?? null })));
        if (other !== d) expect(parseDeviceboundTopic(topic, { deviceId: other })).toBeUndefined();
      }),
      fuzz(1000, 250),
    );
  }, fuzzTimeout());

  it('twin responses: status, $rid and $version in any order among other parameters', () => {
    fc.assert(
      fc.property(status, requestId, fc.option(version, { nil: undefined }), fc.array(fc.stringMatching(/^[a-z]{1,5}=[a-z0-9]{0,5}$/), { maxLength: 3 }), fc.nat(), (s, rid, v, extra, order) => {
        const params = [`$rid=${rid}`, ...(v === undefined ? [] : [`$version=${v}`]), ...extra];
        const rotated = params.map((_, i) => params[(i + order) % params.length]!);
        const parsed = parseTwinResponseTopic(`$iothub/twin/res/${s}/?${rotated.join('&')}`);
        expect(parsed).toEqual(v === undefined ? { kind: 'twinResponse', status: s, rid } : { kind: 'twinResponse', status: s, rid, version: v });
      }),
      fuzz(1000, 250),
    );
  }, fuzzTimeout());

  it('method requests and DPS responses', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[^/#+\u0000]{1,16}$/), requestId, status, fc.option(fc.nat(9999), { nil: undefined }), fc.boolean(), (name, rid, s, retry, retryFirst) => {
        expect(parseMethodRequestTopic(`$iothub/methods/POST/${name}/?$rid=${rid}`)).toEqual({ kind: 'methodRequest', name, rid });
        const params = [`$rid=${rid}`, ...(retry === undefined ? [] : [`retry-after=${retry}`])];
        if (retryFirst) params.reverse();
        const parsed = parseDpsResponseTopic(`$dps/registrations/res/${s}/?${params.join('&')}`);
        expect(parsed).toEqual(retry === undefined ? { kind: 'dpsResponse', status: s, rid } : { kind: 'dpsResponse', status: s, rid, retryAfterSeconds: retry });
      }),
      fuzz(1000, 250),
    );
  }, fuzzTimeout());

  it('DPS poll topics: the emulator reads the operationId back whatever its characters, and the $rid verbatim [regression: emulator-rid-decoded]', () => {
    fc.assert(
      fc.property(requestId, bagText(1), (rid, operationId) => {
        const topic = dpsPollTopic(rid, operationId);
        expect(rawTopicParameter(topic, '$rid')).toBe(rid);
        expect(topicParameters(topic).get('operationId')).toBe(operationId);
      }),
      fuzz(1000, 250),
    );
  }, fuzzTimeout());

  it('hub usernames: the emulator reads host, device id, api-version and model-id back', () => {
    const modelId = fc.stringMatching(/^dtmi:[a-z][a-z0-9]{0,6}(:[a-z][a-z0-9_]{0,5}[a-z0-9]){0,3};[1-9][0-9]{0,3}$/);
    fc.assert(
      fc.property(hostName, deviceId, fc.option(modelId, { nil: undefined }), (host, d, model) => {
        const parsed = parseHubUsername(hubUsername(host, { deviceId: d }, model === undefined ? {} : { modelId: model }));
        expect(parsed?.host).toBe(host);
        expect(parsed?.deviceId).toBe(d);
        expect(parsed?.params.get('api-version')).toBe('2021-04-12');
        expect(parsed?.params.get('model-id')).toBe(model);
      }),
      fuzz(1000, 250),
    );
  }, fuzzTimeout());

  it('SAS tokens: the emulator verifies the library’s token with the right key only, for any device id', () => {
    const key = fc.uint8Array({ minLength: 16, maxLength: 64 }).map((b) => Buffer.from(b).toString('base64'));
    fc.assert(
      fc.property(hostName, deviceId, key, key, fc.integer({ min: 1_000_000, max: 4_000_000_000 }), (host, d, k, other, expiry) => {
        const token = parseSasToken(hubSasToken(host, { deviceId: d }, k, expiry));
        expect(token).toBeDefined();
        const covers = (sr: string): boolean => resourceCovers(sr, `${host}/devices/${d}`, (a, b) => a === b);
        expect(verifySasToken(token!, [k], covers, expiry - 1)).toBeUndefined();
        if (other !== k) expect(verifySasToken(token!, [other], covers, expiry - 1)).toBe('bad-signature');
        expect(verifySasToken(token!, [k], covers, expiry)).toBe('expired');
      }),
      fuzz(500, 250),
    );
  }, fuzzTimeout());

  it('request ids from the generator are valid $rid values that parse back; percentEncode/percentDecode are inverses', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER - 10 }), bagText(0), (start, text) => {
        const rid = new RequestIdGenerator(start).next();
        expect(isValidRequestId(rid)).toBe(true);
        expect(parseTwinResponseTopic(`$iothub/twin/res/200/?$rid=${rid}`)?.rid).toBe(rid);
        expect(percentDecode(percentEncode(text))).toBe(text);
      }),
      fuzz(1000, 250),
    );
  }, fuzzTimeout());
});
