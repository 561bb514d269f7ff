/**
 * A small five-field cron parser and matcher for freeze windows: `minute hour day-of-month month day-of-week`, each
 * field `*`, a number, a range `a-b`, a step `*\/n`, `a-b/n` or `a/n`, or a comma-separated list of those; months
 * and weekdays also by name (`JAN`–`DEC`, `SUN`–`SAT`), weekday `7` is Sunday. As in Vixie cron, when both
 * day-of-month and day-of-week are restricted (neither starts with `*`), a day matches when EITHER does.
 *
 * Times are evaluated in UTC, or in an IANA time zone through `Intl` (a wall-clock time that a daylight-saving
 * change skips never matches; one it repeats matches twice). Pure and deterministic: usable in workflow code.
 * @module
 */

/** One parsed field: the allowed values, and whether it was written as `*` (matters for the day rule). */
interface CronField {
  readonly values: ReadonlySet<number>;
  readonly star: boolean;
}

/** A parsed cron expression. */
export interface CronExpression {
  readonly text: string;
  readonly minute: CronField;
  readonly hour: CronField;
  readonly dayOfMonth: CronField;
  readonly month: CronField;
  readonly dayOfWeek: CronField;
}

/** What {@link parseCron} returns: the expression, or why the text is not one. */
export type ParseCronResult = { ok: true; cron: CronExpression } | { ok: false; error: string };

const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const DAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

const FIELDS = [
  { name: 'minute', min: 0, max: 59, names: undefined },
  { name: 'hour', min: 0, max: 23, names: undefined },
  { name: 'day of month', min: 1, max: 31, names: undefined },
  { name: 'month', min: 1, max: 12, names: MONTHS },
  { name: 'day of week', min: 0, max: 7, names: DAYS },
] as const;

/** Thrown inside the parser; {@link parseCron} turns it into a result. */
class CronSyntaxError extends Error {}

/**
 * Parses a five-field cron expression.
 * @example parseCron('0 22 * * FRI') // Fridays at 22:00
 * @example parseCron('*\/15 9-17 * * 1-5') // every 15 minutes, 9:00–17:45, Monday to Friday
 */
export function parseCron(text: string): ParseCronResult {
  const parts = text.trim().split(/\s+/);
  if (parts.length !== 5 || parts[0] === '') {
    return {
      ok: false,
      error: `"${text}" has ${parts[0] === '' ? 0 : parts.length} fields; expected 5 (minute hour day-of-month month day-of-week)`,
    };
  }
  try {
    const [minute, hour, dayOfMonth, month, dayOfWeek] = parts.map((p, i) => parseField(p, i)) as [
      CronField,
      CronField,
      CronField,
      CronField,
      CronField,
    ];
    // Sunday is 0 and 7: keep one spelling.
    const dow = new Set([...dayOfWeek.values].map((d) => (d === 7 ? 0 : d)));
    return {
      ok: true,
      cron: { text, minute, hour, dayOfMonth, month, dayOfWeek: { values: dow, star: dayOfWeek.star } },
    };
  } catch (err) {
    if (err instanceof CronSyntaxError) return { ok: false, error: `"${text}": ${err.message}` };
    throw err;
  }
}

function parseField(text: string, index: number): CronField {
  const spec = FIELDS[index] as (typeof FIELDS)[number];
  const values = new Set<number>();
  for (const item of text.split(',')) {
    const [range = '', stepText, extra] = item.split('/');
    if (extra !== undefined) throw new CronSyntaxError(`${spec.name} "${item}": more than one "/"`);
    const step = stepText === undefined ? 1 : toNumber(stepText, spec, 'step');
    if (step < 1) throw new CronSyntaxError(`${spec.name} "${item}": the step must be at least 1`);
    let from: number;
    let to: number;
    if (range === '*') {
      from = spec.min;
      to = spec.max;
    } else if (range.includes('-')) {
      const [a = '', b = ''] = range.split('-');
      from = toValue(a, spec);
      to = toValue(b, spec);
      if (from > to) throw new CronSyntaxError(`${spec.name} "${item}": the range runs backwards`);
    } else {
      from = toValue(range, spec);
      to = stepText === undefined ? from : spec.max; // `a/n`: from a to the end, every n
    }
    for (let v = from; v <= to; v += step) values.add(v);
  }
  return { values, star: text.startsWith('*') };
}

function toValue(text: string, spec: (typeof FIELDS)[number]): number {
  const names: readonly string[] | undefined = spec.names;
  const byName = names?.indexOf(text.toUpperCase()) ?? -1;
  if (byName >= 0) return byName + (spec.name === 'month' ? 1 : 0);
  const n = toNumber(text, spec, 'value');
  if (n < spec.min || n > spec.max)
    throw new CronSyntaxError(`${spec.name} ${n} is out of range ${spec.min}-${spec.max}`);
  return n;
}

function toNumber(text: string, spec: (typeof FIELDS)[number], what: string): number {
  if (!/^\d+$/.test(text)) {
    const names = spec.names ? ` or a name (${spec.names.join(', ')})` : '';
    throw new CronSyntaxError(`${spec.name} ${what} "${text}" is not a number${what === 'value' ? names : ''}`);
  }
  return Number(text);
}

/** Wall-clock fields of an instant. */
export interface WallClock {
  minute: number;
  hour: number;
  dayOfMonth: number;
  /** 1–12. */
  month: number;
  /** 0 (Sunday) – 6. */
  dayOfWeek: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/**
 * The wall-clock fields of `ms` (epoch milliseconds) in `timeZone` (an IANA name; UTC when absent).
 * @throws RangeError for an unknown time zone.
 */
export function wallClock(ms: number, timeZone?: string): WallClock {
  const d = new Date(ms);
  if (!timeZone || timeZone === 'UTC') {
    return {
      minute: d.getUTCMinutes(),
      hour: d.getUTCHours(),
      dayOfMonth: d.getUTCDate(),
      month: d.getUTCMonth() + 1,
      dayOfWeek: d.getUTCDay(),
    };
  }
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      minute: 'numeric',
      hour: 'numeric',
      day: 'numeric',
      month: 'numeric',
      weekday: 'short',
    });
    formatters.set(timeZone, f);
  }
  const parts = Object.fromEntries(f.formatToParts(d).map((p) => [p.type, p.value]));
  return {
    minute: Number(parts.minute),
    hour: Number(parts.hour) % 24,
    dayOfMonth: Number(parts.day),
    month: Number(parts.month),
    dayOfWeek: DAYS.indexOf(String(parts.weekday).toUpperCase().slice(0, 3)),
  };
}

/** Whether `timeZone` is an IANA time zone name this runtime knows. */
export function isKnownTimeZone(timeZone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
    return true;
  } catch {
    return false;
  }
}

/** Whether the minute containing `ms` matches the expression (in `timeZone`, UTC when absent). */
export function cronMatches(cron: CronExpression, ms: number, timeZone?: string): boolean {
  const t = wallClock(ms, timeZone);
  if (!cron.minute.values.has(t.minute) || !cron.hour.values.has(t.hour) || !cron.month.values.has(t.month))
    return false;
  const dom = cron.dayOfMonth.values.has(t.dayOfMonth);
  const dow = cron.dayOfWeek.values.has(t.dayOfWeek);
  if (!cron.dayOfMonth.star && !cron.dayOfWeek.star) return dom || dow;
  return dom && dow;
}

const MINUTE = 60_000;

/**
 * The latest minute start `t` with `since < t <= until` that matches, or undefined. Scans minute by minute,
 * backwards; `until - since` is bounded by the caller (a freeze window's duration).
 */
export function lastMatchBetween(
  cron: CronExpression,
  sinceMs: number,
  untilMs: number,
  timeZone?: string,
): number | undefined {
  for (let t = Math.floor(untilMs / MINUTE) * MINUTE; t > sinceMs; t -= MINUTE) {
    if (cronMatches(cron, t, timeZone)) return t;
  }
  return undefined;
}
