/**
 * Errors the client throws before anything starts.
 * @module
 */

/** The input was rejected before anything started (CLI exit code 2). */
export class InvalidInputError extends Error {
  override readonly name = 'InvalidInputError';
}
