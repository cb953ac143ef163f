// Driver of bench/push-fanout.sh (see there). Per round: passmint (every pass PATCHed at once
// through the management API, pushes by the worker) and pass-js (its own APNs push helper,
// 100 in flight), both against the same Node APNs stand-in. Prints one JSON line per
// measurement.
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';

const env = process.env;
const passmint = env.PASSMINT_URL;
const admin = env.ADMIN_TOKEN;
const control = Number(env.STANDIN_CONTROL);
const standinPort = Number(env.STANDIN_PORT);
const seed = env.SEED_DIR;
const rounds = Number(env.ROUNDS || 5);
const patchConcurrency = Number(env.PATCH_CONCURRENCY || 64);
const passjsInFlight = Number(env.PASSJS_IN_FLIGHT || 100);
const deadlineMs = Number(env.ROUND_DEADLINE_MS || 60000);

const passIds = readFileSync(path.join(seed, 'pass-ids.txt'), 'utf8').split('\n').filter(Boolean);
const tokens = readFileSync(path.join(seed, 'push-tokens.txt'), 'utf8').split('\n').filter(Boolean);
// A PATCH replaces the payload: the example's, with the points changed each round.
const payload = JSON.parse(readFileSync('examples/payload.json', 'utf8'));
const agent = new http.Agent({ keepAlive: true, maxSockets: patchConcurrency });

function request(url, { method = 'GET', headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    if (body) req.end(body);
    else req.end();
  });
}

const standin = async (method, p) => JSON.parse((await request(`http://127.0.0.1:${control}${p}`, { method })).body);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function connectionErrors() {
  const { body } = await request(`${passmint}/metrics`, { headers: { authorization: `Bearer ${admin}` } });
  let n = 0;
  for (const line of body.split('\n')) {
    if (line.startsWith('passmint_push_failed_total') && line.includes('reason="ConnectionError"')) n += Number(line.split(' ').pop());
  }
  return n;
}

async function pool(items, concurrency, work) {
  let next = 0;
  const runners = Array.from({ length: concurrency }, async () => {
    while (next < items.length) {
      const item = items[next++];
      await work(item);
    }
  });
  await Promise.all(runners);
}

// Waits until every token got a 200 (or the deadline); returns the stand-in's records and stats.
async function settle(started) {
  for (;;) {
    const stats = await standin('GET', '/stats');
    if (stats.distinctAccepted >= tokens.length || Date.now() - started > deadlineMs) {
      const records = await standin('GET', '/records');
      return { stats, records };
    }
    await sleep(20);
  }
}

function summarize(records) {
  const first = new Map();
  for (const r of records) if (r.status === 200 && !first.has(r.token)) first.set(r.token, r.at);
  const times = [...first.values()];
  const firstAt = Math.min(...times);
  const lastAt = Math.max(...times);
  return { delivered: first.size, firstAt, lastAt, rate: first.size / Math.max((lastAt - firstAt) / 1000, 0.001) };
}

async function passmintRound(round) {
  await standin('POST', '/clear');
  const errorsBefore = await connectionErrors();
  const started = Date.now();
  let lastCommit = 0;
  let failedPatches = 0;
  await pool(passIds, patchConcurrency, async (id) => {
    const res = await request(`${passmint}/v2/credentials/compact/digital-pass/apple/passes/${id}`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({ payload: { ...payload, points: 1000 + round } }),
    });
    if (res.status !== 200) failedPatches += 1;
    lastCommit = Math.max(lastCommit, Date.now());
  });
  const patched = Date.now();
  const { stats, records } = await settle(started);
  const s = summarize(records);
  // Let the worker record the last answers before reading its failure counter.
  await sleep(200);
  const errors = (await connectionErrors()) - errorsBefore;
  return {
    who: 'passmint',
    round,
    devices: tokens.length,
    delivered: s.delivered,
    duplicates: stats.duplicates,
    received: stats.received,
    rate: Math.round(s.rate),
    patchMs: patched - started,
    slowestAfterCommitMs: s.lastAt - lastCommit,
    connectionErrors: errors,
    failedPatches,
    sessions: stats.sessions,
    violations: stats.violations,
  };
}

// pass-js (6.9.8: 7.x needs Node 24) connects to api.push.apple.com:443 itself: point that
// connect at the stand-in, trusting its CA. Everything else is pass-js's own code.
async function passjsTemplate() {
  const require = createRequire(path.join(env.PASSJS_DIR, 'package.json'));
  const http2 = require('node:http2');
  const connect = http2.connect;
  const ca = readFileSync(env.STANDIN_CA, 'utf8');
  http2.connect = (authority, options, listener) =>
    connect(String(authority).includes('api.push.apple.com') ? `https://127.0.0.1:${standinPort}` : authority, { ...options, ca }, listener);
  const { Template } = require('@walletpass/pass-js');
  const template = new Template('storeCard', { passTypeIdentifier: 'pass.com.example.test', teamIdentifier: 'TEAM123456' });
  template.setCertificate(readFileSync(path.join(seed, 'signer.pem'), 'utf8'));
  template.setPrivateKey(readFileSync(path.join(seed, 'signer-key.pem'), 'utf8'));
  // One push first, so its single connection is open before 100 go at once (its connect is not
  // shared: 100 first calls would open 100 connections).
  await template.pushUpdates('f'.repeat(64));
  return template;
}

async function passjsRound(template, round) {
  await standin('POST', '/clear');
  const started = Date.now();
  let failed = 0;
  await pool(tokens, passjsInFlight, async (token) => {
    try {
      await template.pushUpdates(token);
    } catch {
      failed += 1;
    }
  });
  const { stats, records } = await settle(started);
  const s = summarize(records);
  return {
    who: 'pass-js',
    round,
    devices: tokens.length,
    delivered: s.delivered,
    duplicates: stats.duplicates,
    received: stats.received,
    rate: Math.round(s.rate),
    failed,
    sessions: stats.sessions,
  };
}

// pass-js unrefs its APNs socket: keep the event loop alive while it works.
setInterval(() => {}, 1000);
const template = await passjsTemplate();
for (let round = 1; round <= rounds; round++) {
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  console.log(JSON.stringify({ ...(await passmintRound(round)), load }));
  console.log(JSON.stringify({ ...(await passjsRound(template, round)), load }));
}
process.exit(0);
