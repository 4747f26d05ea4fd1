import { Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { Fleet } from '../config/schema.js';
import type { FleetSchedules } from './fleet-schedules.js';
import { ShipshapeFunction } from './function.js';
import { acknowledgeWildcard, nagArnRef } from './nag.js';
import type { StateTable } from './state-table.js';

export interface WatchdogProps {
  readonly fleet: Fleet;
  readonly configFile: string;
  readonly key: IKey;
  readonly deadLetterQueue: IQueue;
  readonly topic: ITopic;
  readonly state: StateTable;
  readonly schedules: FleetSchedules;
  /** How often it looks. @default 5 minutes */
  readonly every?: Duration;
}

/**
 * Replaces per-stack missed-run alarms: every few minutes it compares each stack's and host's
 * expected cadence (from the config) with what the results say, and raises `missed`, silent-host,
 * no-host and secret-age findings through the normal alert pipeline. One function, one schedule,
 * whatever the size of the fleet.
 */
export class Watchdog extends Construct {
  readonly watchdog: ShipshapeFunction;

  constructor(scope: Construct, id: string, props: WatchdogProps) {
    super(scope, id);
    const { fleet } = props;
    const stack = Stack.of(this);
    this.watchdog = new ShipshapeFunction(this, 'Function', {
      entry: 'watchdog',
      configFile: props.configFile,
      description: `shipshape ${fleet.fleet}: finds missed runs, silent hosts, runs that matched no host and overdue secret rotations`,
      timeout: Duration.minutes(2),
      logKey: props.key,
      deadLetterQueue: props.deadLetterQueue,
      logRetentionDays: fleet.defaults.logRetentionDays,
      environment: { SHIPSHAPE_FLEET_NAME: fleet.fleet, SHIPSHAPE_DOCUMENTS: '{}', SHIPSHAPE_STATE_TABLE: props.state.table.tableName, SHIPSHAPE_ALERT_TOPIC_ARN: props.topic.topicArn },
    });
    const role = this.watchdog.role;
    props.state.grantStateAccess(role);
    props.topic.grantPublish(role);
    props.key.grantEncryptDecrypt(role);
    role.addToPolicy(new iam.PolicyStatement({ sid: 'CountCommandTargets', actions: ['ssm:ListCommands'], resources: ['*'] }));
    acknowledgeWildcard(role, 'Resource::*', 'ssm:ListCommands supports no resource-level permissions; it only reads.');
    if (fleet.stacks.some((s) => s.secrets.length)) {
      const arn = (name: string) => `arn:${stack.partition}:secretsmanager:${stack.region}:${stack.account}:secret:${name}`;
      role.addToPolicy(new iam.PolicyStatement({ sid: 'CreatedSecretAges', actions: ['secretsmanager:DescribeSecret'], resources: [arn(`shipshape/${fleet.fleet}/*`)] }));
      role.addToPolicy(new iam.PolicyStatement({
        sid: 'AdoptedSecretAges', actions: ['secretsmanager:DescribeSecret'], resources: [arn('*')],
        conditions: { StringEquals: { 'secretsmanager:ResourceTag/shipshape:fleet': fleet.fleet } },
      }));
      acknowledgeWildcard(role, `Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:shipshape/${fleet.fleet}/*`, 'DescribeSecret reads rotation dates only (no value) of the secrets shipshape created for this fleet.');
      acknowledgeWildcard(role, 'Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:*', 'DescribeSecret of adopted secrets only with the tag shipshape:fleet of this fleet (condition on the statement); no value is read.');
    }
    for (const a of ['kms:ReEncrypt*', 'kms:GenerateDataKey*']) acknowledgeWildcard(role, `Action::${a}`, 'CDK grantEncryptDecrypt on the fleet key (state table, alerts).');
    acknowledgeWildcard(Stack.of(this), `Resource::${nagArnRef(this.watchdog.function)}:*`, 'EventBridge Scheduler invokes the watchdog function and its versions; the grant names this one function.');
    const every = props.every ?? Duration.minutes(5);
    props.schedules.add('Watchdog', {
      schedule: { rate: `${every.toMinutes()} minutes`, timezone: 'UTC', enabled: true },
      target: this.watchdog.function,
      payload: { action: 'watch' },
      deadLetterQueue: props.deadLetterQueue,
      description: `shipshape ${fleet.fleet}: watchdog every ${every.toMinutes()} minutes`,
    });
  }
}
