/**
 * Kubernetes label selectors, parsed once into requirements and matched as the API server matches them
 * (k8s.io/apimachinery `labels.Parse`): equality (`a=b`, `a==b`, `a!=b`), set-based (`a in (x,y)`,
 * `a notin (x)`, `a`, `!a`) and integer comparison (`a>1`, `a<1`), comma-separated and ANDed. Keys and values are
 * validated with the API server's rules, so a selector this module accepts is one the server accepts, and a
 * selector it rejects gets a message naming the problem instead of silently matching nothing.
 *
 * Pure and deterministic: the monitor schema (and so the workflow sandbox) uses it to validate, the monitor
 * activity to match.
 * @module
 */

/** Requirement operators (the names `matchExpressions` and the API server use). `==` parses as `Equals`. */
export const SelectorOperator = {
  Equals: 'Equals',
  NotEquals: 'NotEquals',
  In: 'In',
  NotIn: 'NotIn',
  Exists: 'Exists',
  DoesNotExist: 'DoesNotExist',
  GreaterThan: 'Gt',
  LessThan: 'Lt',
} as const;
/** A requirement operator. */
export type SelectorOperator = (typeof SelectorOperator)[keyof typeof SelectorOperator];

/** One condition on one label. `values` is empty for Exists/DoesNotExist, sorted and unique for In/NotIn. */
export interface LabelRequirement {
  readonly key: string;
  readonly operator: SelectorOperator;
  readonly values: readonly string[];
}

/** Requirements that must all hold, sorted by key (as the API server sorts them). No requirement: matches all. */
export interface LabelSelector {
  readonly requirements: readonly LabelRequirement[];
}

/** What {@link parseLabelSelector} returns: the selector, or why the text is not one. */
export type ParseSelectorResult = { ok: true; selector: LabelSelector } | { ok: false; error: string };

/** Most characters in a label name (the part after the prefix) and in a label value. */
export const MAX_LABEL_LENGTH = 63;
/** Most characters in a label key's prefix (a DNS subdomain). */
export const MAX_LABEL_PREFIX_LENGTH = 253;

const LABEL_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** Parses selector text (`app=web,tier in (front,back),!canary`). Empty text selects everything. */
export function parseLabelSelector(text: string): ParseSelectorResult {
  try {
    const requirements = new Parser(text).parse();
    return { ok: true, selector: { requirements: sortByKey(requirements) } };
  } catch (err) {
    if (err instanceof SelectorSyntaxError) return { ok: false, error: err.message };
    throw err;
  }
}

/** Whether labels satisfy every requirement (a missing label satisfies only `!=`, `notin` and `!`). */
export function matches(selector: LabelSelector, labels: Readonly<Record<string, string>>): boolean {
  return selector.requirements.every((r) => matchesRequirement(r, labels));
}

/** The selector as text the API server (and {@link parseLabelSelector}) accepts: `a=b,c in (x,y),!d`. */
export function formatSelector(selector: LabelSelector): string {
  return selector.requirements.map(formatRequirement).join(',');
}

function matchesRequirement(r: LabelRequirement, labels: Readonly<Record<string, string>>): boolean {
  // own properties only: a label named "constructor" is not on every object
  const value = Object.hasOwn(labels, r.key) ? labels[r.key] : undefined;
  switch (r.operator) {
    case SelectorOperator.Equals:
    case SelectorOperator.In:
      return value !== undefined && r.values.includes(value);
    case SelectorOperator.NotEquals:
    case SelectorOperator.NotIn:
      return value === undefined || !r.values.includes(value);
    case SelectorOperator.Exists:
      return value !== undefined;
    case SelectorOperator.DoesNotExist:
      return value === undefined;
    case SelectorOperator.GreaterThan:
    case SelectorOperator.LessThan: {
      // like the API server: a label that is not an int64 satisfies neither comparison
      const actual = value === undefined ? undefined : parseInt64(value);
      const bound = parseInt64(r.values[0] ?? '');
      if (actual === undefined || bound === undefined) return false;
      return r.operator === SelectorOperator.GreaterThan ? actual > bound : actual < bound;
    }
  }
}

function formatRequirement(r: LabelRequirement): string {
  const value = r.values[0] ?? '';
  switch (r.operator) {
    case SelectorOperator.Equals:
      return `${r.key}=${value}`;
    case SelectorOperator.NotEquals:
      return `${r.key}!=${value}`;
    case SelectorOperator.In:
      return `${r.key} in (${[...r.values].sort().join(',')})`;
    case SelectorOperator.NotIn:
      return `${r.key} notin (${[...r.values].sort().join(',')})`;
    case SelectorOperator.Exists:
      return r.key;
    case SelectorOperator.DoesNotExist:
      return `!${r.key}`;
    case SelectorOperator.GreaterThan:
      return `${r.key}>${value}`;
    case SelectorOperator.LessThan:
      return `${r.key}<${value}`;
  }
}

/** Why a label key is invalid (`[prefix/]name`, the API server's qualified-name rule), or undefined. */
function labelKeyProblem(key: string): string | undefined {
  const parts = key.split('/');
  if (parts.length > 2)
    return 'a key is a name with an optional DNS subdomain prefix and one "/" (e.g. "example.com/name")';
  const [prefix, name] = parts.length === 2 ? parts : [undefined, parts[0]];
  if (prefix !== undefined) {
    if (prefix === '') return 'the prefix before "/" must not be empty';
    if (prefix.length > MAX_LABEL_PREFIX_LENGTH)
      return `the prefix has more than ${MAX_LABEL_PREFIX_LENGTH} characters`;
    if (!DNS_SUBDOMAIN.test(prefix))
      return 'the prefix must be a DNS subdomain: lowercase letters, digits, "-" and ".", starting and ending with a letter or digit';
  }
  if (!name) return 'the name must not be empty';
  if (name.length > MAX_LABEL_LENGTH) return `the name has more than ${MAX_LABEL_LENGTH} characters`;
  if (!LABEL_NAME.test(name))
    return 'the name must be letters, digits, "-", "_" and ".", starting and ending with a letter or digit';
  return undefined;
}

/** Why a label value is invalid (empty is valid), or undefined. */
function labelValueProblem(value: string): string | undefined {
  if (value.length > MAX_LABEL_LENGTH) return `it has more than ${MAX_LABEL_LENGTH} characters`;
  if (value !== '' && !LABEL_NAME.test(value))
    return 'a value is empty or letters, digits, "-", "_" and ".", starting and ending with a letter or digit';
  return undefined;
}

/** A base-10 int64 as Go's `strconv.ParseInt(s, 10, 64)` reads it, or undefined. */
function parseInt64(text: string): bigint | undefined {
  if (!/^[+-]?[0-9]+$/.test(text)) return undefined;
  const n = BigInt(text);
  return n < INT64_MIN || n > INT64_MAX ? undefined : n;
}

function sortByKey(requirements: LabelRequirement[]): LabelRequirement[] {
  // stable, and by UTF-16 code unit like Go's byte order (valid keys are ASCII)
  return requirements.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

class SelectorSyntaxError extends Error {
  override readonly name = 'SelectorSyntaxError';
}

type TokenKind = 'id' | '!' | '=' | '==' | '!=' | '>' | '<' | '(' | ')' | ',' | 'end';

interface Token {
  kind: TokenKind;
  text: string;
  /** 1-based column of the token's first character. */
  column: number;
}

const WHITESPACE = new Set([' ', '\t', '\r', '\n']);
const SYMBOLS = new Set(['=', '!', '(', ')', ',', '>', '<']);

/** Splits selector text like the API server's lexer: symbols, and runs of anything else as identifiers. */
function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const ch = text.charAt(i);
    if (WHITESPACE.has(ch)) {
      i++;
    } else if (SYMBOLS.has(ch)) {
      const two = text.slice(i, i + 2);
      const kind = two === '!=' || two === '==' ? two : (ch as TokenKind);
      tokens.push({ kind, text: kind, column: i + 1 });
      i += kind.length;
    } else {
      const start = i;
      while (i < text.length && !WHITESPACE.has(text.charAt(i)) && !SYMBOLS.has(text.charAt(i))) i++;
      tokens.push({ kind: 'id', text: text.slice(start, i), column: start + 1 });
    }
  }
  tokens.push({ kind: 'end', text: '', column: text.length + 1 });
  return tokens;
}

/**
 * Recursive descent over the API server's grammar:
 * `selector := requirement ("," requirement)*`,
 * `requirement := "!" KEY | KEY [("in"|"notin") "(" values ")" | ("="|"=="|"!="|">"|"<") VALUE]`.
 * `in` and `notin` are operators only in operator position (`in in (in)` is valid).
 */
class Parser {
  private readonly tokens: Token[];
  private position = 0;

  constructor(text: string) {
    this.tokens = tokenize(text);
  }

  parse(): LabelRequirement[] {
    const requirements: LabelRequirement[] = [];
    if (this.peek().kind === 'end') return requirements;
    for (;;) {
      const requirement = this.requirement();
      requirements.push(requirement);
      const next = this.next();
      if (next.kind === 'end') return requirements;
      if (next.kind !== ',') this.fail(next, `expected "," or the end after "${formatRequirement(requirement)}"`);
      if (this.peek().kind !== 'id' && this.peek().kind !== '!')
        this.fail(this.peek(), 'expected a label key or "!" after ","');
    }
  }

  private requirement(): LabelRequirement {
    const first = this.next();
    const negated = first.kind === '!';
    const keyToken = negated ? this.next() : first;
    if (keyToken.kind !== 'id')
      this.fail(keyToken, negated ? 'expected a label key after "!"' : 'expected a label key or "!"');
    const key = keyToken.text;
    const keyProblem = labelKeyProblem(key);
    if (keyProblem) throw new SelectorSyntaxError(`invalid label key "${key}": ${keyProblem}`);
    const after = this.peek().kind;
    if (negated) return { key, operator: SelectorOperator.DoesNotExist, values: [] };
    if (after === 'end' || after === ',') return { key, operator: SelectorOperator.Exists, values: [] };

    const op = this.next();
    switch (op.kind === 'id' ? op.text : op.kind) {
      case 'in':
        return this.validated(key, SelectorOperator.In, this.valueSet(`${key} in`));
      case 'notin':
        return this.validated(key, SelectorOperator.NotIn, this.valueSet(`${key} notin`));
      case '=':
      case '==':
        return this.validated(key, SelectorOperator.Equals, [this.exactValue(`${key}${op.text}`)]);
      case '!=':
        return this.validated(key, SelectorOperator.NotEquals, [this.exactValue(`${key}!=`)]);
      case '>':
        return this.validated(key, SelectorOperator.GreaterThan, [this.exactValue(`${key}>`)]);
      case '<':
        return this.validated(key, SelectorOperator.LessThan, [this.exactValue(`${key}<`)]);
      default:
        return this.fail(op, `expected an operator (in, notin, =, ==, !=, >, <) after "${key}"`);
    }
  }

  /** `( v1, v2 )`: values may be empty (`()`, `(a,,b)`); duplicates collapse. */
  private valueSet(context: string): string[] {
    const open = this.next();
    if (open.kind !== '(') {
      const hint = open.kind === 'id' ? `set-based values go in parentheses, e.g. "${context} (${open.text})"` : '';
      this.fail(open, `expected "(" after "${context}"`, hint);
    }
    const values = new Set<string>();
    let expectValue = true;
    for (;;) {
      const t = this.next();
      if (t.kind === 'id' && expectValue) {
        values.add(t.text);
        expectValue = false;
      } else if (t.kind === ',') {
        if (expectValue) values.add('');
        expectValue = true;
      } else if (t.kind === ')') {
        if (expectValue) values.add('');
        return [...values].sort();
      } else {
        this.fail(t, `expected ${expectValue ? 'a value, ' : ''}"," or ")" in "${context} (...)"`);
      }
    }
  }

  /** The one value of `=`, `==`, `!=`, `>`, `<`: empty when the requirement ends right after the operator. */
  private exactValue(context: string): string {
    const t = this.peek();
    if (t.kind === 'end' || t.kind === ',') return '';
    this.position++;
    if (t.kind !== 'id') this.fail(t, `expected a value after "${context}"`);
    return t.text;
  }

  private validated(key: string, operator: SelectorOperator, values: string[]): LabelRequirement {
    for (const value of values) {
      const problem = labelValueProblem(value);
      if (problem) throw new SelectorSyntaxError(`invalid value "${value}" for label "${key}": ${problem}`);
    }
    if (
      (operator === SelectorOperator.GreaterThan || operator === SelectorOperator.LessThan) &&
      parseInt64(values[0] ?? '') === undefined
    ) {
      const symbol = operator === SelectorOperator.GreaterThan ? '>' : '<';
      throw new SelectorSyntaxError(`the value of "${key}${symbol}" must be an integer, found "${values[0] ?? ''}"`);
    }
    return { key, operator, values };
  }

  private peek(): Token {
    // the token list always ends with 'end', and the parser never moves past it
    return this.tokens[Math.min(this.position, this.tokens.length - 1)] as Token;
  }

  private next(): Token {
    const t = this.peek();
    if (t.kind !== 'end') this.position++;
    return t;
  }

  private fail(found: Token, expected: string, hint = ''): never {
    const what = found.kind === 'end' ? 'the end of the selector' : `"${found.text}"`;
    throw new SelectorSyntaxError(`${expected}, found ${what} at column ${found.column}${hint ? `: ${hint}` : ''}`);
  }
}
