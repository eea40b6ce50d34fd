// Lists paged on the server (limit/continue, as Kubernetes): the `after` query parameter holds
// the server's continue token of the page shown; the tokens of the pages before are kept to
// go back. And the filter form such lists share.
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { setQuery } from '../router';

export interface Paging {
  after: string; // the continue token of this page ('' : the first)
  reset: () => void; // back to the first page (a filter changed)
  back: (() => void) | null;
  forward: (next: string) => void;
}

export function usePaging(query: URLSearchParams): Paging {
  const after = query.get('after') ?? '';
  const [stack, setStack] = useState<string[]>([]);
  return {
    after,
    reset: () => {
      setStack([]);
      setQuery('after', null);
    },
    back: stack.length
      ? () => {
          setStack(stack.slice(0, -1));
          setQuery('after', stack[stack.length - 1] || null);
        }
      : null,
    forward: (next: string) => {
      setStack([...stack, after]);
      setQuery('after', next);
    },
  };
}

export function Pager({ paging, next }: { paging: Paging; next?: string }) {
  return (
    <nav class="pager" aria-label="Pages">
      <button class="btn" type="button" disabled={!paging.back} onClick={() => paging.back?.()}>
        Previous
      </button>
      <button class="btn" type="button" disabled={!next} onClick={() => next && paging.forward(next)}>
        Next
      </button>
    </nav>
  );
}

// A search box (the `q` query parameter) and the list's other filters (`children`).
export function Filters({ q, placeholder, paging, children }: { q: string; placeholder: string; paging: Paging; children?: ComponentChildren }) {
  const [text, setText] = useState(q);
  return (
    <form
      class="filters"
      role="search"
      onSubmit={(e) => {
        e.preventDefault();
        paging.reset();
        setQuery('q', text.trim());
      }}
    >
      <label class="field inline">
        <span>Filter</span>
        <input type="search" name="q" placeholder={placeholder} value={text} onInput={(e) => setText((e.target as HTMLInputElement).value)} />
      </label>
      {children}
      <button class="btn" type="submit">
        Filter
      </button>
    </form>
  );
}

// A <select> bound to one query parameter; changing it goes back to the first page.
export function QuerySelect({ label, name, value, options, paging }: { label: string; name: string; value: string; options: [string, string][]; paging: Paging }) {
  return (
    <label class="field inline">
      <span>{label}</span>
      <select
        value={value}
        onChange={(e) => {
          paging.reset();
          setQuery(name, (e.target as HTMLSelectElement).value);
        }}
      >
        {options.map(([v, text]) => (
          <option value={v}>{text}</option>
        ))}
      </select>
    </label>
  );
}
