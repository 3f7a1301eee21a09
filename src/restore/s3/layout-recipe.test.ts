import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import type { S3ObjectManifest } from '../../sources/index.ts';
import { planKeyPaths } from '../../sources/s3/index.ts';

const run = promisify(execFile);
const docPath = new URL('../../../docs/s3-layout.md', import.meta.url);

// Records each put-object call as one JSON line instead of calling S3.
const AWS_STAND_IN = `
aws() {
  local key='' body='' content_type='' metadata='{}'
  while [ $# -gt 0 ]; do
    case "$1" in
      --key) key=$2; shift ;;
      --body) body=$2; shift ;;
      --content-type) content_type=$2; shift ;;
      --metadata) metadata=$2; shift ;;
    esac
    shift
  done
  jq -cn --arg key "$key" --arg sha "$(sha256sum < "$body" | cut -d' ' -f1)" \\
    --arg type "$content_type" --argjson metadata "$metadata" \\
    '{key: $key, sha256: $sha, contentType: $type, metadata: $metadata}' >> "$CALLS"
}
`;

const keys = [
  'a',
  'a/b',
  '/lead',
  'a//b',
  'dir/',
  './x',
  'a/../b',
  '%41',
  'caf\u00e9',
  'cafe\u0301',
  'sp ace',
  `quote'"`,
  'new\nline\n',
];

async function extractRecipe(): Promise<string> {
  const doc = await readFile(docPath, 'utf8');
  const match = /<!-- recipe: upload -->\n```sh\n([\s\S]*?)```/.exec(doc);
  assert.ok(match?.[1], 'docs/s3-layout.md has no recipe block');
  return match[1];
}

/** Writes what `restic restore` would write for the keys, plus manifest.json. */
async function layOut(dest: string): Promise<S3ObjectManifest[]> {
  const entries: S3ObjectManifest[] = [];
  for (const [key, path] of planKeyPaths(keys)) {
    const body = Buffer.from(`contents of ${key}`);
    const file = join(dest, 's3', 'minio', 'maps', ...path);
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, body);
    entries.push({
      key,
      path: path.join('/'),
      size: body.length,
      sha256: createHash('sha256').update(body).digest('hex'),
      etag: '"0"',
      lastModified: new Date(0).toISOString(),
      contentType: key === 'a' ? 'text/plain' : undefined,
      metadata: key === 'a/b' ? { owner: 'gis', note: 'two words' } : {},
    });
  }
  const bucket = { name: 'maps', objects: entries.length, bytes: 0, entries };
  const source = { type: 's3', name: 'minio', endpoint: 'http://s3', buckets: [bucket] };
  await writeFile(join(dest, 'manifest.json'), JSON.stringify({ sources: [source] }));
  return entries;
}

describe('s3 layout recipe', () => {
  it('uploads every key with its body, type and metadata', async () => {
    const dest = await mkdtemp(join(tmpdir(), 'bgapp-recipe-'));
    try {
      const entries = await layOut(dest);
      const calls = join(dest, 'calls.jsonl');
      const script = `set -euo pipefail\n${AWS_STAND_IN}\n${await extractRecipe()}`;
      const env = { ...process.env, ENDPOINT: 'http://s3', SRC: 'minio', BUCKET: 'maps', TARGET: 'copy', DEST: dest, CALLS: calls };
      await run('bash', ['-c', script], { env });

      const recorded = (await readFile(calls, 'utf8')).trim().split('\n').map((line) => JSON.parse(line));
      assert.equal(recorded.length, entries.length);
      for (const entry of entries) {
        const call = recorded.find((c) => c.key === entry.key);
        assert.ok(call, `no upload of ${JSON.stringify(entry.key)}`);
        assert.equal(call.sha256, entry.sha256, `body of ${JSON.stringify(entry.key)}`);
        assert.equal(call.contentType, entry.contentType ?? '');
        assert.deepEqual(call.metadata, entry.metadata);
      }
    } finally {
      await rm(dest, { recursive: true, force: true });
    }
  });
});
