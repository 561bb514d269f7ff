/**
 * Kubeconfig and in-cluster credentials read without client-node (src/kube/kubeconfig.ts): files relative to the
 * kubeconfig, inline data, tokens and token files, basic auth, exec plugins (run once, cached until expiry), errors
 * that name what is missing, and client-node for legacy auth providers. Real files and a real exec plugin script.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadInCluster, loadKubeconfigFile } from '../../src/kube/kubeconfig.js';

const dir = mkdtempSync(join(tmpdir(), 'kwf-kubeconfig-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

writeFileSync(join(dir, 'ca.crt'), 'CA-PEM');
writeFileSync(join(dir, 'client.crt'), 'CERT-PEM');
writeFileSync(join(dir, 'client.key'), 'KEY-PEM');
writeFileSync(join(dir, 'token'), 'file-token-1\n');
const b64 = (s: string): string => Buffer.from(s).toString('base64');

/** An exec plugin: counts its runs in a file, echoes KUBERNETES_EXEC_INFO's apiVersion and an env var. */
const plugin = join(dir, 'plugin.sh');
writeFileSync(
  plugin,
  [
    '#!/bin/sh',
    `echo run >> "${join(dir, 'runs')}"`,
    'api=$(printf "%s" "$KUBERNETES_EXEC_INFO" | sed -n \'s/.*"apiVersion":"\\([^"]*\\)".*/\\1/p\')',
    'printf \'{"apiVersion":"%s","kind":"ExecCredential","status":{"token":"exec-%s","expirationTimestamp":"%s"}}\' "$api" "$PLUGIN_TAG" "$EXPIRES"',
    '',
  ].join('\n'),
);
chmodSync(plugin, 0o755);

const kubeconfig = join(dir, 'kubeconfig.yaml');
writeFileSync(
  kubeconfig,
  `apiVersion: v1
kind: Config
current-context: files
clusters:
  - name: c-files
    cluster: { server: 'https://10.0.0.1:6443', certificate-authority: ca.crt, tls-server-name: api.internal }
  - name: c-data
    cluster: { server: 'https://10.0.0.2:6443', certificate-authority-data: ${b64('CA-DATA')} }
  - name: c-insecure
    cluster: { server: 'https://10.0.0.3:6443', insecure-skip-tls-verify: true }
  - name: c-noserver
    cluster: {}
users:
  - name: u-files
    user: { client-certificate: client.crt, client-key: ${join(dir, 'client.key')} }
  - name: u-data
    user: { client-certificate-data: ${b64('CERT-DATA')}, client-key-data: ${b64('KEY-DATA')} }
  - name: u-token
    user: { token: static-token }
  - name: u-tokenfile
    user: { tokenFile: token }
  - name: u-basic
    user: { username: admin, password: s3cret }
  - name: u-exec
    user:
      exec:
        apiVersion: client.authentication.k8s.io/v1beta1
        command: ${plugin}
        args: []
        env: [{ name: PLUGIN_TAG, value: tagged }, { name: EXPIRES, value: '2999-01-01T00:00:00Z' }]
  - name: u-exec-expired
    user:
      exec:
        command: ${plugin}
        env: [{ name: PLUGIN_TAG, value: short }, { name: EXPIRES, value: '2000-01-01T00:00:00Z' }]
  - name: u-legacy
    user: { auth-provider: { name: oidc, config: { id-token: legacy-id-token, client-id: x, idp-issuer-url: 'https://idp' } } }
contexts:
  - { name: files, context: { cluster: c-files, user: u-files } }
  - { name: data, context: { cluster: c-data, user: u-data } }
  - { name: token, context: { cluster: c-insecure, user: u-token } }
  - { name: tokenfile, context: { cluster: c-insecure, user: u-tokenfile } }
  - { name: basic, context: { cluster: c-insecure, user: u-basic } }
  - { name: exec, context: { cluster: c-insecure, user: u-exec } }
  - { name: exec-expired, context: { cluster: c-insecure, user: u-exec-expired } }
  - { name: legacy, context: { cluster: c-insecure, user: u-legacy } }
  - { name: noserver, context: { cluster: c-noserver, user: u-token } }
`,
);

async function optionsOf(context?: string): Promise<https.RequestOptions & { server?: string | undefined }> {
  const kc = await loadKubeconfigFile(kubeconfig, context);
  const opts: https.RequestOptions = {};
  await kc.applyToHTTPSOptions(opts);
  return { ...opts, server: kc.getCurrentCluster()?.server };
}
const text = (b: unknown): string => (Buffer.isBuffer(b) ? b.toString() : String(b));

describe('loadKubeconfigFile', () => {
  it('the current context: CA and client certificate files relative to the kubeconfig, TLS server name', async () => {
    const o = await optionsOf();
    expect(o.server).toBe('https://10.0.0.1:6443');
    expect([text(o.ca), text(o.cert), text(o.key), o.servername]).toEqual([
      'CA-PEM',
      'CERT-PEM',
      'KEY-PEM',
      'api.internal',
    ]);
    expect(o.rejectUnauthorized).toBeUndefined();
    expect(o.headers).toEqual({});
  });

  it('inline base64 data', async () => {
    const o = await optionsOf('data');
    expect([text(o.ca), text(o.cert), text(o.key)]).toEqual(['CA-DATA', 'CERT-DATA', 'KEY-DATA']);
  });

  it('a token, insecure-skip-tls-verify', async () => {
    const o = await optionsOf('token');
    expect(o.headers).toEqual({ Authorization: 'Bearer static-token' });
    expect(o.rejectUnauthorized).toBe(false);
  });

  it('a token file is read again at each refresh (bound tokens rotate)', async () => {
    const kc = await loadKubeconfigFile(kubeconfig, 'tokenfile');
    const first: https.RequestOptions = {};
    await kc.applyToHTTPSOptions(first);
    writeFileSync(join(dir, 'token'), 'file-token-2\n');
    const second: https.RequestOptions = {};
    await kc.applyToHTTPSOptions(second);
    expect([first.headers, second.headers]).toEqual([
      { Authorization: 'Bearer file-token-1' },
      { Authorization: 'Bearer file-token-2' },
    ]);
  });

  it('basic auth', async () => {
    expect((await optionsOf('basic')).headers).toEqual({ Authorization: `Basic ${b64('admin:s3cret')}` });
  });

  it('an exec plugin runs with its env and ExecCredential info, once while its credential is valid', async () => {
    rmSync(join(dir, 'runs'), { force: true });
    const kc = await loadKubeconfigFile(kubeconfig, 'exec');
    for (let i = 0; i < 3; i++) {
      const o: https.RequestOptions = {};
      await kc.applyToHTTPSOptions(o);
      expect(o.headers).toEqual({ Authorization: 'Bearer exec-tagged' });
    }
    expect(readFileSync(join(dir, 'runs'), 'utf8').trim().split('\n')).toHaveLength(1);
  });

  it('an exec credential that has expired is asked for again', async () => {
    rmSync(join(dir, 'runs'), { force: true });
    const kc = await loadKubeconfigFile(kubeconfig, 'exec-expired');
    await kc.applyToHTTPSOptions({});
    await kc.applyToHTTPSOptions({});
    expect(readFileSync(join(dir, 'runs'), 'utf8').trim().split('\n')).toHaveLength(2);
  });

  it('errors name the file and what is missing', async () => {
    await expect(loadKubeconfigFile(kubeconfig, 'nope')).rejects.toThrow(
      `kubeconfig ${kubeconfig} has no context "nope"`,
    );
    await expect(loadKubeconfigFile(kubeconfig, 'noserver')).rejects.toThrow(
      'context "noserver" names cluster "c-noserver", which has no server',
    );
  });

  it('a legacy auth-provider user is served by client-node', async () => {
    // client-node refuses a file with any cluster lacking a server: a file of its own
    const legacy = join(dir, 'legacy.yaml');
    writeFileSync(
      legacy,
      readFileSync(kubeconfig, 'utf8')
        .replace('  - name: c-noserver\n    cluster: {}\n', '')
        .replace(/^ {2}- \{ name: noserver.*\n/m, ''),
    );
    const kc = await loadKubeconfigFile(legacy, 'legacy');
    expect(kc.constructor.name).toBe('KubeConfig');
    expect([kc.getCurrentContext(), kc.getCurrentCluster()?.server]).toEqual(['legacy', 'https://10.0.0.3:6443']);
  });
});

describe('loadInCluster', () => {
  it("reads the service account's CA and token under KUBERNETES_SERVICE_HOST/PORT", async () => {
    const sa = mkdtempSync(join(dir, 'sa-'));
    writeFileSync(join(sa, 'ca.crt'), 'SA-CA');
    writeFileSync(join(sa, 'token'), 'sa-token');
    const saved = { host: process.env.KUBERNETES_SERVICE_HOST, port: process.env.KUBERNETES_SERVICE_PORT };
    process.env.KUBERNETES_SERVICE_HOST = 'fd00::1';
    process.env.KUBERNETES_SERVICE_PORT = '443';
    try {
      const kc = loadInCluster(sa);
      const o: https.RequestOptions = {};
      await kc.applyToHTTPSOptions(o);
      expect(kc.getCurrentCluster()?.server).toBe('https://[fd00::1]:443');
      expect([text(o.ca), o.headers]).toEqual(['SA-CA', { Authorization: 'Bearer sa-token' }]);
    } finally {
      for (const [k, v] of [
        ['KUBERNETES_SERVICE_HOST', saved.host],
        ['KUBERNETES_SERVICE_PORT', saved.port],
      ] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
    delete process.env.KUBERNETES_SERVICE_HOST;
    expect(() => loadInCluster(sa)).toThrow('KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set');
  });
});
