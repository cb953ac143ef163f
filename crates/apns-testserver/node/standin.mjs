// An APNs stand-in on Node's built-in `http2` module (nghttp2): a second HTTP/2 implementation,
// independent of the `h2` crate the client and `apns-testserver` are built on.
//
// It plays what real APNs does to a sender (Apple's documentation, and what the authors of
// mature clients observed):
//   - TLS with client-certificate authentication, ALPN h2 only;
//   - SETTINGS_MAX_CONCURRENT_STREAMS (1000 by default), dropped to 1 after a rejected
//     notification and raised back after the next success on that connection;
//   - GOAWAY with a last-stream-id every N answers (streams above it are not processed);
//   - 429 TooManyRequests per device token;
//   - idle connections closed (GOAWAY, then close);
//   - overload: Node's session memory limit (maxSessionMemory), ENHANCE_YOUR_CALM above an
//     open-stream count, random stream resets.
// Every push it processes is recorded (token, apns-id, status, connection, stream, time), so
// tests and the benchmark can count duplicates and stragglers.
//
// Certificates come in environment variables (STANDIN_CERT, STANDIN_KEY, STANDIN_CLIENT_CA);
// options as JSON in STANDIN_OPTIONS and later through the control API. It prints one JSON line
// {"port": …, "control": …} once listening. Control API (plain HTTP on 127.0.0.1):
//   GET /stats, GET /records, POST /options (JSON, merged), POST /clear (records and counters).
import http from 'node:http';
import http2 from 'node:http2';

const {
  NGHTTP2_NO_ERROR,
  NGHTTP2_REFUSED_STREAM,
  NGHTTP2_ENHANCE_YOUR_CALM,
} = http2.constants;

const defaults = {
  maxConcurrentStreams: 1000,
  // Drop SETTINGS_MAX_CONCURRENT_STREAMS to 1 after a non-200 answer, back after the next 200.
  dropOnReject: true,
  // GOAWAY after every n-th processed stream of a connection (0: never); its code.
  goawayEvery: 0,
  goawayCode: 'NO_ERROR',
  // More than `max` accepted pushes to one token within `windowMs`: 429.
  tokenLimit: { max: 0, windowMs: 0 },
  // Close a connection that had no stream for this long (0: never).
  idleTimeoutMs: 0,
  // Reset a stream with ENHANCE_YOUR_CALM when this many are open on its connection (0: never).
  calmAboveOpen: 0,
  // Probability that a stream is reset unprocessed (REFUSED_STREAM / ENHANCE_YOUR_CALM in
  // turn), from a seeded generator so runs repeat.
  resetRate: 0,
  seed: 1,
  // Node's own limits (set at start only).
  maxSessionMemory: 10,
  maxSessionRejectedStreams: 100,
  // Scripted answers for particular tokens: {"<token>": [{"status": 400, "reason": "…"}, …]}.
  script: {},
};

let options = { ...defaults, ...JSON.parse(process.env.STANDIN_OPTIONS || '{}') };

// Mulberry32: small, seeded, good enough to spread resets.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
let random = rng(options.seed);

function freshCounters() {
  return {
    sessions: 0,
    sessionsClosed: 0,
    sessionErrors: 0,
    goaways: 0,
    idleCloses: 0,
    resets: 0,
    calmResets: 0,
    limitDrops: 0,
    // A stream that arrived while the client already had the acknowledged limit open.
    violations: 0,
    peakOpen: 0,
    pings: 0,
  };
}
let counters = freshCounters();
let records = [];
const recentByToken = new Map();
let apnsIds = 0;
let resetTurn = 0;

const reasonOf = (status) =>
  ({ 400: 'BadDeviceToken', 403: 'Forbidden', 410: 'Unregistered', 429: 'TooManyRequests', 500: 'InternalServerError' })[status] || 'Unspecified';

const server = http2.createSecureServer({
  cert: process.env.STANDIN_CERT,
  key: process.env.STANDIN_KEY,
  // STANDIN_CLIENT_CA: client certificates must chain to it (as APNs requires Apple's);
  // STANDIN_CLIENT_CERT=any: a certificate is asked for and recorded but not checked.
  ca: process.env.STANDIN_CLIENT_CA || undefined,
  requestCert: Boolean(process.env.STANDIN_CLIENT_CA) || process.env.STANDIN_CLIENT_CERT === 'any',
  rejectUnauthorized: Boolean(process.env.STANDIN_CLIENT_CA),
  ALPNProtocols: ['h2'],
  allowHTTP1: false,
  maxSessionMemory: options.maxSessionMemory,
  maxSessionRejectedStreams: options.maxSessionRejectedStreams,
  settings: { maxConcurrentStreams: options.maxConcurrentStreams },
});

let sessionIds = 0;
server.on('session', (session) => {
  counters.sessions += 1;
  const s = {
    id: ++sessionIds,
    open: 0,
    // The limit the client is bound by: lowered once it acknowledged, raised at once.
    limit: options.maxConcurrentStreams,
    dropped: false,
    processed: 0,
    goingAway: false,
    clientCert: Boolean(session.socket.getPeerCertificate && Object.keys(session.socket.getPeerCertificate() || {}).length),
    idleTimer: null,
  };
  session.standin = s;
  const armIdle = () => {
    if (s.idleTimer) clearTimeout(s.idleTimer);
    if (!options.idleTimeoutMs) return;
    s.idleTimer = setTimeout(() => {
      if (s.open === 0 && !s.goingAway && !session.destroyed) {
        counters.idleCloses += 1;
        goAway(session, NGHTTP2_NO_ERROR);
      }
    }, options.idleTimeoutMs);
  };
  armIdle();
  s.armIdle = armIdle;
  session.on('goaway', (code, last) => {
    if (process.env.STANDIN_DEBUG) process.stderr.write(`stand-in session ${s.id} got GOAWAY ${code} ${last}\n`);
  });
  session.on('frameError', (type, code, id) => {
    if (process.env.STANDIN_DEBUG) process.stderr.write(`stand-in session ${s.id} frameError ${type} ${code} ${id}\n`);
  });
  session.on('close', () => {
    counters.sessionsClosed += 1;
    if (s.idleTimer) clearTimeout(s.idleTimer);
  });
  session.on('ping', () => {
    counters.pings += 1;
  });
  session.on('error', (e) => {
    counters.sessionErrors += 1;
    if (process.env.STANDIN_DEBUG) process.stderr.write(`stand-in session ${s.id} error: ${e.code} ${e.message}\n`);
  });
});

// GOAWAY with nghttp2's last processed stream id (every stream it received is answered; the
// ones the client sent after it are ignored by nghttp2 and fail above the last-stream-id), then
// close once the open streams are done. (A lower last-stream-id of our own choosing, with the
// streams above it reset here, crashes Node 20's nghttp2 binding: not usable.)
function goAway(session, code) {
  const s = session.standin;
  if (s.goingAway) return;
  s.goingAway = true;
  counters.goaways += 1;
  session.goaway(code);
  session.close();
}

// One SETTINGS in flight at a time (Node allows 10 unacknowledged): a change asked for while
// one is pending is sent when it is acknowledged.
function setLimit(session, limit) {
  const s = session.standin;
  s.wanted = limit;
  if (s.settingsPending || session.destroyed || session.closed) return;
  if (limit === s.limit) return;
  if (limit > s.limit) s.limit = limit;
  s.settingsPending = true;
  session.settings({ maxConcurrentStreams: limit }, () => {
    s.settingsPending = false;
    s.limit = limit;
    if (s.wanted !== limit) setLimit(session, s.wanted);
  });
}

server.on('stream', (stream, headers) => {
  const session = stream.session;
  const s = session.standin;
  if (s.open >= s.limit) counters.violations += 1;
  s.open += 1;
  counters.peakOpen = Math.max(counters.peakOpen, s.open);
  if (s.idleTimer) clearTimeout(s.idleTimer);
  let closed = false;
  stream.on('close', () => {
    if (closed) return;
    closed = true;
    s.open -= 1;
    if (s.open === 0) s.armIdle();
  });
  stream.on('error', () => {});
  const chunks = [];
  stream.on('data', (c) => chunks.push(c));
  stream.on('end', () => answer(stream, headers, Buffer.concat(chunks)));
});

function answer(stream, headers, body) {
  const session = stream.session;
  if (!session || stream.destroyed) return;
  const s = session.standin;
  if (options.calmAboveOpen && s.open > options.calmAboveOpen) {
    counters.calmResets += 1;
    stream.close(NGHTTP2_ENHANCE_YOUR_CALM);
    return;
  }
  if (options.resetRate && random() < options.resetRate) {
    counters.resets += 1;
    // Unprocessed, so the codes that say so: REFUSED_STREAM, and ENHANCE_YOUR_CALM as nghttp2
    // uses it for new streams over the session memory limit.
    const codes = [NGHTTP2_REFUSED_STREAM, NGHTTP2_ENHANCE_YOUR_CALM];
    stream.close(codes[resetTurn++ % codes.length]);
    return;
  }
  const path = headers[':path'] || '';
  const token = path.startsWith('/3/device/') ? path.slice('/3/device/'.length).toLowerCase() : '';
  const apnsId = headers['apns-id'] || `00000000-0000-4000-8000-${(++apnsIds).toString(16).padStart(12, '0')}`;
  let status = 200;
  let reason = null;
  if (headers[':method'] !== 'POST') [status, reason] = [405, 'MethodNotAllowed'];
  else if (!/^[0-9a-f]{64,200}$/.test(token)) [status, reason] = [400, 'BadDeviceToken'];
  // With certificate authentication APNs takes the topic from the certificate (pass-js sends
  // none); a token-authenticated push must name it.
  else if (!headers['apns-topic'] && !s.clientCert) [status, reason] = [400, 'MissingTopic'];
  else if (body.length === 0) [status, reason] = [400, 'PayloadEmpty'];
  else if (options.script[token] && options.script[token].length) {
    const next = options.script[token].shift();
    status = next.status;
    reason = next.reason || reasonOf(status);
  } else if (options.tokenLimit.max > 0) {
    const now = Date.now();
    const recent = (recentByToken.get(token) || []).filter((t) => now - t <= options.tokenLimit.windowMs);
    if (recent.length >= options.tokenLimit.max) [status, reason] = [429, 'TooManyRequests'];
    else recent.push(now);
    recentByToken.set(token, recent);
  }
  s.processed += 1;
  records.push({ token, apnsId, status, session: s.id, stream: stream.id, at: Date.now(), clientCert: s.clientCert });
  const responseHeaders = { ':status': status, 'apns-id': apnsId };
  if (status === 200) {
    stream.respond(responseHeaders, { endStream: true });
    if (s.dropped) {
      s.dropped = false;
      setLimit(session, options.maxConcurrentStreams);
    }
  } else {
    responseHeaders['content-type'] = 'application/json';
    stream.respond(responseHeaders);
    stream.end(JSON.stringify({ reason }));
    if (options.dropOnReject && !s.dropped) {
      s.dropped = true;
      counters.limitDrops += 1;
      setLimit(session, 1);
    }
  }
  if (options.goawayEvery > 0 && s.processed % options.goawayEvery === 0) {
    const code = options.goawayCode === 'ENHANCE_YOUR_CALM' ? NGHTTP2_ENHANCE_YOUR_CALM : NGHTTP2_NO_ERROR;
    goAway(session, code);
  }
}

function stats() {
  const accepted = new Map();
  let acceptedCount = 0;
  let lastAcceptedAt = 0;
  for (const r of records) {
    if (r.status !== 200) continue;
    acceptedCount += 1;
    accepted.set(r.token, (accepted.get(r.token) || 0) + 1);
    lastAcceptedAt = Math.max(lastAcceptedAt, r.at);
  }
  return {
    ...counters,
    received: records.length,
    accepted: acceptedCount,
    distinctAccepted: accepted.size,
    duplicates: acceptedCount - accepted.size,
    lastAcceptedAt,
  };
}

const control = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const reply = (value) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(value));
    };
    if (req.method === 'GET' && req.url === '/stats') return reply(stats());
    if (req.method === 'GET' && req.url === '/records') return reply(records);
    if (req.method === 'POST' && req.url === '/options') {
      options = { ...options, ...JSON.parse(Buffer.concat(chunks).toString() || '{}') };
      if ('seed' in options) random = rng(options.seed);
      return reply(options);
    }
    if (req.method === 'POST' && req.url === '/clear') {
      records = [];
      counters = freshCounters();
      recentByToken.clear();
      return reply({});
    }
    res.writeHead(404);
    res.end();
  });
});

server.listen(Number(process.env.STANDIN_PORT || 0), '127.0.0.1', () => {
  control.listen(Number(process.env.STANDIN_CONTROL_PORT || 0), '127.0.0.1', () => {
    process.stdout.write(`${JSON.stringify({ port: server.address().port, control: control.address().port })}\n`);
  });
});

// Started by a test (STANDIN_EXIT_WITH_STDIN): stop with the parent, when stdin closes.
if (process.env.STANDIN_EXIT_WITH_STDIN) {
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
}
