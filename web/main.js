// main.js - kcovd's browser UI starts here (index.html loads it): the
// route table of the views, the Token button, then the router. The pieces
// are lib/ (API client, formatting, widgets, router, Chart.js; no view)
// and views/ (report, file, subsystems, changes, history and heatmap, fleet
// pages, overflow), which import lib/.
import { TOKEN_KEY } from './lib/api.js';
import { $ } from './lib/dom.js';
import { render, start } from './lib/router.js';
import { viewChanges } from './views/changes.js';
import { viewBuilds, viewMachine, viewMachines } from './views/fleet.js';
import { viewOverflow } from './views/overflow.js';
import { viewFile } from './views/file.js';
import { viewHeatmap } from './views/history.js';
import { viewReport } from './views/report.js';
import { viewSubsystems } from './views/subsystems.js';

$('#token-button').addEventListener('click', () => {
  const cur = localStorage.getItem(TOKEN_KEY) || '';
  const t = prompt('Bearer token for the API (empty: none). Stored in this browser only.', cur);
  if (t === null) return;
  if (t.trim()) localStorage.setItem(TOKEN_KEY, t.trim());
  else localStorage.removeItem(TOKEN_KEY);
  render();
});

start({
  '/report': viewReport,
  '/subsystems': viewSubsystems,
  '/changes': viewChanges,
  '/heatmap': viewHeatmap,
  '/file': viewFile,
  '/builds': viewBuilds,
  '/machines': viewMachines,
  '/machine': viewMachine,
  '/overflow': viewOverflow,
});
