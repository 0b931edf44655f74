/**
 * Everything the generate stage needs to call the teacher, opened once per process: the resolved
 * config, the client, the response cache and, when `teacher.simulated` is set, the built-in simulated
 * teacher started on a free localhost port.
 */
import { isAbsolute, resolve } from 'node:path';
import { ConfigError } from '../errors.js';
import type { TeacherConfig } from '../schema/config.js';
import { ResponseCache, type CacheOptions } from './cache.js';
import { TeacherClient, type TeacherEvent } from './client.js';
import { checkPromptVersion } from './prompts.js';
import type { TeacherCoordination } from './shared.js';
import { startSimTeacher, type SimTeacher } from './sim/index.js';

export interface TeacherHandle {
  config: TeacherConfig;
  client: TeacherClient;
  cache: ResponseCache;
  /** The simulated teacher when the config asks for one. */
  sim: SimTeacher | null;
  close(): Promise<void>;
}

export interface OpenTeacherOptions {
  env?: Record<string, string | undefined>;
  log?: (e: TeacherEvent) => void;
  /** Directory a relative cacheDir is resolved against (default the working directory). */
  root?: string;
  cache?: CacheOptions;
  /** The budget, breaker and request claims shared with other processes (queue workers). */
  coordination?: TeacherCoordination;
}

const SIM_CONVENTIONS = new Set(['qwen2vl', 'qwen25vl', 'norm']);

export async function openTeacher(config: TeacherConfig, opts: OpenTeacherOptions = {}): Promise<TeacherHandle> {
  checkPromptVersion(config.mode, config.promptVersion);
  let sim: SimTeacher | null = null;
  if (config.simulated) {
    if (!SIM_CONVENTIONS.has(config.convention)) {
      throw new ConfigError(`the simulated teacher answers in qwen2vl, qwen25vl or norm, not ${config.convention}`, { field: 'teacher.convention' });
    }
    const s = config.simulated;
    sim = await startSimTeacher({
      port: 0,
      seed: s.seed,
      convention: config.convention as 'qwen2vl' | 'qwen25vl' | 'norm',
      minPixels: config.minPixels,
      maxPixels: config.maxPixels,
      faults: s.faults,
      ...(s.rpm !== undefined ? { rpm: s.rpm } : {}),
      ...(s.tpm !== undefined ? { tpm: s.tpm } : {}),
      latencyMs: s.latencyMs,
      ...(s.batch ? { batch: Object.fromEntries(Object.entries(s.batch).filter(([, v]) => v !== undefined)) } : {}),
    });
  }
  try {
    const client = new TeacherClient({ config, ...(opts.env ? { env: opts.env } : {}), ...(sim ? { baseUrl: sim.url } : {}), ...(opts.log ? { log: opts.log } : {}), ...(opts.coordination ? { coordination: opts.coordination } : {}) });
    const dir = isAbsolute(config.cacheDir) ? config.cacheDir : resolve(opts.root ?? process.cwd(), config.cacheDir);
    const cache = await ResponseCache.open(dir, opts.cache);
    return {
      config,
      client,
      cache,
      sim,
      async close() {
        client.close();
        await cache.close();
        await sim?.close();
      },
    };
  } catch (err) {
    await sim?.close();
    throw err;
  }
}
