/**
 * Quoting for the commands the tool prints for the user to copy (paths with spaces, device ids with `$` or `(`).
 */

/** `text` as one POSIX shell word: unchanged when it is safe, else in single quotes. */
export function shellQuote(text: string): string {
  if (/^[A-Za-z0-9_\-.,:/@%+=]+$/.test(text)) return text;
  return `'${text.replaceAll("'", `'\\''`)}'`;
}
