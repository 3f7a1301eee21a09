/**
 * The demo: makes a small BGAPP stack on the spot (a PostGIS database `geo`,
 * an S3 emulator with BGAPP's buckets, config and log folders), backs it up
 * with the `bgapp-backup` command line into a local "OneDrive" folder,
 * restores everything into an empty stack and checks the repository, with
 * bgapp-backup and, when installed, with restic itself.
 *
 * Usage: scripts/demo.sh [--keep]   (--keep leaves the demo folder in place)
 */
import { spawnSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { createS3Client } from '../src/sources/s3/index.ts';
import { seedGeoDatabase, startPostgres } from '../test/support/postgres.ts';
import { startS3Server } from '../test/support/s3.ts';
import {
  filesSourceConfig,
  postgresSourceConfig,
  s3SourceConfig,
  writeConfigFile,
} from '../test/support/stack-config.ts';

const root = new URL('..', import.meta.url).pathname;
const cli = join(root, 'bin', 'bgapp-backup');
const keep = process.argv.includes('--keep');

function step(title: string): void {
  process.stdout.write(`\n== ${title}\n`);
}

/** Runs the command line as a user would, printing the command and its output. */
function run(args: string[], env: Record<string, string>, allowed: number[] = [0]): string {
  process.stdout.write(`$ bgapp-backup ${args.join(' ')}\n`);
  const result = spawnSync(cli, args, { env: { ...process.env, ...env }, encoding: 'utf8' });
  process.stdout.write(result.stdout);
  process.stderr.write(result.stderr);
  if (!allowed.includes(result.status ?? -1)) {
    throw new Error(`bgapp-backup ${args[0]} exited with ${result.status}`);
  }
  return result.stdout;
}

async function makeFolders(
  base: string,
): Promise<{ configs: string; logs: string; oneDrive: string }> {
  const configs = join(base, 'stack', 'configs');
  const logs = join(base, 'stack', 'logs');
  const oneDrive = join(base, 'home', 'OneDrive');
  await mkdir(join(configs, 'nginx'), { recursive: true });
  await mkdir(join(configs, 'empty.d'), { recursive: true });
  await mkdir(logs, { recursive: true });
  await mkdir(oneDrive, { recursive: true });
  await writeFile(join(configs, 'app.env'), 'BGAPP_MODE=production\nMAP_TILES=/tiles\n');
  await writeFile(join(configs, 'nginx', 'bgapp.conf'), 'server { listen 80; }\n');
  await writeFile(join(configs, 'secrets.env'), 'API_TOKEN=demo-only\n', { mode: 0o600 });
  await chmod(join(configs, 'secrets.env'), 0o600);
  await writeFile(join(configs, 'scratch.tmp'), 'left out by the exclude pattern\n');
  await symlink('app.env', join(configs, 'current.env'));
  await writeFile(join(logs, 'app.log'), 'started\nrequest /map ok\n'.repeat(500));
  return { configs, logs, oneDrive };
}

async function seedBuckets(
  endpoint: string,
  accessKeyId: string,
  secretAccessKey: string,
): Promise<void> {
  const client = createS3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId, secretAccessKey },
  });
  for (const bucket of ['bgapp-data', 'bgapp-backups', 'bgapp-temp']) {
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
  }
  const objects: [string, Buffer, string][] = [
    ['tiles/0/0/0.png', Buffer.alloc(4096, 7), 'image/png'],
    [
      'uploads/report.geojson',
      Buffer.from('{"type":"FeatureCollection","features":[]}'),
      'application/geo+json',
    ],
    ['uploads', Buffer.from('an object named like a folder'), 'text/plain'],
    ['empty.txt', Buffer.alloc(0), 'text/plain'],
  ];
  for (const [key, body, contentType] of objects) {
    await client.send(
      new PutObjectCommand({
        Bucket: 'bgapp-data',
        Key: key,
        Body: body,
        ContentType: contentType,
        Metadata: { origin: 'demo' },
      }),
    );
  }
  client.destroy();
}

async function main(): Promise<void> {
  const base = await mkdtemp(join(tmpdir(), 'bgapp-demo-'));
  step(`making a demo stack in ${base}`);
  const pg = await startPostgres();
  const s3 = await startS3Server();
  try {
    await seedGeoDatabase(pg, 'geo');
    await seedBuckets(s3.endpoint, s3.accessKeyId, s3.secretAccessKey);
    const { configs, logs, oneDrive } = await makeFolders(base);
    const secretFile = join(base, 'minio-secret');
    await writeFile(secretFile, s3.secretAccessKey, { mode: 0o600 });
    const passwordFile = join(base, 'repository-password');
    await writeFile(passwordFile, 'demo password, keep yours in a safe place', { mode: 0o600 });
    const configFile = join(base, 'bgapp-backup.yaml');
    await writeConfigFile(configFile, {
      onedrive: { folder: oneDrive },
      repository: { path: 'BGAPP_Backups/repository', password_file: passwordFile },
      plain_copies: { enabled: true, keep: 2 },
      sources: [
        postgresSourceConfig(pg, 'geo'),
        s3SourceConfig(s3, secretFile, ['bgapp-data', 'bgapp-backups', 'bgapp-temp']),
        filesSourceConfig('configs', configs, ['*.tmp']),
        filesSourceConfig('logs', logs),
      ],
    });
    const env = { BGAPP_BACKUP_CONFIG: configFile };

    step('creating the repository in the OneDrive folder');
    run(['init'], env);
    step(
      'backing up the stack twice: the second run adds only what changed (a new dump and manifest)',
    );
    run(['backup'], env);
    run(['backup'], env);
    run(['snapshots'], env);

    step('restoring into an empty stack');
    run(
      ['restore', 'latest', '--source', 'geo', '--target-url', pg.url('geo_restored'), '--roles'],
      env,
    );
    run(
      [
        'restore',
        'latest',
        '--source',
        'minio',
        '--bucket',
        'bgapp-data',
        '--target-bucket',
        'restored-data',
      ],
      env,
    );
    run(
      [
        'restore',
        'latest',
        '--source',
        'configs',
        '--target-dir',
        join(base, 'restored', 'configs'),
      ],
      env,
    );
    run(
      ['restore', 'latest', '--source', 'logs', '--target-dir', join(base, 'restored', 'logs')],
      env,
    );

    step('checking every byte of the repository');
    run(['check', '--read-data'], env);
    const restic = spawnSync('restic', ['version'], { encoding: 'utf8' });
    if (restic.status === 0) {
      const repository = join(oneDrive, 'BGAPP_Backups', 'repository');
      process.stdout.write(`$ restic -r ${repository} check --read-data\n`);
      const checked = spawnSync(
        'restic',
        ['-r', repository, '--password-file', passwordFile, 'check', '--read-data'],
        {
          encoding: 'utf8',
        },
      );
      process.stdout.write(checked.stdout);
      if (checked.status !== 0) throw new Error(`restic check failed: ${checked.stderr}`);
    }
    if (keep) step(`done: the OneDrive folder is ${oneDrive}`);
    else step('done: the demo folder is removed now; ./scripts/demo.sh --keep leaves it in place');
  } finally {
    await s3.stop();
    await pg.stop();
    if (!keep) await rm(base, { recursive: true, force: true });
  }
}

await main();
