/**
 * A benchmark client process: opens many sockets, counts the tagged messages each receives and
 * records delivery latency (sender timestamp inside the text, `@<seq>:<ms>@`; both servers deliver
 * the same text, so the client does the same work for both). Driven over IPC by realtime.bench.ts.
 */
import WebSocket from 'ws';

type Msg = { kind: 'connect'; urls: string[]; expect: number; protocols?: string[] } | { kind: 'report' } | { kind: 'close' };

const sockets: WebSocket[] = [];
let latencies: number[] = [];
let received = 0;
let total = 0;
let doneSent = false;
const now = () => performance.timeOrigin + performance.now();

function onMessage(data: WebSocket.RawData) {
  const s = data.toString();
  const i = s.indexOf('@');
  if (i < 0) return;
  const j = s.indexOf('@', i + 1);
  const colon = s.indexOf(':', i);
  latencies.push(now() - Number(s.slice(colon + 1, j)));
  received++;
  if (!doneSent && received >= total) {
    doneSent = true;
    process.send?.({ kind: 'done', received });
  }
}

async function openAll(urls: string[], protocols: string[] | undefined) {
  let next = 0;
  const worker = async () => {
    while (next < urls.length) {
      const url = urls[next++]!;
      await new Promise<void>((resolve, reject) => {
        const ws = new WebSocket(url, protocols ?? []);
        ws.once('open', () => {
          sockets.push(ws);
          resolve();
        });
        ws.once('error', reject);
        ws.once('unexpected-response', (_req, res) => reject(new Error(`refused ${res.statusCode}`)));
        ws.on('message', onMessage);
      });
    }
  };
  await Promise.all(Array.from({ length: 20 }, worker));
}

process.on('message', (m: Msg) => {
  if (m.kind === 'connect') {
    total = m.urls.length * m.expect;
    openAll(m.urls, m.protocols).then(
      () => process.send?.({ kind: 'connected', sockets: sockets.length }),
      (err: Error) => process.send?.({ kind: 'error', message: err.message }),
    );
  } else if (m.kind === 'report') {
    process.send?.({ kind: 'report', received, latencies: Buffer.from(new Float64Array(latencies).buffer).toString('base64') });
    latencies = [];
  } else if (m.kind === 'close') {
    for (const ws of sockets) ws.terminate();
    process.exit(0);
  }
});
