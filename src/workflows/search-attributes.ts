/**
 * The search attributes every kube-workflows workflow sets, so operators can find runs in the Web UI
 * (`KubeNamespace = "shop" AND KubeOutcome = "failed"`). They must be registered on the namespace (the local
 * stack does it; see the README for `temporal operator search-attribute create`). Never put secrets in them:
 * search attributes are not encrypted by the payload codec.
 * @module
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/** Configured cluster name. */
export const KubeCluster = defineSearchAttributeKey('KubeCluster', SearchAttributeType.KEYWORD);
/** Target namespace(s). */
export const KubeNamespace = defineSearchAttributeKey('KubeNamespace', SearchAttributeType.KEYWORD);
/** Application name. */
export const KubeApp = defineSearchAttributeKey('KubeApp', SearchAttributeType.KEYWORD);
/** Final outcome (`succeeded`, `failed`, `rolledBack`, `rollbackFailed`, `rejected`, `planned`), set when the run ends. */
export const KubeOutcome = defineSearchAttributeKey('KubeOutcome', SearchAttributeType.KEYWORD);
