import { CfnResource } from 'aws-cdk-lib';

/** Record a checkov skip, with its reason, in the resource's CloudFormation Metadata. */
export function skipCheckov(resource: CfnResource, id: string, comment: string): void {
  const skips = (resource.getMetadata('checkov')?.skip ?? []) as { id: string; comment: string }[];
  resource.addMetadata('checkov', { skip: [...skips, { id, comment }] });
}
