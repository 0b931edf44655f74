/**
 * What a teacher client shares with the other processes that call the same endpoint (queue workers on
 * any number of machines): one requests/tokens budget, one circuit breaker, and claims on requests in
 * flight so that no request is paid twice. The client works alone when none is given; src/queue
 * implements them on Redis. Only interfaces here, so the teacher module knows nothing of Redis.
 */
import type { RateHeaders, Reservation } from './rate-limit.js';

/** Request and token rate control as the client uses it (rate-limit.ts's RateLimiter is the one-process one). */
export interface RateControl {
  /** Wait until a request of `tokens` estimated tokens may be sent. */
  acquire(tokens: number, signal?: AbortSignal): Promise<Reservation>;
  /** The real token count after the call (the estimate is given back or charged more). */
  reconcile(r: Reservation, actualTokens: number): void;
  /** A 429: nobody sends before `ms` from now. */
  pause(ms: number): void;
  /** What a response's x-ratelimit-* headers said (limits, remaining). */
  observe(h: RateHeaders, r?: Reservation): void;
  /** Effective limits after configuration, headers and the safety margin. */
  limits(): { rpm: number | null; tpm: number | null };
  /** Limits announced in headers (null: not announced). */
  learnedLimits(): { rpm: number | null; tpm: number | null };
  /** Reject every waiter (the stage stops). */
  close(reason: unknown): void;
}

/** A circuit breaker's state (breaker.ts); declared here so that breaker.ts depends on this module, not the reverse. */
export type BreakerState = 'closed' | 'open' | 'half-open' | 'failed';

/** The breaker's state as the processes tell each other. */
export interface PeerBreakerState {
  state: Exclude<BreakerState, 'half-open'>;
  /** How long it stays open from now (open), 0 otherwise. */
  cooldownMs: number;
  /** Opens in a row so far (the probes that failed), for giving up together. */
  opens: number;
  reason: string | null;
}

/** The other processes' circuit breakers. */
export interface BreakerPeers {
  /** Tell the others (fire and forget). */
  publish(s: PeerBreakerState): void;
  /** Be told what another process published (never what this one did). Returns an unsubscribe function. */
  subscribe(fn: (s: PeerBreakerState) => void): () => void;
  /** One probe at a time across processes: true when this process may send the probe now. */
  claimProbe(holdMs: number): Promise<boolean>;
}

/** This process's claim on a request: it alone sends it; released once its answer is cached (or it failed). */
export interface RequestClaim {
  release(): Promise<void>;
}

/** Claims on request keys (the response cache's keys), so two processes never pay for one request. */
export interface RequestClaims {
  /** Become the one process that sends `key` (a claim), or learn that another process holds it (null). */
  claim(key: string): Promise<RequestClaim | null>;
  /** Wait until another process's claim on `key` is released, or has expired because its holder died. */
  waitReleased(key: string, signal?: AbortSignal): Promise<void>;
}

export interface TeacherCoordination {
  rate?: RateControl;
  breaker?: BreakerPeers;
  claims?: RequestClaims;
}
