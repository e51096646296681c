// `spendgate version` and `spendgate check -c FILE`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { runCli, makeTempDir } from './lib/proxy.mjs';

function writeConfig(t, text, name = 'spendgate.yaml') {
  const dir = makeTempDir('spendgate-cli-');
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, name);
  writeFileSync(file, text);
  return file;
}

const GOOD = `# a complete, valid config
server:
  listen: "127.0.0.1:0"
  threads: 1
  max_body_bytes: 1048576
  idle_timeout: 5s
  first_byte_timeout: 2s
  request_timeout: 10s
admin:
  listen: "127.0.0.1:0"
providers:
  openai:    { format: openai,    base_url: "http://127.0.0.1:9", routes: ["/v1/"] }
  anthropic: { format: anthropic, base_url: "https://localhost:9", routes: ["/v1/messages"] }
  gemini:    { format: gemini,    base_url: "http://127.0.0.1:9", routes: ["/v1beta/"] }
ledger: { path: "/tmp/spendgate-cli-test-ledger.jsonl" }
`;

/** Lines of the form FILE:LINE:COL: message from stderr. */
function diagnostics(stderr, file) {
  const re = /^(.*?):(\d+):(\d+): (.+)$/;
  return stderr.split('\n').map((l) => re.exec(l.trim())).filter(Boolean)
    .filter((m) => m[1] === file || path.resolve(m[1]) === file)
    .map((m) => ({ file: m[1], line: Number(m[2]), col: Number(m[3]), message: m[4] }));
}

test('version prints a version line and exits 0', () => {
  const r = runCli(['version']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /spendgate/i);
  assert.match(r.stdout, /\d+\.\d+\.\d+/, `no semantic version in: ${r.stdout}`);
  // The build: the commit it was built from (a tree without git says unknown) and the build type.
  assert.match(r.stdout, /\(commit ([0-9a-f]{12}|unknown), \w+ build, /, `no build in: ${r.stdout}`);
  assert.match(r.stdout, /^price catalog \d{4}\.\d+\.\d+ \(\d{4}-\d{2}-\d{2}, \d+ models\)$/m, r.stdout);
});

test('help names every --period that spend takes (hour included), as spend --help does', () => {
  const help = runCli(['help']);
  assert.equal(help.code, 0, help.stderr);
  const spend = runCli(['spend', '--help']);
  assert.equal(spend.code, 0, spend.stderr);
  for (const text of [help.stdout, spend.stdout]) {
    assert.match(text, /--period day\|week\|month\|hour\]/, text);
  }
});

test('check on a valid config exits 0 without diagnostics', (t) => {
  const file = writeConfig(t, GOOD);
  const r = runCli(['check', '-c', file]);
  assert.equal(r.code, 0, `stdout: ${r.stdout}\nstderr: ${r.stderr}`);
  assert.equal(diagnostics(r.stderr, file).length, 0, r.stderr);
});

test('check prints what serve would warn about (a provider key variable unset) and still exits 0', (t) => {
  const file = writeConfig(t, `providers:
  openai: { format: openai, base_url: "http://127.0.0.1:9", routes: ["/v1/"], api_key_env: SPENDGATE_CLI_TEST_KEY }
identity:
  virtual_keys:
    - { id: search-team, key_sha256: "${'a'.repeat(64)}" }
`);
  // runCli's spawn leaves out a variable whose value is undefined.
  const unset = runCli(['check', '-c', file], { env: { SPENDGATE_CLI_TEST_KEY: undefined } });
  assert.equal(unset.code, 0, unset.stderr);
  assert.match(unset.stdout, /: ok$/m, unset.stdout);
  assert.match(unset.stderr, /^.*spendgate\.yaml: warning: provider openai: api_key_env SPENDGATE_CLI_TEST_KEY is not set/m, unset.stderr);
  assert.equal(diagnostics(unset.stderr, file).length, 0, 'a warning is not a FILE:LINE:COL error');

  const set = runCli(['check', '-c', file], { env: { SPENDGATE_CLI_TEST_KEY: 'sk-test' } });
  assert.equal(set.code, 0, set.stderr);
  assert.doesNotMatch(set.stderr, /warning/, set.stderr);
});

test('check refuses what serve refuses: a non-loopback admin.listen without its token is an error at the listen value', (t) => {
  const file = writeConfig(t, `server:
  listen: "127.0.0.1:0"
admin:
  listen: "0.0.0.0:18781"
`);
  const r = runCli(['check', '-c', file], { env: { SPENDGATE_ADMIN_TOKEN: undefined } });
  assert.equal(r.code, 1, `check passed a config serve refuses:\n${r.stdout}${r.stderr}`);
  assert.doesNotMatch(r.stdout, /: ok$/m, r.stdout);
  const d = diagnostics(r.stderr, file);
  assert.equal(d.length, 1, r.stderr);
  assert.deepEqual({ line: d[0].line, col: d[0].col }, { line: 4, col: 11 }, r.stderr);
  assert.match(d[0].message, /admin\.listen: 0\.0\.0\.0:18781 is not a loopback address and \$SPENDGATE_ADMIN_TOKEN is not set/, r.stderr);

  // serve says the same, at the same place, and exits 1
  const serve = runCli(['serve', '-c', file], { env: { SPENDGATE_ADMIN_TOKEN: undefined } });
  assert.equal(serve.code, 1, serve.stderr);
  assert.deepEqual(diagnostics(serve.stderr, file).map((x) => x.message), [d[0].message], serve.stderr);

  const set = runCli(['check', '-c', file], { env: { SPENDGATE_ADMIN_TOKEN: 'admin-secret' } });
  assert.equal(set.code, 0, set.stderr);
});

test('check warns (exit 0) about a ledger.path serve cannot open here (its directory missing, or a directory), at the path value; serve exits 1', (t) => {
  const file = writeConfig(t, `server:
  listen: "127.0.0.1:0"
ledger:
  path: "/nonexistent-spendgate-dir/ledger.jsonl"
`);
  const r = runCli(['check', '-c', file]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /: ok$/m, r.stdout);
  const d = diagnostics(r.stderr, file);
  assert.equal(d.length, 1, r.stderr);
  assert.deepEqual({ line: d[0].line, col: d[0].col }, { line: 4, col: 9 }, r.stderr);
  assert.match(d[0].message, /^warning: ledger\.path: serve could not open ledger '\/nonexistent-spendgate-dir\/ledger\.jsonl' here: No such file or directory$/, r.stderr);
  const serve = runCli(['serve', '-c', file]);
  assert.equal(serve.code, 1, serve.stderr);

  const dir = writeConfig(t, `ledger: { path: "${path.dirname(file)}" }\n`, 'dir.yaml');
  const asDir = runCli(['check', '-c', dir]);
  assert.equal(asDir.code, 0, asDir.stdout + asDir.stderr);
  assert.match(asDir.stderr, /warning: ledger\.path: serve could not open ledger .*: Is a directory/, asDir.stderr);
});

test('check warns when an alert sink\'s url_env names an unset variable, and still exits 0', (t) => {
  const file = writeConfig(t, `alerts:
  sinks:
    - { type: slack, url_env: SPENDGATE_CLI_TEST_HOOK }
`);
  const unset = runCli(['check', '-c', file], { env: { SPENDGATE_CLI_TEST_HOOK: undefined } });
  assert.equal(unset.code, 0, unset.stderr);
  assert.match(unset.stdout, /: ok$/m, unset.stdout);
  assert.match(unset.stderr, /^.*spendgate\.yaml: warning: alerts\.sinks\[0\]: url_env SPENDGATE_CLI_TEST_HOOK is not set; alerts to it will fail$/m, unset.stderr);
  assert.equal(diagnostics(unset.stderr, file).length, 0, 'a warning is not a FILE:LINE:COL error');
  const set = runCli(['check', '-c', file], { env: { SPENDGATE_CLI_TEST_HOOK: 'http://127.0.0.1:9/hook' } });
  assert.equal(set.code, 0, set.stderr);
  assert.doesNotMatch(set.stderr, /warning/, set.stderr);
});

test('an *_env value that is a URL or not a variable name is refused without repeating it (check and serve)', (t) => {
  const secret = 'T0CLI/B0CLI/SECRETTOKENcli';
  const file = writeConfig(t, `server:
  listen: "127.0.0.1:0"
admin:
  listen: "127.0.0.1:0"
  token_env: "admin-${secret}"
alerts:
  sinks:
    - { type: slack, url_env: "https://hooks.slack.com/services/${secret}" }
`);
  for (const cmd of ['check', 'serve']) {
    const r = runCli([cmd, '-c', file]);
    assert.equal(r.code, 1, `${cmd}: ${r.stdout}${r.stderr}`);
    const d = diagnostics(r.stderr, file);
    assert.deepEqual(d.map((x) => [x.line, x.col]), [[5, 14], [8, 31]], r.stderr);
    assert.match(d[0].message, /admin\.token_env: the value is not an environment variable name/, r.stderr);
    assert.match(d[1].message, /alerts\.sinks\[0\]\.url_env: the value looks like a URL/, r.stderr);
    assert.ok(!`${r.stdout}${r.stderr}`.includes('SECRETTOKEN'), `${cmd} repeats the secret:\n${r.stderr}`);
  }
});

test('store.redis.url rediss:// (TLS, not supported) is refused by check and serve at the url value, without repeating it', (t) => {
  const file = writeConfig(t, `server:
  listen: "127.0.0.1:0"
admin:
  listen: "127.0.0.1:0"
store:
  kind: redis
  redis:
    url: "rediss://:SECRETPASSWORD@127.0.0.1:9/0"
`);
  for (const cmd of ['check', 'serve']) {
    const r = runCli([cmd, '-c', file]);
    assert.equal(r.code, 1, `${cmd} accepted rediss://:\n${r.stdout}${r.stderr}`);
    const d = diagnostics(r.stderr, file);
    assert.equal(d.length, 1, r.stderr);
    assert.deepEqual([d[0].line, d[0].col], [8, 10], r.stderr);
    assert.match(d[0].message, /^store\.redis\.url: not a Redis URL spendgate can use: rediss:\/\/ \(TLS\) is not supported; /, r.stderr);
    assert.ok(!`${r.stdout}${r.stderr}`.includes('SECRETPASSWORD'), r.stderr);
  }
});

test('check on a minimal config (every key optional) exits 0', (t) => {
  const file = writeConfig(t, 'server:\n  listen: "127.0.0.1:0"\n');
  const r = runCli(['check', '-c', file]);
  assert.equal(r.code, 0, `stderr: ${r.stderr}`);
});

test('check: unknown key -> exit 1 and FILE:LINE:COL pointing at the key', (t) => {
  const text = GOOD.replace('  threads: 1\n', '  threads: 1\n  idel_timeout: 5s\n');
  const file = writeConfig(t, text);
  const lineNo = text.split('\n').findIndex((l) => l.includes('idel_timeout')) + 1;
  const r = runCli(['check', '-c', file]);
  assert.equal(r.code, 1, `stdout: ${r.stdout}\nstderr: ${r.stderr}`);
  const d = diagnostics(r.stderr, file);
  assert.ok(d.length >= 1, `no "${file}:LINE:COL: message" line in stderr:\n${r.stderr}`);
  const hit = d.find((x) => x.line === lineNo);
  assert.ok(hit, `no diagnostic for line ${lineNo}; got ${JSON.stringify(d)}`);
  assert.equal(hit.col, 3, `column should point at the key (col 3): ${JSON.stringify(hit)}`);
  assert.match(hit.message, /idel_timeout/, 'message should name the unknown key');
});

test('check: unknown top-level section and unknown provider key -> exit 1', (t) => {
  const text = GOOD + 'budgetz:\n  - name: x\n';
  const file = writeConfig(t, text);
  const r = runCli(['check', '-c', file]);
  assert.equal(r.code, 1, r.stderr);
  const lineNo = text.split('\n').findIndex((l) => l.startsWith('budgetz')) + 1;
  const d = diagnostics(r.stderr, file);
  assert.ok(d.some((x) => x.line === lineNo && x.col === 1), `want ${file}:${lineNo}:1, got:\n${r.stderr}`);

  const text2 = GOOD.replace('routes: ["/v1/"] }', 'routes: ["/v1/"], base_uri: "http://x" }');
  const file2 = writeConfig(t, text2);
  const r2 = runCli(['check', '-c', file2]);
  assert.equal(r2.code, 1, r2.stderr);
  const line2 = text2.split('\n').findIndex((l) => l.includes('base_uri')) + 1;
  const d2 = diagnostics(r2.stderr, file2);
  assert.ok(d2.some((x) => x.line === line2 && /base_uri/.test(x.message)), `want ${file2}:${line2}:COL: ...base_uri..., got:\n${r2.stderr}`);
});

// 99999d: longer than the 36500d maximum (now + it would pass the clock's end in 2262).
for (const bad of ['5 parsecs', '5x', 'soon', '-5s', '99999d']) {
  test(`check: bad duration "${bad}" -> exit 1 and FILE:LINE:COL on that line`, (t) => {
    const text = GOOD.replace('  first_byte_timeout: 2s\n', `  first_byte_timeout: ${bad}\n`);
    const file = writeConfig(t, text);
    const lineNo = text.split('\n').findIndex((l) => l.includes('first_byte_timeout')) + 1;
    const r = runCli(['check', '-c', file]);
    assert.equal(r.code, 1, `"${bad}" accepted as a duration; stderr: ${r.stderr}`);
    const d = diagnostics(r.stderr, file);
    const hit = d.find((x) => x.line === lineNo);
    assert.ok(hit, `no ${file}:${lineNo}:COL diagnostic; stderr:\n${r.stderr}`);
    assert.ok(hit.col === 3 || hit.col === 23, `column should point at the key (3) or the value (23): ${JSON.stringify(hit)}`);
  });
}

test('check: bad values (format, non-numeric size) are reported with their lines', (t) => {
  const text = GOOD
    .replace('max_body_bytes: 1048576', 'max_body_bytes: lots')
    .replace('{ format: gemini,', '{ format: gemeni,');
  const file = writeConfig(t, text);
  const r = runCli(['check', '-c', file]);
  assert.equal(r.code, 1, r.stderr);
  const lines = text.split('\n');
  const l1 = lines.findIndex((l) => l.includes('max_body_bytes')) + 1;
  const l2 = lines.findIndex((l) => l.includes('gemeni')) + 1;
  const d = diagnostics(r.stderr, file);
  assert.ok(d.some((x) => x.line === l1), `no diagnostic for max_body_bytes (line ${l1}):\n${r.stderr}`);
  assert.ok(d.some((x) => x.line === l2), `no diagnostic for format: gemeni (line ${l2}):\n${r.stderr}`);
});

test('check: YAML syntax error -> exit 1 with FILE:LINE:COL', (t) => {
  const text = 'server:\n  listen: "127.0.0.1:0\n  threads: 1\n';
  const file = writeConfig(t, text);
  const r = runCli(['check', '-c', file]);
  assert.equal(r.code, 1, r.stderr);
  assert.ok(diagnostics(r.stderr, file).length >= 1, `no FILE:LINE:COL line:\n${r.stderr}`);
});

test('check: missing file -> exit 1 with a message', () => {
  const r = runCli(['check', '-c', '/nonexistent/dir/spendgate.yaml']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /nonexistent/);
});

test('serve refuses a bad config: exit 1, diagnostics on stderr, never listens', (t) => {
  const text = GOOD.replace('  threads: 1\n', '  threads: 1\n  idel_timeout: 5s\n');
  const file = writeConfig(t, text);
  const r = runCli(['serve', '-c', file], { timeout: 20_000 });
  assert.equal(r.signal, null, 'serve did not exit on a bad config (killed by timeout?)');
  assert.equal(r.code, 1, r.stderr);
  assert.doesNotMatch(r.stdout, /listening on/);
  assert.ok(diagnostics(r.stderr, file).length >= 1, r.stderr);
});

// ---- check runs every check serve runs (catalog file, ca_file) ----

test('check refuses a price catalog file that serve refuses, with FILE:LINE:COL in the catalog', (t) => {
  const catalog = 'version: "1"\nmodels:\n  m1: { input: 1, ouput: 2 }\n  m2: { input: x, output: 2 }\n';
  const catFile = writeConfig(t, catalog, 'cat.yaml');
  const file = writeConfig(t, `${GOOD}pricing: { catalog: "${catFile}" }\n`);
  for (const command of ['check', 'serve']) {
    const r = runCli([command, '-c', file], { timeout: 10_000 });
    assert.equal(r.code, 1, `${command}: stdout: ${r.stdout}\nstderr: ${r.stderr}`);
    const d = diagnostics(r.stderr, catFile);
    assert.ok(d.some((x) => x.line === 3 && /ouput/.test(x.message)), `${command}: no cat.yaml:3 ouput:\n${r.stderr}`);
    assert.ok(d.some((x) => x.line === 4), `${command}: no cat.yaml:4 (input: x):\n${r.stderr}`);
  }
});

test('check refuses a ca_file that holds no certificate, at the ca_file value', (t) => {
  const pem = writeConfig(t, 'this is not a certificate\n', 'bad.pem');
  const text = GOOD.replace('base_url: "https://localhost:9", routes: ["/v1/messages"] }',
    `base_url: "https://localhost:9", routes: ["/v1/messages"],\n               ca_file: "${pem}" }`);
  const file = writeConfig(t, text);
  const lineNo = text.split('\n').findIndex((l) => l.includes('ca_file')) + 1;
  const col = text.split('\n')[lineNo - 1].indexOf('"') + 1;
  for (const command of ['check', 'serve']) {
    const r = runCli([command, '-c', file], { timeout: 10_000 });
    assert.equal(r.code, 1, `${command}: stdout: ${r.stdout}\nstderr: ${r.stderr}`);
    const d = diagnostics(r.stderr, file);
    assert.ok(d.some((x) => x.line === lineNo && x.col === col && /ca_file/.test(x.message)),
      `${command}: want ${file}:${lineNo}:${col}: ...ca_file..., got:\n${r.stderr}`);
  }
});

// ---- match: values that name nothing configured ----

test('check: a literal match provider or (without passthrough) key that names nothing is an error at the value', (t) => {
  const text = `${GOOD}identity:
  passthrough: false
  virtual_keys:
    - { id: search-team, key_sha256: "${'a'.repeat(64)}" }
budgets:
  - { name: b1, match: { provider: opneai }, limit_usd: 5 }
  - { name: b2, match: { provider: "open*", key: search-team }, limit_usd: 5 }
rate_limits:
  - { name: r1, match: { key: serach-team }, requests_per_minute: 5 }
`;
  const file = writeConfig(t, text);
  const r = runCli(['check', '-c', file]);
  assert.equal(r.code, 1, `stdout: ${r.stdout}\nstderr: ${r.stderr}`);
  const lines = text.split('\n');
  const at = (word) => {
    const i = lines.findIndex((l) => l.includes(word));
    return { line: i + 1, col: lines[i].indexOf(word) + 1 };
  };
  const d = diagnostics(r.stderr, file);
  assert.equal(d.length, 2, r.stderr);
  for (const word of ['opneai', 'serach-team']) {
    const want = at(word);
    assert.ok(d.some((x) => x.line === want.line && x.col === want.col && x.message.includes(word)),
      `want ${file}:${want.line}:${want.col}: ...${word}..., got:\n${r.stderr}`);
  }
});

// ---- strict options: a typo is an error, and nothing reaches the admin API ----

async function fakeAdmin(t) {
  const { createServer } = await import('node:http');
  const requests = [];
  const server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    res.setHeader('content-type', 'application/json');
    res.end(req.url.includes('/admin/emergency-stop')
      ? '{"active":true,"reason":"","since":"2026-01-01T00:00:00Z","until":null,"source":"manual"}'
      : '[]');
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  return { url: `http://127.0.0.1:${server.address().port}`, requests };
}

test('every command rejects unknown options and missing values (exit 1) before calling the admin API', async (t) => {
  const { runCliAsync } = await import('./lib/enforcement.mjs');
  const admin = await fakeAdmin(t);
  const file = writeConfig(t, GOOD);
  const env = { SPENDGATE_ADMIN_URL: admin.url, SPENDGATE_ADMIN_TOKEN: 't' };
  const cases = [
    [['estop', 'on', '--reson', 'typo', '--fr', '1h'], /--reson/],
    [['estop', 'on', '--reason'], /--reason/],
    [['estop', 'on', '--reason', 'x', '--for'], /--for/],
    [['estop', 'off', '--reason', 'x'], /--reason/],
    [['estop', 'status', '--bogus'], /--bogus/],
    [['estop', 'status', 'extra'], /extra/],
    [['spend', '--bogus'], /--bogus/],
    [['budgets', '--bogus'], /--bogus/],
    [['key', 'new', '--idd', 'foo'], /--idd/],
    [['key', 'new', '--id'], /--id/],
    [['version', '--bogus'], /--bogus/],
    [['check', '-c', file, '--bogus'], /--bogus/],
    [['check', '-c'], /-c/],
    [['serve', '-c', file, '--bogus'], /--bogus/],
  ];
  for (const [args, mention] of cases) {
    const r = await runCliAsync(args, { env, timeout: 5_000 });
    assert.equal(r.code, 1, `spendgate ${args.join(' ')}: exit ${r.code} (${r.signal})\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    assert.match(r.stderr, mention, `spendgate ${args.join(' ')}: stderr should name the option:\n${r.stderr}`);
    assert.doesNotMatch(r.stdout, /sk-sg-|listening on|: ok$/m, `spendgate ${args.join(' ')} did its work: ${r.stdout}`);
  }
  assert.deepEqual(admin.requests, [], 'a rejected command must not call the admin API');
  // The same commands spelt right do reach it.
  const r = await runCliAsync(['estop', 'on', '--reason=typo', '--for', '1h'], { env });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(admin.requests, ['POST /admin/emergency-stop']);
});

test('a path in the admin URL is kept as a prefix of every admin route, not dropped', async (t) => {
  const { runCliAsync } = await import('./lib/enforcement.mjs');
  const admin = await fakeAdmin(t);
  for (const prefix of ['/gw', '/gw/', '/a/b/']) {
    const r = await runCliAsync(['estop', 'status', '--admin', `${admin.url}${prefix}`], { env: { SPENDGATE_ADMIN_TOKEN: 't' }, timeout: 5_000 });
    assert.equal(r.code, 0, `--admin ${admin.url}${prefix}: exit ${r.code}\nstderr: ${r.stderr}`);
  }
  const r = await runCliAsync(['budgets', '--admin', `${admin.url}/gw/`], { env: { SPENDGATE_ADMIN_TOKEN: 't' }, timeout: 5_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(admin.requests, ['GET /gw/admin/emergency-stop', 'GET /gw/admin/emergency-stop',
    'GET /a/b/admin/emergency-stop', 'GET /gw/admin/budgets']);
});

test('a malformed admin URL is a user error (exit 1), not an unreachable admin API (exit 2), for every admin command', async () => {
  const { runCliAsync } = await import('./lib/enforcement.mjs');
  const commands = [['estop', 'on'], ['estop', 'off'], ['estop', 'status'], ['spend'], ['budgets']];
  // A port above 65535 is no port (Boost.URL would keep its low 16 bits: 84347 is 18811).
  for (const url of ['127.0.0.1:19181', 'https://127.0.0.1:19181', 'http://', 'http://127.0.0.1:84347']) {
    for (const args of commands) {
      const r = await runCliAsync([...args, '--admin', url], { env: { SPENDGATE_ADMIN_TOKEN: 't' }, timeout: 5_000 });
      assert.equal(r.code, 1, `spendgate ${args.join(' ')} --admin ${url}: exit ${r.code}\nstderr: ${r.stderr}`);
      assert.match(r.stderr, /admin URL must look like http:\/\//, `spendgate ${args.join(' ')} --admin ${url}`);
    }
  }
  // The same through $SPENDGATE_ADMIN_URL.
  const r = await runCliAsync(['budgets'], { env: { SPENDGATE_ADMIN_URL: '127.0.0.1:19181' }, timeout: 5_000 });
  assert.equal(r.code, 1, `SPENDGATE_ADMIN_URL=127.0.0.1:19181 spendgate budgets: exit ${r.code}\nstderr: ${r.stderr}`);
});

test('estop on an answer that is JSON but not the emergency stop: exit 2 with a message, never a crash', async (t) => {
  // Another service on the admin port: `object.at("active")` threw and the CLI aborted (134).
  const { createServer } = await import('node:http');
  const { runCliAsync } = await import('./lib/enforcement.mjs');
  for (const answer of ['{"foo":1}', '{"active":"yes"}', '{"period":"day","from":"a"}']) {
    const server = createServer((req, res) => {
      req.resume();
      res.setHeader('content-type', 'application/json');
      res.end(answer);
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${server.address().port}`;
    for (const args of [['estop', 'status'], ['estop', 'on'], ['estop', 'off']]) {
      const r = await runCliAsync([...args, '--admin', url], { env: { SPENDGATE_ADMIN_TOKEN: 't' }, timeout: 10_000 });
      assert.equal(r.signal, null, `spendgate ${args.join(' ')} on ${answer}: killed by ${r.signal}\nstderr: ${r.stderr}`);
      assert.equal(r.code, 2, `spendgate ${args.join(' ')} on ${answer}: exit ${r.code}\nstderr: ${r.stderr}`);
      assert.match(r.stderr, /unexpected admin API answer/, r.stderr);
    }
    await new Promise((resolve) => server.close(resolve));
  }
});

test('an admin address that accepts and never answers: every admin command gives up with exit 2 (no endless wait)', async (t) => {
  const { createServer } = await import('node:net');
  const { runCliAsync } = await import('./lib/enforcement.mjs');
  const sockets = [];
  const server = createServer((socket) => { sockets.push(socket); });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => { for (const s of sockets) s.destroy(); server.close(); });
  const url = `http://127.0.0.1:${server.address().port}`;
  const commands = [['estop', 'on', '--reason', 'incident'], ['estop', 'status'], ['spend'], ['budgets']];
  const results = await Promise.all(commands.map((args) =>
    runCliAsync([...args, '--admin', url], { env: { SPENDGATE_ADMIN_TOKEN: 't' }, timeout: 30_000 })));
  commands.forEach((args, i) => {
    const r = results[i];
    assert.equal(r.signal, null, `spendgate ${args.join(' ')} still waiting after 30 s (killed)`);
    assert.equal(r.code, 2, `spendgate ${args.join(' ')}: exit ${r.code}\nstderr: ${r.stderr}`);
    assert.match(r.stderr, /cannot reach the admin API .*no answer within 10 s/, r.stderr);
    assert.ok(r.ms < 15_000, `spendgate ${args.join(' ')} took ${r.ms.toFixed(0)} ms`);
  });
});

test('a virtual key may not take an id that names other callers: anonymous (no key) or fp_ + 12 hex (a passthrough fingerprint)', (t) => {
  // A keyless passthrough call is recorded as key "anonymous" and a passthrough key as
  // "fp_<12 hex>": a virtual key with such an id shared their scope: key budget counter.
  const hash = 'a'.repeat(64);
  for (const id of ['anonymous', 'fp_0123456789ab']) {
    const text = `${GOOD}identity:\n  virtual_keys:\n    - { id: ${id}, key_sha256: "${hash}" }\n`;
    const file = writeConfig(t, text);
    const lineNo = text.split('\n').findIndex((l) => l.includes(`id: ${id}`)) + 1;
    const r = runCli(['check', '-c', file]);
    assert.equal(r.code, 1, `id ${id} accepted: ${r.stdout}${r.stderr}`);
    const d = diagnostics(r.stderr, file);
    assert.ok(d.some((x) => x.line === lineNo && /reserved/.test(x.message)), `want ${file}:${lineNo}:COL: ... reserved, got:\n${r.stderr}`);
    const k = runCli(['key', 'new', '--id', id]);
    assert.equal(k.code, 1, `key new --id ${id}: exit ${k.code}: ${k.stdout}`);
    assert.match(k.stderr, /reserved/, k.stderr);
  }
  // Other ids that merely look alike are fine.
  for (const id of ['anonymous-team', 'fp_0123', 'FP_0123456789AB']) {
    const file = writeConfig(t, `${GOOD}identity:\n  virtual_keys:\n    - { id: ${id}, key_sha256: "${hash}" }\n`);
    const r = runCli(['check', '-c', file]);
    assert.equal(r.code, 0, `id ${id} refused: ${r.stderr}`);
  }
});

// ---- key new: output that is valid YAML and JSON for any id ----

test('key new --id with YAML and JSON special characters prints a config line and JSON that read back', (t) => {
  for (const id of ['a, b: c', 'say "hi" \\ # {x}', 'plain-id_1.2']) {
    const r = runCli(['key', 'new', '--id', id]);
    assert.equal(r.code, 0, r.stderr);
    const line = r.stdout.split('\n').find((l) => l.trim().startsWith('- {'));
    assert.ok(line, r.stdout);
    if (id === 'plain-id_1.2') assert.match(line, /\{ id: plain-id_1\.2, /, 'a plain id stays unquoted');
    // The line must load as a virtual key with exactly this id: passthrough off and a budget
    // matching the id literally only pass check when the id reads back the same.
    const text = `${GOOD}identity:\n  passthrough: false\n  virtual_keys:\n${line}\nbudgets:\n  - { name: b, match: { key: ${JSON.stringify(id)} }, limit_usd: 5 }\n`;
    const file = writeConfig(t, text);
    const c = runCli(['check', '-c', file]);
    assert.equal(c.code, 0, `id ${JSON.stringify(id)}: line ${line}\n${c.stderr}`);

    const j = runCli(['key', 'new', '--id', id, '--json']);
    assert.equal(j.code, 0, j.stderr);
    const parsed = JSON.parse(j.stdout);
    assert.equal(parsed.id, id);
    assert.match(parsed.key, /^sk-sg-[A-Za-z0-9]{32}$/);
    assert.match(parsed.key_sha256, /^[0-9a-f]{64}$/);
  }
  const empty = runCli(['key', 'new', '--id', '']);
  assert.equal(empty.code, 1, `an empty id: ${empty.stdout}`);
});

// ---- why serve stops is said once ----

test('serve on a port that is taken: exit 1 and the reason said once, on the log or (logging off) plainly', async (t) => {
  const net = await import('node:net');
  const busy = net.createServer();
  await new Promise((resolve) => busy.listen(0, '127.0.0.1', resolve));
  t.after(() => busy.close());
  const port = busy.address().port;
  for (const level of ['info', 'off']) {
    const text = GOOD.replace('  listen: "127.0.0.1:0"\n  threads: 1', `  listen: "127.0.0.1:${port}"\n  threads: 1`) +
      `logging: { level: ${level} }\n`;
    const file = writeConfig(t, text);
    const r = runCli(['serve', '-c', file], { timeout: 20_000 });
    assert.equal(r.code, 1, r.stderr);
    const said = r.stderr.split('\n').filter((l) => l.includes(`cannot listen on 127.0.0.1:${port}`));
    assert.equal(said.length, 1, `level ${level}: ${r.stderr}`);
    if (level === 'off') assert.match(said[0], /^spendgate: cannot listen/);
    else assert.match(said[0], / error cannot listen/);
  }
});

test('check refuses a Redis URL serve could not use (rediss://, a bad port) with FILE:LINE:COL, and never repeats its password', (t) => {
  for (const url of ['rediss://cache.internal:6380/2', 'redis://admin:Sup3rSecretPw@127.0.0.1:99999/0', 'redis://127.0.0.1:6379/abc']) {
    const file = writeConfig(t, `${GOOD}store: { kind: redis, redis: { url: "${url}" } }\n`);
    const r = runCli(['check', '-c', file]);
    assert.equal(r.code, 1, `${url}: ${r.stderr}`);
    const d = diagnostics(r.stderr, file);
    assert.equal(d.length, 1, r.stderr);
    assert.match(d[0].message, /^store\.redis\.url: not a Redis URL spendgate can use: /, r.stderr);
    assert.doesNotMatch(r.stderr + r.stdout, /Sup3rSecretPw/, 'the password is never repeated');
  }
});
