import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { Architecture, type IFunction } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { fileURLToPath } from 'node:url';
import { acknowledgeWildcard, nagArnRef } from './nag.js';
import { BUNDLING } from '../bundling.js';
import { LAMBDA_RUNTIME } from '../runtime.js';
import { FLEET_FILE } from '../runbooks/names.js';

const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

export interface ShipshapeFunctionProps {
  /** Folder under lambdas/ holding handler.ts. */
  readonly entry: string;
  /** What the function does, shown in the console. */
  readonly description: string;
  /**
   * The normalized fleet config as a file (FleetData.configFile); it is copied beside the bundle
   * as fleet.json, so its size never meets a process-argument or environment limit.
   */
  readonly configFile: string;
  /** Environment variables besides the Powertools ones. @default - none */
  readonly environment?: Record<string, string>;
  /** Key that encrypts the log group. */
  readonly logKey: IKey;
  /** Where failed asynchronous invocations go after the retries. */
  readonly deadLetterQueue: IQueue;
  /** @default - 1 minute */
  readonly timeout?: Duration;
  /** @default - 256 */
  readonly memorySize?: number;
  /** Days to keep logs; one of CloudWatch Logs' retention periods. @default - 90 */
  readonly logRetentionDays?: number;
}

/**
 * A Lambda function the shipshape way: local esbuild (never Docker), minified ESM with
 * source maps, ARM64, one runtime, an explicit role with no managed policies, its own
 * encrypted log group with retention, and a DLQ for asynchronous invocations.
 */
export class ShipshapeFunction extends Construct {
  readonly function: NodejsFunction;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: ShipshapeFunctionProps) {
    super(scope, id);
    if (!/^[a-z][a-z-]*$/.test(props.entry)) throw new Error(`ShipshapeFunction entry must be a folder name under lambdas/, got "${props.entry}"`);

    this.logGroup = new logs.LogGroup(this, 'LogGroup', {
      retention: (props.logRetentionDays ?? 90) as logs.RetentionDays,
      encryptionKey: props.logKey,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `${props.description} (shipshape)`,
    });
    this.role.addToPolicy(new iam.PolicyStatement({
      actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
      resources: [this.logGroup.logGroupArn, `${this.logGroup.logGroupArn}:*`],
    }));
    acknowledgeWildcard(this.role, `Resource::${nagArnRef(this.logGroup)}:*`,
      "Log streams are created at run time; the grant is limited to this function's own log group.");

    this.function = new NodejsFunction(this, 'Function', {
      entry: fileURLToPath(new URL(`../../lambdas/${props.entry}/handler.ts`, import.meta.url)),
      handler: 'handler',
      runtime: LAMBDA_RUNTIME,
      architecture: Architecture.ARM_64,
      description: props.description,
      role: this.role,
      logGroup: this.logGroup,
      timeout: props.timeout ?? Duration.minutes(1),
      memorySize: props.memorySize ?? 256,
      deadLetterQueue: props.deadLetterQueue,
      retryAttempts: 2,
      environment: {
        POWERTOOLS_SERVICE_NAME: `shipshape-${props.entry}`,
        POWERTOOLS_METRICS_NAMESPACE: 'shipshape',
        NODE_OPTIONS: '--enable-source-maps',
        ...props.environment,
      },
      bundling: {
        forceDockerBundling: false,
        format: OutputFormat.ESM,
        target: BUNDLING.target,
        minify: BUNDLING.minify,
        sourceMap: BUNDLING.sourcemap,
        sourcesContent: false,
        mainFields: [...BUNDLING.mainFields],
        banner: BUNDLING.banner,
        commandHooks: {
          beforeBundling: () => [],
          beforeInstall: () => [],
          afterBundling: (_input: string, output: string) => [`cp ${shellQuote(props.configFile)} ${shellQuote(`${output}/${FLEET_FILE}`)}`],
        },
        // Bundle the SDK too: a pinned, tree-shaken copy instead of whatever the runtime ships.
        externalModules: [],
      },
    });
  }

  get fn(): IFunction {
    return this.function;
  }
}
