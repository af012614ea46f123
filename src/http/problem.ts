/**
 * The one place errors become HTTP answers: application/problem+json (RFC 9457), carrying the
 * stable `code` and the request id. Rules:
 * - a domain error's `kind` picks the status (`statusOf`, table in ./status.ts); nothing else does;
 * - the headers are added here (`headersOf`): Retry-After from `retryAfterSeconds`,
 *   `WWW-Authenticate: Bearer` on every `unauthenticated` answer;
 * - 5xx bodies never carry internals; validation errors list the offending fields;
 * - the realtime hub answers refused upgrades through `statusOf`/`headersOf`/`problemBody` too.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { DomainError, domainError, errors, type FieldError } from '../errors';
import { STATUS_OF_KIND } from './status';
import { WrongExpectedVersionError } from '../events/store';
import { isTransportResetMessage } from '../events/esdb/transport-reset';
import { redactUrl } from '../infra/logger';

export const PROBLEM_TYPE_BASE = 'https://authledger.dev/problems/';

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  instance: string;
  request_id: string;
  errors?: FieldError[];
  [extra: string]: unknown;
}

const TITLES: Record<number, string> = {
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed',
  409: 'Conflict', 412: 'Precondition Failed', 413: 'Content Too Large', 415: 'Unsupported Media Type',
  422: 'Unprocessable Content', 429: 'Too Many Requests', 500: 'Internal Server Error', 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout',
};

/** Fastify's own request errors, mapped to stable codes and plain messages. */
const FASTIFY_ERRORS: Record<string, { code: Parameters<typeof domainError>[0]; message: string }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { code: 'body_too_large', message: 'The request body is larger than this server accepts.' },
  FST_ERR_CTP_INVALID_JSON_BODY: { code: 'invalid_json', message: 'The request body is not valid JSON.' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { code: 'invalid_json', message: 'The request body is empty but its content type is JSON.' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { code: 'unsupported_media_type', message: 'Unsupported content type; send application/json.' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { code: 'bad_content_length', message: 'Content-Length does not match the body.' },
  FST_ERR_BAD_URL: { code: 'bad_url', message: 'The request URL is malformed.' },
};

/** The HTTP status of a domain error: its kind's (a framework error keeps the status it came with). */
export const statusOf = (err: DomainError): number => err.legacyStatus ?? STATUS_OF_KIND[err.kind];

/** The headers of a domain error's answer. */
export function headersOf(err: DomainError): Record<string, string> {
  const h: Record<string, string> = { ...err.headers };
  // Token endpoints authenticate their clients with HTTP Basic (RFC 6749 §2.3.1) or an API key.
  if (err.id === 'client_auth_required') h['www-authenticate'] ??= 'Basic realm="authledger tokens", charset="UTF-8"';
  if (err.kind === 'unauthenticated') h['www-authenticate'] ??= 'Bearer';
  if (err.retryAfterSeconds !== undefined) h['retry-after'] = String(Math.max(1, Math.ceil(err.retryAfterSeconds)));
  return h;
}

const ESDB_DOWN = new Set(['unavailable', 'deadline-exceeded', 'timeout', 'not-leader']);

/** Connection-level failures of PostgreSQL/Redis/EventStoreDB: the dependency is down, answer 503. */
export function isDependencyDown(err: unknown): boolean {
  const e = err as { code?: string; message?: string; name?: string } | undefined;
  if (!e) return false;
  const codes = ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', '57P01', '57P02', '57P03', '08006', '08001', '08003', '08004', '53300'];
  if (e.code && codes.includes(e.code)) return true;
  // EventStoreDB/KurrentDB (@eventstore/db-client's CommandError types, matched by shape so that
  // this module does not load the client): the node or the connection, not the request.
  const t = (err as { type?: unknown }).type;
  if (err instanceof Error && typeof t === 'string' && ESDB_DOWN.has(t)) return true;
  const m = e.message ?? '';
  return (
    /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|the database system is (starting up|shutting down)/i.test(m) ||
    /Stream isn't writeable|enableOfflineQueue|Connection is closed|Reached the max retries per request/i.test(m) ||
    isTransportResetMessage(m)
  );
}

export function toDomainError(err: unknown): DomainError {
  if (err instanceof DomainError) return err;
  if (hasZodFastifySchemaValidationErrors(err)) {
    const fields = err.validation.map((v) => ({
      field: [v.instancePath ? v.instancePath.replace(/^\//, '').replaceAll('/', '.') : '', (v.params as { issue?: { path?: unknown[] } })?.issue?.path?.join('.') ?? '']
        .filter(Boolean)[0] || (err.validationContext ?? 'body'),
      message: v.message ?? 'invalid',
    }));
    return errors.validation(fields);
  }
  if (err instanceof WrongExpectedVersionError) return errors.conflict('The resource was changed concurrently; retry.', 'concurrent_modification');
  if (isDependencyDown(err)) return errors.unavailable('dependency', err);
  const fe = err as FastifyError & { statusCode?: number };
  const known = fe?.code ? FASTIFY_ERRORS[fe.code] : undefined;
  if (known) return domainError(known.code, known.message);
  if (fe && typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    const code = fe.statusCode === 429 ? 'rate_limited' : fe.code ? String(fe.code).replace(/^FST_ERR_/, '').toLowerCase() : 'bad_request';
    // A framework error: keep the status it came with (the legacy numeric form of the constructor).
    return new DomainError(code, fe.statusCode, fe.statusCode === 429 ? 'Too many requests.' : fe.message);
  }
  if (fe && fe.statusCode === 503) return errors.unavailable(fe.message, err);
  return errors.internal(fe?.message ?? 'unknown error', err);
}

/** The problem+json body of an error (the realtime hub answers refused upgrades with it too). */
/** @deprecated name kept for in-flight code: `toDomainError`. */
export const toAppError = toDomainError;

export function problemBody(err: DomainError, instance: string, requestId: string): Problem {
  const status = statusOf(err);
  const server = status >= 500;
  return {
    type: `${PROBLEM_TYPE_BASE}${err.code}`,
    title: problemTitle(status),
    status,
    detail: server && err.code === 'internal_error' ? 'Internal server error.' : err.message,
    code: err.code,
    instance,
    request_id: requestId,
    ...(err.fields ? { errors: err.fields } : {}),
    ...(server ? {} : err.extra ?? {}),
  };
}

export function problemOf(err: DomainError, request: FastifyRequest): Problem {
  // The instance echoes the path: never a credential in it (issue 20 §6).
  return problemBody(err, redactUrl(request.url.split('?')[0] ?? request.url), String(request.id));
}

/** Problem title of a status. */
export const problemTitle = (status: number) => TITLES[status] ?? (status >= 500 ? 'Server Error' : 'Error');

export function sendProblem(reply: FastifyReply, request: FastifyRequest, err: DomainError): FastifyReply {
  for (const [k, v] of Object.entries(headersOf(err))) reply.header(k, v);
  return reply.code(statusOf(err)).type('application/problem+json').serializer(JSON.stringify).send(problemOf(err, request));
}

/**
 * The client went away mid-request (Node's `aborted` ECONNRESET while the body was read, or a
 * destroyed socket): its fault, not a dependency's — never a 503 "request failed" (issue 20 §5).
 */
function clientAborted(error: unknown, request: FastifyRequest): boolean {
  const e = error as { code?: string; message?: string } | undefined;
  return (e?.code === 'ECONNRESET' && e.message === 'aborted') || request.raw.readableAborted === true;
}

export function errorHandler(error: unknown, request: FastifyRequest, reply: FastifyReply) {
  if (clientAborted(error, request) && !(error instanceof DomainError)) {
    request.log.info({ code: 'client_closed_request' }, 'client closed the request');
    return sendProblem(reply, request, domainError('client_closed_request', 'The client closed the request.'));
  }
  const err = toDomainError(error);
  const status = statusOf(err);
  if (status >= 500) request.log.error({ err: error, code: err.code, detail: err.detail }, 'request failed');
  else request.log.info({ code: err.code, status }, 'request rejected');
  return sendProblem(reply, request, err);
}
