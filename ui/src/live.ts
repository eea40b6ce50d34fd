// useLive: a page's data, read from the API once and again whenever the change feed names
// what the page shows (no polling, no reloads). Reads are coalesced: while one is running,
// changes only mark the data stale, and one more read follows it; at most one read per
// `minIntervalMs`.
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from './api';
import { subscribe, type Change } from './changes';

export interface Live<T> {
  data: T | undefined;
  error: ApiError | undefined;
  loading: boolean;
  reload: () => void;
}

export function useLive<T>(
  load: () => Promise<T>,
  deps: unknown[],
  matches: ((c: Change) => boolean) | null,
  minIntervalMs = 300,
): Live<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<ApiError | undefined>(undefined);
  const [loading, setLoading] = useState(true);
  const state = useRef({ running: false, stale: false, last: 0, timer: 0, generation: 0 });
  const loadRef = useRef(load);
  loadRef.current = load;

  const read = useCallback(() => {
    const s = state.current;
    if (s.running) {
      s.stale = true;
      return;
    }
    const wait = s.last + minIntervalMs - Date.now();
    if (wait > 0) {
      if (!s.timer) s.timer = window.setTimeout(() => ((s.timer = 0), read()), wait);
      return;
    }
    s.running = true;
    s.stale = false;
    s.last = Date.now();
    const generation = s.generation;
    loadRef
      .current()
      .then(
        (d) => {
          if (generation !== s.generation) return;
          setData(d);
          setError(undefined);
        },
        (e) => {
          if (generation !== s.generation) return;
          setError(e instanceof ApiError ? e : new ApiError(0, 'client', String(e)));
        },
      )
      .finally(() => {
        if (generation !== s.generation) return;
        s.running = false;
        setLoading(false);
        if (s.stale) read();
      });
  }, [minIntervalMs]);

  useEffect(() => {
    const s = state.current;
    s.generation++;
    s.running = false;
    s.stale = false;
    s.last = 0;
    setLoading(true);
    setData(undefined);
    read();
    const off = matches ? subscribe((c) => (c.topic === 'resync' || matches(c)) && read()) : () => {};
    return () => {
      off();
      if (s.timer) clearTimeout(s.timer);
      s.timer = 0;
      s.generation++;
    };
  }, deps);

  return { data, error, loading, reload: read };
}
