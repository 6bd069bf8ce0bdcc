/**
 * No secret ever leaves through an error, an event, a diagnostics message or the command line's output.
 *
 * Every `azure-iot-hub:*` diagnostics channel the sources define is subscribed (found by scanning `src/`, so a new
 * channel is covered without editing this file), and every event, every error (with its whole `cause` chain, its
 * `stack` and every own property) and every rejection is recorded over a set of representative runs against the
 * emulator: SAS connect and use, a bad SAS key, a malformed SAS key, DPS with an individual and a group symmetric
 * key (and a wrong one), X.509 with an encrypted private key and its passphrase (and a wrong passphrase), FOTA with
 * a blob-SAS-style query in the firmware URL (a good and a failing download), and the `device` command line. The
 * recorded text must not contain a SAS key, a derived device key, a token's `sig=` value (raw or URL-encoded), a
 * private key PEM (any line of its body) or a passphrase. The scanner itself is checked first with planted secrets.
 */
import { createPrivateKey } from 'node:crypto';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { EventEmitter } from 'node:events';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AzureIotHub, type AzureIotHubOptions } from '../../src/azure/client.js';
import { MemoryDpsStore } from '../../src/azure/dps/memory-store.js';
import { DEFAULT_DPS_SAS_TTL_SECONDS } from '../../src/azure/dps/provision.js';
import { MemoryFirmwareSlot } from '../../src/azure/fota/memory-slot.js';
import { deriveGroupDeviceKey, dpsSasToken, hubSasToken, sasExpiry } from '../../src/azure/sas.js';
import type { AzureIotHubConfig, AzureIotHubEvt } from '../../src/azure/types.js';
import { startEmulator, type Emulator } from '../../src/emulator/emulator.js';
import type { EmulatorEventMap } from '../../src/emulator/types.js';
import { run } from '../cli/helpers.js';

// ---------------------------------------------------------------------------------------------------------------
// The corpus: everything the library said, as text

const SRC = join(import.meta.dirname, '..', '..', 'src');

/** Every `azure-iot-hub:...` channel name written as a string literal anywhere under src/. */
async function channelNames(): Promise<string[]> {
  const names = new Set<string>();
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) await walk(path);
      else if (entry.name.endsWith('.ts')) {
        for (const m of (await readFile(path, 'utf8')).matchAll(/['"`](azure-iot-hub:[a-z0-9:-]+)['"`]/g)) names.add(m[1]!);
      }
    }
  };
  await walk(SRC);
  return [...names].sort();
}

/**
 * Flatten a value into text: strings, numbers, error messages, stacks, codes and causes, every own property
 * (enumerable or not), array items, Map entries, and `Uint8Array`s decoded as UTF-8 and as Latin-1. Event emitters
 * (sockets, sessions) are not walked into: they are plumbing, not messages.
 */
function flatten(value: unknown, out: string[], seen = new Set<unknown>(), depth = 0): void {
  if (value === null || value === undefined || depth > 12) return;
  switch (typeof value) {
    case 'string':
      out.push(value);
      return;
    case 'number':
    case 'bigint':
    case 'boolean':
      out.push(String(value));
      return;
    case 'symbol':
    case 'function':
      return;
  }
  if (seen.has(value)) return;
  seen.add(value);
  if (value instanceof Uint8Array) {
    out.push(new TextDecoder().decode(value), Buffer.from(value).toString('latin1'));
    return;
  }
  if (value instanceof EventEmitter && !(value instanceof Error)) return;
  if (value instanceof Map) {
    for (const [k, v] of value) {
      flatten(k, out, seen, depth + 1);
      flatten(v, out, seen, depth + 1);
    }
    return;
  }
  if (value instanceof Error) out.push(String(value), value.stack ?? '');
  for (const k of Object.getOwnPropertyNames(value)) {
    out.push(k);
    let v: unknown;
    try {
      v = (value as Record<string, unknown>)[k];
    } catch {
      continue;
    }
    flatten(v, out, seen, depth + 1);
  }
}

interface Recorded {
  label: string;
  text: string;
}

class Corpus {
  readonly records: Recorded[] = [];
  readonly stats = { events: 0, errors: 0, causes: 0, stacks: 0, channels: new Map<string, number>(), cli: 0 };

  add(label: string, value: unknown): void {
    const out: string[] = [];
    flatten(value, out);
    this.records.push({ label, text: out.join('\n') });
    if (value instanceof Error) {
      this.stats.errors++;
      if (value.stack !== undefined) this.stats.stacks++;
      if (value.cause !== undefined) this.stats.causes++;
    }
  }

  /** Record an event and every error in it. */
  event(scenario: string, evt: unknown): void {
    this.stats.events++;
    // The payload of a received message is the hub's own data handed to the application (a twin document holds
    // the firmware URL, blob SAS and all, by definition): everything else in the event is scanned.
    const msg = (evt as { data?: { msg?: { payload?: unknown } } }).data?.msg;
    const scanned = msg === undefined ? evt : { ...(evt as object), data: { ...(evt as { data: object }).data, msg: { ...msg, payload: '(received payload)' } } };
    this.add(`${scenario}: event ${(evt as { type?: string }).type ?? ''}`, scanned);
    const err = (evt as { data?: { err?: unknown; fota?: { error?: unknown } } }).data;
    if (err?.err instanceof Error) this.add(`${scenario}: event error`, err.err);
    if (err?.fota?.error instanceof Error) this.add(`${scenario}: fota error`, err.fota.error);
  }

  /** Await `p`; record its rejection (if any) and return it. */
  async settle(scenario: string, p: Promise<unknown>): Promise<unknown> {
    try {
      await p;
      return undefined;
    } catch (err) {
      this.add(`${scenario}: rejection`, err);
      return err;
    }
  }

  since(n: number): Recorded[] {
    return this.records.slice(n);
  }
}

/** Forms of a secret that must never appear: as given, URL-encoded, and for a PEM every body line. */
function forms(secret: string): string[] {
  if (secret.includes('-----BEGIN')) {
    return secret
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l.length >= 16 && !l.startsWith('-----'));
  }
  return [...new Set([secret, encodeURIComponent(secret)])];
}

/** The records that contain any form of any secret, as `label: secret name`. */
function leaks(records: readonly Recorded[], secrets: Readonly<Record<string, string>>): string[] {
  const found: string[] = [];
  for (const [name, secret] of Object.entries(secrets)) {
    for (const f of forms(secret)) {
      for (const r of records) if (r.text.includes(f)) found.push(`${r.label}: ${name}`);
    }
  }
  return [...new Set(found)];
}

/** The `sig` of a token, raw (base64) and as it appears in the token (URL-encoded). */
function sigOf(token: string): string {
  const m = /[?&\s]sig=([^&]+)/.exec(token);
  if (m === null) throw new Error('no sig in token');
  return decodeURIComponent(m[1]!);
}

// ---------------------------------------------------------------------------------------------------------------

const corpus = new Corpus();
const secrets: Record<string, string> = {};
const unsubscribers: Array<() => void> = [];
let channels: string[] = [];
let emu: Emulator;
let dir: string;
const NOW = Date.now();
const options: AzureIotHubOptions = { now: () => NOW, random: () => 0.001 };
const live: AzureIotHub[] = [];

beforeAll(async () => {
  channels = await channelNames();
  for (const name of channels) {
    const fn = (message: unknown): void => {
      corpus.stats.channels.set(name, (corpus.stats.channels.get(name) ?? 0) + 1);
      corpus.add(`channel ${name}`, message);
    };
    subscribe(name, fn);
    unsubscribers.push(() => unsubscribe(name, fn));
  }
  emu = await startEmulator({ dpsRetryAfterSeconds: 0, c2dRedeliveryMs: 0 });
  // The emulator is part of the package: its events must not carry secrets either.
  const names: Array<keyof EmulatorEventMap> = ['connect', 'connectRefused', 'disconnect', 'subscribe', 'twinRequest', 'methodResponse',
    'dpsRegistration', 'protocolViolation', 'c2d'];
  for (const n of names) emu.on(n, (e: unknown) => corpus.add(`emulator ${n}`, e));
  dir = await mkdtemp(join(tmpdir(), 'secrets-'));
});

afterAll(async () => {
  for (const u of unsubscribers) u();
  for (const hub of live) if (hub.state === 'CONNECTED' || hub.state === 'CONNECTING') await hub.disconnect().catch(() => undefined);
  await emu.close();
  await rm(dir, { recursive: true, force: true });
});

/** A client whose every event goes into the corpus; resolves once `until` happened (or rejects after 5 s). */
function client(scenario: string, config: AzureIotHubConfig, opts: AzureIotHubOptions = options) {
  const hub = new AzureIotHub(opts);
  live.push(hub);
  const events: AzureIotHubEvt[] = [];
  const waiters: Array<() => void> = [];
  hub.init(config, (evt) => {
    events.push(evt);
    corpus.event(scenario, evt);
    for (const w of [...waiters]) w();
  });
  const waitFor = (type: AzureIotHubEvt['type'], n = 1): Promise<void> =>
    new Promise((resolve, reject) => {
      const check = (): boolean => events.filter((e) => e.type === type).length >= n;
      if (check()) return resolve();
      const timer = setTimeout(() => reject(new Error(`${scenario}: no ${type}; saw ${events.map((e) => e.type).join(', ')}`)), 5000);
      waiters.push(() => {
        if (check()) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
  return { hub, events, waitFor };
}

function hubConfig(deviceId: string, extra: Partial<AzureIotHubConfig>): AzureIotHubConfig {
  return { deviceId, hostname: emu.hub.host, address: emu.hub.address, port: emu.hub.port, credentials: { ca: emu.ca.cert }, ...extra };
}

describe('the scanner', () => {
  it('finds secrets planted in a message, a cause chain, a non-enumerable property, a stack, a Map and bytes', () => {
    const planted = new Corpus();
    const deep = new Error('outer', { cause: new Error('middle', { cause: { note: 'sig=PLANTED-SIG' } }) });
    planted.add('cause chain', deep);
    const hidden = new Error('x');
    Object.defineProperty(hidden, 'token', { value: 'PLANTED-TOKEN', enumerable: false });
    planted.add('hidden property', hidden);
    const stacked = new Error('y');
    stacked.stack = 'Error: y\n    at PLANTED-STACK (file.js:1:1)';
    planted.add('stack', stacked);
    planted.add('map', new Map([['k', 'PLANTED-MAP']]));
    planted.add('bytes', { payload: new TextEncoder().encode('xxPLANTED-BYTESxx') });
    planted.add('encoded', 'sr=a&sig=PLANTED%2BSIG%3D');
    expect(
      leaks(planted.records, {
        sig: 'PLANTED-SIG',
        token: 'PLANTED-TOKEN',
        stack: 'PLANTED-STACK',
        map: 'PLANTED-MAP',
        bytes: 'PLANTED-BYTES',
        encoded: 'PLANTED+SIG=',
      }),
    ).toEqual(['cause chain: sig', 'hidden property: token', 'stack: stack', 'map: map', 'bytes: bytes', 'encoded: encoded']);
  });

  it('finds every azure-iot-hub diagnostics channel in the sources', () => {
    expect(channels).toEqual(expect.arrayContaining([
      'azure-iot-hub:mqtt:connect',
      'azure-iot-hub:mqtt:packet-sent',
      'azure-iot-hub:mqtt:packet-received',
      'azure-iot-hub:mqtt:disconnect',
      'azure-iot-hub:mqtt:warning',
      'azure-iot-hub:dps:warning',
      'azure-iot-hub:fota',
    ]));
  });
});

describe('representative runs', () => {
  it('SAS: connect, telemetry, twin, a method, a C2D message, a second connection replacing the first, disconnect', async () => {
    const reg = emu.registerDevice({ deviceId: 'sec-sas', auth: { type: 'sas' } });
    const key = reg.primaryKey!;
    secrets['sas key'] = key;
    secrets['sas key (secondary)'] = reg.secondaryKey ?? key;
    const expiry = sasExpiry(NOW, 3600);
    secrets['hub sas sig'] = sigOf(hubSasToken(emu.hub.host, { deviceId: 'sec-sas' }, key, expiry));
    const { hub, waitFor } = client('sas', hubConfig('sec-sas', { sasKey: key }));
    await hub.connect();
    await waitFor('TWIN_RECEIVED');
    await hub.sendEvent({ t: 1 }, { k: 'v' });
    await hub.updateReported({ r: 1 });
    hub.onMethod('m', () => ({ status: 200, payload: { ok: true } }));
    await emu.invokeMethod('sec-sas', 'm', { a: 1 });
    emu.sendC2D('sec-sas', 'hello');
    await waitFor('DATA_RECEIVED');
    // A stray PUBACK (a warning on the diagnostics channel), then a protocol error and a reconnection, so that the
    // warning and error paths with causes are recorded too.
    emu.faults.sendRaw('sec-sas', Uint8Array.of(0x40, 2, 0x7f, 0x7f));
    emu.faults.sendRaw('sec-sas', Uint8Array.of(0xf0, 0));
    await waitFor('READY', 2);
    await corpus.settle('sas', hub.disconnect());
    expect(leaks(corpus.records, secrets)).toEqual([]);
  });

  it('a wrong SAS key, an expired token clock, and a malformed key: refusals and EINVAL, no key or signature in them', async () => {
    emu.registerDevice({ deviceId: 'sec-bad', auth: { type: 'sas' } });
    const wrong = Buffer.alloc(32, 0x5a).toString('base64');
    secrets['wrong sas key'] = wrong;
    secrets['wrong key sig'] = sigOf(hubSasToken(emu.hub.host, { deviceId: 'sec-bad' }, wrong, sasExpiry(NOW, 3600)));
    const bad = client('bad sas', hubConfig('sec-bad', { sasKey: wrong, reconnect: false }));
    await corpus.settle('bad sas', bad.hub.connect());
    await bad.waitFor('CONNECTION_FAILED');
    // A clock an hour and a half late: the token is expired when the hub checks it.
    const late = client('expired', hubConfig('sec-bad', { sasKey: wrong, reconnect: false }), { now: () => NOW - 5_400_000 });
    secrets['expired token sig'] = sigOf(hubSasToken(emu.hub.host, { deviceId: 'sec-bad' }, wrong, sasExpiry(NOW - 5_400_000, 3600)));
    await corpus.settle('expired', late.hub.connect());
    await late.waitFor('CONNECTION_FAILED');
    const malformed = 'c2VjcmV0!not*base64';
    secrets['malformed key'] = malformed;
    for (const cfg of [hubConfig('sec-bad', { sasKey: malformed }), { deviceId: 'sec-bad', dps: { idScope: emu.dps.idScope, symmetricKey: malformed } }]) {
      try {
        new AzureIotHub().init(cfg, () => undefined);
      } catch (err) {
        corpus.add('malformed key', err);
      }
    }
    expect(corpus.stats.errors).toBeGreaterThan(2);
    expect(leaks(corpus.records, secrets)).toEqual([]);
  });

  it('DPS with symmetric keys: an individual enrollment, a group (derived device key), and a wrong key', async () => {
    const individual = emu.addEnrollment({ registrationId: 'sec-dps-ind', attestation: { type: 'sas' } });
    const group = emu.addEnrollmentGroup({ groupId: 'sec-group', attestation: { type: 'sas' } });
    const indKey = (individual.attestation as { primaryKey: string }).primaryKey;
    const groupKey = (group.attestation as { primaryKey: string }).primaryKey;
    const derived = deriveGroupDeviceKey(groupKey, 'sec-dps-member');
    Object.assign(secrets, {
      'dps individual key': indKey,
      'dps group key': groupKey,
      'derived device key': derived,
      'dps individual sig': sigOf(dpsSasToken(emu.dps.idScope, 'sec-dps-ind', indKey, sasExpiry(NOW, DEFAULT_DPS_SAS_TTL_SECONDS))),
      'dps member sig': sigOf(dpsSasToken(emu.dps.idScope, 'sec-dps-member', derived, sasExpiry(NOW, DEFAULT_DPS_SAS_TTL_SECONDS))),
      'hub sig of the derived key': sigOf(hubSasToken(emu.hub.host, { deviceId: 'sec-dps-member' }, derived, sasExpiry(NOW, 3600))),
    });
    const dps = (registrationId: string, symmetricKey: string, groupKeyFlag: boolean): AzureIotHubConfig => ({
      deviceId: registrationId,
      address: emu.hub.address,
      port: emu.hub.port,
      credentials: { ca: emu.ca.cert },
      reconnect: false,
      dps: {
        idScope: emu.dps.idScope,
        hostname: emu.dps.host,
        address: emu.dps.address,
        port: emu.dps.port,
        symmetricKey,
        ...(groupKeyFlag ? { groupKey: true } : {}),
        store: new MemoryDpsStore(),
        timeoutMs: 5000,
      },
    });
    // The individual enrollment starts from a corrupt store file (a DPS warning names the file, never a key).
    const storePath = join(dir, 'dps-store.json');
    await writeFile(storePath, `{"version":1,"assignedHub":"${indKey}"`);
    for (const [id, key, isGroup] of [['sec-dps-ind', indKey, false], ['sec-dps-member', groupKey, true]] as const) {
      const cfg = dps(id, key, isGroup);
      if (!isGroup) {
        const { store: _memory, ...rest } = cfg.dps!;
        cfg.dps = { ...rest, storePath };
      }
      const c = client(`dps ${id}`, cfg);
      await c.hub.connect();
      await c.waitFor('READY');
      await c.hub.sendEvent('x');
      await corpus.settle('dps', c.hub.disconnect());
    }
    const wrong = Buffer.alloc(32, 0x33).toString('base64');
    secrets['wrong dps key'] = wrong;
    const failing = client('dps wrong key', dps('sec-dps-ind', wrong, false));
    const err = await corpus.settle('dps wrong key', failing.hub.connect());
    expect(err).toBeInstanceOf(Error);
    await failing.waitFor('DPS_FAILED');
    expect(leaks(corpus.records, secrets)).toEqual([]);
  });

  it('X.509 with an encrypted private key and its passphrase; then a wrong passphrase', async () => {
    emu.registerDevice({ deviceId: 'sec-x509' });
    const creds = await emu.createDeviceCredentials('sec-x509');
    const passphrase = 'correct horse battery staple 42';
    const encrypted = createPrivateKey(creds.key).export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase }) as string;
    Object.assign(secrets, { 'private key PEM': creds.key, 'encrypted private key PEM': encrypted, passphrase });
    const good = client('x509', hubConfig('sec-x509', { credentials: { ca: emu.ca.cert, cert: creds.chain, key: encrypted, passphrase } }));
    await good.hub.connect();
    await good.waitFor('READY');
    await corpus.settle('x509', good.hub.disconnect());
    const wrongPassphrase = 'not the passphrase 99';
    secrets['wrong passphrase'] = wrongPassphrase;
    const bad = client('x509 wrong passphrase', hubConfig('sec-x509', { reconnect: false, credentials: { ca: emu.ca.cert, cert: creds.chain, key: encrypted, passphrase: wrongPassphrase } }));
    const err = await corpus.settle('x509 wrong passphrase', bad.hub.connect());
    expect((err as { code?: string }).code).toBe('EINVAL');
    // A certificate whose key does not match: TLS refuses it.
    const other = await emu.createDeviceCredentials('sec-x509');
    secrets['other private key PEM'] = other.key;
    const mismatch = client('x509 mismatch', hubConfig('sec-x509', { reconnect: false, credentials: { ca: emu.ca.cert, cert: creds.chain, key: other.key } }));
    await corpus.settle('x509 mismatch', mismatch.hub.connect());
    expect(leaks(corpus.records, secrets)).toEqual([]);
  });

  it('FOTA with a blob-SAS query in the firmware URL: a good download and a failing one', async () => {
    const reg = emu.registerDevice({ deviceId: 'sec-fota', auth: { type: 'sas' } });
    secrets['fota device key'] = reg.primaryKey!;
    const image = new Uint8Array(5000).map((_, i) => i & 0xff);
    emu.publishFirmware('/fw/app-v2.bin', image);
    const blobSig = 'Zm90YS1ibG9iLXNpZ25hdHVyZS1zZWNyZXQ%3D';
    secrets['blob sas sig'] = decodeURIComponent(blobSig);
    const debug: unknown[] = [];
    const { hub, waitFor } = client(
      'fota',
      hubConfig('sec-fota', {
        sasKey: reg.primaryKey!,
        fota: { currentVersion: 'v1', storage: new MemoryFirmwareSlot(), ca: emu.ca.cert, onDebug: (m) => debug.push(m), onProgress: (p) => corpus.add('fota progress', p) },
      }),
      { ...options, fota: { download: { retry: { initialDelayMs: 1, maxDelayMs: 2, maxAttempts: 2 } }, reportRetryMs: 20 } },
    );
    await hub.connect();
    await waitFor('READY');
    const fw = emu.firmwareServer!;
    const location = (path: string): Record<string, unknown> => ({ protocol: 'https:', host: fw.hostWithPort, path });
    emu.updateDesired('sec-fota', { firmware: { fwVersion: 'v2', jobId: 'job-2', fwLocation: location(`fw/app-v2.bin?sv=2020-10-02&se=2099-01-01&sr=b&sp=r&sig=${blobSig}`) } });
    await waitFor('FOTA_DONE');
    emu.updateDesired('sec-fota', { firmware: { fwVersion: 'v3', jobId: 'job-3', fwLocation: location(`fw/missing.bin?sv=2020-10-02&sig=${blobSig}`) } });
    await waitFor('FOTA_ERROR');
    for (const m of debug) corpus.add('fota onDebug', m);
    expect(debug.length).toBeGreaterThan(3);
    await corpus.settle('fota', hub.disconnect());
    expect(leaks(corpus.records, secrets)).toEqual([]);
  });

  it('the device command line: a SAS run that sends a message, a wrong key, and a malformed key', async () => {
    const reg = emu.registerDevice({ deviceId: 'sec-cli', auth: { type: 'sas' } });
    secrets['cli device key'] = reg.primaryKey!;
    const caPath = join(dir, 'ca.pem');
    await writeFile(caPath, emu.ca.cert);
    const base = ['device', '--hub', emu.hub.host, '--address', emu.hub.address, '--port', String(emu.hub.port), '--device-id', 'sec-cli', '--ca', caPath, '--no-reconnect'];
    const runs = [
      await run([...base, '--sas-key', reg.primaryKey!, '--message', '{"t":1}', '--timeout', '5s']),
      await run([...base, '--sas-key', Buffer.alloc(32, 0x44).toString('base64'), '--message', 'x', '--timeout', '5s']),
      await run([...base, '--sas-key', 'bm90IGJhc2U2NA==!!', '--message', 'x']),
    ];
    secrets['cli wrong key'] = Buffer.alloc(32, 0x44).toString('base64');
    secrets['cli malformed key'] = 'bm90IGJhc2U2NA==!!';
    expect(runs.map((r) => r.code)).toEqual([0, 1, 2]);
    for (const [i, r] of runs.entries()) {
      corpus.stats.cli++;
      corpus.add(`cli run ${i} stdout`, r.stdout);
      corpus.add(`cli run ${i} stderr`, r.stderr);
    }
    expect(runs[0]!.stdout.length).toBeGreaterThan(50);
    expect(leaks(corpus.records, secrets)).toEqual([]);
  });
});

describe('everything recorded', () => {
  it('holds none of the secrets, and is big enough to mean something', () => {
    expect(leaks(corpus.records, secrets)).toEqual([]);
    expect(Object.keys(secrets).length).toBeGreaterThanOrEqual(20);
    expect(corpus.stats.events).toBeGreaterThan(40);
    expect(corpus.stats.errors).toBeGreaterThan(5);
    expect(corpus.stats.causes).toBeGreaterThan(2);
    expect(corpus.stats.cli).toBe(3);
    // The places a secret would sit next to were recorded: the firmware paths (their query is what must be gone),
    // the DPS registration, the refused CONNECTs, the TLS failure of the wrong passphrase.
    const all = corpus.records.map((r) => r.text).join('\n');
    for (const near of ['app-v2.bin', 'missing.bin', 'sec-dps-member', 'sec-bad', 'sec-x509', 'sec-cli']) expect(all, near).toContain(near);
    // Each channel family produced messages.
    const seen = [...corpus.stats.channels.keys()];
    for (const family of ['azure-iot-hub:mqtt:connect', 'azure-iot-hub:mqtt:packet-sent', 'azure-iot-hub:mqtt:packet-received', 'azure-iot-hub:mqtt:disconnect', 'azure-iot-hub:mqtt:warning', 'azure-iot-hub:dps:warning', 'azure-iot-hub:fota']) {
      expect(seen, family).toContain(family);
    }
  });
});
