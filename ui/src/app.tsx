// The shell: sign-in gate, navigation, and the routed page (page.ts).
import { useEffect, useState } from 'preact/hooks';
import { allowed, clearAccess } from './access';
import { ApiError, get, post } from './api';
import { feedState, startFeed, stopFeed } from './changes';
import { Toasts } from './components/toast';
import { ErrorBox, Link, Loading } from './components/ui';
import { pages, type PageDef } from './page';
import { match, navigate, useRoute } from './router';
import { session, signedOutReason, who, type WhoAmI } from './session';
import { useSignal } from './signal';
import { Login } from './pages/login';

// "admin", "operator of shop, viewer of billing", "viewer; operator of shop".
function describeRoles(me: WhoAmI): string {
  const bound = (me.bindings ?? []).map((b) => `${b.role} of ${b.namespace}`).join(', ');
  if (me.role === 'none') return bound || 'no role';
  return bound ? `${me.role}; ${bound}` : me.role;
}

function useVisiblePages(me: WhoAmI | null): PageDef[] {
  const [visible, setVisible] = useState<PageDef[]>([]);
  useEffect(() => {
    if (!me) return;
    let live = true;
    Promise.all(pages.map((p) => (p.requires ? allowed(p.requires) : Promise.resolve(true)))).then((ok) => {
      if (live) setVisible(pages.filter((_, i) => ok[i]));
    });
    return () => {
      live = false;
    };
  }, [me]);
  return visible;
}

function Nav({ visible, path }: { visible: PageDef[]; path: string }) {
  const items = visible.filter((p) => p.nav).sort((a, b) => a.nav!.order - b.nav!.order);
  return (
    <nav class="nav" aria-label="Main">
      <ul>
        {items.map((p) => {
          const active = p.path === '/' ? path === '/' : path === p.path || path.startsWith(p.path + '/');
          return (
            <li key={p.path}>
              <Link to={p.path} class={active ? 'active' : ''}>
                {p.nav!.label}
              </Link>
            </li>
          );
        })}
      </ul>
    </nav>
  );
}

function Header({ me }: { me: WhoAmI }) {
  const state = useSignal(feedState);
  const signOut = async () => {
    try {
      await post('/v1/auth/logout');
    } catch {
      // a pasted token is not a session: forgetting it here is all there is to do
    }
    stopFeed();
    clearAccess();
    session.clear();
    navigate('/', true);
  };
  return (
    <header class="top">
      <Link to="/" class="brand">
        Berth
      </Link>
      <span class={`feed feed-${state}`} title="Live updates from the server">
        {state === 'live' ? 'live' : state === 'connecting' ? 'connecting…' : 'reconnecting…'}
      </span>
      <span class="spacer" />
      <span class="who" data-role={me.role}>
        {me.name} <span class="muted">({describeRoles(me)})</span>
      </span>
      <button type="button" class="btn btn-small" onClick={signOut}>
        Sign out
      </button>
    </header>
  );
}

export function App() {
  const me = useSignal(who);
  const route = useRoute();
  const [checking, setChecking] = useState(!!session.token());
  const [error, setError] = useState<ApiError | undefined>();
  const reason = useSignal(signedOutReason);

  useEffect(() => {
    if (me || !session.token()) {
      setChecking(false);
      return;
    }
    setChecking(true);
    get<WhoAmI>('/v1/auth/whoami')
      .then((w) => {
        who.set(w);
        setError(undefined);
      })
      .catch((e) => setError(e))
      .finally(() => setChecking(false));
  }, [me, reason]);

  useEffect(() => {
    if (!me) return;
    startFeed();
    return () => stopFeed();
  }, [me]);

  const visible = useVisiblePages(me);

  if (route.path === '/login' || !session.token() || (!me && !checking && error?.status === 401)) {
    return (
      <>
        <Login />
        <Toasts />
      </>
    );
  }
  if (!me) {
    return <main class="center">{checking ? <Loading /> : <ErrorBox error={error} />}</main>;
  }

  let page: PageDef | undefined;
  let params: Record<string, string> = {};
  for (const p of pages) {
    const m = match(p.path, route.path);
    if (m) {
      page = p;
      params = m;
      break;
    }
  }
  const shown = page && visible.includes(page);
  const title = page ? (typeof page.title === 'function' ? page.title(params) : page.title) : 'Not found';
  document.title = `${title} · Berth`;
  return (
    <div class="shell">
      <a href="#main" class="skip">
        Skip to content
      </a>
      <Header me={me} />
      <div class="body">
        <Nav visible={visible} path={route.path} />
        <main id="main" class="main">
          {!page && (
            <>
              <h1>Not found</h1>
              <p>
                No page at {route.path}. <Link to="/">Overview</Link>
              </p>
            </>
          )}
          {page && !shown && visible.length > 0 && (
            <>
              <h1>{title}</h1>
              <p>This page is not available to {me.name} on this server.</p>
            </>
          )}
          {page && shown && page.render({ params, query: route.query })}
        </main>
      </div>
      <Toasts />
    </div>
  );
}
