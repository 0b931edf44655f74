import type { Command } from 'commander';

/** `univg ingest`: placeholder until its module lands. */
export function register(_program: Command): void {}
