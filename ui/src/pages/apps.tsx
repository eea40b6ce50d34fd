// Apps: the list, paged and filtered on the server (GET /v1/apps?limit&continue&q&health),
// live: a change to any app on the page reads the page again.
import { useState } from 'preact/hooks';
import { useAllowed } from '../access';
import { get } from '../api';
import { Badge, Bar, ErrorBox, Link, Loading, Table } from '../components/ui';
import { useLive } from '../live';
import { definePage, type PageProps } from '../page';
import { setQuery } from '../router';
import type { AppList, AppView } from './types';

const PAGE = 50;

function AppBar({ a }: { a: AppView }) {
  const desired = a.services.reduce((n, s) => n + s.desired, 0);
  const ready = a.services.reduce((n, s) => n + s.ready, 0);
  return <Bar total={desired} label={`${ready} of ${desired} ready`} segments={[{ value: ready, class: 'seg-ready', label: 'ready' }]} />;
}

function AppsPage({ query }: PageProps) {
  const q = query.get('q') ?? '';
  const health = query.get('health') ?? '';
  const after = query.get('after') ?? '';
  const [pages, setPages] = useState<string[]>([]); // continue tokens of the pages before
  const [text, setText] = useState(q);
  const params = new URLSearchParams({ limit: String(PAGE) });
  if (q) params.set('q', q);
  if (health) params.set('health', health);
  if (after) params.set('continue', after);
  const list = useLive(() => get<AppList>(`/v1/apps?${params}`), [q, health, after], (c) => c.topic === 'apps', 500);
  const apps = list.data?.apps ?? [];
  const canApply = useAllowed({ method: 'POST', path: '/v1/apps' });
  return (
    <>
      <header class="page-head">
        <h1>Apps</h1>
        {canApply && (
          <Link to="/apply" class="btn btn-primary">
            Apply a spec
          </Link>
        )}
      </header>
      <form
        class="filters"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          setPages([]);
          setQuery('after', null);
          setQuery('q', text.trim());
        }}
      >
        <label class="field inline">
          <span>Filter</span>
          <input type="search" name="q" placeholder="namespace/name contains…" value={text} onInput={(e) => setText((e.target as HTMLInputElement).value)} />
        </label>
        <label class="field inline">
          <span>Health</span>
          <select
            value={health}
            onChange={(e) => {
              setPages([]);
              setQuery('after', null);
              setQuery('health', (e.target as HTMLSelectElement).value);
            }}
          >
            <option value="">any</option>
            <option value="healthy">healthy</option>
            <option value="progressing">progressing</option>
            <option value="degraded">degraded</option>
            <option value="unhealthy">not healthy</option>
          </select>
        </label>
        <button class="btn" type="submit">
          Filter
        </button>
      </form>
      <ErrorBox error={list.error} />
      {list.loading && !list.data ? (
        <Loading />
      ) : (
        <>
          <p class="muted" data-testid="apps-total">
            {list.data?.total ?? 0} apps{q ? ` matching “${q}”` : ''}
          </p>
          <Table
            caption="Apps"
            rows={apps}
            rowKey={(a) => `${a.namespace}/${a.name}`}
            empty={q || health ? 'No app matches.' : 'No apps yet: apply a spec.'}
            columns={[
              {
                label: 'App',
                cell: (a) => (
                  <Link to={`/apps/${a.namespace}/${a.name}`} class="app-link">
                    {`${a.namespace}/${a.name}`}
                  </Link>
                ),
              },
              { label: 'Health', cell: (a) => <Badge state={a.health ?? 'pending'} /> },
              { label: 'Ready', cell: (a) => <AppBar a={a} />, class: 'w-bar' },
              { label: 'Services', cell: (a) => a.services.map((s) => `${s.name} ${s.ready}/${s.desired}`).join(', ') },
            ]}
          />
          <nav class="pager" aria-label="Pages">
            <button
              class="btn"
              type="button"
              disabled={pages.length === 0}
              onClick={() => {
                const prev = pages.slice(0, -1);
                setPages(prev);
                setQuery('after', pages[pages.length - 1] || null);
              }}
            >
              Previous
            </button>
            <button
              class="btn"
              type="button"
              disabled={!list.data?.continue}
              onClick={() => {
                setPages([...pages, after]);
                setQuery('after', list.data!.continue!);
              }}
            >
              Next
            </button>
          </nav>
        </>
      )}
    </>
  );
}

definePage({
  path: '/apps',
  title: 'Apps',
  nav: { label: 'Apps', order: 10 },
  requires: { method: 'GET', path: '/v1/apps' },
  render: (p) => <AppsPage {...p} />,
});
