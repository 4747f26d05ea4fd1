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
  /** The function the runbook invokes. */
  readonly target: IFunction;
  /** JSON payload with {{ Parameter }} references; parameters must not allow quotes or backslashes. */
  readonly payload: Record<string, string>;
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
    this.role.addToPolicy(new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [props.target.functionArn] }));
    const payload = JSON.stringify(props.payload);
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
        mainSteps: [
          {
            name: 'Invoke',
            action: 'aws:invokeLambdaFunction',
            maxAttempts: 1,
            timeoutSeconds: 300,
            inputs: { FunctionName: props.target.functionName, InvocationType: 'RequestResponse', Payload: payload },
            outputs: [{ Name: 'Result', Selector: '$.Payload', Type: 'String' }],
          },
        ],
        outputs: ['Invoke.Result'],
      },
    });
  }

  get documentName(): string {
    return this.document.ref;
  }
}
