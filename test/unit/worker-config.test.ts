import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, it, expect } from 'vitest';
import {
  ConfigError,
  DEFAULT_MAX_CONCURRENT_ACTIVITIES,
  DEFAULT_SHUTDOWN_GRACE_TIME,
  DEFAULT_TASK_QUEUE,
  DEFAULT_TEMPORAL_ADDRESS,
  DEFAULT_TEMPORAL_NAMESPACE,
  loadWorkerConfig,
  parseLabelList,
} from '../../src/worker/config.js';
import type { WorkerConfig } from '../../src/worker/config.js';

const dir = mkdtempSync(join(tmpdir(), 'kube-workflows-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Writes a configuration file into the temp folder and returns its path. */
function configFile(name: string, yaml: string): string {
  const path = join(dir, name);
  writeFileSync(path, yaml);
  return path;
}

/** Runs loadWorkerConfig and returns what it threw. */
function errorOf(env: NodeJS.ProcessEnv): unknown {
  try {
    loadWorkerConfig(env);
  } catch (err) {
    return err;
  }
  return undefined;
}

const KUBECONFIG = '/home/ops/.kube/config';

describe('loadWorkerConfig rejects a bad configuration with a ConfigError naming what is wrong', () => {
  it.each<{ case: string; env: () => NodeJS.ProcessEnv; names: string }>([
    { case: 'no KUBECONFIG and no configuration file', env: () => ({}), names: 'KUBECONFIG' },
    {
      case: 'a configuration file that is not valid YAML',
      env: () => ({ KUBECONFIG, KUBE_WORKFLOWS_CONFIG: configFile('broken.yaml', 'temporal: [unclosed\n') }),
      names: 'broken.yaml: invalid YAML',
    },
    {
      case: 'a TLS certificate file without its key in the configuration file',
      env: () => ({
        KUBECONFIG,
        KUBE_WORKFLOWS_CONFIG: configFile('tls.yaml', 'temporal: { tls: { certFile: /c.pem } }\n'),
      }),
      names: 'temporal.tls.keyFile',
    },
    {
      case: 'KUBECONFIG set to the empty string and no file',
      env: () => ({ KUBECONFIG: '' }),
      names: 'KUBECONFIG',
    },
    {
      case: 'TEMPORAL_ADDRESS without a port',
      env: () => ({ KUBECONFIG, TEMPORAL_ADDRESS: 'temporal.example.com' }),
      names: 'TEMPORAL_ADDRESS',
    },
    {
      case: 'KUBE_WORKFLOWS_ALLOW_CLUSTER_SCOPED=maybe',
      env: () => ({ KUBECONFIG, KUBE_WORKFLOWS_ALLOW_CLUSTER_SCOPED: 'maybe' }),
      names: 'KUBE_WORKFLOWS_ALLOW_CLUSTER_SCOPED',
    },
    {
      case: 'TEMPORAL_TLS_CERT without TEMPORAL_TLS_KEY',
      env: () => ({ KUBECONFIG, TEMPORAL_TLS_CERT: '/etc/tls/client.pem' }),
      names: 'TEMPORAL_TLS_KEY',
    },
    {
      case: 'TEMPORAL_TLS_KEY without TEMPORAL_TLS_CERT',
      env: () => ({ KUBECONFIG, TEMPORAL_TLS_KEY: '/etc/tls/client.key' }),
      names: 'TEMPORAL_TLS_CERT',
    },
    {
      case: 'a configuration file that does not exist',
      env: () => ({ KUBECONFIG, KUBE_WORKFLOWS_CONFIG: join(dir, 'missing.yaml') }),
      names: 'missing.yaml',
    },
    {
      case: 'a configuration file with an unknown top-level key',
      env: () => ({
        KUBECONFIG,
        KUBE_WORKFLOWS_CONFIG: configFile('unknown-key.yaml', 'temporal: {}\nclustres: {}\n'),
      }),
      names: 'clustres',
    },
    {
      case: 'a configuration file with an unknown nested key',
      env: () => ({
        KUBECONFIG,
        KUBE_WORKFLOWS_CONFIG: configFile('unknown-nested.yaml', 'policy:\n  namespace: [shop]\n'),
      }),
      names: '"namespace"',
    },
    {
      case: 'clusters.default naming a cluster that is not configured',
      env: () => ({
        KUBE_WORKFLOWS_CONFIG: configFile(
          'missing-default.yaml',
          'clusters:\n  default: prod\n  entries:\n    staging:\n      kubeconfig: /k/staging\n',
        ),
      }),
      names: 'clusters.default',
    },
    {
      case: 'a cluster name with capitals and "_" in KUBE_WORKFLOWS_CLUSTER',
      env: () => ({ KUBECONFIG, KUBE_WORKFLOWS_CLUSTER: 'Prod_EU' }),
      names: 'KUBE_WORKFLOWS_CLUSTER',
    },
    {
      case: 'a cluster name with capitals and "_" in clusters.entries',
      env: () => ({
        KUBE_WORKFLOWS_CONFIG: configFile(
          'bad-cluster-name.yaml',
          'clusters:\n  entries:\n    Prod_EU:\n      kubeconfig: /k/prod\n',
        ),
      }),
      names: 'clusters.entries.Prod_EU',
    },
    {
      case: 'a cluster entry with neither kubeconfig nor inCluster',
      env: () => ({ KUBE_WORKFLOWS_CONFIG: configFile('empty-cluster.yaml', 'clusters:\n  entries:\n    prod: {}\n') }),
      names: 'clusters.entries.prod',
    },
    {
      case: 'worker.shutdownGraceTime that is not a duration',
      env: () => ({
        KUBECONFIG,
        KUBE_WORKFLOWS_CONFIG: configFile('bad-grace.yaml', 'worker:\n  shutdownGraceTime: soon\n'),
      }),
      names: 'worker.shutdownGraceTime',
    },
  ])('$case', ({ env, names }) => {
    const err = errorOf(env());
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toContain(names);
  });
});

describe('loadWorkerConfig from the environment only', () => {
  const config = loadWorkerConfig({ KUBECONFIG });

  it('uses the default Temporal address, namespace and task queue', () => {
    expect(config.temporal).toEqual({
      address: DEFAULT_TEMPORAL_ADDRESS,
      namespace: DEFAULT_TEMPORAL_NAMESPACE,
      taskQueue: DEFAULT_TASK_QUEUE,
      apiKey: undefined,
      tls: undefined,
    });
  });

  it('uses task queue "kube-workflows" and Temporal namespace "default"', () => {
    expect([config.temporal.taskQueue, config.temporal.namespace]).toEqual(['kube-workflows', 'default']);
  });

  it('configures one cluster named "default" from KUBECONFIG', () => {
    expect(config.clusters).toEqual({
      default: 'default',
      entries: { default: { kubeconfig: KUBECONFIG, labels: {} } },
    });
  });

  it('applies the safe default policy: any unprotected namespace, no cluster-scoped writes, no denied kinds', () => {
    expect(config.policy).toMatchObject({
      namespaces: ['*'],
      allowClusterScoped: false,
      allowPlaintextSecrets: false,
      deniedKinds: [],
    });
  });

  it('uses the default worker settings', () => {
    expect(config.worker).toEqual({
      shutdownGraceTime: DEFAULT_SHUTDOWN_GRACE_TIME,
      maxConcurrentActivityTaskExecutions: DEFAULT_MAX_CONCURRENT_ACTIVITIES,
      applyConcurrency: 32,
      kubeQps: 200,
      kubeBurst: 400,
      clientRateLimit: 'auto',
      healthPort: undefined,
      metricsBindAddress: undefined,
      logFormat: 'json',
      logLevel: 'INFO',
    });
  });

  it('takes the first file of a KUBECONFIG list', () => {
    expect(loadWorkerConfig({ KUBECONFIG: '/a/config:/b/config' }).clusters.entries).toEqual({
      default: { kubeconfig: '/a/config', labels: {} },
    });
  });

  it('names the cluster after KUBE_WORKFLOWS_CLUSTER and uses KUBE_CONTEXT', () => {
    const c = loadWorkerConfig({ KUBECONFIG, KUBE_WORKFLOWS_CLUSTER: 'prod', KUBE_CONTEXT: 'prod-admin' });
    expect(c.clusters).toEqual({
      default: 'prod',
      entries: { prod: { kubeconfig: KUBECONFIG, context: 'prod-admin', labels: {} } },
    });
  });

  it('reads the policy from KUBE_WORKFLOWS_NAMESPACES and KUBE_WORKFLOWS_ALLOW_CLUSTER_SCOPED', () => {
    const c = loadWorkerConfig({
      KUBECONFIG,
      KUBE_WORKFLOWS_NAMESPACES: 'shop, team-*',
      KUBE_WORKFLOWS_ALLOW_CLUSTER_SCOPED: 'true',
    });
    expect(c.policy).toMatchObject({ namespaces: ['shop', 'team-*'], allowClusterScoped: true, deniedKinds: [] });
  });

  it('allows plaintext Secrets only when KUBE_WORKFLOWS_ALLOW_PLAINTEXT_SECRETS is true', () => {
    expect(loadWorkerConfig({ KUBECONFIG }).policy.allowPlaintextSecrets).toBe(false);
    expect(
      loadWorkerConfig({ KUBECONFIG, KUBE_WORKFLOWS_ALLOW_PLAINTEXT_SECRETS: 'true' }).policy.allowPlaintextSecrets,
    ).toBe(true);
    expect(errorOf({ KUBECONFIG, KUBE_WORKFLOWS_ALLOW_PLAINTEXT_SECRETS: 'yes' })).toMatchObject({
      message: 'environment variable KUBE_WORKFLOWS_ALLOW_PLAINTEXT_SECRETS: expected true or false',
    });
  });

  it('builds mTLS settings from TEMPORAL_TLS_CERT, _KEY, _CA and _SERVER_NAME', () => {
    const c = loadWorkerConfig({
      KUBECONFIG,
      TEMPORAL_TLS_CERT: '/tls/client.pem',
      TEMPORAL_TLS_KEY: '/tls/client.key',
      TEMPORAL_TLS_CA: '/tls/ca.pem',
      TEMPORAL_TLS_SERVER_NAME: 'temporal.internal',
    });
    expect(c.temporal.tls).toEqual({
      certFile: '/tls/client.pem',
      keyFile: '/tls/client.key',
      caFile: '/tls/ca.pem',
      serverName: 'temporal.internal',
    });
  });

  it('treats empty environment variables as unset', () => {
    const c = loadWorkerConfig({
      KUBECONFIG,
      TEMPORAL_ADDRESS: '',
      TEMPORAL_TASK_QUEUE: '',
      KUBE_WORKFLOWS_ALLOW_CLUSTER_SCOPED: '',
    });
    expect([c.temporal.address, c.temporal.taskQueue, c.policy.allowClusterScoped]).toEqual([
      DEFAULT_TEMPORAL_ADDRESS,
      DEFAULT_TASK_QUEUE,
      false,
    ]);
  });
});

describe('loadWorkerConfig from a file with environment overrides', () => {
  const file = configFile(
    'full.yaml',
    [
      'temporal:',
      '  address: temporal.internal:7233',
      '  namespace: ops',
      '  taskQueue: deploys',
      'clusters:',
      '  default: staging',
      '  entries:',
      '    staging:',
      '      kubeconfig: /k/staging',
      '      context: staging-admin',
      '    in-cluster:',
      '      inCluster: true',
      'policy:',
      '  namespaces: [shop]',
      '  allowClusterScoped: true',
      '  deniedKinds: [Secret]',
      'worker:',
      '  shutdownGraceTime: 2m',
      '  applyConcurrency: 4',
      '  kubeQps: 20',
      '  kubeBurst: 40',
      '',
    ].join('\n'),
  );

  const fromFile = loadWorkerConfig({ KUBE_WORKFLOWS_CONFIG: file });
  const overridden = loadWorkerConfig({
    KUBE_WORKFLOWS_CONFIG: file,
    TEMPORAL_ADDRESS: 'temporal.prod:7233',
    TEMPORAL_TASK_QUEUE: 'deploys-eu',
    KUBE_WORKFLOWS_NAMESPACES: 'shop,billing',
    KUBE_WORKFLOWS_ALLOW_CLUSTER_SCOPED: 'false',
  });

  it('reads every section of the file', () => {
    expect(fromFile).toEqual<WorkerConfig>({
      temporal: {
        address: 'temporal.internal:7233',
        namespace: 'ops',
        taskQueue: 'deploys',
        apiKey: undefined,
        tls: undefined,
      },
      clusters: {
        default: 'staging',
        entries: {
          staging: { kubeconfig: '/k/staging', context: 'staging-admin', labels: {} },
          'in-cluster': { inCluster: true, labels: {} },
        },
      },
      alerts: {},
      policy: {
        namespaces: ['shop'],
        allowClusterScoped: true,
        allowPlaintextSecrets: false,
        deniedKinds: ['Secret'],
        scale: { defaults: { minReplicas: 1, maxReplicas: 100, allowZero: false }, rules: [] },
      },
      worker: {
        shutdownGraceTime: '2m',
        maxConcurrentActivityTaskExecutions: 500,
        applyConcurrency: 4,
        kubeQps: 20,
        kubeBurst: 40,
        clientRateLimit: 'always', // the file sets a rate: it applies also under the server's flow control
        healthPort: undefined,
        metricsBindAddress: undefined,
        logFormat: 'json',
        logLevel: 'INFO',
      },
    });
  });

  it('lets environment variables override the Temporal settings of the file', () => {
    expect(overridden.temporal).toEqual({
      address: 'temporal.prod:7233',
      namespace: 'ops',
      taskQueue: 'deploys-eu',
      apiKey: undefined,
      tls: undefined,
    });
  });

  it('lets environment variables override the policy of the file, keeping its denied kinds', () => {
    expect(overridden.policy).toMatchObject({
      namespaces: ['shop', 'billing'],
      allowClusterScoped: false,
      deniedKinds: ['Secret'],
    });
  });

  it('adds the KUBECONFIG cluster next to the file clusters and keeps the file default', () => {
    const c = loadWorkerConfig({ KUBE_WORKFLOWS_CONFIG: file, KUBECONFIG, KUBE_WORKFLOWS_CLUSTER: 'laptop' });
    expect([c.clusters.default, Object.keys(c.clusters.entries).sort()]).toEqual([
      'staging',
      ['in-cluster', 'laptop', 'staging'],
    ]);
  });

  it('defaults to the first file cluster when the file names no default', () => {
    const c = loadWorkerConfig({
      KUBE_WORKFLOWS_CONFIG: configFile(
        'no-default.yaml',
        'clusters:\n  entries:\n    eu:\n      inCluster: true\n    us:\n      kubeconfig: /k/us\n',
      ),
    });
    expect(c.clusters.default).toBe('eu');
  });

  it('reads policy.allowPlaintextSecrets from the file; the environment overrides it', () => {
    const optedOut = configFile('plaintext.yaml', 'policy:\n  allowPlaintextSecrets: true\n');
    expect(loadWorkerConfig({ KUBE_WORKFLOWS_CONFIG: optedOut, KUBECONFIG }).policy.allowPlaintextSecrets).toBe(true);
    const env = { KUBE_WORKFLOWS_CONFIG: optedOut, KUBECONFIG, KUBE_WORKFLOWS_ALLOW_PLAINTEXT_SECRETS: 'false' };
    expect(loadWorkerConfig(env).policy.allowPlaintextSecrets).toBe(false);
  });

  it('accepts an empty file when KUBECONFIG names the cluster', () => {
    const c = loadWorkerConfig({ KUBE_WORKFLOWS_CONFIG: configFile('empty.yaml', ''), KUBECONFIG });
    expect(c.clusters).toEqual({ default: 'default', entries: { default: { kubeconfig: KUBECONFIG, labels: {} } } });
  });
});

describe('loadWorkerConfig scale bounds', () => {
  it('defaults to 1–100 replicas and never zero', () => {
    const c = loadWorkerConfig({ KUBECONFIG: '/k' });
    expect(c.policy.scale).toEqual({ defaults: { minReplicas: 1, maxReplicas: 100, allowZero: false }, rules: [] });
  });

  it('reads defaults and per-namespace rules from the file', () => {
    const file = configFile(
      'scale.yaml',
      'policy:\n  scale:\n    maxReplicas: 20\n    rules:\n      - { namespaces: [batch-*], maxReplicas: 50, allowZero: true }\n',
    );
    const c = loadWorkerConfig({ KUBECONFIG: '/k', KUBE_WORKFLOWS_CONFIG: file });
    expect(c.policy.scale.defaults.maxReplicas).toBe(20);
    expect(c.policy.scale.rules).toEqual([
      { namespaces: ['batch-*'], minReplicas: 1, maxReplicas: 50, allowZero: true },
    ]);
  });
});

describe('cluster labels', () => {
  const fleet = configFile(
    'fleet.yaml',
    [
      'clusters:',
      '  default: local',
      '  entries:',
      '    local:',
      '      kubeconfig: /k/all.yaml',
      '      context: local',
      '      labels: { env: staging, region: r1, example.com/tier: edge }',
      '    local-2:',
      '      kubeconfig: /k/all.yaml',
      '      context: local-2',
      '      labels: { env: prod, region: r2 }',
      '    in-cluster:',
      '      inCluster: true',
      '      labels: { env: "" }',
      '    bare:',
      '      kubeconfig: /k/bare',
      '',
    ].join('\n'),
  );

  it('carries the labels of each file entry into the resolved configuration, {} when none', () => {
    const { entries } = loadWorkerConfig({ KUBE_WORKFLOWS_CONFIG: fleet }).clusters;
    expect(Object.fromEntries(Object.entries(entries).map(([name, e]) => [name, e.labels]))).toEqual({
      local: { env: 'staging', region: 'r1', 'example.com/tier': 'edge' },
      'local-2': { env: 'prod', region: 'r2' },
      'in-cluster': { env: '' },
      bare: {},
    });
  });

  it('labels the KUBECONFIG cluster from KUBE_WORKFLOWS_CLUSTER_LABELS', () => {
    const c = loadWorkerConfig({
      KUBECONFIG,
      KUBE_WORKFLOWS_CLUSTER: 'laptop',
      KUBE_WORKFLOWS_CLUSTER_LABELS: ' env=dev , example.com/owner=me,empty=',
    });
    expect(c.clusters.entries['laptop']).toEqual({
      kubeconfig: KUBECONFIG,
      labels: { env: 'dev', 'example.com/owner': 'me', empty: '' },
    });
  });

  it('keeps the file entry when the file lists the KUBECONFIG cluster under the same name', () => {
    const c = loadWorkerConfig({
      KUBE_WORKFLOWS_CONFIG: fleet,
      KUBECONFIG,
      KUBE_WORKFLOWS_CLUSTER: 'local',
      KUBE_WORKFLOWS_CLUSTER_LABELS: 'env=laptop',
    });
    expect(c.clusters.default).toBe('local');
    expect(c.clusters.entries['local']).toEqual({
      kubeconfig: '/k/all.yaml',
      context: 'local',
      labels: { env: 'staging', region: 'r1', 'example.com/tier': 'edge' },
    });
    expect(Object.keys(c.clusters.entries)).toEqual(['local', 'local-2', 'in-cluster', 'bare']);
  });

  it.each<{ case: string; labels: string; names: string }>([
    { case: 'a key with a character labels do not allow', labels: '"Env!": prod', names: 'clusters.entries.prod' },
    { case: 'a value with a space', labels: 'env: "a b"', names: 'invalid label "env: a b"' },
    { case: 'a value longer than 63 characters', labels: `env: ${'a'.repeat(64)}`, names: 'clusters.entries.prod' },
    { case: 'a prefix that is not a DNS subdomain', labels: 'Example.COM/env: prod', names: 'clusters.entries.prod' },
    { case: 'a number as value', labels: 'replicas: 3', names: 'clusters.entries.prod' },
  ])('rejects a file label with $case, naming the entry', ({ labels, names }) => {
    const file = configFile(
      'bad-labels.yaml',
      `clusters:\n  entries:\n    prod:\n      kubeconfig: /k\n      labels: { ${labels} }\n`,
    );
    const err = errorOf({ KUBE_WORKFLOWS_CONFIG: file });
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toContain(names);
  });

  it.each<{ text: string; problem: string }>([
    { text: 'env=prod,region', problem: 'expected key=value pairs' },
    { text: '=prod', problem: 'expected key=value pairs' },
    { text: 'env=prod,env=dev', problem: 'label "env" is given twice' },
    { text: 'env=a,b', problem: 'expected key=value pairs' },
    { text: 'env=a b', problem: 'invalid label "env=a b"' },
    { text: 'a/b/c=x', problem: 'invalid label "a/b/c=x"' },
  ])('rejects KUBE_WORKFLOWS_CLUSTER_LABELS=$text', ({ text, problem }) => {
    expect(parseLabelList(text)).toContain(problem);
    const err = errorOf({ KUBECONFIG, KUBE_WORKFLOWS_CLUSTER_LABELS: text });
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toContain('KUBE_WORKFLOWS_CLUSTER_LABELS');
    expect((err as ConfigError).message).toContain(problem);
  });

  it('reads an empty KUBE_WORKFLOWS_CLUSTER_LABELS as no labels', () => {
    expect(parseLabelList('')).toEqual({});
    expect(
      loadWorkerConfig({ KUBECONFIG, KUBE_WORKFLOWS_CLUSTER_LABELS: '' }).clusters.entries['default']?.labels,
    ).toEqual({});
  });
});
