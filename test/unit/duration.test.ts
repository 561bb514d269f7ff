import { describe, expect, it } from 'vitest';
import { DurationError, formatDuration, parseDuration, parseDurationSeconds } from '../../src/domain/duration.js';
import { durationMs, DurationText } from '../../src/schemas/duration.js';

describe('parseDuration', () => {
  it.each([
    ['600', 600_000],
    ['600s', 600_000],
    ['10m', 600_000],
    ['1h30m', 5_400_000],
    ['2m30s', 150_000],
    ['1.5h', 5_400_000],
    ['250ms', 250],
    ['1s500ms', 1_500],
    ['1d', 86_400_000],
    ['0', 0],
    [' 30s ', 30_000],
  ])('%s is %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it('reads numbers as seconds', () => {
    expect(parseDuration(90)).toBe(90_000);
    expect(parseDuration(0.25)).toBe(250);
  });

  it.each(['', 'abc', '-5s', '5 m', '30m1h', '1h1h', '10x', 's', '1.s'])(
    'refuses %j with the accepted forms',
    (text) => {
      expect(() => parseDuration(text)).toThrow(DurationError);
      expect(() => parseDuration(text)).toThrow(/a duration such as 30s, 10m, 1h30m/);
    },
  );

  it('refuses negative and non-finite numbers', () => {
    expect(() => parseDuration(-1)).toThrow(DurationError);
    expect(() => parseDuration(Number.NaN)).toThrow(DurationError);
  });

  it('rounds seconds up so a timeout is never shortened', () => {
    expect(parseDurationSeconds('1500ms')).toBe(2);
    expect(parseDurationSeconds('10m')).toBe(600);
  });
});

describe('formatDuration', () => {
  it.each([
    [0, '0s'],
    [250, '250ms'],
    [1_500, '1.5s'],
    [45_000, '45s'],
    [5_400_000, '1h30m'],
    [90_061_000, '1d1h1m1s'],
  ])('%d ms is %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
    expect(parseDuration(text)).toBe(ms);
  });
});

describe('duration schemas', () => {
  it('durationMs parses text and seconds and names the field on errors', () => {
    const schema = durationMs({ maxMs: 3_600_000 });
    expect(schema.parse('10m')).toBe(600_000);
    expect(schema.parse(30)).toBe(30_000);
    const bad = schema.safeParse('10 minutes');
    expect(bad.success).toBe(false);
    expect(bad.error?.issues[0]?.message).toMatch(/"10 minutes" is not a duration such as 30s/);
    expect(schema.safeParse('2h').error?.issues[0]?.message).toMatch(/longer than the maximum 3600000 ms/);
  });

  it('DurationText keeps the value as written', () => {
    expect(DurationText.parse('1h30m')).toBe('1h30m');
    expect(DurationText.safeParse('soon').success).toBe(false);
  });
});
