import type { Command } from 'commander';

/** `univg teacher`: placeholder until its module lands. */
export function register(_program: Command): void {}
