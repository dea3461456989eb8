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


// A PROXY-protocol-aware backend (as nginx with `listen ... proxy_protocol`): reads the v2
// header, then answers one HTTP request with its name and the client address the header gave.
// argv: name, port, URL of dist/src/control/agent/proxy-relay.js (for parseProxyV2).
export const PROXY_SERVER = `const [name, port, mod] = process.argv.slice(1);
import(mod).then(({ parseProxyV2 }) => require('net').createServer((s) => {
  let buf = Buffer.alloc(0);
  s.on('error', () => {});
  s.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    const p = parseProxyV2(buf);
    if (!p.ok) { if (p.reason !== 'short') s.destroy(); return; }
    if (!buf.subarray(p.length).includes('\\r\\n\\r\\n')) return;
    s.removeAllListeners('data');
    const body = name + ' ' + p.src;
    s.end('HTTP/1.1 200 OK\\r\\nConnection: close\\r\\nContent-Length: ' + Buffer.byteLength(body) + '\\r\\n\\r\\n' + body);
  });
}).listen(Number(port), '::', () => console.log('listening')));`;
