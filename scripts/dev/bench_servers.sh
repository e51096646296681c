# Sourced by scripts/dev/callgrind.sh and scripts/dev/perf_cpu.sh: a temp dir whose processes are
# stopped on exit, free ports, and the servers of scripts/bench's throughput section (its nginx
# settings, its chat completion with usage, its `spendgate-memory` rules).

tmp="$(mktemp -d -t "${bench_tmp_prefix:-spendgate-dev}.XXXXXX")"
chmod 755 "$tmp" # nginx workers may run as another user
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
wait_port() {
  for _ in $(seq 150); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.2; done
  echo "nothing listens on port $1" >&2
  return 1
}

# The same answer as scripts/bench's `upstream`.
completion='{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I help you today?"},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":20,"completion_tokens":10,"total_tokens":30},"system_fingerprint":"fp_bench"}'

# start_nginx DIR SERVER-BLOCK [HTTP-EXTRA]: one nginx worker with scripts/bench's http settings.
start_nginx() {
  mkdir -p "$1/tmp"
  cat >"$1/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $1/nginx.pid;
error_log $1/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_timeout 75s;
  keepalive_requests 1000000;
  client_body_temp_path $1/tmp/body;
  proxy_temp_path $1/tmp/proxy;
  fastcgi_temp_path $1/tmp/fastcgi;
  uwsgi_temp_path $1/tmp/uwsgi;
  scgi_temp_path $1/tmp/scgi;
  $2
  ${3:-}
}
EOF
  nginx -p "$1" -c "$1/nginx.conf" -e "$1/error.log" >"$1/stdout.log" 2>&1 &
  pids+=($!)
}

# start_upstream PORT: nginx answering every request with $completion.
start_upstream() {
  start_nginx "$tmp/up" "server { listen 127.0.0.1:$1; location / { default_type application/json; return 200 '$completion'; } }"
}

# spendgate_config FILE PORT ADMIN-PORT UPSTREAM-PORT [STORE-LINE]: scripts/bench's
# spendgate-memory config (spendgate-redis with a Redis store line).
spendgate_config() {
  cat >"$1" <<EOF
server: { listen: "127.0.0.1:$2", threads: 1 }
admin: { listen: "127.0.0.1:$3" }
providers:
  openai: { format: openai, base_url: "http://127.0.0.1:$4", routes: ["/v1/"] }
ledger: { path: "$tmp/ledger.jsonl" }
logging: { level: warn }
budgets:
  - { name: bench-global, scope: global, period: day, limit_usd: 1000000, mode: hard }
rate_limits:
  - { name: bench-per-key, scope: key, requests_per_minute: 10000000 }
${5:-}
EOF
}
