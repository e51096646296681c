#!/usr/bin/env bash
# Runs one libFuzzer harness (docs/fuzzing.md), niced, one process:
#   scripts/dev/fuzz.sh NAME [SECONDS] [extra libFuzzer flags...]
# Needs the clang build tree build-fuzz (cmake -B build-fuzz -DCMAKE_CXX_COMPILER=clang++
# -DSPENDGATE_FUZZ=ON -DBUILD_TESTING=OFF; cmake --build build-fuzz --target fuzz_NAME).
# The working corpus (build-fuzz/work/NAME) starts from the committed one (tests/fuzz/corpus/NAME);
# crashes go to build-fuzz/artifacts/NAME/, the log to build-fuzz/logs/NAME.log.
# `--merge` instead minimises build-fuzz/work/NAME and copies its smallest inputs, up to
# FUZZ_CORPUS_BUDGET bytes (12000), into tests/fuzz/corpus/NAME (seed-* and crash-* stay).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
name="$1"
shift
bin="build-fuzz/tests/fuzz/fuzz_$name"
committed="tests/fuzz/corpus/$name"
work="build-fuzz/work/$name"
mkdir -p "$work" "build-fuzz/artifacts/$name" build-fuzz/logs
if [[ "${1:-}" == "--merge" ]]; then
  # Minimise the working corpus, then commit its smallest inputs up to a byte budget (the replay
  # test runs them all under GCC; the full corpus stays in build-fuzz/work).
  budget="${FUZZ_CORPUS_BUDGET:-12000}"
  fresh="$(mktemp -d)"
  nice -n 10 "$bin" -merge=1 -rss_limit_mb=2048 "$fresh" "$work" "$committed" 2>&1 | tail -n 1
  find "$committed" -type f ! -name 'seed-*' ! -name 'crash-*' -delete
  used=0
  while read -r size file; do
    ((used + size > budget)) && break
    cp "$file" "$committed/min-$(basename "$file")"
    used=$((used + size))
  done < <(find "$fresh" -type f -printf '%s %p\n' | sort -n)
  rm -rf "$fresh"
  echo "$name: $(find "$committed" -type f | wc -l) files, $(du -sb "$committed" | cut -f1) bytes"
  exit 0
fi
seconds="${1:-300}"
shift || true
cp -n "$committed"/* "$work"/ 2>/dev/null || true
nice -n 10 "$bin" "$work" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
  -print_final_stats=1 -artifact_prefix="build-fuzz/artifacts/$name/" "$@" \
  2>&1 | tee "build-fuzz/logs/$name.log" | grep -E '^#[0-9]+ *(pulse|DONE)|ERROR|invariant|SUMMARY|stat::' || true
