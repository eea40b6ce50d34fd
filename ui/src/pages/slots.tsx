// The pages of Berth's parts being built now: each appears in the navigation once its API
// is on the server (the `requires` check finds no endpoint until then). When a part lands,
// its page replaces its slot here with a file of its own (page.ts).
//   Config center  GET /v1/config      items, editor, diff, history, gray publish
//   Logs           GET /v1/logs/query  LogQL box, volume histogram, patterns, live tail
//   Security       GET /v1/security/findings  findings, policies, admission, runtime events
import { definePage } from '../page';

function NotYet({ part }: { part: string }) {
  return (
    <>
      <h1>{part}</h1>
      <p>This server has the {part.toLowerCase()} API, and its console page is on its way.</p>
    </>
  );
}

definePage({
  path: '/config',
  title: 'Config',
  nav: { label: 'Config', order: 50 },
  requires: { method: 'GET', path: '/v1/config' },
  render: () => <NotYet part="Config center" />,
});

definePage({
  path: '/logs',
  title: 'Logs',
  nav: { label: 'Logs', order: 60 },
  requires: { method: 'GET', path: '/v1/logs/query' },
  render: () => <NotYet part="Log center" />,
});

definePage({
  path: '/security',
  title: 'Security',
  nav: { label: 'Security', order: 70 },
  requires: { method: 'GET', path: '/v1/security/findings' },
  render: () => <NotYet part="Security" />,
});
