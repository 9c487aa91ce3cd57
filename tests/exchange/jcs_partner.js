// An independent partner: RFC 8785 canonical JSON and Ed25519 with Node's
// built-in crypto only (nothing from tocsin). Reads one JSON request on stdin:
//   {"op": "sign", "pem": PKCS#8 PEM, "messages": [obj, ...]}
//       -> one signed message per line (v set to 2, sig base64url)
//   {"op": "bundle", "pem": ..., "envelope": obj, "messages": [obj, ...]}
//       -> one signed bundle carrying the messages
//   {"op": "verify", "pem": SPKI PEM, "messages": ["json text", ...]}
//       -> one line per message: true or false
'use strict';
const crypto = require('crypto');

// RFC 8785: JSON.stringify prints numbers and strings as JCS requires;
// Array.prototype.sort compares UTF-16 code units, as JCS sorts member names.
function canonicalize(v) {
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return '[' + v.map(canonicalize).join(',') + ']';
  return '{' + Object.keys(v).sort()
    .map((k) => JSON.stringify(k) + ':' + canonicalize(v[k])).join(',') + '}';
}

function signed(msg, key) {
  const m = Object.assign({}, msg, { v: 2 });
  delete m.sig;
  m.sig = crypto.sign(null, Buffer.from(canonicalize(m), 'utf8'), key).toString('base64url');
  return m;
}

const req = JSON.parse(require('fs').readFileSync(0, 'utf8'));
if (req.op === 'sign') {
  const key = crypto.createPrivateKey(req.pem);
  for (const m of req.messages) process.stdout.write(JSON.stringify(signed(m, key)) + '\n');
} else if (req.op === 'bundle') {
  const key = crypto.createPrivateKey(req.pem);
  const members = req.messages.map((m) => { const c = Object.assign({}, m, { v: 2 }); delete c.sig; return c; });
  const b = Object.assign({}, req.envelope, { kind: 'bundle', body: { messages: members } });
  process.stdout.write(JSON.stringify(signed(b, key)) + '\n');
} else if (req.op === 'verify') {
  const key = crypto.createPublicKey(req.pem);
  for (const text of req.messages) {
    const m = JSON.parse(text);
    const sig = Buffer.from(m.sig, 'base64url');
    delete m.sig;
    const ok = crypto.verify(null, Buffer.from(canonicalize(m), 'utf8'), key, sig);
    process.stdout.write(JSON.stringify(ok) + '\n');
  }
} else {
  process.stderr.write('unknown op\n');
  process.exit(2);
}
