import { Stack } from 'aws-cdk-lib';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import type { Fleet } from '../config/schema.js';
import { commandDocumentContent, type RunbookDeclaration } from '../runbooks/document.js';
import { BACKUP_PREFIX } from '../runbooks/names.js';
import { fleetRunbooks } from '../runbooks/registry.js';
import { RunCommandDocument } from './run-command-document.js';

export interface RunbookDocumentsProps {
  readonly fleet: Fleet;
  /** The bucket holding specs/ (FleetData). */
  readonly specBucket: IBucket;
  /** The backup bucket, for runbooks that use it. */
  readonly backupBucket: IBucket;
}

const pascal = (name: string) => name.split('-').map((p) => p.charAt(0).toUpperCase() + p.slice(1)).join('');

/**
 * One generic Command document per runbook the fleet uses, from lib/runbooks/registry.ts.
 * Content does not depend on the stacks: a new stack is data (its spec), not document text.
 */
export class RunbookDocuments extends Construct {
  /** Runbook name to document. */
  readonly byRunbook: Readonly<Record<string, RunCommandDocument>>;
  readonly declarations: readonly RunbookDeclaration[];

  constructor(scope: Construct, id: string, props: RunbookDocumentsProps) {
    super(scope, id);
    this.declarations = fleetRunbooks(props.fleet);
    const env = {
      specBucketDomain: props.specBucket.bucketRegionalDomainName,
      backupBucket: props.backupBucket.bucketName,
      backupPrefix: BACKUP_PREFIX,
      region: Stack.of(this).region,
    };
    const byRunbook: Record<string, RunCommandDocument> = {};
    for (const decl of this.declarations) {
      byRunbook[decl.name] = new RunCommandDocument(this, `${pascal(decl.name)}Document`, {
        content: commandDocumentContent(decl, props.fleet.fleet, env),
        fleet: props.fleet.fleet,
      });
    }
    this.byRunbook = byRunbook;
  }

  /** Runbook name to document name (a token), e.g. for SHIPSHAPE_DOCUMENTS. */
  get names(): Record<string, string> {
    return Object.fromEntries(Object.entries(this.byRunbook).map(([rb, doc]) => [rb, doc.documentName]));
  }

  /** SendCommand with these documents (all by default), only to hosts with the fleet tag. */
  grantSendCommand(grantee: iam.IGrantable, runbooks: readonly string[] = Object.keys(this.byRunbook)): iam.Grant {
    const grants = runbooks.flatMap((rb) => (this.byRunbook[rb] ? [this.byRunbook[rb]!.grantSendCommand(grantee)] : []));
    if (!grants.length) throw new Error(`RunbookDocuments.grantSendCommand: none of ${runbooks.join(', ')} is a document of this fleet`);
    return grants.reduce((a, b) => a.combine(b));
  }
}
