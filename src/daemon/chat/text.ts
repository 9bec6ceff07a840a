/** Text as people type it in any chat, after the platform's markup is removed. */

/** Words, with "double quoted" or 'single quoted' runs kept together (key="two words" too). */
export function splitWords(text: string): string[] {
  const out: string[] = [];
  const re = /(?:[^\s"']+|"[^"]*"|'[^']*')+/g;
  for (const m of text.matchAll(re)) out.push(m[0].replace(/"([^"]*)"|'([^']*)'/g, (_a, d?: string, s?: string) => d ?? s ?? ''));
  return out;
}

const UNITS: Record<string, string> = {
  ms: 'ms', s: 's', sec: 's', secs: 's', second: 's', seconds: 's',
  m: 'm', min: 'm', mins: 'm', minute: 'm', minutes: 'm',
  h: 'h', hr: 'h', hrs: 'h', hour: 'h', hours: 'h',
  d: 'd', day: 'd', days: 'd',
};

/**
 * "for 2 hours" -> "for 2h": a usage placeholder takes one word, people write durations as two.
 * "an hour" / "a minute" count as 1.
 */
export function joinDurations(words: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < words.length; i++) {
    const w = words[i];
    const unit = UNITS[words[i + 1]?.toLowerCase() ?? ''];
    if (unit && (/^\d+(\.\d+)?$/.test(w) || /^an?$/i.test(w))) {
      out.push(`${/^an?$/i.test(w) ? '1' : w}${unit}`);
      i++;
    } else out.push(w);
  }
  return out;
}
