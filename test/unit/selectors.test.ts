/**
 * Label selectors as the API server reads them: what parses to which requirements, what matches which labels,
 * what is rejected and with which message, and that formatting round-trips. Then the monitor schema: a
 * set-based selector is accepted and selects, a malformed one is an input error naming the field.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { matchesSelector } from '../../src/activities/monitor.js';
import {
  formatSelector,
  matches,
  parseLabelSelector,
  SelectorOperator as Op,
  type LabelRequirement,
  type LabelSelector,
} from '../../src/domain/selectors.js';
import { KubeTarget, MonitorHealthInput } from '../../src/schemas/monitor.js';

function parsed(text: string): LabelSelector {
  const result = parseLabelSelector(text);
  if (!result.ok) throw new Error(`expected "${text}" to parse: ${result.error}`);
  return result.selector;
}

function req(key: string, operator: LabelRequirement['operator'], values: string[] = []): LabelRequirement {
  return { key, operator, values };
}

describe('parseLabelSelector', () => {
  it.each<[string, LabelRequirement[]]>([
    ['', []],
    ['   ', []],
    ['app=web', [req('app', Op.Equals, ['web'])]],
    ['app==web', [req('app', Op.Equals, ['web'])]],
    ['app!=web', [req('app', Op.NotEquals, ['web'])]],
    ['app = web', [req('app', Op.Equals, ['web'])]],
    ['app=', [req('app', Op.Equals, [''])]],
    ['tier in (web)', [req('tier', Op.In, ['web'])]],
    ['tier in (web, api)', [req('tier', Op.In, ['api', 'web'])]],
    ['tier in(web,web)', [req('tier', Op.In, ['web'])]],
    ['tier notin (web)', [req('tier', Op.NotIn, ['web'])]],
    ['tier in ()', [req('tier', Op.In, [''])]],
    ['tier in (a,,b)', [req('tier', Op.In, ['', 'a', 'b'])]],
    ['tier in (a,)', [req('tier', Op.In, ['', 'a'])]],
    ['canary', [req('canary', Op.Exists)]],
    ['!canary', [req('canary', Op.DoesNotExist)]],
    ['replicas>2', [req('replicas', Op.GreaterThan, ['2'])]],
    ['replicas<10', [req('replicas', Op.LessThan, ['10'])]],
    ['app.kubernetes.io/part-of=shop', [req('app.kubernetes.io/part-of', Op.Equals, ['shop'])]],
    ['in in (in,notin)', [req('in', Op.In, ['in', 'notin'])]],
    ['z=1,a in (x),!m', [req('a', Op.In, ['x']), req('m', Op.DoesNotExist), req('z', Op.Equals, ['1'])]],
    [
      'x in (foo,,baz),y,z notin ()',
      [req('x', Op.In, ['', 'baz', 'foo']), req('y', Op.Exists), req('z', Op.NotIn, [''])],
    ],
    ['a=b\t,\nc', [req('a', Op.Equals, ['b']), req('c', Op.Exists)]],
  ])('%j parses to the requirements, sorted by key', (text, requirements) => {
    expect(parseLabelSelector(text)).toEqual({ ok: true, selector: { requirements } });
  });
});

describe('parseLabelSelector rejects what the API server rejects', () => {
  it.each<[string, string]>([
    [
      'tier in web',
      'expected "(" after "tier in", found "web" at column 9: set-based values go in parentheses, e.g. "tier in (web)"',
    ],
    ['tier in', 'expected "(" after "tier in", found the end of the selector at column 8'],
    ['tier in (web', 'expected "," or ")" in "tier in (...)", found the end of the selector at column 13'],
    ['tier in (a b)', 'expected "," or ")" in "tier in (...)", found "b" at column 12'],
    ['tier in (=)', 'expected a value, "," or ")" in "tier in (...)", found "=" at column 10'],
    ['tier web', 'expected an operator (in, notin, =, ==, !=, >, <) after "tier", found "web" at column 6'],
    ['a=b c', 'expected "," or the end after "a=b", found "c" at column 5'],
    ['a=b,', 'expected a label key or "!" after ",", found the end of the selector at column 5'],
    [',a', 'expected a label key or "!", found "," at column 1'],
    ['a,,b', 'expected a label key or "!" after ",", found "," at column 3'],
    ['!a=b', 'expected "," or the end after "!a", found "=" at column 3'],
    ['!', 'expected a label key after "!", found the end of the selector at column 2'],
    ['a=(b)', 'expected a value after "a=", found "(" at column 3'],
    ['a=!b', 'expected a value after "a=", found "!" at column 3'],
    ['a<=5', 'expected a value after "a<", found "=" at column 3'],
    [
      '-a=b',
      'invalid label key "-a": the name must be letters, digits, "-", "_" and ".", starting and ending with a letter or digit',
    ],
    [`${'k'.repeat(64)}=b`, `invalid label key "${'k'.repeat(64)}": the name has more than 63 characters`],
    [
      'Example.com/a=b',
      'invalid label key "Example.com/a": the prefix must be a DNS subdomain: lowercase letters, digits, "-" and ".", starting and ending with a letter or digit',
    ],
    ['/a=b', 'invalid label key "/a": the prefix before "/" must not be empty'],
    ['example.com/=b', 'invalid label key "example.com/": the name must not be empty'],
    [
      'a/b/c=d',
      'invalid label key "a/b/c": a key is a name with an optional DNS subdomain prefix and one "/" (e.g. "example.com/name")',
    ],
    [
      'a=-b',
      'invalid value "-b" for label "a": a value is empty or letters, digits, "-", "_" and ".", starting and ending with a letter or digit',
    ],
    [`a in (${'v'.repeat(64)})`, `invalid value "${'v'.repeat(64)}" for label "a": it has more than 63 characters`],
    ['a>b', 'the value of "a>" must be an integer, found "b"'],
    ['a<', 'the value of "a<" must be an integer, found ""'],
    ['a>99999999999999999999', 'the value of "a>" must be an integer, found "99999999999999999999"'],
  ])('%j: %s', (text, error) => {
    expect(parseLabelSelector(text)).toEqual({ ok: false, error });
  });
});

describe('matches', () => {
  const web = { app: 'shop', tier: 'web', replicas: '3' };
  it.each<[string, Record<string, string>, boolean]>([
    ['', web, true],
    ['app=shop', web, true],
    ['app==shop', web, true],
    ['app=other', web, false],
    ['app!=other', web, true],
    ['app!=shop', web, false],
    ['missing!=x', web, true],
    ['missing=x', web, false],
    ['tier in (web)', web, true],
    ['tier in (web,api)', web, true],
    ['tier in (api)', web, false],
    ['missing in (web)', web, false],
    ['tier notin (web)', web, false],
    ['tier notin (api)', web, true],
    ['missing notin (web)', web, true],
    ['tier', web, true],
    ['missing', web, false],
    ['!tier', web, false],
    ['!missing', web, true],
    ['app=shop,tier in (web),!canary', web, true],
    ['app=shop,tier in (web),canary', web, false],
    ['replicas>2', web, true],
    ['replicas>3', web, false],
    ['replicas<4', web, true],
    ['tier>1', web, false],
    ['missing<4', web, false],
    ['tier in (,web)', { tier: '' }, true],
    ['constructor', {}, false],
    ['!constructor', {}, true],
  ])('%j on %j is %s', (text, labels, expected) => {
    expect(matches(parsed(text), labels)).toBe(expected);
  });
});

describe('formatSelector', () => {
  it.each<[string, string]>([
    ['', ''],
    ['app==web', 'app=web'],
    ['tier in ( web , api )', 'tier in (api,web)'],
    ['tier notin ()', 'tier notin ()'],
    ['tier in (a,,b)', 'tier in (,a,b)'],
    ['z,!y,x!=1,w>2,v<3,u=', 'u=,v<3,w>2,x!=1,!y,z'],
    ['in in (in,notin)', 'in in (in,notin)'],
  ])('%j formats as %j and parses back to the same selector', (text, formatted) => {
    const selector = parsed(text);
    expect(formatSelector(selector)).toBe(formatted);
    expect(parsed(formatSelector(selector))).toEqual(selector);
  });
});

describe('matchesSelector (the monitor activity)', () => {
  it('matches a set-based selector given as text', () => {
    expect(matchesSelector({ tier: 'web' }, 'tier in (web,api)')).toBe(true);
    expect(matchesSelector({ tier: 'db' }, 'tier in (web,api)')).toBe(false);
  });

  it('matches an already parsed selector', () => {
    expect(matchesSelector({ tier: 'web' }, parsed('tier notin (db)'))).toBe(true);
  });

  it('throws on a selector the schema would have rejected instead of matching nothing', () => {
    expect(() => matchesSelector({ tier: 'web' }, 'tier in web')).toThrow(
      'invalid label selector "tier in web": expected "(" after "tier in"',
    );
  });
});

describe('monitor schema: KubeTarget.selector', () => {
  const input = (selector: string) => ({
    name: 'shop',
    targets: [{ type: 'kube' as const, namespace: 'shop', selector }],
  });

  it('accepts a set-based selector, and the parsed target selects by it', () => {
    const result = MonitorHealthInput.safeParse(input('tier in (web)'));
    expect(result.success).toBe(true);
    const target = result.data?.targets[0];
    expect(target).toMatchObject({ type: 'kube', selector: 'tier in (web)' });
    const selector = target?.type === 'kube' ? (target.selector ?? '') : '';
    expect(matchesSelector({ tier: 'web' }, selector)).toBe(true);
    expect(matchesSelector({ tier: 'db' }, selector)).toBe(false);
  });

  it('rejects "tier in web" with a message naming the field and the problem', () => {
    const result = MonitorHealthInput.safeParse(input('tier in web'));
    expect(result.success).toBe(false);
    expect(result.error?.issues).toEqual([
      expect.objectContaining({
        path: ['targets', 0, 'selector'],
        message:
          'invalid label selector "tier in web": expected "(" after "tier in", found "web" at column 9: ' +
          'set-based values go in parentheses, e.g. "tier in (web)"',
      }),
    ]);
    expect(z.prettifyError(result.error as z.ZodError)).toContain('→ at targets[0].selector');
  });

  it('leaves the selector optional', () => {
    expect(KubeTarget.safeParse({ type: 'kube', namespace: 'shop' }).success).toBe(true);
  });
});
