import { Duration, TimeZone } from 'aws-cdk-lib';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { Schedule } from '../config/schema.js';

export interface ScheduledJobProps {
  /** When to run (cron or rate, with its IANA time zone). */
  readonly schedule: Schedule;
  /** The function to invoke. */
  readonly target: IFunction;
  /** The payload the function receives. */
  readonly payload: Record<string, unknown>;
  /** Where invocations that keep failing go. */
  readonly deadLetterQueue: IQueue;
  /** Schedules of one fleet share a group. */
  readonly group: scheduler.IScheduleGroup;
  /** Shown in the console. */
  readonly description: string;
  /**
   * Adds the scheduled time (<aws.scheduler.scheduled-time>, the same on every retry of one
   * run) to the payload under this name. @default - not added
   */
  readonly scheduledTimeField?: string;
}

/** An EventBridge Scheduler schedule with retries and a DLQ, in the schedule's own time zone. */
export class ScheduledJob extends Construct {
  readonly schedule: scheduler.Schedule;

  constructor(scope: Construct, id: string, props: ScheduledJobProps) {
    super(scope, id);
    const s = props.schedule;
    const expression = s.cron !== undefined
      ? scheduler.ScheduleExpression.expression(`cron(${s.cron})`, TimeZone.of(s.timezone))
      : scheduler.ScheduleExpression.expression(`rate(${s.rate})`);
    this.schedule = new scheduler.Schedule(this, 'Schedule', {
      schedule: expression,
      scheduleGroup: props.group,
      description: props.description.slice(0, 512),
      enabled: s.enabled,
      // Jobs are idempotent observations; a small window spreads fleets that share a minute.
      timeWindow: scheduler.TimeWindow.flexible(Duration.minutes(1)),
      target: new targets.LambdaInvoke(props.target, {
        input: scheduler.ScheduleTargetInput.fromObject(props.scheduledTimeField ? { ...props.payload, [props.scheduledTimeField]: scheduler.ContextAttribute.scheduledTime } : props.payload),
        deadLetterQueue: props.deadLetterQueue,
        retryAttempts: 3,
        maxEventAge: Duration.hours(1),
      }),
    });
  }
}
