/** The BullMQ queue on a Redis that has answered (a missing Redis is one clear line, not a hang). */
import { Queue } from 'bullmq';
import { connectRedis } from './redis.js';
import { QUEUE_NAME, QUEUE_PREFIX } from './jobs.js';

export async function openQueue(url: string): Promise<{ queue: Queue; close(): Promise<void> }> {
  const redis = await connectRedis(url, { name: 'univg-planner' });
  const queue = new Queue(QUEUE_NAME, { connection: redis, prefix: QUEUE_PREFIX });
  queue.on('error', () => {});
  return {
    queue,
    async close() {
      await queue.close();
      redis.disconnect();
    },
  };
}
