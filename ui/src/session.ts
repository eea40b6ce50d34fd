// The signed-in caller: the bearer token (kept in sessionStorage, so it lasts as long as the
// tab and is never sent anywhere but this server's API), and who the server says it is.
import { signal } from './signal';

const KEY = 'berth.token';

export interface WhoAmI {
  name: string;
  token_id: string;
  role: 'none' | 'viewer' | 'operator' | 'admin'; // global ('none': bindings only)
  bindings: { namespace: string; role: string }[];
  node?: string;
}

export const who = signal<WhoAmI | null>(null);
export const signedOutReason = signal<string>('');

export const session = {
  token(): string {
    return sessionStorage.getItem(KEY) ?? '';
  },
  set(token: string): void {
    sessionStorage.setItem(KEY, token);
  },
  clear(): void {
    sessionStorage.removeItem(KEY);
    who.set(null);
  },
  // The server refused the token (revoked, expired session): back to the sign-in page.
  expired(message: string): void {
    if (!sessionStorage.getItem(KEY)) return;
    sessionStorage.removeItem(KEY);
    signedOutReason.set(message);
    who.set(null);
  },
};
