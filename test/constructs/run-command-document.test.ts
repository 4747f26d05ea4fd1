/**
 * Command documents run on EC2 instances and on hybrid managed nodes (mi-…) alike. SSM's
 * CreateDocument reference: TargetType "/AWS::EC2::Instance" limits a document to EC2 instances;
 * "If you specify a value of '/' the document can run on all types of resources".
 */
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import { describe, expect, it } from 'vitest';
import { RUN_COMMAND_TARGET_TYPE, RunCommandDocument } from '../../lib/constructs/run-command-document.js';

function template() {
  // Without the built-in CloudFormation validation, which only warns (see test/support/synth.ts).
  const stack = new Stack(new App({ builtinCloudFormationValidation: false }), 'T', { env: { account: '123456789012', region: 'eu-central-1' } });
  const doc = new RunCommandDocument(stack, 'Doc', { fleet: 'demo', content: { schemaVersion: '2.2', description: 'd', mainSteps: [] } });
  doc.grantSendCommand(new iam.Role(stack, 'Sender', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') }));
  return Template.fromStack(stack);
}

describe('RunCommandDocument', () => {
  it('admits EC2 instances and hybrid managed nodes: target type "/"', () => {
    // Act
    const t = template();
    // Assess
    expect(RUN_COMMAND_TARGET_TYPE).toBe('/');
    t.hasResourceProperties('AWS::SSM::Document', { DocumentType: 'Command', TargetType: '/' });
  });

  it('lets SendCommand reach both kinds of node, only with the fleet tag', () => {
    // Act
    const statements = Object.values(template().findResources('AWS::IAM::Policy')).flatMap((p) => p.Properties.PolicyDocument.Statement);
    // Assess
    const onHosts = statements.find((s) => s.Condition);
    expect(JSON.stringify(onHosts.Resource)).toContain(':instance/*');
    expect(JSON.stringify(onHosts.Resource)).toContain(':managed-instance/*');
    expect(onHosts.Condition).toEqual({ StringEquals: { 'ssm:resourceTag/shipshape:fleet': 'demo' } });
  });
});
