/**
 * The failure converter used with encryption: it moves every failure's message and stack trace into
 * `encodedAttributes`, a payload the payload codec encrypts (the server then stores `Encoded failure` as the
 * message). Clients and workers that have the codec show the real message again.
 *
 * Temporal loads this module by path (`DataConverter.failureConverterPath`): the worker `require()`s it, and the
 * workflow bundler bundles it into the workflow sandbox. Keep it plain JavaScript (no type annotations), so that
 * `require()` also loads the `.ts` source when the worker runs from sources (Node >= 20.19 loads ES modules with
 * `require()`), and import nothing but `@temporalio/common`.
 * @module
 */
import { DefaultFailureConverter } from '@temporalio/common';

/** Marks a workflow bundle built with this converter (the worker checks bundles for it). */
export const ENCODING_FAILURE_CONVERTER_MARKER = 'kube-workflows:encoding-failure-converter:v1';

/** Default failure converter with `encodeCommonAttributes: true`. */
export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
