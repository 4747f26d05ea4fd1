/**
 * The bench's S3 endpoint that accepts uploads and discards the bytes (s3-sink.py): PutObject,
 * the multipart calls and ListObjectsV2 with the sizes received, so backup.sh's size check
 * passes. It lets the bench time the pipeline without a local S3 server writing every byte to
 * disk on the same cores. A Python process reading bodies into one reused buffer: the Node sink
 * it replaces spent ~1.1 s of CPU per 614 MB backup on the 2 cores the pipeline is timed on.
 */
import { startPythonServer } from './python-server.js';

export interface Sink { endpoint: string; bytesReceived: () => Promise<number>; stop: () => Promise<void> }

export async function startSink(): Promise<Sink> {
  const { endpoint, stop } = await startPythonServer('s3-sink.py');
  return { endpoint, stop, bytesReceived: async () => Number(await (await fetch(`${endpoint}/_sink/received`)).text()) };
}
