// One page pattern: a page is one file that calls definePage with its route, its title, its
// place in the navigation and the API endpoint it needs. The shell (app.tsx) routes to it,
// lists it in the navigation only when the server has that endpoint and the caller may call
// it (a part of Berth not on this server yet, or an admin-only page, stays out of sight),
// and renders it. Data comes from useLive (live.ts): read once, read again when the change
// feed names what the page shows.
import type { ComponentChildren } from 'preact';

export interface Check {
  method: string;
  path: string;
  // Where the request would act when the path does not say (POST /v1/apps, a container):
  // the server then checks the caller's role in that namespace too.
  namespace?: string;
}

export interface PageProps {
  params: Record<string, string>;
  query: URLSearchParams;
}

export interface PageDef {
  path: string; // '/apps/:ns/:app'
  title: string | ((params: Record<string, string>) => string);
  nav?: { label: string; order: number };
  requires?: Check; // shown only when this request is allowed (and exists)
  render: (props: PageProps) => ComponentChildren;
}

export const pages: PageDef[] = [];

export function definePage(def: PageDef): PageDef {
  pages.push(def);
  return def;
}
