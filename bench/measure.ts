/**
 * Runs one shell command and measures its wall time and the peak resident
 * memory of its whole process tree, sampled from /proc.
 */
import { spawn } from 'node:child_process';
import { readFile, readdir } from 'node:fs/promises';

/** Wall time and memory of one finished command. */
export interface Measurement {
  wallSeconds: number;
  /** Highest sum of the resident set sizes of the command and all its descendants. */
  peakRssBytes: number;
  stdout: string;
}

/** Options of {@link measure}. */
export interface MeasureOptions {
  env?: Record<string, string>;
  /** The command's process group is killed with SIGKILL after this long. */
  timeoutMillis: number;
}

const SAMPLE_MILLIS = 50;
const PAGE_BYTES = 4096;
const KEPT_OUTPUT_CHARS = 64 * 1024;

/**
 * Runs `script` with `bash -c` (with pipefail) in its own process group and
 * rejects, naming the script and its stderr, when it exits non-zero or times out.
 */
export async function measure(script: string, opts: MeasureOptions): Promise<Measurement> {
  const started = performance.now();
  const child = spawn('bash', ['-c', `set -euo pipefail\n${script}`], {
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout = (stdout + d.toString()).slice(-KEPT_OUTPUT_CHARS)));
  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-KEPT_OUTPUT_CHARS)));
  const exited = new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
  let done = false;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
  }, opts.timeoutMillis);
  const sampler = (async () => {
    let peak = 0;
    while (!done && child.pid !== undefined) {
      peak = Math.max(peak, await treeRssBytes(child.pid));
      await new Promise((resolve) => setTimeout(resolve, SAMPLE_MILLIS));
    }
    return peak;
  })();
  const code = await exited;
  const wallSeconds = (performance.now() - started) / 1000;
  done = true;
  clearTimeout(timer);
  const peakRssBytes = await sampler;
  if (timedOut) throw new Error(`command timed out after ${opts.timeoutMillis} ms: ${script}`);
  if (code !== 0) throw new Error(`command exited with ${code}: ${script}\n${stderr.slice(-4000)}`);
  return { wallSeconds, peakRssBytes, stdout };
}

/** Sums the resident memory of `rootPid` and every process below it. */
export async function treeRssBytes(rootPid: number): Promise<number> {
  const children = new Map<number, number[]>();
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await readFile(`/proc/${name}/stat`, 'utf8').catch(() => '');
    // The command name in brackets may contain spaces, so fields are counted after its ')'.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (!Number.isFinite(ppid)) continue;
    const list = children.get(ppid) ?? [];
    list.push(Number(name));
    children.set(ppid, list);
  }
  let total = 0;
  const queue = [rootPid];
  for (let pid = queue.pop(); pid !== undefined; pid = queue.pop()) {
    const statm = await readFile(`/proc/${pid}/statm`, 'utf8').catch(() => '');
    total += Number(statm.split(' ')[1] ?? 0) * PAGE_BYTES;
    queue.push(...(children.get(pid) ?? []));
  }
  return total;
}

/** Returns the median of a non-empty list (the mean of the middle two for an even count). */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
