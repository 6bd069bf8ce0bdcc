/**
 * Backpressure: when the peer stops reading, the session stops writing publishes (socket.write() returned false),
 * keeps them in its bounded queue, rejects beyond it with ENOBUFS, and resumes on 'drain'.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { MqttSession } from '../../src/transport/index.js';
import { FakeBroker } from './fake-broker.js';
import { connected, plainSession, until } from './helpers.js';

let broker: FakeBroker;
let session: MqttSession | undefined;

beforeEach(async () => {
  broker = await FakeBroker.start();
});
afterEach(async () => {
  session?.destroy();
  await broker.close();
});

describe('backpressure', () => {
  it('holds publishes while the socket is full, rejects past the queue bound, and drains when the peer reads again', async () => {
    session = plainSession(broker, { maxQueued: 8 });
    await connected(session);
    broker.sockets[0]!.pause(); // the broker stops reading
    const payload = new Uint8Array(64 * 1024).fill(1);
    const accepted: Promise<void>[] = [];
    let enobufs = 0;
    let written = 0;
    for (let i = 0; i < 2000 && enobufs === 0; i++) {
      const p = session.publish('t', payload);
      accepted.push(p);
      p.then(
        () => written++,
        (e: { code?: string }) => {
          if (e.code === 'ENOBUFS') enobufs++;
        },
      );
      await new Promise((r) => setImmediate(r));
    }
    expect(enobufs).toBe(1); // the kernel buffers filled up, then our queue (8), then ENOBUFS
    expect(session.queuedCount).toBe(8);
    const writtenWhileBlocked = written;
    await new Promise((r) => setTimeout(r, 30));
    expect(written).toBe(writtenWhileBlocked); // nothing more was written while the peer did not read
    broker.sockets[0]!.resume();
    const ok = accepted.slice(0, -1);
    await Promise.all(ok);
    expect(session.queuedCount).toBe(0);
    await until(() => broker.packets('publish').length === ok.length, 10_000, 'all publishes at the broker');
  });
});
