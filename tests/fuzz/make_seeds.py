#!/usr/bin/env python3
"""Writes the seed inputs of every harness into tests/fuzz/corpus/<name>/seed-*.

Seeds come from the repository's own fixtures (tests/fixtures/usage, tests/config/fixtures,
config/pricing.yaml, deploy/config) plus a few hand-written requests, heads and ledger lines, with
each harness's control bytes in front (see the harness's header comment). Re-run after changing a
harness's input layout: `python3 tests/fuzz/make_seeds.py`.
"""
import gzip
import os
import pathlib
import zlib

ROOT = pathlib.Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "fuzz" / "corpus"
USAGE = ROOT / "tests" / "fixtures" / "usage"
CUTS = bytes([1, 3, 7, 2, 16, 64, 5])  # 7 chunk sizes: splits inside lines, CRLFs, UTF-8


def write(harness, name, data):
    d = CORPUS / harness
    d.mkdir(parents=True, exist_ok=True)
    (d / f"seed-{name}").write_bytes(data)


def fixture(name):
    return (USAGE / name).read_bytes()


SSE = sorted(p.name for p in USAGE.glob("*.sse"))
JSON = sorted(p.name for p in USAGE.glob("*.json"))

# sse_parser / usage_chunk_filter: option byte, cuts, stream.
for name in SSE:
    body = fixture(name)
    write("sse_parser", name, b"\x00" + CUTS + body)
    write("sse_parser", name + ".crlf", b"\x00" + CUTS + body.replace(b"\n", b"\r\n"))
write("sse_parser", "bom-cr", b"\x21" + CUTS + b"\xef\xbb\xbfdata: a\r\r: c\rid: 1\revent: x\rdata: b\r\r")
for name in ["openai_chat_stream_injected.sse", "openai_chat_stream_client.sse",
             "azure_chat_stream.sse", "openai_completions_stream.sse"]:
    body = fixture(name)
    write("usage_chunk_filter", name, b"\x00" + CUTS + body)
    write("usage_chunk_filter", name + ".cr", b"\x00" + CUTS + body.replace(b"\n", b"\r"))

# json_array_splitter: option byte, cuts, body.
write("json_array_splitter", "gemini_stream_array.json", b"\x00" + CUTS + fixture("gemini_stream_array.json"))
write("json_array_splitter", "error-object", b"\x00" + CUTS + b'{"error":{"code":429,"message":"x ] }"}}')

# usage_extractor: context byte (index into kContexts), flags (bits 0-1 content type), 2 bytes
# request body size, cuts, body.
CONTEXT = {"openai_chat": 0, "gemini_compat": 1, "azure_chat": 2, "openai_completions": 3,
           "openai_embeddings": 4, "openai_responses": 6, "anthropic": 7, "gemini_generate": 8,
           "gemini_stream": 8, "gemini_stream_array": 9}
for name in SSE + JSON:
    context = next(v for k, v in CONTEXT.items() if name.startswith(k))
    sse = name.endswith(".sse")
    flags = 0x41 if sse else 0x00
    write("usage_extractor", name, bytes([context, flags, 0x40, 0x01]) + CUTS + fixture(name))

# request_classifier: route byte (< 0x80) then the body, or 0x80|format then PATH\nQUERY\nBODY.
REQUESTS = [
    b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}',
    b'{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"max_tokens":256,"n":2,"messages":[]}',
    b'{"model":"gpt-3.5-turbo-instruct","prompt":"x","max_tokens":50,"n":2,"best_of":5}',
    b'{"model":"claude-sonnet-4-5","max_tokens":1024,"stream":true,"messages":[{"role":"user","content":[{"type":"text","text":"Hello"}]}]}',
    b'{"contents":[{"parts":[{"text":"Hi"}]}],"generationConfig":{"maxOutputTokens":800,"candidateCount":2},"generation_config":{"max_output_tokens":4}}',
    b'{"model":"gpt-4.1","input":"Tell me a joke","max_output_tokens":500,"stream":true,"service_tier":"priority"}',
    b'{"model":"caf\\u00e9","service_tier":"d\\u0065fault","max_tokens":1e3,"n":2.0,"max_completion_tokens":9223372036854775807}',
]
for i, body in enumerate(REQUESTS):
    write("request_classifier", f"route-{i}", bytes([i]) + body)
write("request_classifier", "path-gemini", b"\x83/v1beta/models/gemini-2.5-pro:streamGenerateContent\nalt=sse\n" + REQUESTS[4])
write("request_classifier", "path-azure", b"\x81/openai/deployments/prod/chat/completions?api-version=1\n\n" + REQUESTS[1])

# include_usage_injector: the body.
for i, body in enumerate([
        b'{"model":"gpt-4o","stream":true,"messages":[]}',
        b'{"model":"gpt-4o","stream":true,"stream_options":null}',
        b'{"stream":true,"stream_options":{"include_obfuscation":false}}',
        b'{"stream":true,"stream_options":{"include_usage":false,"x":1}, "stream_options" : {}}',
        b'{"stream\\u005foptions":{"include\\u005fusage":null},"stream":true}',
        b' {\n "stream" : true ,\n "stream_options" : { } \n}\n']):
    write("include_usage_injector", f"body-{i}", body)

# ledger_line_parser: a line.
LINE = (b'{"ts":"2026-11-23T05:17:50.123Z","request_id":"req_1","provider":"openai","model":"gpt-4o-mini",'
        b'"requested_model":"gpt-4o-mini","key":"fp_0123456789ab","user":"al\\"ice\\n\\u0001 \xc3\xa9","team":"search",'
        b'"customer":"acme","agent":"crawler","status":200,"stream":true,"input_tokens":1486,'
        b'"cached_input_tokens":1408,"cache_write_tokens":7,"output_tokens":651,"reasoning_tokens":512,'
        b'"cost_usd":1234567.890123456789,"price_source":"catalog:exact-request","usage_source":"estimated",'
        b'"latency_ms":12.345,"upstream_ms":10}\n')
write("ledger_line_parser", "full", LINE)
write("ledger_line_parser", "offset", b'{"ts":"1999-12-31t23:59:60.9999+05:30","cost_usd":-0.000000000001}')
write("ledger_line_parser", "ts", b"2026-02-29T00:00:00Z")

# config_loader: option byte (even: config, odd: price catalog), YAML.
write("config_loader", "spec_example", b"\x00" + (ROOT / "tests/config/fixtures/spec_example.yaml").read_bytes())
for p in sorted((ROOT / "deploy" / "config").glob("*.yaml")):
    write("config_loader", p.stem, b"\x00" + p.read_bytes())
write("config_loader", "pricing", b"\x01" + (ROOT / "config/pricing.yaml").read_bytes()[:6000])

# config_values: option byte (0 duration, 1 listen address, 2 upstream URL), text.
for i, t in enumerate([b"250ms", b"90s", b"7d", b"9223372036854775807ms"]):
    write("config_values", f"duration-{i}", b"\x00" + t)
for i, t in enumerate([b"127.0.0.1:8080", b"[::1]:0", b"localhost.:65535", b"[::ffff:127.0.0.1]:1"]):
    write("config_values", f"listen-{i}", b"\x01" + t)
for i, t in enumerate([b"https://api.openai.com/v1", b"http://[::1]:8443/openai/v1/",
                       b"https://EXAMPLE.com:443", b"http://10.0.0.1:80/a%20b"]):
    write("config_values", f"url-{i}", b"\x02" + t)

# header_rewrite: option byte (bit 0: response), head.
write("header_rewrite", "request", b"\x02POST /v1/chat/completions?key=abc&x=1 HTTP/1.1\r\nHost: localhost\r\n"
      b"Connection: keep-alive, X-Foo\r\nX-Foo: 1\r\nTE: trailers\r\nAuthorization: Bearer sk\r\n"
      b"x-spendgate-user: u\r\nContent-Length: 2\r\nAccept-Encoding: gzip\r\nExpect: 100-continue\r\n\r\n{}")
write("header_rewrite", "response", b"\x03HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
      b"Transfer-Encoding: chunked\r\nConnection: close, X-Bar\r\nX-Bar: 2\r\nContent-Encoding: gzip\r\n\r\n")
write("header_rewrite", "response-length", b"\x15HTTP/1.0 429 \r\nContent-Length: 10\r\nKeep-Alive: timeout=5\r\n\r\n")

# content_decoder: option byte (bits 0-2: encoding index), cuts, encoded body.
plain = fixture("openai_chat_stream_client.sse")
write("content_decoder", "gzip", b"\x00" + CUTS + gzip.compress(plain) + gzip.compress(b"second member"))
write("content_decoder", "zlib", b"\x01" + CUTS + zlib.compress(plain))
raw = zlib.compressobj(wbits=-15)
write("content_decoder", "raw-deflate", b"\x01" + CUTS + raw.compress(plain) + raw.flush())
write("content_decoder", "deflate-gzip", b"\x05" + CUTS + zlib.compress(gzip.compress(plain)))
write("content_decoder", "gzip-capped", b"\x18" + CUTS + gzip.compress(plain))
