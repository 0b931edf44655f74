/**
 * What teacher clients in different processes share, on Redis (the interfaces are src/teacher/shared.ts):
 *
 * - one rate budget: the requests/min and tokens/min buckets are one Redis hash, refilled and taken from
 *   in one Lua script on Redis's clock (TIME), so every worker on every machine takes from the same
 *   buckets atomically; a 429's pause and what headers say (limits, remaining) are written there too;
 * - one circuit breaker: state changes go out on a channel, and one probe at a time is a SET NX;
 * - request claims: SET NX with an expiry that the holder renews, so a claim outlives no dead worker.
 *
 * The scope (an endpoint and model) names the budget: processes calling the same account share it.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { InterruptedError } from '../errors.js';
import type { RateHeaders, Reservation } from '../teacher/rate-limit.js';
import type { BreakerPeers, PeerBreakerState, RateControl, RequestClaim, RequestClaims, TeacherCoordination } from '../teacher/shared.js';
import { sleep } from '../async/sleep.js';

/**
 * The buckets, refilled to Redis's now, then one operation. Fields: rt/tt tokens, last (ms), paused
 * (ms), lrpm/ltpm learned limits, seq (requests admitted). Returns {wait ms, seq, rpm, tpm, lrpm, ltpm}
 * with rates x1000 (Redis turns Lua numbers into integers).
 */
const RATE_SCRIPT = `
local key = KEYS[1]
local op = ARGV[1]
local confRpm = tonumber(ARGV[2])
local confTpm = tonumber(ARGV[3])
local safety = tonumber(ARGV[4])
local burst = tonumber(ARGV[5])
local a = tonumber(ARGV[6])
local b = tonumber(ARGV[7])
local c = tonumber(ARGV[8])
local d = tonumber(ARGV[9])
local e = tonumber(ARGV[10])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local s = redis.call('HMGET', key, 'rt', 'tt', 'last', 'paused', 'lrpm', 'ltpm', 'seq')
local rt = tonumber(s[1])
local tt = tonumber(s[2])
local last = tonumber(s[3]) or now
local paused = tonumber(s[4]) or 0
local lrpm = tonumber(s[5]) or 0
local ltpm = tonumber(s[6]) or 0
local seq = tonumber(s[7]) or 0
if op == 'observe' then
  if a > 0 then lrpm = a end
  if b > 0 then ltpm = b end
end
local function eff(conf, learned)
  local v = 0
  if conf > 0 then v = conf end
  if learned > 0 and (v == 0 or learned < v) then v = learned end
  return v * safety
end
local rpm = eff(confRpm, lrpm)
local tpm = eff(confTpm, ltpm)
local function cap(rate) return math.max(1, rate / 60000 * burst * 1000) end
local function refill(tokens, rate)
  if rate <= 0 then return 0 end
  if tokens == nil then return math.min(cap(rate), math.max(1, rate / 60)) end
  local dt = now - last
  if dt < 0 then dt = 0 end
  return math.min(cap(rate), tokens + dt * rate / 60000)
end
rt = refill(rt, rpm)
tt = refill(tt, tpm)
local wait = 0
if op == 'acquire' then
  if paused > now then wait = paused - now end
  if rpm > 0 and rt < 1 then wait = math.max(wait, math.ceil((1 - rt) * 60000 / rpm)) end
  if tpm > 0 then
    local need = math.min(a, cap(tpm))
    if tt < need then wait = math.max(wait, math.ceil((need - tt) * 60000 / tpm)) end
  end
  if wait == 0 then
    rt = rt - 1
    tt = tt - a
    seq = seq + 1
  end
elseif op == 'reconcile' then
  tt = math.min(cap(math.max(tpm, 1)), tt + a)
elseif op == 'pause' then
  if now + a > paused then paused = now + a end
  rt = math.min(rt, 0)
  tt = math.min(tt, 0)
elseif op == 'observe' then
  if c >= 0 and rpm > 0 then rt = math.min(rt, c - math.max(0, seq - e)) end
  if d >= 0 and tpm > 0 then tt = math.min(tt, d) end
end
redis.call('HSET', key, 'rt', rt, 'tt', tt, 'last', now, 'paused', paused, 'lrpm', lrpm, 'ltpm', ltpm, 'seq', seq)
redis.call('PEXPIRE', key, 3600000)
return {wait, seq, math.floor(rpm * 1000), math.floor(tpm * 1000), lrpm, ltpm}
`;

export interface RedisRateOptions {
  rpm?: number | undefined;
  tpm?: number | undefined;
  /** Share of a limit actually used (as the one-process RateLimiter). */
  safety?: number;
  /**
   * Seconds of refill the budget may hold (default 1, not the one-process limiter's 3): with the 0.98
   * margin, 1 s of burst plus 59 s at the rate stays under the limit in any 60 s window a provider counts.
   */
  burstSeconds?: number;
}

/** The fleet's rate budget. Waiters of one process go one at a time (first in, first out), so one process polls Redis at a time. */
export class RedisRateControl implements RateControl {
  private eff: { rpm: number | null; tpm: number | null };
  private learned: { rpm: number | null; tpm: number | null } = { rpm: null, tpm: null };
  private turn: Promise<unknown> = Promise.resolve();
  private closed: { reason: unknown } | null = null;
  private readonly closer = new AbortController();

  constructor(
    private readonly redis: Redis,
    private readonly key: string,
    private readonly o: RedisRateOptions = {},
  ) {
    const safety = o.safety ?? 0.98;
    this.eff = { rpm: o.rpm ? o.rpm * safety : null, tpm: o.tpm ? o.tpm * safety : null };
  }

  private async run(op: string, a = 0, b = 0, c = -1, d = -1, e = 0): Promise<{ wait: number; seq: number }> {
    const args = [op, this.o.rpm ?? 0, this.o.tpm ?? 0, this.o.safety ?? 0.98, this.o.burstSeconds ?? 1, a, b, c, d, e].map(String);
    const r = (await this.redis.eval(RATE_SCRIPT, 1, this.key, ...args)) as number[];
    const [wait, seq, rpm, tpm, lrpm, ltpm] = r.map(Number) as [number, number, number, number, number, number];
    this.eff = { rpm: rpm > 0 ? rpm / 1000 : null, tpm: tpm > 0 ? tpm / 1000 : null };
    this.learned = { rpm: lrpm > 0 ? lrpm : null, tpm: ltpm > 0 ? ltpm : null };
    return { wait, seq };
  }

  acquire(tokens: number, signal?: AbortSignal): Promise<Reservation> {
    const mine = this.turn.then(async () => {
      const stop = signal ? AbortSignal.any([signal, this.closer.signal]) : this.closer.signal;
      for (;;) {
        if (this.closed) throw this.closed.reason;
        if (signal?.aborted) throw signal.reason;
        const { wait, seq } = await this.run('acquire', tokens);
        if (wait === 0) return { tokens, seq };
        await sleep(wait, stop).catch(() => {});
      }
    });
    this.turn = mine.catch(() => {});
    if (!signal) return mine;
    // A waiter that gives up leaves at once (its turn, when it comes, takes nothing).
    return new Promise<Reservation>((resolve, reject) => {
      const onAbort = () => reject(signal.reason);
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      mine.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }

  /** Fire and forget, as for the one-process limiter; a lost update only makes the budget slightly off. */
  private background(p: Promise<unknown>): void {
    p.catch(() => {});
  }

  reconcile(r: Reservation, actualTokens: number): void {
    if (this.eff.tpm !== null) this.background(this.run('reconcile', r.tokens - actualTokens));
  }

  pause(ms: number): void {
    this.background(this.run('pause', ms));
  }

  observe(h: RateHeaders, r?: Reservation): void {
    this.background(this.run('observe', h.limitRequests ?? 0, h.limitTokens ?? 0, h.remainingRequests ?? -1, h.remainingTokens ?? -1, r?.seq ?? 0));
  }

  limits(): { rpm: number | null; tpm: number | null } {
    return { ...this.eff };
  }

  learnedLimits(): { rpm: number | null; tpm: number | null } {
    return { ...this.learned };
  }

  close(reason: unknown): void {
    this.closed = { reason };
    this.closer.abort(reason);
  }
}

/** Claims on request keys: SET NX with an expiry renewed while the holder lives. */
export class RedisRequestClaims implements RequestClaims {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    /** A dead holder's claim lapses after this long (the holder renews it every third of it). */
    private readonly ttlMs = 30_000,
    private readonly pollMs = 200,
  ) {}

  async claim(key: string): Promise<RequestClaim | null> {
    const k = `${this.prefix}${key}`;
    const token = randomBytes(8).toString('hex');
    if ((await this.redis.set(k, token, 'PX', this.ttlMs, 'NX')) !== 'OK') return null;
    const renew = setInterval(() => {
      this.redis.eval("if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0", 1, k, token, String(this.ttlMs)).catch(() => {});
    }, Math.max(50, Math.floor(this.ttlMs / 3)));
    renew.unref();
    return {
      release: async () => {
        clearInterval(renew);
        await this.redis.eval("if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0", 1, k, token);
      },
    };
  }

  async waitReleased(key: string, signal?: AbortSignal): Promise<void> {
    const k = `${this.prefix}${key}`;
    while ((await this.redis.exists(k)) === 1) {
      if (signal?.aborted) throw new InterruptedError();
      await sleep(this.pollMs, signal).catch(() => {});
    }
  }
}

/** The breakers of the other processes: state changes on a channel, one probe at a time by SET NX. */
export class RedisBreakerPeers implements BreakerPeers {
  private readonly id = randomBytes(8).toString('hex');
  private sub: Redis | null = null;
  private readonly listeners = new Set<(s: PeerBreakerState) => void>();

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  publish(s: PeerBreakerState): void {
    this.redis.publish(`${this.prefix}breaker`, JSON.stringify({ from: this.id, ...s })).catch(() => {});
  }

  subscribe(fn: (s: PeerBreakerState) => void): () => void {
    this.listeners.add(fn);
    if (!this.sub) {
      const sub = this.redis.duplicate();
      sub.on('error', () => {});
      sub.on('message', (_channel: string, text: string) => {
        const { from, ...s } = JSON.parse(text) as PeerBreakerState & { from: string };
        if (from !== this.id) for (const l of this.listeners) l(s);
      });
      sub.subscribe(`${this.prefix}breaker`).catch(() => {});
      this.sub = sub;
    }
    return () => {
      this.listeners.delete(fn);
    };
  }

  async claimProbe(holdMs: number): Promise<boolean> {
    return (await this.redis.set(`${this.prefix}probe`, this.id, 'PX', Math.max(1, Math.round(holdMs)), 'NX')) === 'OK';
  }

  close(): void {
    this.sub?.disconnect();
    this.sub = null;
  }
}

export interface RedisCoordination {
  coordination: TeacherCoordination;
  close(): void;
}

/** Everything a teacher client shares for one scope (endpoint and model). */
export function redisCoordination(redis: Redis, scope: string, rate: RedisRateOptions, opts: { claimTtlMs?: number } = {}): RedisCoordination {
  const prefix = `univg:teacher:${scope}:`;
  const breaker = new RedisBreakerPeers(redis, prefix);
  return {
    coordination: {
      rate: new RedisRateControl(redis, `${prefix}rate`, rate),
      breaker,
      claims: new RedisRequestClaims(redis, `${prefix}claim:`, opts.claimTtlMs),
    },
    close: () => breaker.close(),
  };
}
