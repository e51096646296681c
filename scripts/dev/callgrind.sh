#!/usr/bin/env bash
# Instructions per request, the measure of docs/performance.md ("Where it was, and what changed"):
#   scripts/dev/callgrind.sh [BIN] [--keep DIR] [--redis] [--answer FILE]
# BIN (default build-release/proxy/spendgate; build it with
# `scripts/build Release --dir build-release --no-tests --target spendgate`) runs under callgrind
# with one worker and the bench's `spendgate-memory` rules (hard global budget, per-key rate limit,
# memory store) in front of an nginx `return 200` with the bench's fixed chat completion. One
# keep-alive connection sends 3000 sequential requests (the bench's body and bearer key); callgrind
# dumps (and zeroes) its counters after request 1000 and after 3000, so the second dump holds the
# instructions of requests 1001..3000 (all threads). Prints (Ir at 3000 − Ir at 1000) / 2000.
# --keep DIR copies that dump to DIR/callgrind.out: callgrind_annotate --inclusive=yes for inclusive
# costs, scripts/dev/callgrind_self.py for self costs per request (names uncompressed, one file).
# --redis: the bench's `spendgate-redis` rules instead (the same on its own redis-server).
# --answer FILE: nginx answers with FILE's bytes (one JSON answer, no `$` in it) instead of the
# bench's chat completion, e.g. an answer with escaped text (docs/performance.md).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
bin=build-release/proxy/spendgate
keep=
redis=
answer=
while (($#)); do
  case "$1" in
    --keep) keep="$2"; shift ;;
    --redis) redis=1 ;;
    --answer) answer="$2"; shift ;;
    -h | --help) sed -n '2,15p' "$0"; exit 0 ;;
    *) bin="$1" ;;
  esac
  shift
done
[[ -x "$bin" ]] || { echo "no binary at $bin" >&2; exit 1; }
for t in valgrind callgrind_control nginx node ${redis:+redis-server}; do
  command -v "$t" >/dev/null || { echo "needs $t" >&2; exit 1; }
done

bench_tmp_prefix=spendgate-cg
source "$(dirname "${BASH_SOURCE[0]}")/bench_servers.sh"
up="$(free_port)" port="$(free_port)" admin="$(free_port)"

if [[ -n "$answer" ]]; then
  [[ -r "$answer" ]] || { echo "cannot read $answer" >&2; exit 1; }
  completion="$(<"$answer")"
  [[ "$completion" != *'$'* ]] || { echo "$answer contains '\$' (an nginx variable)" >&2; exit 1; }
  # nginx reads \\ and \' in a quoted string as \ and ': the file's bytes are what it sends.
  completion="${completion//\\/\\\\}"
  completion="${completion//\'/\\\'}"
fi
start_upstream "$up"
wait_port "$up"

store=
if [[ -n "$redis" ]]; then
  rport="$(free_port)"
  redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no --dir "$tmp" \
    >"$tmp/redis.log" 2>&1 &
  pids+=($!)
  wait_port "$rport"
  store="store: { kind: redis, redis: { url: \"redis://127.0.0.1:$rport/0\" } }"
fi
spendgate_config "$tmp/spendgate.yaml" "$port" "$admin" "$up" "$store"
valgrind --tool=callgrind --dump-instr=no --compress-strings=no --callgrind-out-file="$tmp/cg.out.%p" \
  "$bin" serve -c "$tmp/spendgate.yaml" >"$tmp/spendgate.log" 2>&1 &
vg=$!
pids+=($vg)
wait_port "$port"

# Sequential keep-alive requests; after requests 1000 and 3000 the counters are dumped (and zeroed).
node --input-type=module - "$port" "$vg" <<'EOF'
import net from 'node:net';
import { execFileSync } from 'node:child_process';
const [port, pid] = process.argv.slice(2);
const body = '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}';
const request = Buffer.from(
  `POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\n` +
  `Authorization: Bearer sk-spendgate-bench\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
const socket = net.connect(Number(port), '127.0.0.1');
let buf = Buffer.alloc(0), done = 0, waiting = null;
socket.on('data', (d) => { buf = Buffer.concat([buf, d]); waiting?.(); });
socket.on('error', (e) => { console.error(e.message); process.exit(1); });
const answer = () => new Promise((resolve) => {
  const check = () => {
    const end = buf.indexOf('\r\n\r\n');
    if (end < 0) return;
    const head = buf.subarray(0, end).toString();
    if (!head.startsWith('HTTP/1.1 200')) { console.error(head); process.exit(1); }
    const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1]);
    if (buf.length < end + 4 + length) return;
    buf = buf.subarray(end + 4 + length);
    waiting = null;
    resolve();
  };
  waiting = check;
  check();
});
await new Promise((r) => socket.once('connect', r));
for (done = 1; done <= 3000; ++done) {
  socket.write(request);
  await answer();
  if (done === 1000 || done === 3000) execFileSync('callgrind_control', ['-d', pid], { stdio: 'ignore' });
}
socket.end();
EOF
kill -TERM "$vg"
wait "$vg" || true
second="$(ls "$tmp"/cg.out.*.2)"
[[ -n "$keep" ]] && mkdir -p "$keep" && cp "$second" "$keep/callgrind.out"
ir="$(awk '/^summary:/ { print $2; exit }' "$second")"
echo "$((ir / 2000)) instructions per request ($ir over requests 1001..3000, $bin)"
