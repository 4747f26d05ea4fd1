import * as iam from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import { FLEET_TAG_KEY } from '../config/schema.js';

export interface RunbookParameter {
  readonly description: string;
  readonly allowedValues?: string[];
  readonly allowedPattern?: string;
  readonly default?: string;
}

export interface AutomationRunbookProps {
  /** What a newcomer reads in the console before starting it. */
  readonly description: string;
  /** Parameters, each validated by allowedValues or allowedPattern. */
  readonly parameters: Record<string, RunbookParameter>;
  /** What it does: invoke one of the fleet's functions, or run a Command document on a host. */
  readonly action:
    | { readonly invoke: IFunction; readonly payload: Record<string, string>; /** @default 300 */ readonly timeoutSeconds?: number }
    | { readonly runCommand: { readonly documentName: string; readonly instanceParameter: string; readonly parameters: Record<string, string>; readonly comment: string; readonly outputBucket: string; readonly timeoutSeconds: number }; readonly statements: iam.PolicyStatement[] };
  /** Who must approve before it runs; empty for none. @default - no approval */
  readonly approvers?: readonly string[];
  readonly fleet: string;
}

/**
 * A console runbook (SSM Automation, under Systems Manager > Automation) that validates its
 * parameters and invokes one of the fleet's functions, so console runs land in the same
 * run history and alert flow as scheduled ones.
 */
export class AutomationRunbook extends Construct {
  readonly document: ssm.CfnDocument;
  readonly role: iam.Role;

  constructor(scope: Construct, id: string, props: AutomationRunbookProps) {
    super(scope, id);
    for (const [name, p] of Object.entries(props.parameters)) {
      if (!p.allowedValues && !p.allowedPattern) throw new Error(`runbook parameter ${name} needs allowedValues or allowedPattern`);
      if (p.allowedPattern && !(p.allowedPattern.startsWith('^') && p.allowedPattern.endsWith('$'))) {
        throw new Error(`runbook parameter ${name} pattern must be anchored with ^ and $, got ${p.allowedPattern}`);
      }
    }
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('ssm.amazonaws.com'),
      description: `shipshape ${props.fleet}: console runbook ${id}`,
    });
    const a = props.action;
    let step: Record<string, unknown>;
    if ('invoke' in a) {
      this.role.addToPolicy(new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [a.invoke.functionArn] }));
      step = {
        name: 'Invoke', action: 'aws:invokeLambdaFunction', maxAttempts: 1, timeoutSeconds: a.timeoutSeconds ?? 300,
        inputs: { FunctionName: a.invoke.functionName, InvocationType: 'RequestResponse', Payload: JSON.stringify(a.payload) },
        outputs: [{ Name: 'Result', Selector: '$.Payload', Type: 'String' }],
      };
    } else {
      for (const st of a.statements) this.role.addToPolicy(st);
      const rc = a.runCommand;
      step = {
        name: 'Run', action: 'aws:runCommand', maxAttempts: 1, timeoutSeconds: rc.timeoutSeconds,
        inputs: {
          DocumentName: rc.documentName, InstanceIds: [`{{ ${rc.instanceParameter} }}`], Parameters: Object.fromEntries(Object.entries(rc.parameters).map(([k, v]) => [k, [v]])),
          Comment: rc.comment, OutputS3BucketName: rc.outputBucket, OutputS3KeyPrefix: 'command-output/console', TimeoutSeconds: 600,
        },
      };
    }
    const approve = props.approvers?.length
      ? [{ name: 'Approve', action: 'aws:approve', timeoutSeconds: 86400, onFailure: 'Abort',
          inputs: { Approvers: [...props.approvers], MinRequiredApprovals: 1, Message: `Approve ${id} (${props.fleet}): ${props.description.slice(0, 300)}` } }]
      : [];
    this.document = new ssm.CfnDocument(this, 'Document', {
      documentType: 'Automation',
      documentFormat: 'JSON',
      tags: [{ key: FLEET_TAG_KEY, value: props.fleet }],
      content: {
        schemaVersion: '0.3',
        description: props.description,
        assumeRole: '{{ AutomationAssumeRole }}',
        parameters: {
          AutomationAssumeRole: {
            type: 'String',
            description: 'Role the runbook runs as; the default is the one shipshape created for it.',
            default: this.role.roleArn,
            allowedPattern: '^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]+$',
          },
          ...Object.fromEntries(Object.entries(props.parameters).map(([name, p]) => [name, { type: 'String', ...p }])),
        },
        mainSteps: [...approve, step],
        ...('invoke' in a ? { outputs: ['Invoke.Result'] } : {}),
      },
    });
  }

  get documentName(): string {
    return this.document.ref;
  }
}
