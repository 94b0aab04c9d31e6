// A small HTTP server for the browser tests: it serves Clients/js over HTTP (browsers refuse ES
// modules from file://) and takes the page's result as a POST to /result, since --dump-dom and
// friends return before a page's asynchronous work ends.

import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const types = { '.js': 'text/javascript', '.mjs': 'text/javascript', '.html': 'text/html', '.css': 'text/css', '.png': 'image/png' };
const MAX_RESULT = 64 * 1024;

/**
 * Listens on 127.0.0.1 with a free port. `results` collects every JSON body POSTed to /result;
 * `nextResult()` waits for the next one.
 */
export async function startStaticServer() {
  const results = [];
  const waiters = [];
  const server = http.createServer((request, response) => {
    const url = new URL(request.url, 'http://127.0.0.1');
    if (request.method === 'POST' && url.pathname === '/result') {
      let body = '';
      request.setEncoding('utf8');
      request.on('data', (chunk) => {
        body += chunk;
        if (body.length > MAX_RESULT) request.destroy();
      });
      request.on('end', () => {
        let result;
        try {
          result = JSON.parse(body);
        } catch {
          result = { ok: false, error: `the page POSTed a body that is not JSON: ${body.slice(0, 200)}` };
        }
        results.push(result);
        waiters.splice(0).forEach((wake) => wake());
        response.writeHead(204).end();
      });
      return;
    }
    const file = path.join(root, path.normalize(decodeURIComponent(url.pathname)));
    if (request.method !== 'GET' || !file.startsWith(root + path.sep) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    response.writeHead(200, { 'content-type': types[path.extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' });
    fs.createReadStream(file).pipe(response);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    origin: `http://127.0.0.1:${server.address().port}`,
    results,
    async nextResult(timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      const seen = results.length;
      while (results.length === seen) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`the page POSTed no result within ${timeoutMs} ms`);
        await new Promise((resolve) => {
          const timer = setTimeout(resolve, left);
          waiters.push(() => { clearTimeout(timer); resolve(); });
        });
      }
      return results[seen];
    },
    close: () => new Promise((resolve) => { server.closeAllConnections?.(); server.close(resolve); }),
  };
}
