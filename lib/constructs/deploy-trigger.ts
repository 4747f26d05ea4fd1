import { RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import { acknowledgeWildcard, nagArnRef } from './nag.js';

export interface DeployTriggerProps {
  /** The dispatcher: it receives { trigger: 'deploy', runbook, deployId }. */
  readonly dispatcher: IFunction;
  /** The runbook to run on every stack after a deploy that changed the config. */
  readonly runbook: string;
  /** Changes when the deployed config changes (a hash of it): the trigger runs once per such deploy. */
  readonly deployId: string;
  /** Encrypts the handler's log group. */
  readonly logKey: IKey;
  /** Days to keep the handler's logs. @default 90 */
  readonly logRetentionDays?: number;
}

/**
 * Runs a runbook on every stack once after each deploy that changes the fleet config (the
 * preflight: the config is checked against the hosts before the first 2 a.m. backup finds out).
 * An asynchronous invoke of the dispatcher: the deploy never waits for hosts.
 */
export class DeployTrigger extends Construct {
  constructor(scope: Construct, id: string, props: DeployTriggerProps) {
    super(scope, id);
    if (!/^[0-9a-f]{8,64}$/.test(props.deployId)) throw new Error(`DeployTrigger deployId must be 8 to 64 hex characters, got "${props.deployId}"`);
    const call: cr.AwsSdkCall = {
      service: 'Lambda',
      action: 'invoke',
      parameters: { FunctionName: props.dispatcher.functionName, InvocationType: 'Event', Payload: JSON.stringify({ trigger: 'deploy', runbook: props.runbook, deployId: props.deployId }) },
      physicalResourceId: cr.PhysicalResourceId.of(`${props.runbook}-${props.deployId}`),
    };
    // An explicit role and log group instead of AWS managed policies.
    const logGroup = new logs.LogGroup(this, 'Logs', { retention: (props.logRetentionDays ?? 90) as logs.RetentionDays, encryptionKey: props.logKey, removalPolicy: RemovalPolicy.DESTROY });
    const role = new iam.Role(this, 'Role', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'), description: 'shipshape: invokes the dispatcher once after a deploy (preflight)' });
    role.addToPolicy(new iam.PolicyStatement({ actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [logGroup.logGroupArn, `${logGroup.logGroupArn}:*`] }));
    role.addToPolicy(new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [props.dispatcher.functionArn] }));
    acknowledgeWildcard(role, `Resource::${nagArnRef(logGroup)}:*`, "Log streams are created at run time; the grant is limited to this handler's own log group.");
    new cr.AwsCustomResource(this, 'Invoke', {
      onCreate: call,
      onUpdate: call,
      role,
      logGroup,
      installLatestAwsSdk: false,
    });
    // The custom resource's handler is a stack-level singleton of aws-cdk-lib.
    for (const child of Stack.of(this).node.children) {
      if (child.node.id.startsWith('AWS679f53fac002430cb0da5b7982bd2287')) {
        Validations.of(child).acknowledge({ id: 'AwsSolutions-L1', reason: 'The AwsCustomResource handler runtime is chosen by aws-cdk-lib; it runs only at deploy time.' });
      }
    }
  }
}
