/**
 * The baseline: a bare uWebSockets.js pub/sub server. Every socket subscribes to one topic; every
 * message received is published to it. Same uWS settings as the hub (no compression, same
 * backpressure limit). Prints `{"port"}`; answers IPC 'cpu' with process.cpuUsage()/memoryUsage().
 */
import uWS from 'uWebSockets.js';

const app = uWS.App();
/** Experiment switch: wrap messages in the hub's JSON envelope (same bytes on the wire). */
const ENVELOPE = process.env.BENCH_BARE_ENVELOPE === '1';
app.ws('/*', {
  compression: uWS.DISABLED,
  maxPayloadLength: 16 * 1024,
  idleTimeout: 60,
  maxBackpressure: Number(process.env.BENCH_BACKPRESSURE ?? 64 * 1024 * 1024),
  open: (ws) => {
    ws.subscribe('g');
  },
  message: (_ws, msg, isBinary) => {
    if (ENVELOPE) app.publish('g', JSON.stringify({ type: 'group_message', group: 'bench', from: 'pub', via: 'socket', text: Buffer.from(msg).toString(), ts: Date.now() }), false);
    else app.publish('g', msg, isBinary);
  },
});
app.listen('127.0.0.1', 0, (ls) => {
  if (!ls) process.exit(1);
  process.stdout.write(`${JSON.stringify({ port: uWS.us_socket_local_port(ls as unknown as uWS.us_socket) })}\n`);
});
process.on('message', (m: unknown) => {
  if (m === 'mem') (globalThis as { gc?: () => void }).gc?.();
  if (m === 'cpu' || m === 'mem') process.send?.({ cpu: process.cpuUsage(), mem: process.memoryUsage() });
});
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
