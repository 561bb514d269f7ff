/**
 * The condition language of analysis (`successCondition`, `failureCondition`): a small, safe expression language
 * over one measured value, `result`. Text is parsed ONCE into a plain-data tree ({@link parseExpression}); a syntax
 * error names the column. Evaluation ({@link evaluateExpression}) walks the tree: no `eval`, no `Function`, no
 * access to anything but the value given, bounded nesting, strict types (a comparison of a string with a number is
 * an error, not `false`), so a condition cannot do anything but compute a boolean.
 *
 * Grammar (lowest precedence first; `and` / `or` / `not` are aliases of `&&` / `||` / `!`):
 *
 * ```
 * expression := or
 * or         := and ( ("||" | "or") and )*
 * and        := equality ( ("&&" | "and") equality )*
 * equality   := relation ( ("==" | "!=") relation )*
 * relation   := additive [ ("<" | "<=" | ">" | ">=" | "in") additive ]     (not chained: a < b < c is an error)
 * additive   := term ( ("+" | "-") term )*
 * term       := unary ( ("*" | "/" | "%") unary )*
 * unary      := ("!" | "not" | "-") unary | postfix
 * postfix    := primary ( "." NAME | "[" expression "]" )*
 * primary    := NUMBER | STRING | "true" | "false" | "null" | "result" | "it"
 *             | FUNCTION "(" [ expression ( "," expression )* ] ")"
 *             | "[" [ expression ( "," expression )* ] "]" | "(" expression ")"
 * ```
 *
 * Functions: `len(x)` (string, array or object), `min(xs)`, `max(xs)`, `sum(xs)`, `avg(xs)` (non-empty arrays of
 * numbers; `sum([])` is 0), `abs(n)`, and `all(xs, predicate)` / `any(xs, predicate)`, where the predicate sees
 * each element as `it` (`all(result, it < 0.05)`). `a in b`: an element of the array `b`, a key of the object `b`,
 * or a substring of the string `b`. `+` adds numbers or joins two strings. `==` / `!=` compare any two values
 * (deeply for arrays and objects; `1 == "1"` is false). `&&` / `||` short-circuit and take booleans only.
 *
 * Pure and deterministic: the workflow sandbox evaluates conditions.
 * @module
 */

/** Longest condition text accepted. */
export const MAX_EXPRESSION_LENGTH = 1_000;
/** Deepest nesting of sub-expressions accepted. */
export const MAX_EXPRESSION_DEPTH = 48;

/** The functions a condition may call. */
export const EXPRESSION_FUNCTIONS = ['len', 'min', 'max', 'sum', 'avg', 'abs', 'all', 'any'] as const;
/** One of {@link EXPRESSION_FUNCTIONS}. */
export type ExpressionFunction = (typeof EXPRESSION_FUNCTIONS)[number];

/** A JSON value: what a measurement yields and an expression computes. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

type BinaryOp = '||' | '&&' | '==' | '!=' | '<' | '<=' | '>' | '>=' | 'in' | '+' | '-' | '*' | '/' | '%';

/** A node of a parsed expression: plain data (it may travel in workflow state); `at` is its 1-based column. */
export type ExpressionNode =
  | { type: 'literal'; value: null | boolean | number | string; at: number }
  | { type: 'name'; name: 'result' | 'it'; at: number }
  | { type: 'member'; object: ExpressionNode; property: string; at: number }
  | { type: 'index'; object: ExpressionNode; index: ExpressionNode; at: number }
  | { type: 'unary'; op: '!' | '-'; operand: ExpressionNode; at: number }
  | { type: 'binary'; op: BinaryOp; left: ExpressionNode; right: ExpressionNode; at: number }
  | { type: 'call'; fn: ExpressionFunction; args: ExpressionNode[]; at: number }
  | { type: 'list'; items: ExpressionNode[]; at: number };

/** A parsed expression: its text and tree. */
export interface Expression {
  readonly source: string;
  readonly root: ExpressionNode;
}

/** What {@link parseExpression} returns. */
export type ParseExpressionResult = { ok: true; expression: Expression } | { ok: false; error: string; column: number };

/** Thrown by {@link evaluateExpression} when a value does not fit an operation; `column` points at it. */
export class ExpressionEvaluationError extends Error {
  override readonly name = 'ExpressionEvaluationError';
  constructor(
    message: string,
    readonly column: number,
  ) {
    super(`${message} (column ${column})`);
  }
}

class SyntaxProblem extends Error {
  constructor(
    message: string,
    readonly column: number,
  ) {
    super(message);
  }
}

// --- tokens ----------------------------------------------------------------------------------------------------

type Token =
  | { kind: 'number'; value: number; at: number }
  | { kind: 'string'; value: string; at: number }
  | { kind: 'word'; value: string; at: number }
  | { kind: 'op'; value: string; at: number }
  | { kind: 'end'; at: number };

const OPERATORS = [
  '&&',
  '||',
  '==',
  '!=',
  '<=',
  '>=',
  '<',
  '>',
  '!',
  '+',
  '-',
  '*',
  '/',
  '%',
  '(',
  ')',
  '[',
  ']',
  '.',
  ',',
];
const WORD_OPS: Readonly<Record<string, string>> = { and: '&&', or: '||', not: '!', in: 'in' };

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i] as string;
    const at = i + 1;
    if (/\s/.test(c)) {
      i += 1;
      continue;
    }
    if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(text[i + 1] ?? ''))) {
      const m = /^(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?/.exec(text.slice(i)) as RegExpExecArray;
      if (/[A-Za-z_]/.test(text[i + m[0].length] ?? '')) throw new SyntaxProblem(`malformed number "${m[0]}…"`, at);
      tokens.push({ kind: 'number', value: Number(m[0]), at });
      i += m[0].length;
      continue;
    }
    if (c === '"' || c === "'") {
      const { value, end } = readString(text, i);
      tokens.push({ kind: 'string', value, at });
      i = end;
      continue;
    }
    if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i)) as RegExpExecArray;
      const op = WORD_OPS[m[0]];
      tokens.push(op ? { kind: 'op', value: op, at } : { kind: 'word', value: m[0], at });
      i += m[0].length;
      continue;
    }
    const op = OPERATORS.find((o) => text.startsWith(o, i));
    if (!op) {
      const hint = c === '=' ? ' (compare with ==)' : c === '&' || c === '|' ? ` (use ${c}${c})` : '';
      throw new SyntaxProblem(`unexpected character "${c}"${hint}`, at);
    }
    tokens.push({ kind: 'op', value: op, at });
    i += op.length;
  }
  tokens.push({ kind: 'end', at: text.length + 1 });
  return tokens;
}

function readString(text: string, start: number): { value: string; end: number } {
  const quote = text[start];
  let value = '';
  let i = start + 1;
  while (i < text.length) {
    const c = text[i] as string;
    if (c === quote) return { value, end: i + 1 };
    if (c === '\\') {
      const next = text[i + 1];
      const escaped: Record<string, string> = { n: '\n', t: '\t', '\\': '\\', '"': '"', "'": "'" };
      if (next === undefined || escaped[next] === undefined)
        throw new SyntaxProblem(`unknown escape "\\${next ?? ''}" in string`, i + 1);
      value += escaped[next];
      i += 2;
      continue;
    }
    value += c;
    i += 1;
  }
  throw new SyntaxProblem('string not closed', start + 1);
}

// --- parser ----------------------------------------------------------------------------------------------------

function describe(t: Token): string {
  switch (t.kind) {
    case 'end':
      return 'end of expression';
    case 'string':
      return `string ${JSON.stringify(t.value)}`;
    case 'number':
      return `number ${t.value}`;
    default:
      return `"${t.value}"`;
  }
}

class Parser {
  private pos = 0;
  private depth = 0;
  /** Inside the predicate of all()/any(): `it` is bound. */
  private predicates = 0;

  constructor(private readonly tokens: Token[]) {}

  parse(): ExpressionNode {
    const node = this.expression();
    const t = this.peek();
    if (t.kind !== 'end') throw new SyntaxProblem(`unexpected ${describe(t)} after a complete expression`, t.at);
    return node;
  }

  private peek(): Token {
    return this.tokens[this.pos] as Token;
  }

  private next(): Token {
    const t = this.peek();
    if (t.kind !== 'end') this.pos += 1;
    return t;
  }

  private isOp(value: string): boolean {
    const t = this.peek();
    return t.kind === 'op' && t.value === value;
  }

  private expect(value: string, what: string): Token {
    const t = this.peek();
    if (t.kind !== 'op' || t.value !== value)
      throw new SyntaxProblem(`expected "${value}" ${what}, found ${describe(t)}`, t.at);
    return this.next();
  }

  private expression(): ExpressionNode {
    this.depth += 1;
    if (this.depth > MAX_EXPRESSION_DEPTH)
      throw new SyntaxProblem(`nested more than ${MAX_EXPRESSION_DEPTH} levels deep`, this.peek().at);
    try {
      return this.binaryLevel(0);
    } finally {
      this.depth -= 1;
    }
  }

  private static readonly LEVELS: readonly (readonly string[])[] = [
    ['||'],
    ['&&'],
    ['==', '!='],
    ['<', '<=', '>', '>=', 'in'],
    ['+', '-'],
    ['*', '/', '%'],
  ];

  private binaryLevel(level: number): ExpressionNode {
    const ops = Parser.LEVELS[level];
    if (!ops) return this.unary();
    let left = this.binaryLevel(level + 1);
    for (;;) {
      const t = this.peek();
      if (t.kind !== 'op' || !ops.includes(t.value)) return left;
      this.next();
      const right = this.binaryLevel(level + 1);
      left = { type: 'binary', op: t.value as BinaryOp, left, right, at: t.at };
      if (level === 3) {
        const after = this.peek();
        if (after.kind === 'op' && ops.includes(after.value))
          throw new SyntaxProblem(`comparisons do not chain: write (a ${t.value} b) && (b ${after.value} c)`, after.at);
        return left;
      }
    }
  }

  private unary(): ExpressionNode {
    const t = this.peek();
    if (t.kind === 'op' && (t.value === '!' || t.value === '-')) {
      this.next();
      this.depth += 1;
      if (this.depth > MAX_EXPRESSION_DEPTH)
        throw new SyntaxProblem(`nested more than ${MAX_EXPRESSION_DEPTH} levels deep`, t.at);
      try {
        return { type: 'unary', op: t.value, operand: this.unary(), at: t.at };
      } finally {
        this.depth -= 1;
      }
    }
    return this.postfix();
  }

  private postfix(): ExpressionNode {
    let node = this.primary();
    for (;;) {
      const t = this.peek();
      if (t.kind === 'op' && t.value === '.') {
        this.next();
        const name = this.next();
        if (name.kind !== 'word')
          throw new SyntaxProblem(`expected a field name after ".", found ${describe(name)}`, name.at);
        node = { type: 'member', object: node, property: name.value, at: name.at };
      } else if (t.kind === 'op' && t.value === '[') {
        this.next();
        const index = this.expression();
        this.expect(']', 'to close the index');
        node = { type: 'index', object: node, index, at: t.at };
      } else {
        return node;
      }
    }
  }

  private primary(): ExpressionNode {
    const t = this.next();
    switch (t.kind) {
      case 'number':
      case 'string':
        return { type: 'literal', value: t.value, at: t.at };
      case 'word':
        return this.word(t);
      case 'op':
        if (t.value === '(') {
          const inner = this.expression();
          this.expect(')', 'to close "("');
          return inner;
        }
        if (t.value === '[') return { type: 'list', items: this.list(']', 'to close the list'), at: t.at };
        throw new SyntaxProblem(`unexpected ${describe(t)}`, t.at);
      default:
        throw new SyntaxProblem('unexpected end of expression', t.at);
    }
  }

  private word(t: Extract<Token, { kind: 'word' }>): ExpressionNode {
    switch (t.value) {
      case 'true':
      case 'false':
        return { type: 'literal', value: t.value === 'true', at: t.at };
      case 'null':
        return { type: 'literal', value: null, at: t.at };
      case 'result':
        return { type: 'name', name: 'result', at: t.at };
      case 'it':
        if (!this.predicates)
          throw new SyntaxProblem('"it" is only known inside the predicate of all() or any()', t.at);
        return { type: 'name', name: 'it', at: t.at };
    }
    if ((EXPRESSION_FUNCTIONS as readonly string[]).includes(t.value)) {
      const fn = t.value as ExpressionFunction;
      this.expect('(', `after the function name ${fn}`);
      const predicate = fn === 'all' || fn === 'any';
      const args = predicate ? this.predicateArgs(fn) : this.list(')', `to close ${fn}(`);
      const arity = predicate ? 2 : 1;
      if (args.length !== arity)
        throw new SyntaxProblem(`${fn}() takes ${arity} argument${arity > 1 ? 's' : ''}, got ${args.length}`, t.at);
      return { type: 'call', fn, args, at: t.at };
    }
    const known = ['result', 'true', 'false', 'null', ...EXPRESSION_FUNCTIONS.map((f) => `${f}()`)];
    throw new SyntaxProblem(`unknown name "${t.value}" (known: ${known.join(', ')})`, t.at);
  }

  /** all(xs, predicate): `it` is bound in the second argument only. */
  private predicateArgs(fn: string): ExpressionNode[] {
    if (this.isOp(')')) return (this.next(), []);
    const args = [this.expression()];
    if (this.isOp(',')) {
      this.next();
      this.predicates += 1;
      try {
        args.push(this.expression());
      } finally {
        this.predicates -= 1;
      }
      while (this.isOp(',')) {
        this.next();
        args.push(this.expression());
      }
    }
    this.expect(')', `to close ${fn}(`);
    return args;
  }

  private list(close: string, what: string): ExpressionNode[] {
    const items: ExpressionNode[] = [];
    if (this.isOp(close)) {
      this.next();
      return items;
    }
    for (;;) {
      items.push(this.expression());
      if (this.isOp(',')) {
        this.next();
        continue;
      }
      this.expect(close, what);
      return items;
    }
  }
}

/**
 * Parses condition text once. Errors say what was expected and where:
 * `expected ")" to close "(", found end of expression at column 18`.
 * @example parseExpression('result[0] >= 0.95')
 */
export function parseExpression(text: string): ParseExpressionResult {
  if (text.length > MAX_EXPRESSION_LENGTH)
    return { ok: false, error: `longer than ${MAX_EXPRESSION_LENGTH} characters`, column: MAX_EXPRESSION_LENGTH + 1 };
  if (!text.trim()) return { ok: false, error: 'empty expression', column: 1 };
  try {
    const root = new Parser(tokenize(text)).parse();
    return { ok: true, expression: { source: text, root } };
  } catch (err) {
    if (err instanceof SyntaxProblem)
      return { ok: false, error: `${err.message} at column ${err.column}`, column: err.column };
    throw err;
  }
}

/** Parses or throws an `Error` with the message of {@link parseExpression}. */
export function compileExpression(text: string): Expression {
  const parsed = parseExpression(text);
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.expression;
}

// --- evaluation ------------------------------------------------------------------------------------------------

/** The type name of a value as messages show it. */
export function typeName(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

/**
 * Evaluates a parsed expression with `result` bound to `value`. Throws {@link ExpressionEvaluationError} when a
 * value does not fit (a missing field, an index out of range, a type mismatch, a division by zero), naming the
 * column: a measurement whose condition cannot be evaluated is an error, never silently false.
 */
export function evaluateExpression(expression: Expression, value: JsonValue): JsonValue {
  return evaluate(expression.root, { result: value, it: undefined });
}

/** Evaluates a condition and requires a boolean. */
export function evaluateCondition(expression: Expression, value: JsonValue): boolean {
  const v = evaluateExpression(expression, value);
  if (typeof v !== 'boolean')
    throw new ExpressionEvaluationError(`the condition gave ${typeName(v)} ${preview(v)}, not true or false`, 1);
  return v;
}

interface Scope {
  result: JsonValue;
  it: JsonValue | undefined;
}

function fail(message: string, node: ExpressionNode): never {
  throw new ExpressionEvaluationError(message, node.at);
}

function preview(v: unknown): string {
  const text = JSON.stringify(v) ?? String(v);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function evaluate(node: ExpressionNode, scope: Scope): JsonValue {
  switch (node.type) {
    case 'literal':
      return node.value;
    case 'name':
      return node.name === 'result' ? scope.result : (scope.it ?? null);
    case 'list':
      return node.items.map((i) => evaluate(i, scope));
    case 'member': {
      const obj = evaluate(node.object, scope);
      if (typeof obj !== 'object' || obj === null || Array.isArray(obj))
        fail(`.${node.property} needs an object, got ${typeName(obj)} ${preview(obj)}`, node);
      if (!Object.hasOwn(obj, node.property)) fail(`no field "${node.property}" in ${preview(obj)}`, node);
      return obj[node.property] as JsonValue;
    }
    case 'index':
      return indexInto(node, evaluate(node.object, scope), evaluate(node.index, scope));
    case 'unary': {
      const v = evaluate(node.operand, scope);
      if (node.op === '!') {
        if (typeof v !== 'boolean') fail(`! needs a boolean, got ${typeName(v)} ${preview(v)}`, node);
        return !v;
      }
      return -number(v, node, '-');
    }
    case 'binary':
      return binary(node, scope);
    case 'call':
      return call(node, scope);
  }
}

function indexInto(node: ExpressionNode, obj: JsonValue, index: JsonValue): JsonValue {
  if (Array.isArray(obj)) {
    if (typeof index !== 'number' || !Number.isInteger(index))
      fail(`an array index must be a whole number, got ${typeName(index)} ${preview(index)}`, node);
    const i = index < 0 ? obj.length + index : index;
    if (i < 0 || i >= obj.length) fail(`index ${index} is out of range (the array has ${obj.length} elements)`, node);
    return obj[i] as JsonValue;
  }
  if (typeof obj === 'object' && obj !== null) {
    if (typeof index !== 'string') fail(`an object key must be a string, got ${typeName(index)}`, node);
    if (!Object.hasOwn(obj, index)) fail(`no field ${JSON.stringify(index)} in ${preview(obj)}`, node);
    return obj[index] as JsonValue;
  }
  return fail(`[...] needs an array or object, got ${typeName(obj)} ${preview(obj)}`, node);
}

function number(v: JsonValue, node: ExpressionNode, op: string): number {
  if (typeof v !== 'number') fail(`${op} needs numbers, got ${typeName(v)} ${preview(v)}`, node);
  return v;
}

function boolean(v: JsonValue, node: ExpressionNode, op: string): boolean {
  if (typeof v !== 'boolean') fail(`${op} needs booleans, got ${typeName(v)} ${preview(v)}`, node);
  return v;
}

function binary(node: Extract<ExpressionNode, { type: 'binary' }>, scope: Scope): JsonValue {
  const { op } = node;
  if (op === '&&' || op === '||') {
    const left = boolean(evaluate(node.left, scope), node, op);
    if (op === '&&' ? !left : left) return left;
    return boolean(evaluate(node.right, scope), node, op);
  }
  const left = evaluate(node.left, scope);
  const right = evaluate(node.right, scope);
  switch (op) {
    case '==':
      return deepEqual(left, right);
    case '!=':
      return !deepEqual(left, right);
    case 'in':
      return contains(node, right, left);
    case '<':
    case '<=':
    case '>':
    case '>=': {
      const bothStrings = typeof left === 'string' && typeof right === 'string';
      const [a, b] = bothStrings ? [left, right] : [number(left, node, op), number(right, node, op)];
      return op === '<' ? a < b : op === '<=' ? a <= b : op === '>' ? a > b : a >= b;
    }
    case '+':
      if (typeof left === 'string' && typeof right === 'string') return left + right;
      return number(left, node, op) + number(right, node, op);
    case '-':
      return number(left, node, op) - number(right, node, op);
    case '*':
      return number(left, node, op) * number(right, node, op);
    case '/':
    case '%': {
      const a = number(left, node, op);
      const b = number(right, node, op);
      if (b === 0) fail(`division by zero (${preview(left)} ${op} 0)`, node);
      return op === '/' ? a / b : a % b;
    }
  }
}

function contains(node: ExpressionNode, container: JsonValue, item: JsonValue): boolean {
  if (Array.isArray(container)) return container.some((x) => deepEqual(x, item));
  if (typeof container === 'string') {
    if (typeof item !== 'string') fail(`"in" a string needs a string, got ${typeName(item)}`, node);
    return container.includes(item);
  }
  if (typeof container === 'object' && container !== null) {
    if (typeof item !== 'string') fail(`"in" an object needs a key (string), got ${typeName(item)}`, node);
    return Object.hasOwn(container, item);
  }
  return fail(`"in" needs an array, object or string on its right, got ${typeName(container)}`, node);
}

function deepEqual(a: JsonValue, b: JsonValue): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b))
    return a.length === b.length && a.every((x, i) => deepEqual(x, b[i] as JsonValue));
  if (typeof a === 'object' && typeof b === 'object' && a && b && !Array.isArray(a) && !Array.isArray(b)) {
    const keys = Object.keys(a);
    return (
      keys.length === Object.keys(b).length &&
      keys.every((k) => Object.hasOwn(b, k) && deepEqual(a[k] as JsonValue, b[k] as JsonValue))
    );
  }
  return false;
}

function call(node: Extract<ExpressionNode, { type: 'call' }>, scope: Scope): JsonValue {
  const first = evaluate(node.args[0] as ExpressionNode, scope);
  switch (node.fn) {
    case 'len':
      if (typeof first === 'string' || Array.isArray(first)) return first.length;
      if (typeof first === 'object' && first !== null) return Object.keys(first).length;
      return fail(`len() needs a string, array or object, got ${typeName(first)} ${preview(first)}`, node);
    case 'abs':
      return Math.abs(number(first, node, 'abs()'));
    case 'all':
    case 'any': {
      const items = arrayOf(first, node);
      const predicate = node.args[1] as ExpressionNode;
      const test = (it: JsonValue): boolean =>
        boolean(evaluate(predicate, { ...scope, it }), predicate, `${node.fn}() predicate`);
      return node.fn === 'all' ? items.every(test) : items.some(test);
    }
    default: {
      const items = arrayOf(first, node).map((x) => number(x, node, `${node.fn}()`));
      if (node.fn === 'sum') return items.reduce((s, x) => s + x, 0);
      if (!items.length) fail(`${node.fn}() of an empty array`, node);
      if (node.fn === 'avg') return items.reduce((s, x) => s + x, 0) / items.length;
      return node.fn === 'min' ? Math.min(...items) : Math.max(...items);
    }
  }
}

function arrayOf(v: JsonValue, node: Extract<ExpressionNode, { type: 'call' }>): JsonValue[] {
  if (!Array.isArray(v)) fail(`${node.fn}() needs an array, got ${typeName(v)} ${preview(v)}`, node);
  return v;
}
