import { describe, it, expect } from 'vitest';
import { FailureType } from '../../src/domain/failures.js';
import {
  KubeApiError,
  failureTypeForStatus,
  isKubeApiError,
  kubeErrorFromNetwork,
  kubeErrorFromResponse,
} from '../../src/kube/errors.js';

/** Status bodies as a real kube-apiserver (v1.31) returns them. */
const STATUS = {
  notFound: JSON.stringify({
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: 'deployments.apps "web" not found',
    reason: 'NotFound',
    details: { name: 'web', group: 'apps', kind: 'deployments' },
    code: 404,
  }),
  applyConflict: JSON.stringify({
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: 'Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using apps/v1: .spec.replicas',
    reason: 'Conflict',
    details: {
      causes: [
        {
          reason: 'FieldManagerConflict',
          message: 'conflict with "kubectl-client-side-apply" using apps/v1',
          field: '.spec.replicas',
        },
      ],
    },
    code: 409,
  }),
  alreadyExists: JSON.stringify({
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: 'namespaces "shop" already exists',
    reason: 'AlreadyExists',
    details: { name: 'shop', kind: 'namespaces' },
    code: 409,
  }),
  invalid: JSON.stringify({
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message:
      'Deployment.apps "web" is invalid: [spec.replicas: Invalid value: -1: must be greater than or equal to 0, ' +
      'spec.template.spec.containers[0].image: Required value]',
    reason: 'Invalid',
    details: {
      name: 'web',
      group: 'apps',
      kind: 'Deployment',
      causes: [
        {
          reason: 'FieldValueInvalid',
          message: 'Invalid value: -1: must be greater than or equal to 0',
          field: 'spec.replicas',
        },
        { reason: 'FieldValueRequired', message: 'Required value', field: 'spec.template.spec.containers[0].image' },
      ],
    },
    code: 422,
  }),
  tooManyRequests: JSON.stringify({
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: 'Too many requests, please try again later.',
    reason: 'TooManyRequests',
    details: { retryAfterSeconds: 3 },
    code: 429,
  }),
  internalError: JSON.stringify({
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: 'Internal error occurred: failed calling webhook "validate.example.com": connection refused',
    reason: 'InternalError',
    details: { causes: [{ message: 'failed calling webhook "validate.example.com": connection refused' }] },
    code: 500,
  }),
};

const WEB = 'Deployment/shop/web';

describe('kubeErrorFromResponse', () => {
  describe('404 NotFound', () => {
    const err = kubeErrorFromResponse(404, STATUS.notFound, WEB, undefined);

    it('is a KubeApiError', () => {
      expect([err instanceof KubeApiError, isKubeApiError(err), err.name]).toEqual([true, true, 'KubeApiError']);
    });

    it('names the object, then the server message, then the HTTP status and reason', () => {
      expect(err.message).toBe('Deployment/shop/web: deployments.apps "web" not found [HTTP 404 NotFound]');
    });

    it('keeps the status, reason and subject', () => {
      expect({ status: err.status, reason: err.reason, subject: err.subject }).toEqual({
        status: 404,
        reason: 'NotFound',
        subject: WEB,
      });
    });

    it('is classified KubeNotFound', () => {
      expect(err.failureType).toBe(FailureType.KubeNotFound);
    });

    it('has no retry delay', () => {
      expect(err.retryAfterSeconds).toBeUndefined();
    });
  });

  describe('409 server-side apply conflict', () => {
    const err = kubeErrorFromResponse(409, STATUS.applyConflict, WEB, undefined);

    it('is classified ApplyConflict', () => {
      expect(err.failureType).toBe(FailureType.ApplyConflict);
    });

    it('keeps the conflicting manager and field and tells how to take the fields over', () => {
      expect(err.message).toBe(
        'Deployment/shop/web: Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using apps/v1: .spec.replicas ' +
          '(another field manager owns these fields; set force: true to take them over) [HTTP 409 Conflict]',
      );
    });
  });

  describe('409 AlreadyExists', () => {
    const err = kubeErrorFromResponse(409, STATUS.alreadyExists, 'Namespace/shop', undefined);

    it('is not an apply conflict but a retryable KubeUnavailable', () => {
      expect(err.failureType).toBe(FailureType.KubeUnavailable);
    });

    it('does not suggest force', () => {
      expect(err.message).toBe('Namespace/shop: namespaces "shop" already exists [HTTP 409 AlreadyExists]');
    });
  });

  describe('422 Invalid with causes', () => {
    const err = kubeErrorFromResponse(422, STATUS.invalid, WEB, undefined);

    it('is classified KubeInvalid', () => {
      expect(err.failureType).toBe(FailureType.KubeInvalid);
    });

    it('names every invalid field and why', () => {
      expect(err.message).toBe(
        'Deployment/shop/web: Deployment.apps "web" is invalid: [spec.replicas: Invalid value: -1: must be greater than or ' +
          'equal to 0, spec.template.spec.containers[0].image: Required value] [HTTP 422 Invalid]',
      );
    });

    it('keeps the reason "Invalid"', () => {
      expect(err.reason).toBe('Invalid');
    });
  });

  describe('429 TooManyRequests with Retry-After', () => {
    const err = kubeErrorFromResponse(429, STATUS.tooManyRequests, WEB, '3');

    it('is a retryable KubeUnavailable', () => {
      expect(err.failureType).toBe(FailureType.KubeUnavailable);
    });

    it('carries the seconds from the Retry-After header', () => {
      expect(err.retryAfterSeconds).toBe(3);
    });

    it('says the request was throttled', () => {
      expect(err.message).toBe(
        'Deployment/shop/web: Too many requests, please try again later. [HTTP 429 TooManyRequests]',
      );
    });
  });

  it('reads a Retry-After header in HTTP-date form as the seconds until then', () => {
    const now = Date.parse('2025-10-21T07:27:00Z');
    const err = kubeErrorFromResponse(503, '', undefined, 'Tue, 21 Oct 2025 07:28:00 GMT', now);
    expect(err.retryAfterSeconds).toBe(60);
  });

  it('has no retry delay without a Retry-After header', () => {
    expect(kubeErrorFromResponse(429, STATUS.tooManyRequests, WEB, undefined).retryAfterSeconds).toBeUndefined();
  });

  describe('500 InternalError', () => {
    const err = kubeErrorFromResponse(500, STATUS.internalError, WEB, undefined);

    it('is a retryable KubeUnavailable', () => {
      expect(err.failureType).toBe(FailureType.KubeUnavailable);
    });

    it('keeps the server message', () => {
      expect(err.message).toBe(
        'Deployment/shop/web: Internal error occurred: failed calling webhook "validate.example.com": connection refused [HTTP 500 InternalError]',
      );
    });
  });

  it('leaves the subject out of the message when there is none', () => {
    const err = kubeErrorFromResponse(404, STATUS.notFound, undefined, undefined);
    expect([err.message, err.subject]).toEqual(['deployments.apps "web" not found [HTTP 404 NotFound]', undefined]);
  });

  it('uses a plain-text body as the message and derives the reason from the status', () => {
    const err = kubeErrorFromResponse(
      403,
      'forbidden: User "system:anonymous" cannot list resource "pods"\n',
      undefined,
      undefined,
    );
    expect([err.message, err.reason, err.failureType]).toEqual([
      'forbidden: User "system:anonymous" cannot list resource "pods" [HTTP 403 Forbidden]',
      'Forbidden',
      FailureType.KubeForbidden,
    ]);
  });

  it('cuts a long non-Status body (e.g. a proxy error page) to 300 characters', () => {
    const page = `<html><body>${'x'.repeat(1000)}</body></html>`;
    const err = kubeErrorFromResponse(502, page, undefined, undefined);
    expect(err.message).toBe(`${page.slice(0, 300)} [HTTP 502 InternalError]`);
  });

  it('says "HTTP <status>" when the body is empty', () => {
    expect(kubeErrorFromResponse(503, '', undefined, undefined).message).toBe('HTTP 503 [HTTP 503 InternalError]');
  });

  it('derives the reason from the status when the JSON body has none', () => {
    expect(
      kubeErrorFromResponse(410, JSON.stringify({ message: 'too old resource version: 1 (2)' }), undefined, undefined)
        .reason,
    ).toBe('Expired');
  });

  it('never puts response headers in the message, even the Retry-After it reads', () => {
    const err = kubeErrorFromResponse(429, STATUS.tooManyRequests, WEB, '17');
    expect([/retry-after/i.test(err.message), err.message.includes('17'), err.retryAfterSeconds]).toEqual([
      false,
      false,
      17,
    ]);
  });

  it('keeps only the Status message, not the rest of the body', () => {
    const err = kubeErrorFromResponse(404, STATUS.notFound, WEB, undefined);
    expect([
      err.message.includes('"kind"'),
      err.message.includes('apiVersion'),
      err.message.includes('details'),
    ]).toEqual([false, false, false]);
  });
});

describe('failureTypeForStatus', () => {
  it.each([
    [400, '', FailureType.KubeInvalid],
    [422, 'Invalid', FailureType.KubeInvalid],
    [401, '', FailureType.KubeForbidden],
    [403, 'Forbidden', FailureType.KubeForbidden],
    [404, 'NotFound', FailureType.KubeNotFound],
    [409, 'Conflict', FailureType.ApplyConflict],
    [409, '', FailureType.ApplyConflict],
    [409, 'AlreadyExists', FailureType.KubeUnavailable],
    [410, 'Expired', FailureType.KubeUnavailable],
    [429, 'TooManyRequests', FailureType.KubeUnavailable],
    [500, 'InternalError', FailureType.KubeUnavailable],
    [503, 'ServiceUnavailable', FailureType.KubeUnavailable],
    [504, 'Timeout', FailureType.KubeUnavailable],
    [0, 'ECONNREFUSED', FailureType.KubeUnavailable],
  ] as const)('maps HTTP %i %s to %s', (status, reason, type) => {
    expect(failureTypeForStatus(status, reason)).toBe(type);
  });

  it('treats a 409 without a reason as an apply conflict', () => {
    expect(failureTypeForStatus(409)).toBe(FailureType.ApplyConflict);
  });
});

describe('kubeErrorFromNetwork', () => {
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6443'), { code: 'ECONNREFUSED' });

  it('is a retryable KubeUnavailable with status 0', () => {
    const err = kubeErrorFromNetwork(refused, 'https://127.0.0.1:6443');
    expect([err.failureType, err.status]).toEqual([FailureType.KubeUnavailable, 0]);
  });

  it('uses the network error code as the reason', () => {
    expect(kubeErrorFromNetwork(refused, 'https://127.0.0.1:6443').reason).toBe('ECONNREFUSED');
  });

  it('names the server and the cause', () => {
    expect(kubeErrorFromNetwork(refused, 'https://127.0.0.1:6443').message).toBe(
      'cannot reach the Kubernetes API at https://127.0.0.1:6443: connect ECONNREFUSED 127.0.0.1:6443',
    );
  });

  it('names the object when given one', () => {
    const err = kubeErrorFromNetwork(refused, 'https://127.0.0.1:6443', WEB);
    expect([err.subject, err.message.startsWith('Deployment/shop/web: cannot reach')]).toEqual([WEB, true]);
  });

  it('uses "NetworkError" as the reason when the error has no code', () => {
    expect(kubeErrorFromNetwork(new Error('socket hang up'), 'https://k8s').reason).toBe('NetworkError');
  });

  it('accepts a thrown non-Error value', () => {
    const err = kubeErrorFromNetwork('timeout', 'https://k8s');
    expect([err.reason, err.message]).toEqual([
      'NetworkError',
      'cannot reach the Kubernetes API at https://k8s: timeout',
    ]);
  });
});

describe('409 "the object has been modified" (optimistic concurrency)', () => {
  const body = JSON.stringify({
    kind: 'Status',
    apiVersion: 'v1',
    status: 'Failure',
    message:
      'Operation cannot be fulfilled on deployments.apps "web": the object has been modified; please apply your changes to the latest version and try again',
    reason: 'Conflict',
    details: { name: 'web', group: 'apps', kind: 'deployments' },
    code: 409,
  });

  it('is retryable KubeUnavailable, not a field-manager ApplyConflict', () => {
    const err = kubeErrorFromResponse(409, body, 'Deployment/shop/web', undefined);
    expect(err.failureType).toBe(FailureType.KubeUnavailable);
    expect(err.message).not.toMatch(/force/);
  });
});

describe('422 whose fields are only in details.causes', () => {
  it('lists each cause with its field in the message', () => {
    const body = JSON.stringify({
      kind: 'Status',
      status: 'Failure',
      message: 'admission webhook "validate.example.com" denied the request',
      reason: 'Invalid',
      details: { causes: [{ field: 'spec.replicas', message: 'must be at most 10' }] },
      code: 422,
    });
    const err = kubeErrorFromResponse(422, body, 'Deployment/shop/web', undefined);
    expect(err.message).toMatch(/denied the request: spec\.replicas: must be at most 10/);
    expect(err.failureType).toBe(FailureType.KubeInvalid);
  });
});
