// match: globs with bracket classes (docs/enforcement.md "Matching and subjects"): a class matches
// what it says, and a malformed glob is a config error at the pattern's position, in
// `spendgate check` and in /admin/reload, never a rule that silently matches nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { startProxy, providers, runCli, makeTempDir } from './lib/proxy.mjs';
import { startMeteredUpstream, chatBody, chat, assertDenied, admin } from './lib/enforcement.mjs';

test('spendgate check: an unclosed [ and a reversed range are errors at the pattern (FILE:LINE:COL), exit 1', () => {
  const dir = makeTempDir();
  const file = path.join(dir, 'spendgate.yaml');
  const text = [
    'budgets:',
    '  - name: b',
    '    limit_usd: 1',
    '    match: { model: "gpt-[4" }',
    'rate_limits:',
    '  - name: r',
    '    requests_per_minute: 5',
    '    match:',
    '      user: "[z-a]*"',
    '',
  ].join('\n');
  writeFileSync(file, text);
  const r = runCli(['check', '-c', file]);
  assert.equal(r.code, 1, `stdout ${r.stdout}\nstderr ${r.stderr}`);
  const lines = r.stderr.trim().split('\n');
  const col = (lineText, needle) => lineText.indexOf(needle) + 1;
  assert.ok(lines.includes(`${file}:4:${col(text.split('\n')[3], '"gpt-[4"')}: budgets[0].match.model: unclosed '[' at character 5 of glob "gpt-[4" (a class needs a closing ']'; a class cannot be empty)`), r.stderr);
  assert.ok(lines.some((l) => l.startsWith(`${file}:9:${col(text.split('\n')[8], '"[z-a]*"')}: rate_limits[0].match.user: reversed range 'z-a'`)), r.stderr);

  writeFileSync(file, text.replace('"gpt-[4"', '"gpt-[4]*"').replace('"[z-a]*"', '"[!a-z]*"'));
  const ok = runCli(['check', '-c', file]);
  assert.equal(ok.code, 0, ok.stderr);
});

test('a bracket-class budget applies to the models it names only; /admin/reload refuses a malformed glob and keeps the old rules', async (t) => {
  const up = await startMeteredUpstream(t);
  const budgetYaml = (model) => ({ budgets: [{ name: 'dated', scope: 'global', match: { model }, period: 'day', limit_usd: 0.000001, mode: 'hard' }] });
  const proxy = await startProxy(t, { providers: await providers({ openai: up.url }), extra: budgetYaml('gpt-4o-[0-9]*') });

  assertDenied(await chat(proxy.url, chatBody({ model: 'gpt-4o-2024-08-06' })), 'budget', { what: 'dated snapshot matches [0-9]*' });
  const mini = await chat(proxy.url, chatBody({ model: 'gpt-4o-mini' }));
  assert.equal(mini.status, 200, `gpt-4o-mini is outside the class: ${mini.text}`);

  const good = readFileSync(proxy.configPath, 'utf8');
  writeFileSync(proxy.configPath, good.replace('gpt-4o-[0-9]*', 'gpt-4o-[0-9*'));
  const res = await admin(proxy.adminUrl, 'POST', '/admin/reload');
  assert.equal(res.status, 400, res.text);
  const body = res.json();
  assert.equal(body.reloaded, false);
  assert.match(body.errors[0], /^.+spendgate\.yaml:\d+:\d+: budgets\[0\]\.match\.model: unclosed '\['/, body.errors[0]);
  // The old rule still holds.
  assertDenied(await chat(proxy.url, chatBody({ model: 'gpt-4o-2024-08-06' })), 'budget', { what: 'after the refused reload' });
  await proxy.stopClean();
});
