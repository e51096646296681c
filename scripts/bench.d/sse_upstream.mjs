// Fixed streaming upstream for scripts/bench: answers POST /v1/chat/completions with an OpenAI Chat
// Completions SSE stream, no dependencies.
//
//   node sse_upstream.mjs --port P [--max-stream-ms 120000]
//
// The request body picks the shape of the stream (spendgate forwards the body unchanged when it
// already asks for stream_options.include_usage):
//   "bench": {"events": N, "interval_ms": I}
//     events > 0:  N content chunks I ms apart (the first one at once), then a usage chunk and [DONE].
//     events = 0:  one chunk at once, then one every I ms until the client goes away (a held stream),
//                  ended by the upstream after --max-stream-ms at the latest.
// Every content chunk carries "bench_sent_ns": the CLOCK_MONOTONIC time (process.hrtime) taken just
// before the chunk is handed to the socket. process.hrtime is CLOCK_MONOTONIC, shared by every process
// on the machine, so a client on the same machine subtracts it from its own arrival time.
import http from "node:http";

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const port = Number(opt("--port", "0"));
const maxStreamMs = Number(opt("--max-stream-ms", "120000"));

let open = 0;
const chunk = (i, sentNs) =>
  `data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,` +
  `"model":"gpt-4o-mini","system_fingerprint":"fp_bench","choices":[{"index":0,"delta":` +
  `${i === 0 ? '{"role":"assistant","content":""}' : '{"content":" tok"}'},"logprobs":null,` +
  `"finish_reason":null}],"usage":null,"bench_seq":${i},"bench_sent_ns":"${sentNs}"}\n\n`;
const tail = (n) =>
  `data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,` +
  `"model":"gpt-4o-mini","system_fingerprint":"fp_bench","choices":[{"index":0,"delta":{},` +
  `"logprobs":null,"finish_reason":"stop"}],"usage":null}\n\n` +
  `data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,` +
  `"model":"gpt-4o-mini","system_fingerprint":"fp_bench","choices":[],"usage":{"prompt_tokens":20,` +
  `"completion_tokens":${n},"total_tokens":${20 + n}}}\n\ndata: [DONE]\n\n`;

const server = http.createServer((req, res) => {
  const parts = [];
  req.on("data", (d) => parts.push(d));
  req.on("end", () => {
    let events = 20;
    let interval = 50;
    try {
      const b = JSON.parse(Buffer.concat(parts).toString()).bench || {};
      if (Number.isInteger(b.events) && b.events >= 0) events = b.events;
      if (Number.isFinite(b.interval_ms) && b.interval_ms >= 0) interval = b.interval_ms;
    } catch {
      res.writeHead(400, { "content-type": "application/json" });
      res.end('{"error":{"message":"bench upstream: body is not JSON","type":"invalid_request_error"}}');
      return;
    }
    res.socket.setNoDelay(true);
    res.writeHead(200, {
      "content-type": "text/event-stream",
      "cache-control": "no-cache",
    });
    open++;
    let i = 0;
    let timer = null;
    const t0 = performance.now(); // events are due at t0 + i * interval: no drift between streams
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      open--;
      clearTimeout(timer);
      clearTimeout(cap);
    };
    const cap = setTimeout(() => {
      finish();
      res.end(tail(i));
    }, maxStreamMs);
    res.on("close", finish);
    const send = () => {
      if (done) return;
      res.write(chunk(i, process.hrtime.bigint()));
      i++;
      if (events > 0 && i >= events) {
        finish();
        res.end(tail(i));
        return;
      }
      timer = setTimeout(send, Math.max(0, t0 + i * interval - performance.now()));
    };
    send();
  });
});
server.keepAliveTimeout = 120000;
server.headersTimeout = 130000;
server.requestTimeout = 0;
server.maxConnections = 100000;
server.listen(port, "127.0.0.1", () => {
  console.log(`sse upstream listening on 127.0.0.1:${server.address().port}`);
});
process.on("SIGUSR2", () => console.log(`open streams: ${open}`));
process.on("SIGTERM", () => process.exit(0));
process.on("SIGINT", () => process.exit(0));
