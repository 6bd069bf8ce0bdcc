import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { validateTopicName } from '../../src/codec/topic.js';
import { AzureIotHubError } from '../../src/errors.js';
import {
  classifyDpsResponse,
  DPS_GLOBAL_HOSTNAME,
  DPS_SUBSCRIBE_TOPIC,
  dpsPollTopic,
  dpsRegisterPayload,
  dpsRegisterTopic,
  DpsRegistrationStatus,
  type DpsResponseTopic,
  parseDpsResponse,
  parseDpsResponseTopic,
} from '../../src/azure/dps-topics.js';

const OPERATION_ID = '4.d0a671905ea5b2c8.e7173b7b-0e54-4aa0-9d20-aeb1b89e6c7d';
const ASSIGNED_BODY = JSON.stringify({
  operationId: OPERATION_ID,
  status: 'assigned',
  registrationState: {
    registrationId: 'reg-1',
    createdDateTimeUtc: '2020-04-10T03:11:13.0276997Z',
    assignedHub: 'contoso.azure-devices.net',
    deviceId: 'dev-1',
    status: 'assigned',
    substatus: 'initialAssignment',
    lastUpdatedDateTimeUtc: '2020-04-10T03:11:13.2096201Z',
    etag: 'IjYxMDA4ZDQ2LTAwMDAtMDEwMC0wMDAwLTVlOGZlM2QxMDAwMCI=',
    payload: { hello: 'world' },
  },
});
const ERROR_BODY = JSON.stringify({
  errorCode: 401002,
  trackingId: '8ad0463c-6427-4479-9dfa-3e8bb7003e9b',
  message: 'Invalid certificate.',
  timestampUtc: '2020-04-10T05:24:22.4718526Z',
});

function topic(status: number, retryAfterSeconds?: number): DpsResponseTopic {
  return retryAfterSeconds === undefined
    ? { kind: 'dpsResponse', status, rid: '1' }
    : { kind: 'dpsResponse', status, rid: '1', retryAfterSeconds };
}

describe('DPS topics', () => {
  it('subscribe filter and global host are the documented ones', () => {
    expect(DPS_SUBSCRIBE_TOPIC).toBe('$dps/registrations/res/#');
    expect(DPS_GLOBAL_HOSTNAME).toBe('global.azure-devices-provisioning.net');
  });

  it('register: $dps/registrations/PUT/iotdps-register/?$rid={rid}', () => {
    expect(dpsRegisterTopic('1')).toBe('$dps/registrations/PUT/iotdps-register/?$rid=1');
  });

  it('poll: $dps/registrations/GET/iotdps-get-operationstatus/?$rid={rid}&operationId={opId}', () => {
    expect(dpsPollTopic('2', OPERATION_ID)).toBe(
      `$dps/registrations/GET/iotdps-get-operationstatus/?$rid=2&operationId=${OPERATION_ID}`,
    );
  });

  it('poll: an operation id with reserved characters is URL-encoded and stays one valid topic', () => {
    const t = dpsPollTopic('2', 'a&b=c/#');
    expect(t.endsWith('&operationId=a%26b%3Dc%2F%23')).toBe(true);
    expect(() => validateTopicName(t)).not.toThrow();
  });

  it('rejects a bad rid or an empty operation id with EINVAL', () => {
    expect(() => dpsRegisterTopic('a&b')).toThrow(AzureIotHubError);
    expect(() => dpsPollTopic('1', '')).toThrow(/operationId must be a non-empty string/);
  });
});

describe('parseDpsResponseTopic', () => {
  it('202 with $rid then retry-after', () => {
    expect(parseDpsResponseTopic('$dps/registrations/res/202/?$rid=1&retry-after=3')).toEqual({
      kind: 'dpsResponse',
      status: 202,
      rid: '1',
      retryAfterSeconds: 3,
    });
  });

  it('retry-after before $rid', () => {
    expect(parseDpsResponseTopic('$dps/registrations/res/202/?retry-after=5&$rid=7')).toEqual({
      kind: 'dpsResponse',
      status: 202,
      rid: '7',
      retryAfterSeconds: 5,
    });
  });

  it('retry-after absent (final 200)', () => {
    const r = parseDpsResponseTopic('$dps/registrations/res/200/?$rid=1');
    expect(r).toEqual({ kind: 'dpsResponse', status: 200, rid: '1' });
    expect(r && 'retryAfterSeconds' in r).toBe(false);
  });

  it('error status 401', () => {
    expect(parseDpsResponseTopic('$dps/registrations/res/401/?$rid=1')?.status).toBe(401);
  });

  it('a missing $rid is malformed', () => {
    expect(parseDpsResponseTopic('$dps/registrations/res/202/?retry-after=3')).toBeUndefined();
  });

  it('a non-decimal retry-after is malformed', () => {
    expect(parseDpsResponseTopic('$dps/registrations/res/202/?$rid=1&retry-after=soon')).toBeUndefined();
    expect(parseDpsResponseTopic('$dps/registrations/res/202/?$rid=1&retry-after=')).toBeUndefined();
  });

  it('a key that is a prefix of another: retry-afterx is not retry-after, $ridx is not $rid', () => {
    expect(parseDpsResponseTopic('$dps/registrations/res/202/?$rid=1&retry-afterx=9')).toEqual({
      kind: 'dpsResponse',
      status: 202,
      rid: '1',
    });
    expect(parseDpsResponseTopic('$dps/registrations/res/202/?$ridx=1')).toBeUndefined();
  });

  it('a value equal to a key name: $rid=retry-after is a rid, not a retry-after', () => {
    expect(parseDpsResponseTopic('$dps/registrations/res/202/?$rid=retry-after')).toEqual({
      kind: 'dpsResponse',
      status: 202,
      rid: 'retry-after',
    });
  });

  it('hub topics and look-alikes are not DPS responses', () => {
    for (const t of [
      '$iothub/twin/res/200/?$rid=1',
      '$dps/registrations/rez/200/?$rid=1',
      '$dps/registrations/res/20/?$rid=1',
      '$dps/registrations/res/200',
    ]) {
      expect(parseDpsResponseTopic(t)).toBeUndefined();
    }
  });
});

describe('dpsRegisterPayload', () => {
  it('is valid JSON {"registrationId":"<id>"} (not the C library\'s unquoted key)', () => {
    const p = dpsRegisterPayload('reg-1');
    expect(p).toBe('{"registrationId":"reg-1"}');
    expect(JSON.parse(p)).toEqual({ registrationId: 'reg-1' });
  });

  it('adds "payload" when given', () => {
    const p = dpsRegisterPayload('reg-1', { modelId: 'dtmi:com:example:Thermostat;1', n: [1, 2] });
    expect(JSON.parse(p)).toEqual({ registrationId: 'reg-1', payload: { modelId: 'dtmi:com:example:Thermostat;1', n: [1, 2] } });
  });

  it('keeps an explicit null payload', () => {
    expect(JSON.parse(dpsRegisterPayload('reg-1', null))).toEqual({ registrationId: 'reg-1', payload: null });
  });

  it('rejects an unserialisable payload and an invalid registration id with EINVAL', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    expect(() => dpsRegisterPayload('reg-1', cyclic)).toThrow('dps payload cannot be serialised as JSON');
    expect(() => dpsRegisterPayload('reg-1', 10n)).toThrow(AzureIotHubError);
    expect(() => dpsRegisterPayload('reg-1', () => 1)).toThrow(AzureIotHubError);
    expect(() => dpsRegisterPayload('reg.', undefined)).toThrow(/registrationId/);
  });

  it('is valid JSON for any JSON payload (fast-check)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (payload) => {
        const parsed = JSON.parse(dpsRegisterPayload('reg-1', payload)) as { registrationId: string; payload: unknown };
        expect(parsed.registrationId).toBe('reg-1');
        expect(parsed.payload).toEqual(JSON.parse(JSON.stringify(payload)));
      }),
      { numRuns: 300, seed: 0xd95 },
    );
  });
});

describe('parseDpsResponse', () => {
  it('parses the 202 assigning body', () => {
    expect(parseDpsResponse(`{"operationId":"${OPERATION_ID}","status":"assigning"}`)).toEqual({
      operationId: OPERATION_ID,
      status: 'assigning',
    });
  });

  it('parses the final assigned body with registrationState, from bytes', () => {
    const r = parseDpsResponse(new TextEncoder().encode(ASSIGNED_BODY));
    if (r instanceof AzureIotHubError) throw r;
    expect(r.status).toBe(DpsRegistrationStatus.ASSIGNED);
    expect(r.registrationState).toMatchObject({
      assignedHub: 'contoso.azure-devices.net',
      deviceId: 'dev-1',
      status: 'assigned',
      substatus: 'initialAssignment',
      payload: { hello: 'world' },
    });
  });

  it('parses an error body (errorCode, trackingId, message)', () => {
    expect(parseDpsResponse(ERROR_BODY)).toMatchObject({ errorCode: 401002, message: 'Invalid certificate.' });
  });

  it('ignores unknown fields and treats null fields as absent', () => {
    expect(parseDpsResponse('{"operationId":"o","status":"assigning","extra":[1],"trackingId":null}')).toEqual({
      operationId: 'o',
      status: 'assigning',
    });
  });

  const bad: Array<[string, string | Uint8Array, string]> = [
    ['bad JSON', '{"operationId":', 'not JSON'],
    ['not UTF-8', new Uint8Array([0x7b, 0xff, 0x7d]), 'not UTF-8'],
    ['a JSON array', '[1,2]', 'not a JSON object'],
    ['JSON null', 'null', 'not a JSON object'],
    ['operationId of the wrong type', '{"operationId":5,"status":"assigning"}', 'operationId is not a string'],
    ['errorCode of the wrong type', '{"errorCode":"401002"}', 'errorCode is not a number'],
    ['registrationState not an object', '{"operationId":"o","status":"assigned","registrationState":"x"}', 'registrationState is not an object'],
    ['assignedHub of the wrong type', '{"operationId":"o","status":"assigned","registrationState":{"assignedHub":1,"deviceId":"d"}}', 'registrationState.assignedHub is not a string'],
    ['assignedHub without deviceId', '{"operationId":"o","status":"assigned","registrationState":{"assignedHub":"h"}}', 'only one of assignedHub and deviceId'],
    ['neither an operation nor an error', '{"status":"assigning"}', 'neither operationId and status nor errorCode'],
    ['empty body', '', 'not JSON'],
  ];
  for (const [name, body, why] of bad) {
    it(`never throws on ${name}: returns EPROTO`, () => {
      const r = parseDpsResponse(body);
      expect(r).toBeInstanceOf(AzureIotHubError);
      expect((r as AzureIotHubError).code).toBe('EPROTO');
      expect((r as AzureIotHubError).message).toContain(why);
    });
  }

  it('never throws on arbitrary bytes (fast-check)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 64 }), fc.json().map((s) => s), fc.string()), (body) => {
        const r = parseDpsResponse(body);
        expect(r instanceof AzureIotHubError || typeof r === 'object').toBe(true);
      }),
      { numRuns: 500, seed: 0xd95 },
    );
  });
});

describe('classifyDpsResponse', () => {
  it('202 with operationId is pending, carrying retry-after', () => {
    expect(classifyDpsResponse(topic(202, 3), `{"operationId":"${OPERATION_ID}","status":"assigning"}`)).toEqual({
      kind: 'pending',
      operationId: OPERATION_ID,
      retryAfterSeconds: 3,
    });
  });

  it('200 assigned gives the hub and device id (and the custom payload)', () => {
    expect(classifyDpsResponse(topic(200), ASSIGNED_BODY)).toEqual({
      kind: 'assigned',
      assignedHub: 'contoso.azure-devices.net',
      deviceId: 'dev-1',
      payload: { hello: 'world' },
    });
  });

  it('200 assigned without an assignedHub is a failure, never an empty hub', () => {
    const out = classifyDpsResponse(topic(200), `{"operationId":"o","status":"assigned"}`);
    expect(out.kind).toBe('failed');
    if (out.kind === 'failed') expect(out.error.code).toBe('EPROTO');
  });

  it('200 with status failed is a failure carrying the DPS error message and code', () => {
    const out = classifyDpsResponse(
      topic(200),
      JSON.stringify({
        operationId: 'o',
        status: 'failed',
        registrationState: { registrationId: 'r', status: 'failed', errorCode: 400209, errorMessage: 'Custom allocation failed' },
      }),
    );
    expect(out.kind).toBe('failed');
    if (out.kind !== 'failed') return;
    expect(out.error.code).toBe('EIO');
    expect(out.error.message).toContain('failed');
    expect(out.error.message).toContain('400209');
    expect(out.error.message).toContain('Custom allocation failed');
    expect(out.retriable).toBe(false);
  });

  it('200 with status disabled is EACCES', () => {
    const out = classifyDpsResponse(topic(200), '{"operationId":"o","status":"disabled"}');
    expect(out.kind === 'failed' && out.error.code).toBe('EACCES');
  });

  it('200 still assigning is pending (poll again)', () => {
    expect(classifyDpsResponse(topic(200), '{"operationId":"o","status":"assigning"}').kind).toBe('pending');
  });

  it('401 is EACCES, not retriable, with status and DPS message', () => {
    const out = classifyDpsResponse(topic(401), ERROR_BODY);
    expect(out.kind).toBe('failed');
    if (out.kind !== 'failed') return;
    expect(out.error.code).toBe('EACCES');
    expect(out.error.status).toBe(401);
    expect(out.error.message).toContain('Invalid certificate.');
    expect(out.retriable).toBe(false);
  });

  it('429 and 500 are retriable and keep retry-after', () => {
    const t = classifyDpsResponse(topic(429, 7), '{"errorCode":429001,"message":"throttled"}');
    expect(t).toMatchObject({ kind: 'failed', retriable: true, retryAfterSeconds: 7 });
    expect(classifyDpsResponse(topic(500), 'garbage')).toMatchObject({ kind: 'failed', retriable: true });
  });

  it('a malformed body on 200 is EPROTO', () => {
    const out = classifyDpsResponse(topic(200), 'not json');
    expect(out.kind === 'failed' && out.error.code).toBe('EPROTO');
  });

  it('a pending response without operationId is EPROTO', () => {
    const out = classifyDpsResponse(topic(202), '{"errorCode":500000}');
    expect(out.kind === 'failed' && out.error.code).toBe('EPROTO');
  });

  it('a very long DPS message is truncated in the error', () => {
    const out = classifyDpsResponse(topic(400), JSON.stringify({ errorCode: 400004, message: 'x'.repeat(5000) }));
    expect(out.kind === 'failed' && out.error.message.length).toBeLessThan(400);
  });
});
