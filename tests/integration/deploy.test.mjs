// deploy/: every shipped config passes `spendgate check`, the example and container configs really
// serve, the admin-token rule holds, the systemd unit verifies, the Dockerfile builds what CMake
// needs and ships the libraries the binary links, the Prometheus files are valid.
// Tools that are not installed (systemd-analyze, promtool, ldd/dpkg) skip their subtests.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync, copyFileSync, rmSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { runCli, binPath, makeTempDir, startProxy, closedPort, INTEGRATION_DIR } from './lib/proxy.mjs';
import { request } from './lib/http.mjs';

const ROOT = path.resolve(INTEGRATION_DIR, '../..');
const DEPLOY = path.join(ROOT, 'deploy');
const CONFIG_DIR = path.join(DEPLOY, 'config');
const read = (...p) => readFileSync(path.join(DEPLOY, ...p), 'utf8');

/** Absolute path of a program on PATH (or null). */
function which(name) {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const p = path.join(dir, name);
    if (existsSync(p)) return p;
  }
  return null;
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 60_000, ...opts });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function tempDir(t, prefix) {
  const dir = makeTempDir(prefix);
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** `#~ ` lines in example.yaml are optional examples: this turns all of them on. */
const enableOptional = (text) => text.replace(/^([ \t]*)#~ ?/gm, '$1');

/** A config made runnable on a test machine: any free ports, the ledger in the working directory. */
function runnable(text) {
  return text
    .replace(/listen: "(?:127\.0\.0\.1|0\.0\.0\.0):\d+"/g, (m) => m.replace(/:\d+"$/, ':0"'))
    .replace(/path: "\/var\/lib\/spendgate\/ledger\.jsonl"/, 'path: "ledger.jsonl"');
}

const configs = readdirSync(CONFIG_DIR).filter((f) => /\.ya?ml$/.test(f)).sort();

test('deploy/config holds example, minimal and compose configs', () => {
  for (const f of ['example.yaml', 'minimal.yaml', 'compose.yaml']) assert.ok(configs.includes(f), `missing ${f}`);
});

for (const name of configs) {
  test(`spendgate check -c deploy/config/${name} exits 0`, () => {
    const file = path.join(CONFIG_DIR, name);
    // In the environment it runs in: the container configs listen on 0.0.0.0 and need the token.
    const r = runCli(['check', '-c', file], { env: { SPENDGATE_ADMIN_TOKEN: 'deploy-check-token' } });
    assert.equal(r.code, 0, `stdout: ${r.stdout}\nstderr: ${r.stderr}`);
  });
}

test('example.yaml with every optional (#~) example turned on still passes check', (t) => {
  const text = read('config', 'example.yaml');
  const full = enableOptional(text);
  assert.notEqual(full, text, 'example.yaml has no #~ lines any more');
  const file = path.join(tempDir(t, 'spendgate-deploy-'), 'example-full.yaml');
  writeFileSync(file, full);
  const r = runCli(['check', '-c', file]);
  assert.equal(r.code, 0, `stdout: ${r.stdout}\nstderr: ${r.stderr}`);
});

test('example.yaml names every top-level section and every documented key', () => {
  const text = enableOptional(read('config', 'example.yaml'));
  const keys = [
    'server', 'listen', 'threads', 'max_body_bytes', 'max_header_bytes', 'idle_timeout', 'first_byte_timeout',
    'request_timeout', 'shutdown_grace', 'admin', 'token_env', 'providers', 'format', 'base_url', 'routes',
    'api_key_env', 'ca_file', 'deployments', 'identity', 'virtual_keys', 'key_sha256', 'passthrough',
    'trust_headers', 'pricing', 'catalog', 'unknown_model', 'models', 'cached_input', 'cache_write_5m',
    'cache_write_1h', 'max_output_tokens', 'store', 'kind', 'redis', 'url', 'on_unavailable', 'ledger', 'path',
    'budgets', 'scope', 'match', 'period', 'limit_usd', 'mode', 'alert_at', 'rate_limits', 'requests_per_minute',
    'tokens_per_minute', 'concurrent', 'request_limits', 'max_cost_usd', 'emergency_stop', 'auto', 'spend_usd',
    'hold', 'alerts', 'cooldown', 'sinks', 'type', 'url_env', 'smtp_url', 'from', 'to', 'min_level', 'logging',
    'level',
  ];
  const missing = keys.filter((k) => !new RegExp(`(^|[\\s{,])${k}:`, 'm').test(text));
  assert.deepEqual(missing, [], 'keys not shown in example.yaml');
});

test('no shipped config holds a secret value', () => {
  for (const name of configs) {
    const text = read('config', name);
    assert.doesNotMatch(text, /\b(sk-[A-Za-z0-9_-]{16,}|AIza[0-9A-Za-z_-]{20,}|xox[bp]-[A-Za-z0-9-]+)/, name);
  }
});

test('example.yaml serves: /healthz open, /metrics behind the token, clean SIGTERM', async (t) => {
  const proxy = await startProxy(t, {
    configText: runnable(read('config', 'example.yaml')),
    env: { SPENDGATE_ADMIN_TOKEN: 'deploy-test-token' },
  });
  const admin = await proxy.waitForAdmin();
  assert.equal((await request(`${admin}/healthz`)).status, 200);
  assert.equal((await request(`${admin}/metrics`)).status, 401);
  const metrics = await request(`${admin}/metrics`, { headers: { authorization: 'Bearer deploy-test-token' } });
  assert.equal(metrics.status, 200);
  assert.match(metrics.text, /^spendgate_emergency_stop 0$/m);
  assert.match(metrics.text, /^spendgate_store_up 1$/m);
  await proxy.stopClean();
});

test('container config (0.0.0.0 admin) refuses to start without $SPENDGATE_ADMIN_TOKEN', (t) => {
  const dir = tempDir(t, 'spendgate-deploy-');
  const file = path.join(dir, 'spendgate.yaml');
  writeFileSync(file, runnable(read('config', 'docker.yaml')));
  const env = { ...process.env };
  delete env.SPENDGATE_ADMIN_TOKEN;
  const r = spawnSync(binPath(), ['serve', '-c', file], { cwd: dir, env, encoding: 'utf8', timeout: 15_000 });
  assert.equal(r.signal, null, `spendgate started without an admin token (killed by the timeout)\n${r.stdout}\n${r.stderr}`);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr + r.stdout, /SPENDGATE_ADMIN_TOKEN/);
  // check refuses it the same way, at the admin.listen value
  const c = spawnSync(binPath(), ['check', '-c', file], { cwd: dir, env, encoding: 'utf8', timeout: 15_000 });
  assert.equal(c.status, 1, c.stdout + c.stderr);
  assert.match(c.stderr, /^.*spendgate\.yaml:\d+:\d+: admin\.listen: 0\.0\.0\.0:\d+ is not a loopback address and \$SPENDGATE_ADMIN_TOKEN is not set/m, c.stderr);
});

test('the Dockerfile checks the configs with an admin token set (the container configs listen on 0.0.0.0)', () => {
  assert.match(read('docker', 'Dockerfile'), /SPENDGATE_ADMIN_TOKEN=\S+ \/out\/usr\/local\/bin\/spendgate check -c/);
});

test('container config serves on 0.0.0.0 with the token set', async (t) => {
  const proxy = await startProxy(t, {
    configText: runnable(read('config', 'docker.yaml')),
    env: { SPENDGATE_ADMIN_TOKEN: 'deploy-test-token' },
  });
  const admin = (await proxy.waitForAdmin()).replace('://0.0.0.0:', '://127.0.0.1:');
  assert.equal((await request(`${admin}/healthz`)).status, 200);
  assert.equal((await request(`${admin}/admin/status`)).status, 401);
  await proxy.stopClean();
});

// The unit's ExecReload (`systemctl reload`) sends SIGHUP: the proxy must survive it and apply the
// new config (here: a rate limit that did not exist before).
test('SIGHUP (systemctl reload) re-reads the config and keeps serving', async (t) => {
  const dead = `http://127.0.0.1:${await closedPort()}`;
  const base = `server: { listen: "127.0.0.1:0" }\nadmin: { listen: "127.0.0.1:0" }\n` +
    `providers:\n  openai: { format: openai, base_url: "${dead}" }\nledger: { path: "ledger.jsonl" }\n`;
  const proxy = await startProxy(t, { configText: base, env: { SPENDGATE_ADMIN_TOKEN: 'deploy-test-token' } });
  const admin = await proxy.waitForAdmin();
  const call = () => request(`${proxy.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer sk-deploy-test' },
    body: JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }),
  });
  for (let i = 0; i < 2; i++) assert.notEqual((await call()).status, 429, 'rate limited before the reload');

  // Listen addresses change only on restart: keep the ports the proxy got.
  writeFileSync(proxy.configPath, base
    .replace('server: { listen: "127.0.0.1:0" }', `server: { listen: "127.0.0.1:${proxy.port}" }`)
    .replace('admin: { listen: "127.0.0.1:0" }', `admin: { listen: "${new URL(admin).host}" }`) +
    'rate_limits:\n  - { name: reload-test, scope: global, requests_per_minute: 1 }\n');
  proxy.proc.kill('SIGHUP');
  let denied = null;
  for (const deadline = Date.now() + 5_000; Date.now() < deadline && proxy.alive();) {
    const res = await call();
    if (res.headers['x-spendgate-denied'] === 'rate_limit') { denied = res; break; }
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(proxy.alive(), `SIGHUP terminated spendgate (${JSON.stringify(proxy.exitInfo)})\n${proxy.describe()}`);
  assert.ok(denied, `the reloaded rate limit never applied\n${proxy.describe()}`);
  assert.equal(denied.status, 429);
  assert.equal((await request(`${admin}/healthz`)).status, 200);
  await proxy.stopClean();
});

test('systemd unit passes systemd-analyze verify (ExecStart pointed at the built binary)', async (t) => {
  const analyze = which('systemd-analyze');
  if (!analyze) return t.skip('systemd-analyze not on PATH');
  const dir = tempDir(t, 'spendgate-unit-');
  const unit = path.join(dir, 'spendgate.service');
  const text = read('systemd', 'spendgate.service');
  assert.match(text, /^ExecStart=\/usr\/local\/bin\/spendgate serve -c \/etc\/spendgate\/spendgate\.yaml$/m);
  // The unit names /usr/local/bin/spendgate, which need not exist on a build machine.
  writeFileSync(unit, text.replaceAll('/usr/local/bin/spendgate', realpathSync(binPath())));
  const r = run(analyze, ['verify', unit], { env: { ...process.env, SYSTEMD_LOG_COLOR: '0' } });
  const ours = (r.stdout + r.stderr).split('\n').filter((l) => l.includes('spendgate.service'));
  assert.equal(r.code, 0, `systemd-analyze verify failed:\n${r.stdout}\n${r.stderr}`);
  assert.deepEqual(ours, [], 'systemd-analyze warnings about the unit');

  await t.test('systemd-analyze security --offline rates it OK or better', (t2) => {
    const s = run(analyze, ['security', '--offline=yes', '--no-pager', unit]);
    const m = /Overall exposure level for spendgate\.service: ([\d.]+)/.exec(s.stdout + s.stderr);
    if (!m) return t2.skip(`this systemd-analyze has no offline security report (${s.stderr.trim().split('\n')[0]})`);
    assert.ok(Number(m[1]) <= 2.0, `exposure ${m[1]} > 2.0\n${s.stdout}`);
  });
});

test('Prometheus config and alert rules pass promtool (check config, check rules, test rules)', (t) => {
  const promtool = process.env.PROMTOOL || which('promtool');
  if (!promtool) return t.skip('promtool not on PATH (Debian: prometheus package; or set $PROMTOOL)');
  const dir = tempDir(t, 'spendgate-prom-');
  for (const f of ['alerts.yml', 'alerts.test.yml']) copyFileSync(path.join(DEPLOY, 'prometheus', f), path.join(dir, f));
  writeFileSync(path.join(dir, 'token'), 'x\n');
  // credentials_file must exist for `check config`.
  writeFileSync(path.join(dir, 'prometheus.yml'),
    read('prometheus', 'prometheus.yml').replaceAll('/etc/prometheus/spendgate-admin-token', path.join(dir, 'token')));
  for (const args of [['check', 'config', 'prometheus.yml'], ['check', 'rules', 'alerts.yml'], ['test', 'rules', 'alerts.test.yml']]) {
    const r = run(promtool, args, { cwd: dir });
    assert.equal(r.code, 0, `promtool ${args.join(' ')}:\n${r.stdout}\n${r.stderr}`);
  }
});

test('Dockerfile copies every source folder CMakeLists.txt adds (tests aside)', () => {
  const cmake = readFileSync(path.join(ROOT, 'CMakeLists.txt'), 'utf8');
  const dockerfile = read('docker', 'Dockerfile');
  const ignore = read('docker', 'Dockerfile.dockerignore');
  const dirs = [...cmake.matchAll(/^\s*add_subdirectory\(\s*([\w-]+)\s*\)/gm)].map((m) => m[1]).filter((d) => d !== 'tests');
  assert.ok(dirs.length > 0);
  for (const d of dirs) {
    assert.match(dockerfile, new RegExp(`^COPY ${d}/ ${d}/$`, 'm'), `Dockerfile does not COPY ${d}/`);
    assert.match(ignore, new RegExp(`^!${d}/?$`, 'm'), `Dockerfile.dockerignore does not allow ${d}/`);
  }
  assert.match(dockerfile, /-DBUILD_TESTING=OFF/);
  assert.match(dockerfile, /^COPY deploy\/config\/docker\.yaml \/etc\/spendgate\/spendgate\.yaml$/m);
});

test('runtime image installs the Debian package of every shared library the binary links', (t) => {
  const ldd = which('ldd');
  const dpkg = which('dpkg');
  if (!ldd || !dpkg) return t.skip('needs ldd and dpkg');
  const dockerfile = read('docker', 'Dockerfile');
  const runtime = dockerfile.slice(dockerfile.search(/^FROM .* AS runtime$/m));
  const install = /apt-get install[^\n]*\\\n((?:.*\\\n)*.*)/.exec(runtime);
  assert.ok(install, 'no apt-get install in the runtime stage');
  const packages = new Set(install[1].replace(/&&.*$/s, '').split(/[\s\\]+/).filter((w) => /^[a-z0-9][a-z0-9.+-]+$/.test(w)));
  // Always in debian:bookworm-slim.
  for (const p of ['libc6', 'libstdc++6', 'libgcc-s1']) packages.add(p);
  // Only the libraries the binary itself names (NEEDED): apt brings in their own dependencies.
  const readelf = which('readelf');
  const needed = readelf
    ? new Set(run(readelf, ['-d', binPath()]).stdout.split('\n')
      .map((l) => /\(NEEDED\).*\[(.+)\]/.exec(l)?.[1]).filter(Boolean))
    : null;
  const libs = run(ldd, [binPath()]).stdout.split('\n')
    .map((l) => /^\s*(\S+)\s+=>\s+(\/\S+)/.exec(l))
    .filter((m) => m && (!needed || needed.has(m[1])))
    .map((m) => m[2]);
  assert.ok(libs.length > 0, 'ldd found no libraries');
  /** The Debian package owning a library; dpkg knows it under /lib or /usr/lib (usrmerge). */
  const owner = (lib) => {
    const real = realpathSync(lib);
    const names = new Set([lib, real]);
    for (const p of [lib, real]) {
      names.add(p.startsWith('/usr/') ? p.slice(4) : `/usr${p}`);
    }
    for (const p of names) {
      const r = run(dpkg, ['-S', p]);
      if (r.code === 0) return r.stdout.split(':')[0].trim();
    }
    return null; // not from a Debian package (a local build): nothing to check
  };
  const missing = [];
  let owned = 0;
  for (const lib of libs) {
    const pkg = owner(lib);
    if (!pkg) continue;
    owned += 1;
    if (!packages.has(pkg)) missing.push(`${lib} (${pkg})`);
  }
  assert.deepEqual(missing, [], `runtime stage lacks: ${missing.join(', ')}`);
  assert.ok(owned >= 3, `dpkg knew only ${owned} of the ${libs.length} libraries`);
});

test('compose: two spendgate replicas with their own ledger volumes, shared redis, admin token required', () => {
  const compose = read('docker', 'compose.yaml');
  const config = read('config', 'compose.yaml');
  assert.match(compose, /^ {2}spendgate-1:$/m);
  assert.match(compose, /^ {2}spendgate-2:$/m);
  assert.match(compose, /^ {2}redis:\n {4}image: redis:7$/m);
  assert.match(compose, /- ledger-1:\/var\/lib\/spendgate/);
  assert.match(compose, /- ledger-2:\/var\/lib\/spendgate/);
  assert.match(compose, /file: \.\.\/config\/compose\.yaml/);
  assert.match(compose, /SPENDGATE_ADMIN_TOKEN: \$\{SPENDGATE_ADMIN_TOKEN:\?/);
  assert.match(compose, /stop_grace_period: (3[1-9]|[4-9]\d)s/);
  assert.match(config, /kind: redis/);
  assert.match(config, /url: "redis:\/\/redis:6379\/0"/);
  assert.match(config, /listen: "0\.0\.0\.0:8081"/);
});
