import { describe, expect, it } from 'vitest';
import { FleetConfigError, parseFleet } from '../../lib/config/load.js';
import { channelOf, isChatChannel } from '../../lib/config/schema.js';
import { demoFleet, fleetInput } from '../support/fleets.js';

const SECRET = 'arn:aws:secretsmanager:eu-central-1:123456789012:secret:shipshape/slack-AbCdEf';

function problemsOf(mutate: (f: any) => void): string[] {
  const input = fleetInput() as any;
  mutate(input);
  try {
    parseFleet(input, 'test');
  } catch (err) {
    if (err instanceof FleetConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe('alerts config: receivers', () => {
  it('accepts Slack, Teams, PagerDuty and Opsgenie by secret ARN, with severities', () => {
    // Act
    const fleet = demoFleet((f) => {
      f.alerts!.recipients = [
        { slack: { secretArn: SECRET }, severities: ['critical', 'warning'] },
        { teams: { secretArn: SECRET } },
        { pagerduty: { secretArn: SECRET }, severities: ['critical'] },
        { opsgenie: { secretArn: SECRET, region: 'eu' }, severities: ['critical'] },
      ];
    });
    // Assess
    expect(fleet.alerts.recipients.map(channelOf)).toEqual(['slack', 'teams', 'pagerduty', 'opsgenie']);
    expect(fleet.alerts.recipients.every(isChatChannel)).toBe(true);
    expect(fleet.alerts.recipients[3]!.opsgenie!.region).toBe('eu');
  });

  it.each([
    ['https://hooks.slack.com/services/T000/B000/XXXX', /Slack incoming webhook.*slack: \{ secretArn/],
    ['https://contoso.webhook.office.com/webhookb2/abc', /Teams webhook.*teams: \{ secretArn/],
    ['https://prod-12.westeurope.logic.azure.com/workflows/abc/triggers/manual/paths/invoke', /Teams webhook.*teams: \{ secretArn/],
    ['https://events.pagerduty.com/v2/enqueue', /pagerduty: \{ secretArn/],
  ])('fails when %s is given as a plain https recipient, saying what to write instead', (url, message) => {
    // Act
    const problems = problemsOf((f) => (f.alerts.recipients = [{ https: url }]));
    // Assess
    const hit = problems.find((p) => p.startsWith('alerts.recipients[0].https: '));
    expect(hit, problems.join('\n')).toMatch(message);
    expect(hit).not.toContain('XXXX');
  });

  it('fails when a receiver secret is not a Secrets Manager ARN', () => {
    // Act
    const problems = problemsOf((f) => (f.alerts.recipients = [{ slack: { secretArn: 'https://hooks.slack.com/services/x' } }]));
    // Assess
    expect(problems.find((p) => p.startsWith('alerts.recipients[0].slack.secretArn: '))).toMatch(/Secrets Manager secret ARN/);
  });

  it('fails when a recipient names two channels', () => {
    // Act
    const problems = problemsOf((f) => (f.alerts.recipients = [{ email: 'a@example.com', slack: { secretArn: SECRET } }]));
    // Assess
    expect(problems.join('\n')).toMatch(/exactly one of "email", "sms", "https", "sqs", "slack"/);
  });
});

describe('alerts config: escalation', () => {
  it('takes a list of levels with severities', () => {
    // Act
    const fleet = demoFleet((f) => {
      f.alerts!.escalation = [
        { afterMinutes: 15, recipients: [{ email: 'sysadmin@example.com' }], severities: ['critical', 'warning'] },
        { afterMinutes: 60, recipients: [{ email: 'engineering@example.com' }] },
        { afterMinutes: 0, recipients: [{ pagerduty: { secretArn: SECRET } }] },
      ];
    });
    // Assess
    expect(fleet.alerts.escalation?.map((l) => [l.afterMinutes, l.severities])).toEqual([[15, ['critical', 'warning']], [60, ['critical']], [0, ['critical']]]);
  });

  it('still reads the single escalation of older configs as one critical level', () => {
    // Act
    const fleet = demoFleet((f) => (f.alerts!.escalation = { afterMinutes: 30, recipients: [{ email: 'boss@example.com' }] } as never));
    // Assess
    expect(fleet.alerts.escalation).toEqual([{ afterMinutes: 30, recipients: [{ email: 'boss@example.com' }], severities: ['critical'] }]);
  });
});

describe('alerts config: windows and time zone', () => {
  it('accepts weekly, monthly and one-off windows and a fleet time zone', () => {
    // Act
    const fleet = demoFleet((f) => {
      f.alerts!.timezone = 'Europe/Berlin';
      f.alerts!.maintenance = [
        { days: ['sun'], start: '02:00', durationMinutes: 120 },
        { monthly: ['first sun'], start: '02:00', durationMinutes: 120, timezone: 'Europe/Berlin' },
        { from: '2026-12-24T22:00', until: '2026-12-25T06:00', timezone: 'Europe/Berlin' },
      ];
    });
    // Assess
    expect(fleet.alerts.timezone).toBe('Europe/Berlin');
    expect(fleet.alerts.maintenance).toHaveLength(3);
  });

  it.each([
    ['a month week that does not exist', { monthly: ['fifth sun'], start: '02:00', durationMinutes: 60 }, 'alerts.maintenance[0].monthly[0]', /"first sun" or "last sat"/],
    ['a one-off window without its end', { from: '2026-12-24T22:00' }, 'alerts.maintenance[0].until', /needs both "from" and "until"/],
    ['a one-off window ending before it starts', { from: '2026-12-24T22:00', until: '2026-12-24T21:00' }, 'alerts.maintenance[0].until', /must be after "from"/],
    ['weekly and monthly days together', { days: ['sun'], monthly: ['first sun'], start: '02:00', durationMinutes: 60 }, 'alerts.maintenance[0].monthly', /either "days"/],
    ['a recurring window without a start', { monthly: ['first sun'], durationMinutes: 60 }, 'alerts.maintenance[0].start', /is required/],
  ])('fails when %s', (_name, window, path, message) => {
    // Act
    const problems = problemsOf((f) => (f.alerts.maintenance = [window]));
    // Assess
    const hit = problems.find((p) => p.startsWith(`${path}: `));
    expect(hit, problems.join('\n')).toMatch(message);
  });
});
