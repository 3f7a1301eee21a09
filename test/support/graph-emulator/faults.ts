/**
 * The fault plan: failures a test schedules at run time. A request rule
 * matches requests by method, target and path, and it fires on the Nth match.
 * An item fault changes the driveItem JSON the emulator returns for a path.
 */

/** Which server a request went to. */
export type RequestTarget = 'api' | 'upload' | 'download';

/** Selects requests. Every given field must match. */
export interface FaultMatch {
  method?: string;
  target?: RequestTarget;
  /** A substring of, or a pattern for, the decoded request path (without the query). */
  path?: string | RegExp;
}

/** What a fired rule does instead of the normal response. */
export type FaultAction =
  | {
      kind: 'status';
      status: number;
      /** Retry-After value: seconds, an HTTP date, or a raw string. Omit to send no header. */
      retryAfter?: number | Date | string;
      /** Header name to send Retry-After under, such as `retry-after`; defaults to `Retry-After`. */
      retryAfterHeader?: string;
      /** Top-level error code; defaults to the usual one for the status. */
      code?: string;
      /** For an upload fragment: store this many of its bytes before sending the status. */
      storeBytes?: number;
    }
  | {
      kind: 'reset';
      /**
       * For an upload fragment: store this many of its bytes, then close the
       * connection. For a download: send this many bytes of the body first.
       * Defaults to half the fragment or body.
       */
      storeBytes?: number;
    }
  | {
      /** For an upload fragment: the session expires, so the request gets 404. */
      kind: 'expire-session';
    };

/** A scheduled request fault. */
export interface FaultRule {
  match: FaultMatch;
  /** The first matching request that fails, counting from 1; defaults to 1. */
  nth?: number;
  /** How many matching requests fail from the Nth on; defaults to 1. Use Infinity for all. */
  times?: number;
  action: FaultAction;
}

/** A rule in the plan, with how often it matched and fired. */
export interface ActiveFaultRule extends FaultRule {
  matched: number;
  fired: number;
}

/** How an item fault changes driveItem JSON (real-world cases of wrong metadata). */
export type ItemFaultKind = 'wrong-hash' | 'no-hash' | 'size-plus-one' | 'size-minus-one';

/** A scheduled change to the driveItem JSON of one path. */
export interface ItemFault {
  /** Item path from the drive root, like `/a/b.bin`, compared without regard to case. */
  path: string;
  /** Apply the fault to every item below `path` too, for files whose names a test cannot know. */
  below?: boolean;
  kind: ItemFaultKind;
  /** How many responses are changed; defaults to Infinity. */
  times?: number;
}

interface ActiveItemFault extends ItemFault {
  applied: number;
}

/** The request facts a rule is matched against. */
export interface RequestFacts {
  method: string;
  target: RequestTarget;
  path: string;
}

/** Faults a test sets while the emulator runs. */
export class FaultPlan {
  readonly rules: ActiveFaultRule[] = [];
  #itemFaults: ActiveItemFault[] = [];

  /** Adds a request rule and returns it, so a test can read `matched` and `fired`. */
  add(rule: FaultRule): ActiveFaultRule {
    const active: ActiveFaultRule = { ...rule, matched: 0, fired: 0 };
    this.rules.push(active);
    return active;
  }

  /** Adds a change to the driveItem JSON of one path. */
  corruptItem(fault: ItemFault): void {
    this.#itemFaults.push({ ...fault, applied: 0 });
  }

  /** Removes every rule and item fault. */
  clear(): void {
    this.rules.length = 0;
    this.#itemFaults = [];
  }

  /**
   * Counts the request against every matching rule and returns the action of
   * the first rule that fires, if any.
   */
  take(request: RequestFacts): FaultAction | undefined {
    let action: FaultAction | undefined;
    for (const rule of this.rules) {
      if (!matches(rule.match, request)) {
        continue;
      }
      rule.matched += 1;
      const first = rule.nth ?? 1;
      const last = first + (rule.times ?? 1) - 1;
      if (action === undefined && rule.matched >= first && rule.matched <= last) {
        rule.fired += 1;
        action = rule.action;
      }
    }
    return action;
  }

  /** Applies the item faults for `itemPath` to a driveItem JSON object in place. */
  applyToItem(itemPath: string, json: Record<string, unknown>): void {
    for (const fault of this.#itemFaults) {
      const wanted = fault.path.toLowerCase();
      const actual = itemPath.toLowerCase();
      const inside = fault.below === true && actual.startsWith(`${wanted.replace(/\/$/, '')}/`);
      if (actual !== wanted && !inside) {
        continue;
      }
      if (fault.applied >= (fault.times ?? Infinity)) {
        continue;
      }
      fault.applied += 1;
      changeItem(json, fault.kind);
    }
  }
}

function matches(match: FaultMatch, request: RequestFacts): boolean {
  if (match.method !== undefined && match.method.toUpperCase() !== request.method) {
    return false;
  }
  if (match.target !== undefined && match.target !== request.target) {
    return false;
  }
  if (match.path === undefined) {
    return true;
  }
  return typeof match.path === 'string'
    ? request.path.includes(match.path)
    : match.path.test(request.path);
}

function changeItem(json: Record<string, unknown>, kind: ItemFaultKind): void {
  const file = json.file as { hashes?: Record<string, string> } | undefined;
  if (kind === 'size-plus-one' || kind === 'size-minus-one') {
    json.size = (json.size as number) + (kind === 'size-plus-one' ? 1 : -1);
    return;
  }
  if (file === undefined) {
    return;
  }
  if (kind === 'no-hash') {
    file.hashes = {};
    return;
  }
  const hash = Buffer.from(file.hashes?.quickXorHash ?? '', 'base64');
  const wrong = Buffer.alloc(20);
  hash.copy(wrong);
  wrong[0] = wrong[0]! ^ 0xff;
  file.hashes = { ...file.hashes, quickXorHash: wrong.toString('base64') };
}
