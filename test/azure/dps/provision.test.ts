/**
 * `provisionDevice` against a scriptable fake DPS (plain TCP on loopback): what goes on the wire (client id,
 * username, SAS password, clean session, subscription, register body, polls), `$rid` correlation, the default wait
 * when `retry-after` is absent, poll retries after 5xx with the same operation, the poll budget, malformed and
 * invalid answers, a refused subscription or CONNECT, cancellation, and the link closing.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { provisionDevice, type ProvisionOptions } from '../../../src/azure/dps/provision.js';
import { dpsSasToken } from '../../../src/azure/sas.js';
import type { ConnectPacket } from '../../../src/codec/index.js';
import { AzureIotHubError } from '../../../src/errors.js';
import { assignedBody, FakeDps, type FakeRequest } from './fake-dps.js';

const KEY = Buffer.alloc(32, 3).toString('base64');
const NOW = Date.UTC(2024, 0, 1);
let dps: FakeDps;

beforeEach(async () => {
  dps = await FakeDps.start();
});

afterEach(async () => {
  await dps.close();
});

function options(overrides: Partial<ProvisionOptions> = {}): ProvisionOptions {
  return {
    idScope: '0ne000ABCDE',
    registrationId: 'dev-1',
    hostname: '127.0.0.1',
    port: dps.port,
    tls: false,
    timeoutMs: 5000,
    defaultRetryAfterMs: 1,
    random: () => 0,
    ...overrides,
  };
}

/** Answer register with 202 (operation `op-1`) and every poll with `final`. */
function simple(final: (req: FakeRequest) => [number, unknown], retryAfter = '&retry-after=0'): void {
  dps.onRequest = (req, conn) => {
    if (req.kind === 'register') conn.answer(202, `$rid=${req.rid}${retryAfter}`, { operationId: 'op-1', status: 'assigning' });
    else {
      const [status, body] = final(req);
      conn.answer(status, `$rid=${req.rid}`, body);
    }
  };
}

async function failure(p: Promise<unknown>): Promise<AzureIotHubError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AzureIotHubError);
  return err as AzureIotHubError;
}

describe('provisionDevice', () => {
  it('registers and polls as DPS documents, then closes with DISCONNECT', async () => {
    simple(() => [200, assignedBody('hub.azure-devices.net', 'dev-1-on-hub', { payload: { tier: 1 } })], '');
    let registering = 0;
    const result = await provisionDevice(options({ payload: { modelId: 'dtmi:x:y;1' }, onRegistering: () => registering++ }));
    expect(result).toEqual({ assignedHub: 'hub.azure-devices.net', deviceId: 'dev-1-on-hub', payload: { tier: 1 } });
    expect(registering).toBe(1);
    const [conn] = dps.connections;
    const connect = conn!.connect!;
    expect(connect).toMatchObject({ clientId: 'dev-1', cleanSession: true, username: '0ne000ABCDE/registrations/dev-1/api-version=2019-03-31' });
    expect(connect.password).toBeUndefined(); // X.509 attestation: no password
    expect(conn!.received.find((p) => p.type === 'subscribe')).toMatchObject({ subscriptions: [{ topic: '$dps/registrations/res/#', qos: 1 }] });
    expect(dps.requests.map((r) => [r.kind, r.qos])).toEqual([['register', 1], ['poll', 1]]);
    const [register, poll] = dps.requests;
    expect(register!.topic).toBe('$dps/registrations/PUT/iotdps-register/?$rid=1');
    expect(JSON.parse(register!.body)).toEqual({ registrationId: 'dev-1', payload: { modelId: 'dtmi:x:y;1' } });
    expect(poll!.topic).toBe('$dps/registrations/GET/iotdps-get-operationstatus/?$rid=2&operationId=op-1');
    expect(poll!.body).toBe('');
    await until(() => conn!.received.at(-1)?.type === 'disconnect');
  });

  it('signs a DPS SAS token (sr={idScope}/registrations/{id}, skn=registration) with the given key', async () => {
    simple(() => [200, assignedBody('hub.azure-devices.net', 'dev-1')]);
    await provisionDevice(options({ symmetricKey: KEY, now: () => NOW, sasTokenTtlSeconds: 600 }));
    const connect = dps.connections[0]!.connect as ConnectPacket;
    const password = new TextDecoder().decode(connect.password);
    expect(password).toBe(dpsSasToken('0ne000ABCDE', 'dev-1', KEY, NOW / 1000 + 600));
    expect(password).toMatch(/^SharedAccessSignature sr=0ne000ABCDE%2Fregistrations%2Fdev-1&sig=[^&]+&se=\d+&skn=registration$/);
  });

  it('ignores answers to other $rids and foreign topics; accepts answers at QoS 1 (and acknowledges them)', async () => {
    dps.onRequest = (req, conn) => {
      conn.answer(200, '$rid=999', assignedBody('wrong.azure-devices.net', 'wrong'));
      conn.send({ type: 'publish', topic: 'devices/dev-1/messages/devicebound/', payload: new Uint8Array(), qos: 0, dup: false, retain: false });
      if (req.kind === 'register') conn.answer(202, `retry-after=0&$rid=${req.rid}`, { operationId: 'op 1/ü', status: 'assigning' }, 1);
      else conn.answer(200, `$rid=${req.rid}`, assignedBody('hub.azure-devices.net', 'dev-1'), 1);
    };
    expect(await provisionDevice(options())).toEqual({ assignedHub: 'hub.azure-devices.net', deviceId: 'dev-1' });
    // The operation id is URL-encoded in the poll topic.
    expect(dps.requests[1]!.operationId).toBe('op 1/ü');
    await until(() => dps.connections[0]!.received.filter((p) => p.type === 'puback').length === 2);
  });

  it('keeps polling while the status is assigning, with the default wait when retry-after is absent', async () => {
    let polls = 0;
    dps.onRequest = (req, conn) => {
      if (req.kind === 'register') conn.answer(202, `$rid=${req.rid}`, { operationId: 'op-1', status: 'assigning' });
      else if (++polls < 3) conn.answer(200, `$rid=${req.rid}`, { operationId: 'op-1', status: 'assigning' });
      else conn.answer(200, `$rid=${req.rid}`, assignedBody('hub.azure-devices.net', 'dev-1'));
    };
    await provisionDevice(options({ defaultRetryAfterMs: 5 }));
    expect(dps.requests.map((r) => r.kind)).toEqual(['register', 'poll', 'poll', 'poll']);
  });

  it('retries a poll answered 500 and 503 with the same operation (backoff, no new registration)', async () => {
    let polls = 0;
    dps.onRequest = (req, conn) => {
      if (req.kind === 'register') conn.answer(202, `$rid=${req.rid}&retry-after=0`, { operationId: 'op-1', status: 'assigning' });
      else if (++polls === 1) conn.answer(500, `$rid=${req.rid}`, { errorCode: 500001, message: 'oops' });
      else if (polls === 2) conn.answer(503, `$rid=${req.rid}`, { errorCode: 503001, message: 'busy' });
      else conn.answer(200, `$rid=${req.rid}`, assignedBody('hub.azure-devices.net', 'dev-1'));
    };
    await provisionDevice(options());
    expect(dps.requests.map((r) => `${r.kind}:${r.operationId ?? ''}`)).toEqual(['register:', 'poll:op-1', 'poll:op-1', 'poll:op-1']);
  });

  it('fails with ETIMEDOUT when the poll budget of a registration runs out', async () => {
    dps.onRequest = (req, conn) => conn.answer(202, `$rid=${req.rid}&retry-after=0`, { operationId: 'op-1', status: 'assigning' });
    const err = await failure(provisionDevice(options({ maxPolls: 3 })));
    expect(err.code).toBe('ETIMEDOUT');
    expect(err.message).toMatch(/after 3 polls/);
    expect(dps.requests.filter((r) => r.kind === 'poll')).toHaveLength(3);
  });

  it('fails with EPROTO for a malformed answer, and for an assignment IoT Hub cannot use', async () => {
    simple(() => [200, 'not json']);
    expect((await failure(provisionDevice(options()))).code).toBe('EPROTO');
    simple(() => [200, assignedBody('hub.azure-devices.net', 'bad#id')]);
    expect(await failure(provisionDevice(options()))).toMatchObject({ code: 'EPROTO', message: expect.stringMatching(/device id/) as string });
    simple(() => [200, assignedBody('bad host/name', 'dev-1')]);
    expect(await failure(provisionDevice(options()))).toMatchObject({ code: 'EPROTO', message: expect.stringMatching(/host name/) as string });
  });

  it('gives a failed registration the status of its errorCode', async () => {
    simple(() => [200, { operationId: 'op-1', status: 'failed', registrationState: { status: 'failed', errorCode: 404201, errorMessage: 'no hub' } }]);
    expect(await failure(provisionDevice(options()))).toMatchObject({ code: 'EIO', status: 404, message: expect.stringMatching(/errorCode 404201.*no hub/) as string });
  });

  it('fails with EACCES when DPS refuses the subscription, and ECONNREFUSED with the code when it refuses the CONNECT', async () => {
    dps.granted = 0x80;
    expect((await failure(provisionDevice(options()))).code).toBe('EACCES');
    expect(dps.requests).toHaveLength(0);
    dps.granted = 1;
    dps.connack = 5;
    expect(await failure(provisionDevice(options()))).toMatchObject({ code: 'ECONNREFUSED', connack: 5 });
  });

  it('fails with ECONNRESET when DPS closes the link during the registration', async () => {
    dps.onRequest = (_req, conn) => conn.close();
    expect((await failure(provisionDevice(options()))).code).toBe('ECONNRESET');
  });

  it('fails with ECONNREFUSED when nothing listens', async () => {
    const port = dps.port;
    await dps.close();
    dps = await FakeDps.start(); // for afterEach
    expect((await failure(provisionDevice(options({ port })))).code).toBe('ECONNREFUSED');
  });

  it('is cancelled by its signal (ECANCELED), also before it starts', async () => {
    const ac = new AbortController();
    dps.onRequest = () => ac.abort();
    expect((await failure(provisionDevice(options({ signal: ac.signal })))).code).toBe('ECANCELED');
    expect((await failure(provisionDevice(options({ signal: AbortSignal.abort() })))).code).toBe('ECANCELED');
    expect(dps.connections).toHaveLength(1);
  });

  it('refuses bad options with EINVAL', async () => {
    expect((await failure(provisionDevice(options({ registrationId: 'bad id' })))).code).toBe('EINVAL');
    expect((await failure(provisionDevice(options({ payload: { n: 1n } })))).code).toBe('EINVAL');
  });
});

async function until(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 2));
  }
}
