/**
 * `config.queue`: defaults and every bad value (EINVAL naming the field). How the bounds reach the MQTT session is
 * shown end to end in `client-outbox.test.ts` (the 'no store' cases).
 */
import { describe, expect, it } from 'vitest';
import { MAX_QUEUE_MESSAGES, resolveConfig } from '../../../src/azure/config.js';
import { MemoryOutboxStore } from '../../../src/azure/outbox/memory-store.js';
import { DEFAULT_MAX_QUEUED, DEFAULT_MAX_QUEUED_BYTES } from '../../../src/transport/outgoing.js';
import { AzureIotHubError } from '../../../src/errors.js';

const SAS_KEY = Buffer.from('0123456789abcdef0123456789abcdef').toString('base64');
const base = { deviceId: 'dev-1', hostname: 'hub.azure-devices.net', sasKey: SAS_KEY };

function einval(queue: unknown): string {
  try {
    resolveConfig({ ...base, queue });
  } catch (err) {
    expect(err).toBeInstanceOf(AzureIotHubError);
    expect((err as AzureIotHubError).code).toBe('EINVAL');
    return (err as AzureIotHubError).message;
  }
  throw new Error('resolveConfig did not throw');
}

describe('config.queue', () => {
  it('absent: no queue in the resolved config (the transport defaults apply)', () => {
    expect(resolveConfig(base).queue).toBeUndefined();
  });

  it('defaults: 8192 messages, 32 MiB, reject, no store', () => {
    expect(resolveConfig({ ...base, queue: {} }).queue).toEqual({ maxMessages: DEFAULT_MAX_QUEUED, maxBytes: DEFAULT_MAX_QUEUED_BYTES, overflow: 'reject' });
    expect(DEFAULT_MAX_QUEUED).toBe(8192);
    expect(DEFAULT_MAX_QUEUED_BYTES).toBe(32 * 1024 * 1024);
  });

  it('keeps a store object as it is, and a file store config with its fields', () => {
    const store = new MemoryOutboxStore();
    expect(resolveConfig({ ...base, queue: { store } }).queue?.store).toBe(store);
    expect(resolveConfig({ ...base, queue: { maxMessages: 0, maxBytes: 0, overflow: 'drop-oldest', store: { path: '/tmp/x.log', fsync: 'always', fsyncIntervalMs: 5 } } }).queue).toEqual({
      maxMessages: 0,
      maxBytes: 0,
      overflow: 'drop-oldest',
      store: { path: '/tmp/x.log', fsync: 'always', fsyncIntervalMs: 5 },
    });
  });

  it.each([
    ['x', 'config.queue must be an object'],
    [{ maxMesages: 3 }, 'config.queue.maxMesages is not a known option'],
    [{ maxMessages: -1 }, 'config.queue.maxMessages'],
    [{ maxMessages: MAX_QUEUE_MESSAGES + 1 }, 'config.queue.maxMessages'],
    [{ maxMessages: 1.5 }, 'config.queue.maxMessages'],
    [{ maxBytes: '1' }, 'config.queue.maxBytes'],
    [{ overflow: 'drop-newest' }, 'config.queue.overflow'],
    [{ store: 'file.log' }, 'config.queue.store'],
    [{ store: { load: () => [] } }, 'config.queue.store must implement load(), append() and ack()'],
    [{ store: {} }, 'config.queue.store.path is required'],
    [{ store: { path: '' } }, 'config.queue.store.path'],
    [{ store: { path: 'x', fsync: 'sometimes' } }, 'config.queue.store.fsync'],
    [{ store: { path: 'x', fsyncIntervalMs: 0 } }, 'config.queue.store.fsyncIntervalMs'],
    [{ store: { path: 'x', compactThresholdBytes: 1 } }, 'config.queue.store.compactThresholdBytes is not a known option'],
  ])('%j is EINVAL naming the field', (queue, words) => {
    expect(einval(queue)).toContain(words);
  });
});
