#!/usr/bin/env bash
# The GPU check: WebGPU backend parity against cpu, the SFT and GRPO step per shape against PyTorch CUDA,
# and `univg train sft|rl --backend webgpu` on a real corpus, on a GPU host that has no Node and no network.
#
#   bash bench/gpu/check.sh prepare   here: builds .device-kit/ (Node, Dawn, the Vulkan loader via
#                                     ../shared/gpu/make-kit.sh; bundles of univg and of the check; sharp and
#                                     parquet-wasm; a 64-row SftRow corpus from the demo run)
#   bash bench/gpu/check.sh run       on the GPU host (carry .device-kit): writes $OUT/gpu-check.json
#   bash bench/gpu/check.sh local     here: the same bundles on the cpu path, to test them before they travel
#   bash bench/gpu/check.sh bundle DIR  only the bundles, into DIR (tests/bench/gpu-check.test.ts uses it)
#
# With the device tool: run(command="bash bench/gpu/check.sh run", carry=[".device-kit"], timeout_s=540).
set -euo pipefail
cd "$(dirname "$0")/../.."
kit=.device-kit
app=$kit/univg
mode=${1:-prepare}

bundle() {
  local dest=$1
  rm -rf "$dest" && mkdir -p "$dest"
  # Native or file-loading packages stay outside the bundles and travel in node_modules beside them.
  local common=(--bundle --platform=node --format=esm --log-level=warning
    --external:sharp --external:parquet-wasm --external:@duckdb/node-api --external:webgpu
    "--banner:js=import { createRequire as __cr } from 'module'; const require = __cr(import.meta.url);")
  npx esbuild src/cli/main.ts "${common[@]}" --outfile="$dest/univg.mjs"
  npx esbuild bench/gpu/check.ts "${common[@]}" --outfile="$dest/check.mjs"
  cp src/train/loader/decode-worker.mjs bench/train_step_torch.py "$dest/"
  node -e 'const p=require("./package.json");require("fs").writeFileSync(process.argv[1],JSON.stringify({name:p.name,version:p.version,type:"module"})+"\n")' "$dest/package.json"
}

prepare() {
  local make_kit=${MAKE_KIT:-../shared/gpu/make-kit.sh}
  [ -f "$make_kit" ] || { echo "check.sh: $make_kit not found (set MAKE_KIT to the shared GPU kit builder)" >&2; exit 2; }
  [ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
  bash "$make_kit" >/dev/null
  bundle "$app"
  tar -C node_modules -cf - sharp @img detect-libc semver parquet-wasm/package.json parquet-wasm/node | xz -T2 -6 > "$kit/univg-node-modules.tar.xz"
  # A real corpus: the first 16 rows of the demo's SFT shards (the demo runs first if there is none; its
  # images are embedded PNGs of about 0.5 MB a row, and what travels is capped at 64 MiB).
  [ -f runs/demo/corpus/sft/_manifest.json ] || node bin/univg.js demo --quiet
  rm -rf "$kit/corpus" && npx tsx bench/gpu/subset.ts runs/demo/corpus/sft "$kit/corpus/sft" 16
  # The bundles travel compressed too.
  tar -C "$app" -cf - . | xz -T2 -6 > "$kit/univg-app.tar.xz" && rm -rf "$app"
  du -sh "$kit"
}

unpack() {
  local dest=$1
  rm -rf "$dest" && mkdir -p "$dest/node_modules"
  tar -C "$dest" -xJf "$kit/univg-app.tar.xz"
  tar -C "$dest/node_modules" -xJf "$kit/univg-node-modules.tar.xz"
}

case "$mode" in
  prepare)
    prepare
    echo "prepared; on a GPU host: bash bench/gpu/check.sh run   (carry $kit)"
    ;;
  run)
    [ -f "$kit/univg-app.tar.xz" ] || { echo "check.sh: $kit/univg-app.tar.xz missing: run 'bash bench/gpu/check.sh prepare' first" >&2; exit 2; }
    # shellcheck disable=SC1091
    source "$kit/setup.sh"
    unpack /tmp/kit/univg
    out=${OUT:-$PWD/gpu-out}
    mkdir -p "$out"
    nvidia-smi -L || true
    node /tmp/kit/univg/check.mjs --out "$out" --univg /tmp/kit/univg/univg.mjs --corpus "$PWD/$kit/corpus/sft" \
      --torch-script /tmp/kit/univg/train_step_torch.py "${@:2}" 2>&1 | tee "$out/gpu-check.log"
    ;;
  local)
    [ -f "$kit/univg-app.tar.xz" ] || prepare
    unpack "${TMPDIR:-/tmp}/univg-kit-local"
    node "${TMPDIR:-/tmp}/univg-kit-local/check.mjs" --backend cpu --presets tiny --steps 1 --grpo-steps 1 --fit-steps 10 --torch-device cpu \
      --out "${TMPDIR:-/tmp}/univg-kit-local/out" --univg "${TMPDIR:-/tmp}/univg-kit-local/univg.mjs" --corpus "$PWD/$kit/corpus/sft" \
      --torch-script "${TMPDIR:-/tmp}/univg-kit-local/train_step_torch.py" --sft-steps 4 --rl-steps 1 \
      "--sft-args=--d-model 16 --n-layers 1 --mlp-hidden 32 --image-size 16" "${@:2}"
    ;;
  bundle)
    [ -n "${2:-}" ] || { echo "usage: bash bench/gpu/check.sh bundle DIR" >&2; exit 2; }
    bundle "$2"
    ;;
  *)
    echo "usage: bash bench/gpu/check.sh prepare|run|local|bundle DIR" >&2
    exit 2
    ;;
esac
