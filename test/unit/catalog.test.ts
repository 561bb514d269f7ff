import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { catalogWorkflowTypes, WORKFLOW_CATALOG, workflowJsonSchema } from '../../src/schemas/catalog.js';

const ajv = new Ajv2020({ strict: false, allErrors: true });
/** The compiled validator of a workflow's input schema (compiled once: ajv keeps schemas by $id). */
const compiled = (type: string) => {
  const schema = workflowJsonSchema(type, 'input');
  return ajv.getSchema(schema.$id as string) ?? ajv.compile(schema);
};

describe('workflow catalog', () => {
  it('lists the workflow types people start', () => {
    expect(catalogWorkflowTypes()).toEqual(
      expect.arrayContaining(['deployManifests', 'monitorHealth', 'scaleWorkload']),
    );
  });

  it.each(catalogWorkflowTypes())(
    '%s: the example is valid for the zod schema and the generated JSON Schema',
    (type) => {
      const entry = WORKFLOW_CATALOG[type];
      expect(entry).toBeDefined();
      expect(entry?.input.safeParse(entry.example).success).toBe(true);
      const validate = ajv.compile(workflowJsonSchema(type, 'input'));
      expect(validate(entry?.example), JSON.stringify(validate.errors)).toBe(true);
    },
  );

  it.each([
    ['deployManifests', { dryRun: 'yes' }],
    ['scaleWorkload', { replicas: 'three' }],
    ['monitorHealth', { targets: 'shop' }],
  ])('%s: a wrong field type is refused by the JSON Schema and by zod alike', (type, wrong) => {
    const entry = WORKFLOW_CATALOG[type];
    const bad = { ...(entry?.example as object), ...wrong };
    expect(compiled(type)(bad)).toBe(false);
    expect(entry?.input.safeParse(bad).success).toBe(false);
    expect(compiled(type)(42)).toBe(false);
  });

  it('describes the deploy input with its defaults and the report with its outcomes', () => {
    const input = workflowJsonSchema('deployManifests');
    expect(input).toMatchObject({
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      title: 'deployManifests input',
      properties: { timeoutSeconds: { type: 'integer', default: 300 }, dryRun: { type: 'boolean', default: false } },
    });
    const report = workflowJsonSchema('deployManifests', 'report') as {
      properties: { outcome: { enum: string[] } };
    };
    expect(report.properties.outcome.enum).toEqual(
      expect.arrayContaining(['succeeded', 'rolledBack', 'rollbackFailed']),
    );
  });

  it('names the known types for an unknown one, and says when there is no report', () => {
    expect(() => workflowJsonSchema('deploy')).toThrow(/unknown workflow type "deploy" \(known: .*deployManifests/);
    expect(() => workflowJsonSchema('monitorHealth', 'report')).toThrow(/runs until stopped/);
  });
});
