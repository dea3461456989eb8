// Small HTTP pieces the service e2e tests run inside task namespaces (node -e).

// Each backend answers with its own name and the peer address it saw.
export const SERVER = `const [name, port] = process.argv.slice(1);
require('http').createServer((q, r) => r.end(name + ' ' + q.socket.remoteAddress)).listen(Number(port), '::', () => console.log('listening'));`;

// The client: N sequential requests with Connection: close, printing one JSON line of bodies.
// argv: host, count, port (default 80).
export const CLIENT = `const [host, n, port] = process.argv.slice(1); const http = require('http'); const out = [];
(async () => { for (let i = 0; i < Number(n); i++) out.push(await new Promise((ok, fail) => {
  const q = http.get({ host, port: Number(port || 80), path: '/', agent: false, timeout: 3000 }, (r) => { let b = ''; r.on('data', (d) => (b += d)); r.on('end', () => ok(b)); });
  q.on('error', fail); q.on('timeout', () => q.destroy(new Error('timeout')));
})); console.log(JSON.stringify(out)); })().catch((e) => { console.error(String(e)); process.exit(1); });`;

