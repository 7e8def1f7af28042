import { CfnResource, Duration, Stack, Validations } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, IMetric, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { DockerImageFunction } from 'aws-cdk-lib/aws-lambda';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import { skipCheckov } from './checkov.js';
import { FunctionConfig } from './config.js';

/** The period every alarm judges; one period out of one makes it fire. */
export const ALARM_PERIOD = Duration.minutes(5);

export interface AlarmProps {
  /** Appended to the function's name: the alarm's name. */
  readonly suffix: string;
  readonly description: string;
  /** With its statistic and ALARM_PERIOD. */
  readonly metric: IMetric;
  readonly threshold: number;
  readonly comparison: ComparisonOperator;
}

/** The function's alarms (lib/triggers/ add the trigger's own with add()) and, with
 * an alarmEmail, the SNS topic they notify when they fire and when they clear. */
export class Alarms {
  private readonly action?: SnsAction;

  constructor(
    private readonly stack: Stack,
    private readonly config: FunctionConfig,
  ) {
    if (config.alarmEmail === undefined) return; // the alarms notify no one
    // SNS sends the email a confirmation; nothing arrives until its owner confirms.
    const topic = new Topic(stack, 'AlarmTopic', {
      topicName: `${config.functionName}-alarms`,
      enforceSSL: true,
    });
    topic.addSubscription(new EmailSubscription(config.alarmEmail));
    // Only CloudWatch, for this account's alarms, may publish.
    topic.addToResourcePolicy(
      new PolicyStatement({
        sid: 'CloudWatchAlarmsPublish',
        principals: [new ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [topic.topicArn],
        conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
      }),
    );
    const reason = 'Not KMS-encrypted on purpose. CloudWatch alarms cannot publish to a topic under the AWS managed key alias/aws/sns (its key policy cannot let cloudwatch.amazonaws.com use it); a customer managed key would cost a monthly fee and key-policy upkeep for alarm notifications (names, states, metric values) that leave SNS as plain email anyway.';
    skipCheckov(topic.node.defaultChild as CfnResource, 'CKV_AWS_26', reason);
    Validations.of(topic.node.defaultChild as CfnResource).acknowledge({ id: 'AwsSolutions-SNS2', reason });
    this.action = new SnsAction(topic);
  }

  /** The function failed, or was throttled, at least once in 5 minutes. */
  forFunction(fn: DockerImageFunction): void {
    this.add('ErrorsAlarm', {
      suffix: 'errors',
      description: 'The function failed at least once in 5 minutes (Errors, Sum >= 1 over 300 s).',
      metric: fn.metricErrors({ statistic: 'Sum', period: ALARM_PERIOD }),
      threshold: 1,
      comparison: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    });
    this.add('ThrottlesAlarm', {
      suffix: 'throttles',
      description: 'Lambda throttled the function at least once in 5 minutes (Throttles, Sum >= 1 over 300 s).',
      metric: fn.metricThrottles({ statistic: 'Sum', period: ALARM_PERIOD }),
      threshold: 1,
      comparison: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    });
  }

  /** One alarm: one period out of one, and a period without data (no invocations, an
   * idle queue) counts as fine. */
  add(id: string, props: AlarmProps): Alarm {
    const alarm = new Alarm(this.stack, id, {
      alarmName: `${this.config.functionName}-${props.suffix}`,
      alarmDescription: props.description,
      metric: props.metric,
      threshold: props.threshold,
      comparisonOperator: props.comparison,
      evaluationPeriods: 1,
      datapointsToAlarm: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    if (this.action) {
      alarm.addAlarmAction(this.action);
      alarm.addOkAction(this.action);
    }
    return alarm;
  }
}
