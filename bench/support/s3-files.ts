/**
 * The bench's read-only S3 endpoint over a directory (<root>/<bucket>/<key>): GetObject (whole
 * or one byte range), HeadObject and ListObjectsV2, path-style (s3-files.py). It sends objects
 * with sendfile(2), so restore.sh can be timed without a local S3 server competing for the same
 * cores: s3rver reads its files in small chunks, and a Node server copying 4 MiB buffers still
 * took ~0.3 s of CPU per 237 MB, against ~0.03 s with sendfile. Signatures are not checked.
 */
import { startPythonServer, type PythonServer } from './python-server.js';

export type FilesEndpoint = PythonServer;

export function startFiles(root: string): Promise<FilesEndpoint> {
  return startPythonServer('s3-files.py', [root]);
}
