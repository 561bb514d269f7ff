/**
 * The deploy saga's ledger: a record, kept in workflow state, of every object a deploy may have changed, written
 * BEFORE each write (intent) and confirmed after it. It answers the two questions a failure asks:
 * - what may have changed? (everything whose write was started and not refused by the API server), and
 * - how is it undone? (configured objects are restored from the plan's snapshot, created ones are deleted), in
 *   reverse stage order, so custom resources go before their definitions and workloads before what they use.
 *
 * It also decides the outcome from the compensation's per-object results: `rolledBack` only when every
 * compensation succeeded and the restored objects are healthy again, `rollbackFailed` otherwise. A report never
 * claims more than the ledger proves. Pure and deterministic: safe in workflow code, unit-tested on its own.
 * @module
 */
import { deletionOrder } from './ordering.js';

/** Where one object stands in the ledger. */
export const WriteState = {
  /** In the plan; no write was started. */
  Planned: 'planned',
  /** A write was started and not confirmed: it may or may not have reached the API server. */
  Writing: 'writing',
  /** The API server confirmed the write. */
  Written: 'written',
  /** The API server refused the write (4xx): the object was not changed. */
  Refused: 'refused',
} as const;
/** One of {@link WriteState}. */
export type WriteState = (typeof WriteState)[keyof typeof WriteState];

/** What compensating one object did. */
export const CompensationResult = {
  /** A configured object was put back to its state before the deploy. */
  Restored: 'restored',
  /** An object the deploy created was deleted. */
  Deleted: 'deleted',
  /** Nothing to undo: the live object already matches its previous state, or a created object does not exist. */
  Untouched: 'untouched',
  /** The undo failed; the object is left as it is (see the message). */
  Failed: 'failed',
} as const;
/** One of {@link CompensationResult}. */
export type CompensationResult = (typeof CompensationResult)[keyof typeof CompensationResult];

/** An object reference with its `Kind/namespace/name` subject. */
export interface LedgerRef {
  apiVersion: string;
  kind: string;
  namespace?: string | undefined;
  name: string;
  subject: string;
}

/** One object in the ledger. */
export interface LedgerEntry extends LedgerRef {
  /** What the plan said applying it does. */
  action: 'created' | 'configured' | 'unchanged';
  /** Index of the apply stage it belongs to. */
  stage: number;
  state: WriteState;
}

/** The undo of one stage: restore these configured objects, then delete these created ones (in this order). */
export interface CompensationStep {
  stage: number;
  restore: LedgerRef[];
  remove: LedgerRef[];
}

/** What the compensation activity reports for one object. */
export interface ObjectCompensation {
  subject: string;
  result: CompensationResult;
  /** Why it failed, or what was found. */
  message?: string | undefined;
}

/** The ledger of one deploy. */
export class DeployLedger {
  private readonly entries = new Map<string, LedgerEntry>();

  constructor(objects: Iterable<Omit<LedgerEntry, 'state'>>) {
    for (const o of objects) this.entries.set(o.subject, { ...o, state: WriteState.Planned });
  }

  /** Records the intent to write these objects: from now on they may have changed. Call BEFORE the write. */
  beginWrite(subjects: Iterable<string>): void {
    for (const s of subjects) {
      const e = this.entries.get(s);
      if (e && e.state !== WriteState.Written) e.state = WriteState.Writing;
    }
  }

  /** Records that the API server confirmed these writes. */
  confirm(subjects: Iterable<string>): void {
    for (const s of subjects) {
      const e = this.entries.get(s);
      if (e) e.state = WriteState.Written;
    }
  }

  /** Records that the API server refused these writes (a 4xx answer): the objects were not changed by us. */
  refuse(subjects: Iterable<string>): void {
    for (const s of subjects) {
      const e = this.entries.get(s);
      if (e && e.state === WriteState.Writing) e.state = WriteState.Refused;
    }
  }

  /** Objects that may have changed: writes started and not refused. */
  mayHaveChanged(): LedgerEntry[] {
    return [...this.entries.values()].filter((e) => e.state === WriteState.Writing || e.state === WriteState.Written);
  }

  /** True when no write was ever started (a failure then needs no compensation). */
  get untouched(): boolean {
    return this.mayHaveChanged().length === 0;
  }

  /** Every entry, in insertion order (for queries and reports). */
  all(): LedgerEntry[] {
    return [...this.entries.values()];
  }

  /**
   * How to undo what may have changed: one step per stage, last stage first. Within a stage, configured objects
   * are restored before created ones are deleted (workloads first, by {@link deletionOrder}).
   */
  compensationPlan(): CompensationStep[] {
    const byStage = new Map<number, LedgerEntry[]>();
    for (const e of this.mayHaveChanged()) {
      if (e.action === 'unchanged') continue;
      byStage.set(e.stage, [...(byStage.get(e.stage) ?? []), e]);
    }
    return [...byStage.entries()]
      .sort(([a], [b]) => b - a)
      .map(([stage, list]) => ({
        stage,
        restore: list.filter((e) => e.action === 'configured').map(refOf),
        remove: deletionOrder(
          list
            .filter((e) => e.action === 'created')
            .map((e) => ({ ...refOf(e), metadata: { name: e.name, namespace: e.namespace } })),
        ).map(refOf),
      }))
      .filter((s) => s.restore.length > 0 || s.remove.length > 0);
  }
}

/** The saga's verdict after compensating. */
export interface SagaVerdict {
  outcome: 'rolledBack' | 'rollbackFailed';
  /** Subjects whose undo failed or that are not healthy after it, each with why. */
  left: string[];
  /** One line for people: what was restored, deleted, untouched and left. */
  summary: string;
}

/**
 * Decides the outcome from every object's compensation result and the health of the restored objects after it
 * (`unhealthy`: subject -> why, empty when all are Current or nothing needed waiting).
 */
export function sagaVerdict(
  results: readonly ObjectCompensation[],
  unhealthy: ReadonlyMap<string, string>,
): SagaVerdict {
  const count = (r: CompensationResult): number => results.filter((x) => x.result === r).length;
  const left = [
    ...results
      .filter((r) => r.result === CompensationResult.Failed)
      .map((r) => `${r.subject}: ${r.message ?? 'failed'}`),
    ...[...unhealthy.entries()].map(([s, why]) => `${s}: not healthy after restore (${why})`),
  ];
  const parts = [
    `${count(CompensationResult.Restored)} restored`,
    `${count(CompensationResult.Deleted)} deleted`,
    `${count(CompensationResult.Untouched)} needed no undo`,
  ];
  if (left.length) parts.push(`${left.length} left: ${left.join('; ')}`);
  return { outcome: left.length ? 'rollbackFailed' : 'rolledBack', left, summary: parts.join(', ') };
}

function refOf(e: LedgerRef): LedgerRef {
  return { apiVersion: e.apiVersion, kind: e.kind, namespace: e.namespace, name: e.name, subject: e.subject };
}
