import { describe, expect, it } from 'vitest';
import { parseRetryAfter as alertsParseRetryAfter } from '../../src/alerts/index.js';
import { parseRetryAfter } from '../../src/domain/retry-after.js';
import { kubeErrorFromResponse } from '../../src/kube/errors.js';

const NOW = Date.parse('2026-03-01T12:00:00.000Z');

describe('parseRetryAfter', () => {
  describe('delay-seconds', () => {
    it.each<[string, number]>([
      ['3', 3],
      [' 0 ', 0],
      ['120', 120],
    ])('reads %j as %i seconds', (header, seconds) => {
      expect(parseRetryAfter(header, NOW)).toBe(seconds);
    });
  });

  describe('HTTP-date', () => {
    it('reads an IMF-fixdate as the whole seconds until then', () => {
      expect(parseRetryAfter(new Date(NOW + 30_000).toUTCString(), NOW)).toBe(30);
    });

    it('rounds a partial second up, so the wait is never shorter than asked', () => {
      expect(parseRetryAfter('Sun, 01 Mar 2026 12:00:01 GMT', NOW - 500)).toBe(2);
    });

    it('reads a date in the past as 0 seconds', () => {
      expect(parseRetryAfter(new Date(NOW - 60_000).toUTCString(), NOW)).toBe(0);
    });

    it('reads the obsolete RFC 850 form too', () => {
      expect(parseRetryAfter('Sunday, 01-Mar-26 12:01:00 GMT', NOW)).toBe(60);
    });
  });

  describe('anything else is no delay', () => {
    it.each<[string | null | undefined]>([['-1'], ['1.5'], ['3s'], ['120abc'], ['soon'], [''], [null], [undefined]])(
      'reads %j as undefined',
      (header) => {
        expect(parseRetryAfter(header, NOW)).toBeUndefined();
      },
    );
  });

  it('is the parser the alert channels export', () => {
    expect(alertsParseRetryAfter).toBe(parseRetryAfter);
  });

  it('is the parser the Kubernetes error mapping uses: an HTTP-date on a 429 becomes seconds', () => {
    const err = kubeErrorFromResponse(429, '', undefined, new Date(NOW + 45_000).toUTCString(), NOW);
    expect(err.retryAfterSeconds).toBe(45);
  });
});
