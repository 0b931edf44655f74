/**
 * Runs before every test file. Property tests draw the same values on every run (a fixed fast-check seed),
 * so CI cannot fail on one run and pass on the next; a property that should be explored further gets a
 * larger numRuns, not a new random seed per run.
 */
import fc from 'fast-check';

fc.configureGlobal({ seed: 20261204 });
