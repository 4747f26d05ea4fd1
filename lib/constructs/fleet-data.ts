import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import * as s3deploy from 'aws-cdk-lib/aws-s3-deployment';
import { Construct } from 'constructs';
import type { Fleet } from '../config/schema.js';
import { FLEET_FILE } from '../runbooks/names.js';
import { fleetSpecs, SPEC_PREFIX } from '../runbooks/spec.js';
import { acknowledgeWildcard, nagArnRef } from './nag.js';

export interface FleetDataProps {
  /** The validated fleet config. */
  readonly fleet: Fleet;
  /** Where the specs go, under specs/v<format>/; hosts read them, never write. */
  readonly bucket: IBucket;
  /** Key of the bucket and of the upload function's logs. */
  readonly key: IKey;
  /** Days to keep the upload function's logs. @default 90 */
  readonly logRetentionDays?: number;
}

/**
 * The config as data. At synth it writes one spec per stack and the normalized config to a
 * directory of files (never to a process argument); at deploy a BucketDeployment puts the
 * specs in the bucket, pruning the specs of stacks that left the config. Functions get the
 * config file in their bundle (configFile).
 */
export class FleetData extends Construct {
  /** The normalized fleet config as JSON, for ShipshapeFunction.configFile. */
  readonly configFile: string;
  /** Hash of the config and specs (hex): changes exactly when they do. */
  readonly configHash: string;
  /** Directory with <stack>.spec files, uploaded under specs/v1/. */
  readonly specDir: string;
  readonly deployment: s3deploy.BucketDeployment;
  private readonly bucket: IBucket;
  private readonly key: IKey;

  constructor(scope: Construct, id: string, props: FleetDataProps) {
    super(scope, id);
    this.bucket = props.bucket;
    this.key = props.key;
    const specs = fleetSpecs(props.fleet);
    const config = JSON.stringify(props.fleet);
    const hash = createHash('sha256');
    hash.update(config);
    for (const [k, v] of specs) hash.update(`\0${k}\0${v}`);
    this.configHash = hash.digest('hex').slice(0, 16);
    const root = join(tmpdir(), `shipshape-data-${this.configHash}`);
    this.configFile = join(root, 'config', FLEET_FILE);
    this.specDir = join(root, 'specs');
    if (!existsSync(join(root, 'done'))) {
      mkdirSync(join(root, 'config'), { recursive: true });
      mkdirSync(this.specDir, { recursive: true });
      writeFileSync(this.configFile, config);
      // Flat in the asset; destinationKeyPrefix adds specs/v1/.
      for (const [key, text] of specs) writeFileSync(join(this.specDir, key.slice(SPEC_PREFIX.length)), text);
      writeFileSync(join(root, 'done'), '');
    }

    const logGroup = new logs.LogGroup(this, 'UploadLogs', { retention: (props.logRetentionDays ?? 90) as logs.RetentionDays, encryptionKey: props.key });
    const role = new iam.Role(this, 'UploadRole', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'), description: 'shipshape: uploads stack specs to the output bucket (BucketDeployment)' });
    role.addToPolicy(new iam.PolicyStatement({ actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [logGroup.logGroupArn, `${logGroup.logGroupArn}:*`] }));
    this.deployment = new s3deploy.BucketDeployment(this, 'Specs', {
      sources: [s3deploy.Source.asset(this.specDir)],
      destinationBucket: props.bucket,
      destinationKeyPrefix: SPEC_PREFIX,
      prune: true,
      extract: true,
      role,
      logGroup,
      memoryLimit: 256,
      serverSideEncryption: s3deploy.ServerSideEncryption.AWS_KMS,
      serverSideEncryptionAwsKmsKeyId: props.key.keyId,
      contentType: 'text/plain; charset=utf-8',
    });
    acknowledgeWildcard(role, `Resource::${nagArnRef(logGroup)}:*`, "Log streams are created at run time; the grant is limited to this function's own log group.");
    acknowledgeWildcard(role, 'Action::s3:GetBucket*', 'BucketDeployment reads the CDK asset bucket and the output bucket with the actions CDK grants it.');
    acknowledgeWildcard(role, 'Action::s3:GetObject*', 'BucketDeployment reads the CDK asset bucket and the output bucket with the actions CDK grants it.');
    acknowledgeWildcard(role, 'Action::s3:List*', 'BucketDeployment lists the destination prefix to prune specs of stacks that left the config.');
    acknowledgeWildcard(role, 'Action::s3:DeleteObject*', 'BucketDeployment deletes specs of stacks that left the config, under specs/ only.');
    acknowledgeWildcard(role, 'Action::s3:Abort*', 'BucketDeployment aborts its own failed uploads.');
    acknowledgeWildcard(role, 'Action::kms:ReEncrypt*', 'BucketDeployment writes KMS-encrypted specs with the fleet key (CDK grantReadWrite on the key).');
    acknowledgeWildcard(role, 'Action::kms:GenerateDataKey*', 'BucketDeployment writes KMS-encrypted specs with the fleet key (CDK grantReadWrite on the key).');
    acknowledgeWildcard(role, 'Resource::arn:<AWS::Partition>:s3:::cdk-hnb659fds-assets-<AWS::AccountId>-<AWS::Region>/*', 'BucketDeployment reads the spec archive from the CDK asset bucket, whose object names are content hashes.');
    acknowledgeWildcard(role, `Resource::${nagArnRef(props.bucket)}/*`, 'CDK grants BucketDeployment the destination bucket; it writes and prunes under specs/ only (destinationKeyPrefix).');
    // The handler function is a stack-level singleton of aws-cdk-lib.
    for (const child of Stack.of(this).node.children) {
      if (child.node.id.startsWith('Custom::CDKBucketDeployment')) {
        Validations.of(child).acknowledge({ id: 'AwsSolutions-L1', reason: 'The BucketDeployment handler runtime is chosen by aws-cdk-lib; it runs only at deploy time.' });
      }
    }
  }

  /** Hosts read specs (the SSM agent's aws:downloadContent lists the key, then gets it); nothing lets them write one. */
  grantHostRead(grantee: iam.IGrantable): iam.Grant {
    const read = iam.Grant.addToPrincipal({ grantee, actions: ['s3:GetObject'], resourceArns: [this.bucket.arnForObjects(`${SPEC_PREFIX}*`)] });
    iam.Grant.addToPrincipal({ grantee, actions: ['s3:ListBucket'], resourceArns: [this.bucket.bucketArn], conditions: { StringLike: { 's3:prefix': [`${SPEC_PREFIX}*`] } } });
    iam.Grant.addToPrincipal({ grantee, actions: ['kms:Decrypt'], resourceArns: [this.key.keyArn] });
    return read;
  }
}
