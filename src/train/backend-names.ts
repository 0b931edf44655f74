/** Backend names in order of preference (no tfjs import here, so the CLI can list them cheaply). */
export const BACKEND_ORDER = ['node-gpu', 'node', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKEND_ORDER)[number];
