/** The shard store: Parquet stage directories with manifests, streaming readers, verification, image store. */
export { stableTaskOf, shardFileName, parseShardFileName, isTempFileName } from './names.js';
export {
  ShardWriter,
  writeShards,
  removeOtherSets,
  defaultKeyOf,
  DEFAULT_ROW_GROUP_ROWS,
  DEFAULT_ROW_GROUP_BYTES,
  DEFAULT_MEMORY_BYTES,
  type ShardWriterOptions,
  type WriteShardsOptions,
} from './writer.js';
export {
  MANIFEST_NAME,
  Manifest,
  ShardFileInfo,
  Lineage,
  LineageInput,
  buildManifest,
  writeManifest,
  readManifest,
  stageInput,
  type ManifestExtra,
} from './manifest.js';
export { readBatches, readRows, type ReadOptions, type ReadRowsOptions } from './reader.js';
export { verifyShards, type VerifyResult, type VerifyOptions, type ShardProblem, type FileCheck } from './verify.js';
export { ImageStore, type StoredImage } from './images.js';
export { openParquet, type Compression, type Footer, type OpenParquet } from './parquet.js';
export { sha256File } from './fsutil.js';
export { UNIVG_VERSION, WRITER } from './version.js';
