/**
 * `bench/RESULTS.md` holds the results of two benchmarks, each in its own marked section
 * (`<!-- codec:begin -->...<!-- codec:end -->`, `<!-- e2e:begin -->...<!-- e2e:end -->`): each benchmark rewrites
 * only its own section and keeps the other's.
 */
import { readFile, writeFile } from 'node:fs/promises';

/** The sections, in file order. */
export const SECTIONS = ['codec', 'e2e'] as const;
/** One of {@link SECTIONS}. */
export type SectionName = (typeof SECTIONS)[number];

function markers(name: SectionName): { begin: string; end: string } {
  return { begin: `<!-- ${name}:begin -->`, end: `<!-- ${name}:end -->` };
}

/**
 * The sections of `text`. A file without any marker is an older codec-only RESULTS.md: all of it is the codec
 * section.
 */
export function parseSections(text: string): Partial<Record<SectionName, string>> {
  const out: Partial<Record<SectionName, string>> = {};
  let any = false;
  for (const name of SECTIONS) {
    const { begin, end } = markers(name);
    const i = text.indexOf(begin);
    const j = text.indexOf(end);
    if (i === -1 || j === -1 || j < i) continue;
    any = true;
    out[name] = text.slice(i + begin.length, j).replace(/^\n/, '').replace(/\n$/, '');
  }
  if (!any && text.trim().length > 0) out.codec = text.trimEnd();
  return out;
}

/** `text` with section `name` set to `content` (every other section kept, in {@link SECTIONS} order). */
export function replaceSection(text: string, name: SectionName, content: string): string {
  const sections = parseSections(text);
  sections[name] = content.trimEnd();
  const parts: string[] = [];
  for (const n of SECTIONS) {
    const body = sections[n];
    if (body === undefined) continue;
    const { begin, end } = markers(n);
    parts.push(`${begin}\n${body}\n${end}`);
  }
  return `${parts.join('\n\n')}\n`;
}

/** Rewrite section `name` of the results file at `path` (created when missing). */
export async function writeSection(path: string, name: SectionName, content: string): Promise<void> {
  let text = '';
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await writeFile(path, replaceSection(text, name, content));
}
