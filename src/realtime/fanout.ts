/**
 * Fan-out across hubs: local delivery at once, Redis pub/sub for the other hubs (tagged with the
 * hub id, so the echo is skipped), batched per tick.
 */
import { followLog } from './auth-events';
import { ORIGIN_LENGTH } from './state';
import { type Conn } from './conn';
import type { Hub } from './hub';
import { onSessionEndedSignal, onControl, publishAudit } from './reactions';


/** Redis subscriptions follow uWS topic counts: subscribed while this hub has a local member. */
export function subscriptionChanged(hub: Hub, topic: string, newCount: number, oldCount: number) {
  if (topic === 'audit') {
    if (oldCount === 0 && newCount > 0) hub.audit = hub.audit.then((f) => f ?? followLog(hub.o.store, undefined, (e) => publishAudit(hub, e), hub.o.log).catch(() => undefined));
    else if (newCount === 0 && oldCount > 0) hub.audit = hub.audit.then(async (f) => { await f?.stop(); return undefined; });
    return;
  }
  if (!(topic.startsWith('g:') || topic.startsWith('c:'))) return;
  const channel = hub.channelBase + topic;
  if (oldCount === 0 && newCount > 0) channelOp(hub, channel, 'subscribe');
  else if (newCount === 0 && oldCount > 0) channelOp(hub, channel, 'unsubscribe');
}

/**
 * SUBSCRIBE/UNSUBSCRIBE of one channel run one after the other: a subscribe sent while the
 * unsubscribe of the same channel is in flight can leave ioredis's promise for it unsettled
 * (a member leaving and rejoining at once never got its welcome). Each step is bounded.
 */
function channelOp(hub: Hub, channel: string, op: 'subscribe' | 'unsubscribe') {
  const prev = hub.channelReady.get(channel) ?? Promise.resolve();
  const step = prev.then(() => bounded(hub.sub[op](channel), 5000)).catch((err) => hub.o.log.warn({ err: (err as Error).message, channel, op }, `realtime: ${op} failed`));
  hub.channelReady.set(channel, step);
  if (op === 'unsubscribe') void step.then(() => {
    if (hub.channelReady.get(channel) === step) hub.channelReady.delete(channel);
  });
}

function bounded<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no reply within ${ms} ms`)), ms);
  })]).finally(() => clearTimeout(timer));
}

export async function ready(hub: Hub, c: Conn) {
  await Promise.all([hub.channelReady.get(hub.channelBase + `c:${c.clientId}`), c.group ? hub.channelReady.get(hub.channelBase + `g:${c.group}`) : undefined]);
}

/**
 * Group frames for the other hubs are batched per topic and flushed once per event-loop turn:
 * one PUBLISH (and one echo back to this hub) per burst instead of per message. A batch is the
 * origin tag followed by frames separated by "\n" (JSON frames never contain a raw newline).
 */
export function queueRemote(hub: Hub, topic: string, frame: string) {
  const q = hub.outbox.get(topic);
  if (q) q.push(frame);
  else hub.outbox.set(topic, [frame]);
  if (!hub.flushScheduled) {
    hub.flushScheduled = true;
    setImmediate(() => flushRemote(hub));
  }
}

export function flushRemote(hub: Hub) {
  hub.flushScheduled = false;
  for (const [topic, list] of hub.outbox) {
    hub.state.publish(topic, list.join('\n'), hub.hubId).catch((err) => hub.o.log.warn({ err: (err as Error).message, topic }, 'realtime: publish to other hubs failed'));
  }
  hub.outbox.clear();
}

export function onBus(hub: Hub, channelBuf: Buffer, message: Buffer) {
  const channel = channelBuf.toString();
  if (channel === hub.ctlChannel) return onControl(hub, message.toString());
  if (channel === hub.endedChannel) return onSessionEndedSignal(hub, message.toString());
  if (message.length < ORIGIN_LENGTH || message.toString('latin1', 0, ORIGIN_LENGTH) === hub.hubId) return;
  const topic = channel.slice(hub.channelBase.length);
  let start = ORIGIN_LENGTH;
  for (;;) {
    const nl = message.indexOf(10, start);
    hub.app.publish(topic, message.subarray(start, nl < 0 ? message.length : nl), false);
    if (nl < 0) break;
    start = nl + 1;
  }
}
