/**
 * Sends Graph requests: adds the access token, runs each attempt in a Gate
 * slot, retries through the RetryPolicy and maps final failures to
 * BackupError. Every Graph call of the backend goes through `request`.
 */
import type { Logger } from '../../log/index.ts';
import type { Clock } from './clock.ts';
import type { Gate } from './gate.ts';
import { finalGraphError, formatGraphError, parseGraphError } from './graph-errors.ts';
import { describeFailure, RetryBudget, type Failure, type RetryPolicy } from './retry.ts';
import type { AccessTokenProvider } from './types.ts';

/** One Graph request. */
export interface GraphRequest {
  method: 'GET' | 'PUT' | 'POST' | 'DELETE' | 'PATCH';
  /** A path below the base URL (starting with `/`) or an absolute URL. */
  url: string;
  /** What the request does, for messages: "upload data/ab/ab12…". */
  what: string;
  headers?: Record<string, string>;
  /** A fresh body for each attempt, because a stream body can be sent only once. */
  body?: () => Uint8Array | ReadableStream<Uint8Array> | string;
  /** False for upload URLs, which must be sent without Authorization (Graph upload session docs). */
  auth?: boolean;
  /** Statuses returned to the caller instead of failing, such as 404 for a stat. */
  accept?: readonly number[];
}

/** A request that failed once; `failure` says how. */
export class AttemptFailed extends Error {
  readonly failure: Failure;

  constructor(failure: Failure) {
    super(describeFailure(failure));
    this.failure = failure;
  }
}

/** Settings of a GraphHttp. */
export interface GraphHttpOptions {
  baseUrl: string;
  getAccessToken: AccessTokenProvider;
  gate: Gate;
  policy: RetryPolicy;
  clock: Clock;
  logger: Logger;
  requestTimeoutMillis: number;
}

/** Sends Graph requests with authentication, concurrency limits and retries. */
export class GraphHttp {
  readonly options: GraphHttpOptions;
  /** Requests sent, counting every attempt. */
  requestCount = 0;

  constructor(options: GraphHttpOptions) {
    this.options = options;
  }

  /** Sends a request, retrying retryable failures; returns a 2xx reply or one listed in `accept`. */
  async request(request: GraphRequest, budget = new RetryBudget()): Promise<Response> {
    for (;;) {
      try {
        return await this.attempt(request);
      } catch (err) {
        if (!(err instanceof AttemptFailed)) throw err;
        const delay = await this.options.policy.waitToRetry(err.failure, budget, request.what);
        this.options.logger.warn(
          { what: request.what, failure: err.message, retryInMillis: delay },
          'Graph request failed; retrying',
        );
      }
    }
  }

  /** Sends a request and parses its JSON reply. */
  async json<T>(request: GraphRequest, budget?: RetryBudget): Promise<T> {
    const response = await this.request(request, budget);
    return (await response.json()) as T;
  }

  /** Maps a failure that will not be retried to the BackupError a caller throws. */
  finalError(failure: Failure, what: string) {
    return finalGraphError(failure, what);
  }

  /**
   * Sends one attempt. Throws AttemptFailed for a network error or an
   * unaccepted status; a 401 is retried once with a refreshed token.
   */
  async attempt(request: GraphRequest): Promise<Response> {
    let response = await this.send(request, false);
    if (response.status === 401 && request.auth !== false) {
      await response.body?.cancel();
      response = await this.send(request, true);
    }
    if (response.ok || request.accept?.includes(response.status)) return response;
    throw new AttemptFailed(await statusFailure(response));
  }

  private async send(request: GraphRequest, forceRefresh: boolean): Promise<Response> {
    const { gate } = this.options;
    await gate.waitForPause();
    const headers: Record<string, string> = { ...request.headers };
    if (request.auth !== false) {
      const token = await this.options.getAccessToken({ forceRefresh });
      headers.authorization = `Bearer ${token}`;
    }
    const url = request.url.startsWith('/') ? this.options.baseUrl + request.url : request.url;
    const body = request.body?.();
    return gate.run(async () => {
      this.requestCount++;
      try {
        return await fetch(url, {
          method: request.method,
          headers,
          body,
          redirect: 'follow',
          signal: AbortSignal.timeout(this.options.requestTimeoutMillis),
          ...(body instanceof ReadableStream ? { duplex: 'half' } : {}),
        });
      } catch (err) {
        throw new AttemptFailed({ kind: 'network', error: err });
      }
    });
  }
}

/** Reads an error reply into a Failure. */
async function statusFailure(response: Response): Promise<Failure> {
  const text = await response.text().catch(() => '');
  const detail = formatGraphError(parseGraphError(text));
  return { kind: 'status', status: response.status, headers: response.headers, detail };
}
