import { Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { Fleet } from '../config/schema.js';
import { BACKUP_PREFIX } from '../runbooks/names.js';
import type { FleetSchedules } from './fleet-schedules.js';
import { ShipshapeFunction } from './function.js';
import { acknowledgeWildcard, nagArnRef } from './nag.js';
import { SecureBucket } from './secure-bucket.js';

export interface BackupStorageProps {
  readonly fleet: Fleet;
  readonly key: IKey;
}

/** The backup bucket: versioned, transitions, optional Object Lock. Retention comes with addRetention. */
export class BackupStorage extends Construct {
  readonly backups: SecureBucket;
  retention?: ShipshapeFunction;
  private readonly fleet: Fleet;

  constructor(scope: Construct, id: string, props: BackupStorageProps) {
    super(scope, id);
    this.fleet = props.fleet;
    const storage = props.fleet.backupStorage;
    this.backups = new SecureBucket(this, 'Backups', {
      encryptionKey: props.key,
      noncurrentVersionExpiration: Duration.days(storage.noncurrentDays),
      transitions: [
        { storageClass: s3.StorageClass.INFREQUENT_ACCESS, transitionAfter: Duration.days(storage.infrequentAccessAfterDays) },
        { storageClass: s3.StorageClass.GLACIER_INSTANT_RETRIEVAL, transitionAfter: Duration.days(storage.glacierAfterDays) },
      ],
      ...(storage.objectLock ? { objectLock: storage.objectLock } : {}),
    });
  }

  get bucket(): s3.IBucket {
    return this.backups.bucket;
  }

  /** The daily retention function: deletes runs outside the rules, never the last verified one. */
  addRetention(props: { configFile: string; deadLetterQueue: IQueue; logKey: IKey; schedules: FleetSchedules }): ShipshapeFunction {
    const fleet = this.fleet;
    const retention = new ShipshapeFunction(this, 'Retention', {
      entry: 'retention',
      configFile: props.configFile,
      description: `shipshape ${fleet.fleet}: deletes backups outside the retention rules, never the last verified one`,
      timeout: Duration.minutes(15),
      logKey: props.logKey,
      deadLetterQueue: props.deadLetterQueue,
      logRetentionDays: fleet.defaults.logRetentionDays,
      environment: { SHIPSHAPE_FLEET_NAME: fleet.fleet, SHIPSHAPE_DOCUMENTS: '{}', SHIPSHAPE_BACKUP_BUCKET: this.bucket.bucketName },
    });
    retention.role.addToPolicy(new iam.PolicyStatement({
      sid: 'ListBackups', actions: ['s3:ListBucket'], resources: [this.bucket.bucketArn], conditions: { StringLike: { 's3:prefix': [`${BACKUP_PREFIX}/*`] } },
    }));
    retention.role.addToPolicy(new iam.PolicyStatement({ sid: 'DeleteOldBackups', actions: ['s3:DeleteObject'], resources: [this.bucket.arnForObjects(`${BACKUP_PREFIX}/*`)] }));
    acknowledgeWildcard(retention.role, `Resource::${nagArnRef(this.bucket)}/${BACKUP_PREFIX}/*`,
      'Retention deletes whole runs under backups/<stack>/<host>/<time>/, known only at run time; the plan never deletes the last verified run.');
    acknowledgeWildcard(Stack.of(this), `Resource::${nagArnRef(retention.function)}:*`,
      'EventBridge Scheduler invokes the retention function and its versions; the grant names this one function.');
    props.schedules.add('RetentionDaily', {
      schedule: { cron: '30 4 * * ? *', timezone: 'UTC', enabled: true },
      target: retention.function,
      payload: { dryRun: false },
      deadLetterQueue: props.deadLetterQueue,
      description: `shipshape ${fleet.fleet}: backup retention`,
    });
    this.retention = retention;
    return retention;
  }

  /** What hosts may do here: add backups and read them for restores; never delete one. */
  grantHostAccess(grantee: iam.IGrantable): iam.Grant {
    const objects = [this.bucket.arnForObjects(`${BACKUP_PREFIX}/*`)];
    return iam.Grant.addToPrincipal({ grantee, actions: ['s3:PutObject', 's3:AbortMultipartUpload', 's3:GetObject'], resourceArns: objects })
      .combine(iam.Grant.addToPrincipal({ grantee, actions: ['s3:ListBucket'], resourceArns: [this.bucket.bucketArn], conditions: { StringLike: { 's3:prefix': [`${BACKUP_PREFIX}/*`] } } }));
  }
}
