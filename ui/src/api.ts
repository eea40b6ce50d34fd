// Every call the console makes to berthd's REST API: the session's bearer token on each
// request, errors as ApiError with the server's code and message, and JSON-lines streams
// (watches, log tails) read incrementally.
import { session } from './session';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

function headers(extra?: Record<string, string>): Record<string, string> {
  const h: Record<string, string> = { Accept: 'application/json', ...extra };
  const token = session.token();
  if (token) h.Authorization = `Bearer ${token}`;
  return h;
}

async function failure(res: Response): Promise<ApiError> {
  let code = 'http_' + res.status;
  let message = `${res.status} ${res.statusText}`;
  const text = await res.text().catch(() => '');
  try {
    const body = JSON.parse(text);
    if (body?.error) {
      code = body.error.code ?? code;
      message = body.error.message ?? message;
    }
  } catch {
    // Not JSON: the log center answers Loki's plain-text errors ("parse error at line 1,
    // col 11: ..."); otherwise keep the status line.
    if (text.trim()) message = `${res.status}: ${text.trim().slice(0, 500)}`;
  }
  if (res.status === 401) session.expired(message);
  return new ApiError(res.status, code, message);
}

export async function api<T = any>(method: string, path: string, body?: unknown, contentType?: string): Promise<T> {
  const init: RequestInit = { method, headers: headers() };
  if (body !== undefined) {
    const raw = typeof body === 'string';
    init.body = raw ? (body as string) : JSON.stringify(body);
    (init.headers as Record<string, string>)['Content-Type'] = contentType ?? (raw ? 'text/plain' : 'application/json');
  }
  const res = await fetch(path, init);
  if (!res.ok) throw await failure(res);
  const text = await res.text();
  return (text ? JSON.parse(text) : {}) as T;
}

export const get = <T = any>(path: string) => api<T>('GET', path);
export const post = <T = any>(path: string, body?: unknown) => api<T>('POST', path, body ?? {});

// Reads a JSON-lines response line by line until it ends, `onLine` returns false or `signal`
// aborts. Resolves when the stream ends; rejects with ApiError when the server refuses it.
export async function streamLines(
  path: string,
  onLine: (line: any) => boolean | void,
  signal: AbortSignal,
): Promise<void> {
  const res = await fetch(path, { headers: headers({ Accept: 'application/x-ndjson' }), signal });
  if (!res.ok) throw await failure(res);
  if (!res.body) return;
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buffered = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffered += decoder.decode(value, { stream: true });
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl).trim();
        buffered = buffered.slice(nl + 1);
        if (!line) continue;
        if (onLine(JSON.parse(line)) === false) return;
      }
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}

// Encodes each path segment (names are plain, but never trust them in a URL).
export function path(strings: TemplateStringsArray, ...values: (string | number)[]): string {
  let out = strings[0];
  values.forEach((v, i) => {
    out += encodeURIComponent(String(v)) + strings[i + 1];
  });
  return out;
}
