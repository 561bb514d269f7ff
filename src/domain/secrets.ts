/**
 * Secrets are safe by default: a deploy that contains a Secret writes its value into workflow history (the start
 * input and, when the Secret already exists, the rollback snapshot of the live one). Without payload encryption
 * that history is readable by anyone who can read the Temporal namespace, so such a deploy is refused before it
 * starts — by the client, and again by the worker's `planDeploy` for runs started from the Web UI or the
 * `temporal` CLI — unless encryption is on or plaintext Secrets were explicitly allowed.
 *
 * Only objects in the deploy are ever snapshotted for rollback, so "the deploy contains a Secret" is also exactly
 * the condition under which a snapshot could hold one.
 * @module
 */
import { subjectOf } from './subject.js';

/** Environment variable (client, CLI and worker) that allows Secrets in unencrypted history: `true` or `false`. */
export const ALLOW_PLAINTEXT_SECRETS_ENV = 'KUBE_WORKFLOWS_ALLOW_PLAINTEXT_SECRETS';

/** The fields needed to recognize a Secret. */
export interface SecretCandidate {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly namespace?: string | undefined };
}

/** True for a core `v1` Secret. */
export function isSecret(obj: SecretCandidate): boolean {
  return obj.kind === 'Secret' && obj.apiVersion === 'v1';
}

/** Where a refusal is decided: the process starting the deploy, or the worker running it. */
export type PlaintextSecretsSide = 'client' | 'worker';

/** Inputs of {@link plaintextSecretsRefusal}. */
export interface PlaintextSecretsCheck {
  /** The deploy's objects (after parsing). */
  readonly objects: readonly SecretCandidate[];
  /** Whether this side encrypts payloads (a payload codec is configured). Default false. */
  readonly payloadsEncrypted?: boolean | undefined;
  /** The explicit opt-out: store Secrets in plaintext history anyway. Default false. */
  readonly allowPlaintextSecrets?: boolean | undefined;
  /** Which side decides; the message says what to configure there. */
  readonly side: PlaintextSecretsSide;
}

/** At most this many Secrets are named in a refusal; the rest are counted. */
const NAMED_SECRETS = 5;

/**
 * Why a deploy must be refused because it would put Secrets into unencrypted workflow history, or `undefined`
 * when it may go on (no Secret, encryption on, or plaintext explicitly allowed). The message names the Secrets
 * (never their values) and says how to enable encryption and how to opt out.
 */
export function plaintextSecretsRefusal(check: PlaintextSecretsCheck): string | undefined {
  if (check.payloadsEncrypted || check.allowPlaintextSecrets) return undefined;
  const secrets = check.objects.filter(isSecret).map(subjectOf);
  if (!secrets.length) return undefined;
  const named =
    secrets.slice(0, NAMED_SECRETS).join(', ') +
    (secrets.length > NAMED_SECRETS ? ` and ${secrets.length - NAMED_SECRETS} more` : '');
  const where =
    check.side === 'client'
      ? 'this client has no payload encryption configured'
      : 'this worker has no payload encryption configured';
  const optOut =
    check.side === 'client'
      ? `${ALLOW_PLAINTEXT_SECRETS_ENV}=true (client option allowPlaintextSecrets, CLI flag --allow-plaintext-secrets)`
      : `${ALLOW_PLAINTEXT_SECRETS_ENV}=true on the worker (configuration file: policy.allowPlaintextSecrets: true)`;
  return (
    `refusing to deploy ${named} without encryption: ${where}, so the Secret values (and the rollback snapshot ` +
    `of the live Secrets) would be stored readable in Temporal's workflow history; nothing was written. ` +
    `Enable encryption on the worker and every client: set KUBE_WORKFLOWS_ENCRYPTION_KEYS=<id>:<base64 of 32 bytes> ` +
    `(make a key with: openssl rand -base64 32) or the encryption.keys of the KUBE_WORKFLOWS_CONFIG file. ` +
    `To store Secrets in plaintext history anyway, set ${optOut}.`
  );
}
