/**
 * Secrets of API keys issued in this page's lifetime, in memory only (gone on reload, never
 * stored), so the access tester can offer a key just made without asking the user to paste it.
 */
const secrets = new Map<string, { name: string; secret: string }>();

export const rememberIssuedKey = (id: string, name: string, secret: string) => void secrets.set(id, { name, secret });
export const issuedKeys = () => [...secrets].map(([id, v]) => ({ id, ...v }));
export const forgetIssuedKey = (id: string) => void secrets.delete(id);
