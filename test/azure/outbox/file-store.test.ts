/**
 * FileOutboxStore on a real file system (temporary folders): append/ack/reload, recovery from a torn or corrupt tail
 * (truncated on open), refusal of foreign files, compaction (and a crash in the middle of one), fsync policies and
 * write failures through an injected file system.
 */
import * as fs from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { channel } from 'node:diagnostics_channel';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { OUTBOX_CHANNELS, type OutboxDiagnostic } from '../../../src/azure/outbox/diagnostics.js';
import { FileOutboxStore, type OutboxFileSystem } from '../../../src/azure/outbox/file-store.js';
import { encodeAckRecords, encodeMessageRecord, OUTBOX_FILE_HEADER, scanRecords } from '../../../src/azure/outbox/log-format.js';
import { AzureIotHubError } from '../../../src/errors.js';

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (b: Uint8Array): string => new TextDecoder().decode(b);

let dir: string;
let stores: FileOutboxStore[] = [];
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'outbox-'));
});
afterEach(async () => {
  vi.useRealTimers();
  for (const s of stores) s.close();
  stores = [];
  await rm(dir, { recursive: true, force: true });
});

function open(options: Partial<ConstructorParameters<typeof FileOutboxStore>[0]> = {}): FileOutboxStore {
  const s = new FileOutboxStore({ path: join(dir, 'outbox.log'), ...options });
  stores.push(s);
  return s;
}

/** Wait for the acks of this turn to be written (they go out in a microtask). */
const acksWritten = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Record the outbox diagnostics channel while `fn` runs. */
async function diagnostics(fn: () => unknown): Promise<OutboxDiagnostic[]> {
  const seen: OutboxDiagnostic[] = [];
  const ch = channel(OUTBOX_CHANNELS.outbox);
  const on = (m: unknown): void => {
    seen.push(m as OutboxDiagnostic);
  };
  ch.subscribe(on);
  try {
    await fn();
  } finally {
    ch.unsubscribe(on);
  }
  return seen;
}

describe('FileOutboxStore basics', () => {
  it('creates the file (and its folder) with the header; an empty store loads nothing', () => {
    const s = open({ path: join(dir, 'a', 'b', 'outbox.log') });
    expect(s.load()).toEqual([]);
    expect([...fs.readFileSync(join(dir, 'a', 'b', 'outbox.log'))]).toEqual([...OUTBOX_FILE_HEADER]);
    expect(s.fileBytes).toBe(8);
  });

  it('keeps unacknowledged messages across a reopen, in order, with increasing ids; acked ones are gone', async () => {
    const a = open();
    a.load();
    const ids = ['m0', 'm1', 'm2', 'm3'].map((m, i) => a.append(`n=${i}`, utf8(m)));
    expect(ids).toEqual([1, 2, 3, 4]);
    a.ack(2);
    a.ack(4);
    a.ack(99); // unknown: ignored
    expect(a.size).toBe(2);
    await acksWritten();
    a.close();
    const b = open();
    const loaded = b.load();
    expect(loaded.map((m) => [m.id, m.properties, text(m.payload)])).toEqual([
      [1, 'n=0', 'm0'],
      [3, 'n=2', 'm2'],
    ]);
    expect(b.append('', utf8('m4'))).toBe(5); // ids continue after the largest seen
  });

  it('acks of one turn of the event loop go out in one write, and close() writes pending acks', async () => {
    const writes: number[] = [];
    const spy: OutboxFileSystem = { ...fs, writeSync: ((fd: number, buf: Uint8Array, off?: number, len?: number) => {
      writes.push(len ?? buf.length);
      return fs.writeSync(fd, buf, off, len);
    }) as typeof fs.writeSync };
    const s = open({ fs: spy });
    s.load();
    for (let i = 0; i < 10; i++) s.append('', utf8(`m${i}`));
    writes.length = 0;
    for (let i = 1; i <= 10; i++) s.ack(i);
    expect(writes).toEqual([]); // not yet
    await acksWritten();
    expect(writes).toEqual([10 * 17]);
    s.append('', utf8('x'));
    s.ack(11);
    s.close(); // before the microtask: close writes it
    const scan = scanRecords(fs.readFileSync(s.path));
    expect(scan.records.filter((r) => r.type === 'ack').map((r) => r.id)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  });

  it('append before load(), or after close(), is ENOENT; append of an oversized message is EMSGSIZE and writes nothing', () => {
    const s = open();
    expect(() => s.append('', utf8('x'))).toThrow(expect.objectContaining({ code: 'ENOENT' }) as Error);
    s.load();
    expect(() => s.append('x'.repeat(70_000), utf8('x'))).toThrow(expect.objectContaining({ code: 'EMSGSIZE' }) as Error);
    expect(s.fileBytes).toBe(8);
    s.close();
    expect(() => s.append('', utf8('x'))).toThrow(expect.objectContaining({ code: 'ENOENT' }) as Error);
  });

  it('checks its options (EINVAL naming the option)', () => {
    expect(() => new FileOutboxStore({ path: '' })).toThrow(/path/);
    expect(() => new FileOutboxStore({ path: 'x', fsync: 'sometimes' as never })).toThrow(/fsync/);
    expect(() => new FileOutboxStore({ path: 'x', fsyncIntervalMs: 0 })).toThrow(/fsyncIntervalMs/);
    expect(() => new FileOutboxStore({ path: 'x', compactThresholdBytes: -1 })).toThrow(/compactThresholdBytes/);
    expect(() => new FileOutboxStore(null as never)).toThrow(AzureIotHubError);
  });
});

describe('recovery', () => {
  /** A log with messages 1..3, message 2 acked, then `tail`. */
  function writeLog(path: string, tail: Uint8Array): Uint8Array {
    const good = Buffer.concat([
      OUTBOX_FILE_HEADER,
      encodeMessageRecord(1, 'a=1', utf8('one')),
      encodeMessageRecord(2, 'a=2', utf8('two')),
      encodeAckRecords([2]),
      encodeMessageRecord(3, 'a=3', utf8('three')),
    ]);
    fs.writeFileSync(path, Buffer.concat([good, tail]));
    return good;
  }

  it('a torn last record, cut at every byte offset, is cut off on open; the messages before it are kept', async () => {
    const last = encodeMessageRecord(4, 'a=4', utf8('four, the torn one'));
    const path = join(dir, 'outbox.log');
    for (let cut = 1; cut < last.length; cut++) {
      const good = writeLog(path, last.subarray(0, cut));
      const s = new FileOutboxStore({ path });
      let loaded: ReturnType<FileOutboxStore['load']> = [];
      const seen = await diagnostics(() => {
        loaded = s.load();
      });
      expect(loaded.map((m) => text(m.payload)), `cut ${cut}`).toEqual(['one', 'three']);
      expect(s.discardedBytes, `cut ${cut}`).toBe(cut);
      expect(fs.statSync(path).size, `cut ${cut}`).toBe(good.length); // truncated on disk
      expect(seen, `cut ${cut}`).toEqual([{ event: 'discarded', path, offset: good.length, bytes: cut, reason: 'torn' }]);
      // New records follow the good ones and are read back.
      expect(s.append('a=5', utf8('five'))).toBe(4); // id 4 never made it
      s.close();
      const again = new FileOutboxStore({ path });
      expect(again.load().map((m) => text(m.payload))).toEqual(['one', 'three', 'five']);
      expect(again.discardedBytes).toBe(0);
      again.close();
    }
  });

  it('a torn ack is cut off too: its message comes back (at least once)', () => {
    const path = join(dir, 'outbox.log');
    writeLog(path, encodeAckRecords([3]).subarray(0, 12));
    const s = open();
    expect(s.load().map((m) => m.id)).toEqual([1, 3]);
  });

  it('a corrupt record in the middle (CRC mismatch) ends the log there: what follows is discarded and reported', async () => {
    const path = join(dir, 'outbox.log');
    const bad = encodeMessageRecord(4, 'a=4', utf8('four'));
    bad[bad.length - 2]! ^= 0x10;
    const good = writeLog(path, Buffer.concat([bad, encodeMessageRecord(5, 'a=5', utf8('five'))]));
    const s = open();
    let loaded: ReturnType<FileOutboxStore['load']> = [];
    const seen = await diagnostics(() => {
      loaded = s.load();
    });
    expect(loaded.map((m) => m.id)).toEqual([1, 3]);
    expect(seen).toMatchObject([{ event: 'discarded', offset: good.length, reason: 'crc' }]);
    expect(fs.statSync(path).size).toBe(good.length);
  });

  it('a header cut short (a crash while creating the file) is written afresh', () => {
    const path = join(dir, 'outbox.log');
    for (let n = 0; n < 8; n++) {
      fs.writeFileSync(path, OUTBOX_FILE_HEADER.subarray(0, n));
      const s = new FileOutboxStore({ path });
      expect(s.load()).toEqual([]);
      expect([...fs.readFileSync(path)]).toEqual([...OUTBOX_FILE_HEADER]);
      s.close();
    }
  });

  it('a file that is not an outbox log (or of another version) is refused with EINVAL and left untouched', () => {
    const path = join(dir, 'outbox.log');
    for (const content of ['{"version":1}\n', 'AZOB\u0002\0\0\0']) {
      fs.writeFileSync(path, content);
      const s = open();
      expect(() => s.load()).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringContaining('not an outbox log') }) as Error);
      expect(fs.readFileSync(path, 'utf8')).toBe(content);
    }
  });

  it('an unreadable path is EIO', () => {
    fs.mkdirSync(join(dir, 'outbox.log')); // a folder where the file should be
    expect(() => open().load()).toThrow(expect.objectContaining({ code: 'EIO' }) as Error);
  });
});

describe('compaction', () => {
  it('once acknowledged records dominate a file over the threshold, the file is rewritten with the live messages only', async () => {
    const s = open({ compactThresholdBytes: 4096 });
    s.load();
    const payload = new Uint8Array(100).fill(7);
    let seen: OutboxDiagnostic[] = [];
    for (let i = 1; i <= 60; i++) {
      s.append(`i=${i}`, payload);
      if (i % 3 !== 0) s.ack(i); // keep every third
      if (i % 10 === 0) {
        seen = seen.concat(await diagnostics(acksWritten));
      }
    }
    expect(s.compactions).toBeGreaterThan(0);
    expect(seen.some((m) => m.event === 'compacted')).toBe(true);
    // Bounded: at most about twice the live records plus the threshold.
    expect(s.fileBytes).toBeLessThan(4096 + 2 * 20 * 130);
    expect(fs.existsSync(`${s.path}.compact`)).toBe(false);
    await acksWritten();
    s.close();
    const again = open({ compactThresholdBytes: 4096 });
    expect(again.load().map((m) => m.properties)).toEqual(Array.from({ length: 20 }, (_, k) => `i=${3 * (k + 1)}`));
    // Acks after a compaction still land (offsets were remapped).
    again.ack(3);
    await acksWritten();
    again.close();
    expect(open().load()).toHaveLength(19);
  });

  it('compact() with nothing live leaves just the header; load() compacts a file dominated by acks', async () => {
    const path = join(dir, 'outbox.log');
    const records = [OUTBOX_FILE_HEADER];
    for (let i = 1; i <= 50; i++) records.push(encodeMessageRecord(i, '', new Uint8Array(50)), encodeAckRecords([i]));
    records.push(encodeMessageRecord(51, 'keep=1', utf8('kept')));
    fs.writeFileSync(path, Buffer.concat(records));
    const s = open({ compactThresholdBytes: 0 });
    expect(s.load().map((m) => text(m.payload))).toEqual(['kept']);
    expect(s.compactions).toBe(1);
    expect(fs.statSync(path).size).toBe(8 + encodeMessageRecord(51, 'keep=1', utf8('kept')).length);
    s.ack(51);
    await acksWritten();
    expect(fs.statSync(path).size).toBe(8);
    expect(s.append('', utf8('next'))).toBe(52); // ids keep increasing after a compaction
  });

  it('a crash in the middle of a compaction leaves the old log in use; a stale temporary file is replaced next time', () => {
    const path = join(dir, 'outbox.log');
    fs.writeFileSync(path, Buffer.concat([OUTBOX_FILE_HEADER, encodeMessageRecord(1, '', utf8('a')), encodeMessageRecord(2, '', utf8('b'))]));
    fs.writeFileSync(`${path}.compact`, 'half a compaction');
    const s = open({ compactThresholdBytes: 0 });
    expect(s.load().map((m) => m.id)).toEqual([1, 2]);
    s.ack(1);
    s.compact();
    expect(open().load().map((m) => m.id)).toEqual([2]);
    expect(fs.existsSync(`${path}.compact`)).toBe(false);
  });

  it('a compaction that fails (rename refused) is a warning; the old file stays in use and complete', async () => {
    const warnings: string[] = [];
    const failing: OutboxFileSystem = { ...fs, renameSync: () => { throw Object.assign(new Error('EXDEV'), { code: 'EXDEV' }); } };
    const s = open({ fs: failing, compactThresholdBytes: 0, onWarning: (m) => warnings.push(m) });
    s.load();
    s.append('', utf8('a'));
    s.append('', utf8('b'));
    s.ack(1);
    await acksWritten();
    expect(warnings).toEqual([expect.stringContaining('could not compact')]);
    expect(s.compactions).toBe(0);
    expect(fs.existsSync(`${s.path}.compact`)).toBe(false);
    s.append('', utf8('c'));
    s.close();
    expect(open().load().map((m) => text(m.payload))).toEqual(['b', 'c']);
  });
});

describe('fsync policies (injected file system)', () => {
  function counting(): { fs: OutboxFileSystem; fsyncs: () => number } {
    let n = 0;
    return {
      fs: { ...fs, fsyncSync: (fd: number) => { n++; fs.fsyncSync(fd); } },
      fsyncs: () => n,
    };
  }

  it('always: one fsync per message before append() returns; acks wait for the next one', async () => {
    const c = counting();
    const s = open({ fs: c.fs, fsync: 'always' });
    s.load();
    const base = c.fsyncs();
    for (let i = 0; i < 5; i++) {
      s.append('', utf8(`m${i}`));
      expect(c.fsyncs() - base).toBe(i + 1);
    }
    s.ack(1);
    await acksWritten();
    expect(c.fsyncs() - base).toBe(5);
  });

  it('batch: no fsync in append(); one fsync per interval however many records', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const c = counting();
    const s = open({ fs: c.fs, fsync: 'batch', fsyncIntervalMs: 200 });
    s.load();
    const base = c.fsyncs();
    for (let i = 0; i < 50; i++) s.append('', utf8(`m${i}`));
    expect(c.fsyncs() - base).toBe(0);
    vi.advanceTimersByTime(199);
    expect(c.fsyncs() - base).toBe(0);
    vi.advanceTimersByTime(1);
    expect(c.fsyncs() - base).toBe(1);
    vi.advanceTimersByTime(1000);
    expect(c.fsyncs() - base).toBe(1); // nothing new: no timer, no fsync
    s.ack(1);
    await acksWritten();
    vi.advanceTimersByTime(200);
    expect(c.fsyncs() - base).toBe(2);
    s.append('', utf8('last'));
    s.close(); // close fsyncs what is pending and clears the timer
    expect(c.fsyncs() - base).toBe(3);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('never: no fsync at all, not even at close(); flush() fsyncs on demand', () => {
    const c = counting();
    const s = open({ fs: c.fs, fsync: 'never' });
    s.load();
    const base = c.fsyncs();
    for (let i = 0; i < 20; i++) s.append('', utf8(`m${i}`));
    s.flush();
    expect(c.fsyncs() - base).toBe(1);
    s.append('', utf8('x'));
    s.close();
    expect(c.fsyncs() - base).toBe(1);
  });
});

describe('write failures (injected file system)', () => {
  it('a failed append (partial write, then ENOSPC) is EIO and leaves no partial record: the log stays readable', () => {
    let fail = false;
    const flaky: OutboxFileSystem = {
      ...fs,
      writeSync: ((fd: number, buf: Uint8Array, off?: number, len?: number) => {
        if (fail) {
          fail = false;
          fs.writeSync(fd, buf, off, 5); // half a record reaches the file
          throw Object.assign(new Error('no space'), { code: 'ENOSPC' });
        }
        return fs.writeSync(fd, buf, off, len);
      }) as typeof fs.writeSync,
    };
    const s = open({ fs: flaky });
    s.load();
    s.append('', utf8('a'));
    fail = true;
    const err = (() => {
      try {
        s.append('', utf8('b'));
      } catch (e) {
        return e as AzureIotHubError;
      }
      return undefined;
    })();
    expect(err).toMatchObject({ code: 'EIO', message: expect.stringContaining('ENOSPC') });
    expect(s.append('', utf8('c'))).toBe(2); // the failed one did not use up an id
    s.close();
    const again = open();
    expect(again.load().map((m) => text(m.payload))).toEqual(['a', 'c']);
    expect(again.discardedBytes).toBe(0);
  });

  it('an fsync failure under always is EIO and the record is taken back', () => {
    let fail = false;
    const s = open({
      fsync: 'always',
      fs: { ...fs, fsyncSync: (fd: number) => { if (fail) throw Object.assign(new Error('EIO'), { code: 'EIO' }); fs.fsyncSync(fd); } },
    });
    s.load();
    fail = true;
    expect(() => s.append('', utf8('lost'))).toThrow(expect.objectContaining({ code: 'EIO' }) as Error);
    fail = false;
    s.append('', utf8('kept'));
    s.close();
    expect(open().load().map((m) => text(m.payload))).toEqual(['kept']);
  });

  it('an ack that cannot be written is a warning (the message would come back after a restart)', async () => {
    const warnings: string[] = [];
    let fail = false;
    const s = open({
      onWarning: (m) => warnings.push(m),
      fs: { ...fs, writeSync: ((fd: number, buf: Uint8Array, off?: number, len?: number) => {
        if (fail) throw Object.assign(new Error('EIO'), { code: 'EIO' });
        return fs.writeSync(fd, buf, off, len);
      }) as typeof fs.writeSync },
    });
    s.load();
    s.append('', utf8('a'));
    fail = true;
    s.ack(1);
    await acksWritten();
    expect(warnings).toEqual([expect.stringContaining('could not record 1 acknowledgement')]);
    expect(s.size).toBe(0);
    fail = false;
    s.close();
    expect(open().load().map((m) => m.id)).toEqual([1]);
  });
});
