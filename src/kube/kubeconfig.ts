/**
 * Kubeconfig and in-cluster credentials without `@kubernetes/client-node` in the common cases. That library's
 * `KubeConfig` module imports every generated API model: about 70 MB of resident memory and a second of start-up
 * in every worker and CLI process, for a YAML file with a server, a CA and a certificate or token. This module reads
 * those itself: client certificates and keys (files or inline data), CAs, `insecure-skip-tls-verify`,
 * `tls-server-name`, bearer tokens and token files (re-read, as bound service-account tokens rotate), basic auth, and
 * exec credential plugins (`client.authentication.k8s.io` ExecCredential, cached until their expiry). Users of the
 * legacy `auth-provider` plugins (oidc, gcp, azure) or a `proxy-url` get client-node's `KubeConfig`, loaded only then.
 *
 * The result is a {@link KubeCredentialSource}: what {@link KubeTransport} needs (the server, TLS options, auth
 * headers), which client-node's `KubeConfig` also satisfies.
 * @module
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type https from 'node:https';
import { dirname, resolve } from 'node:path';
import { promisify } from 'node:util';
import yaml from 'js-yaml';

const run = promisify(execFile);

/** What a transport needs from credentials. client-node's `KubeConfig` has the same shape. */
export interface KubeCredentialSource {
  /** The cluster of the current context (`server` without trailing slash added or removed). */
  getCurrentCluster(): { name: string; server: string } | null;
  /** The current context's name (for messages). */
  getCurrentContext(): string;
  /** Sets TLS options and `headers` (Authorization) on `opts`; called again to refresh expiring tokens. */
  applyToHTTPSOptions(opts: https.RequestOptions): Promise<void>;
}

/** Where the in-cluster service account's files are. */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

interface NamedCluster {
  name: string;
  cluster?: {
    server?: string;
    'certificate-authority'?: string;
    'certificate-authority-data'?: string;
    'insecure-skip-tls-verify'?: boolean;
    'tls-server-name'?: string;
    'proxy-url'?: string;
  };
}
interface ExecConfig {
  command: string;
  args?: string[] | null;
  env?: { name: string; value: string }[] | null;
  apiVersion?: string;
}
interface NamedUser {
  name: string;
  user?: {
    'client-certificate'?: string;
    'client-certificate-data'?: string;
    'client-key'?: string;
    'client-key-data'?: string;
    token?: string;
    tokenFile?: string;
    username?: string;
    password?: string;
    exec?: ExecConfig | null;
    'auth-provider'?: unknown;
  };
}
interface NamedContext {
  name: string;
  context?: { cluster?: string; user?: string; namespace?: string };
}
interface KubeconfigFile {
  clusters?: NamedCluster[] | null;
  users?: NamedUser[] | null;
  contexts?: NamedContext[] | null;
  'current-context'?: string;
}

/** An ExecCredential's answer, cached until it expires. */
interface ExecResult {
  token?: string;
  cert?: string;
  key?: string;
  /** ms since the epoch; undefined: valid for the process' life. */
  expiresAt?: number;
}

/** A plain kubeconfig context (or the in-cluster account) read without client-node. */
class LiteCredentials implements KubeCredentialSource {
  private exec: ExecResult | undefined;

  constructor(
    private readonly context: string,
    private readonly cluster: { name: string; server: string },
    private readonly tls: {
      ca?: Buffer | undefined;
      cert?: Buffer | undefined;
      key?: Buffer | undefined;
      skipVerify: boolean;
      servername?: string;
    },
    private readonly auth: {
      token?: string;
      tokenFile?: string;
      basic?: { username: string; password: string };
      exec?: ExecConfig;
    },
  ) {}

  getCurrentCluster(): { name: string; server: string } {
    return this.cluster;
  }

  getCurrentContext(): string {
    return this.context;
  }

  async applyToHTTPSOptions(opts: https.RequestOptions): Promise<void> {
    if (this.tls.ca) opts.ca = this.tls.ca;
    if (this.tls.skipVerify) opts.rejectUnauthorized = false;
    if (this.tls.servername) opts.servername = this.tls.servername;
    let { cert, key } = this.tls;
    const headers: Record<string, string> = {};
    if (this.auth.exec) {
      const got = await this.execCredential(this.auth.exec);
      if (got.token) headers.Authorization = `Bearer ${got.token}`;
      if (got.cert && got.key) [cert, key] = [Buffer.from(got.cert), Buffer.from(got.key)];
    } else if (this.auth.tokenFile) {
      headers.Authorization = `Bearer ${readFileSync(this.auth.tokenFile, 'utf8').trim()}`;
    } else if (this.auth.token) {
      headers.Authorization = `Bearer ${this.auth.token}`;
    } else if (this.auth.basic) {
      const { username, password } = this.auth.basic;
      headers.Authorization = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
    }
    if (cert) opts.cert = cert;
    if (key) opts.key = key;
    opts.headers = { ...(opts.headers as Record<string, string> | undefined), ...headers };
  }

  /** Runs the exec plugin when there is no cached answer or it expires within a minute. */
  private async execCredential(exec: ExecConfig): Promise<ExecResult> {
    if (this.exec && (this.exec.expiresAt === undefined || this.exec.expiresAt - Date.now() > 60_000)) {
      return this.exec;
    }
    const apiVersion = exec.apiVersion ?? 'client.authentication.k8s.io/v1';
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      ...Object.fromEntries((exec.env ?? []).map((e) => [e.name, e.value])),
      KUBERNETES_EXEC_INFO: JSON.stringify({ apiVersion, kind: 'ExecCredential', spec: { interactive: false } }),
    };
    let stdout: string;
    try {
      ({ stdout } = await run(exec.command, exec.args ?? [], { env, maxBuffer: 4 * 1024 * 1024, timeout: 60_000 }));
    } catch (err) {
      const e = err as { message: string; stderr?: string };
      throw new Error(
        `kubeconfig context "${this.context}": exec credential plugin "${exec.command}" failed: ` +
          `${(e.stderr ?? '').trim() || e.message}`,
      );
    }
    let status: {
      token?: string;
      clientCertificateData?: string;
      clientKeyData?: string;
      expirationTimestamp?: string;
    };
    try {
      status = (JSON.parse(stdout) as { status?: typeof status }).status ?? {};
    } catch {
      throw new Error(
        `kubeconfig context "${this.context}": exec credential plugin "${exec.command}" printed no ExecCredential JSON`,
      );
    }
    if (!status.token && !(status.clientCertificateData && status.clientKeyData)) {
      throw new Error(
        `kubeconfig context "${this.context}": exec credential plugin "${exec.command}" returned neither a token ` +
          'nor a client certificate and key',
      );
    }
    const expiresAt = status.expirationTimestamp ? Date.parse(status.expirationTimestamp) : undefined;
    this.exec = {
      ...(status.token ? { token: status.token } : {}),
      ...(status.clientCertificateData ? { cert: status.clientCertificateData } : {}),
      ...(status.clientKeyData ? { key: status.clientKeyData } : {}),
      ...(expiresAt !== undefined && Number.isFinite(expiresAt) ? { expiresAt } : {}),
    };
    return this.exec;
  }
}

/** Reads a file named by a kubeconfig (relative to the kubeconfig's folder) or decodes inline base64 data. */
function material(base: string, file: string | undefined, data: string | undefined): Buffer | undefined {
  if (data) return Buffer.from(data, 'base64');
  if (file) return readFileSync(resolve(base, file)); // an absolute path stays as it is
  return undefined;
}

/**
 * Loads the credentials of `context` (default: the file's current context) from the kubeconfig `file`. Throws
 * naming the file and what is missing (context, cluster, user, server). Contexts whose user has a legacy
 * `auth-provider`, or whose cluster has a `proxy-url`, are loaded with client-node's `KubeConfig` (imported only
 * then).
 */
export async function loadKubeconfigFile(file: string, context?: string): Promise<KubeCredentialSource> {
  const doc = (yaml.load(readFileSync(file, 'utf8')) ?? {}) as KubeconfigFile;
  const name = context ?? doc['current-context'];
  if (!name) throw new Error(`kubeconfig ${file} names no current-context, and none was given`);
  const ctx = (doc.contexts ?? []).find((c) => c.name === name);
  if (!ctx) throw new Error(`kubeconfig ${file} has no context "${name}"`);
  const clusterName = ctx.context?.cluster;
  const cluster = (doc.clusters ?? []).find((c) => c.name === clusterName)?.cluster;
  const user = (doc.users ?? []).find((u) => u.name === ctx.context?.user)?.user ?? {};
  if (user['auth-provider'] || cluster?.['proxy-url']) return loadWithClientNode(file, name);
  if (!cluster?.server) {
    throw new Error(`kubeconfig ${file}: context "${name}" names cluster "${clusterName ?? ''}", which has no server`);
  }
  const base = dirname(resolve(file));
  return new LiteCredentials(
    name,
    { name: clusterName ?? name, server: cluster.server },
    {
      ca: material(base, cluster['certificate-authority'], cluster['certificate-authority-data']),
      cert: material(base, user['client-certificate'], user['client-certificate-data']),
      key: material(base, user['client-key'], user['client-key-data']),
      skipVerify: cluster['insecure-skip-tls-verify'] === true,
      ...(cluster['tls-server-name'] ? { servername: cluster['tls-server-name'] } : {}),
    },
    {
      ...(user.token ? { token: user.token } : {}),
      ...(user.tokenFile ? { tokenFile: resolve(base, user.tokenFile) } : {}),
      ...(user.username !== undefined && user.password !== undefined
        ? { basic: { username: user.username, password: user.password } }
        : {}),
      ...(user.exec ? { exec: user.exec } : {}),
    },
  );
}

/**
 * The pod's service account, as client-go's in-cluster config: `KUBERNETES_SERVICE_HOST` / `_PORT`, the mounted CA,
 * and the token file re-read at each refresh (bound tokens rotate). Throws when not running in a pod.
 */
export function loadInCluster(dir: string = SERVICE_ACCOUNT_DIR): KubeCredentialSource {
  const host = process.env.KUBERNETES_SERVICE_HOST;
  const port = process.env.KUBERNETES_SERVICE_PORT;
  if (!host || !port) {
    throw new Error(
      'in-cluster credentials: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set (not in a pod?)',
    );
  }
  const server = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
  return new LiteCredentials(
    'inCluster',
    { name: 'inCluster', server },
    { ca: readFileSync(resolve(dir, 'ca.crt')), skipVerify: false },
    { tokenFile: resolve(dir, 'token') },
  );
}

async function loadWithClientNode(file: string, context: string): Promise<KubeCredentialSource> {
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  kc.loadFromFile(file);
  kc.setCurrentContext(context);
  return kc;
}
