import { App } from 'aws-cdk-lib';
import { Architecture } from 'aws-cdk-lib/aws-lambda';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';

/** Validated inputs for FunctionStack, read from CDK context (cdk.json + `-c key=value`). */
export interface FunctionConfig {
  readonly stackName: string;
  readonly functionName: string;
  readonly ecrRepository: string;
  readonly imageDigest: string;
  readonly architecture: Architecture;
  readonly memorySize: number;
  readonly timeout: number;
  readonly logRetentionDays: RetentionDays;
}

/** Raised for a bad context value; the message always names the context key. */
export class ConfigError extends Error {
  constructor(key: string, problem: string) {
    super(`Invalid CDK context "${key}": ${problem} (set it in cdk.json or pass -c ${key}=...)`);
    this.name = 'ConfigError';
  }
}

const ARCHITECTURES: Record<string, Architecture> = {
  arm64: Architecture.ARM_64,
  x86_64: Architecture.X86_64,
};

// CloudWatch Logs only accepts these retention periods (INFINITE is excluded on purpose).
const RETENTION_DAYS = Object.values(RetentionDays).filter(
  (v): v is RetentionDays => typeof v === 'number' && v !== RetentionDays.INFINITE,
);

function str(app: App, key: string): string {
  const value = app.node.tryGetContext(key);
  if (value === undefined || value === null || String(value).trim() === '') {
    throw new ConfigError(key, 'a value is required');
  }
  return String(value).trim();
}

function matching(app: App, key: string, pattern: RegExp, hint: string): string {
  const value = str(app, key);
  if (!pattern.test(value)) throw new ConfigError(key, `"${value}" ${hint}`);
  return value;
}

/** Integer context value; `-c` passes strings, cdk.json may hold numbers, both are accepted. */
function int(app: App, key: string, min: number, max: number): number {
  const raw = str(app, key);
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(key, `"${raw}" must be an integer from ${min} to ${max}`);
  }
  return value;
}

export function readConfig(app: App): FunctionConfig {
  const architecture = str(app, 'architecture');
  if (!Object.hasOwn(ARCHITECTURES, architecture)) {
    throw new ConfigError('architecture', `"${architecture}" must be one of: ${Object.keys(ARCHITECTURES).join(', ')}`);
  }
  const logRetentionDays = int(app, 'logRetentionDays', 1, 3653);
  if (!RETENTION_DAYS.includes(logRetentionDays)) {
    throw new ConfigError('logRetentionDays', `${logRetentionDays} is not a CloudWatch Logs retention period; use one of: ${RETENTION_DAYS.join(', ')}`);
  }

  const ecrRepository = matching(
    app,
    'ecrRepository',
    /^(?=.{2,256}$)(?:[a-z0-9]+(?:[._-][a-z0-9]+)*\/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$/,
    'is not a valid ECR repository name (lowercase, e.g. "team/my-app")',
  );

  return {
    stackName: matching(app, 'stackName', /^[A-Za-z][A-Za-z0-9-]{0,127}$/, 'must be a CloudFormation stack name (letters, digits, "-", starting with a letter)'),
    functionName: matching(app, 'functionName', /^[A-Za-z0-9_-]{1,64}$/, 'must be 1-64 letters, digits, "-" or "_"'),
    ecrRepository,
    imageDigest: matching(app, 'imageDigest', /^sha256:[0-9a-f]{64}$/, 'must look like sha256:<64 lowercase hex chars> (see `aws ecr describe-images`)'),
    architecture: ARCHITECTURES[architecture],
    memorySize: int(app, 'memorySize', 128, 10240),
    // The function's own limit; the HTTP API integration still answers within 30 s.
    timeout: int(app, 'timeout', 1, 900),
    logRetentionDays,
  };
}
