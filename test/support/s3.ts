/**
 * Runs the @20minutes/s3rver S3 emulator for tests. The emulator runs in a
 * child process so that a request that breaks it (it stores each key as a file
 * path) cannot take the test process down, and it stores objects in a fresh
 * temporary folder.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { S3SourceConfig } from '../../src/sources/index.ts';

/** A running emulator and how to reach it. */
export interface S3Server {
  /** Base URL, `http://127.0.0.1:<port>`; the emulator needs path-style addressing. */
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Folder where the emulator stores buckets. */
  directory: string;
  pid: number;
  /** Kills the emulator by its PID and removes its folder. */
  stop(): Promise<void>;
}

// s3rver accepts only its built-in key pair, S3RVER / S3RVER.
const ACCESS_KEY_ID = 'S3RVER';
const SECRET_ACCESS_KEY = 'S3RVER';
const START_TIMEOUT_MILLIS = 15_000;

// Runs inside the child. It exits when its stdin closes, so an emulator
// never outlives a test process that dies without calling stop().
// allowMismatchedSignatures: @aws-sdk/client-s3 3.1178 signs bucket requests
// with the path "/bucket/" but s3rver 5 checks "/bucket", so every
// CreateBucket, HeadBucket and ListObjectsV2 would fail SignatureDoesNotMatch.
// NOTE: the tests therefore do not check request signatures.
const CHILD_SCRIPT = `
const S3rver = require(process.argv[1]);
const server = new S3rver({
  address: '127.0.0.1', port: 0, silent: true, directory: process.argv[2],
  vhostBuckets: false, allowMismatchedSignatures: true,
});
server.run().then(
  (address) => process.stdout.write(JSON.stringify({ port: address.port }) + '\\n'),
  (err) => { process.stderr.write(String(err && err.stack || err)); process.exit(1); },
);
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
`;

/** Starts the S3 emulator on 127.0.0.1 at a free port, in a new temporary folder. */
export async function startS3Server(): Promise<S3Server> {
  const directory = await mkdtemp(join(tmpdir(), 'bgapp-s3rver-'));
  const modulePath = createRequire(import.meta.url).resolve('@20minutes/s3rver');
  // s3rver 5 encrypts its listing continuation tokens with DES, which OpenSSL 3
  // offers only in its legacy provider; without it, a second page fails with 500.
  const args = ['--openssl-legacy-provider', '-e', CHILD_SCRIPT, modulePath, directory];
  const child = spawn(process.execPath, args, {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  try {
    const port = await readPort(child);
    return {
      endpoint: `http://127.0.0.1:${port}`,
      region: 'us-east-1',
      accessKeyId: ACCESS_KEY_ID,
      secretAccessKey: SECRET_ACCESS_KEY,
      directory,
      pid: child.pid ?? 0,
      stop: () => stopChild(child, directory),
    };
  } catch (err) {
    await stopChild(child, directory);
    throw err;
  }
}

function readPort(child: ChildProcess): Promise<number> {
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`s3rver did not start within ${START_TIMEOUT_MILLIS} ms`)),
      START_TIMEOUT_MILLIS,
    );
    const lines = createInterface({ input: child.stdout! });
    lines.once('line', (line) => {
      clearTimeout(timer);
      resolve((JSON.parse(line) as { port: number }).port);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`s3rver exited with code ${code} before listening: ${stderr}`));
    });
  });
}

async function stopChild(child: ChildProcess, directory: string): Promise<void> {
  if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    process.kill(child.pid, 'SIGTERM');
    await exited;
  }
  await rm(directory, { recursive: true, force: true });
}

/**
 * Returns the config of an `s3` source named `minio` that reads `buckets`
 * from `server` with its built-in key pair.
 */
export function s3SourceConfig(server: S3Server, buckets: string[], concurrency: number): S3SourceConfig {
  return {
    type: 's3',
    name: 'minio',
    endpoint: server.endpoint,
    region: server.region,
    access_key_id: server.accessKeyId,
    secret_access_key: server.secretAccessKey,
    buckets,
    force_path_style: true,
    concurrency,
  };
}
