/**
 * Payload encryption for kube-workflows: an AES-256-GCM payload codec, the data converter that worker and clients
 * share, its configuration, and a codec server for the Temporal Web UI and CLI.
 *
 * What is encrypted: every payload (workflow and activity inputs and results, query / update / signal arguments
 * and answers, heartbeat details, memos, static summaries) and, through the encoding failure converter, failure
 * messages and stack traces. What is NOT: search attributes (`KubeCluster`, `KubeNamespace`, `KubeApp`,
 * `KubeOutcome`), workflow ids, activity types, task queues and failure types — never put secrets in them.
 * @module
 */
import { readFile } from 'node:fs/promises';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DataConverter } from '@temporalio/common';
import { AesGcmPayloadCodec } from './aes-gcm.js';
import type { EncryptionConfig } from './config.js';
import { ENCODING_FAILURE_CONVERTER_MARKER } from './failure-converter.js';

export {
  AesGcmPayloadCodec,
  ENCODING_ENCRYPTED,
  IV_BYTES,
  METADATA_ENCODING,
  METADATA_ENCRYPTION_KEY_ID,
  PayloadDecryptionError,
  TAG_BYTES,
  UnknownEncryptionKeyError,
  isEncryptedPayload,
} from './aes-gcm.js';
export {
  ENCRYPTION_KEY_BYTES,
  ENCRYPTION_KEY_ID_ENV,
  ENCRYPTION_KEYS_ENV,
  EncryptionConfig,
  EncryptionConfigError,
  EncryptionKeyConfig,
  loadEncryptionConfig,
  parseEncryptionConfig,
  resolveEncryptionConfig,
} from './config.js';
export { ENCODING_FAILURE_CONVERTER_MARKER } from './failure-converter.js';
export { CODEC_SERVER_MAX_BODY_BYTES, startCodecServer } from './server.js';
export type { CodecServer, CodecServerOptions } from './server.js';

const here = dirname(fileURLToPath(import.meta.url));

/**
 * Path of the module exporting the encoding `failureConverter` (`DefaultFailureConverter` with
 * `encodeCommonAttributes: true`): `.ts` when running from sources, `.js` when compiled. Pass it as
 * `failureConverterPath` to `bundleWorkflowCode` when prebuilding a bundle for encrypting workers.
 */
export const FAILURE_CONVERTER_PATH = join(here, `failure-converter${extname(fileURLToPath(import.meta.url))}`);

/**
 * The data converter for an encryption configuration, or `undefined` when encryption is off: the AES-256-GCM
 * payload codec, and the failure converter that encodes failure messages and stack traces (so the codec encrypts
 * them too). Give the same converter to the Worker and to every Client.
 *
 * The failure converter is loaded by path (Temporal's `failureConverterPath`), which needs Node.js >= 20.19
 * (`require()` of an ES module). In workflow code it is whatever the workflow bundle was built with: see
 * {@link workflowCodeWithFailureConverter}.
 *
 * Search attributes are never encrypted: never put secrets in them.
 */
export function createDataConverter(encryption?: EncryptionConfig): DataConverter | undefined {
  if (!encryption) return undefined;
  if (!process.features.require_module) {
    throw new Error(
      `payload encryption needs Node.js >= 20.19 (the failure converter is loaded with require() of an ES module); this is ${process.version}`,
    );
  }
  return { payloadCodecs: [new AesGcmPayloadCodec(encryption)], failureConverterPath: FAILURE_CONVERTER_PATH };
}

/** Where a worker gets its workflow code (the shape of Worker options). */
export type WorkflowCodeOption = { workflowBundle: { codePath: string } } | { workflowsPath: string };

/**
 * Makes sure workflow code encodes failures when encryption is on. Workflow failures are converted inside the
 * workflow sandbox with the failure converter the bundle was built with, so:
 * - `workflowsPath` (bundled at start) is kept: the Worker bundles `dataConverter.failureConverterPath` into it;
 * - a prebuilt bundle that contains the encoding failure converter is kept;
 * - a prebuilt bundle without it is replaced by `fallbackWorkflowsPath` (bundled at start) when one is given, and
 *   is otherwise refused with an error that says how to build a suitable bundle.
 */
export async function workflowCodeWithFailureConverter(
  code: WorkflowCodeOption,
  fallbackWorkflowsPath?: string,
): Promise<WorkflowCodeOption> {
  if (!('workflowBundle' in code)) return code;
  const bundle = await readFile(code.workflowBundle.codePath, 'utf8');
  if (bundle.includes(ENCODING_FAILURE_CONVERTER_MARKER)) return code;
  if (fallbackWorkflowsPath) return { workflowsPath: fallbackWorkflowsPath };
  throw new Error(
    `the workflow bundle ${code.workflowBundle.codePath} was built without the encoding failure converter, so ` +
      'workflow failure messages would be stored in plaintext: build it with ' +
      `bundleWorkflowCode({ workflowsPath, failureConverterPath: FAILURE_CONVERTER_PATH }) or let the worker bundle ` +
      'the workflow sources at start',
  );
}
