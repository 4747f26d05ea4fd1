import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';

export interface SecureBucketProps {
  /** Key for default encryption. */
  readonly encryptionKey: IKey;
  /** Objects under these prefixes expire after `expireAfter`. @default - nothing expires */
  readonly expiringPrefixes?: string[];
  /** @default - 30 days */
  readonly expireAfter?: Duration;
  /** @default - RETAIN: a bucket with history is never deleted by a stack update */
  readonly removalPolicy?: RemovalPolicy;
  /** Storage class changes for current objects. @default - none */
  readonly transitions?: s3.Transition[];
  /** Keep noncurrent versions this long. @default - 30 days */
  readonly noncurrentVersionExpiration?: Duration;
  /** Object Lock default retention. @default - no Object Lock */
  readonly objectLock?: { readonly mode: 'governance' | 'compliance'; readonly days: number };
}

/**
 * A private bucket: KMS encryption, versioning, public access blocked, TLS enforced,
 * and server access logs to a sibling bucket.
 */
export class SecureBucket extends Construct {
  readonly bucket: s3.Bucket;
  readonly accessLogs: s3.Bucket;

  constructor(scope: Construct, id: string, props: SecureBucketProps) {
    super(scope, id);
    const expireAfter = props.expireAfter ?? Duration.days(30);
    if (expireAfter.toDays() < 1) throw new Error(`SecureBucket expireAfter must be at least 1 day, got ${expireAfter.toHumanString()}`);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;

    // Server access logs cannot be delivered to a KMS-encrypted bucket: SSE-S3 here.
    this.accessLogs = new s3.Bucket(this, 'AccessLogs', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [{ expiration: Duration.days(365) }],
      removalPolicy,
    });
    Validations.of(this.accessLogs).acknowledge({
      id: 'AwsSolutions-S1',
      reason: 'This is the access-log bucket itself; logging it into itself would loop.',
    });

    this.bucket = new s3.Bucket(this, 'Bucket', {
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: props.encryptionKey,
      bucketKeyEnabled: true,
      versioned: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      serverAccessLogsBucket: this.accessLogs,
      serverAccessLogsPrefix: 'access-logs/',
      lifecycleRules: [
        { id: 'AbortIncompleteUploads', abortIncompleteMultipartUploadAfter: Duration.days(7) },
        { id: 'ExpireNoncurrent', noncurrentVersionExpiration: props.noncurrentVersionExpiration ?? Duration.days(30) },
        ...(props.transitions?.length ? [{ id: 'Transitions', transitions: props.transitions }] : []),
        ...(props.expiringPrefixes ?? []).map((prefix, i) => ({ id: `Expire${i}`, prefix, expiration: expireAfter })),
      ],
      removalPolicy,
      ...(props.objectLock
        ? {
            objectLockEnabled: true,
            objectLockDefaultRetention: props.objectLock.mode === 'compliance'
              ? s3.ObjectLockRetention.compliance(Duration.days(props.objectLock.days))
              : s3.ObjectLockRetention.governance(Duration.days(props.objectLock.days)),
          }
        : {}),
    });
  }
}
