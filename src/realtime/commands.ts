/**
 * The command interpreter: a client's frames → commands, with the per-connection token bucket
 * (REALTIME_MESSAGES_PER_SECOND; excess dropped with an error frame, a flood closes with 1008).
 * Nothing a client sends can throw out of a handler.
 */
import { frames, parseMessage, type ClientCommand } from './protocol';
import { CLOSE, type Conn, type WS } from './conn';
import type { Hub } from './hub';
import { ready, queueRemote } from './fanout';
import { mayBeInGroup } from './access';


export function message(hub: Hub, ws: WS, msg: ArrayBuffer, isBinary: boolean) {
  const c = ws.getUserData().c;
  if (c.closed) return;
  if (!allow(hub, ws, c)) return hub.counters.refused.inc();
  if (isBinary) {
    hub.counters.refused.inc();
    return hub.send(ws, frames.error('binary_not_supported', 'Send text frames.'));
  }
  if (msg.byteLength > hub.limits.maxBytes) {
    hub.counters.refused.inc();
    return hub.send(ws, frames.error('message_too_large', `Messages are at most ${hub.limits.maxBytes} bytes.`));
  }
  const parsed = parseMessage(Buffer.from(msg).toString('utf8'));
  if (!parsed.ok) {
    hub.counters.refused.inc();
    return hub.send(ws, frames.error(parsed.code, parsed.message, parsed.id));
  }
  hub.counters[parsed.command.type].inc();
  try {
    handle(hub, ws, c, parsed.command);
  } catch (err) {
    hub.o.log.error({ err }, 'realtime: message handler failed');
    hub.send(ws, frames.error('internal_error', 'The message could not be handled.'));
  }
}

/** Token bucket; excess is dropped with (at most one per second) error frame; a flood closes. */
export function allow(hub: Hub, ws: WS, c: Conn): boolean {
  const now = Date.now();
  const rate = hub.limits.rate;
  c.tokens = Math.min(rate, c.tokens + ((now - c.refilledAt) / 1000) * rate);
  c.refilledAt = now;
  if (c.tokens >= 1) {
    c.tokens -= 1;
    c.dropped = 0;
    return true;
  }
  c.dropped++;
  if (c.dropped > rate * 4 + 10) {
    hub.send(ws, frames.error('rate_limited', 'Too many messages; closing.'));
    hub.end(ws, CLOSE.flood, 'message rate exceeded');
  } else if (now - c.lastErrorAt >= 1000) {
    c.lastErrorAt = now;
    hub.send(ws, frames.error('rate_limited', `At most ${rate} messages per second; messages were dropped.`));
  }
  return false;
}

export function handle(hub: Hub, ws: WS, c: Conn, cmd: ClientCommand) {
  switch (cmd.type) {
    case 'group': {
      if (!c.group) return hub.send(ws, frames.error('not_in_group', 'Join a group first (/join <group>).', cmd.id));
      const topic = `g:${c.group}`;
      const frame = frames.groupMessage(c.group, c.clientId, 'socket', cmd.text);
      hub.app.publish(topic, frame, false);
      queueRemote(hub, topic, frame);
      return;
    }
    case 'send_to': {
      const frame = frames.directMessage(cmd.to, c.clientId, 'socket', cmd.text);
      const sent = JSON.stringify({ type: 'sent', to: cmd.to, ...(cmd.id ? { id: cmd.id } : {}) });
      const local = hub.byClient.get(cmd.to);
      if (local) {
        hub.send(local, frame);
        return hub.send(ws, sent);
      }
      hub.state.publish(`c:${cmd.to}`, frame, hub.hubId).then(
        (n) => hub.send(ws, n > 0 ? sent : frames.error('client_not_found', `Client ${cmd.to} is not connected.`, cmd.id)),
        () => hub.send(ws, frames.error('service_unavailable', 'The message could not be sent.', cmd.id)),
      );
      return;
    }
    case 'join': {
      const previous = c.group;
      if (previous === cmd.group) return hub.send(ws, JSON.stringify({ type: 'joined', group: cmd.group, ...(cmd.id ? { id: cmd.id } : {}) }));
      // Private groups (issue 20 §8): the rule is read from the log before anything changes.
      void mayBeInGroup(hub.o, cmd.group, { userId: c.userId, roles: c.roles }).then(
        (allowed) => {
          if (c.closed) return;
          if (!allowed) return hub.send(ws, frames.error('group_private', `Group ${cmd.group} is private: you need an invitation or one of its roles.`, cmd.id));
          if (c.group === cmd.group) return hub.send(ws, JSON.stringify({ type: 'joined', group: cmd.group, ...(cmd.id ? { id: cmd.id } : {}) }));
          const before = c.group;
          if (before) ws.unsubscribe(`g:${before}`);
          c.group = cmd.group;
          ws.subscribe(`g:${cmd.group}`);
          return hub.state.setGroup(c.clientId, c.conn, cmd.group)
            .then(() => ready(hub, c))
            .then(
              () => hub.send(ws, JSON.stringify({ type: 'joined', group: cmd.group, previous: before, ...(cmd.id ? { id: cmd.id } : {}) })),
              () => hub.send(ws, frames.error('service_unavailable', 'Membership could not be stored.', cmd.id)),
            );
        },
        () => hub.send(ws, frames.error('service_unavailable', 'Membership could not be checked; try again shortly.', cmd.id)),
      );
      return;
    }
    case 'leave': {
      const previous = c.group;
      if (!previous) return hub.send(ws, frames.error('not_in_group', 'You are not in a group.', cmd.id));
      ws.unsubscribe(`g:${previous}`);
      c.group = null;
      void hub.state.setGroup(c.clientId, c.conn, null).then(
        () => hub.send(ws, JSON.stringify({ type: 'left', group: previous, ...(cmd.id ? { id: cmd.id } : {}) })),
        () => hub.send(ws, frames.error('service_unavailable', 'Membership could not be stored.', cmd.id)),
      );
      return;
    }
    case 'ping':
      return hub.send(ws, JSON.stringify({ type: 'pong', ts: Date.now(), ...(cmd.id ? { id: cmd.id } : {}) }));
    case 'list_members': {
      const group = cmd.group ?? c.group;
      if (!group) return hub.send(ws, frames.error('not_in_group', 'Join a group first or name one.', cmd.id));
      if (group !== c.group && !c.roles.includes('admin')) return hub.send(ws, frames.error('forbidden', 'Only members (and admins) see a group\'s members.', cmd.id));
      void hub.state.groupMembers(group).then(
        (members) => hub.send(ws, JSON.stringify({ type: 'members', group, members, ...(cmd.id ? { id: cmd.id } : {}) })),
        () => hub.send(ws, frames.error('service_unavailable', 'Try again shortly.', cmd.id)),
      );
      return;
    }
    case 'list_groups':
      void visibleGroups(hub, c).then(
        (groups) => hub.send(ws, JSON.stringify({ type: 'groups', groups, ...(cmd.id ? { id: cmd.id } : {}) })),
        () => hub.send(ws, frames.error('service_unavailable', 'Try again shortly.', cmd.id)),
      );
      return;
    case 'subscribe':
      if (!c.roles.includes('admin')) return hub.send(ws, frames.error('forbidden', 'The audit feed is for admins.', cmd.id));
      ws.subscribe('audit');
      // Confirm once the reader is positioned: events after this frame are in the feed.
      void hub.audit.then((f) => hub.send(ws, f
        ? JSON.stringify({ type: 'subscribed', channel: 'audit', ...(cmd.id ? { id: cmd.id } : {}) })
        : frames.error('service_unavailable', 'The audit feed could not be started.', cmd.id)));
      return;
    case 'unsubscribe':
      ws.unsubscribe('audit');
      return hub.send(ws, JSON.stringify({ type: 'unsubscribed', channel: 'audit', ...(cmd.id ? { id: cmd.id } : {}) }));
  }
}

/** Groups with members; private ones only to those who may be in them (and admins). */
async function visibleGroups(hub: Hub, c: Conn) {
  const all = await hub.state.groups();
  if (c.roles.includes('admin')) return all;
  const allowed = await Promise.all(all.map((g) => mayBeInGroup(hub.o, g.name, { userId: c.userId, roles: c.roles })));
  return all.filter((_, i) => allowed[i]);
}
