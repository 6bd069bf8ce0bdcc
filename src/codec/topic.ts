/**
 * Topic names and topic filters (MQTT 3.1.1 section 4.7).
 */
import { fail } from './errors.js';

/**
 * Check a topic name as a PUBLISH may carry it: at least one character (MQTT-4.7.3-1) and no wildcard
 * (MQTT-3.3.2-2, MQTT-4.7.1-1). UTF-8 rules are checked where the string is encoded or decoded.
 */
export function validateTopicName(topic: string, offset?: number): void {
  if (topic.length === 0) fail('MQTT-4.7.3-1', 'topic name is empty', offset);
  if (topic.indexOf('+') !== -1 || topic.indexOf('#') !== -1) {
    fail('MQTT-3.3.2-2', 'topic name contains a wildcard (+ or #)', offset);
  }
}

/**
 * Check a topic filter: at least one character (MQTT-4.7.3-1); `#` only as the whole last level (MQTT-4.7.1-2);
 * `+` only as a whole level (MQTT-4.7.1-3).
 */
export function validateTopicFilter(filter: string, offset?: number): void {
  const n = filter.length;
  if (n === 0) fail('MQTT-4.7.3-1', 'topic filter is empty', offset);
  for (let i = 0; i < n; i++) {
    const c = filter.charCodeAt(i);
    if (c === 0x23 /* # */) {
      if (i !== n - 1 || (i > 0 && filter.charCodeAt(i - 1) !== 0x2f)) {
        fail('MQTT-4.7.1-2', 'multi-level wildcard # must be the whole last level of a topic filter', offset);
      }
    } else if (c === 0x2b /* + */) {
      if ((i > 0 && filter.charCodeAt(i - 1) !== 0x2f) || (i < n - 1 && filter.charCodeAt(i + 1) !== 0x2f)) {
        fail('MQTT-4.7.1-3', 'single-level wildcard + must occupy a whole level of a topic filter', offset);
      }
    }
  }
}

/**
 * Whether `topic` matches `filter` (MQTT 3.1.1 section 4.7). A topic starting with `$` is not matched by a filter
 * starting with a wildcard (MQTT-4.7.2-1).
 */
export function topicMatchesFilter(filter: string, topic: string): boolean {
  if (topic.charCodeAt(0) === 0x24 /* $ */) {
    const f0 = filter.charCodeAt(0);
    if (f0 === 0x23 || f0 === 0x2b) return false;
  }
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    const level = f[i];
    // '#' matches the parent level too: 'a/#' matches 'a' (section 4.7.1.2).
    if (level === '#') return true;
    if (i >= t.length) return false;
    if (level !== '+' && level !== t[i]) return false;
  }
  return f.length === t.length;
}
