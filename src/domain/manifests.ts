/**
 * Turns manifest text (multi-document YAML or JSON) into validated Kubernetes objects, or into the complete list of
 * what is wrong with it.
 *
 * Contract:
 * - Pure and deterministic: no I/O, no clock, no randomness, only `yaml`, `zod` and the project's schemas, so it
 *   runs inside Temporal workflows as well as in the client and the CLI.
 * - All-or-nothing: the result is either every object (`ok: true`) or every problem found across all documents of
 *   all sources (`ok: false`), never a partial list of objects.
 * - Documents are numbered from 1 across all sources, in order, as the objects they yield: a document that is empty,
 *   comment-only or `null` takes no number, each item of a `List` takes its own number, and a document that cannot
 *   be read (syntax error, not a mapping) takes one. When the result is `ok`, document N is `objects[N - 1]`.
 * - Every object is checked against the `KubeObject` schema and the namespace rules (a cluster-scoped kind has no
 *   namespace; a namespaced kind gets the target namespace or must name one), and no two objects may share API group,
 *   kind, namespace and name.
 * - YAML is read as YAML 1.2 (core schema) with `<<` merge keys, so `yes`/`on` are strings, unlike YAML 1.1.
 * - Speed without a second reading: plain manifests are read by a fast reader (`js-yaml`, about ten times faster on
 *   a 4.6 MB CRD bundle) under the same YAML 1.2 core schema; anything it might read differently (merge keys,
 *   anchors and aliases, directives, explicit tags, null or complex keys, duplicate keys, syntax errors) and any
 *   manifest with a problem is read again by the exact reader (`yaml`), which also gives problems their lines.
 * @module
 */
import jsyaml from 'js-yaml';
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseAllDocuments } from 'yaml';
import type { Document, Node as YamlNode, Pair, YAMLError } from 'yaml';
import type { z } from 'zod';
import { KubeObject, NamespaceName } from '../schemas/kube-object.js';
import { subjectOf } from './subject.js';

/** One thing wrong with the manifests, precise enough for a person to find and fix it. */
export interface ManifestProblem {
  /** 1-based index of the YAML document or `List` item across all sources (see the module contract). */
  document: number;
  /** The file name or label of the source the document came from, when it has one. */
  source?: string;
  /** Where in the document, e.g. `metadata.name` or `items[2].kind`; `""` for the whole document. */
  path: string;
  /** 1-based line in the source, where known. */
  line?: number;
  /** 1-based column in the source, where known. */
  column?: number;
  /** What is wrong, in words a person can act on. */
  message: string;
}

/** One piece of manifest text, e.g. the content of one file. */
export interface ManifestSource {
  /** File name or label shown in problems (`app.yaml`, `stdin`). */
  name?: string | undefined;
  /** The YAML or JSON text, possibly several `---`-separated documents. */
  text: string;
}

/** How manifests are validated. */
export interface ParseOptions {
  /** The target namespace, given to namespaced objects that name none. Without it such objects are a problem. */
  defaultNamespace?: string | undefined;
  /** Kinds that are cluster-scoped; every other kind is treated as namespaced. Default: {@link CLUSTER_SCOPED_KINDS}. */
  clusterScopedKinds?: ReadonlySet<string> | undefined;
  /** Read every source with the exact reader only (no fast path); tests compare both readers with it. */
  exact?: boolean | undefined;
}

/** Either every object of the manifests, or every problem found in them. */
export type ParseResult = { ok: true; objects: KubeObject[] } | { ok: false; problems: ManifestProblem[] };

/**
 * The built-in cluster-scoped kinds of Kubernetes 1.34 (`kubectl api-resources --namespaced=false`), including
 * beta and alpha APIs so that enabling a feature gate does not change how a manifest is read. Custom resources that
 * are cluster-scoped must be added by the caller.
 */
export const CLUSTER_SCOPED_KINDS: ReadonlySet<string> = new Set([
  // core/v1
  'ComponentStatus',
  'Namespace',
  'Node',
  'PersistentVolume',
  // admissionregistration.k8s.io
  'MutatingAdmissionPolicy',
  'MutatingAdmissionPolicyBinding',
  'MutatingWebhookConfiguration',
  'ValidatingAdmissionPolicy',
  'ValidatingAdmissionPolicyBinding',
  'ValidatingWebhookConfiguration',
  // apiextensions.k8s.io, apiregistration.k8s.io
  'CustomResourceDefinition',
  'APIService',
  // authentication.k8s.io, authorization.k8s.io
  'SelfSubjectReview',
  'TokenReview',
  'SelfSubjectAccessReview',
  'SelfSubjectRulesReview',
  'SubjectAccessReview',
  // certificates.k8s.io
  'CertificateSigningRequest',
  'ClusterTrustBundle',
  // flowcontrol.apiserver.k8s.io
  'FlowSchema',
  'PriorityLevelConfiguration',
  // internal.apiserver.k8s.io, storagemigration.k8s.io
  'StorageVersion',
  'StorageVersionMigration',
  // networking.k8s.io
  'IngressClass',
  'IPAddress',
  'ServiceCIDR',
  // node.k8s.io
  'RuntimeClass',
  // rbac.authorization.k8s.io
  'ClusterRole',
  'ClusterRoleBinding',
  // resource.k8s.io
  'DeviceClass',
  'DeviceTaintRule',
  'ResourceSlice',
  // scheduling.k8s.io
  'PriorityClass',
  // storage.k8s.io
  'CSIDriver',
  'CSINode',
  'StorageClass',
  'VolumeAttachment',
  'VolumeAttributesClass',
]);

/** How many problems {@link formatProblems} lists before summarising the rest. */
export const MAX_LISTED_PROBLEMS = 50;

/**
 * Parses manifest text into validated objects. Accepts one text or several named sources (files); each may hold
 * several YAML documents or a JSON document. Empty and comment-only documents are skipped, `List` documents are
 * flattened, and every problem in every document is reported (see the module contract).
 */
export function parseManifests(sources: string | readonly ManifestSource[], options: ParseOptions = {}): ParseResult {
  const list: readonly ManifestSource[] = typeof sources === 'string' ? [{ text: sources }] : sources;
  const fast = options.exact ? undefined : readFast(list, options);
  if (fast) return fast;
  const run = new Validation(options);
  for (const source of list) {
    const lineCounter = new LineCounter();
    const docs = parseAllDocuments(source.text, { lineCounter, merge: true });
    if (!Array.isArray(docs) || docs.length === 0) {
      // An empty stream can still carry stream-level errors (e.g. a bad directive with no document).
      const streamErrors = 'errors' in docs ? docs.errors : [];
      for (const error of streamErrors) run.addYamlError(run.nextDocument(), source.name, error, lineCounter);
      continue;
    }
    for (const doc of docs) {
      const origin: Origin = { source: source.name, locate: (path) => locateNode(doc, lineCounter, path) };
      if (doc.errors.length > 0) {
        const document = run.nextDocument();
        for (const error of doc.errors) run.addYamlError(document, source.name, error, lineCounter);
        continue;
      }
      let value: unknown;
      try {
        value = doc.toJS();
      } catch (error) {
        // toJS throws on alias bombs (too many alias expansions) and similar resource limits.
        run.add(run.nextDocument(), origin, [], `the document cannot be read: ${errorMessage(error)}`);
        continue;
      }
      if (value === null || value === undefined) continue;
      run.expand(value, origin, []);
    }
  }
  return run.result();
}

/** The YAML 1.2 core schema's implicit scalars (null, bool, int, float), for the fast reader. */
const CORE_SCHEMA_12 = jsyaml.FAILSAFE_SCHEMA.extend({
  implicit: [
    new jsyaml.Type('tag:yaml.org,2002:null', {
      kind: 'scalar',
      resolve: (data: string | null) => data === null || /^(?:~|null|Null|NULL)?$/.test(data),
      construct: () => null,
      predicate: (v: unknown) => v === null,
    }),
    new jsyaml.Type('tag:yaml.org,2002:bool', {
      kind: 'scalar',
      resolve: (data: string | null) => data !== null && /^(?:true|True|TRUE|false|False|FALSE)$/.test(data),
      construct: (data: string) => data === 'true' || data === 'True' || data === 'TRUE',
      predicate: (v: unknown) => typeof v === 'boolean',
    }),
    new jsyaml.Type('tag:yaml.org,2002:int', {
      kind: 'scalar',
      resolve: (data: string | null) => data !== null && /^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$/.test(data),
      construct: (data: string) =>
        data.startsWith('0o')
          ? parseInt(data.slice(2), 8)
          : data.startsWith('0x')
            ? parseInt(data.slice(2), 16)
            : parseInt(data, 10),
      predicate: (v: unknown) => typeof v === 'number' && Number.isInteger(v),
    }),
    new jsyaml.Type('tag:yaml.org,2002:float', {
      kind: 'scalar',
      resolve: (data: string | null) =>
        data !== null &&
        /^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$/.test(
          data,
        ),
      construct: (data: string) =>
        /nan$/i.test(data)
          ? NaN
          : /inf$/i.test(data)
            ? data.startsWith('-')
              ? -Infinity
              : Infinity
            : parseFloat(data),
      predicate: (v: unknown) => typeof v === 'number',
    }),
  ],
});

/**
 * Text the fast reader leaves to the exact one: merge keys (`<<`), directives (`%YAML`), null keys (`~:`) and
 * complex keys (`? `) and standard tags (`!!float 1` is a string to the exact reader). Deliberately broad: a miss
 * costs time, never a different reading. (Anchors are caught while reading; other tags fail the fast reader.)
 */
const EXACT_ONLY = /<<|!!|^%|^\s*(?:-\s+)?(?:\?\s|(?:~|null|Null|NULL)?\s*:(?:\s|$))/m;

/** Thrown inside the fast reader when a node has an anchor: aliases are read by the exact reader only. */
class HasAnchor extends Error {}

/**
 * Internal (exported for tests; {@link parseManifests} uses it): the fast reading of every source, or undefined when
 * the exact reader must read them: something in
 * {@link EXACT_ONLY}, an anchor, any error (duplicate keys, syntax, an unknown tag), or any problem (the exact reader
 * gives its line and column).
 */
export function readFast(list: readonly ManifestSource[], options: ParseOptions = {}): ParseResult | undefined {
  const run = new Validation(options);
  const listener = (event: jsyaml.EventType, state: jsyaml.State): void => {
    const anchor = (state as jsyaml.State & { anchor?: string | null }).anchor;
    if (event === 'close' && anchor !== null && anchor !== undefined) throw new HasAnchor();
  };
  for (const source of list) {
    if (EXACT_ONLY.test(source.text)) return undefined;
    let docs: unknown[];
    try {
      docs = jsyaml.loadAll(source.text, undefined, { schema: CORE_SCHEMA_12, json: false, listener });
    } catch {
      return undefined;
    }
    const origin: Origin = { source: source.name, locate: () => undefined };
    for (const value of docs) if (value !== null && value !== undefined) run.expand(value, origin, []);
  }
  const result = run.result();
  return result.ok ? result : undefined;
}

/**
 * Validates objects that are already parsed (e.g. from a workflow input), with the same rules as
 * {@link parseManifests}: each entry is one document, `List` objects are flattened, and problems carry no line.
 */
export function validateObjects(objects: readonly unknown[], options: ParseOptions = {}): ParseResult {
  const run = new Validation(options);
  const origin: Origin = { source: undefined, locate: () => undefined };
  for (const value of objects) run.expand(value, origin, []);
  return run.result();
}

/**
 * Formats problems as one message for a person: a count, then one line per problem naming the document, source,
 * line, column and field, at most {@link MAX_LISTED_PROBLEMS} of them followed by `… and N more`.
 */
export function formatProblems(problems: readonly ManifestProblem[]): string {
  if (problems.length === 0) return 'no problems in the manifests';
  const heading = `${problems.length} ${problems.length === 1 ? 'problem' : 'problems'} in the manifests:`;
  const lines = problems.slice(0, MAX_LISTED_PROBLEMS).map((problem) => `  ${formatProblem(problem)}`);
  if (problems.length > MAX_LISTED_PROBLEMS) lines.push(`  … and ${problems.length - MAX_LISTED_PROBLEMS} more`);
  return [heading, ...lines].join('\n');
}

/** The `metadata` fields the API server owns: applying them is rejected or silently meaningless. */
const SERVER_OWNED_METADATA = [
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'managedFields',
  'selfLink',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
] as const;

/**
 * Returns a deep copy of an object without the fields the API server owns (`metadata.uid`, `resourceVersion`,
 * `generation`, `creationTimestamp`, `managedFields`, `selfLink`, `deletionTimestamp`, `deletionGracePeriodSeconds`
 * and `status`), so that captured live state can be applied again. The input is not modified.
 */
export function stripServerFields<T extends object>(obj: T): T {
  const copy = cloneJson(obj) as Record<string, unknown>;
  delete copy['status'];
  const metadata = copy['metadata'];
  if (isRecord(metadata)) {
    for (const field of SERVER_OWNED_METADATA) delete metadata[field];
  }
  return copy as T;
}

// ---------------------------------------------------------------------------------------------------------------

/** Where documents come from: the source name and, for YAML, how to find the line of a path. */
interface Origin {
  readonly source: string | undefined;
  readonly locate: (path: readonly PropertyKey[]) => { line: number; column: number } | undefined;
}

/** Where an already-accepted object was first seen, for the duplicate message. */
interface FirstSeen {
  readonly document: number;
  readonly source: string | undefined;
}

/** The state of one validation run: document numbering, problems, accepted objects and the duplicate index. */
class Validation {
  private readonly problems: ManifestProblem[] = [];
  private readonly objects: KubeObject[] = [];
  private readonly seen = new Map<string, FirstSeen>();
  private readonly clusterScopedKinds: ReadonlySet<string>;
  private readonly defaultNamespace: string | undefined;
  private documentCount = 0;

  constructor(options: ParseOptions) {
    this.clusterScopedKinds = options.clusterScopedKinds ?? CLUSTER_SCOPED_KINDS;
    this.defaultNamespace = options.defaultNamespace;
  }

  nextDocument(): number {
    this.documentCount += 1;
    return this.documentCount;
  }

  add(document: number, origin: Origin, path: readonly PropertyKey[], message: string): void {
    const position = origin.locate(path);
    this.problems.push({
      document,
      ...(origin.source === undefined ? {} : { source: origin.source }),
      path: formatPath(path),
      ...(position === undefined ? {} : { line: position.line, column: position.column }),
      message,
    });
  }

  addYamlError(document: number, source: string | undefined, error: YAMLError, lineCounter: LineCounter): void {
    const position = error.linePos?.[0] ?? lineCounter.linePos(error.pos[0]);
    this.problems.push({
      document,
      ...(source === undefined ? {} : { source }),
      path: '',
      line: position.line,
      column: position.col,
      message: `YAML syntax error: ${plainYamlMessage(error.message)}`,
    });
  }

  /** Flattens `List` envelopes and validates every object found, each as its own document. */
  expand(value: unknown, origin: Origin, prefix: readonly PropertyKey[]): void {
    if (isRecord(value) && typeof value['kind'] === 'string') {
      const kind = value['kind'];
      const items = value['items'];
      const metadata = value['metadata'];
      const isTypedList =
        kind !== 'List' && kind.endsWith('List') && Array.isArray(items) && !(isRecord(metadata) && 'name' in metadata);
      if (kind === 'List' || isTypedList) {
        if (items === undefined || items === null) return;
        if (!Array.isArray(items)) {
          this.add(
            this.nextDocument(),
            origin,
            [...prefix, 'items'],
            `items of a ${kind} must be a list, not ${describe(items)}`,
          );
          return;
        }
        items.forEach((item: unknown, index) => {
          const filled = isTypedList ? inheritFromTypedList(item, kind, value['apiVersion']) : item;
          this.expand(filled, origin, [...prefix, 'items', index]);
        });
        return;
      }
    }
    this.check(this.nextDocument(), value, origin, prefix);
  }

  private check(document: number, value: unknown, origin: Origin, prefix: readonly PropertyKey[]): void {
    if (!isRecord(value)) {
      this.add(
        document,
        origin,
        prefix,
        `a manifest must be a mapping with apiVersion, kind and metadata, not ${describe(value)}`,
      );
      return;
    }
    const before = this.problems.length;
    const parsed = KubeObject.safeParse(value, { error: describeIssue });
    let namespaceFlagged = false;
    if (!parsed.success) {
      for (const issue of parsed.error.issues) {
        if (issue.path.length === 2 && issue.path[0] === 'metadata' && issue.path[1] === 'namespace')
          namespaceFlagged = true;
        this.add(document, origin, [...prefix, ...issue.path], issue.message);
      }
    }

    const kind = value['kind'];
    const metadata = value['metadata'];
    let namespace: string | undefined;
    if (typeof kind === 'string' && isRecord(metadata) && !namespaceFlagged) {
      const given = metadata['namespace'];
      const namespacePath = [...prefix, 'metadata', 'namespace'];
      if (this.clusterScopedKinds.has(kind)) {
        if (given !== undefined) {
          this.add(document, origin, namespacePath, `${kind} is cluster-scoped: remove metadata.namespace`);
        }
      } else if (typeof given === 'string') {
        namespace = given;
      } else if (this.defaultNamespace === undefined) {
        this.add(document, origin, namespacePath, 'metadata.namespace is required (or pass a target namespace)');
      } else if (!NamespaceName.safeParse(this.defaultNamespace).success) {
        this.add(
          document,
          origin,
          namespacePath,
          `the target namespace ${JSON.stringify(this.defaultNamespace)} is not a valid namespace name`,
        );
      } else {
        namespace = this.defaultNamespace;
      }
    }

    if (!parsed.success || this.problems.length > before) return;
    const object = parsed.data;
    if (namespace !== undefined) object.metadata.namespace = namespace;

    const key = identityKey(object);
    const first = this.seen.get(key);
    if (first !== undefined) {
      const where = first.source !== undefined && first.source !== origin.source ? ` (${first.source})` : '';
      this.add(
        document,
        origin,
        [...prefix, 'metadata', 'name'],
        `duplicate of document ${first.document}${where}: ${subjectOf(object)}`,
      );
      return;
    }
    this.seen.set(key, { document, source: origin.source });
    this.objects.push(object);
  }

  result(): ParseResult {
    return this.problems.length > 0 ? { ok: false, problems: this.problems } : { ok: true, objects: this.objects };
  }
}

/**
 * Items of a typed list (`DeploymentList`, as the API returns it) may omit `apiVersion` and `kind`: they are those
 * of the list, without the `List` suffix.
 */
function inheritFromTypedList(item: unknown, listKind: string, listApiVersion: unknown): unknown {
  if (!isRecord(item)) return item;
  return {
    ...(item['apiVersion'] === undefined && typeof listApiVersion === 'string' ? { apiVersion: listApiVersion } : {}),
    ...(item['kind'] === undefined ? { kind: listKind.slice(0, -'List'.length) } : {}),
    ...item,
  };
}

/** Objects are the same when API group (not version), kind, namespace and name agree. */
function identityKey(object: KubeObject): string {
  const slash = object.apiVersion.lastIndexOf('/');
  const group = slash < 0 ? '' : object.apiVersion.slice(0, slash);
  return [group, object.kind, object.metadata.namespace ?? '', object.metadata.name].join('\u0000');
}

/**
 * Messages for zod issues the schema does not word itself. The schema's own messages win (zod's precedence), so
 * this only words type mismatches such as a missing `metadata` or a number where a label value must be a string.
 */
const describeIssue: z.core.$ZodErrorMap = (issue) => {
  if (issue.code !== 'invalid_type') return undefined;
  const where = formatPath(issue.path ?? []) || 'the manifest';
  if (issue.input === undefined) return `${where} is required`;
  return `${where} must be ${expectedName(issue.expected)}, not ${describe(issue.input)}`;
};

function expectedName(expected: string): string {
  switch (expected) {
    case 'object':
    case 'record':
    case 'map':
      return 'a mapping';
    case 'array':
      return 'a list';
    case 'string':
    case 'number':
    case 'boolean':
      return `a ${expected}`;
    default:
      return expected;
  }
}

/** Names a value's type the way a YAML author thinks of it. */
function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  switch (typeof value) {
    case 'object':
      return 'a mapping';
    case 'string':
      return 'a string';
    case 'number':
    case 'bigint':
      return 'a number';
    case 'boolean':
      return `a boolean (${String(value)})`;
    default:
      return typeof value;
  }
}

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$-]*$/;

/** `metadata.name`, `items[2].kind`, `metadata.labels["app.kubernetes.io/name"]`; `""` for the whole document. */
function formatPath(path: readonly PropertyKey[]): string {
  let text = '';
  for (const segment of path) {
    if (typeof segment === 'number') text += `[${segment}]`;
    else if (typeof segment === 'string' && IDENTIFIER.test(segment)) text += text === '' ? segment : `.${segment}`;
    else text += `[${JSON.stringify(String(segment))}]`;
  }
  return text;
}

/**
 * Finds the line and column of a path in a YAML document: the node at the path, or when part of the path is
 * missing (a required field left out), the deepest node that exists on the way.
 */
function locateNode(
  doc: Document,
  lineCounter: LineCounter,
  path: readonly PropertyKey[],
): { line: number; column: number } | undefined {
  let node: YamlNode | null | undefined = doc.contents;
  let found: YamlNode | null | undefined = node;
  for (const segment of path) {
    if (isAlias(node)) node = node.resolve(doc);
    let next: YamlNode | null | undefined;
    if (isMap(node)) {
      const pair: Pair<unknown, unknown> | undefined = node.items.find(
        (item) => isScalar(item.key) && String(item.key.value) === String(segment),
      );
      if (pair === undefined) break;
      // `name:` with no value has no value node: point at its key instead.
      next = (pair.value as YamlNode | null) ?? (pair.key as YamlNode | null);
    } else if (isSeq(node) && typeof segment === 'number') {
      next = node.items[segment] as YamlNode | null | undefined;
    }
    if (next === null || next === undefined) break;
    node = next;
    found = next;
  }
  const offset = found?.range?.[0];
  if (offset === undefined) return undefined;
  const position = lineCounter.linePos(offset);
  return { line: position.line, column: position.col };
}

/** The `yaml` library appends ` at line L, column C:` and a code excerpt; the problem carries those separately. */
function plainYamlMessage(message: string): string {
  const firstLine = message.split('\n', 1)[0] ?? message;
  return firstLine.replace(/ at line \d+, column \d+:?$/, '');
}

function formatProblem(problem: ManifestProblem): string {
  const where = [
    problem.source,
    problem.line === undefined ? undefined : `line ${problem.line}`,
    problem.column === undefined ? undefined : `column ${problem.column}`,
  ].filter((part): part is string => part !== undefined);
  const location = where.length > 0 ? ` (${where.join(', ')})` : '';
  const path = problem.path === '' ? '' : ` ${problem.path}`;
  return `document ${problem.document}${location}${path}: ${problem.message}`;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Deep copy of JSON-shaped data (structuredClone is not guaranteed in the workflow sandbox). */
function cloneJson(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(cloneJson);
  if (isRecord(value)) {
    const copy: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) copy[key] = cloneJson(item);
    return copy;
  }
  return value;
}
