#!/usr/bin/env bash
# Where each proxy's CPU time per request goes, kernel included (docs/performance.md, "Where the
# CPU goes"):
#   scripts/dev/perf_cpu.sh [BIN] [--seconds N] [--rounds N] [--keep DIR]
# Starts an nginx `return 200` upstream with the bench's chat completion, nginx as the bench's
# plain keepalive reverse proxy, and BIN (default build-release/proxy/spendgate) with the bench's
# `spendgate-memory` rules; then, alternating for --rounds (default 2), drives each with
# `wrk -t1 -c16 -dN` (default 8 s, the bench's request) while `perf record -e cpu-clock` samples
# that proxy process (all its threads). cpu-clock is a software event: it works in VMs without
# hardware counters. Prints CPU microseconds per request split into the kernel (with the syscalls
# that lead there; loopback delivery to the peer runs inside the sender's sendmsg/writev), the
# proxy's own code, libc and other libraries, and the median over rounds. Needs perf
# (`apt-get install linux-perf`), nginx, wrk, node, and root or kernel.perf_event_paranoid <= 1.
# Each row is its own median over the rounds (so the parts need not add up exactly); "write/
# fdatasync" is every write(2) (the ledger's, the log's); "other libraries" is what the kernel,
# the proxy and libc leave. perf's sampling adds ~10 % to every figure; compare the columns with each other, not with the
# bench's CPU us/req. Run it on a quiet machine: "context switches" (time in __schedule, which
# the other rows include) grows with other load and then swamps the differences.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
root="$PWD"
bin=build-release/proxy/spendgate
seconds=8
rounds=2
keep=
while (($#)); do
  case "$1" in
    --seconds) seconds="$2"; shift ;;
    --rounds) rounds="$2"; shift ;;
    --keep) keep="$2"; shift ;;
    -h | --help) sed -n '2,16p' "$0"; exit 0 ;;
    *) bin="$1" ;;
  esac
  shift
done
[[ -x "$bin" ]] || { echo "no binary at $bin" >&2; exit 1; }
for t in perf nginx wrk node python3; do
  command -v "$t" >/dev/null || { echo "needs $t" >&2; exit 1; }
done

bench_tmp_prefix=spendgate-perf
source "$(dirname "${BASH_SOURCE[0]}")/bench_servers.sh"
up="$(free_port)" ngx="$(free_port)" port="$(free_port)" admin="$(free_port)"

start_upstream "$up"
# nginx as scripts/bench's plain keepalive reverse proxy.
start_nginx "$tmp/ngx" "server { listen 127.0.0.1:$ngx; location / { proxy_pass http://upstream_pool; proxy_http_version 1.1; proxy_set_header Connection \"\"; proxy_buffering off; } }" \
  "upstream upstream_pool { server 127.0.0.1:$up; keepalive 64; keepalive_requests 1000000; }"
ngx_master=$!
spendgate_config "$tmp/spendgate.yaml" "$port" "$admin" "$up"
"$bin" serve -c "$tmp/spendgate.yaml" >"$tmp/spendgate.log" 2>&1 &
sg=$!
pids+=($sg)
wait_port "$up"
wait_port "$ngx"
wait_port "$port"
# With `daemon off` and one worker, nginx's worker is the master's only child.
ngx_worker="$(pgrep -P "$ngx_master" -x nginx | head -1)"
[[ -n "$ngx_worker" ]] || { echo "no nginx worker found" >&2; exit 1; }

lua="$root/scripts/bench.d/post.lua"
measure() { # NAME PORT PID ROUND
  local out="$tmp/$1.r$4"
  wrk -t1 -c16 -d2s -s "$lua" "http://127.0.0.1:$2/v1/chat/completions" >/dev/null # warm-up
  perf record -q -e cpu-clock -F 4999 -g -p "$3" -o "$out.data" >/dev/null 2>&1 &
  local perf=$!
  sleep 0.5
  wrk -t1 -c16 -d"${seconds}s" -s "$lua" "http://127.0.0.1:$2/v1/chat/completions" >"$out.wrk" || true
  kill -INT "$perf"
  wait "$perf" || true
  grep -q '"errors": {"connect": 0, "read": 0, "write": 0, "status": 0, "timeout": 0}' "$out.wrk" ||
    { echo "wrk saw errors against $1:" >&2; cat "$out.wrk" >&2; exit 1; }
  perf report -i "$out.data" --no-children --sort dso --stdio -g none 2>/dev/null >"$out.dso"
  perf report -i "$out.data" --children --sort sym --stdio -g none 2>/dev/null >"$out.sym"
  perf report -i "$out.data" --stdio -g none --sort dso 2>/dev/null | grep -m1 'Event count' >"$out.count"
}
for r in $(seq "$rounds"); do
  echo "round $r/$rounds: nginx, spendgate (wrk -t1 -c16 -d${seconds}s under perf)" >&2
  measure nginx "$ngx" "$ngx_worker" "$r"
  measure spendgate "$port" "$sg" "$r"
done
[[ -n "$keep" ]] && mkdir -p "$keep" && cp "$tmp"/*.r* "$keep"/

python3 - "$tmp" "$rounds" "$bin" <<'EOF'
import json, re, statistics, sys
tmp, rounds, binary = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rows = ["total", "kernel", "  sendmsg/writev (+ peer delivery)", "  recvfrom", "  epoll_wait",
        "  write/fdatasync (ledger, log)", "  other kernel", "proxy code", "libc", "other libraries",
        "context switches (in the above)"]
def one(name, r):
    base = f"{tmp}/{name}.r{r}"
    wrk = json.loads(open(base + ".wrk").read().split("BENCH_JSON ", 1)[1].splitlines()[0])
    ns = float(re.search(r"Event count \(approx\.\): (\d+)", open(base + ".count").read()).group(1))
    per = ns / wrk["requests"] / 1000.0 # us of CPU per request
    share = {}
    for line in open(base + ".dso"):
        m = re.match(r"\s+([\d.]+)%\s+(\S+)", line)
        if m: share[m.group(2)] = float(m.group(1)) / 100
    children = {}
    for line in open(base + ".sym"):
        m = re.match(r"\s+([\d.]+)%\s+[\d.]+%\s+\[k\]\s+(\S+)", line)
        if m: children.setdefault(m.group(2), float(m.group(1)) / 100)
    kernel = share.get("[kernel.kallsyms]", 0)
    send = children.get("__sys_sendmsg", 0) + children.get("do_writev", 0)
    recv = children.get("__sys_recvfrom", 0)
    epoll = children.get("do_epoll_wait", 0)
    ledger = children.get("ksys_write", 0) + children.get("__x64_sys_fdatasync", 0)
    own = sum(v for k, v in share.items() if k in ("nginx", "spendgate"))
    libc = share.get("libc.so.6", 0) + share.get("[vdso]", 0)
    other = 1 - kernel - own - libc
    switches = children.get("__schedule", 0)
    parts = [1, kernel, send, recv, epoll, ledger, kernel - send - recv - epoll - ledger, own, libc, other,
             switches]
    return [p * per for p in parts], wrk["requests"] * 1e6 / wrk["duration_us"]
res = {n: [one(n, r) for r in range(1, rounds + 1)] for n in ("nginx", "spendgate")}
med = {n: [statistics.median(v[0][i] for v in res[n]) for i in range(len(rows))] for n in res}
rps = {n: statistics.median(v[1] for v in res[n]) for n in res}
print(f"CPU us per request under perf (median of {rounds}), wrk -t1 -c16, one worker each; {binary}")
print(f"{'':36}{'nginx':>9}{'spendgate':>11}{'difference':>12}")
for i, row in enumerate(rows):
    a, b = med["nginx"][i], med["spendgate"][i]
    print(f"{row:36}{a:9.2f}{b:11.2f}{b - a:+12.2f}")
print(f"{'req/s under perf':36}{rps['nginx']:9.0f}{rps['spendgate']:11.0f}{rps['spendgate'] / rps['nginx']:11.2f}x")
EOF
