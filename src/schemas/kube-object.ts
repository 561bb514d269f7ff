/**
 * Schemas for Kubernetes objects as kube-workflows sees them: the minimum shape every manifest must have
 * (apiVersion, kind, metadata.name), everything else passed through untouched to the API server.
 * @module
 */
import { z } from 'zod';

/** DNS-1123 subdomain: what Kubernetes accepts for most object names. */
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** DNS-1123 label: what Kubernetes accepts for namespace names. */
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** A namespace name (DNS-1123 label, at most 63 characters). */
export const NamespaceName = z
  .string()
  .max(63, 'a namespace name has at most 63 characters')
  .regex(
    DNS_LABEL,
    'a namespace name is lowercase letters, digits and "-", starting and ending with a letter or digit',
  );

/** `metadata` of a manifest: name required, namespace optional (filled in from the target namespace). */
export const ObjectMeta = z.looseObject({
  name: z
    .string({ error: 'metadata.name is required' })
    .min(1, 'metadata.name must not be empty')
    .max(253, 'metadata.name has at most 253 characters')
    .regex(DNS_SUBDOMAIN, 'metadata.name must be lowercase letters, digits, "-" and "."'),
  namespace: NamespaceName.optional(),
  labels: z.record(z.string(), z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});

/** One Kubernetes object from a manifest. Unknown fields are kept: the API server validates them. */
export const KubeObject = z.looseObject({
  apiVersion: z.string({ error: 'apiVersion is required' }).min(1, 'apiVersion must not be empty'),
  kind: z
    .string({ error: 'kind is required' })
    .regex(/^[A-Z][A-Za-z0-9]*$/, 'kind must be a CamelCase name such as Deployment'),
  metadata: ObjectMeta,
});
/** One Kubernetes object from a manifest. */
export type KubeObject = z.infer<typeof KubeObject>;

/** Identifies one object: what the report and every message use, formatted as `Kind/namespace/name`. */
export const ObjectRef = z.object({
  apiVersion: z.string(),
  kind: z.string(),
  namespace: z.string().optional(),
  name: z.string(),
});
/** Identifies one object. */
export type ObjectRef = z.infer<typeof ObjectRef>;
