/**
 * Fuzzing the JSON handlers: twin documents (`parseTwin`), DPS answers (`parseDpsResponse`, `classifyDpsResponse`),
 * the FOTA schema and decision rules (`parseTwinDocument`, `parseDesiredFirmware`, `parseReportedFirmware`,
 * `decideFota`, `applyMergePatch`), method payloads (`parseJsonPayload`, the emulator's `parseMethodPayload`), the
 * emulator's twin merge (`mergePatch`), the DPS store file, and the command line's payload rendering.
 *
 * Inputs: random bytes, random JSON (keys such as `__proto__`, `constructor`, `$version` and `firmware` on purpose),
 * valid documents with random edits, and parsed objects. Invariants: nothing throws; results are typed or a coded
 * error; merges agree with an independent model of RFC 7396 and never touch `Object.prototype`; error messages never
 * echo a value (a firmware path may carry a SAS signature).
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { checkDpsAssignment } from '../../src/azure/dps/assignment.js';
import { parseDpsAssignmentFile } from '../../src/azure/dps/file-store.js';
import { classifyDpsResponse, parseDpsResponse } from '../../src/azure/dps-topics.js';
import {
  applyMergePatch,
  parseDesiredFirmware,
  parseReportedFirmware,
  parseTwinDocument,
} from '../../src/azure/fota/schema.js';
import { createFotaState, decideFota, fotaDownloadDone, fotaDownloadFailed } from '../../src/azure/fota/state.js';
import { parseJsonPayload } from '../../src/azure/methods.js';
import { parseTwin } from '../../src/azure/twin.js';
import { isValidDeviceId } from '../../src/azure/validate.js';
import { payloadText } from '../../src/cli/payload-text.js';
import { parseMethodPayload } from '../../src/emulator/methods.js';
import { mergePatch, type JsonObject } from '../../src/emulator/twin.js';
import { AzureIotHubError } from '../../src/errors.js';
import { fuzz, fuzzTimeout, mutateString, stringEdits } from './fuzz.js';

const SECRET = 'sig=TOPSECRET';

// ---------------------------------------------------------------------------------------------------------------
// Arbitraries

const KEYS = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', '$version', 'desired', 'reported', 'firmware', 'fwVersion',
  'jobId', 'fwLocation', 'host', 'path', 'protocol', 'sha256', 'size', 'fwUpdateStatus', 'currentFwVersion', 'pendingFwVersion',
  'operationId', 'status', 'registrationState', 'assignedHub', 'deviceId', 'errorCode', 'message', 'payload', 'a', 'b', ''];
const key = fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...KEYS) }, { weight: 1, arbitrary: fc.string({ maxLength: 6 }) });
const scalar = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom('v1', 'v2', '', 'https:', 'http:', 'fw.example', 'fw.example:8443', 'a.bin', `a.bin?${SECRET}`, 'current',
    'downloading', 'applying', 'error', 'assigned', 'assigning', 'failed', 'disabled', 'h.example', 'dev1'),
  fc.string({ maxLength: 10 }),
);
/** JSON values whose object keys are often the ones the handlers look for, and often hostile. */
const { json } = fc.letrec<{ json: unknown }>((tie) => ({
  json: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    scalar,
    fc.array(tie('json'), { maxLength: 3 }),
    fc.array(fc.tuple(key, tie('json')), { maxLength: 5 }).map(objectFrom),
  ),
}));

/** An object built with own properties only (an object literal or assignment would turn `__proto__` into a prototype). */
function objectFrom(entries: ReadonlyArray<readonly [string, unknown]>): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const [k, v] of entries) Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  return o;
}

const jsonObject = fc.array(fc.tuple(key, json), { maxLength: 6 }).map(objectFrom);

/** A desired `firmware` object that is valid, then sometimes broken field by field. */
const firmware = fc
  .record({
    fwVersion: fc.oneof(fc.constantFrom('v2', 'v1', '2.0.0'), fc.integer(), json),
    jobId: fc.oneof(fc.constantFrom('job-1', ''), json),
    fwLocation: fc.oneof(
      fc.record({
        protocol: fc.oneof(fc.constantFrom('https:', 'http:', 'HTTPS', ''), json),
        host: fc.oneof(fc.constantFrom('fw.example', 'fw.example:8443', '[::1]:443', 'a b', 'h:0', 'user@h'), json),
        path: fc.oneof(fc.constantFrom('a.bin', `/x/a.bin?${SECRET}`, `a\n.bin?${SECRET}`, '#frag', '/'), json),
      }),
      json,
    ),
    fwFragmentSize: fc.oneof(fc.integer(), json),
    sha256: fc.oneof(fc.constant(undefined), fc.constant('ab'.repeat(32)), json),
    size: fc.oneof(fc.constant(undefined), fc.integer({ min: -1, max: 1 << 20 }), json),
  }, { requiredKeys: [] })
  .map((f) => JSON.parse(JSON.stringify(f)) as Record<string, unknown>);

const reported = fc.record({
  fwUpdateStatus: fc.oneof(fc.constantFrom('current', 'downloading', 'applying', 'error', 'rolledback', 'weird'), json),
  currentFwVersion: fc.oneof(fc.constantFrom('v1', 'v2'), json),
  pendingFwVersion: fc.oneof(fc.constantFrom('v1', 'v2'), json),
  jobId: fc.oneof(fc.constantFrom('job-1', 'job-2'), json),
}, { requiredKeys: [] });

/** Full twins and desired PATCHes, FOTA-shaped. */
const twinDoc = fc.oneof(
  fc.record({ desired: fc.record({ firmware, $version: fc.integer() }, { requiredKeys: [] }), reported: fc.record({ firmware: reported }, { requiredKeys: [] }) }, { requiredKeys: [] }),
  fc.record({ firmware, $version: fc.integer() }, { requiredKeys: [] }),
  jsonObject,
);

/** Bytes that may or may not be JSON text: JSON text with edits, random bytes, text of random JSON values. */
const jsonishBytes = fc.oneof(
  fc.tuple(twinDoc, fc.option(stringEdits, { nil: undefined })).map(([d, e]) => {
    const text = JSON.stringify(d);
    return new TextEncoder().encode(e === undefined ? text : mutateString(text, e));
  }),
  fc.uint8Array({ maxLength: 64 }),
  json.map((v) => new TextEncoder().encode(JSON.stringify(v) ?? '')),
);

afterEach(() => {
  // Nothing may have been added to the prototype every object shares.
  expect(Object.getOwnPropertyNames(Object.prototype).filter((k) => !BUILTIN_PROTO_KEYS.has(k))).toEqual([]);
});
const BUILTIN_PROTO_KEYS = new Set(Object.getOwnPropertyNames(Object.prototype));

// ---------------------------------------------------------------------------------------------------------------
// A model of RFC 7396 over Maps (no object keys, so no prototype to worry about), to compare merges with.

type Model = null | boolean | number | string | Model[] | Map<string, Model>;

function toModel(v: unknown): Model {
  if (Array.isArray(v)) return v.map(toModel);
  if (typeof v === 'object' && v !== null) return new Map(Object.entries(v).map(([k, x]) => [k, toModel(x)]));
  return v as Model;
}

function mergeModel(target: Model | undefined, patch: Model): Model {
  if (!(patch instanceof Map)) return patch;
  const out = new Map(target instanceof Map ? target : []);
  for (const [k, v] of patch) {
    if (v === null) out.delete(k);
    else out.set(k, mergeModel(out.get(k), v));
  }
  return out;
}

/** A canonical, order-free text form for comparison. */
function canon(m: Model | undefined): string {
  if (m instanceof Map) return `{${[...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => `${JSON.stringify(k)}:${canon(v)}`).join(',')}}`;
  if (Array.isArray(m)) return `[${m.map(canon).join(',')}]`;
  return JSON.stringify(m) ?? 'undefined';
}

// ---------------------------------------------------------------------------------------------------------------

describe('twin documents', () => {
  it('parseTwin: a Twin with numeric $version in desired and reported, or an EPROTO error value; never throws', () => {
    fc.assert(
      fc.property(jsonishBytes, (bytes) => {
        const r = parseTwin(bytes);
        if (r instanceof AzureIotHubError) {
          expect(r.code).toBe('EPROTO');
        } else {
          expect(typeof r.desired.$version).toBe('number');
          expect(typeof r.reported.$version).toBe('number');
        }
      }),
      fuzz(1500, 300),
    );
  }, fuzzTimeout());

  it('parseJsonPayload, the emulator’s parseMethodPayload and the CLI’s payloadText never throw; payloadText writes no raw control character', () => {
    fc.assert(
      fc.property(jsonishBytes, (bytes) => {
        parseJsonPayload(bytes);
        parseMethodPayload(bytes);
        expect(payloadText(bytes)).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
      }),
      fuzz(1500, 300),
    );
  }, fuzzTimeout());
});

describe('DPS answers', () => {
  const dpsBody = fc.oneof(
    jsonishBytes,
    fc.record({
      operationId: fc.oneof(fc.constant('op'), json),
      status: fc.oneof(fc.constantFrom('assigned', 'assigning', 'unassigned', 'failed', 'disabled'), json),
      registrationState: fc.oneof(
        fc.record({ assignedHub: fc.oneof(fc.constantFrom('h.example', '', 'a/b'), json), deviceId: fc.oneof(fc.constantFrom('d', 'a#b'), json), status: json, errorCode: json, errorMessage: json, payload: json }, { requiredKeys: [] }),
        json,
      ),
      errorCode: json,
      message: json,
    }, { requiredKeys: [] }).map((o) => new TextEncoder().encode(JSON.stringify(o))),
  );

  it('parseDpsResponse and classifyDpsResponse: typed results or coded errors, for any status and body; never throw', () => {
    fc.assert(
      fc.property(dpsBody, fc.constantFrom(200, 202, 400, 401, 404, 429, 500, 503, 299, 999), fc.option(fc.nat(100), { nil: undefined }), (body, status, retry) => {
        const parsed = parseDpsResponse(body);
        if (parsed instanceof AzureIotHubError) expect(parsed.code).toBe('EPROTO');
        else {
          for (const k of ['operationId', 'status', 'trackingId', 'message', 'timestampUtc'] as const) {
            if (parsed[k] !== undefined) expect(typeof parsed[k]).toBe('string');
          }
        }
        const topic = retry === undefined ? { kind: 'dpsResponse' as const, status, rid: '1' } : { kind: 'dpsResponse' as const, status, rid: '1', retryAfterSeconds: retry };
        const outcome = classifyDpsResponse(topic, body);
        switch (outcome.kind) {
          case 'pending':
            expect(typeof outcome.operationId).toBe('string');
            expect(status === 200 || status === 202).toBe(true);
            break;
          case 'assigned':
            expect(status).toBe(200);
            expect(outcome.assignedHub.length).toBeGreaterThan(0);
            expect(typeof outcome.deviceId).toBe('string');
            break;
          case 'failed':
            expect(outcome.error).toBeInstanceOf(AzureIotHubError);
            expect(outcome.retriable).toBe(status === 429 || (status >= 500 && status <= 599));
            break;
        }
      }),
      fuzz(1500, 300),
    );
  }, fuzzTimeout());

  it('the DPS store file and stored assignments: an assignment with valid fields, or a reason; never throw', () => {
    fc.assert(
      fc.property(jsonishBytes, jsonObject, (bytes, obj) => {
        for (const r of [parseDpsAssignmentFile(new TextDecoder().decode(bytes)), checkDpsAssignment(obj)]) {
          if (typeof r === 'string') continue;
          expect(isValidDeviceId(r.deviceId)).toBe(true);
          expect(r.assignedHub.length).toBeGreaterThan(0);
        }
      }),
      fuzz(1000, 250),
    );
  }, fuzzTimeout());
});

describe('FOTA schema and decisions', () => {
  it('parseDesiredFirmware / parseReportedFirmware / parseTwinDocument: a valid job (a URL that parses, https or http, no credentials) or a coded error that never echoes a value', () => {
    fc.assert(
      fc.property(fc.oneof(twinDoc, jsonishBytes), (input) => {
        const doc = input as Record<string, unknown> | Uint8Array;
        const t = parseTwinDocument(doc);
        if (t.kind === 'invalid') expect(t.error.code).toBe('ENOMSG');
        const d = parseDesiredFirmware(doc);
        if (d.kind === 'ok') {
          const url = new URL(d.firmware.url);
          expect(['https:', 'http:']).toContain(url.protocol);
          expect(url.username + url.password).toBe('');
          expect(d.firmware.version.length).toBeGreaterThan(0);
        } else if (d.kind === 'invalid') {
          expect(['EINVAL', 'ENOMSG']).toContain(d.error.code);
          expect(d.error.message).not.toContain('TOPSECRET');
        }
        const r = parseReportedFirmware(doc);
        if (r.kind === 'invalid') expect(r.error.message).not.toContain('TOPSECRET');
      }),
      fuzz(1500, 300),
    );
  }, fuzzTimeout());

  it('decideFota from any state and document: never throws; starts only a valid job for another version, and then is downloading', () => {
    const state = fc
      .record({ running: fc.constantFrom('v1', 'v2', '2.0.0'), step: fc.nat(3), doc: twinDoc })
      .map(({ running, step, doc }) => {
        let s = createFotaState(running);
        const d = decideFota(s, doc);
        s = d.state;
        if (step === 1 && s.phase === 'downloading') s = fotaDownloadDone(s).state;
        if (step === 2 && s.phase === 'downloading') s = fotaDownloadFailed(s).state;
        return s;
      });
    fc.assert(
      fc.property(state, fc.oneof(twinDoc, jsonishBytes), fc.boolean(), (s, input, resume) => {
        const d = decideFota(s, input as Record<string, unknown> | Uint8Array, { resumeInterrupted: resume });
        if (d.start !== undefined) {
          expect(d.state.phase).toBe('downloading');
          expect(d.start.version).not.toBe(s.runningVersion);
          expect(() => new URL(d.start!.url)).not.toThrow();
          expect(d.report?.firmware.fwUpdateStatus).toBe('downloading');
        } else {
          expect(d.ignored).toBeDefined();
          expect(d.state.phase).toBe(s.phase);
        }
        if (d.error !== undefined) expect(d.error.message).not.toContain('TOPSECRET');
      }),
      fuzz(1500, 300),
    );
  }, fuzzTimeout());
});

describe('merge patches (RFC 7396)', () => {
  it('applyMergePatch (library) and mergePatch (emulator) agree with a model of RFC 7396, keep __proto__ as an ordinary key, and leave Object.prototype alone', () => {
    fc.assert(
      fc.property(jsonObject, jsonObject, (target, patch) => {
        const expected = canon(mergeModel(toModel(target), toModel(patch)));
        const before = JSON.stringify(target);
        expect(canon(toModel(applyMergePatch(target, patch)))).toBe(expected);
        expect(JSON.stringify(target)).toBe(before); // applyMergePatch works on a copy
        const copy = structuredClone(target) as JsonObject;
        mergePatch(copy, patch as JsonObject);
        expect(canon(toModel(copy))).toBe(expected);
        expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
      }),
      fuzz(1500, 300),
    );
  }, fuzzTimeout());
});
