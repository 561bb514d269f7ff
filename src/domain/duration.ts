/**
 * Durations as kubectl, Helm and Go write them: `600s`, `10m`, `1h30m`, `1.5h`, `250ms`, or plain seconds (`600`,
 * also as a number). One parser for every time flag, configuration value and workflow input field, so that
 * `--timeout 600s` and `timeoutSeconds: 600` mean the same thing everywhere.
 *
 * Pure and deterministic: usable in workflow code.
 * @module
 */

const UNIT_MS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/y;
const PLAIN_SECONDS = /^\d+(?:\.\d+)?$/;

/** The grammar, quoted in error messages. */
export const DURATION_HINT = 'a duration such as 30s, 10m, 1h30m, 250ms or plain seconds (600)';

/** Thrown for text that is not a duration; the message quotes the text and the expected form. */
export class DurationError extends Error {
  override readonly name = 'DurationError';
}

/**
 * Parses a duration to milliseconds. Plain numbers (and numeric strings) are seconds. Units: `ms`, `s`, `m`, `h`,
 * `d`, combinable in decreasing order without spaces (`1h30m`, `2m30s`); decimals are allowed (`1.5h`).
 * @throws DurationError for anything else (empty, negative, unknown unit, units out of order, not finite).
 * @example parseDuration('1h30m') // 5_400_000
 * @example parseDuration(600) // 600_000
 */
export function parseDuration(value: string | number): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) throw new DurationError(`${value} is not ${DURATION_HINT}`);
    return Math.round(value * 1_000);
  }
  const text = value.trim();
  if (PLAIN_SECONDS.test(text)) return Math.round(Number(text) * 1_000);
  if (text === '') throw new DurationError(`"" is not ${DURATION_HINT}`);
  let total = 0;
  let lastUnit = Number.POSITIVE_INFINITY;
  PART.lastIndex = 0;
  while (PART.lastIndex < text.length) {
    const at = PART.lastIndex;
    const match = PART.exec(text);
    if (!match) throw new DurationError(`"${value}" is not ${DURATION_HINT} (unexpected "${text.slice(at)}")`);
    const unit = UNIT_MS[match[2] as string] as number;
    if (unit >= lastUnit)
      throw new DurationError(`"${value}" is not ${DURATION_HINT} (units must decrease, as in 1h30m)`);
    lastUnit = unit;
    total += Number(match[1]) * unit;
  }
  return Math.round(total);
}

/** {@link parseDuration} in whole seconds (rounded up, so `1500ms` is 2 s: a timeout is never shortened). */
export function parseDurationSeconds(value: string | number): number {
  return Math.ceil(parseDuration(value) / 1_000);
}

/**
 * Formats milliseconds the way {@link parseDuration} reads them, largest units first: `1h30m`, `45s`, `250ms`,
 * `0s`. Sub-second parts are kept only below one minute.
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms <= 0) return '0s';
  if (ms < 1_000) return `${Math.round(ms)}ms`;
  let rest = Math.round(ms / 1_000);
  if (ms < 60_000 && ms % 1_000 !== 0) return `${(ms / 1_000).toFixed(1).replace(/\.0$/, '')}s`;
  const parts: string[] = [];
  for (const [unit, size] of [
    ['d', 86_400],
    ['h', 3_600],
    ['m', 60],
    ['s', 1],
  ] as const) {
    const n = Math.floor(rest / size);
    if (n > 0) parts.push(`${n}${unit}`);
    rest -= n * size;
  }
  return parts.join('');
}
