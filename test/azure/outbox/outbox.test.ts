/**
 * The Outbox on its own, with real MQTT sessions on the transport tests' scriptable broker: hand-off to sessions,
 * ordering across a session that ends and a new one started in the same tick, stale rejections ignored, recovered
 * messages refused for good reported (never silent), and a store that returns junk.
 */
import { channel } from 'node:diagnostics_channel';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OUTBOX_CHANNELS, type OutboxDiagnostic } from '../../../src/azure/outbox/diagnostics.js';
import { MemoryOutboxStore } from '../../../src/azure/outbox/memory-store.js';
import { Outbox, type OutboxHooks } from '../../../src/azure/outbox/outbox.js';
import type { AzureIotHubDropped, OutboxStore } from '../../../src/azure/types.js';
import { AzureIotHubError } from '../../../src/errors.js';
import type { MqttSession } from '../../../src/transport/index.js';
import { FakeBroker } from '../../transport/fake-broker.js';
import { connected, plainSession, track, until } from '../../transport/helpers.js';

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
let broker: FakeBroker;
const sessions: MqttSession[] = [];
let pubacks = true;

beforeEach(async () => {
  broker = await FakeBroker.start();
  pubacks = true;
  broker.behaviour.puback = () => pubacks;
});
afterEach(async () => {
  for (const s of sessions.splice(0)) s.destroy();
  await broker.close();
});

function session(): MqttSession {
  const s = plainSession(broker);
  sessions.push(s);
  return s;
}

function hooks(): OutboxHooks & { errors: AzureIotHubError[]; drops: AzureIotHubDropped[] } {
  const errors: AzureIotHubError[] = [];
  const drops: AzureIotHubDropped[] = [];
  return { errors, drops, topic: (p) => `devices/d/messages/events/${p}`, dropped: (d) => drops.push(d), error: (e) => errors.push(e) };
}
const limits = { maxMessages: 100, maxBytes: 1 << 20, overflow: 'reject' as const };
const topics = (): string[] => broker.packets('publish').map((p) => `${p.topic.slice(26)}:${Buffer.from(p.payload).toString()}`);

describe('Outbox', () => {
  it('loads the store, hands recovered messages to the first session that takes publishes, and acks each on PUBACK', async () => {
    const store = new MemoryOutboxStore([
      { properties: 'a=1', payload: utf8('r1') },
      { properties: '', payload: utf8('r2') },
    ]);
    const h = hooks();
    const seen: OutboxDiagnostic[] = [];
    const on = (m: unknown): void => {
      seen.push(m as OutboxDiagnostic);
    };
    channel(OUTBOX_CHANNELS.outbox).subscribe(on);
    const box = new Outbox(store, limits, h);
    channel(OUTBOX_CHANNELS.outbox).unsubscribe(on);
    expect(seen).toEqual([{ event: 'recovered', messages: 2, bytes: 4 }]);
    expect([box.recovered, box.size, box.bytes]).toEqual([2, 2, 4]);
    const idle = session();
    box.restore(idle); // idle: takes nothing
    expect(broker.packets('publish')).toEqual([]);
    const s = session();
    const connecting = s.connect();
    box.restore(s);
    const fresh = box.submit(s, 'b=2', utf8('new'));
    await connecting;
    await fresh;
    await until(() => box.size === 0);
    expect(topics()).toEqual(['a=1:r1', ':r2', 'b=2:new']);
    expect(store.size).toBe(0);
    expect(h.errors).toEqual([]);
  });

  it('a session that ends and a new one started in the same tick: stale ENOTCONN rejections are ignored, order is kept', async () => {
    const h = hooks();
    const store = new MemoryOutboxStore();
    const box = new Outbox(store, limits, h);
    pubacks = false;
    const a = session();
    await connected(a);
    const ps = ['m0', 'm1', 'm2'].map((m) => track(box.submit(a, '', utf8(m))));
    await until(() => broker.packets('publish').length === 3);
    a.destroy(); // rejects all three with ENOTCONN; the reactions run later
    const b = session();
    const connecting = b.connect();
    box.restore(b); // before the rejections were seen
    const m3 = track(box.submit(b, '', utf8('m3')));
    pubacks = true;
    await connecting;
    await until(() => [...ps, m3].every((p) => p.settled === 1));
    expect([...ps, m3].map((p) => p.error)).toEqual([undefined, undefined, undefined, undefined]);
    expect(topics()).toEqual([':m0', ':m1', ':m2', ':m0', ':m1', ':m2', ':m3']);
    expect(box.size).toBe(0);
  });

  it("while no session takes publishes, drop-oldest drops the oldest waiting ones: dropped() and the channel say so", () => {
    const h = hooks();
    const store = new MemoryOutboxStore();
    const box = new Outbox(store, { maxMessages: 2, maxBytes: 100, overflow: 'drop-oldest' }, h);
    const seen: OutboxDiagnostic[] = [];
    const on = (m: unknown): void => {
      seen.push(m as OutboxDiagnostic);
    };
    channel(OUTBOX_CHANNELS.outbox).subscribe(on);
    const ps = ['a', 'bb', 'ccc'].map((m) => track(box.submit(undefined, '', utf8(m))));
    channel(OUTBOX_CHANNELS.outbox).unsubscribe(on);
    expect(h.drops).toEqual([{ count: 1, bytes: 1, messageIds: [] }]);
    expect(seen).toEqual([{ event: 'dropped', count: 1, bytes: 1 }]);
    expect([box.size, box.bytes, store.size]).toEqual([2, 5, 2]);
    expect(() => box.submit(undefined, '', new Uint8Array(101))).toThrow(expect.objectContaining({ code: 'ENOBUFS' }) as Error); // larger than the bound
    expect(box.size).toBe(2);
    return until(() => ps[0]!.settled === 1).then(() => {
      expect((ps[0]!.error as AzureIotHubError).code).toBe('ENOBUFS');
      expect(ps.slice(1).map((p) => p.settled)).toEqual([0, 0]);
    });
  });

  it('submit() to a live session hands anything still waiting first (no restore() needed)', async () => {
    const box = new Outbox(new MemoryOutboxStore([{ properties: '', payload: utf8('old') }]), limits, hooks());
    const s = session();
    await connected(s);
    await box.submit(s, '', utf8('new'));
    await until(() => box.size === 0);
    expect(topics()).toEqual([':old', ':new']);
  });

  it('a recovered message the session refuses for good is reported through error(), never dropped silently', async () => {
    const h = hooks();
    h.topic = (p) => (p === 'bad' ? 'devices/d/messages/events/#' : `devices/d/messages/events/${p}`); // '#' is not allowed
    const box = new Outbox(new MemoryOutboxStore([{ properties: 'bad', payload: utf8('x') }, { properties: 'ok', payload: utf8('y') }]), limits, h);
    const s = session();
    await connected(s);
    box.restore(s);
    await until(() => box.size === 0);
    expect(h.errors.map((e) => [e.code, e.message])).toEqual([['EINVAL', expect.stringContaining('a message from the outbox was refused') as string]]);
    expect(topics()).toEqual(['ok:y']);
  });

  it('refuses a store that returns junk (EIO), that cannot load (its error), or that hands out an id twice (EIO)', () => {
    const junk = (load: () => unknown): OutboxStore => ({ load: load as () => never, append: () => 1, ack: () => undefined });
    expect(() => new Outbox(junk(() => 'x'), limits, hooks())).toThrow(expect.objectContaining({ code: 'EIO' }) as Error);
    expect(() => new Outbox(junk(() => [{ id: 0, properties: '', payload: new Uint8Array(0) }]), limits, hooks())).toThrow(/positive integer id/);
    expect(() => new Outbox(junk(() => [{ id: 1, properties: 1, payload: new Uint8Array(0) }]), limits, hooks())).toThrow(AzureIotHubError);
    expect(() => new Outbox(junk(() => { throw new AzureIotHubError('EINVAL', 'not an outbox log'); }), limits, hooks())).toThrow(/not an outbox log/);
    const dup = new Outbox({ load: () => [{ id: 1, properties: '', payload: new Uint8Array(0) }], append: () => 1, ack: () => undefined }, limits, hooks());
    expect(() => dup.submit(undefined, '', utf8('x'))).toThrow(expect.objectContaining({ code: 'EIO', message: expect.stringContaining('not new') }) as Error);
    expect(dup.size).toBe(1);
  });
});
