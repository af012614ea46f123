/** Real upstream HTTP servers for the gateway tests: each echoes what it received. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Upstream {
  url: string;
  port: number;
  name: string;
  hits: number;
  /** Requests seen (method, url, headers). */
  seen: { method: string; url: string; headers: http.IncomingHttpHeaders }[];
  server: http.Server;
  close(): Promise<void>;
}

export type Handler = (req: http.IncomingMessage, res: http.ServerResponse, up: Upstream) => void;

const echo: Handler = (req, res, up) => {
  if (req.url === '/health') {
    res.writeHead(200).end('ok');
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json', 'x-upstream': up.name });
    res.end(JSON.stringify({ upstream: up.name, method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') }));
  });
};

export async function startUpstream(name: string, handler: Handler = echo, port = 0): Promise<Upstream> {
  const up = { name, hits: 0, seen: [] } as unknown as Upstream;
  const server = http.createServer((req, res) => {
    if (req.url !== '/health') {
      up.hits++;
      up.seen.push({ method: req.method!, url: req.url!, headers: req.headers });
    }
    handler(req, res, up);
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  up.server = server;
  up.port = (server.address() as AddressInfo).port;
  up.url = `http://127.0.0.1:${up.port}`;
  up.close = () => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
  return up;
}

export { echo };
