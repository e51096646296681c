// Streaming client for scripts/bench (no dependencies). Two modes, each printing one JSON object on
// stdout; progress goes to stderr.
//
// latency: per-event delay and time to first byte, direct vs through a proxy, interleaved.
//   node sse_client.mjs latency --target NAME=URL [--target NAME=URL ...] [--streams 20]
//        [--events 20] [--interval-ms 50] [--rounds 3] [--deadline-s 120]
//   Each round: a warm-up (one short stream per connection, so that every measured stream reuses a
//   warm keep-alive connection, client side and proxy-to-upstream side), then --streams streams per
//   target, all targets at once, interleaved and started interval/(streams x targets) ms apart. For every content event: delay = arrival time (process.hrtime right after
//   the bytes reach JS) - bench_sent_ns (the upstream's process.hrtime just before its write). Both
//   are CLOCK_MONOTONIC, so the difference is the time on the way, client wake-up included.
//   TTFB = request written -> response headers parsed; first event = request written -> first event.
//
// hold: many concurrent open streams; memory of the proxy process per stream, and errors.
//   node sse_client.mjs hold --url URL --streams 10000 [--pid PROXY_PID] [--open-concurrency 200]
//        [--interval-ms 2000] [--hold-s 10] [--open-timeout-s 90]
//   Reads VmRSS of --pid before opening (baseline), once all streams are open, every second while
//   they are held, and 2 s after they are all closed. Every stream is one keep-alive connection with
//   one streaming request the upstream holds open, sending an event every --interval-ms.
//   Errors: a failed connection or request, a status other than 200, no first event within
//   --open-timeout-s, a stream that ends or fails while held, a stream that got no event while held.
import http from "node:http";
import fs from "node:fs";

const [mode, ...args] = process.argv.slice(2);
const all = (name) => args.flatMap((a, i) => (a === name ? [args[i + 1]] : []));
const opt = (name, dflt) => all(name).at(-1) ?? dflt;
const num = (name, dflt) => Number(opt(name, String(dflt)));
const log = (...m) => console.error("sse_client:", ...m);
const now = () => process.hrtime.bigint();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function pct(sorted, p) {
  if (!sorted.length) return null;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}
function stats(values) {
  const s = Float64Array.from(values).sort();
  const r = (v) => (v === null ? null : Math.round(v * 10) / 10);
  return {
    n: s.length,
    p50_us: r(pct(s, 50)),
    p90_us: r(pct(s, 90)),
    p99_us: r(pct(s, 99)),
    p999_us: r(pct(s, 99.9)),
    max_us: r(s.length ? s[s.length - 1] : null),
  };
}
function body(events, interval) {
  return JSON.stringify({
    model: "gpt-4o-mini",
    stream: true,
    stream_options: { include_usage: true },
    max_tokens: 64,
    messages: [{ role: "user", content: "hi" }],
    bench: { events, interval_ms: interval },
  });
}
const headers = (b) => ({
  "content-type": "application/json",
  authorization: "Bearer sk-spendgate-bench",
  "content-length": Buffer.byteLength(b),
});

// One streaming request. Calls onEvent(seq, sentNs, arrivalNs) for every content event; resolves
// {status, tWrite, tHeaders, tFirst, events, ended} when the response ends; rejects on errors.
function stream(url, agent, b, onEvent) {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const r = { status: 0, tWrite: 0n, tHeaders: 0n, tFirst: 0n, events: 0 };
    const req = http.request(
      { host: u.hostname, port: u.port, path: u.pathname, method: "POST", agent, headers: headers(b) },
      (res) => {
        r.tHeaders = now();
        r.status = res.statusCode;
        let buf = "";
        res.setEncoding("utf8");
        res.on("data", (d) => {
          const t = now();
          if (!r.tFirst) r.tFirst = t;
          buf += d;
          let k;
          while ((k = buf.indexOf("\n\n")) >= 0) {
            const ev = buf.slice(0, k);
            buf = buf.slice(k + 2);
            const m = /"bench_seq":(\d+),"bench_sent_ns":"(\d+)"/.exec(ev);
            if (m) {
              r.events++;
              onEvent(Number(m[1]), BigInt(m[2]), t);
            }
          }
        });
        res.on("end", () => resolve(r));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(b, () => {
      r.tWrite = now();
    });
  });
}

async function latency() {
  const targets = all("--target").map((t) => {
    const i = t.indexOf("=");
    return { name: t.slice(0, i), url: t.slice(i + 1) };
  });
  const streams = num("--streams", 20);
  const events = num("--events", 20);
  const interval = num("--interval-ms", 50);
  const rounds = num("--rounds", 3);
  const deadline = Date.now() + num("--deadline-s", 120) * 1000;
  const out = {};
  for (const t of targets) {
    t.agent = new http.Agent({ keepAlive: true, maxSockets: streams, maxFreeSockets: streams });
    t.delay = [];
    t.ttfb = [];
    t.first = [];
    t.errors = 0;
    t.streams = 0;
    t.events = 0;
  }
  // All targets run at once, their streams interleaved (target A stream 0, B 0, C 0, A 1, ...) and
  // started `stagger` ms apart, so that background load hits every path alike and events of
  // different streams do not arrive together.
  const stagger = Math.max(1, Math.floor(interval / (streams * targets.length)));
  for (let round = 1; round <= rounds; round++) {
    if (Date.now() > deadline) throw new Error("deadline reached");
    // Warm-up: one short stream on each of `streams` connections per target.
    await Promise.all(
      targets.flatMap((t) =>
        Array.from({ length: streams }, () => stream(t.url, t.agent, body(2, 1), () => {}).catch(() => t.errors++)),
      ),
    );
    const runs = [];
    for (let s = 0; s < streams; s++) {
      for (const t of targets) {
        runs.push(
          stream(t.url, t.agent, body(events, interval), (seq, sent, arrival) => {
            t.delay.push(Number(arrival - sent) / 1000);
          })
            .then((r) => {
              t.streams++;
              t.events += r.events;
              if (r.status !== 200 || r.events !== events) t.errors++;
              t.ttfb.push(Number(r.tHeaders - r.tWrite) / 1000);
              t.first.push(Number(r.tFirst - r.tWrite) / 1000);
            })
            .catch((e) => {
              t.errors++;
              log(`${t.name}: ${e.message}`);
            }),
        );
        await sleep(stagger);
      }
    }
    await Promise.all(runs);
    log(`round ${round}/${rounds}: ${targets.map((t) => `${t.name} ${t.events} events, ${t.errors} errors`).join("; ")}`);
  }
  for (const t of targets) {
    t.agent.destroy();
    out[t.name] = {
      url: t.url,
      streams: t.streams,
      events: t.events,
      errors: t.errors,
      event_delay: stats(t.delay),
      ttfb: stats(t.ttfb),
      first_event: stats(t.first),
    };
  }
  return { mode: "latency", streams_per_round: streams, events_per_stream: events, interval_ms: interval, stagger_ms: stagger, rounds, targets: out };
}

function rssKb(pid) {
  try {
    const s = fs.readFileSync(`/proc/${pid}/status`, "utf8");
    const g = (k) => Number((new RegExp(`^${k}:\\s+(\\d+)`, "m").exec(s) || [])[1] ?? NaN);
    return { rss_kb: g("VmRSS"), hwm_kb: g("VmHWM") };
  } catch {
    return { rss_kb: null, hwm_kb: null };
  }
}
function fdCount(pid) {
  try {
    return fs.readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return null;
  }
}

async function hold() {
  const url = opt("--url");
  const n = num("--streams", 10000);
  const pid = opt("--pid", "");
  const conc = num("--open-concurrency", 200);
  const interval = num("--interval-ms", 2000);
  const holdS = num("--hold-s", 10);
  const openTimeout = num("--open-timeout-s", 90) * 1000;
  const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: n });
  const b = body(0, interval);
  const u = new URL(url);
  const errors = { connect_or_request: 0, status: 0, open_timeout: 0, ended_while_held: 0, no_event_while_held: 0 };
  const errorSamples = [];
  const noteError = (kind, msg) => {
    errors[kind]++;
    if (errorSamples.length < 10) errorSamples.push(`${kind}: ${msg}`);
  };
  const live = []; // {req, res, events, closing}
  let holding = false;
  const samples = [];
  const sample = (phase) => {
    if (!pid) return;
    samples.push({ phase, t_ms: Date.now(), ...rssKb(pid), fds: fdCount(pid) });
  };

  sample("before");
  const t0 = Date.now();
  const openOne = () =>
    new Promise((resolve) => {
      const s = { req: null, events: 0, heldEvents: 0, closing: false, open: false };
      let settled = false;
      const done = (ok) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (ok) live.push(s);
        resolve();
      };
      const timer = setTimeout(() => {
        noteError("open_timeout", "no first event");
        s.closing = true;
        s.req.destroy();
        done(false);
      }, openTimeout);
      s.req = http.request(
        { host: u.hostname, port: u.port, path: u.pathname, method: "POST", agent, headers: headers(b) },
        (res) => {
          if (res.statusCode !== 200) {
            noteError("status", String(res.statusCode));
            s.closing = true;
            res.resume();
            done(false);
            return;
          }
          res.setEncoding("utf8");
          res.on("data", (d) => {
            const k = d.split("bench_seq").length - 1;
            s.events += k;
            if (holding) s.heldEvents += k;
            if (s.events > 0) done(true);
          });
          const ended = (why) => {
            if (!s.closing) {
              s.closing = true;
              if (settled) noteError("ended_while_held", why);
              else noteError("connect_or_request", why);
              done(false);
            }
          };
          res.on("end", () => ended("response ended"));
          res.on("error", (e) => ended(e.message));
          res.on("close", () => ended("closed"));
        },
      );
      s.req.on("error", (e) => {
        if (s.closing) return;
        s.closing = true;
        if (settled) noteError("ended_while_held", e.message);
        else noteError("connect_or_request", e.message);
        done(false);
      });
      s.req.end(b);
    });

  // Open with at most `conc` streams waiting for their first event.
  let next = 0;
  const worker = async () => {
    while (next < n) {
      next++;
      await openOne();
    }
  };
  await Promise.all(Array.from({ length: Math.min(conc, n) }, worker));
  const openMs = Date.now() - t0;
  const opened = live.length;
  log(`${opened}/${n} streams open after ${openMs} ms`);
  sample("all_open");
  holding = true;
  for (let i = 0; i < holdS; i++) {
    await sleep(1000);
    sample("held");
  }
  holding = false;
  const held = live.filter((s) => !s.closing);
  if (holdS * 1000 >= interval * 1.5) {
    for (const s of held) if (s.heldEvents === 0) noteError("no_event_while_held", "no event while held");
  }
  const stillOpen = held.length;
  for (const s of live) {
    s.closing = true;
    s.req.destroy();
  }
  agent.destroy();
  await sleep(2000);
  sample("after_close");

  const at = (phase) => samples.filter((x) => x.phase === phase);
  const before = at("before")[0] || {};
  const heldS = at("held");
  const last = heldS.at(-1) || at("all_open")[0] || {};
  const maxHeld = heldS.reduce((m, x) => Math.max(m, x.rss_kb ?? 0), 0);
  const perStream = (kb) => (opened > 0 && before.rss_kb != null && kb != null ? ((kb - before.rss_kb) * 1024) / opened : null);
  return {
    mode: "hold",
    requested: n,
    opened,
    still_open_at_end_of_hold: stillOpen,
    open_ms: openMs,
    hold_s: holdS,
    interval_ms: interval,
    errors_total: Object.values(errors).reduce((a, c) => a + c, 0),
    errors,
    error_samples: errorSamples,
    rss_before_kb: before.rss_kb ?? null,
    rss_held_kb: last.rss_kb ?? null,
    rss_held_max_kb: maxHeld || null,
    rss_after_close_kb: (at("after_close")[0] || {}).rss_kb ?? null,
    hwm_kb: (at("after_close")[0] || {}).hwm_kb ?? null,
    fds_held: last.fds ?? null,
    bytes_per_stream: perStream(last.rss_kb),
    bytes_per_stream_max: perStream(maxHeld || null),
    samples,
  };
}

const main = mode === "latency" ? latency : mode === "hold" ? hold : null;
if (!main) {
  console.error("usage: sse_client.mjs latency|hold ...");
  process.exit(2);
}
main().then(
  (r) => {
    process.stdout.write(JSON.stringify(r) + "\n");
    process.exit(0);
  },
  (e) => {
    log(e.stack || e.message);
    process.exit(1);
  },
);
