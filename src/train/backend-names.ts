/** Backend names in order of preference (no tfjs import here, so the CLI can list them cheaply). */
export const BACKEND_ORDER = ['node-gpu', 'webgpu', 'node', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKEND_ORDER)[number];
