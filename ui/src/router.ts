// Client-side routes under /ui/ (berthd answers every /ui/ path with the page): the History
// API, no reloads. `navigate` changes the URL; `useRoute` re-renders on changes.
import { signal, useSignal } from './signal';

export const BASE = '/ui';

function current(): string {
  const p = location.pathname.startsWith(BASE) ? location.pathname.slice(BASE.length) : '/';
  return (p || '/') + location.search;
}

const route = signal(current());
window.addEventListener('popstate', () => route.set(current()));

export function navigate(to: string, replace = false): void {
  const url = BASE + (to.startsWith('/') ? to : '/' + to);
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  route.set(current());
  window.scrollTo(0, 0);
}

export function useRoute(): { path: string; query: URLSearchParams } {
  const r = useSignal(route);
  const q = r.indexOf('?');
  return { path: q < 0 ? r : r.slice(0, q), query: new URLSearchParams(q < 0 ? '' : r.slice(q)) };
}

// Matches '/apps/:ns/:app' against a path; the parameters, or null.
export function match(pattern: string, path: string): Record<string, string> | null {
  const want = pattern.split('/').filter(Boolean);
  const got = path.split('/').filter(Boolean);
  if (want.length !== got.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    if (want[i].startsWith(':')) params[want[i].slice(1)] = decodeURIComponent(got[i]);
    else if (want[i] !== got[i]) return null;
  }
  return params;
}

// Sets one query parameter of the current route (filters, page tokens, tabs).
export function setQuery(name: string, value: string | null, replace = true): void {
  const r = route.get();
  const q = r.indexOf('?');
  const params = new URLSearchParams(q < 0 ? '' : r.slice(q));
  if (value === null || value === '') params.delete(name);
  else params.set(name, value);
  const s = params.toString();
  navigate((q < 0 ? r : r.slice(0, q)) + (s ? '?' + s : ''), replace);
}
