import * as iam from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import type { BackupStorage } from './backup-storage.js';
import type { FleetData } from './fleet-data.js';
import { acknowledgeWildcard, nagArnRef } from './nag.js';
import { BACKUP_PREFIX } from '../runbooks/names.js';
import { SPEC_PREFIX } from '../runbooks/spec.js';
import { OUTPUT_PREFIX_REASON } from './result-processing.js';

export interface HostAccessProps {
  readonly fleet: string;
  readonly key: IKey;
  readonly outputBucket: IBucket;
  readonly data: FleetData;
  readonly backups: BackupStorage;
}

/**
 * The one managed policy every host's instance role (or hybrid activation role) attaches next to
 * AmazonSSMManagedInstanceCore: write command output, read its stack spec, add and read backups.
 * Nothing lets a host delete a backup or write a spec.
 */
export class HostAccess extends Construct {
  readonly policy: iam.ManagedPolicy;

  constructor(scope: Construct, id: string, props: HostAccessProps) {
    super(scope, id);
    this.policy = new iam.ManagedPolicy(this, 'HostPolicy', {
      description: `shipshape ${props.fleet}: attach to the instance role of every host, next to AmazonSSMManagedInstanceCore`,
      statements: [
        new iam.PolicyStatement({ sid: 'WriteCommandOutput', actions: ['s3:PutObject'], resources: [props.outputBucket.arnForObjects('command-output/*')] }),
        new iam.PolicyStatement({ sid: 'EncryptCommandOutput', actions: ['kms:GenerateDataKey', 'kms:Encrypt'], resources: [props.key.keyArn] }),
      ],
    });
    props.data.grantHostRead(this.policy);
    props.backups.grantHostAccess(this.policy);
    acknowledgeWildcard(this.policy, `Resource::${nagArnRef(props.backups.bucket)}/${BACKUP_PREFIX}/*`,
      'Hosts write new backup objects under backups/<stack>/<host>/<time>/ and read them for restores; per-host scoping is not expressible for hybrid nodes, and hosts get no delete.');
    acknowledgeWildcard(this.policy, `Resource::${nagArnRef(props.outputBucket)}/command-output/*`, OUTPUT_PREFIX_REASON);
    acknowledgeWildcard(this.policy, `Resource::${nagArnRef(props.outputBucket)}/${SPEC_PREFIX}*`, 'Hosts read the spec of their stack, chosen by the document parameter at run time; read only.');
  }
}
