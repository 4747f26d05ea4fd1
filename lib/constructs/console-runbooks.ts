import { Arn, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { INSTANCE_ID, NAME, SILENCE_CHECK, SILENCE_HOST, SILENCE_HOURS, SILENCE_REASON } from '../config/patterns.js';
import { FLEET_TAG_KEY, type Fleet } from '../config/schema.js';
import type { RunbookDeclaration } from '../runbooks/document.js';
import { AutomationRunbook, type RunbookParameter } from './automation-runbook.js';
import { ShipshapeFunction } from './function.js';
import { acknowledgeWildcard } from './nag.js';
import type { RunCommandDocument } from './run-command-document.js';
import type { RunbookDocuments } from './runbook-documents.js';
import type { StateTable } from './state-table.js';

export interface ConsoleRunbooksProps {
  readonly fleet: Fleet;
  readonly configFile: string;
  readonly key: IKey;
  readonly deadLetterQueue: IQueue;
  readonly documents: RunbookDocuments;
  readonly dispatcher: IFunction;
  readonly outputBucket: IBucket;
  readonly state: StateTable;
  /** The rotation function, when the fleet has secrets. @default - no secret runbooks */
  readonly rotation?: IFunction;
  /** Where send-test-alert publishes host-style alerts. */
  readonly alertTopic: ITopic;
  /** Where send-test-alert publishes an alarm-style message (SelfMonitoring.topic). */
  readonly alarmTopic: ITopic;
}

const pascal = (name: string) => name.split('-').map((p) => p.charAt(0).toUpperCase() + p.slice(1)).join('');

/** Any stack name: a pattern, not a list, so the documents do not grow with the fleet (unknown stacks are refused at run time). */
export const STACK_PARAMETER_PATTERN = `^(${NAME.source.replace(/^\^|\$$/g, '').replace('$|^', '|')})$`;
/** "<stack>/<secret>" */
export const SECRET_REF_PATTERN = '^[a-z][a-z0-9-]{0,39}/[a-z][a-z0-9-]{0,39}$';

/**
 * Systems Manager > Automation entries: one per runbook declaration that has a console entry
 * (dispatch to a stack, or run on one host), plus silence, last runs and the secret actions.
 */
export class ConsoleRunbooks extends Construct {
  readonly console: ShipshapeFunction;
  readonly byName: Record<string, AutomationRunbook> = {};
  private readonly fleet: Fleet;

  constructor(scope: Construct, id: string, props: ConsoleRunbooksProps) {
    super(scope, id);
    const { fleet } = props;
    this.fleet = fleet;
    this.console = new ShipshapeFunction(this, 'Function', {
      entry: 'console',
      configFile: props.configFile,
      description: `shipshape ${fleet.fleet}: requests from the console runbooks (silences, last runs)`,
      logKey: props.key,
      deadLetterQueue: props.deadLetterQueue,
      logRetentionDays: fleet.defaults.logRetentionDays,
      environment: {
        SHIPSHAPE_FLEET_NAME: fleet.fleet, SHIPSHAPE_DOCUMENTS: Stack.of(this).toJsonString(props.documents.names), SHIPSHAPE_STATE_TABLE: props.state.table.tableName,
        SHIPSHAPE_ALERT_TOPIC_ARN: props.alertTopic.topicArn, SHIPSHAPE_ALARM_TOPIC_ARN: props.alarmTopic.topicArn,
      },
    });
    props.state.grantStateAccess(this.console.role, ['dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:BatchWriteItem']);
    props.alertTopic.grantPublish(this.console.role);
    props.alarmTopic.grantPublish(this.console.role);
    props.key.grantEncryptDecrypt(this.console.role);
    for (const a of ['kms:ReEncrypt*', 'kms:GenerateDataKey*']) acknowledgeWildcard(this.console.role, `Action::${a}`, 'CDK grantEncryptDecrypt on the fleet key, which encrypts the state table.');

    const stackParam: RunbookParameter = { description: 'The stack (its name in the config).', allowedPattern: STACK_PARAMETER_PATTERN };
    const approvers = (name: string) => (fleet.console.approvers.length && (fleet.console.approve as readonly string[]).includes(name) ? fleet.console.approvers : []);
    for (const decl of props.documents.declarations) {
      const entry = decl.console;
      if (!entry) continue;
      if (entry.kind === 'dispatch') {
        this.byName[entry.name] = new AutomationRunbook(this, `${pascal(entry.name)}Runbook`, {
          fleet: fleet.fleet,
          description: entry.description(fleet.fleet),
          parameters: { Stack: stackParam },
          action: { invoke: props.dispatcher, payload: { runbook: decl.name, stack: '{{ Stack }}', trigger: 'console' } },
          approvers: approvers(entry.name),
        });
      } else {
        this.addHostRunbook(decl, props.documents.byRunbook[decl.name]!, props.outputBucket, stackParam, approvers(entry.name));
      }
    }
    this.byName.silence = new AutomationRunbook(this, 'SilenceRunbook', {
      fleet: fleet.fleet,
      description: `shipshape ${fleet.fleet}: silence alerts for a while, e.g. during planned work. Choose a stack (or * for all), a host ID (or *), a check such as container.state or host.* (or *), and how many hours (1-168). Nothing is sent while the silence lasts; whatever still fails when it ends is alerted once.`,
      parameters: {
        Stack: { description: 'Stack to silence, or * for every stack.', allowedPattern: `^(\\*|${STACK_PARAMETER_PATTERN.slice(1, -1)})$` },
        Host: { description: 'Instance or managed node ID, or * for every host.', allowedPattern: SILENCE_HOST.source, default: '*' },
        Check: { description: 'Check such as container.state, a family such as host.*, or * for all checks.', allowedPattern: SILENCE_CHECK.source, default: '*' },
        Hours: { description: 'How long, in hours (1 to 168).', allowedPattern: SILENCE_HOURS.source, default: '2' },
        Reason: { description: 'Why (shown in the logs): letters, digits, spaces and . , : _ ( ) -.', allowedPattern: SILENCE_REASON.source },
      },
      action: { invoke: this.console.function, payload: { action: 'silence', stack: '{{ Stack }}', host: '{{ Host }}', check: '{{ Check }}', hours: '{{ Hours }}', reason: '{{ Reason }}' } },
    });
    this.byName['last-runs'] = new AutomationRunbook(this, 'LastRunsRunbook', {
      fleet: fleet.fleet,
      description: `shipshape ${fleet.fleet}: list the last runs of a stack (health checks, backups, restores, drills, restarts): when, which host, the outcome, how many findings and alerts, and what shipshape did about it. Read-only.`,
      parameters: { Stack: stackParam, Count: { description: 'How many runs (1 to 50).', allowedPattern: '^([1-9]|[1-4][0-9]|50)$', default: '20' } },
      action: { invoke: this.console.function, payload: { action: 'last-runs', stack: '{{ Stack }}', count: '{{ Count }}' } },
    });
    this.byName.acknowledge = new AutomationRunbook(this, 'AcknowledgeRunbook', {
      fleet: fleet.fleet,
      description: `shipshape ${fleet.fleet}: acknowledge an open alert, by its fingerprint (ss-..., in every message) or by stack, host and check. Reminders and escalation stop until it resolves or for the hours given (0: alerts.acknowledgeHours); the acknowledge is recorded in the run history.`,
      parameters: {
        Alert: { description: 'The fingerprint from the message (ss-...), or - to choose by stack, host and check.', allowedPattern: '^(-|ss-[0-9a-f]{24})$', default: '-' },
        Stack: { description: 'Stack (with Alert -), or * for every stack.', allowedPattern: `^(\\*|${STACK_PARAMETER_PATTERN.slice(1, -1)})$`, default: '*' },
        Host: { description: 'Instance or managed node ID, or *.', allowedPattern: SILENCE_HOST.source, default: '*' },
        Check: { description: 'Check such as container.state, a family such as host.*, or *.', allowedPattern: SILENCE_CHECK.source, default: '*' },
        Hours: { description: 'How long the acknowledge holds if the alert does not resolve (0: the config default).', allowedPattern: '^(0|[1-9]|[1-9][0-9]|1[0-5][0-9]|16[0-8])$', default: '0' },
        Reason: { description: 'Who is on it and why (shown in the history): letters, digits, spaces and . , : _ ( ) -.', allowedPattern: SILENCE_REASON.source },
      },
      action: { invoke: this.console.function, payload: { action: 'acknowledge', alert: '{{ Alert }}', stack: '{{ Stack }}', host: '{{ Host }}', check: '{{ Check }}', hours: '{{ Hours }}', reason: '{{ Reason }}', by: '{{ automation:EXECUTION_ID }}' } },
    });
    this.byName['send-test-alert'] = new AutomationRunbook(this, 'SendTestAlertRunbook', {
      fleet: fleet.fleet,
      description: `shipshape ${fleet.fleet}: send one test message of each severity (critical, warning, info, an escalation and an alarm) to every receiver, to prove after a deploy that each person gets what they should. Changes nothing else.`,
      parameters: {},
      action: { invoke: this.console.function, payload: { action: 'send-test-alert', by: '{{ automation:EXECUTION_ID }}' } },
    });
    if (props.rotation) {
      const secretParameter = { Secret: { description: 'The secret, as <stack>/<name> (names from the config).', allowedPattern: SECRET_REF_PATTERN } };
      this.byName['rotate-secret-now'] = new AutomationRunbook(this, 'RotateSecretNowRunbook', {
        fleet: fleet.fleet,
        description: `shipshape ${fleet.fleet}: rotate one application secret now. Secrets Manager runs the same four steps as the scheduled rotation: new value, applied on every host of the stack with its services restarted or recreated in order, checked on every container, then made current. If any host fails, every host gets the current value back and a critical alert says where.`,
        parameters: secretParameter,
        action: { invoke: props.rotation, payload: { action: 'rotate-now', secret: '{{ Secret }}' } },
        approvers: approvers('rotate-secret-now'),
      });
      this.byName['rollback-secret'] = new AutomationRunbook(this, 'RollbackSecretRunbook', {
        fleet: fleet.fleet,
        description: `shipshape ${fleet.fleet}: put the previous value of one application secret back. Every host of the stack applies AWSPREVIOUS and restarts its services; only when all of them pass their health check does AWSCURRENT move back to that version. If any fails, the hosts keep the current value and a critical alert says where.`,
        parameters: secretParameter,
        action: { invoke: props.rotation, payload: { action: 'rollback', secret: '{{ Secret }}', runId: '{{ automation:EXECUTION_ID }}' }, timeoutSeconds: 900 },
        approvers: approvers('rollback-secret'),
      });
      this.byName['adopt-secret'] = new AutomationRunbook(this, 'AdoptSecretRunbook', {
        fleet: fleet.fleet,
        description: `shipshape ${fleet.fleet}: the first step for a secret (or every secret of a stack, <stack>/*) after the first deploy, before its first rotation: every host of the stack applies the current value (AWSCURRENT) and every receiving container is checked by hash to hold it. Nothing changes in Secrets Manager. Run it once the hosts are tagged and their role has the HostSecretsPolicy; a failure names the hosts and why.`,
        parameters: { Secret: { description: 'The secret as <stack>/<name>, or <stack>/* for every secret of the stack.', allowedPattern: '^[a-z][a-z0-9-]{0,39}/([a-z][a-z0-9-]{0,39}|[*])$' } },
        action: { invoke: props.rotation, payload: { action: 'adopt', secret: '{{ Secret }}', runId: '{{ automation:EXECUTION_ID }}' }, timeoutSeconds: 900 },
      });
      // Emergency: every credential at once. Behind approval when approvers are configured, and always behind a typed confirmation.
      this.byName['rotate-all-secrets'] = new AutomationRunbook(this, 'RotateAllSecretsRunbook', {
        fleet: fleet.fleet,
        description: `shipshape ${fleet.fleet}: EMERGENCY, after a security incident: rotate every secret of one stack, or of the whole fleet (*), now. Each secret goes through the usual four steps on every host of its stack (applied, every container verified, health-checked, then made current; rolled back with a critical alert otherwise). The result lists each secret: rotation started, or why not.`,
        parameters: {
          Stack: { description: 'The stack whose secrets to rotate, or * for every secret of the fleet.', allowedPattern: `^([*]|${STACK_PARAMETER_PATTERN.slice(1, -1)})$` },
          Confirm: { description: 'Type ROTATE-ALL to confirm.', allowedValues: ['ROTATE-ALL'] },
        },
        action: { invoke: props.rotation, payload: { action: 'rotate-all', stack: '{{ Stack }}' }, timeoutSeconds: 900 },
        approvers: approvers('rotate-all-secrets'),
      });
    }
  }

  /** Automation document names, for SHIPSHAPE_RUNBOOKS (alert links). */
  get names(): Record<string, string> {
    return Object.fromEntries(Object.entries(this.byName).map(([name, rb]) => [name, rb.documentName]));
  }

  private addHostRunbook(decl: RunbookDeclaration, doc: RunCommandDocument, outputBucket: IBucket, stackParam: RunbookParameter, approvers: readonly string[]): void {
    const entry = decl.console!;
    const fleet = this.fleet;
    const extra = Object.fromEntries(Object.entries(decl.parameters ?? {}).map(([k, p]) => {
      // Restoring unverified bytes is only offered behind an approver.
      const values = k === 'AllowUnverified' && !approvers.length ? ['false'] : p.allowedValues;
      return [k, { description: p.description, ...(p.allowedPattern ? { allowedPattern: p.allowedPattern } : {}), ...(values ? { allowedValues: [...values] } : {}), ...(p.default !== undefined ? { default: p.default } : {}) }];
    }));
    const runbook = new AutomationRunbook(this, `${pascal(entry.name)}Runbook`, {
      fleet: fleet.fleet,
      description: entry.description(fleet.fleet),
      approvers,
      parameters: {
        Stack: { ...stackParam, description: 'The stack the host belongs to.' },
        Host: { description: 'Instance or managed node ID.', allowedPattern: INSTANCE_ID.source },
        ...extra,
      },
      action: {
        runCommand: {
          documentName: doc.documentName, instanceParameter: 'Host', outputBucket: outputBucket.bucketName, timeoutSeconds: Math.min(decl.executionTimeoutSeconds + 600, 172_800),
          // commandComment's format; the longest stack name, runbook and execution ID fit 100 characters (lib/config checks it).
          comment: `shipshape {{ Stack }} ${decl.name} {{ automation:EXECUTION_ID }}`,
          parameters: { Stack: '{{ Stack }}', RunId: '{{ automation:EXECUTION_ID }}', ...Object.fromEntries(Object.keys(extra).map((k) => [k, `{{ ${k} }}`])) },
        },
        statements: this.runCommandStatements(doc),
      },
    });
    const hosts = `The host is chosen when the runbook starts; the condition ssm:resourceTag/${FLEET_TAG_KEY}=${fleet.fleet} limits it to this fleet.`;
    acknowledgeWildcard(runbook.role, 'Resource::*', 'Reading command status (ListCommands, ListCommandInvocations, GetCommandInvocation, DescribeInstanceInformation) supports no resource-level permissions.');
    acknowledgeWildcard(runbook.role, 'Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:instance/*', hosts);
    acknowledgeWildcard(runbook.role, 'Resource::arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:managed-instance/*', hosts);
    this.byName[entry.name] = runbook;
  }

  /** What a console runbook needs to run one of the fleet's documents on a host it names. */
  private runCommandStatements(doc: RunCommandDocument): iam.PolicyStatement[] {
    const stack = Stack.of(this);
    return [
      new iam.PolicyStatement({ actions: ['ssm:SendCommand'], resources: [doc.documentArn] }),
      new iam.PolicyStatement({
        actions: ['ssm:SendCommand'],
        resources: [Arn.format({ service: 'ec2', resource: 'instance', resourceName: '*' }, stack), Arn.format({ service: 'ssm', resource: 'managed-instance', resourceName: '*' }, stack)],
        conditions: { StringEquals: { [`ssm:resourceTag/${FLEET_TAG_KEY}`]: this.fleet.fleet } },
      }),
      new iam.PolicyStatement({ actions: ['ssm:ListCommands', 'ssm:ListCommandInvocations', 'ssm:GetCommandInvocation', 'ssm:DescribeInstanceInformation'], resources: ['*'] }),
    ];
  }
}
