import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import type { Fleet } from '../config/schema.js';
import { BackupStorage } from '../constructs/backup-storage.js';
import { ConsoleRunbooks } from '../constructs/console-runbooks.js';
import { FleetData } from '../constructs/fleet-data.js';
import { FleetSchedules } from '../constructs/fleet-schedules.js';
import { Foundation } from '../constructs/foundation.js';
import { ShipshapeFunction } from '../constructs/function.js';
import { HostAccess } from '../constructs/host-access.js';
import { Monitoring } from '../constructs/monitoring.js';
import { acknowledgeWildcard, nagArnRef } from '../constructs/nag.js';
import { ResultProcessing } from '../constructs/result-processing.js';
import { RunbookDocuments } from '../constructs/runbook-documents.js';
import { SecretRotation } from '../constructs/secret-rotation.js';
import { Watchdog } from '../constructs/watchdog.js';
import { DeployTrigger } from '../constructs/deploy-trigger.js';
import { PREFLIGHT } from '../runbooks/names.js';
import { Notifier } from '../constructs/notifier.js';
import { SelfMonitoring } from '../constructs/self-monitoring.js';
import { Duration } from 'aws-cdk-lib';

export interface FleetStackProps extends StackProps {
  /** The validated fleet config (lib/config/load.ts). */
  readonly fleet: Fleet;
}

/** PascalCase construct-ID fragment from a config name ("web-api" -> "WebApi"). */
export function pascal(name: string): string {
  return name.split('-').map((p) => p.charAt(0).toUpperCase() + p.slice(1)).join('');
}

/**
 * Everything one fleet needs, as wiring of one construct per concern. Nothing in it grows with
 * stacks × runbooks: stacks are data (FleetData), documents one per runbook, schedules one per
 * distinct schedule, and the watchdog replaces per-stack alarms. Only secrets are resources per
 * secret, in nested stacks when they are many.
 */
export class FleetStack extends Stack {
  readonly foundation: Foundation;
  readonly data: FleetData;
  readonly backups: BackupStorage;
  readonly documents: RunbookDocuments;
  readonly dispatcher: ShipshapeFunction;
  readonly schedules: FleetSchedules;
  readonly results: ResultProcessing;
  readonly secrets?: SecretRotation;
  readonly consoleRunbooks: ConsoleRunbooks;
  readonly watchdog: Watchdog;
  readonly notifier?: Notifier;
  readonly selfMonitoring: SelfMonitoring;
  readonly hostAccess: HostAccess;
  readonly monitoring: Monitoring;

  constructor(scope: Construct, id: string, props: FleetStackProps) {
    super(scope, id, { description: `shipshape: operations automation for the ${props.fleet.fleet} Docker fleet`, ...props });
    const { fleet } = props;

    this.foundation = new Foundation(this, 'Foundation', { fleet });
    const { key, deadLetterQueue, output, alerts, state } = this.foundation;
    this.data = new FleetData(this, 'Data', { fleet, bucket: output.bucket, key, logRetentionDays: fleet.defaults.logRetentionDays });
    const configFile = this.data.configFile;
    this.backups = new BackupStorage(this, 'BackupStorage', { fleet, key });
    this.documents = new RunbookDocuments(this, 'Runbooks', { fleet, specBucket: output.bucket, backupBucket: this.backups.bucket });

    this.dispatcher = new ShipshapeFunction(this, 'Dispatcher', {
      entry: 'dispatcher',
      configFile,
      description: `shipshape ${fleet.fleet}: sends runbook documents to the hosts of a stack`,
      timeout: Duration.minutes(5),
      logKey: key,
      deadLetterQueue,
      logRetentionDays: fleet.defaults.logRetentionDays,
      environment: {
        SHIPSHAPE_FLEET_NAME: fleet.fleet,
        SHIPSHAPE_DOCUMENTS: this.toJsonString(this.documents.names),
        SHIPSHAPE_OUTPUT_BUCKET: output.bucket.bucketName,
        SHIPSHAPE_STATE_TABLE: state.table.tableName,
      },
    });
    this.documents.grantSendCommand(this.dispatcher.role);
    state.grantStateAccess(this.dispatcher.role, ['dynamodb:Query', 'dynamodb:PutItem']);
    key.grantEncryptDecrypt(this.dispatcher.role);
    for (const a of ['kms:ReEncrypt*', 'kms:GenerateDataKey*']) acknowledgeWildcard(this.dispatcher.role, `Action::${a}`, 'CDK grantEncryptDecrypt on the fleet key, which encrypts the state table (dispatch records).');

    this.schedules = new FleetSchedules(this, 'Schedules', { fleet, dispatcher: this.dispatcher.function, deadLetterQueue });
    acknowledgeWildcard(this, `Resource::${nagArnRef(this.dispatcher.function)}:*`,
      'EventBridge Scheduler invokes the dispatcher function and its versions; the grant names this one function.');

    this.results = new ResultProcessing(this, 'Results', {
      fleet, configFile, documents: this.documents, key, deadLetterQueue, outputBucket: output.bucket, backupBucket: this.backups.bucket, topic: alerts.topic, state,
    });
    if (fleet.stacks.some((s) => s.backup)) this.backups.addRetention({ configFile, deadLetterQueue, logKey: key, schedules: this.schedules });
    if (fleet.stacks.some((s) => s.secrets.length)) {
      this.secrets = new SecretRotation(this, 'Secrets', { fleet, configFile, key, deadLetterQueue, topic: alerts.topic, outputBucket: output.bucket, documents: this.documents, schedules: this.schedules });
    }
    if (Notifier.needed(fleet)) {
      this.notifier = new Notifier(this, 'Notifier', {
        fleet, common: { configFile, logKey: key, deadLetterQueue, logRetentionDays: fleet.defaults.logRetentionDays }, alertTopic: alerts.topic, stateTable: state.table, key,
      });
    }
    // shipshape's own alarms go straight to people, not through the functions they watch.
    this.selfMonitoring = new SelfMonitoring(this, 'SelfMonitoring', {
      alarms: [], key, recipients: fleet.alerts.recipients, displayName: `shipshape ${fleet.fleet} alarms`,
      ...(this.notifier ? { notifier: this.notifier.fn.function } : {}), deadLetterQueue,
    });
    this.consoleRunbooks = new ConsoleRunbooks(this, 'Console', {
      fleet, configFile, key, deadLetterQueue, documents: this.documents, dispatcher: this.dispatcher.function, outputBucket: output.bucket, state,
      alertTopic: alerts.topic, alarmTopic: this.selfMonitoring.topic,
      ...(this.secrets ? { rotation: this.secrets.rotation.function } : {}),
    });
    this.results.processor.function.addEnvironment('SHIPSHAPE_RUNBOOKS', this.toJsonString(this.consoleRunbooks.names));
    // After a deploy that changed the config: the preflight on every stack, before the first scheduled run finds out.
    if (this.documents.byRunbook[PREFLIGHT]) {
      new DeployTrigger(this, 'PreflightAfterDeploy', { dispatcher: this.dispatcher.function, runbook: PREFLIGHT, deployId: this.data.configHash, logKey: key, logRetentionDays: fleet.defaults.logRetentionDays });
    }
    this.watchdog = new Watchdog(this, 'Watchdog', { fleet, configFile, key, deadLetterQueue, topic: alerts.topic, state, schedules: this.schedules });
    this.hostAccess = new HostAccess(this, 'HostAccess', { fleet: fleet.fleet, key, outputBucket: output.bucket, data: this.data, backups: this.backups });

    this.monitoring = new Monitoring(this, 'Monitoring', {
      fleet: fleet.fleet,
      functions: {
        dispatcher: this.dispatcher,
        result: this.results.processor,
        console: this.consoleRunbooks.console,
        watchdog: this.watchdog.watchdog,
        ...(this.backups.retention ? { retention: this.backups.retention } : {}),
        ...(this.secrets ? { rotation: this.secrets.rotation } : {}),
      },
      deadLetterQueue,
      resultLogGroup: this.results.processor.logGroup.logGroupName,
    });
    for (const alarm of [...this.monitoring.alarms, ...(this.notifier?.alarms ?? [])]) this.selfMonitoring.watch(alarm);

    new CfnOutput(this, 'AlertTopicArn', { value: alerts.topic.topicArn, description: 'Subscribe more endpoints here (message attribute "severity")' });
    new CfnOutput(this, 'AlarmTopicArn', { value: this.selfMonitoring.topic.topicArn, description: "shipshape's own alarms (all critical); subscribe on-call here too" });
    new CfnOutput(this, 'BackupBucketName', { value: this.backups.bucket.bucketName, description: 'Backups, under backups/<stack>/<host>/<time>/' });
    new CfnOutput(this, 'OutputBucketName', { value: output.bucket.bucketName, description: 'Full command output under command-output/, stack specs under specs/' });
    new CfnOutput(this, 'HostPolicyArn', { value: this.hostAccess.policy.managedPolicyArn, description: 'Attach to the instance role of every host' });
    if (this.secrets) new CfnOutput(this, 'HostSecretsPolicyArn', { value: this.secrets.hostPolicy.managedPolicyArn, description: 'Attach to the instance role of hosts with secrets; tag the role shipshape:stack=<stack>' });
    new CfnOutput(this, 'DispatcherFunctionName', { value: this.dispatcher.function.functionName, description: 'Invoke with {"runbook":"health-check","stack":"<name>"}' });
    for (const [runbook, doc] of Object.entries(this.documents.byRunbook)) {
      new CfnOutput(this, `${pascal(runbook)}DocumentName`, { value: doc.documentName, description: `Run Command document for ${runbook}` });
    }
    for (const [name, rb] of Object.entries(this.consoleRunbooks.byName)) {
      new CfnOutput(this, `${pascal(name)}RunbookName`, { value: rb.documentName, description: `Console runbook ${name} (Systems Manager > Automation)` });
    }
  }
}
