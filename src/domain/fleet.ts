/**
 * Fleet decisions as pure functions, so the `rolloutFleet` workflow only orders steps: which clusters each wave
 * takes, what each cluster's manifests become after its overrides, whether a freeze window holds the next wave and
 * until when, which clusters a halt rolls back, and the wave × cluster matrix as a markdown table for the Web UI.
 * Deterministic: used inside the workflow sandbox, and tested against fixtures.
 * @module
 */
import type { KubeObject } from '../schemas/kube-object.js';
import type { FleetCell, FleetStatus, FreezeWindow, HaltPolicy } from '../schemas/fleet.js';
import { lastMatchBetween, parseCron } from './cron.js';
import { CLUSTER_SCOPED_KINDS } from './manifests.js';
import { matches, parseLabelSelector } from './selectors.js';

/** Workflow id of a fleet rollout: `fleet/<name>` (one rollout per fleet at a time). */
export function fleetWorkflowId(name: string): string {
  return `fleet/${name}`;
}

/** Workflow id of one analysis run of a bake: `<fleet id>/analysis/<wave>/<cluster>/<run>`. */
export function fleetAnalysisWorkflowId(fleetId: string, wave: string, cluster: string, run: number): string {
  return `${fleetId}/analysis/${wave}/${cluster}/${run}`;
}

/** A configured cluster as the worker lists it. */
export interface ClusterInfo {
  name: string;
  labels: Readonly<Record<string, string>>;
}

/** What {@link assignClusters} decides. */
export interface ClusterAssignment {
  /** Per wave (in order), its clusters (in configuration order for selectors, as listed for name lists). */
  waves: { name: string; clusters: string[] }[];
  /** Configured clusters no wave took. */
  unassigned: string[];
  /** Input problems (a named cluster that is not configured), each naming the wave. */
  problems: string[];
  /** Notes: a cluster a later wave also selected (first match wins). */
  notes: string[];
}

/**
 * Chooses each wave's clusters. A cluster goes to the first wave that selects it (by label selector or by name);
 * later waves that also select it are noted, not given it. Naming a cluster that is not configured is a problem.
 */
export function assignClusters(
  waves: readonly { name: string; clusters: string | readonly string[] }[],
  clusters: readonly ClusterInfo[],
): ClusterAssignment {
  const taken = new Map<string, string>();
  const known = new Set(clusters.map((c) => c.name));
  const out: ClusterAssignment = { waves: [], unassigned: [], problems: [], notes: [] };
  waves.forEach((wave, i) => {
    let picked: string[];
    if (typeof wave.clusters === 'string') {
      const parsed = parseLabelSelector(wave.clusters);
      if (!parsed.ok) {
        out.problems.push(`waves.${i}.clusters: invalid label selector "${wave.clusters}": ${parsed.error}`);
        picked = [];
      } else picked = clusters.filter((c) => matches(parsed.selector, c.labels)).map((c) => c.name);
    } else {
      picked = [];
      for (const name of wave.clusters) {
        if (!known.has(name)) {
          const list = [...known].join(', ') || 'none';
          out.problems.push(
            `waves.${i}.clusters: cluster "${name}" is not configured on the worker (configured: ${list})`,
          );
        } else if (!picked.includes(name)) picked.push(name);
      }
    }
    const mine: string[] = [];
    for (const name of picked) {
      const earlier = taken.get(name);
      if (earlier !== undefined) out.notes.push(`cluster ${name} is in wave ${earlier}; wave ${wave.name} skips it`);
      else {
        taken.set(name, wave.name);
        mine.push(name);
      }
    }
    out.waves.push({ name: wave.name, clusters: mine });
  });
  out.unassigned = clusters.map((c) => c.name).filter((n) => !taken.has(n));
  return out;
}

/** Per-cluster overrides (see `ClusterOverride` in schemas/fleet). */
export interface OverrideSpec {
  namespace?: string | undefined;
  images?: Readonly<Record<string, string>> | undefined;
  replicas?: Readonly<Record<string, number>> | undefined;
}

/** Kinds whose pod template is at `spec.template.spec`; CronJob's at `spec.jobTemplate.spec.template.spec`; Pod's at `spec`. */
const TEMPLATE_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job']);
const REPLICA_KINDS = new Set(['Deployment', 'StatefulSet']);

type Container = { name?: unknown; image?: unknown };
type PodSpec = { containers?: Container[]; initContainers?: Container[] };

function podSpecOf(obj: KubeObject): PodSpec | undefined {
  const spec = (obj as { spec?: Record<string, unknown> }).spec;
  if (!spec) return undefined;
  if (obj.kind === 'Pod') return spec;
  if (TEMPLATE_KINDS.has(obj.kind)) return (spec.template as { spec?: PodSpec } | undefined)?.spec;
  if (obj.kind === 'CronJob') {
    const job = spec.jobTemplate as { spec?: { template?: { spec?: PodSpec } } } | undefined;
    return job?.spec?.template?.spec;
  }
  return undefined;
}

/**
 * The image a container gets from an override value: a value with `/`, `:` or `@` is a whole image; otherwise it is
 * a tag that replaces the current one (`registry:5000/web:1` with `2` gives `registry:5000/web:2`; a digest is
 * dropped).
 */
export function overriddenImage(current: string, value: string): string {
  if (/[/:@]/.test(value)) return value;
  const withoutDigest = current.split('@')[0] as string;
  const slash = withoutDigest.lastIndexOf('/');
  const colon = withoutDigest.lastIndexOf(':');
  const repo = colon > slash ? withoutDigest.slice(0, colon) : withoutDigest;
  return `${repo}:${value}`;
}

/** What {@link applyOverride} returns: the cluster's objects, or problems naming the override field. */
export type OverrideResult = { ok: true; objects: KubeObject[] } | { ok: false; problems: string[] };

/**
 * Applies one cluster's overrides to (copies of) the objects: moves namespaced objects to `namespace`, sets the
 * image (tag or whole image) of the named containers in every pod template, and `spec.replicas` of the named
 * Deployments / StatefulSets. A container or workload the manifests do not have is a problem naming the field
 * (`overrides.<cluster>.images.<container>`), so a typo never silently deploys the default.
 */
export function applyOverride(
  objects: readonly KubeObject[],
  override: OverrideSpec | undefined,
  cluster: string,
): OverrideResult {
  const copy = structuredCopy(objects);
  if (!override) return { ok: true, objects: copy };
  const problems: string[] = [];
  const field = `overrides.${cluster}`;
  if (override.namespace) {
    for (const o of copy) if (!CLUSTER_SCOPED_KINDS.has(o.kind)) o.metadata.namespace = override.namespace;
  }
  for (const [container, value] of Object.entries(override.images ?? {})) {
    let found = false;
    for (const o of copy) {
      const pod = podSpecOf(o);
      for (const c of [...(pod?.containers ?? []), ...(pod?.initContainers ?? [])]) {
        if (c.name !== container) continue;
        found = true;
        c.image = overriddenImage(typeof c.image === 'string' ? c.image : '', value);
      }
    }
    if (!found) problems.push(`${field}.images.${container}: no container named "${container}" in the manifests`);
  }
  for (const [name, replicas] of Object.entries(override.replicas ?? {})) {
    const targets = copy.filter((o) => REPLICA_KINDS.has(o.kind) && o.metadata.name === name);
    if (!targets.length) problems.push(`${field}.replicas.${name}: no Deployment or StatefulSet named "${name}"`);
    for (const o of targets) {
      const spec = ((o as { spec?: Record<string, unknown> }).spec ??= {});
      spec.replicas = replicas;
    }
  }
  return problems.length ? { ok: false, problems } : { ok: true, objects: copy };
}

function structuredCopy(value: readonly KubeObject[]): KubeObject[] {
  return JSON.parse(JSON.stringify(value)) as KubeObject[];
}

/** A short, stable hash of the objects (FNV-1a over their JSON): the revision a cluster gets. */
export function objectsRevision(objects: readonly KubeObject[]): string {
  let h = 0x811c9dc5;
  const text = JSON.stringify(objects);
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

/** Whether a freeze window holds now, and until when. */
export type FreezeState = { frozen: false } | { frozen: true; untilMs: number; cron: string };

/**
 * Whether `nowMs` falls inside a freeze window (a window opens at each minute its cron matches and lasts its
 * duration) and when the freeze ends: the latest end of the windows open now, extended while another window opens
 * before that end. No wave starts before then.
 */
export function freezeState(windows: readonly FreezeWindow[], nowMs: number): FreezeState {
  let until = nowMs;
  let cron = '';
  // Overlapping and back-to-back windows chain: look again from the end found so far (bounded).
  for (let round = 0; round < 100; round++) {
    let extended = false;
    for (const w of windows) {
      const parsed = parseCron(w.cron);
      if (!parsed.ok) continue; // the schema refused it already
      const opened = lastMatchBetween(parsed.cron, until - w.duration, until, w.timezone);
      if (opened !== undefined && opened + w.duration > until) {
        until = opened + w.duration;
        cron = w.cron;
        extended = true;
      }
    }
    if (!extended) break;
  }
  return until > nowMs ? { frozen: true, untilMs: until, cron } : { frozen: false };
}

/** Which clusters a halt rolls back, in order (latest wave first). */
export type RollbackScope = 'none' | 'wave' | 'all';

/** The rollback scope of a halt policy. */
export function scopeOfPolicy(policy: HaltPolicy): RollbackScope {
  return policy === 'stop' ? 'none' : policy === 'rollbackWave' ? 'wave' : 'all';
}

/** Phases of a cluster whose new revision may be live: these are rolled back. */
const ROLLBACK_PHASES = new Set(['deployed', 'baking', 'succeeded']);

/**
 * The clusters to roll back for `scope` when the fleet stops in wave `waveIndex`: none; the clusters of that wave
 * whose deploy succeeded (its analysis may have failed since); or those of every wave up to it. Latest wave first.
 * A cluster whose own deploy failed is not listed: its deploy already undid its writes (the deploy saga).
 */
export function rollbackTargets(
  waves: readonly { name: string; cells: readonly Pick<FleetCell, 'cluster' | 'phase' | 'deployOutcome'>[] }[],
  waveIndex: number,
  scope: RollbackScope,
): { wave: string; cluster: string }[] {
  if (scope === 'none') return [];
  const from = scope === 'wave' ? waveIndex : 0;
  const out: { wave: string; cluster: string }[] = [];
  for (let i = Math.min(waveIndex, waves.length - 1); i >= from; i--) {
    const w = waves[i];
    if (!w) continue;
    for (const c of w.cells) {
      // A cluster whose deploy succeeded but whose analysis failed carries the new revision: roll it back too.
      const live = ROLLBACK_PHASES.has(c.phase) || (c.phase === 'failed' && c.deployOutcome === 'succeeded');
      if (live) out.push({ wave: w.name, cluster: c.cluster });
    }
  }
  return out;
}

/** Seconds between reachability probes of an unreachable cluster: 5, 10, 20, then every 30. */
export function probeDelayMs(attempt: number): number {
  return Math.min(30_000, 5_000 * 2 ** Math.max(0, attempt - 1));
}

const PHASE_MARK: Readonly<Record<string, string>> = {
  succeeded: '✅',
  deployed: '🟢',
  baking: '⏳',
  deploying: '🚀',
  probing: '📡',
  failed: '❌',
  skipped: '⏭️',
  rolledBack: '↩️',
  rollbackFailed: '⚠️',
  rollingBack: '↩️',
  cancelled: '⛔',
};

/** One cell as text: phase, revision, health and analysis progress (`baking r:1a2b3c4d 3/3 Current 1/2 passes`). */
export function cellText(cell: FleetCell, passesRequired: number): string {
  const parts = [`${PHASE_MARK[cell.phase] ?? ''} ${cell.phase}`.trim()];
  if (cell.health) parts.push(cell.health);
  if (passesRequired > 0) {
    const passed = cell.analysis.filter((a) => a.outcome === 'successful').length;
    parts.push(`analysis ${passed}/${passesRequired}`);
  }
  if (cell.rollback) parts.push(`rollback ${cell.rollback.outcome}`);
  if (cell.skipReason) parts.push(cell.skipReason);
  else if (cell.phase === 'failed' && cell.message) parts.push(cell.message);
  return parts.join(' · ');
}

/**
 * The status as markdown for the Web UI's current details: a header line (phase, current wave, pause / freeze,
 * next timer), then one table row per wave × cluster.
 */
export function matrixMarkdown(s: FleetStatus): string {
  const head = [`**${s.outcome ?? s.phase}** fleet ${s.fleet} (app ${s.app})`];
  if (s.currentWave) head.push(`wave **${s.currentWave}**`);
  if (s.paused) head.push(`paused: ${s.paused.reason}`);
  if (s.frozen) head.push(`frozen until ${s.frozen.until} (${s.frozen.cron})`);
  if (s.nextTimer) head.push(`next: ${s.nextTimer.purpose} at ${s.nextTimer.at}`);
  const rows = ['| wave | cluster | revision | state |', '|---|---|---|---|'];
  for (const w of s.waves) {
    if (!w.cells.length) rows.push(`| ${w.name} | — | | ${w.phase} (no cluster) |`);
    for (const c of w.cells) {
      rows.push(`| ${w.name} (${w.phase}) | ${c.cluster} | ${c.revision} | ${cellText(c, w.bake.passesRequired)} |`);
    }
  }
  const tail = s.unassigned.length ? [`not in any wave: ${s.unassigned.join(', ')}`] : [];
  return [head.join(' — '), '', s.message, '', ...rows, ...tail].join('\n');
}
