import { Stack, Validations, type CfnElement } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/** `<LogicalId.Arn>`, the way cdk-nag prints a resource's ARN in finding IDs. */
export function nagArnRef(resource: IConstruct): string {
  const stack = Stack.of(resource);
  const cfn = (resource.node.defaultChild ?? resource) as CfnElement;
  return `<${stack.resolve(stack.getLogicalId(cfn))}.Arn>`;
}

/** Acknowledges one IAM5 wildcard finding (resource or action), with its reason, on `scope`. */
export function acknowledgeWildcard(scope: IConstruct, finding: `Resource::${string}` | `Action::${string}`, reason: string): void {
  Validations.of(scope).acknowledge({ id: `AwsSolutions-IAM5[${finding}]`, reason });
}
