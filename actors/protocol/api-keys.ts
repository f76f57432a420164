// The API keys an HTTP endpoint takes (vLLM's --api-key): `Authorization: Bearer KEY`, or the dashboard's cookie.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/** The cookie a browser holds the key in once it signed in to the dashboard (a page cannot send a Bearer header). */
export const KEY_COOKIE = 'eaas_key';

/** Keys are compared as digests: equal lengths for timingSafeEqual, and no time that depends on where they differ. */
const digest = (key: string) => createHash('sha256').update(key).digest();

export class ApiKeys {
  private readonly digests: Buffer[];

  constructor(keys: readonly string[] = []) {
    this.digests = keys.map(digest);
  }

  get required(): boolean {
    return this.digests.length > 0;
  }

  /** `key` is one of ours (always, when no key is set). */
  accepts(key: string | undefined): boolean {
    if (!this.required) return true;
    if (key === undefined) return false;
    const d = digest(key);
    // every key is compared, so the time taken does not say which one matched
    return this.digests.reduce((ok, k) => timingSafeEqual(d, k) || ok, false);
  }

  /** The request carries one of our keys as a Bearer token (or, with `cookie`, in the dashboard's cookie). */
  authorizes(req: IncomingMessage, cookie = false): boolean {
    if (!this.required) return true;
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '')?.[1];
    if (bearer !== undefined) return this.accepts(bearer);
    return cookie && this.accepts(cookieValue(req, KEY_COOKIE));
  }
}

function cookieValue(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return decodeURIComponent(v.join('='));
  }
  return undefined;
}
