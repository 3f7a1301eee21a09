/**
 * Command line for the restic side of the bucket benchmark, so that its time
 * and memory are measured apart from the harness.
 *
 * Usage: node bench/s3-copy.ts download|upload ENDPOINT BUCKET FOLDER
 * The access key pair is read from S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY.
 */
import { benchS3Client, downloadBucket, uploadFolder } from './bucket.ts';

const [command, endpoint, bucket, folder] = process.argv.slice(2);
if ((command !== 'download' && command !== 'upload') || !endpoint || !bucket || !folder) {
  process.stderr.write('usage: node bench/s3-copy.ts download|upload ENDPOINT BUCKET FOLDER\n');
  process.exit(2);
}
const client = benchS3Client(endpoint, process.env.S3_ACCESS_KEY_ID ?? '', process.env.S3_SECRET_ACCESS_KEY ?? '');
const count =
  command === 'download' ? await downloadBucket(client, bucket, folder) : await uploadFolder(client, folder, bucket);
process.stdout.write(`${command}ed ${count} objects\n`);
client.destroy();
