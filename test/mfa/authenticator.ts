/**
 * A software WebAuthn authenticator for tests: ES256 keys from node:crypto, attestation `none`,
 * discoverable credentials (it keeps the user handle), a signature counter, UV and backup flags.
 * It builds exactly the JSON navigator.credentials.create()/get() give a page (toJSON()).
 */
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { isoCBOR } from '@simplewebauthn/server/helpers';

const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64url');
const sha256 = (b: Uint8Array | string) => createHash('sha256').update(b).digest();

interface Credential {
  id: Buffer;
  key: KeyObject;
  userHandle: string;
  rpId: string;
  counter: number;
}

export interface AuthenticatorOptions {
  /** User verification performed (PIN / biometrics). Default true. */
  uv?: boolean;
  /** Backup eligible + backed up (a synced passkey). Default false. */
  backedUp?: boolean;
  /** Counter increment per use; 0 = an authenticator without counters. Default 1. */
  counterStep?: number;
}

export class SoftAuthenticator {
  readonly credentials: Credential[] = [];

  constructor(readonly origin: string, private readonly opts: AuthenticatorOptions = {}) {}

  private flags(attested: boolean): number {
    let f = 0x01; // UP
    if (this.opts.uv !== false) f |= 0x04;
    if (this.opts.backedUp) f |= 0x08 | 0x10;
    if (attested) f |= 0x40;
    return f;
  }

  /** navigator.credentials.create({ publicKey: options }) → RegistrationResponseJSON. */
  create(options: { challenge: string; rp: { id?: string }; user: { id: string } }, clientOverrides: Partial<{ origin: string; type: string }> = {}) {
    const rpId = options.rp.id ?? new URL(this.origin).hostname;
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = publicKey.export({ format: 'jwk' });
    const cose = isoCBOR.encode(new Map<number, number | Uint8Array>([
      [1, 2], [3, -7], [-1, 1], [-2, Buffer.from(jwk.x!, 'base64url')], [-3, Buffer.from(jwk.y!, 'base64url')],
    ]));
    const id = randomBytes(32);
    const cred: Credential = { id, key: privateKey, userHandle: options.user.id, rpId, counter: 0 };
    this.credentials.push(cred);
    const counter = Buffer.alloc(4);
    const idLen = Buffer.alloc(2);
    idLen.writeUInt16BE(id.length);
    const authData = Buffer.concat([sha256(rpId), Buffer.from([this.flags(true)]), counter, Buffer.alloc(16), idLen, id, Buffer.from(cose)]);
    const attestationObject = isoCBOR.encode(new Map<string, unknown>([['fmt', 'none'], ['attStmt', new Map()], ['authData', authData]]) as never);
    const clientDataJSON = JSON.stringify({ type: 'webauthn.create', challenge: options.challenge, origin: this.origin, crossOrigin: false, ...clientOverrides });
    return {
      id: b64(id), rawId: b64(id), type: 'public-key' as const,
      response: { clientDataJSON: b64(Buffer.from(clientDataJSON)), attestationObject: b64(attestationObject), transports: ['internal'] },
      clientExtensionResults: {}, authenticatorAttachment: 'platform' as const,
    };
  }

  /** navigator.credentials.get({ publicKey: options }) → AuthenticationResponseJSON (the first matching credential). */
  get(options: { challenge: string; rpId?: string; allowCredentials?: { id: string }[] }, opts: { credential?: Credential; origin?: string } = {}) {
    const allowed = options.allowCredentials?.map((c) => c.id);
    const cred = opts.credential ?? this.credentials.find((c) => !allowed?.length || allowed.includes(b64(c.id)));
    if (!cred) throw new Error('no credential for this request');
    cred.counter += this.opts.counterStep ?? 1;
    const counter = Buffer.alloc(4);
    counter.writeUInt32BE(cred.counter);
    const authData = Buffer.concat([sha256(options.rpId ?? cred.rpId), Buffer.from([this.flags(false)]), counter]);
    const clientDataJSON = Buffer.from(JSON.stringify({ type: 'webauthn.get', challenge: options.challenge, origin: opts.origin ?? this.origin, crossOrigin: false }));
    const signature = sign('sha256', Buffer.concat([authData, sha256(clientDataJSON)]), cred.key);
    return {
      id: b64(cred.id), rawId: b64(cred.id), type: 'public-key' as const,
      response: { clientDataJSON: b64(clientDataJSON), authenticatorData: b64(authData), signature: b64(signature), userHandle: cred.userHandle },
      clientExtensionResults: {}, authenticatorAttachment: 'platform' as const,
    };
  }
}
