import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { ShipshapeFunction } from './function.js';

export interface MonitoringProps {
  readonly fleet: string;
  /** The functions whose errors and throttles are alarmed, by short name. */
  readonly functions: Readonly<Record<string, ShipshapeFunction>>;
  readonly deadLetterQueue: IQueue;
  /** Log group of the result function, for the per-host table. */
  readonly resultLogGroup: string;
}

const pascal = (name: string) => name.split('-').map((p) => p.charAt(0).toUpperCase() + p.slice(1)).join('');

/** Alarms on shipshape itself and the dashboard. Both are bounded: nothing here is per stack or per host. */
export class Monitoring extends Construct {
  readonly alarms: cloudwatch.Alarm[] = [];
  readonly dashboard: cloudwatch.Dashboard;
  /** Every alarm name starts with this (SelfMonitoring sends them straight to people; no rule lists ARNs). */
  readonly alarmPrefix: string;

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);
    this.alarmPrefix = `shipshape-${props.fleet}-`;
    for (const [name, fn] of Object.entries(props.functions)) {
      this.alarms.push(fn.function.metricErrors({ period: Duration.minutes(5) }).createAlarm(this, `${pascal(name)}Errors`, {
        alarmName: `${this.alarmPrefix}${name}-errors`, threshold: 1, evaluationPeriods: 1, treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        alarmDescription: `The ${name} function failed; runs or alerts may be lost. Read its log group and the dead-letter queue.`,
      }));
      this.alarms.push(fn.function.metricThrottles({ period: Duration.minutes(5) }).createAlarm(this, `${pascal(name)}Throttles`, {
        alarmName: `${this.alarmPrefix}${name}-throttles`, threshold: 1, evaluationPeriods: 1, treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        alarmDescription: `The ${name} function was throttled; raise the account's Lambda concurrency or spread the schedules.`,
      }));
    }
    this.alarms.push(props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5) }).createAlarm(this, 'DeadLetters', {
      alarmName: `${this.alarmPrefix}dead-letters`, threshold: 1, evaluationPeriods: 1, treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      alarmDescription: 'A schedule, rule or function could not deliver an event after its retries; read the messages in the dead-letter queue.',
    }));
    // Per stack without a metric per stack in the template: SEARCH finds whatever stacks report.
    const search = (metric: string, stat: string, label: string, period = Duration.minutes(15), dims = 'runbook,service,stack') => new cloudwatch.MathExpression({
      expression: `SEARCH('{shipshape,${dims}} MetricName="${metric}" service="shipshape-result"', '${stat}', ${period.toSeconds()})`,
      usingMetrics: {}, label, period,
    });
    const fns = Object.values(props.functions);
    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: `shipshape-${props.fleet}`,
      defaultInterval: Duration.days(7),
      widgets: [
        [new cloudwatch.AlarmStatusWidget({ title: 'shipshape alarms', alarms: this.alarms, width: 24, height: 4 })],
        [
          new cloudwatch.GraphWidget({ title: 'Hosts failing, by stack and runbook', left: [search('HostsFailing', 'Sum', '')], width: 12 }),
          new cloudwatch.LogQueryWidget({
            title: 'Failing hosts now (latest result per host)',
            logGroupNames: [props.resultLogGroup],
            queryLines: ['fields @timestamp, stack, instanceId, runbook, critical, warning', 'filter message = "host evaluated"', 'stats latest(critical) as critical, latest(warning) as warning, max(@timestamp) as last by stack, instanceId, runbook', 'filter critical > 0 or warning > 0', 'sort critical desc, warning desc'],
            width: 12,
          }),
        ],
        [
          new cloudwatch.GraphWidget({ title: 'Critical and warning findings', left: [search('CriticalFindings', 'Sum', '')], right: [search('WarningFindings', 'Sum', '')], width: 12 }),
          new cloudwatch.GraphWidget({ title: 'Alerts sent, by stack', left: [search('AlertsSent', 'Sum', '', Duration.minutes(15), 'service,stack')], width: 12 }),
        ],
        [
          new cloudwatch.GraphWidget({ title: 'Verified backups, by stack', left: [search('BackupsVerified', 'Sum', '', Duration.days(1))], width: 12 }),
          new cloudwatch.GraphWidget({ title: 'Hosts evaluated, by stack and runbook', left: [search('HostsEvaluated', 'Sum', '')], width: 12 }),
        ],
        [
          new cloudwatch.GraphWidget({ title: 'Backup bytes (compressed), by stack', left: [search('BackupBytes', 'Sum', '', Duration.days(1), 'service,stack')], width: 12 }),
          new cloudwatch.GraphWidget({ title: 'Backup duration (s, max per day), by stack', left: [search('BackupDuration', 'Maximum', '', Duration.days(1), 'service,stack')], width: 12 }),
        ],
        [
          new cloudwatch.GraphWidget({ title: 'Function errors', left: fns.map((f) => f.function.metricErrors({ period: Duration.minutes(5) })), width: 8 }),
          new cloudwatch.GraphWidget({ title: 'Function duration (p90)', left: fns.map((f) => f.function.metricDuration({ period: Duration.minutes(5), statistic: 'p90' })), width: 8 }),
          new cloudwatch.GraphWidget({ title: 'Dead-letter queue depth', left: [props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5) })], width: 8 }),
        ],
      ],
    });
  }
}
