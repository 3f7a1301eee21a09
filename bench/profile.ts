/**
 * Sums the self time of each function in the `.cpuprofile` files that
 * `node --cpu-prof` writes, one file per thread (the main thread and each worker).
 */
import { readFile, readdir } from 'node:fs/promises';
import { basename, join } from 'node:path';

/** The summarized profiles of one phase, one list per thread. */
export interface PhaseProfile {
  phase: string;
  threads: ProfileEntry[][];
}

/** Self time of one function in one thread's profile. */
export interface ProfileEntry {
  thread: string;
  fn: string;
  selfMillis: number;
  /** Share of the thread's sampled time. */
  share: number;
}

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  samples: number[];
  timeDeltas: number[];
}

/** Returns the `top` functions by self time of each profile file in `dir`, one list per thread. */
export async function summarizeProfiles(dir: string, top: number): Promise<ProfileEntry[][]> {
  const files = (await readdir(dir)).filter((name) => name.endsWith('.cpuprofile')).sort();
  const threads: ProfileEntry[][] = [];
  for (const [index, name] of files.entries()) {
    const profile = JSON.parse(await readFile(join(dir, name), 'utf8')) as CpuProfile;
    const names = new Map(profile.nodes.map((n) => [n.id, functionLabel(n.callFrame)]));
    const self = new Map<string, number>();
    let total = 0;
    profile.samples.forEach((nodeId, i) => {
      const micros = profile.timeDeltas[i] ?? 0;
      const label = names.get(nodeId) ?? '(unknown)';
      self.set(label, (self.get(label) ?? 0) + micros);
      total += micros;
    });
    const busy = total > 0 ? 1 - (self.get('(idle)') ?? 0) / total : 0;
    const thread = `thread ${index + 1} (${Math.round(total / 1000)} ms sampled, ${Math.round(busy * 100)}% busy)`;
    threads.push(
      [...self]
        // Idle time is the thread waiting for work, not a cost to cut.
        .filter(([fn]) => fn !== '(idle)')
        .sort((a, b) => b[1] - a[1])
        .slice(0, top)
        .map(([fn, micros]) => ({ thread, fn, selfMillis: micros / 1000, share: total > 0 ? micros / total : 0 })),
    );
  }
  return threads;
}

function functionLabel(frame: { functionName: string; url: string; lineNumber: number }): string {
  const where = frame.url ? ` ${basename(frame.url)}:${frame.lineNumber + 1}` : '';
  return `${frame.functionName || '(anonymous)'}${where}`;
}
