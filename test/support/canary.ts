/**
 * Canary strings for the encryption tests: a secret that must never reach the Temporal server in any form.
 */
import { randomBytes } from 'node:crypto';

/** A fresh canary: `canary-` and 12 random hex characters. */
export function newCanary(): string {
  return `canary-${randomBytes(6).toString('hex')}`;
}

/**
 * The canary, and its base64 at each of the three byte alignments (as it would sit inside longer base64 text): a
 * text contains the canary, plainly or base64-encoded inside something larger, when it contains one of these.
 */
export function canaryNeedles(canary: string): string[] {
  return [
    canary,
    ...[0, 1, 2].map((shift) => {
      const b64 = Buffer.concat([Buffer.alloc(shift), Buffer.from(canary)]).toString('base64');
      return b64.slice(Math.ceil((shift * 4) / 3), -3);
    }),
  ];
}
