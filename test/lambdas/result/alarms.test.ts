import { describe, expect, it } from 'vitest';
import { AlarmEvent, alarmMessage } from '../../../lambdas/result/alarms.js';

const ctx = { fleet: 'demo', region: 'eu-central-1', topicArn: 'arn:aws:sns:eu-central-1:111122223333:alerts' };
const event = (value: string, previous: string) => AlarmEvent.parse({
  source: 'aws.cloudwatch', 'detail-type': 'CloudWatch Alarm State Change',
  detail: { alarmName: 'shipshape-demo-web-health-check-missed', state: { value, reason: 'Threshold Crossed: no datapoints' }, previousState: { value: previous }, configuration: { description: 'No health-check result from stack web.' } },
});

describe('alarm messages', () => {
  it('sends an alarm as critical, with what it means and why', () => {
    const m = alarmMessage(event('ALARM', 'OK'), ctx)!;
    expect(m.Subject).toBe('[CRITICAL] demo: shipshape-demo-web-health-check-missed');
    expect(m.MessageAttributes!.severity!.StringValue).toBe('critical');
    const body = JSON.parse(m.Message!);
    expect(body.email).toContain('What it means: No health-check result from stack web.');
    expect(body.email).toContain('Why: Threshold Crossed: no datapoints');
  });

  it('sends RESOLVED when an alarm returns to OK, and nothing for other changes', () => {
    expect(alarmMessage(event('OK', 'ALARM'), ctx)!.Subject).toBe('[RESOLVED] demo: shipshape-demo-web-health-check-missed');
    expect(alarmMessage(event('OK', 'INSUFFICIENT_DATA'), ctx)).toBeUndefined();
    expect(alarmMessage(event('INSUFFICIENT_DATA', 'OK'), ctx)).toBeUndefined();
  });
});
