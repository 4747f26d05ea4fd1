import { Arn, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct, type IConstruct } from 'constructs';
import { acknowledgeWildcard } from './nag.js';
import { FLEET_TAG_KEY } from '../config/schema.js';

/** The document target type that admits EC2 instances and hybrid managed nodes. */
export const RUN_COMMAND_TARGET_TYPE = '/';

export interface RunCommandDocumentProps {
  /** Document content (schema 2.2), e.g. from lib/runbooks/. */
  readonly content: Record<string, unknown>;
  /** Fleet whose hosts (tag shipshape:fleet=<fleet>) may receive this document. */
  readonly fleet: string;
}

/**
 * An SSM Command document with a generated name, so that content changes deploy as a
 * replacement instead of failing on a fixed name.
 */
export class RunCommandDocument extends Construct {
  readonly document: ssm.CfnDocument;
  readonly fleet: string;

  constructor(scope: Construct, id: string, props: RunCommandDocumentProps) {
    super(scope, id);
    if (props.content.schemaVersion !== '2.2') throw new Error(`RunCommandDocument needs schemaVersion "2.2", got ${JSON.stringify(props.content.schemaVersion)}`);
    this.fleet = props.fleet;
    this.document = new ssm.CfnDocument(this, 'Document', {
      documentType: 'Command',
      documentFormat: 'JSON',
      // "/" admits every resource type: EC2 instances (i-…) and hybrid managed nodes (mi-…, resource
      // type AWS::SSM::ManagedInstance) alike. "/AWS::EC2::Instance" names EC2 instances only. Source:
      // SSM API reference, CreateDocument, TargetType ("If you specify a value of '/' the document can
      // run on all types of resources"). SendCommand stays limited to the fleet's tag (grantSendCommand).
      targetType: RUN_COMMAND_TARGET_TYPE,
      content: props.content,
      tags: [{ key: FLEET_TAG_KEY, value: props.fleet }],
    });
  }

  get documentName(): string {
    return this.document.ref;
  }

  get documentArn(): string {
    return Arn.format({ service: 'ssm', resource: 'document', resourceName: this.documentName }, Stack.of(this));
  }

  /**
   * Allows SendCommand with this document, only on instances and managed nodes that carry
   * the fleet tag; plus reading the invocations back.
   */
  grantSendCommand(grantee: iam.IGrantable): iam.Grant {
    const stack = Stack.of(this);
    const toDocument = iam.Grant.addToPrincipal({ grantee, actions: ['ssm:SendCommand'], resourceArns: [this.documentArn] });
    const toHosts = iam.Grant.addToPrincipal({
      grantee,
      actions: ['ssm:SendCommand'],
      resourceArns: [
        Arn.format({ service: 'ec2', resource: 'instance', resourceName: '*' }, stack),
        Arn.format({ service: 'ssm', resource: 'managed-instance', resourceName: '*' }, stack),
      ],
      conditions: { StringEquals: { [`ssm:resourceTag/${FLEET_TAG_KEY}`]: this.fleet } },
    });
    for (const kind of ['ec2:<AWS::Region>:<AWS::AccountId>:instance', 'ssm:<AWS::Region>:<AWS::AccountId>:managed-instance']) {
      acknowledgeWildcard(grantee.grantPrincipal as unknown as IConstruct, `Resource::arn:<AWS::Partition>:${kind}/*`,
        `Hosts are chosen by tag at run time; the condition ssm:resourceTag/${FLEET_TAG_KEY}=${this.fleet} limits SendCommand to this fleet's hosts.`);
    }
    return toDocument.combine(toHosts);
  }
}
