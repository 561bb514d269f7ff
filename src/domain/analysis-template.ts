/**
 * Templating of analysis specs: `{{args.NAME}}` and `{{cluster}}` (spaces inside the braces allowed) in the
 * provider's query, URLs, body, headers, namespace and selector are replaced from the run's input. Any other
 * `{{…}}` is a spec error; an argument the run was not given is an input error at start, listing every missing one.
 *
 * Pure and deterministic: the schema checks the syntax, the workflow renders.
 * @module
 */

const PLACEHOLDER = /\{\{\s*([^{}]*?)\s*\}\}/g;
const ARG_REFERENCE = /^args\.([A-Za-z0-9_][-A-Za-z0-9_.]*)$/;

/** Values the placeholders are replaced with. */
export interface TemplateValues {
  /** The resolved cluster name (`{{cluster}}`). */
  cluster: string;
  /** `{{args.NAME}}`. */
  args: Readonly<Record<string, string>>;
}

/** Placeholders in `text` that are neither `{{cluster}}` nor `{{args.NAME}}`. */
export function unknownPlaceholders(text: string): string[] {
  return [...text.matchAll(PLACEHOLDER)]
    .filter((m) => m[1] !== 'cluster' && !ARG_REFERENCE.test(m[1] as string))
    .map((m) => m[0]);
}

/** The argument names `text` refers to. */
export function referencedArgs(text: string): string[] {
  return [...text.matchAll(PLACEHOLDER)]
    .map((m) => ARG_REFERENCE.exec(m[1] as string)?.[1])
    .filter((n): n is string => n !== undefined);
}

/** Whether `text` holds any placeholder. */
export function hasPlaceholders(text: string): boolean {
  return /\{\{[^{}]*\}\}/.test(text);
}

/** `text` with every placeholder replaced by `stand` (to check the shape of templated text before it is rendered). */
export function withPlaceholders(text: string, stand = 'x'): string {
  return text.replace(PLACEHOLDER, stand);
}

/** Thrown by {@link renderTemplate} for arguments the run was not given. */
export class MissingTemplateArgsError extends Error {
  override readonly name = 'MissingTemplateArgsError';
  constructor(
    readonly missing: readonly string[],
    /** The field that refers to them, when known (`prometheus.query`). */
    readonly field?: string,
  ) {
    const names = missing.map((n) => `args.${n}`).join(', ');
    super(`${field ? `${field}: ` : ''}unknown template argument${missing.length > 1 ? 's' : ''} ${names}`);
  }
}

/** Replaces the placeholders of `text`. Throws {@link MissingTemplateArgsError} naming every unknown argument. */
export function renderTemplate(text: string, values: TemplateValues): string {
  const missing = referencedArgs(text).filter((n) => !Object.hasOwn(values.args, n));
  if (missing.length) throw new MissingTemplateArgsError([...new Set(missing)]);
  return text.replace(PLACEHOLDER, (whole, inner: string) => {
    if (inner === 'cluster') return values.cluster;
    const name = ARG_REFERENCE.exec(inner)?.[1];
    return name !== undefined ? (values.args[name] as string) : whole;
  });
}

/**
 * Renders every string in a provider (query, URLs, body, header values, namespace, selector). Throws
 * {@link MissingTemplateArgsError} whose message starts with the field's path (`prometheus.query: …`).
 */
export function renderProvider<T extends object>(provider: T, values: TemplateValues): T {
  const walk = (v: unknown, path: string): unknown => {
    if (typeof v === 'string') {
      try {
        return renderTemplate(v, values);
      } catch (err) {
        if (err instanceof MissingTemplateArgsError) throw new MissingTemplateArgsError(err.missing, path);
        throw err;
      }
    }
    if (Array.isArray(v)) return v.map((x, i) => walk(x, `${path}[${i}]`));
    if (v !== null && typeof v === 'object')
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x, path ? `${path}.${k}` : k)]));
    return v;
  };
  return walk(provider, '') as T;
}
