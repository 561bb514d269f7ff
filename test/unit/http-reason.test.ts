/** httpReason: the one table of reason names for HTTP statuses, in HTTP's words and in the API server's. */
import { describe, expect, it } from 'vitest';
import { httpReason } from '../../src/domain/http-reason.js';

describe('httpReason', () => {
  it.each([
    [404, 'NotFound'],
    [410, 'Gone'],
    [422, 'UnprocessableEntity'],
    [503, 'ServiceUnavailable'],
    [302, 'Redirect'],
    [418, 'ClientError'],
    [599, 'ServerError'],
  ])('HTTP %i is %s in HTTP words', (status, reason) => {
    expect(httpReason(status)).toBe(reason);
  });

  it.each([
    [404, 'NotFound'],
    [409, 'Conflict'],
    [410, 'Expired'],
    [422, 'Invalid'],
    [503, 'InternalError'],
    [418, 'Unknown'],
  ])('HTTP %i is %s in the API server words', (status, reason) => {
    expect(httpReason(status, 'kubernetes')).toBe(reason);
  });
});
