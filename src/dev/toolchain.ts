/**
 * Finds the local server binaries the dev stack runs (Temporal CLI, kwok/kwokctl, etcd, the Kubernetes control
 * plane, kubectl and Temporal's time-skipping test server), and builds them with `tools/build-toolchain.sh` when
 * they are missing.
 *
 * Every binary can be overridden by an environment variable (`KUBE_WORKFLOWS_*_BINARY`); otherwise it is looked
 * up in the cache the build script fills: `$KUBE_WORKFLOWS_CACHE/toolchain/<piece>-<version>/` (default cache root
 * `~/.cache/kube-workflows`), with the versions pinned in `tools/versions.env`.
 * @module
 */

import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** The pinned versions read from `tools/versions.env`. */
export interface ToolchainVersions {
  /** Temporal CLI version, without a leading `v` (e.g. `1.5.1`). */
  readonly temporalCli: string;
  /** Kubernetes version, with a leading `v` (e.g. `v1.34.4`). */
  readonly kube: string;
  /** etcd version, with a leading `v` (e.g. `v3.6.13`). */
  readonly etcd: string;
  /** kwok version, with a leading `v` (e.g. `v0.8.0`). */
  readonly kwok: string;
  /** Temporal Java test server version (e.g. `1.38.0`). */
  readonly temporalTestServer: string;
  /** metrics-server version, with a leading `v` (e.g. `v0.8.0`). */
  readonly metricsServer: string;
}

/** Absolute paths of every binary the local stack and the tests use. */
export interface Toolchain {
  /** `temporal` CLI (dev server + Web UI). */
  readonly temporal: string;
  /** `kwokctl`: creates and deletes the simulated cluster. */
  readonly kwokctl: string;
  /** `kwok`: the controller that simulates nodes and pods. */
  readonly kwok: string;
  /** `etcd`. */
  readonly etcd: string;
  /** `kube-apiserver`. */
  readonly kubeApiserver: string;
  /** `kube-controller-manager`. */
  readonly kubeControllerManager: string;
  /** `kube-scheduler`. */
  readonly kubeScheduler: string;
  /** `kubectl` matching the control plane version. */
  readonly kubectl: string;
  /** Wrapper script that starts Temporal's time-skipping test server (`<port> --enable-time-skipping`). */
  readonly temporalTestServer: string;
  /** `metrics-server`, run by kwokctl when a stack asks for it (its manifests are in `manifests/` beside it). */
  readonly metricsServer: string;
  /** Pinned versions the cache paths were derived from. */
  readonly versions: ToolchainVersions;
  /** The package root (the folder holding `package.json` and `tools/`). */
  readonly projectRoot: string;
  /** The cache root (`KUBE_WORKFLOWS_CACHE` or `~/.cache/kube-workflows`). */
  readonly cacheRoot: string;
}

/** Keys of {@link Toolchain} that name a binary. */
export type ToolchainBinary =
  | 'temporal'
  | 'kwokctl'
  | 'kwok'
  | 'etcd'
  | 'kubeApiserver'
  | 'kubeControllerManager'
  | 'kubeScheduler'
  | 'kubectl'
  | 'temporalTestServer'
  | 'metricsServer';

/** The environment variable that overrides each binary. */
export const TOOLCHAIN_ENV: Readonly<Record<ToolchainBinary, string>> = {
  temporal: 'KUBE_WORKFLOWS_TEMPORAL_BINARY',
  kwokctl: 'KUBE_WORKFLOWS_KWOKCTL_BINARY',
  kwok: 'KUBE_WORKFLOWS_KWOK_BINARY',
  etcd: 'KUBE_WORKFLOWS_ETCD_BINARY',
  kubeApiserver: 'KUBE_WORKFLOWS_KUBE_APISERVER_BINARY',
  kubeControllerManager: 'KUBE_WORKFLOWS_KUBE_CONTROLLER_MANAGER_BINARY',
  kubeScheduler: 'KUBE_WORKFLOWS_KUBE_SCHEDULER_BINARY',
  kubectl: 'KUBE_WORKFLOWS_KUBECTL_BINARY',
  temporalTestServer: 'KUBE_WORKFLOWS_TEST_SERVER_BINARY',
  metricsServer: 'KUBE_WORKFLOWS_METRICS_SERVER_BINARY',
};

/** The binaries the local stack needs (everything but the time-skipping test server). */
export const STACK_BINARIES: readonly ToolchainBinary[] = [
  'temporal',
  'kwokctl',
  'kwok',
  'etcd',
  'kubeApiserver',
  'kubeControllerManager',
  'kubeScheduler',
  'kubectl',
];

/** All binary keys, in a stable order. */
export const TOOLCHAIN_BINARIES: readonly ToolchainBinary[] = Object.keys(TOOLCHAIN_ENV) as ToolchainBinary[];

/** The piece of `tools/build-toolchain.sh` that builds each binary. */
const BUILD_PIECE: Record<ToolchainBinary, string> = {
  temporal: 'temporal',
  kwokctl: 'kwok',
  kwok: 'kwok',
  etcd: 'etcd',
  kubeApiserver: 'kube',
  kubeControllerManager: 'kube',
  kubeScheduler: 'kube',
  kubectl: 'kube',
  temporalTestServer: 'test-server',
  metricsServer: 'metrics-server',
};

/** A binary that is not there (or not executable). */
export interface MissingBinary {
  /** Which binary. */
  readonly binary: ToolchainBinary;
  /** The path that was checked. */
  readonly path: string;
  /** True when the path came from the override variable (building will not help then). */
  readonly overridden: boolean;
  /** The override variable's name. */
  readonly envVar: string;
}

/**
 * The package root: the nearest folder above this module holding a `package.json` (works from `src/dev/*.ts`
 * and from `dist/dev/*.js`, and from `node_modules/kube-workflows/dist/dev`).
 */
export function findProjectRoot(start: string = dirname(fileURLToPath(import.meta.url))): string {
  let dir = resolve(start);
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'tools'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) {
      throw new Error(
        `kube-workflows: cannot find the package root (a folder with package.json and tools/) above ${start}`,
      );
    }
    dir = parent;
  }
}

/** The cache root: `KUBE_WORKFLOWS_CACHE`, else `~/.cache/kube-workflows`. */
export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env['KUBE_WORKFLOWS_CACHE'];
  return fromEnv ? resolve(fromEnv) : join(homedir(), '.cache', 'kube-workflows');
}

/** Parses a `KEY=value` file (comments and blank lines ignored, optional quotes stripped). */
export function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!m?.[1]) continue;
    let value = (m[2] ?? '').trim();
    if ((value.startsWith('"') && value.endsWith('"')) || (value.startsWith("'") && value.endsWith("'"))) {
      value = value.slice(1, -1);
    }
    out[m[1]] = value;
  }
  return out;
}

/** Reads the pinned versions from `<projectRoot>/tools/versions.env`. */
export function readVersions(projectRoot: string = findProjectRoot()): ToolchainVersions {
  const file = join(projectRoot, 'tools', 'versions.env');
  const vars = parseEnvFile(readFileSync(file, 'utf8'));
  const get = (key: string): string => {
    const v = vars[key];
    if (!v) throw new Error(`kube-workflows: ${file} does not set ${key}`);
    return v;
  };
  return {
    temporalCli: get('TEMPORAL_CLI_VERSION'),
    kube: get('KUBE_VERSION'),
    etcd: get('ETCD_VERSION'),
    kwok: get('KWOK_VERSION'),
    temporalTestServer: get('TEMPORAL_TEST_SERVER_VERSION'),
    metricsServer: get('METRICS_SERVER_VERSION'),
  };
}

/**
 * Resolves the absolute path of every binary: the `KUBE_WORKFLOWS_*_BINARY` override when set, else the cache
 * layout filled by `tools/build-toolchain.sh`. Does not check that the files exist (see {@link missingBinaries}).
 */
export function resolveToolchain(env: NodeJS.ProcessEnv = process.env): Toolchain {
  const projectRoot = findProjectRoot();
  const versions = readVersions(projectRoot);
  const root = cacheRoot(env);
  const tc = join(root, 'toolchain');
  const kube = join(tc, `kube-${versions.kube}`);
  const kwok = join(tc, `kwok-${versions.kwok}`);
  const defaults: Record<ToolchainBinary, string> = {
    temporal: join(tc, `temporal-${versions.temporalCli}`, 'temporal'),
    kwokctl: join(kwok, 'kwokctl'),
    kwok: join(kwok, 'kwok'),
    etcd: join(tc, `etcd-${versions.etcd}`, 'etcd'),
    kubeApiserver: join(kube, 'kube-apiserver'),
    kubeControllerManager: join(kube, 'kube-controller-manager'),
    kubeScheduler: join(kube, 'kube-scheduler'),
    kubectl: join(kube, 'kubectl'),
    temporalTestServer: join(tc, `temporal-test-server-${versions.temporalTestServer}`, 'temporal-test-server'),
    metricsServer: join(tc, `metrics-server-${versions.metricsServer}`, 'metrics-server'),
  };
  const pick = (key: ToolchainBinary): string => {
    const override = env[TOOLCHAIN_ENV[key]];
    return override ? resolve(override) : defaults[key];
  };
  return {
    temporal: pick('temporal'),
    kwokctl: pick('kwokctl'),
    kwok: pick('kwok'),
    etcd: pick('etcd'),
    kubeApiserver: pick('kubeApiserver'),
    kubeControllerManager: pick('kubeControllerManager'),
    kubeScheduler: pick('kubeScheduler'),
    kubectl: pick('kubectl'),
    temporalTestServer: pick('temporalTestServer'),
    metricsServer: pick('metricsServer'),
    versions,
    projectRoot,
    cacheRoot: root,
  };
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The binaries of `toolchain` (or only those in `only`) that are missing or not executable. */
export function missingBinaries(
  toolchain: Toolchain,
  only: readonly ToolchainBinary[] = TOOLCHAIN_BINARIES,
  env: NodeJS.ProcessEnv = process.env,
): MissingBinary[] {
  return only
    .filter((key) => !isExecutable(toolchain[key]))
    .map((key) => ({
      binary: key,
      path: toolchain[key],
      overridden: Boolean(env[TOOLCHAIN_ENV[key]]),
      envVar: TOOLCHAIN_ENV[key],
    }));
}

function describeMissing(missing: readonly MissingBinary[]): string {
  return missing
    .map((m) =>
      m.overridden ? `${m.binary} (${m.envVar}=${m.path} is not an executable file)` : `${m.binary} (${m.path})`,
    )
    .join(', ');
}

/** Options of {@link ensureToolchain}. */
export interface EnsureToolchainOptions {
  /** Receives the build script's progress lines (its stderr) and a line when a build starts. */
  readonly onProgress?: (line: string) => void;
  /** Only these binaries are required (default: all). */
  readonly only?: readonly ToolchainBinary[];
  /** Environment to resolve overrides from and to run the build with (default `process.env`). */
  readonly env?: NodeJS.ProcessEnv;
}

/**
 * Resolves the toolchain and, when a binary is missing from the cache, runs `tools/build-toolchain.sh` (streaming
 * its progress lines to `onProgress`) and resolves again. Throws an Error naming every binary still missing, or
 * every overridden path that does not exist (building cannot fix those).
 */
export async function ensureToolchain(options: EnsureToolchainOptions = {}): Promise<Toolchain> {
  const env = options.env ?? process.env;
  const only = options.only ?? TOOLCHAIN_BINARIES;
  const first = resolveToolchain(env);
  const missing = missingBinaries(first, only, env);
  if (missing.length === 0) return first;
  const overridden = missing.filter((m) => m.overridden);
  if (overridden.length > 0) {
    throw new Error(`kube-workflows: missing binaries: ${describeMissing(overridden)}. Fix or unset the variables.`);
  }
  const script = join(first.projectRoot, 'tools', 'build-toolchain.sh');
  // Build only the pieces that provide what is missing (the script's piece names).
  const pieces = [...new Set(missing.map((m) => BUILD_PIECE[m.binary]))];
  options.onProgress?.(
    `[toolchain] missing ${missing.map((m) => m.binary).join(', ')}: running ${script} ${pieces.join(' ')}`,
  );
  const tail: string[] = [];
  const code = await new Promise<number | null>((resolvePromise, reject) => {
    const child = spawn('bash', [script, ...pieces], {
      cwd: first.projectRoot,
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    child.on('error', reject);
    createInterface({ input: child.stderr }).on('line', (line) => {
      tail.push(line);
      if (tail.length > 30) tail.shift();
      options.onProgress?.(line);
    });
    child.on('close', (c) => resolvePromise(c));
  });
  const second = resolveToolchain(env);
  const still = missingBinaries(second, only, env);
  if (code !== 0 || still.length > 0) {
    const what = still.length > 0 ? `missing binaries: ${describeMissing(still)}` : 'the build failed';
    throw new Error(
      `kube-workflows: ${what} (tools/build-toolchain.sh exited with ${String(code)}). Last output:\n${tail.join('\n')}`,
    );
  }
  return second;
}
