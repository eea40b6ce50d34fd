// Apps: the list, paged and filtered on the server (GET /v1/apps?limit&continue&q&health),
// live: a change to any app on the page reads the page again.
import { useAllowed } from '../access';
import { get } from '../api';
import { Filters, Pager, QuerySelect, usePaging } from '../components/paging';
import { Badge, Bar, ErrorBox, Link, Loading, Table } from '../components/ui';
import { useLive } from '../live';
import { definePage, type PageProps } from '../page';
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
  const paging = usePaging(query);
  const params = new URLSearchParams({ limit: String(PAGE) });
  if (q) params.set('q', q);
  if (health) params.set('health', health);
  if (paging.after) params.set('continue', paging.after);
  const list = useLive(() => get<AppList>(`/v1/apps?${params}`), [q, health, paging.after], (c) => c.topic === 'apps', 500);
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
      <Filters q={q} placeholder="namespace/name contains…" paging={paging}>
        <QuerySelect
          label="Health"
          name="health"
          value={health}
          paging={paging}
          options={[
            ['', 'any'],
            ['healthy', 'healthy'],
            ['progressing', 'progressing'],
            ['degraded', 'degraded'],
            ['unhealthy', 'not healthy'],
          ]}
        />
      </Filters>
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
          <Pager paging={paging} next={list.data?.continue} />
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
