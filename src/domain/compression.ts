/**
 * Compact, deterministic encoding of large manifests and captured state: gzip (fflate, pure JS, safe inside the
 * workflow sandbox) then base64. Used to keep payloads far below Temporal's 2 MB limit: real CRD bundles are
 * 1–5 MB of YAML and compress about tenfold.
 * @module
 */
import { gunzipSync, gzipSync, strFromU8, strToU8 } from 'fflate';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const LOOKUP = new Map([...ALPHABET].map((c, i) => [c, i]));

/** Compresses any JSON value to a base64 string. `mtime: 0` keeps the output identical for identical input. */
export function packJson(value: unknown): string {
  return toBase64(gzipSync(strToU8(JSON.stringify(value)), { level: 6, mtime: 0 }));
}

/** Inverse of {@link packJson}. Throws on a malformed string. */
export function unpackJson<T>(packed: string): T {
  return JSON.parse(strFromU8(gunzipSync(fromBase64(packed)))) as T;
}

/** Standard base64 (with padding) of bytes. */
export function toBase64(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const a = bytes[i] as number;
    const b = bytes[i + 1];
    const c = bytes[i + 2];
    const n = (a << 16) | ((b ?? 0) << 8) | (c ?? 0);
    out += ALPHABET[(n >> 18) & 63];
    out += ALPHABET[(n >> 12) & 63];
    out += b === undefined ? '=' : ALPHABET[(n >> 6) & 63];
    out += c === undefined ? '=' : ALPHABET[n & 63];
  }
  return out;
}

/** Bytes of a standard base64 string. Throws on characters outside the alphabet. */
export function fromBase64(text: string): Uint8Array {
  const clean = text.replace(/[\s=]+/g, '');
  const out = new Uint8Array(Math.floor((clean.length * 3) / 4));
  let bits = 0;
  let value = 0;
  let j = 0;
  for (const ch of clean) {
    const v = LOOKUP.get(ch);
    if (v === undefined) throw new Error(`invalid base64 character "${ch}"`);
    value = (value << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[j++] = (value >> bits) & 0xff;
    }
  }
  return out.subarray(0, j);
}
