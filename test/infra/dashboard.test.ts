/**
 * Every graph on the dashboard shows a metric the code emits, with the dimensions it emits:
 * a widget that searches for a metric nobody writes (or with other dimensions) stays empty.
 */
import { describe, expect, it } from 'vitest';
import { RESULT_METRICS } from '../../lambdas/result/pipeline.js';
import { demoFleet } from '../support/fleets.js';
import { synthFleet } from '../support/synth.js';

/** The dashboard body with CloudFormation references reduced to placeholders. */
function body(): string {
  const { template } = synthFleet(demoFleet());
  const raw = Object.values(template.findResources('AWS::CloudWatch::Dashboard'))[0]!.Properties.DashboardBody;
  const flat = (v: unknown): string => (typeof v === 'string' ? v : Array.isArray(v) ? v.map(flat).join('') : v && typeof v === 'object' && 'Fn::Join' in v ? (v['Fn::Join'] as [string, unknown[]])[1].map(flat).join('') : 'X');
  return flat(raw);
}

describe('dashboard', () => {
  const text = body();
  const searches = [...text.matchAll(/SEARCH\('\{shipshape,([a-z,]+)\} MetricName=\\"(\w+)\\" service=\\"([a-z-]+)\\"'/g)].map((m) => ({ dims: m[1]!.split(','), metric: m[2]!, service: m[3]! }));

  it('has graphs by SEARCH over the result function metrics', () => {
    expect(searches.length).toBeGreaterThanOrEqual(8);
  });

  it('searches only for metrics the result function emits, with the dimensions it emits them with', () => {
    for (const s of searches) {
      expect(s.service).toBe('shipshape-result');
      expect(Object.keys(RESULT_METRICS), s.metric).toContain(s.metric);
      const emitted = [...RESULT_METRICS[s.metric as keyof typeof RESULT_METRICS], 'service'].sort();
      expect(s.dims.sort(), s.metric).toEqual(emitted);
    }
  });

  it('shows every metric the result function emits', () => {
    expect(new Set(searches.map((s) => s.metric))).toEqual(new Set(Object.keys(RESULT_METRICS)));
  });

  it('puts the alarms first and covers the last 7 days by default', () => {
    expect(text.indexOf('shipshape alarms')).toBeGreaterThan(-1);
    expect(text.indexOf('shipshape alarms')).toBeLessThan(text.indexOf('SEARCH('));
    expect(text).toContain('"start":"-P7D"');
  });
});
