import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { Construct } from 'constructs';
import { maxGapMinutes } from '../config/cron.js';
import type { Schedule } from '../config/schema.js';

export interface MissedRunAlarmProps {
  /** The job's schedule; the alarm waits its longest gap plus a grace period. */
  readonly schedule: Schedule;
  /** Metric the job's result processing emits once per host evaluated. */
  readonly metric: cloudwatch.Metric;
  /** Shown in the alarm and in the alert it sends. */
  readonly description: string;
  readonly alarmName: string;
  /** Extra wait after the longest gap. @default - 10 % of the gap, at least 5 minutes */
  readonly graceMinutes?: number;
}

/**
 * Dead man's switch: when no result arrived within the schedule's longest gap plus grace,
 * the job did not run (schedule, dispatcher or every host broken), and that is an alarm of
 * its own. Missing data counts as breaching.
 */
export class MissedRunAlarm extends Construct {
  readonly alarm: cloudwatch.Alarm;
  /** How long without a result before the alarm fires. */
  readonly windowMinutes: number;

  constructor(scope: Construct, id: string, props: MissedRunAlarmProps) {
    super(scope, id);
    const gap = maxGapMinutes(props.schedule);
    this.windowMinutes = gap + (props.graceMinutes ?? Math.max(5, Math.ceil(gap * 0.1)));
    const day = 1440;
    const periodMinutes = Math.min(day, this.windowMinutes);
    const periods = Math.min(7, Math.ceil(this.windowMinutes / day));
    this.alarm = new cloudwatch.Alarm(this, 'Alarm', {
      alarmName: props.alarmName,
      alarmDescription: props.description,
      metric: props.metric.with({ period: Duration.minutes(periodMinutes), statistic: cloudwatch.Stats.SUM }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      evaluationPeriods: periods,
      datapointsToAlarm: periods,
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    });
  }
}
