/**
 * The analysis condition language (src/domain/analysis-expression.ts): what conditions compute over a result,
 * which evaluations are errors (never silently false), and where parse errors point. Also the JSON path of the
 * HTTP provider and the templates of specs.
 */
import { describe, expect, it } from 'vitest';
import {
  compileExpression,
  evaluateCondition,
  evaluateExpression,
  ExpressionEvaluationError,
  parseExpression,
  type JsonValue,
} from '../../src/domain/analysis-expression.js';
import { parseJsonPath, selectJsonPath } from '../../src/domain/analysis-json-path.js';
import {
  MissingTemplateArgsError,
  renderProvider,
  renderTemplate,
  unknownPlaceholders,
} from '../../src/domain/analysis-template.js';

const evaluate = (text: string, result: JsonValue): JsonValue => evaluateExpression(compileExpression(text), result);

describe('evaluating conditions', () => {
  const http = { status: 'ok', checks: { db: true, cache: false }, latency: [0.12, 0.3, 0.08], version: '1.4.2' };
  it.each<[string, JsonValue, JsonValue]>([
    ['result >= 0.95', 0.97, true],
    ['result >= 0.95', 0.9, false],
    ['result[0] >= 0.95', [0.99, 0.2], true],
    ['result[-1] < 0.5', [0.99, 0.2], true],
    ['result.status == "ok"', http, true],
    ["result.status != 'ok'", http, false],
    ['result.checks.db && !result.checks.cache', http, true],
    ['result.checks["db"] and not result.checks.cache', http, true],
    ['result.checks.cache || result.status == "ok"', http, true],
    ['len(result.latency) == 3', http, true],
    ['max(result.latency) < 0.5', http, true],
    ['min(result.latency) * 1000', http, 80],
    ['sum(result.latency)', { latency: [1, 2, 3] }, 6],
    ['avg(result)', [1, 2, 3, 6], 3],
    ['sum([])', null, 0],
    ['abs(-2.5) + 1', null, 3.5],
    ['all(result, it < 0.5)', [0.1, 0.4], true],
    ['all(result, it < 0.5)', [0.1, 0.6], false],
    ['all(result, it < 0.5)', [], true],
    ['any(result.latency, it > 0.25)', http, true],
    ['"ok" in ["ok", "degraded"]', null, true],
    ['result.status in ["ok", "degraded"]', http, true],
    ['"db" in result.checks', http, true],
    ['"1.4" in result.version', http, true],
    ['(1 + 2) * 3 - 4 / 2', null, 7],
    ['7 % 4', null, 3],
    ['-result', 2, -2],
    ['1e3 == 1000 && .5 == 0.5', null, true],
    ['"a" + "b" == "ab"', null, true],
    ['"abc" < "abd"', null, true],
    ['result == [1, 2]', [1, 2], true],
    ['result.a == result.b', { a: { x: [1] }, b: { x: [1] } }, true],
    ['1 == "1"', null, false],
    ['result == null', null, true],
    ['false && result.missing', {}, false],
    ['true || result.missing', {}, true],
  ])('%s over %j is %j', (text, result, expected) => {
    expect(evaluate(text, result)).toEqual(expected);
  });
});

describe('evaluation errors name the problem and the column', () => {
  it.each<[string, JsonValue, string]>([
    ['result[0] >= 0.95', [], 'index 0 is out of range (the array has 0 elements) (column 7)'],
    ['result.status == "ok"', { code: 1 }, 'no field "status" in {"code":1} (column 8)'],
    ['result > 1', 'high', '> needs numbers, got string "high" (column 8)'],
    ['result && true', 1, '&& needs booleans, got number 1 (column 8)'],
    ['!result', 'x', '! needs a boolean, got string "x" (column 1)'],
    ['result / 0 > 1', 4, 'division by zero (4 / 0) (column 8)'],
    ['max(result)', [], 'max() of an empty array (column 1)'],
    ['len(result)', 3, 'len() needs a string, array or object, got number 3 (column 1)'],
    ['all(result, it)', [1], 'all() predicate needs booleans, got number 1 (column 13)'],
    ['result.a', [1], '.a needs an object, got array [1] (column 8)'],
  ])('%s over %j', (text, result, message) => {
    expect(() => evaluate(text, result)).toThrow(
      new ExpressionEvaluationError(
        message.replace(/ \(column \d+\)$/, ''),
        Number(/column (\d+)\)$/.exec(message)?.[1]),
      ),
    );
  });

  it('a condition must give a boolean', () => {
    expect(() => evaluateCondition(compileExpression('result + 1'), 1)).toThrow(
      'the condition gave number 2, not true or false',
    );
  });
});

describe('parse errors point at the column', () => {
  it.each<[string, string]>([
    ['result[0] >= (0.95', 'expected ")" to close "(", found end of expression at column 19'],
    ['result = 1', 'unexpected character "=" (compare with ==) at column 8'],
    ['result & 1', 'unexpected character "&" (use &&) at column 8'],
    [
      'reslt > 1',
      'unknown name "reslt" (known: result, true, false, null, len(), min(), max(), sum(), avg(), abs(), all(), any()) at column 1',
    ],
    ['it > 1', '"it" is only known inside the predicate of all() or any() at column 1'],
    ['all(it, true)', '"it" is only known inside the predicate of all() or any() at column 5'],
    ['len(result, 1)', 'len() takes 1 argument, got 2 at column 1'],
    ['all(result)', 'all() takes 2 arguments, got 1 at column 1'],
    ['0 < result < 1', 'comparisons do not chain: write (a < b) && (b < c) at column 12'],
    ['result.', 'expected a field name after ".", found end of expression at column 8'],
    ['"open', 'string not closed at column 1'],
    ['result >', 'unexpected end of expression at column 9'],
    ['result 1', 'unexpected number 1 after a complete expression at column 8'],
    ['12abc', 'malformed number "12…" at column 1'],
    ['', 'empty expression'],
  ])('%j', (text, error) => {
    const parsed = parseExpression(text);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.error).toBe(error);
  });

  it('refuses text nested deeper than the limit', () => {
    const parsed = parseExpression(`${'('.repeat(60)}1${')'.repeat(60)}`);
    expect(parsed.ok).toBe(false);
  });

  it('the parsed tree is plain data (it may travel in workflow state)', () => {
    const e = compileExpression('all(result, it.ok) && len(result) > 0');
    expect(JSON.parse(JSON.stringify(e))).toEqual(e);
  });
});

describe('JSON path of the HTTP provider', () => {
  const body = {
    data: {
      items: [
        { v: 1, ok: true },
        { v: 2, ok: false },
      ],
      'the-key': 'x',
    },
    n: null,
  };
  it.each<[string, unknown]>([
    ['$.data.items[0].v', 1],
    ['data.items[-1].v', 2],
    ['{$.data.items[*].ok}', [true, false]],
    ["$.data['the-key']", 'x'],
    ['$.data.items[*]', body.data.items],
    ['$', body],
    ['$.n', null],
  ])('%s', (path, expected) => {
    const parsed = parseJsonPath(path);
    if (!parsed.ok) throw new Error(parsed.error);
    expect(selectJsonPath(body, parsed.segments)).toEqual({ found: true, value: expected });
  });

  it.each(['$.missing', '$.data.items[5]', '$.data.items[*].missing', '$.n.x'])('%s finds nothing', (path) => {
    const parsed = parseJsonPath(path);
    if (!parsed.ok) throw new Error(parsed.error);
    expect(selectJsonPath(body, parsed.segments)).toEqual({ found: false });
  });

  it('names the column of a malformed path', () => {
    expect(parseJsonPath('$.data[x]')).toEqual({
      ok: false,
      error: 'invalid JSON path "$.data[x]": expected [n], [*], [\'name\'] or ["name"] at column 7',
    });
  });
});

describe('templates', () => {
  const values = { cluster: 'eu-1', args: { app: 'web', 'service-name': 'web.shop' } };
  it('replaces {{args.x}} and {{cluster}}, spaces allowed', () => {
    expect(renderTemplate('up{job="{{ args.app }}",cluster="{{cluster}}"} {{args.service-name}}', values)).toBe(
      'up{job="web",cluster="eu-1"} web.shop',
    );
  });
  it('names every unknown argument and the field', () => {
    const provider = { prometheus: { address: 'http://p:9090', query: 'x{a="{{args.team}}",b="{{args.tier}}"}' } };
    expect(() => renderProvider(provider, values)).toThrow(
      new MissingTemplateArgsError(['team', 'tier'], 'prometheus.query'),
    );
    expect(() => renderProvider(provider, values)).toThrow(
      'prometheus.query: unknown template arguments args.team, args.tier',
    );
  });
  it('finds placeholders that are neither args nor cluster', () => {
    expect(unknownPlaceholders('{{args.a}} {{ env.HOME }} {{cluster}} {{namespace}}')).toEqual([
      '{{ env.HOME }}',
      '{{namespace}}',
    ]);
  });
});
