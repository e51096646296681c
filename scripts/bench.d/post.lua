-- wrk request for scripts/bench: a small OpenAI chat completion call, as a client SDK sends it.
-- The key is a made-up passthrough key: the bench upstream never checks it.
wrk.method = "POST"
wrk.body = '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer sk-spendgate-bench"
