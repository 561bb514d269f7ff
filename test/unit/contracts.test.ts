/**
 * One definition per contract: the names kept for compatibility are the same objects, not copies that can drift.
 */
import { describe, expect, it } from 'vitest';
import { ALERT_SEVERITIES, AlertSeverity as AlertSeverityByName, createAlertChannel } from '../../src/alerts/index.js';
import { HealthStatus as HealthStatusByName } from '../../src/domain/health.js';
import { AlertEvent, AlertSeverity, HealthStatus, HealthStatusName, Severity } from '../../src/schemas/index.js';

describe('alert severity', () => {
  it('the deprecated Severity schema is AlertSeverity itself', () => {
    expect(Severity).toBe(AlertSeverity);
  });

  it("the alert channels' AlertSeverity names are the schema's values, worst first", () => {
    expect(AlertSeverityByName).toEqual(AlertSeverity.enum);
    expect(ALERT_SEVERITIES).toEqual(['critical', 'error', 'warning', 'info']);
  });

  it("a channel's minSeverity is checked with the same schema", () => {
    expect(() =>
      createAlertChannel('ops', { type: 'webhook', url: 'http://127.0.0.1:1/', minSeverity: 'page' } as never),
    ).toThrow(/minSeverity/);
  });
});

describe('alert event', () => {
  const event = {
    action: 'trigger',
    dedupKey: 'monitor/shop/Deployment/shop/cart/1',
    summary: 'Deployment/shop/cart is degraded',
    source: 'Deployment/shop/cart',
    severity: 'critical',
    startsAt: '2026-03-01T12:00:00.000Z',
  } as const;

  it('accepts what the monitor sends', () => {
    expect(AlertEvent.parse(event)).toEqual(event);
  });

  it('names the field a receiver could not use', () => {
    const parsed = AlertEvent.safeParse({ ...event, startsAt: 'yesterday' });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues.map((i) => i.path.join('.'))).toEqual(['startsAt']);
  });
});

describe('health status', () => {
  it('the deprecated HealthStatusName schema is HealthStatus itself', () => {
    expect(HealthStatusName).toBe(HealthStatus);
  });

  it("domain/health's HealthStatus names are the schema's values", () => {
    expect(HealthStatusByName).toEqual(HealthStatus.enum);
    expect(HealthStatus.options).toEqual(['Current', 'InProgress', 'Failed', 'Terminating', 'NotFound', 'Unknown']);
  });
});
