/** The service registry decider, given / when / then. */
import { describe, it } from 'vitest';
import { spec } from '../helpers/decider';
import { serviceDecider } from '../../src/commands/services/decide';
import { serviceInput } from '../../src/commands/services/input';
import type { ServiceEvent } from '../../src/events/service';

const orders = serviceInput.parse({ name: 'orders', upstreams: ['http://10.0.0.1:8080', 'http://10.0.0.2:8080'] });
const registered: ServiceEvent = { type: 'ServiceRegistered', data: orders };
const s = spec(serviceDecider);

describe('service decider', () => {
  it('registers a new service with the defaults', () => {
    s.given([]).when({ type: 'RegisterService', spec: orders }).then([registered]);
  });
  it('refuses reserved names (v1, v2, docs…) and a second registration', () => {
    for (const name of ['v1', 'v2', 'v10', 'docs', 'metrics']) s.given([]).when({ type: 'RegisterService', spec: { ...orders, name } }).thenThrows('service_name_reserved');
    s.given([registered]).when({ type: 'RegisterService', spec: orders }).thenThrows('service_exists');
  });
  it('re-registers after deregistration', () => {
    s.given([registered, { type: 'ServiceDeregistered', data: { name: 'orders' } }]).when({ type: 'RegisterService', spec: orders }).then([registered]);
  });
  it('apply is idempotent: register, then nothing for the same spec, an update for a changed one', () => {
    s.given([]).when({ type: 'ApplyService', spec: orders }).then([registered]);
    s.given([registered]).when({ type: 'ApplyService', spec: { ...orders } }).then([]);
    s.given([registered]).when({ type: 'ApplyService', spec: { ...orders, timeout_ms: 5 } }).then([{ type: 'ServiceUpdated', data: { ...orders, timeout_ms: 5 } }]);
  });
  it('updates only what changes; null-clears optional fields; unknown service is 404', () => {
    s.given([registered]).when({ type: 'UpdateService', name: 'orders', changes: { retries: 1 } }).then([]);
    s.given([registered]).when({ type: 'UpdateService', name: 'orders', changes: { retries: 3 } }).then([{ type: 'ServiceUpdated', data: { ...orders, retries: 3 } }]);
    const withFeature = { ...orders, feature: 'reports' };
    s.given([{ type: 'ServiceRegistered', data: withFeature }]).when({ type: 'UpdateService', name: 'orders', changes: { clear: ['feature'] } }).then([{ type: 'ServiceUpdated', data: orders }]);
    s.given([]).when({ type: 'UpdateService', name: 'orders', changes: { retries: 3 } }).thenThrows('service_not_found');
    s.given([]).when({ type: 'DeregisterService', name: 'orders' }).thenThrows('service_not_found');
  });
  it('health marks only on a change of state, only for registered upstreams', () => {
    const down: ServiceEvent = { type: 'UpstreamMarkedDown', data: { name: 'orders', upstream: 'http://10.0.0.1:8080', reason: 'refused' } };
    s.given([registered]).when({ type: 'MarkUpstream', name: 'orders', upstream: 'http://10.0.0.1:8080', up: false, reason: 'refused' }).then([down]);
    s.given([registered, down]).when({ type: 'MarkUpstream', name: 'orders', upstream: 'http://10.0.0.1:8080', up: false }).then([]);
    s.given([registered, down]).when({ type: 'MarkUpstream', name: 'orders', upstream: 'http://10.0.0.1:8080', up: true }).then([{ type: 'UpstreamMarkedUp', data: { name: 'orders', upstream: 'http://10.0.0.1:8080' } }]);
    s.given([registered]).when({ type: 'MarkUpstream', name: 'orders', upstream: 'http://10.0.0.1:8080', up: true }).then([]);
    s.given([registered]).when({ type: 'MarkUpstream', name: 'orders', upstream: 'http://elsewhere', up: false }).then([]);
    s.given([]).when({ type: 'MarkUpstream', name: 'orders', upstream: 'http://10.0.0.1:8080', up: false }).then([]);
  });
  it('upstream URLs: http(s) or dns+srv, no credentials', () => {
    const ok = (u: string) => serviceInput.safeParse({ name: 'x', upstreams: [u] }).success;
    if (!ok('https://a.example/base') || !ok('dns+srv://_http._tcp.orders.internal')) throw new Error('valid upstream refused');
    if (ok('http://user:pw@a.example') || ok('ftp://a.example') || ok('http://a.example/?q=1')) throw new Error('invalid upstream accepted');
  });
});
