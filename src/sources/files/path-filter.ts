/**
 * Include and exclude patterns of a `files` source. A pattern matches when it
 * matches the path relative to the source folder or the base name alone, so
 * `*.tmp` catches `a/b/x.tmp` and `cache/**` catches everything below `cache`.
 */
import { Minimatch } from 'minimatch';

/** Decides which walked entries a `files` source keeps. */
export interface PathFilter {
  /** Tells whether an entry, folder or not, is left out with everything below it. */
  isExcluded(relativePath: string, baseName: string): boolean;
  /** Tells whether an entry matches an include pattern; true when there are none. */
  isIncluded(relativePath: string, baseName: string): boolean;
  /** True when include patterns were given. */
  readonly hasIncludes: boolean;
}

/**
 * Compiles include and exclude glob patterns. Wildcards also match names that
 * start with a dot, because a backup must not keep `.x.tmp` when `*.tmp` is
 * excluded.
 */
export function createPathFilter(include: readonly string[], exclude: readonly string[]): PathFilter {
  const includes = compile(include);
  const excludes = compile(exclude);
  return {
    hasIncludes: includes.length > 0,
    isExcluded: (relativePath, baseName) => matchesAny(excludes, relativePath, baseName),
    isIncluded: (relativePath, baseName) =>
      includes.length === 0 || matchesAny(includes, relativePath, baseName),
  };
}

function compile(patterns: readonly string[]): Minimatch[] {
  return patterns
    .filter((pattern) => pattern.length > 0)
    .map((pattern) => new Minimatch(pattern, { dot: true, nocomment: true, nonegate: true }));
}

function matchesAny(patterns: readonly Minimatch[], relativePath: string, baseName: string): boolean {
  return patterns.some((pattern) => pattern.match(relativePath) || pattern.match(baseName));
}
