import type { PageDef } from '../page.js';
import { comparePage, incidentsPage } from './compare.js';
import { flakesPage } from './flakes.js';
import { nightlyPage, nightPage } from './nightly.js';
import { alertsPage, statusPage, workersPage } from './ops.js';
import { quarantinePage } from './quarantine.js';
import { runPage } from './run.js';
import { seriesPage } from './series.js';
import { seriesListPage } from './series-list.js';

/** Every page of the dashboard; the server, the JSON API and the OpenAPI document are made from this list. */
export const PAGES: PageDef[] = [
  seriesListPage,
  seriesPage,
  runPage,
  nightlyPage,
  nightPage,
  flakesPage,
  comparePage,
  incidentsPage,
  alertsPage,
  quarantinePage,
  statusPage,
  workersPage,
] as unknown as PageDef[];
