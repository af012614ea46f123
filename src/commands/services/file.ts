/**
 * The GATEWAY_SERVICES file (JSON or YAML: `{services: [...]}` or a bare list of service
 * definitions, the REST body's fields) applied to the registry. Rules: every entry is validated
 * before any is applied (a bad file changes nothing); each is applied with `ApplyService`, so an
 * unchanged entry appends nothing and the file can be applied at every start by every process.
 * Services registered by REST and absent from the file are left alone.
 */
import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { z } from 'zod';
import type { EventMetadata } from '../../events/store';
import type { CommandDeps } from '../decider';
import { runServiceCommand } from './handlers';
import { serviceInput } from './input';

const fileSchema = z.union([z.array(serviceInput), z.object({ services: z.array(serviceInput) }).strict()]);

export async function readServicesFile(path: string) {
  const text = await readFile(path, 'utf8');
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    throw new Error(`${path}: not JSON or YAML: ${(err as Error).message}`);
  }
  const parsed = fileSchema.safeParse(doc);
  if (!parsed.success) throw new Error(`${path}: ${z.prettifyError(parsed.error)}`);
  const list = Array.isArray(parsed.data) ? parsed.data : parsed.data.services;
  const names = list.map((s) => s.name);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup) throw new Error(`${path}: service ${dup} is listed twice`);
  return list;
}

/** Applies the file; returns the names of the services it changed. */
export async function applyServicesFile(deps: CommandDeps, path: string, metadata: EventMetadata = { actorUserId: 'config:GATEWAY_SERVICES' }): Promise<string[]> {
  const changed: string[] = [];
  for (const spec of await readServicesFile(path)) {
    const r = await runServiceCommand(deps, { type: 'ApplyService', spec }, metadata);
    if (r.changed) changed.push(spec.name);
  }
  return changed;
}
