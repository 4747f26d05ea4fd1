import { Duration, NestedStack, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { AppSecret, Fleet, Stack as FleetStackConfig } from '../config/schema.js';
import { SECRET_GRACE_END } from '../results/secret-grace.js';
import { APPLY_SECRET, HEALTH_CHECK, secretName } from '../runbooks/names.js';
import type { FleetSchedules } from './fleet-schedules.js';
import { ShipshapeFunction } from './function.js';
import { acknowledgeWildcard, nagArnRef } from './nag.js';
import type { RunbookDocuments } from './runbook-documents.js';

export interface SecretRotationProps {
  readonly fleet: Fleet;
  readonly configFile: string;
  readonly key: IKey;
  readonly deadLetterQueue: IQueue;
  readonly topic: ITopic;
  readonly outputBucket: IBucket;
  readonly documents: RunbookDocuments;
  /**
   * Secrets created in the parent template up to this count; more go to nested stacks of this
   * many each, so every template keeps 20 % headroom under CloudFormation's 500 resources. @default 50
   */
  readonly secretsPerTemplate?: number;
  /**
   * The fleet's schedules: one hourly sweep (grace periods that ended, rotations abandoned half
   * way) for the whole fleet, whatever the number of secrets. @default - no sweep
   */
  readonly schedules?: FleetSchedules;
}

/** How often the sweep runs: grace periods end at most this late. */
export const SWEEP_RATE = '1 hour';

/** Tag on secrets and host roles that ties a secret to its stack (ABAC). */
export const STACK_TAG_KEY = 'shipshape:stack';
export const FLEET_TAG = 'shipshape:fleet';

const pascal = (name: string) => name.split('-').map((p) => p.charAt(0).toUpperCase() + p.slice(1)).join('');

/**
 * Application secrets: created (or adopted) with the fleet key and rotated by one function.
 * Nothing here grows per stack but the secrets themselves: the rotation role and the host
 * policy grant by name prefix and tags (ABAC), and rotation schedules are L1 resources that
 * add no policy statement per secret. Deploys never rotate (RotateImmediatelyOnUpdate false).
 */
export class SecretRotation extends Construct {
  readonly rotation: ShipshapeFunction;
  /** Attach to the instance role of every host that runs a stack with secrets; the role carries the tag shipshape:stack=<stack>. */
  readonly hostPolicy: iam.ManagedPolicy;
  /** Every configured secret as <stack>/<name>. */
  readonly refs: string[];

  private readonly fleetName: string;

  constructor(scope: Construct, id: string, props: SecretRotationProps) {
    super(scope, id);
    const { fleet } = props;
    this.fleetName = fleet.fleet;
    const stack = Stack.of(this);
    this.rotation = new ShipshapeFunction(this, 'Function', {
      entry: 'rotation',
      configFile: props.configFile,
      description: `shipshape ${fleet.fleet}: rotates application secrets and applies them to the hosts`,
      timeout: Duration.minutes(15),
      logKey: props.key,
      deadLetterQueue: props.deadLetterQueue,
      logRetentionDays: fleet.defaults.logRetentionDays,
      environment: {
        SHIPSHAPE_FLEET_NAME: fleet.fleet,
        SHIPSHAPE_DOCUMENTS: stack.toJsonString(props.documents.names),
        SHIPSHAPE_ALERT_TOPIC_ARN: props.topic.topicArn,
        SHIPSHAPE_OUTPUT_BUCKET: props.outputBucket.bucketName,
      },
    });
    const role = this.rotation.role;
    props.documents.grantSendCommand(role, [APPLY_SECRET, HEALTH_CHECK, SECRET_GRACE_END]);
    role.addToPolicy(new iam.PolicyStatement({ sid: 'FollowCommands', actions: ['ssm:ListCommands', 'ssm:ListCommandInvocations', 'ssm:GetCommandInvocation', 'ssm:CancelCommand'], resources: ['*'] }));
    acknowledgeWildcard(role, 'Resource::*', 'Following and, past their time, cancelling the commands it sent (ListCommands, ListCommandInvocations, GetCommandInvocation, CancelCommand) supports no resource-level permissions.');
    props.outputBucket.grantRead(role, 'command-output/*');
    props.topic.grantPublish(role);
    props.key.grantEncryptDecrypt(role);
    const created = `arn:${stack.partition}:secretsmanager:${stack.region}:${stack.account}:secret:shipshape/${fleet.fleet}/*`;
    const manage = ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue', 'secretsmanager:PutSecretValue', 'secretsmanager:UpdateSecretVersionStage', 'secretsmanager:RotateSecret', 'secretsmanager:ListSecretVersionIds'];
    role.addToPolicy(new iam.PolicyStatement({ sid: 'ManageCreatedSecrets', actions: manage, resources: [created] }));
    // Adopted secrets carry the tag shipshape:fleet=<fleet> (README): a tag, not an ARN list that grows with the fleet.
    role.addToPolicy(new iam.PolicyStatement({
      sid: 'ManageAdoptedSecrets', actions: manage, resources: [`arn:${stack.partition}:secretsmanager:${stack.region}:${stack.account}:secret:*`],
      conditions: { StringEquals: { [`secretsmanager:ResourceTag/${FLEET_TAG}`]: fleet.fleet } },
    }));
    // RotateSecret (rotate-secret-now, emergency rotation) requires the caller to be allowed to invoke the rotation function.
    // In a policy of its own: in the role's default policy it would make the function depend on itself.
    new iam.Policy(this, 'InvokeOwnRotation', { roles: [role], statements: [new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [this.rotation.function.functionArn] })] });
    acknowledgeWildcard(role, `Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:shipshape/${fleet.fleet}/*`, `Secrets shipshape creates are named shipshape/${fleet.fleet}/<stack>/<name>; the role manages no other name.`);
    acknowledgeWildcard(role, 'Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:*', `Adopted secrets only with the tag ${FLEET_TAG}=${fleet.fleet} (condition on the statement).`);
    for (const a of ['s3:GetObject*', 's3:GetBucket*', 's3:List*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*']) {
      acknowledgeWildcard(role, `Action::${a}`, 'CDK grantRead/grantEncryptDecrypt: reading command output under command-output/ and using the fleet key for secrets and alerts.');
    }
    acknowledgeWildcard(role, `Resource::${nagArnRef(props.outputBucket)}/command-output/*`, 'SSM names output objects by command and instance at run time; the grant is limited to the command-output/ prefix.');
    this.rotation.function.addPermission('SecretsManagerInvoke', { principal: new iam.ServicePrincipal('secretsmanager.amazonaws.com'), sourceAccount: stack.account });
    // Adopted secrets may be encrypted with a key of their own: GetSecretValue/PutSecretValue need it, through Secrets Manager only.
    const adopted = fleet.stacks.some((st) => st.secrets.some((x) => x.secretArn));
    const viaSecretsManager = { StringEquals: { 'kms:ViaService': `secretsmanager.${stack.region}.amazonaws.com` } };
    const accountKeys = `arn:${stack.partition}:kms:${stack.region}:${stack.account}:key/*`;
    if (adopted) {
      role.addToPolicy(new iam.PolicyStatement({ sid: 'AdoptedSecretKeys', actions: ['kms:Decrypt', 'kms:GenerateDataKey'], resources: [accountKeys], conditions: viaSecretsManager }));
      acknowledgeWildcard(role, 'Resource::arn:<AWS::Partition>:kms:<AWS::Region>:<AWS::AccountId>:key/*', 'An adopted secret may use a key of its own; only through Secrets Manager (kms:ViaService), and the key policy must allow this account.');
    }
    if (props.schedules) {
      props.schedules.add('SecretSweep', {
        schedule: { rate: SWEEP_RATE, timezone: 'UTC', enabled: true },
        target: this.rotation.function,
        payload: { action: 'sweep' },
        deadLetterQueue: props.deadLetterQueue,
        description: `shipshape ${fleet.fleet}: hourly sweep of every secret: ends grace periods (previous values removed from every host and verified) and rolls back rotations abandoned half way`,
      });
      acknowledgeWildcard(stack, `Resource::${nagArnRef(this.rotation.function)}:*`, 'EventBridge Scheduler invokes the rotation function (sweep) and its versions; the grant names this one function.');
    }

    const all: { stack: FleetStackConfig; secret: AppSecret }[] = fleet.stacks.flatMap((st) => st.secrets.map((secret) => ({ stack: st, secret })));
    this.refs = all.map((x) => `${x.stack.name}/${x.secret.name}`);
    const perTemplate = props.secretsPerTemplate ?? 50;
    if (all.length <= perTemplate) {
      for (const x of all) this.addSecret(this, x.stack, x.secret, props.key);
    } else {
      for (let i = 0; i * perTemplate < all.length; i++) {
        const nested = new NestedStack(this, `Secrets${i + 1}`, { description: `shipshape ${fleet.fleet}: application secrets ${i * perTemplate + 1}-${Math.min(all.length, (i + 1) * perTemplate)} and their rotation schedules` });
        for (const x of all.slice(i * perTemplate, (i + 1) * perTemplate)) this.addSecret(nested, x.stack, x.secret, props.key);
      }
    }

    // Hosts read only their own stack's secrets: the role's tag shipshape:stack names the stack.
    this.hostPolicy = new iam.ManagedPolicy(this, 'HostSecretsPolicy', {
      description: `shipshape ${fleet.fleet}: attach to the instance role of hosts with secrets; tag that role ${STACK_TAG_KEY}=<stack> to read that stack's secrets only`,
      statements: [
        new iam.PolicyStatement({
          sid: 'ReadOwnStackSecrets', actions: ['secretsmanager:GetSecretValue'],
          resources: [`arn:${stack.partition}:secretsmanager:${stack.region}:${stack.account}:secret:shipshape/${fleet.fleet}/\${aws:PrincipalTag/${STACK_TAG_KEY}}/*`],
        }),
        new iam.PolicyStatement({
          sid: 'ReadOwnStackAdoptedSecrets', actions: ['secretsmanager:GetSecretValue'],
          resources: [`arn:${stack.partition}:secretsmanager:${stack.region}:${stack.account}:secret:*`],
          conditions: { StringEquals: { [`secretsmanager:ResourceTag/${FLEET_TAG}`]: fleet.fleet, [`secretsmanager:ResourceTag/${STACK_TAG_KEY}`]: `\${aws:PrincipalTag/${STACK_TAG_KEY}}` } },
        }),
        new iam.PolicyStatement({ sid: 'DecryptStackSecrets', actions: ['kms:Decrypt'], resources: [props.key.keyArn], conditions: { StringEquals: { 'kms:ViaService': `secretsmanager.${stack.region}.amazonaws.com` } } }),
        ...(adopted ? [new iam.PolicyStatement({ sid: 'DecryptAdoptedSecrets', actions: ['kms:Decrypt'], resources: [accountKeys], conditions: viaSecretsManager })] : []),
      ],
    });
    if (adopted) acknowledgeWildcard(this.hostPolicy, 'Resource::arn:<AWS::Partition>:kms:<AWS::Region>:<AWS::AccountId>:key/*', 'An adopted secret may use a key of its own; decrypt only through Secrets Manager (kms:ViaService), for secrets the statements above allow.');
    acknowledgeWildcard(this.hostPolicy, `Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:shipshape/${fleet.fleet}/<aws:PrincipalTag/${STACK_TAG_KEY}>/*`,
      `The host role's own tag ${STACK_TAG_KEY} picks the stack; one policy serves every stack.`);
    acknowledgeWildcard(this.hostPolicy, 'Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:*',
      `Adopted secrets only when tagged with this fleet and the host role's own stack (conditions on the statement).`);
  }

  private addSecret(scope: Construct, st: FleetStackConfig, cfg: AppSecret, key: IKey): void {
    const id = `Secret${pascal(st.name)}${pascal(cfg.name)}`;
    const fleet = this.fleetName;
    let secretArn = cfg.secretArn;
    if (!secretArn) {
      const secret = new secretsmanager.CfnSecret(scope, id, {
        name: secretName(fleet, st.name, cfg.name),
        description: `shipshape ${fleet}/${st.name}: ${cfg.file ?? `${cfg.variable} in ${cfg.envFile}`}`,
        kmsKeyId: key.keyArn,
        // The first value only has to be safe in an env file; the first rotation replaces it.
        generateSecretString: { passwordLength: 64, excludePunctuation: true, includeSpace: false },
        tags: [{ key: FLEET_TAG, value: fleet }, { key: STACK_TAG_KEY, value: st.name }],
      });
      secretArn = secret.ref;
    }
    new secretsmanager.CfnRotationSchedule(scope, `${id}Rotation`, {
      secretId: secretArn,
      rotationLambdaArn: this.rotation.function.functionArn,
      rotationRules: { scheduleExpression: `rate(${cfg.rotationDays} ${cfg.rotationDays === 1 ? 'day' : 'days'})` },
      // A deploy never rotates: hosts may not be tagged or allowed yet (README, "first deploy").
      rotateImmediatelyOnUpdate: false,
    });
  }
}
