import { Role } from 'aws-cdk-lib/aws-iam';
import { DockerImageFunction } from 'aws-cdk-lib/aws-lambda';
import { Alarms } from '../alarms.js';
import { FunctionConfig } from '../config.js';

/** The stack's parts a trigger (this folder's other module) builds on. */
export interface TriggerProps {
  readonly fn: DockerImageFunction;
  readonly role: Role;
  readonly config: FunctionConfig;
  /** Where the trigger adds its own alarms. */
  readonly alarms: Alarms;
}
