/**
 * The canary's pure decisions: replica counts for a weight (rounding up, at least one canary pod, at least one
 * stable pod below 100 %), the order of replica changes (growing side first), the step checks and the input schema,
 * the template forms, and the preflight: which labels the canary pods carry, and every refusal with its message.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  actualWeight,
  CANARY_LABEL,
  CANARY_OF_LABEL,
  canaryDeployment,
  canaryWorkflowId,
  checkSteps,
  describeStep,
  pauseMs,
  planCanary,
  podTemplateOf,
  promotedTemplate,
  replicaSplit,
  shiftPlan,
  type StableFacts,
} from '../../src/domain/canary.js';
import { parseStepsFlag } from '../../src/cli/canary.js';
import { CanaryRolloutInput, type CanaryStepInput } from '../../src/schemas/canary.js';

describe('replicaSplit', () => {
  it.each([
    // total, weight, canary, stable
    [4, 0, 0, 4],
    [4, 25, 1, 3],
    [4, 50, 2, 2],
    [4, 100, 4, 0],
    [10, 20, 2, 8],
    [10, 33, 4, 6], // ceil(3.3) = 4
    [10, 1, 1, 9], // at least one canary pod for any positive weight
    [3, 50, 2, 1], // ceil(1.5) = 2
    [1, 20, 1, 1], // one pod: the stable keeps one below 100 %, so the total is 2 (actual weight 50 %)
    [2, 99, 2, 1], // ceil(1.98) = 2, stable kept at 1
  ])('%i replicas at %i%% → %i canary, %i stable', (total, weight, canary, stable) => {
    expect(replicaSplit(total, weight)).toEqual({ canary, stable });
  });

  it('actualWeight is the canary share of all pods, rounded', () => {
    expect(actualWeight({ stable: 1, canary: 1 })).toBe(50);
    expect(actualWeight({ stable: 6, canary: 4 })).toBe(40);
    expect(actualWeight({ stable: 0, canary: 0 })).toBe(0);
  });
});

describe('shiftPlan', () => {
  it('scales the canary up before the stable down when the weight grows', () => {
    expect(shiftPlan({ stable: 4, canary: 0 }, { stable: 3, canary: 1 })).toEqual([
      { side: 'canary', replicas: 1 },
      { side: 'stable', replicas: 3 },
    ]);
  });

  it('scales the stable up before the canary down when the weight falls', () => {
    expect(shiftPlan({ stable: 2, canary: 2 }, { stable: 4, canary: 0 })).toEqual([
      { side: 'stable', replicas: 4 },
      { side: 'canary', replicas: 0 },
    ]);
  });

  it('leaves out a side that does not change, and is empty when nothing changes', () => {
    expect(shiftPlan({ stable: 1, canary: 0 }, { stable: 1, canary: 1 })).toEqual([{ side: 'canary', replicas: 1 }]);
    expect(shiftPlan({ stable: 3, canary: 1 }, { stable: 3, canary: 1 })).toEqual([]);
  });
});

const template = {
  metadata: { labels: { app: 'web', track: 'stable' } },
  spec: { containers: [{ name: 'app', image: 'web:2' }] },
};

describe('steps and input', () => {
  it('describes steps and parses pause durations', () => {
    const steps: CanaryStepInput[] = [{ setWeight: 20 }, { pause: { duration: '1m30s' } }, { pause: {} }];
    expect(steps.map(describeStep)).toEqual(['setWeight 20', 'pause 1m30s', 'pause (until promoted)']);
    expect(pauseMs({ pause: { duration: '1m30s' } })).toBe(90_000);
    expect(pauseMs({ pause: { duration: 5 } })).toBe(5_000);
    expect(pauseMs({ pause: {} })).toBeUndefined();
  });

  it('refuses an analysis before any positive weight, naming the step', () => {
    const analysis = { name: 'ok', provider: { http: { url: 'http://x/' } }, successCondition: 'result == true' };
    expect(checkSteps([{ analysis }, { setWeight: 10 }])).toEqual([
      'steps[0]: an analysis while the canary has no pod (setWeight 0 so far) has nothing to judge',
    ]);
    expect(checkSteps([{ setWeight: 10 }, { analysis }])).toEqual([]);
  });

  it('the schema names the wrong field: a weight above 100, an unknown step, a bad duration', () => {
    const base = { namespace: 'shop', deployment: 'web', template };
    const problems = (steps: unknown[]): string =>
      z.prettifyError((CanaryRolloutInput.safeParse({ ...base, steps }) as { error: z.ZodError }).error);
    expect(problems([{ setWeight: 120 }])).toMatch(/setWeight is at most 100[\s\S]*steps\[0\]/);
    expect(problems([{ wait: 3 }])).toMatch(/a step is \{ setWeight/);
    expect(problems([{ pause: { duration: 'soon' } }])).toMatch(/"soon" is not a duration/);
    const ok = CanaryRolloutInput.parse({ ...base, steps: [{ setWeight: 50 }] });
    expect(ok).toMatchObject({ onNewRevision: 'refuse', timeoutSeconds: 300, channels: [] });
  });

  it('takes a pod template, or a Deployment manifest of the same Deployment', () => {
    expect(podTemplateOf(template, 'web')).toEqual({ ok: true, template });
    const manifest = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web' },
      spec: { template },
    } as const;
    expect(podTemplateOf(manifest, 'web')).toEqual({ ok: true, template });
    expect(podTemplateOf({ ...manifest, metadata: { name: 'api' } }, 'web')).toEqual({
      ok: false,
      error: 'template: the manifest is Deployment api, but the canary is of Deployment web',
    });
  });

  it('names one canary per Deployment and cluster', () => {
    expect(canaryWorkflowId({ cluster: 'prod', namespace: 'shop', deployment: 'web' })).toBe('canary/prod/shop/web');
  });
});

/** A Deployment web (4 replicas) selecting app=web,track=stable, behind Service web selecting app=web. */
function facts(over: Partial<StableFacts> = {}): StableFacts {
  return {
    namespace: 'shop',
    name: 'web',
    replicas: 4,
    selector: { matchLabels: { app: 'web', track: 'stable' } },
    templateLabels: { app: 'web', track: 'stable' },
    services: [
      { name: 'web', selector: { app: 'web' } },
      { name: 'db', selector: { app: 'db' } },
    ],
    serviceNamed: false,
    autoscalers: [],
    ...over,
  };
}

describe('planCanary (the preflight)', () => {
  it('canary pods carry the Service labels and the canary label, not the stable-only selector label', () => {
    const r = planCanary(facts(), { app: 'web', track: 'stable', version: '2' });
    expect(r).toEqual({
      ok: true,
      plan: {
        podLabels: { app: 'web', version: '2', [CANARY_LABEL]: 'true' },
        selector: { app: 'web', [CANARY_LABEL]: 'true' },
        promotedLabels: { app: 'web', track: 'stable', version: '2' },
        services: ['web'],
      },
    });
    if (!r.ok) return;
    const d = canaryDeployment({ namespace: 'shop', name: 'web' }, r.plan, template, 1);
    expect(d.metadata).toMatchObject({ name: 'web-canary', labels: { [CANARY_OF_LABEL]: 'web' } });
    expect(d.spec.template.metadata.labels).toEqual(r.plan.podLabels);
    expect(promotedTemplate(r.plan, template).metadata?.labels).toEqual(r.plan.promotedLabels);
  });

  it('adds the selector labels a new template left out (so it can be promoted)', () => {
    const r = planCanary(facts(), { app: 'web' });
    expect(r.ok && r.plan.promotedLabels).toEqual({ app: 'web', track: 'stable' });
  });

  it('a stable selector that excludes the canary label by expression is fine', () => {
    const r = planCanary(
      facts({
        selector: { matchLabels: { app: 'web' }, matchExpressions: [{ key: CANARY_LABEL, operator: 'DoesNotExist' }] },
        templateLabels: { app: 'web' },
      }),
      { app: 'web' },
    );
    expect(r.ok && r.plan.podLabels).toEqual({ app: 'web', [CANARY_LABEL]: 'true' });
  });

  it.each<[string, Partial<StableFacts>, Record<string, string>, RegExp]>([
    [
      'a stable selector that would select the canary pods',
      { selector: { matchLabels: { app: 'web' } }, templateLabels: { app: 'web' } },
      { app: 'web' },
      /Deployment\/shop\/web: its selector app=web would also select the canary pods \(app=web,kube-workflows.io\/canary=true\), and its ReplicaSet would fight the canary's over them\. The stable selector needs a label the Service does not select on .*; nothing was written$/,
    ],
    ['no replicas', { replicas: 0 }, { app: 'web' }, /it has 0 replicas/],
    [
      'an autoscaler',
      { autoscalers: ['web-hpa'] },
      { app: 'web' },
      /HorizontalPodAutoscaler web-hpa owns its replica count/,
    ],
    [
      'no Service',
      { services: [{ name: 'db', selector: { app: 'db' } }] },
      { app: 'web' },
      /no Service selects its pods/,
    ],
    [
      'a named Service that does not select it',
      { services: [{ name: 'db', selector: { app: 'db' } }], serviceNamed: true },
      { app: 'web' },
      /Service db does not select its pods/,
    ],
    ['a template label contradicting the selector', {}, { app: 'api' }, /label app=api contradicts app=web/],
    [
      'a foreign web-canary',
      { existingCanary: { ours: false } },
      { app: 'web' },
      /Deployment shop\/web-canary exists and is not its canary/,
    ],
  ])('refuses %s', (_, over, labels, message) => {
    const r = planCanary(facts(over), labels);
    expect(r.ok).toBe(false);
    expect(r.ok ? '' : r.reason).toMatch(message);
  });

  it('takes over its own leftover canary', () => {
    expect(planCanary(facts({ existingCanary: { ours: true } }), { app: 'web' }).ok).toBe(true);
  });
});

describe('the CLI --steps flag', () => {
  const spec = { name: 'rate', provider: { http: { url: 'http://m/' } }, successCondition: 'result < 1' };
  const read = (path: string): Promise<unknown> => Promise.resolve({ ...spec, name: path.replace('.yaml', '') });

  it('reads setWeight, pause (with or without a duration) and analysis files, in order', async () => {
    expect(await parseStepsFlag('setWeight=20, pause=1m,analysis=rate.yaml,setWeight=50,pause', read)).toEqual([
      { setWeight: 20 },
      { pause: { duration: '1m' } },
      { analysis: spec },
      { setWeight: 50 },
      { pause: {} },
    ]);
  });

  it('names the token it cannot read', async () => {
    await expect(parseStepsFlag('setWeight=20,wait=5', read)).rejects.toThrow(
      '--steps: cannot read "wait=5" (expected setWeight=N, pause, pause=DURATION or analysis=FILE)',
    );
    await expect(parseStepsFlag('setWeight=half', read)).rejects.toThrow(/cannot read "setWeight=half"/);
  });
});
