/**
 * Reaching Redis: where its URL comes from (a flag or UNIVG_REDIS_URL), how it may be shown (never with
 * a user or password), and a connection that fails with one clear line when Redis is not there.
 */
import { Redis } from 'ioredis';
import { ConfigError, EXIT, UnivgError } from '../errors.js';

export const REDIS_ENV = 'UNIVG_REDIS_URL';

/** The URL as logs, errors and run.json may show it: scheme, host, port and database; no credentials. */
export function redactRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    const db = u.pathname && u.pathname !== '/' ? u.pathname : '';
    return `${u.protocol}//${u.hostname}${u.port ? `:${u.port}` : ''}${db}`;
  } catch {
    return '(unreadable Redis URL)';
  }
}

/** The Redis URL from the flag, else the environment; a usage error (naming neither secret) when absent or malformed. */
export function redisUrlFrom(flag: string | undefined, env: Record<string, string | undefined> = process.env): string {
  const url = flag ?? (env[REDIS_ENV] || undefined);
  if (!url) throw new ConfigError(`the queue needs Redis: give --redis redis://host:6379 or set ${REDIS_ENV}`, { field: 'redis' });
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ConfigError('--redis is not a URL; expected redis://[user:password@]host:port[/db]', { field: 'redis' });
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new ConfigError(`--redis must be a redis:// or rediss:// URL, not ${u.protocol}`, { field: 'redis' });
  return url;
}

/** Redis could not be reached or refused us: bad usage (exit 2), one line, no password. */
export class RedisUnreachableError extends UnivgError {
  constructor(url: string, why: string) {
    super('redis_unreachable', `cannot reach Redis at ${redactRedisUrl(url)}: ${why}`, {}, { exitCode: EXIT.usage });
  }
}

/** Why a connection failed, in words that carry no credential (ioredis's messages name host:port at most). */
function reason(err: unknown, url: string): string {
  const e = err as { code?: string; message?: string };
  const pw = (() => {
    try {
      return decodeURIComponent(new URL(url).password);
    } catch {
      return '';
    }
  })();
  const text = e.code ?? e.message ?? String(err);
  return pw ? text.split(pw).join('[REDACTED]') : text;
}

/**
 * A connection that has answered PING. Long-lived connections reconnect on their own afterwards
 * (BullMQ needs `maxRetriesPerRequest: null`); only the first contact fails fast.
 */
export async function connectRedis(url: string, opts: { name?: string } = {}): Promise<Redis> {
  const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 5000, retryStrategy: () => null, enableOfflineQueue: false });
  let lastError: unknown = null;
  probe.on('error', (err) => {
    lastError = err;
  });
  try {
    await probe.connect();
    await probe.ping();
  } catch (err) {
    probe.disconnect();
    throw new RedisUnreachableError(url, reason(lastError ?? err, url));
  }
  probe.disconnect();
  const r = new Redis(url, { maxRetriesPerRequest: null, ...(opts.name ? { connectionName: opts.name } : {}) });
  // ioredis prints unhandled 'error' events itself; reconnects are its business, the caller sees failed commands.
  r.on('error', () => {});
  return r;
}
