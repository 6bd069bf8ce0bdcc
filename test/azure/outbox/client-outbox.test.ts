/**
 * Store-and-forward in the client, against the emulator over TLS: the queue bounds and overflow policies across a
 * link drop (`reject`: ENOBUFS when full, nothing accepted lost; `drop-oldest`: ERROR events, exactly the dropped ones
 * missing, never one in flight), telemetry accepted while not connected, `disconnect()` keeping stored messages, a
 * restart in the same process (recovered messages sent first, PUBACK events, `hub.outbox`), telemetry stored before
 * DPS assigned the device id, and store failures.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FileOutboxStore } from '../../../src/azure/outbox/file-store.js';
import { MemoryOutboxStore } from '../../../src/azure/outbox/memory-store.js';
import type { AzureIotHubConfig, AzureIotHubQueueConfig, OutboxStore } from '../../../src/azure/types.js';
import { startEmulator, type Emulator } from '../../../src/emulator/emulator.js';
import type { AzureIotHubError } from '../../../src/errors.js';
import { MemoryDpsStore } from '../../../src/azure/dps/memory-store.js';
import { dpsConfig, keyOf } from '../dps/helpers.js';
import {
  closeClients,
  configFor,
  connectedClient,
  createClient,
  lastSeq,
  packets,
  sasDevice,
  text,
  until,
  type TestDevice,
} from '../client/harness.js';

let emu: Emulator;
let dir: string;
let n = 0;

beforeAll(async () => {
  emu = await startEmulator({ firmware: false, c2dRedeliveryMs: 0, dpsRetryAfterSeconds: 0 });
});
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'outbox-client-'));
});
afterEach(async () => {
  await closeClients();
  await rm(dir, { recursive: true, force: true });
});
afterAll(async () => {
  await emu.close();
});

function device(): TestDevice {
  return sasDevice(emu, `ob-${++n}`);
}

/** A retry 100 ms after a drop (delay = random 0.5 x 200 ms): time enough to send a burst while reconnecting. */
const slowRetry = { random: () => 0.5 };
function config(d: TestDevice, queue: AzureIotHubQueueConfig, extra: Partial<AzureIotHubConfig> = {}): AzureIotHubConfig {
  return configFor(emu, d, { autoTwinRequest: false, reconnect: { initialDelayMs: 200, maxDelayMs: 200 }, queue, ...extra });
}

/** Outcome of each promise: 'ok' or the error code, once settled (undefined while pending). */
function outcomes(ps: Promise<unknown>[]): (string | undefined)[] {
  const out: (string | undefined)[] = ps.map(() => undefined);
  ps.forEach((p, i) =>
    p.then(
      () => {
        out[i] = out[i] === undefined ? 'ok' : 'settled twice';
      },
      (e: unknown) => {
        out[i] = out[i] === undefined ? (e as AzureIotHubError).code : 'settled twice';
      },
    ),
  );
  return out;
}

const received = (d: TestDevice): string[] => emu.telemetry(d.deviceId).map((m) => text(m.payload));

describe('a link drop with a bounded queue', () => {
  it.each([['no store'], ['a file store']])("overflow 'reject' (%s): ENOBUFS when full; everything accepted arrives once, in order", async (kind) => {
    const d = device();
    const store = kind === 'no store' ? {} : { store: { path: join(dir, 'outbox.log') } };
    const { hub, rec } = await connectedClient(config(d, { maxMessages: 5, overflow: 'reject', ...store }), slowRetry);
    emu.faults.dropConnection(d.deviceId);
    await rec.waitFor('DISCONNECTED');
    expect(hub.state).toBe('CONNECTING');
    const mark = rec.mark();
    const sends = Array.from({ length: 7 }, (_, i) => hub.sendEvent(`m${i}`));
    const out = outcomes(sends);
    await until(() => out.every((o) => o !== undefined), 'every send settled');
    expect(out).toEqual(['ok', 'ok', 'ok', 'ok', 'ok', 'ENOBUFS', 'ENOBUFS']);
    expect(received(d)).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
    expect(rec.all('PUBACK', mark)).toHaveLength(5);
    expect(rec.all('ERROR', mark)).toEqual([]);
    if (kind !== 'no store') expect(hub.outbox).toEqual({ size: 0, bytes: 0, recovered: 0 });
  });

  it.each([['no store'], ['a file store']])("overflow 'drop-oldest' (%s): an ERROR event per drop; exactly the dropped ones are missing", async (kind) => {
    const d = device();
    const path = join(dir, 'outbox.log');
    const store = kind === 'no store' ? {} : { store: { path } };
    const { hub, rec } = await connectedClient(config(d, { maxMessages: 5, overflow: 'drop-oldest', ...store }), slowRetry);
    emu.faults.dropConnection(d.deviceId);
    await rec.waitFor('DISCONNECTED');
    const mark = rec.mark();
    const sends = Array.from({ length: 8 }, (_, i) => hub.sendEvent(`m${i}`));
    const out = outcomes(sends);
    // Each of m5, m6, m7 pushed out the oldest waiting message, synchronously, in send().
    const errors = rec.all('ERROR', mark);
    expect(errors).toHaveLength(3);
    for (const e of errors) {
      expect(e.data.err.code).toBe('ENOBUFS');
      expect(e.data.err.message).toMatch(/drop-oldest/);
      expect(e.data.dropped).toEqual({ count: 1, bytes: 2, messageIds: [expect.any(Number) as number] });
    }
    await until(() => out.every((o) => o !== undefined), 'every send settled');
    expect(out).toEqual(['ENOBUFS', 'ENOBUFS', 'ENOBUFS', 'ok', 'ok', 'ok', 'ok', 'ok']);
    expect(received(d)).toEqual(['m3', 'm4', 'm5', 'm6', 'm7']);
    if (kind !== 'no store') {
      expect(hub.outbox?.size).toBe(0);
      await hub.disconnect();
      const check = new FileOutboxStore({ path });
      expect(check.load()).toEqual([]); // dropped and acknowledged alike are gone from the log
      check.close();
    }
  });

  it('drop-oldest never drops a message in flight: they are resent with DUP=1 after the reconnection', async () => {
    const d = device();
    const { hub, rec } = await connectedClient(
      config(d, { maxMessages: 3, overflow: 'drop-oldest', store: new MemoryOutboxStore() }),
      { ...slowRetry, session: { inFlightWindow: 2 } },
    );
    emu.faults.withholdPubacks(d.deviceId);
    const first = [hub.sendEvent('m0'), hub.sendEvent('m1')];
    await emu.waitForTelemetry(d.deviceId, 2);
    const since = lastSeq(emu, d.deviceId);
    emu.faults.dropConnection(d.deviceId);
    await rec.waitFor('DISCONNECTED');
    const mark = rec.mark();
    const later = Array.from({ length: 7 }, (_, i) => hub.sendEvent(`m${i + 2}`));
    emu.faults.resume(d.deviceId);
    const out = outcomes([...first, ...later]);
    await until(() => out.every((o) => o !== undefined), 'every send settled');
    expect(out).toEqual(['ok', 'ok', 'ENOBUFS', 'ENOBUFS', 'ENOBUFS', 'ENOBUFS', 'ok', 'ok', 'ok']);
    expect(rec.all('ERROR', mark).map((e) => e.data.dropped?.count)).toEqual([1, 1, 1, 1]);
    const resent = packets(emu, d.deviceId, since).filter((e) => e.direction === 'in' && e.type === 'publish');
    expect(resent.map((e) => e.dup)).toEqual([true, true, false, false, false]);
    expect(emu.telemetry(d.deviceId).map((m) => [m.dup, text(m.payload)])).toEqual([
      [false, 'm0'],
      [false, 'm1'],
      [true, 'm0'],
      [true, 'm1'],
      [false, 'm6'],
      [false, 'm7'],
      [false, 'm8'],
    ]);
    expect(hub.outbox?.size).toBe(0);
  });
});

describe('store-and-forward across connections', () => {
  it('with a store, telemetry is accepted before connect() and goes out first, in order, ahead of newer messages', async () => {
    const d = device();
    const { hub, rec } = createClient(config(d, { store: { path: join(dir, 'outbox.log') } }));
    const early = [0, 1, 2].map((i) => hub.sendEvent({ early: i }, { seq: String(i) }));
    const out = outcomes(early);
    expect(hub.outbox).toEqual({ size: 3, bytes: 33, recovered: 0 });
    await hub.connect();
    const late = hub.sendEvent('late');
    await rec.waitFor('READY');
    await late;
    await until(() => out.every((o) => o === 'ok'), 'the early messages acknowledged');
    expect(received(d)).toEqual(['{"early":0}', '{"early":1}', '{"early":2}', 'late']);
    // Stored with their properties: the topic is rebuilt with the device id at send time.
    expect(emu.telemetry(d.deviceId)[1]).toMatchObject({ properties: { seq: '1' }, systemProperties: { '$.ct': 'application/json', '$.ce': 'utf-8' } });
    expect(hub.outbox?.size).toBe(0);
  });

  it('without a store, telemetry is refused before connect() (ENOTCONN), and QoS 0 telemetry is never stored', async () => {
    const d = device();
    const plain = createClient(config(d, { maxMessages: 10 }));
    await expect(plain.hub.sendEvent('x')).rejects.toMatchObject({ code: 'ENOTCONN' });
    expect(plain.hub.outbox).toBeUndefined();
    const stored = createClient(config(d, { store: new MemoryOutboxStore() }));
    await expect(stored.hub.sendEvent('q0', undefined, { qos: 0 })).rejects.toMatchObject({ code: 'ENOTCONN' });
    await expect(stored.hub.send({ topic: { type: 'TWIN_REPORTED' }, payload: '{}', qos: 1 })).rejects.toMatchObject({ code: 'ENOTCONN' });
    expect(stored.hub.outbox?.size).toBe(0);
  });

  it('disconnect() keeps stored messages (their promises pending); the next connect() sends them again', async () => {
    const d = device();
    const { hub, rec } = await connectedClient(config(d, { store: { path: join(dir, 'outbox.log') } }));
    emu.faults.withholdPubacks(d.deviceId);
    const sends = ['a', 'b', 'c'].map((m) => hub.sendEvent(m));
    const out = outcomes(sends);
    await emu.waitForTelemetry(d.deviceId, 3);
    await hub.disconnect();
    expect(hub.state).toBe('INIT');
    expect(out).toEqual([undefined, undefined, undefined]);
    expect(hub.outbox?.size).toBe(3);
    const offline = hub.sendEvent('d'); // while disconnected: stored, behind the others
    emu.faults.resume(d.deviceId);
    const mark = rec.mark();
    await hub.connect();
    await offline;
    await until(() => out.every((o) => o === 'ok'), 'a, b and c acknowledged');
    expect(received(d)).toEqual(['a', 'b', 'c', 'a', 'b', 'c', 'd']); // at least once: a, b, c twice
    expect(rec.all('PUBACK', mark)).toHaveLength(4);
    expect(hub.outbox?.size).toBe(0);
  });

  it('a restart: the next client with the same file recovers the unacknowledged messages and sends them first (PUBACK events, no promises)', async () => {
    const d = device();
    const path = join(dir, 'outbox.log');
    const store = new FileOutboxStore({ path, fsync: 'always' });
    const first = await connectedClient(config(d, { store }));
    emu.faults.withholdPubacks(d.deviceId);
    void Promise.allSettled(['r0', 'r1', 'r2', 'r3'].map((m) => first.hub.sendEvent(m, { n: m })));
    await emu.waitForTelemetry(d.deviceId, 4);
    await first.hub.disconnect();
    store.close();
    emu.faults.resume(d.deviceId);
    emu.clearTelemetry(d.deviceId);

    const second = createClient(config(d, { store: { path } }));
    expect(second.hub.outbox).toEqual({ size: 4, bytes: 8, recovered: 4 });
    await second.hub.connect();
    const fresh = second.hub.sendEvent('new');
    await fresh;
    await until(() => second.hub.outbox?.size === 0, 'the recovered messages acknowledged');
    expect(received(d)).toEqual(['r0', 'r1', 'r2', 'r3', 'new']);
    expect(emu.telemetry(d.deviceId).map((m) => m.properties['n'])).toEqual(['r0', 'r1', 'r2', 'r3', undefined]);
    expect(second.rec.all('PUBACK')).toHaveLength(5);
    expect(second.hub.outbox).toEqual({ size: 0, bytes: 0, recovered: 4 });
    await second.hub.disconnect();
    const check = new FileOutboxStore({ path });
    expect(check.load()).toEqual([]);
    check.close();
  });

  it("while not connected the outbox applies the bounds itself: 'drop-oldest' drops the oldest waiting ones (ERROR), 'reject' refuses", async () => {
    const d = device();
    const drop = createClient(config(d, { maxMessages: 3, overflow: 'drop-oldest', store: new MemoryOutboxStore() }));
    const out = outcomes(['a', 'b', 'c', 'd', 'e'].map((m) => drop.hub.sendEvent(m)));
    expect(drop.rec.all('ERROR').map((e) => [e.data.err.code, e.data.dropped])).toEqual([
      ['ENOBUFS', { count: 1, bytes: 1, messageIds: [] }],
      ['ENOBUFS', { count: 1, bytes: 1, messageIds: [] }],
    ]);
    expect(drop.hub.outbox?.size).toBe(3);
    await drop.hub.connect();
    await until(() => out.every((o) => o !== undefined), 'every send settled');
    expect(out).toEqual(['ENOBUFS', 'ENOBUFS', 'ok', 'ok', 'ok']);
    expect(received(d)).toEqual(['c', 'd', 'e']);

    const reject = createClient(config(device(), { maxMessages: 5, maxBytes: 4, overflow: 'reject', store: new MemoryOutboxStore() }));
    const r = outcomes(['aa', 'bb', 'c', 'dd'].map((m) => reject.hub.sendEvent(m)));
    await until(() => r[2] !== undefined && r[3] !== undefined, 'the refusals');
    expect(r).toEqual([undefined, undefined, 'ENOBUFS', 'ENOBUFS']); // by bytes: 2 + 2 + 1 > 4
    expect(reject.hub.outbox).toMatchObject({ size: 2, bytes: 4 });
    expect(reject.rec.all('ERROR')).toEqual([]);
  });

  it('telemetry stored before DPS assigned a device id goes to the assigned device: the topic is built at send time', async () => {
    const e = emu.addEnrollment({ registrationId: 'ob-dps', attestation: { type: 'sas' }, deviceId: 'ob-dps-assigned' });
    const { hub, rec } = createClient(dpsConfig(emu, 'ob-dps', { symmetricKey: keyOf(e) }, new MemoryDpsStore(), { queue: { store: new MemoryOutboxStore() } }));
    const early = hub.sendEvent('before DPS', { k: 'v' });
    expect(hub.outbox?.size).toBe(1);
    await hub.connect();
    await rec.waitFor('READY');
    await early;
    expect(hub.deviceId).toBe('ob-dps-assigned');
    const [msg] = emu.telemetry('ob-dps-assigned');
    expect(msg).toMatchObject({ topic: 'devices/ob-dps-assigned/messages/events/k=v', properties: { k: 'v' } });
    expect(text(msg!.payload)).toBe('before DPS');
  });

  it('send() with a messageId through the outbox uses it on the wire; a bad one is EINVAL before anything is stored', async () => {
    const d = device();
    const { hub } = await connectedClient(config(d, { store: new MemoryOutboxStore() }));
    const since = lastSeq(emu, d.deviceId);
    await hub.send({ topic: { type: 'EVENT' }, payload: 'x', qos: 1, messageId: 4242 });
    expect(packets(emu, d.deviceId, since).find((e) => e.type === 'publish')?.messageId).toBe(4242);
    await expect(hub.send({ topic: { type: 'EVENT' }, payload: 'x', qos: 1, messageId: 70000 })).rejects.toMatchObject({ code: 'EINVAL' });
    expect(hub.outbox?.size).toBe(0);
  });
});

describe('store failures', () => {
  it('a store that cannot append fails the send (EIO) and nothing is sent; a store that cannot ack is an ERROR event', async () => {
    const d = device();
    const inner = new MemoryOutboxStore();
    let failAppend = true;
    let failAck = false;
    const store: OutboxStore = {
      load: () => inner.load(),
      append: (p, b) => {
        if (failAppend) throw new Error('disk full');
        return inner.append(p, b);
      },
      ack: (id) => {
        if (failAck) throw new Error('read-only');
        inner.ack(id);
      },
    };
    const { hub, rec } = await connectedClient(config(d, { store }));
    await expect(hub.sendEvent('x')).rejects.toMatchObject({ code: 'EIO', message: expect.stringContaining('disk full') as string });
    expect(hub.outbox?.size).toBe(0);
    failAppend = false;
    failAck = true;
    await hub.sendEvent('y'); // acknowledged: the promise resolves even though the store could not forget it
    expect(rec.all('ERROR').map((e) => [e.data.err.code, e.data.err.message])).toEqual([['EIO', expect.stringContaining('could not forget') as string]]);
    expect(received(d)).toEqual(['y']);
  });

  it('init() refuses a file that is not an outbox log (EINVAL) and stays IDLE', async () => {
    const d = device();
    const path = join(dir, 'not-a-log.json');
    const { writeFile } = await import('node:fs/promises');
    await writeFile(path, '{"hello":1}');
    const { AzureIotHub } = await import('../../../src/azure/client.js');
    const hub = new AzureIotHub();
    expect(() => hub.init(config(d, { store: { path } }), () => undefined)).toThrow(expect.objectContaining({ code: 'EINVAL' }) as Error);
    expect(hub.state).toBe('IDLE');
    expect(hub.outbox).toBeUndefined();
    hub.init(config(d, { store: new MemoryOutboxStore() }), () => undefined);
    expect(hub.state).toBe('INIT');
  });
});
