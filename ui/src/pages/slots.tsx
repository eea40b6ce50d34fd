// The pages of Berth's parts being built now: each appears in the navigation once its API
// is on the server (the `requires` check finds no endpoint until then). When a part lands,
// its page replaces its slot here with a file of its own (page.ts).
//   Config center  GET /v1/config      items, editor, diff, history, gray publish
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
