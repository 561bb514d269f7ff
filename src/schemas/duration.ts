/**
 * Zod schemas for durations (`30s`, `10m`, `1h30m`, plain seconds), parsed by {@link parseDuration}: the one
 * duration grammar of every workflow input, configuration file and CLI flag.
 * @module
 */
import { z } from 'zod';
import { DURATION_HINT, DurationError, parseDuration } from '../domain/duration.js';

/** Options of {@link durationMs}. */
export interface DurationBounds {
  /** Smallest allowed value in milliseconds (default 0). */
  readonly minMs?: number;
  /** Largest allowed value in milliseconds. */
  readonly maxMs?: number;
}

/**
 * A duration given as text (`'10m'`) or seconds (`600`), parsed to milliseconds. Errors name the field (zod's
 * path) and quote the accepted forms.
 * @example durationMs({ maxMs: 86_400_000 }).parse('1h30m') // 5_400_000
 */
export function durationMs(bounds: DurationBounds = {}) {
  return z.union([z.string(), z.number()]).transform((value, ctx) => {
    let ms: number;
    try {
      ms = parseDuration(value);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: err instanceof DurationError ? err.message : DURATION_HINT });
      return z.NEVER;
    }
    if (bounds.minMs !== undefined && ms < bounds.minMs) {
      ctx.addIssue({ code: 'custom', message: `${String(value)} is shorter than the minimum ${bounds.minMs} ms` });
      return z.NEVER;
    }
    if (bounds.maxMs !== undefined && ms > bounds.maxMs) {
      ctx.addIssue({ code: 'custom', message: `${String(value)} is longer than the maximum ${bounds.maxMs} ms` });
      return z.NEVER;
    }
    return ms;
  });
}

/** A duration as it is written (text or seconds), validated but not converted: for inputs kept verbatim. */
export const DurationText = z.union([z.string(), z.number()]).superRefine((value, ctx) => {
  try {
    parseDuration(value);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: err instanceof DurationError ? err.message : DURATION_HINT });
  }
});
/** A duration as written: `'1h30m'`, `'600s'` or `600` (seconds). */
export type DurationText = z.infer<typeof DurationText>;
