// Report for scripts/bench: reads the records the run appended (one JSON object a line), prints the
// tables and one MET / NOT MET line per target, and writes everything to a JSON file if asked.
//
//   node report.mjs RECORDS.jsonl [OUT.json]
//
// Exit code: 1 when a wrk run saw errors (non-2xx answers, socket errors): its figures are not
// comparable. Targets never change the exit code.
import fs from "node:fs";

const [recordsPath, outPath] = process.argv.slice(2);
const records = fs
  .readFileSync(recordsPath, "utf8")
  .split("\n")
  .filter((l) => l.trim())
  .map((l) => JSON.parse(l));
const meta = records.find((r) => r.section === "meta") || {};
const standin = !!meta.standin_nginx;

const median = (xs) => {
  const s = xs.filter((x) => x !== null && Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return null;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const round1 = (x) => (x === null || x === undefined ? null : Math.round(x * 10) / 10);
const fmt = (x, digits = 0) =>
  x === null || x === undefined || Number.isNaN(x) ? "-" : Number(x).toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
const signed = (x, digits = 0) => (x === null || x === undefined ? "-" : (x >= 0 ? "+" : "") + fmt(x, digits));
const pad = (s, n) => String(s).padStart(n);
const padr = (s, n) => String(s).padEnd(n);
const out = [];
const print = (s = "") => out.push(s);

// ---------------------------------------------------------------- throughput and one connection
const labels = {
  upstream: "upstream (direct)",
  nginx: "nginx proxy",
  "spendgate-pass": "spendgate pass-through",
  "spendgate-memory": "spendgate metering, memory",
  "spendgate-redis": "spendgate metering, Redis",
};
const runs = records
  .filter((r) => r.section === "throughput")
  .map((r) => {
    const w = r.wrk;
    const errors = w.errors.connect + w.errors.read + w.errors.write + w.errors.status + w.errors.timeout;
    const tickUs = 1e6 / r.clk_tck;
    return {
      target: r.target,
      load: r.load,
      round: r.round,
      connections: r.connections,
      duration: r.duration,
      requests: w.requests,
      rps: w.requests / (w.duration_us / 1e6),
      p50_us: w.latency_us.p50,
      p75_us: w.latency_us.p75,
      p90_us: w.latency_us.p90,
      p99_us: w.latency_us.p99,
      p999_us: w.latency_us.p999,
      max_us: w.latency_us.max,
      cpu_us_per_req: w.requests ? (r.server_cpu_ticks * tickUs) / w.requests : null,
      redis_cpu_us_per_req: r.redis_cpu_ticks === null || !w.requests ? null : (r.redis_cpu_ticks * tickUs) / w.requests,
      errors,
      wrk_errors: w.errors,
    };
  });
const targetsOrder = [...new Set(runs.map((r) => r.target))];
const figures = ["rps", "p50_us", "p75_us", "p90_us", "p99_us", "p999_us", "cpu_us_per_req", "redis_cpu_us_per_req"];
const agg = {};
const redisMem = records.find((r) => r.section === "memory" && r.target === "redis-server");
for (const t of targetsOrder) {
  agg[t] = {};
  for (const load of ["throughput", "one_connection"]) {
    const rs = runs.filter((r) => r.target === t && r.load === load);
    if (!rs.length) continue;
    const a = { rounds: rs.length, requests: rs.reduce((s, r) => s + r.requests, 0), errors: rs.reduce((s, r) => s + r.errors, 0) };
    for (const f of figures) a[f] = median(rs.map((r) => r[f]));
    agg[t][load] = a;
  }
  const mem = records.find((r) => r.section === "memory" && r.target === t);
  if (mem) agg[t].peak_rss_kb = mem.hwm_kb;
}
// Ratios to nginx (median req/s), and latency added over direct at one connection: per round
// (same run), then the median over rounds.
const nginxRps = agg.nginx?.throughput?.rps ?? null;
const added = {};
for (const t of targetsOrder) {
  if (agg[t].throughput && nginxRps) agg[t].throughput.ratio_to_nginx = agg[t].throughput.rps / nginxRps;
  if (t === "upstream") continue;
  const mine = runs.filter((r) => r.target === t && r.load === "one_connection");
  const a = {};
  for (const f of ["p50_us", "p90_us", "p99_us", "p999_us"]) {
    a[f] = median(
      mine.map((r) => {
        const d = runs.find((x) => x.target === "upstream" && x.load === "one_connection" && x.round === r.round);
        return d ? r[f] - d[f] : null;
      }),
    );
  }
  if (mine.length) added[t] = a;
}
const anyWrkErrors = runs.some((r) => r.errors > 0);

if (runs.length) {
  const r0 = runs.find((r) => r.load === "throughput");
  const r1 = runs.find((r) => r.load === "one_connection");
  const nr = Math.max(...runs.map((r) => r.round));
  print(`THROUGHPUT  wrk -t1 -c${r0?.connections} -d${r0?.duration}, one worker thread per server` + (nr > 1 ? `; median of ${nr} interleaved rounds` : ""));
  print(
    `${padr("target", 28)}${pad("req/s", 10)}${pad("x nginx", 9)}${pad("p50 us", 9)}${pad("p99 us", 9)}${pad("p99.9 us", 10)}` +
      `${pad("CPU us/req", 12)}${pad("peak RSS MiB", 13)}${pad("errors", 8)}`,
  );
  for (const t of targetsOrder) {
    const a = agg[t].throughput;
    if (!a) continue;
    print(
      `${padr(labels[t] || t, 28)}${pad(fmt(a.rps), 10)}${pad(fmt(a.ratio_to_nginx, 2), 9)}${pad(fmt(a.p50_us), 9)}` +
        `${pad(fmt(a.p99_us), 9)}${pad(fmt(a.p999_us), 10)}${pad(fmt(a.cpu_us_per_req, 1), 12)}` +
        `${pad(fmt(agg[t].peak_rss_kb / 1024, 1), 13)}${pad(a.errors, 8)}`,
    );
  }
  const rr = agg["spendgate-redis"]?.throughput?.redis_cpu_us_per_req;
  const rm = records.find((r) => r.section === "memory" && r.target === "redis-server");
  if (rr !== undefined && rr !== null)
    print(`  (+ redis-server: ${fmt(rr, 1)} CPU us/req for spendgate metering, Redis; peak RSS ${fmt((rm?.hwm_kb ?? NaN) / 1024, 1)} MiB)`);
  print("  CPU us/req: the server process(es) only (nginx: master + worker); wrk and the upstream excluded.");
  print();
  if (r1) {
    print(`ONE CONNECTION  wrk -t1 -c1 -d${r1.duration}; added = target - upstream (direct), same round`);
    print(
      `${padr("target", 28)}${pad("req/s", 10)}${pad("p50 us", 9)}${pad("p99 us", 9)}${pad("p99.9 us", 10)}` +
        `${pad("+p50 us", 9)}${pad("+p99 us", 9)}${pad("+p99.9 us", 11)}${pad("CPU us/req", 12)}`,
    );
    for (const t of targetsOrder) {
      const a = agg[t].one_connection;
      if (!a) continue;
      const d = added[t] || {};
      print(
        `${padr(labels[t] || t, 28)}${pad(fmt(a.rps), 10)}${pad(fmt(a.p50_us), 9)}${pad(fmt(a.p99_us), 9)}${pad(fmt(a.p999_us), 10)}` +
          `${pad(signed(d.p50_us), 9)}${pad(signed(d.p99_us), 9)}${pad(signed(d.p999_us), 11)}${pad(fmt(a.cpu_us_per_req, 1), 12)}`,
      );
    }
    print();
  }
}

// ---------------------------------------------------------------- streaming
const st = records.find((r) => r.section === "streaming")?.result;
let streamAdded = null;
if (st) {
  const T = st.targets;
  print(
    `STREAMING  ${st.streams_per_round} streams per path x ${st.events_per_stream} events ${st.interval_ms} ms apart, ${st.rounds} rounds, ` +
      `all paths at once, streams interleaved; delay = arrival - send (CLOCK_MONOTONIC), in us`,
  );
  print(
    `${padr("path", 12)}${pad("events", 8)}${pad("delay p50", 11)}${pad("p99", 8)}${pad("p99.9", 8)}` +
      `${pad("TTFB p50", 10)}${pad("p99", 8)}${pad("1st event p50", 15)}${pad("errors", 8)}`,
  );
  for (const [name, v] of Object.entries(T)) {
    print(
      `${padr(name, 12)}${pad(v.events, 8)}${pad(fmt(v.event_delay.p50_us), 11)}${pad(fmt(v.event_delay.p99_us), 8)}` +
        `${pad(fmt(v.event_delay.p999_us), 8)}${pad(fmt(v.ttfb.p50_us), 10)}${pad(fmt(v.ttfb.p99_us), 8)}` +
        `${pad(fmt(v.first_event.p50_us), 15)}${pad(v.errors, 8)}`,
    );
  }
  const diff = (a, b, k, p) => (a && b && a[k][p] !== null && b[k][p] !== null ? a[k][p] - b[k][p] : null);
  const mk = (name) => ({
    event_delay_p50_us: round1(diff(T[name], T.direct, "event_delay", "p50_us")),
    event_delay_p99_us: round1(diff(T[name], T.direct, "event_delay", "p99_us")),
    event_delay_p999_us: round1(diff(T[name], T.direct, "event_delay", "p999_us")),
    ttfb_p50_us: round1(diff(T[name], T.direct, "ttfb", "p50_us")),
    ttfb_p99_us: round1(diff(T[name], T.direct, "ttfb", "p99_us")),
    first_event_p50_us: round1(diff(T[name], T.direct, "first_event", "p50_us")),
  });
  streamAdded = { spendgate: mk("spendgate"), nginx: T.nginx ? mk("nginx") : null };
  for (const [name, a] of Object.entries(streamAdded)) {
    if (!a) continue;
    print(
      `  added by ${name}: per event p50 ${signed(a.event_delay_p50_us)} us, p99 ${signed(a.event_delay_p99_us)} us, ` +
        `p99.9 ${signed(a.event_delay_p999_us)} us; TTFB p50 ${signed(a.ttfb_p50_us)} us, p99 ${signed(a.ttfb_p99_us)} us`,
    );
  }
  print(`  (TTFB samples: ${T.direct?.ttfb.n} per path, so its p99 is close to the maximum.)`);
  print();
}

// ---------------------------------------------------------------- many streams
const manyRec = records.find((r) => r.section === "many");
const many = manyRec?.result;
if (many) {
  print(
    `MANY STREAMS  ${fmt(many.opened)} of ${fmt(many.requested)} streams open (${fmt(manyRec.requested)} asked; open-file limit ${manyRec.fd_limit}), ` +
      `opened in ${fmt(many.open_ms / 1000, 1)} s, held ${many.hold_s} s, an event every ${many.interval_ms / 1000} s`,
  );
  print(
    `  spendgate RSS: ${fmt(many.rss_before_kb / 1024, 1)} MiB before, ${fmt(many.rss_held_kb / 1024, 1)} MiB with the streams open ` +
      `(max ${fmt(many.rss_held_max_kb / 1024, 1)}), ${fmt(many.rss_after_close_kb / 1024, 1)} MiB after closing; ` +
      `descriptors ${fmt(many.fds_held)}`,
  );
  print(
    `  memory per stream: ${fmt(many.bytes_per_stream / 1000, 1)} KB (${fmt(many.bytes_per_stream)} bytes, KB = 1000 bytes; ` +
      `${fmt(many.bytes_per_stream_max / 1000, 1)} KB at the highest sample)`,
  );
  print(
    `  errors: ${many.errors_total}` +
      (many.errors_total ? ` ${JSON.stringify(many.errors)} e.g. ${many.error_samples.slice(0, 3).join("; ")}` : "") +
      (manyRec.spendgate_alive_after ? "" : "; spendgate is no longer running"),
  );
  print();
}

// ---------------------------------------------------------------- targets
const targets = [];
const target = (name, value, unit, cmp, threshold, note = "") => {
  const met = value !== null && value !== undefined && (cmp === ">=" ? value >= threshold : value < threshold);
  targets.push({ name, value: value === null || value === undefined ? null : round1(value * 1000) / 1000, unit, cmp, threshold, met, note });
};
const mem = agg["spendgate-memory"];
const red = agg["spendgate-redis"];
if (mem?.throughput) target("spendgate metering (memory) req/s vs nginx", mem.throughput.ratio_to_nginx, "x", ">=", 1.0);
if (red?.throughput) target("spendgate metering (Redis) req/s vs nginx", red.throughput.ratio_to_nginx, "x", ">=", 0.7);
if (added["spendgate-memory"]) {
  target("added p50 at one connection (metering, memory)", added["spendgate-memory"].p50_us, "us", "<", 50);
  target("added p99 at one connection (metering, memory)", added["spendgate-memory"].p99_us, "us", "<", 250);
}
if (streamAdded) {
  target("streaming: added delay per event, p50", streamAdded.spendgate.event_delay_p50_us, "us", "<", 100);
  target("streaming: added delay per event, p99", streamAdded.spendgate.event_delay_p99_us, "us", "<", 100);
}
if (many) {
  target("10,000 concurrent streams open", many.opened, "streams", ">=", 10000,
    many.requested < manyRec.requested ? `open-file limit ${manyRec.fd_limit} allows only ${many.requested}` : "");
  target("memory per open stream", many.bytes_per_stream === null ? null : many.bytes_per_stream / 1000, "KB", "<", 40);
  target("errors with the streams open", many.errors_total + (manyRec.spendgate_alive_after ? 0 : 1), "", "<", 1);
}
if (targets.length) {
  print(`TARGETS${standin ? "  (nginx stand-in instead of spendgate: plumbing check only)" : ""}`);
  for (const t of targets) {
    const v = t.value === null ? "not measured" : `${fmt(t.value, t.unit === "x" ? 2 : t.unit === "KB" ? 1 : 0)}${t.unit ? " " + t.unit : ""}`;
    const want = `${t.cmp === ">=" ? ">=" : "<"} ${fmt(t.threshold, t.unit === "x" ? 1 : 0)}${t.unit ? " " + t.unit : ""}`;
    print(`${padr(t.met ? "MET" : "NOT MET", 9)}${padr(t.name, 50)}${pad(v, 16)}  (want ${want})${t.note ? "  " + t.note : ""}`);
  }
}
if (anyWrkErrors) print("WARNING: some wrk responses were errors (non-2xx or socket errors): throughput figures are not comparable");
print();
print(
  `machine: ${meta.nproc} cores, ${meta.cpu}, load ${meta.loadavg_at_start} at start, ${meta.loadavg_at_end} at end; ` +
    `commit ${meta.commit}${meta.modified_files ? ` + ${meta.modified_files} modified files` : ""}; ${meta.elapsed_s} s`,
);
console.log(out.join("\n"));

if (outPath) {
  const json = {
    meta,
    throughput: { targets: agg, added_over_direct_one_connection: added, redis_server_memory: redisMem ?? null, runs },
    streaming: st ? { ...st, added: streamAdded } : null,
    many: many ? { asked: manyRec.requested, fd_limit: manyRec.fd_limit, spendgate_alive_after: manyRec.spendgate_alive_after, ...many } : null,
    targets,
    wrk_errors: anyWrkErrors,
    report: out.join("\n"),
  };
  fs.writeFileSync(outPath, JSON.stringify(json, null, 2) + "\n");
}
process.exit(anyWrkErrors ? 1 : 0);
