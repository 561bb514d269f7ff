/**
 * Fleet activities: `listClusters` (the worker's configured clusters and their labels, for wave selection),
 * `probeCluster` (is the API server reachable now — answered, never thrown, so the workflow decides how long to
 * retry on its own durable timers) and `snapshotObjects` (the live state of the objects a fleet is about to apply to
 * one cluster, the undo a fleet rollback re-applies). Each is idempotent: reads only.
 * @module
 */
import { heartbeat } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { packJson } from '../domain/compression.js';
import { FailureType } from '../domain/failures.js';
import { stripServerFields } from '../domain/manifests.js';
import { plaintextSecretsRefusal } from '../domain/secrets.js';
import { isKubeApiError, type KubeGateway, type LiveObject } from '../kube/index.js';
import {
  ProbeClusterInput,
  SnapshotObjectsInput,
  type ListClustersResult,
  type ObjectsSnapshot,
  type ProbeClusterResult,
} from '../schemas/fleet.js';
import { classified, parseInput } from './failures.js';

/** How long one reachability probe may take before the cluster counts as unreachable. */
export const PROBE_TIMEOUT_MS = 10_000;

/** What the fleet activities need from the worker. */
export interface FleetActivityDeps {
  gateway(cluster: string): KubeGateway;
  /** The configured clusters with their labels, in configuration order. Without it, no cluster is listed. */
  clusters?(): readonly { name: string; labels: Readonly<Record<string, string>> }[];
  /** True when this worker encrypts payloads (a snapshot of a Secret is refused without it). */
  payloadsEncrypted?: boolean;
  /** Opt-out: let Secrets into unencrypted workflow history anyway. */
  allowPlaintextSecrets?: boolean;
}

/** Builds the fleet activities. */
export function createFleetActivities(deps: FleetActivityDeps) {
  return {
    /** Every configured cluster and its labels. */
    listClusters(): Promise<ListClustersResult> {
      const clusters = deps.clusters?.() ?? [];
      return Promise.resolve({ clusters: clusters.map((c) => ({ name: c.name, labels: { ...c.labels } })) });
    },

    /**
     * Asks the cluster's API server for its version within {@link PROBE_TIMEOUT_MS}. Unreachable (network error,
     * timeout, 5xx, not configured) is an answer, not a failure.
     */
    async probeCluster(rawInput: ProbeClusterInput): Promise<ProbeClusterResult> {
      const { cluster } = parseInput(ProbeClusterInput, rawInput);
      let gw: KubeGateway;
      try {
        gw = deps.gateway(cluster);
      } catch (err) {
        return { cluster, reachable: false, reason: `not configured on this worker: ${(err as Error).message}` };
      }
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${PROBE_TIMEOUT_MS / 1000}s`)), PROBE_TIMEOUT_MS);
      });
      try {
        const version = await Promise.race([gw.ping(), timeout]);
        return { cluster, reachable: true, version };
      } catch (err) {
        const reason = isKubeApiError(err) ? `${err.status || err.reason}: ${err.message}` : (err as Error).message;
        return { cluster, reachable: false, reason };
      } finally {
        clearTimeout(timer);
      }
    },

    /**
     * Reads the live state of each object (server fields stripped). Objects that do not exist (or whose kind the
     * cluster does not serve) are listed as absent. The present ones come back packed as a deploy's `compressed`
     * input. A Secret is refused (PolicyViolation) unless payloads are encrypted or plaintext is allowed: its
     * values would sit in history.
     */
    async snapshotObjects(rawInput: SnapshotObjectsInput): Promise<ObjectsSnapshot> {
      const input = parseInput(SnapshotObjectsInput, rawInput);
      const refusal = plaintextSecretsRefusal({
        objects: input.objects.map((o) => ({ apiVersion: o.apiVersion, kind: o.kind, metadata: o })),
        payloadsEncrypted: deps.payloadsEncrypted,
        allowPlaintextSecrets: deps.allowPlaintextSecrets,
        side: 'worker',
      });
      if (refusal) throw ApplicationFailure.nonRetryable(`snapshot refused: ${refusal}`, FailureType.PolicyViolation);
      return classified(async () => {
        const gw = deps.gateway(input.cluster);
        const live: LiveObject[] = [];
        const present: string[] = [];
        const absent: string[] = [];
        for (const ref of input.objects) {
          const obj = await getOrAbsent(gw, ref);
          heartbeat(ref.subject);
          if (obj) {
            live.push(stripServerFields(obj));
            present.push(ref.subject);
          } else absent.push(ref.subject);
        }
        const text = JSON.stringify({ apiVersion: 'v1', kind: 'List', items: live });
        return {
          cluster: gw.cluster,
          present,
          absent,
          ...(live.length ? { compressed: packJson([{ name: `snapshot of ${gw.cluster}`, text }]) } : {}),
          takenAt: new Date().toISOString(),
        };
      });
    },
  };
}

async function getOrAbsent(
  gw: KubeGateway,
  ref: { apiVersion: string; kind: string; namespace?: string | undefined; name: string },
): Promise<LiveObject | undefined> {
  try {
    return await gw.get(ref);
  } catch (err) {
    if (isKubeApiError(err) && err.status === 404) return undefined; // the kind is not served: nothing to restore
    throw err;
  }
}
