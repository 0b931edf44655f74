import type { Command } from 'commander';

/** `univg synth`: placeholder until its module lands. */
export function register(_program: Command): void {}
