/**
 * The fast manifest reader (js-yaml under the YAML 1.2 core schema) must read exactly what the exact reader (`yaml`)
 * reads, or step aside: every case below is parsed both ways and compared, and the cases the fast reader must leave
 * to the exact one (anchors, merge keys, directives, odd keys, unknown tags, errors, problems) are checked to do so.
 */
import { describe, expect, it } from 'vitest';
import { parseManifests, readFast } from '../../src/domain/manifests.js';

const SCALARS = [
  'yes',
  'no',
  'on',
  'off',
  'y',
  'n',
  '~',
  'null',
  'Null',
  'NULL',
  'true',
  'True',
  'TRUE',
  'false',
  'FALSE',
  'tRUE',
  '0o17',
  '0o8',
  '0x1F',
  '0X1F',
  '017',
  '0b101',
  '1_000',
  '+12',
  '-0',
  '.5',
  '1.',
  '-1.5e3',
  '1E-3',
  '1e3',
  '.inf',
  '-.Inf',
  '+.INF',
  '.NaN',
  '.nan',
  'NaN',
  '2024-01-01',
  '2024-01-01T00:00:00Z',
  '12:30',
  '1:2:3',
  '12345678901234567890',
  '0.1.2',
  '"quoted 5"',
  "'single ''q'''",
  '"\\t tab \\u00e9"',
  'a # comment',
  'http://x/?a=1&b=2',
  '"!="',
  "'!x'",
  '[1, "2", three, {a: b}]',
  '{}',
  '[]',
  '',
];

function doc(value: string, i: number): string {
  return `apiVersion: example.com/v1\nkind: Thing\nmetadata: { name: t-${i}, namespace: ns }\nspec:\n  value: ${value}\n`;
}

function bothWays(text: string): { fast: unknown; exact: unknown } {
  return {
    fast: JSON.stringify(parseManifests(text)),
    exact: JSON.stringify(parseManifests(text, { exact: true })),
  };
}

describe('fast manifest reader', () => {
  it('reads every core-schema scalar as the exact reader does, and is the one that read them', () => {
    const text = SCALARS.map(doc).join('---\n');
    expect(readFast([{ text }])).toBeDefined();
    const { fast, exact } = bothWays(text);
    expect(fast).toEqual(exact);
    for (const [i, s] of SCALARS.entries()) {
      const one = doc(s, i);
      expect(JSON.stringify(readFast([{ text: one }])), s).toEqual(
        JSON.stringify(parseManifests(one, { exact: true })),
      );
    }
  });

  it('reads block scalars, flow collections, JSON documents, Lists, comments and empty documents the same', () => {
    const text = `# leading comment
---
apiVersion: v1
kind: ConfigMap
metadata: { name: blocks, namespace: ns, labels: { "a.b/c": "d" } }
data:
  literal: |
    line 1
      indented
    line 3
  folded: >-
    folded
    text

    para
  keep: |+
    kept

  strip: |-
    stripped
---
---
{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "json", "namespace": "ns"}, "data": {"k": "v"}}
---
apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: ConfigMap
    metadata: { name: in-list, namespace: ns }
`;
    expect(readFast([{ text }])).toBeDefined();
    const { fast, exact } = bothWays(text);
    expect(fast).toEqual(exact);
  });

  it.each([
    ['an anchor and alias', 'spec:\n  a: &x { k: 1 }\n  b: *x\n'],
    ['an anchor on a scalar', 'spec:\n  a: &x 5\n  b: *x\n'],
    ['a merge key', 'spec:\n  base: { k: 1 }\n  m:\n    <<: { k: 2 }\n'],
    ['a YAML 1.1 directive', '%YAML 1.1\n---\nspec:\n  v: yes\n'],
    ['a null key', 'spec:\n  ~: x\n'],
    ['a complex key', 'spec:\n  ? [a, b]\n  : c\n'],
    ['an unknown tag', 'spec:\n  v: !custom x\n'],
    ['a binary tag', 'spec:\n  v: !!binary aGk=\n'],
    ['a duplicate key', 'spec:\n  v: 1\n  v: 2\n'],
    ['a syntax error', 'spec:\n  v: [1, 2\n'],
  ])('leaves %s to the exact reader, which reads it the same as before', (_name, body) => {
    const text = `apiVersion: example.com/v1\nkind: Thing\nmetadata: { name: t, namespace: ns }\n${body}`;
    const fast = readFast([{ text }]);
    expect(fast).toBeUndefined();
    const { fast: viaParse, exact } = bothWays(text);
    expect(viaParse).toEqual(exact);
  });

  it('leaves manifests with a problem to the exact reader, so problems keep their line and column', () => {
    const text = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\n  namespace: ns\n';
    expect(readFast([{ text }])).toBeUndefined();
    const result = parseManifests(text);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.problems[0]?.line).toBe(4);
  });

  it('leaves explicit standard tags to the exact reader (`!!float 1` is the string "1" there)', () => {
    const text = doc('!!str 5', 1) + '---\n' + doc('!!int "7"', 2) + '---\n' + doc('!!float 1', 3);
    expect(readFast([{ text }])).toBeUndefined();
    const { fast, exact } = bothWays(text);
    expect(fast).toEqual(exact);
  });
});
