#!/usr/bin/env bash
# Formats every C++ file with the repo's .clang-format.
#   scripts/dev/format.sh          rewrite files in place
#   scripts/dev/format.sh --check  change nothing; exit 1 and show where a file is not formatted
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

mode=(-i)
case "${1:-}" in
  "") ;;
  --check) mode=(--dry-run -Werror) ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

# node_modules under tests/integration is someone else's code.
mapfile -d '' files < <(find core config proxy tests -name node_modules -prune -o \
  -type f \( -name '*.hpp' -o -name '*.cpp' \) -print0 2>/dev/null | sort -z)
((${#files[@]})) || { echo "format: no C++ files"; exit 0; }
clang-format "${mode[@]}" "${files[@]}"
echo "format: ${#files[@]} files ${mode[*]}"
