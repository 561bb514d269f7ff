/**
 * What the client checks and computes before it starts a deploy — directly or from a schedule: the same
 * preparation the workflow runs in its first task (what passes here passes there), the app and home namespace,
 * the canonical deploy id (the lock), the refusal of Secrets without encryption, and compact packing of large
 * manifests.
 * @module
 */
import { z } from 'zod';
import { packJson } from '../domain/compression.js';
import { prepareObjects } from '../domain/deploy-input.js';
import { formatProblems } from '../domain/manifests.js';
import { plaintextSecretsRefusal } from '../domain/secrets.js';
import { inferAppName } from '../domain/subject.js';
import { deployWorkflowId } from '../domain/workflow-ids.js';
import { DeployManifestsInput } from '../schemas/deploy.js';
import type { KubeObject } from '../schemas/kube-object.js';
import { InvalidInputError } from './errors.js';

/** Above this many bytes of manifest text the client sends it gzip-packed (`compressed`). */
export const COMPRESS_ABOVE_BYTES = 256 * 1024;

/** What the client knows about itself when it prepares a start. */
export interface DeployStartContext {
  /** The canonical name of the default cluster (used in the id when the input names no cluster). */
  defaultCluster: string;
  /** Whether the client encrypts payloads. */
  payloadsEncrypted: boolean;
  /** Opt-out of the refusal of Secrets without encryption. */
  allowPlaintextSecrets: boolean;
}

/** A validated deploy, ready to start. */
export interface PreparedDeployStart {
  /** The input to send (with the app filled in, large manifests packed). */
  input: DeployManifestsInput;
  /** The canonical deploy id `deploy/<cluster>/<namespace>/<app>`. */
  workflowId: string;
  app: string;
  /** The home namespace (the input's, else the first object's). */
  namespace: string | undefined;
  /** How many objects the manifests hold. */
  objectCount: number;
}

/**
 * Validates a deploy input and computes its start. Throws {@link InvalidInputError} (nothing started) when the
 * input or a manifest is invalid, or when it holds a Secret and neither encryption nor the opt-out is on.
 */
export function prepareDeployStart(raw: DeployManifestsInput, context: DeployStartContext): PreparedDeployStart {
  const parsed = DeployManifestsInput.safeParse(raw);
  if (!parsed.success) throw new InvalidInputError(`invalid deploy input:\n${z.prettifyError(parsed.error)}`);
  const v = parsed.data;
  const objects = prepareObjects(v, undefined);
  if (!objects.ok) throw new InvalidInputError(formatProblems(objects.problems));
  if (!objects.objects.length) throw new InvalidInputError('the manifests contain no objects');
  if (v.prune && !v.app)
    throw new InvalidInputError('prune needs an explicit app name (--app): it deletes what left that app');
  const refusal = plaintextSecretsRefusal({ ...context, objects: objects.objects, side: 'client' });
  if (refusal) throw new InvalidInputError(refusal);
  const app = v.app ?? inferAppName(objects.objects) ?? 'app';
  const namespace = v.namespace ?? objects.objects.find((o) => o.metadata.namespace)?.metadata.namespace;
  return {
    input: packLarge({ ...raw, app }, objects.objects),
    workflowId: deployWorkflowId({ cluster: v.cluster ?? context.defaultCluster, namespace, app }),
    app,
    namespace,
    objectCount: objects.objects.length,
  };
}

/**
 * Large manifest text is sent as the objects the client has just parsed, packed (`packedObjects`): the start payload
 * stays far below Temporal's 2 MB limit, and neither the workflow's first task nor the worker parses the YAML again
 * (YAML parsing is the slow part: about a second per 4.6 MB bundle; unpacking its JSON a tenth of that).
 */
function packLarge(input: DeployManifestsInput, objects: readonly KubeObject[]): DeployManifestsInput {
  const sources = input.sources ?? (input.manifests !== undefined ? [{ text: input.manifests }] : undefined);
  if (!sources || sources.reduce((n, s) => n + s.text.length, 0) <= COMPRESS_ABOVE_BYTES) return input;
  const { manifests: _m, sources: _s, ...rest } = input;
  return { ...rest, packedObjects: packJson(objects) };
}
