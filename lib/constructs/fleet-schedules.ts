import { createHash } from 'node:crypto';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { Fleet, Schedule } from '../config/schema.js';
import { scheduledRuns, scheduleKey } from '../runbooks/registry.js';
import { ScheduledJob } from './scheduled-job.js';

export interface FleetSchedulesProps {
  readonly fleet: Fleet;
  /** The dispatcher: it expands a schedule key into the runs that share it. */
  readonly dispatcher: IFunction;
  readonly deadLetterQueue: IQueue;
}

/**
 * Table-driven schedules: one EventBridge Scheduler schedule per distinct expression and time
 * zone, whatever the number of stacks and runbooks that share it. The payload names the
 * schedule; the dispatcher finds its runs in the config, so schedules grow with the distinct
 * schedules of the config, not with stacks × runbooks.
 */
export class FleetSchedules extends Construct {
  readonly group: scheduler.ScheduleGroup;
  /** Schedule key to the runbook/stack pairs it starts. */
  readonly runs: ReadonlyMap<string, readonly { runbook: string; stack: string }[]>;

  constructor(scope: Construct, id: string, props: FleetSchedulesProps) {
    super(scope, id);
    this.group = new scheduler.ScheduleGroup(this, 'Group', {});
    const runs = new Map<string, { runbook: string; stack: string; schedule: Schedule }[]>();
    for (const run of scheduledRuns(props.fleet)) {
      const key = scheduleKey(run.schedule);
      runs.set(key, [...(runs.get(key) ?? []), run]);
    }
    this.runs = runs;
    for (const [key, list] of [...runs].sort(([a], [b]) => a.localeCompare(b))) {
      const runbooks = [...new Set(list.map((r) => r.runbook))].join(', ');
      new ScheduledJob(this, `Schedule${createHash('sha256').update(key).digest('hex').slice(0, 10)}`, {
        schedule: list[0]!.schedule,
        target: props.dispatcher,
        payload: { trigger: 'schedule', schedule: key },
        scheduledTimeField: 'scheduledTime',
        deadLetterQueue: props.deadLetterQueue,
        group: this.group,
        description: `shipshape ${props.fleet.fleet}: ${runbooks} (${list.length} run${list.length === 1 ? '' : 's'})`,
      });
    }
  }

  /** Another job on the fleet's schedule group (retention, watchdog). */
  add(id: string, props: Omit<ConstructorParameters<typeof ScheduledJob>[2], 'group'>): ScheduledJob {
    return new ScheduledJob(this, id, { ...props, group: this.group });
  }
}
