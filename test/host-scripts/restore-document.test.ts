/** The restore document: its parameters reach restore.sh as SHIPSHAPE_* variables, validated by SSM first. */
import { describe, expect, it } from 'vitest';
import { restoreRunbook } from '../../lib/runbooks/backup.js';
import { commandDocumentContent, unpackedScript } from '../../lib/runbooks/document.js';

const doc = () => commandDocumentContent(restoreRunbook, 'demo', { specBucketDomain: 'specs.s3.us-east-1.amazonaws.com', backupBucket: 'backups-bucket', backupPrefix: 'backups', region: 'us-east-1' }) as {
  parameters: Record<string, { default?: string; allowedValues?: string[] }>;
  mainSteps: { inputs: { runCommand?: string[] } }[];
};

describe('restore document', () => {
  it('offers UploadPreRestoreBackup, false by default, and exports it as SHIPSHAPE_UPLOAD_PRE_RESTORE_BACKUP as AllowUnverified is', () => {
    // Act
    const content = doc();
    // Assess
    expect(content.parameters.UploadPreRestoreBackup).toMatchObject({ default: 'false', allowedValues: ['false', 'true'] });
    const lines = content.mainSteps[1]!.inputs.runCommand!;
    expect(lines).toContain("export SHIPSHAPE_UPLOAD_PRE_RESTORE_BACKUP='{{ UploadPreRestoreBackup }}'");
    expect(lines).toContain("export SHIPSHAPE_ALLOW_UNVERIFIED='{{ AllowUnverified }}'");
    expect(unpackedScript(lines)).toContain('UPLOAD_SAFETY="${SHIPSHAPE_UPLOAD_PRE_RESTORE_BACKUP:-false}"');
  });
});
