'use strict';
// Minimal OTLP/HTTP receiver: appends each POST body, unchanged, as one line of
// the output file (one ExportTraceServiceRequest / ExportMetricsServiceRequest
// per line, like a Collector file exporter in JSON format).
//
// Usage: node receiver.js OUT_FILE PORT_FILE
//   Listens on 127.0.0.1 on a free port and writes that port to PORT_FILE.
//   Accepts only Content-Type: application/json without Content-Encoding, and
//   only bodies that parse as JSON and contain no newline; anything else is
//   answered 415/400 and makes the receiver exit non-zero at SIGTERM.
const fs = require('fs');
const http = require('http');

const [outFile, portFile] = process.argv.slice(2);
if (!outFile || !portFile) {
  console.error('usage: node receiver.js OUT_FILE PORT_FILE');
  process.exit(2);
}
fs.writeFileSync(outFile, '');

let accepted = 0;
let rejected = 0;

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', c => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    const type = (req.headers['content-type'] || '').split(';')[0].trim();
    const enc = req.headers['content-encoding'];
    const reject = (code, why) => {
      rejected++;
      console.error(`receiver: rejected ${req.method} ${req.url}: ${why}`);
      res.writeHead(code, { 'Content-Type': 'text/plain' });
      res.end(why);
    };
    if (req.method !== 'POST') return reject(405, 'POST only');
    if (!/^\/v1\/(traces|metrics|logs)$/.test(req.url)) return reject(404, 'unknown path');
    if (type !== 'application/json') return reject(415, `content-type ${type} is not application/json`);
    if (enc && enc !== 'identity') return reject(415, `content-encoding ${enc}`);
    const text = body.toString('utf8');
    if (text.includes('\n')) return reject(400, 'body contains a newline');
    try {
      JSON.parse(text);
    } catch (e) {
      return reject(400, `body is not JSON: ${e.message}`);
    }
    fs.appendFileSync(outFile, text + '\n');
    accepted++;
    // An empty ExportTraceServiceResponse / ExportMetricsServiceResponse.
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end('{}');
  });
});

server.listen(0, '127.0.0.1', () => {
  fs.writeFileSync(portFile, String(server.address().port));
});

process.on('SIGTERM', () => {
  server.close();
  console.error(`receiver: ${outFile}: ${accepted} request(s) written, ${rejected} rejected`);
  process.exit(rejected ? 1 : 0);
});
