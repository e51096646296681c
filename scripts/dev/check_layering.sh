#!/usr/bin/env bash
# Keeps the layers honest: core/ is pure rules (no sockets, files, logging, YAML, no upward
# includes) so it stays unit-testable; config/ may use core/ but never proxy/.
# Prints every offending line and exits 1 if there is one.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

status=0
check() { # check DIR DESCRIPTION EXTENDED-REGEX
  local dir="$1" what="$2" regex="$3" hits
  [[ -d "$dir" ]] || return 0
  hits="$(grep -rnE --include='*.hpp' --include='*.cpp' --include='*.h' --include='*.cc' \
    "^[[:space:]]*#[[:space:]]*include[[:space:]]*$regex" "$dir" || true)"
  if [[ -n "$hits" ]]; then
    echo "layering: $dir/ must not include $what:" >&2
    echo "$hits" >&2
    status=1
  fi
}

check core "I/O, networking, logging or YAML headers" \
  '[<"](boost/asio|boost/beast|hiredis|yaml-cpp|spdlog|fstream|cstdio|stdio\.h|iostream|filesystem)([/.>"]|$)'
check core "config/ or proxy/" '[<"](proxy|config)/'
check config "proxy/" '[<"]proxy/'

((status == 0)) && echo "layering: ok"
exit "$status"
