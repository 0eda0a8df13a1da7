#!/usr/bin/env bash
# Lines of code per layer of the pipeline at git revision REV (default HEAD): how the foundation
# refactor's figures (issue 9 note) are counted.
# usage: scripts/layers.sh [REV]
set -euo pipefail
rev=${1:-HEAD}
cnt() { local n=0; for p in "$@"; do for f in $(git ls-tree -r --name-only $rev -- $p 2>/dev/null); do n=$((n + $(git show $rev:$f | wc -l))); done; done; echo $n; }
echo "format+archive: $(cnt src/format src/archive.rs)"
echo "layout+safetensors: $(cnt src/layout.rs src/safetensors.rs src/safetensors)"
echo "codecs (codec, huffman, chunk): $(cnt src/codec src/codec.rs src/huffman src/chunk.rs)"
echo "cpu encode/decode (compress, decompress, engine, pipeline, buffer, delta, constants, error, lib): $(cnt src/compress.rs src/decompress.rs src/engine.rs src/pipeline.rs src/buffer.rs src/delta.rs src/constants.rs src/error.rs src/lib.rs)"
echo "gpu+shaders: $(cnt src/gpu shaders)"
echo "reader (source, reader, extract): $(cnt src/source.rs src/reader src/extract.rs)"
echo "files+folders+decoder (library): $(cnt src/files src/folder src/decoder.rs)"
echo "cli: $(cnt src/cli src/main.rs)"
echo "tests (incl. support): $(cnt tests)"
echo "fuzz: $(cnt fuzz/fuzz_targets fuzz/harness.rs fuzz/alloc_cap.rs)"
