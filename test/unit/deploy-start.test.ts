/**
 * Large manifests reach the workflow as the objects the client parsed (`packedObjects`), not as YAML to parse
 * again: the workflow's first task and the worker get exactly the objects the client validated.
 */
import { describe, expect, it } from 'vitest';
import { COMPRESS_ABOVE_BYTES, prepareDeployStart } from '../../src/client/deploy-start.js';
import { packJson } from '../../src/domain/compression.js';
import { prepareObjects } from '../../src/domain/deploy-input.js';
import { DeployManifestsInput } from '../../src/schemas/deploy.js';

const context = { defaultCluster: 'local', payloadsEncrypted: false, allowPlaintextSecrets: false };

function configMaps(count: number, value: string): string {
  return Array.from(
    { length: count },
    (_, i) =>
      `apiVersion: v1\nkind: ConfigMap\nmetadata: { name: big-${i}, namespace: ns }\ndata: { on: yes, value: "${value}" }\n`,
  ).join('---\n');
}

describe('prepareDeployStart: large manifests', () => {
  it('sends them as packed objects that the workflow reads back unchanged, without parsing YAML', () => {
    const manifests = configMaps(40, 'x'.repeat(8_000));
    expect(manifests.length).toBeGreaterThan(COMPRESS_ABOVE_BYTES);
    const start = prepareDeployStart({ manifests, app: 'big' }, context);
    expect(start.input.manifests).toBeUndefined();
    expect(start.input.compressed).toBeUndefined();
    expect(typeof start.input.packedObjects).toBe('string');
    expect((start.input.packedObjects ?? '').length).toBeLessThan(manifests.length / 10);

    const fromText = prepareObjects(DeployManifestsInput.parse({ manifests, app: 'big' }), 'big');
    const fromPacked = prepareObjects(DeployManifestsInput.parse(start.input), 'big');
    expect(fromPacked).toEqual(fromText);
    expect(fromPacked.ok && fromPacked.objects).toHaveLength(40);
    // YAML's own reading of the text is kept (`on: yes` is a string in YAML 1.2, as the client read it)
    expect(fromPacked.ok && fromPacked.objects[0]?.data).toEqual({ on: 'yes', value: 'x'.repeat(8_000) });
  });

  it('keeps small manifests as text', () => {
    const start = prepareDeployStart({ manifests: configMaps(2, 'v') }, context);
    expect(start.input.manifests).toBeDefined();
    expect(start.input.packedObjects).toBeUndefined();
  });

  it('checks packed objects like inline ones, and names a field that cannot be unpacked', () => {
    const bad = prepareObjects(DeployManifestsInput.parse({ packedObjects: packJson([{ kind: 'ConfigMap' }]) }), 'a');
    expect(bad.ok).toBe(false);
    expect(!bad.ok && bad.problems.map((p) => p.path)).toContain('apiVersion');
    const garbage = prepareObjects(DeployManifestsInput.parse({ packedObjects: 'not-gzip' }), 'a');
    expect(!garbage.ok && garbage.problems[0]).toMatchObject({ path: 'packedObjects' });
    expect(DeployManifestsInput.safeParse({ packedObjects: 'x', manifests: 'y' }).success).toBe(false);
  });
});
