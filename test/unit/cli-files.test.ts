import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, describe, it, expect } from 'vitest';
import { loadManifestSources } from '../../src/cli/files.js';

const root = mkdtempSync(join(tmpdir(), 'kube-workflows-files-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const DEPLOYMENT = 'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n';
const SERVICE = 'apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n';
const CONFIGMAP_JSON = '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cfg"}}';

function file(path: string, text: string): string {
  const full = join(root, path);
  writeFileSync(full, text);
  return full;
}

function folder(path: string): string {
  const full = join(root, path);
  mkdirSync(full, { recursive: true });
  return full;
}

/** A stdin that must not be read. */
function untouchedStdin(): Readable {
  return Readable.from(['this is not a manifest']);
}

describe('loadManifestSources', () => {
  it('reads one file, named by its path', async () => {
    const path = file('app.yaml', DEPLOYMENT);
    expect(await loadManifestSources([path], untouchedStdin())).toEqual([{ name: path, text: DEPLOYMENT }]);
  });

  it('reads a file whatever its extension when it is named directly', async () => {
    const path = file('manifest.txt', SERVICE);
    expect(await loadManifestSources([path], untouchedStdin())).toEqual([{ name: path, text: SERVICE }]);
  });

  it('reads the .yaml, .yml and .json files of a folder in name order', async () => {
    const dir = folder('mixed');
    writeFileSync(join(dir, 'b-service.yml'), SERVICE);
    writeFileSync(join(dir, 'c-config.json'), CONFIGMAP_JSON);
    writeFileSync(join(dir, 'a-deployment.yaml'), DEPLOYMENT);
    expect(await loadManifestSources([dir], untouchedStdin())).toEqual([
      { name: join(dir, 'a-deployment.yaml'), text: DEPLOYMENT },
      { name: join(dir, 'b-service.yml'), text: SERVICE },
      { name: join(dir, 'c-config.json'), text: CONFIGMAP_JSON },
    ]);
  });

  it('skips files of a folder that are not .yaml, .yml or .json', async () => {
    const dir = folder('with-others');
    writeFileSync(join(dir, 'app.yaml'), DEPLOYMENT);
    writeFileSync(join(dir, 'README.md'), '# notes');
    writeFileSync(join(dir, 'kustomization.yaml.bak'), 'old');
    writeFileSync(join(dir, 'script.sh'), 'echo');
    const names = (await loadManifestSources([dir], untouchedStdin())).map((s) => s.name);
    expect(names).toEqual([join(dir, 'app.yaml')]);
  });

  it('accepts upper-case extensions in a folder', async () => {
    const dir = folder('upper');
    writeFileSync(join(dir, 'APP.YAML'), DEPLOYMENT);
    expect((await loadManifestSources([dir], untouchedStdin())).map((s) => s.name)).toEqual([join(dir, 'APP.YAML')]);
  });

  it('does not descend into sub-folders', async () => {
    const dir = folder('nested');
    writeFileSync(join(dir, 'top.yaml'), DEPLOYMENT);
    mkdirSync(join(dir, 'sub'));
    writeFileSync(join(dir, 'sub', 'inner.yaml'), SERVICE);
    expect((await loadManifestSources([dir], untouchedStdin())).map((s) => s.name)).toEqual([join(dir, 'top.yaml')]);
  });

  it('reads "-" from the given stdin, named <stdin>', async () => {
    const stdin = Readable.from([DEPLOYMENT, '---\n', SERVICE]);
    expect(await loadManifestSources(['-'], stdin)).toEqual([
      { name: '<stdin>', text: `${DEPLOYMENT}---\n${SERVICE}` },
    ]);
  });

  it('keeps the order of the paths it was given, mixing files, folders and stdin', async () => {
    const dir = folder('ordered');
    writeFileSync(join(dir, 'svc.yaml'), SERVICE);
    const single = file('single.json', CONFIGMAP_JSON);
    const sources = await loadManifestSources([single, '-', dir], Readable.from([DEPLOYMENT]));
    expect(sources.map((s) => s.name)).toEqual([single, '<stdin>', join(dir, 'svc.yaml')]);
  });

  it('returns nothing for no paths', async () => {
    expect(await loadManifestSources([], untouchedStdin())).toEqual([]);
  });

  it('fails naming a path that does not exist', async () => {
    const missing = join(root, 'nope', 'app.yaml');
    await expect(loadManifestSources([missing], untouchedStdin())).rejects.toThrow(
      `-f ${missing}: no such file or folder`,
    );
  });

  it('fails on a missing path even after paths that exist', async () => {
    const ok = file('ok.yaml', DEPLOYMENT);
    const missing = join(root, 'missing.yaml');
    await expect(loadManifestSources([ok, missing], untouchedStdin())).rejects.toThrow(missing);
  });

  it('fails naming a folder with no manifest files', async () => {
    const dir = folder('empty');
    await expect(loadManifestSources([dir], untouchedStdin())).rejects.toThrow(
      `-f ${dir}: the folder holds no .yaml, .yml or .json file`,
    );
  });

  it('fails on a folder holding only other files', async () => {
    const dir = folder('docs-only');
    writeFileSync(join(dir, 'README.md'), '# notes');
    await expect(loadManifestSources([dir], untouchedStdin())).rejects.toThrow(`-f ${dir}: the folder holds no`);
  });
});

describe('loadManifestSources: globs and recursion (kubectl habits)', () => {
  const tree = join(root, 'globs');
  mkdirSync(join(tree, 'base', 'deep'), { recursive: true });
  mkdirSync(join(tree, 'overlay'), { recursive: true });
  writeFileSync(join(tree, 'base', 'a.yaml'), DEPLOYMENT);
  writeFileSync(join(tree, 'base', 'b.yml'), SERVICE);
  writeFileSync(join(tree, 'base', 'notes.md'), '# not a manifest');
  writeFileSync(join(tree, 'base', 'deep', 'c.json'), CONFIGMAP_JSON);
  writeFileSync(join(tree, 'overlay', 'a.yaml'), DEPLOYMENT);
  writeFileSync(join(tree, 'base', '.hidden.yaml'), SERVICE);

  const names = async (paths: string[], recursive = false): Promise<string[]> =>
    (await loadManifestSources(paths, untouchedStdin(), { recursive })).map((s) => s.name.slice(tree.length + 1));

  it('expands * within one folder, sorted, manifests only, hidden files skipped', async () => {
    expect(await names([join(tree, 'base', '*')])).toEqual(['base/a.yaml', 'base/b.yml']);
  });

  it('expands ** across folders and ? for one character', async () => {
    expect(await names([join(tree, '**', '*.yaml')])).toEqual(['base/a.yaml', 'overlay/a.yaml']);
    expect(await names([join(tree, '**', '?.json')])).toEqual(['base/deep/c.json']);
    expect(await names([join(tree, '*', '[ab].y*ml')])).toEqual(['base/a.yaml', 'base/b.yml', 'overlay/a.yaml']);
  });

  it('descends into sub-folders only with recursive (-R)', async () => {
    // a folder argument reads every manifest file in it, dot-files too (as before and as kubectl does)
    expect(await names([join(tree, 'base')])).toEqual(['base/.hidden.yaml', 'base/a.yaml', 'base/b.yml']);
    expect(await names([join(tree, 'base')], true)).toEqual([
      'base/.hidden.yaml',
      'base/a.yaml',
      'base/b.yml',
      'base/deep/c.json',
    ]);
  });

  it('says so when a pattern matches no manifest', async () => {
    await expect(loadManifestSources([join(tree, '*.txt')], untouchedStdin())).rejects.toThrow(
      /the pattern matches no \.yaml, \.yml or \.json file/,
    );
  });
});
