/**
 * Starting a deploy from the Temporal Web UI's "Start Workflow" form, as a person without our CLI would: workflow
 * type `deployManifests`, the lock id as workflow id, and the JSON input that `kube-workflows schema deployManifests
 * --example` shows, typed into the form's JSON editor (Debian's Chromium driven by playwright-core). The run
 * succeeds and the ConfigMap exists; a malformed input typed the same way fails the run at once with a
 * non-retryable InvalidInput naming the field, which the UI shows as Failed. Uses the shared local stack's
 * Temporal (its embedded UI) and a worker from the integration harness.
 */
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { WORKFLOW_CATALOG } from '../../src/schemas/catalog.js';
import type { DeployReport } from '../../src/schemas/deploy.js';
import { useHarness } from '../integration/harness.js';

const CHROMIUM = process.env.KUBE_WORKFLOWS_CHROMIUM ?? '/usr/bin/chromium';
const UI_TIMEOUT_MS = 30_000;

const h = useHarness('start-form');
let browser: Browser | undefined;

beforeAll(async () => {
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu'] });
});
afterAll(async () => {
  await browser?.close();
});

/** Fills the Start Workflow form and presses Start; resolves once the UI server accepted the start request. */
async function startFromForm(page: Page, workflowId: string, input: unknown): Promise<void> {
  const ui = inject('stack').temporalUiUrl;
  await page.goto(`${ui}/namespaces/default/workflows/start-workflow`);
  await page.getByTestId('workflowId').fill(workflowId);
  await page.getByTestId('taskQueue').fill(h.taskQueue);
  await page.getByTestId('workflowType').fill('deployManifests');
  const editor = page.locator('[contenteditable="true"]').first();
  await editor.click();
  await page.keyboard.press('Control+A');
  await page.keyboard.insertText(JSON.stringify(input));
  await page.getByTestId('workflowType').click(); // the form takes the editor's text when it loses focus
  const started = page.waitForResponse(
    (r) => r.request().method() === 'POST' && r.url().includes('/api/v1/namespaces/default/workflows/'),
    { timeout: UI_TIMEOUT_MS },
  );
  await page.getByTestId('start-workflow-button').click();
  expect((await started).status()).toBe(200);
}

describe('the Web UI start form', () => {
  it('starts a deploy with the catalog example as JSON input; it succeeds', async () => {
    const page = await browser!.newPage();
    const example = WORKFLOW_CATALOG.deployManifests?.example as Record<string, unknown>;
    const workflowId = `deploy/local/${h.namespace}/demo`;
    await startFromForm(page, workflowId, { ...example, namespace: h.namespace });
    const report = (await h.client.temporal.workflow.getHandle(workflowId).result()) as DeployReport;
    expect(report.outcome).toBe('succeeded');
    expect(await h.kubectl('get', 'configmap', 'demo', '-n', h.namespace, '-o', 'jsonpath={.data.greeting}')).toBe(
      'hello',
    );
    await page.goto(`${inject('stack').temporalUiUrl}/namespaces/default/workflows/${encodeURIComponent(workflowId)}`);
    await expect.poll(() => page.getByText('Completed').first().isVisible(), { timeout: UI_TIMEOUT_MS }).toBe(true);
    await page.close();
  });

  it('a malformed input fails the run at once, naming the field', async () => {
    const page = await browser!.newPage();
    const workflowId = `deploy/local/${h.namespace}/bad`;
    await startFromForm(page, workflowId, { manifests: 42, namespace: h.namespace });
    const failure = await h.client.temporal.workflow
      .getHandle(workflowId)
      .result()
      .then(
        () => undefined,
        (err: unknown) => (err as { cause?: { type?: string; nonRetryable?: boolean; message?: string } }).cause,
      );
    expect(failure).toMatchObject({ type: 'InvalidInput', nonRetryable: true });
    expect(failure?.message).toMatch(/manifests/);
    await page.goto(`${inject('stack').temporalUiUrl}/namespaces/default/workflows/${encodeURIComponent(workflowId)}`);
    await expect.poll(() => page.getByText('Failed').first().isVisible(), { timeout: UI_TIMEOUT_MS }).toBe(true);
    await page.close();
  });
});
