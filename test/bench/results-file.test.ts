/**
 * bench/RESULTS.md holds two benchmarks' results in marked sections; each benchmark rewrites only its own.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSections, replaceSection, writeSection } from '../../bench/lib/results-file.js';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'results-file-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('RESULTS.md sections', () => {
  it('replaces one section and keeps the other, codec first', () => {
    const one = replaceSection('', 'e2e', '# E2E\n\nold');
    const two = replaceSection(one, 'codec', '# Codec\n\nnumbers');
    const three = replaceSection(two, 'e2e', '# E2E\n\nnew');
    expect(three).toBe('<!-- codec:begin -->\n# Codec\n\nnumbers\n<!-- codec:end -->\n\n<!-- e2e:begin -->\n# E2E\n\nnew\n<!-- e2e:end -->\n');
    expect(parseSections(three)).toEqual({ codec: '# Codec\n\nnumbers', e2e: '# E2E\n\nnew' });
  });

  it('treats a file without markers as the codec section (the older, codec-only RESULTS.md)', () => {
    const text = replaceSection('# Codec benchmark results\n\n| a | b |\n', 'e2e', 'E2E');
    expect(parseSections(text)).toEqual({ codec: '# Codec benchmark results\n\n| a | b |', e2e: 'E2E' });
  });

  it('writes a missing file, then rewrites only the named section', async () => {
    const file = join(dir, 'RESULTS.md');
    await writeSection(file, 'codec', 'C1');
    await writeSection(file, 'e2e', 'E1');
    await writeSection(file, 'codec', 'C2');
    expect(parseSections(await readFile(file, 'utf8'))).toEqual({ codec: 'C2', e2e: 'E1' });
    await writeFile(file, 'legacy');
    await writeSection(file, 'codec', 'C3');
    expect(parseSections(await readFile(file, 'utf8'))).toEqual({ codec: 'C3' });
  });
});
