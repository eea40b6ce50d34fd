// What the caller may do, asked of the server (POST /v1/auth/access) with the very requests
// the console's buttons would make, so a button shows exactly when the API would accept its
// request: global roles and per-namespace bindings alike (a check may name the namespace a
// request would act in when its path does not). Checks asked for in the same tick go in one request; answers are
// kept for the session (cleared on sign-out).
import { useEffect, useState } from 'preact/hooks';
import { post } from './api';
import type { Check } from './page';

const answers = new Map<string, boolean>();
const waiting = new Map<string, Array<(allowed: boolean) => void>>();
let batch: Check[] = [];
let scheduled = false;

const keyOf = (c: Check) => `${c.method} ${c.path} ${c.namespace ?? ''}`;

export function clearAccess(): void {
  answers.clear();
}

// <html data-access="busy|idle">: whether answers are still awaited (the browser tests wait
// for idle before they count buttons).
let inflight = 0;
function mark(delta: number): void {
  inflight += delta;
  document.documentElement.dataset.access = inflight > 0 ? 'busy' : 'idle';
}

async function flush(): Promise<void> {
  scheduled = false;
  const checks = batch;
  batch = [];
  mark(1);
  for (let i = 0; i < checks.length; i += 500) {
    const part = checks.slice(i, i + 500);
    let results: { allowed: boolean }[] = [];
    try {
      results = (await post<{ results: { allowed: boolean }[] }>('/v1/auth/access', { checks: part })).results;
    } catch {
      results = part.map(() => ({ allowed: false }));
    }
    part.forEach((c, j) => {
      const key = keyOf(c);
      const allowed = !!results[j]?.allowed;
      answers.set(key, allowed);
      for (const fn of waiting.get(key) ?? []) fn(allowed);
      waiting.delete(key);
    });
  }
  mark(-1);
}

export function allowed(check: Check): Promise<boolean> {
  const key = keyOf(check);
  const known = answers.get(key);
  if (known !== undefined) return Promise.resolve(known);
  return new Promise((resolve) => {
    const list = waiting.get(key);
    if (list) {
      list.push(resolve);
      return;
    }
    waiting.set(key, [resolve]);
    batch.push(check);
    if (!scheduled) {
      scheduled = true;
      queueMicrotask(flush);
    }
  });
}

// true / false once the server has answered; undefined until then (render nothing).
export function useAllowed(check: Check | null): boolean | undefined {
  const key = check ? keyOf(check) : '';
  const [state, setState] = useState<boolean | undefined>(check ? answers.get(key) : false);
  useEffect(() => {
    if (!check) {
      setState(false);
      return;
    }
    let live = true;
    setState(answers.get(key));
    allowed(check).then((a) => live && setState(a));
    return () => {
      live = false;
    };
  }, [key]);
  return state;
}
