/** The package version, for manifests (`writer`). Found by walking up from this module to univg's package.json. */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const p = join(dir, 'package.json');
    if (existsSync(p)) {
      const pkg = JSON.parse(readFileSync(p, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'univg' && pkg.version) return pkg.version;
    }
    dir = dirname(dir);
  }
  return '0.0.0-unknown';
}

export const UNIVG_VERSION = findVersion();
/** Written into every manifest; bump the suffix when the shard layout changes. */
export const WRITER = `univg ${UNIVG_VERSION} (parquet-wasm)`;
