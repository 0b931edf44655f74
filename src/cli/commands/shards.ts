import type { Command } from 'commander';

/** `univg shards`: placeholder until its module lands. */
export function register(_program: Command): void {}
