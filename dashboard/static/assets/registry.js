// Models & rollouts and federated rounds. These read hub APIs that arrive with the model
// registry; each page checks the hub's OpenAPI document and says so when the API is missing.
import { api, apiPaths } from './api.js';
import { card, emptyState, errorState, h } from './ui.js';

function cell(v) {
  if (v === null || v === undefined) return h('span', { class: 'muted', text: '—' });
  if (typeof v === 'object') return h('code', { class: 'clip', text: JSON.stringify(v) });
  const text = String(v);
  return /^[0-9a-f]{40,}$/i.test(text) ? h('code', { title: text, text: `${text.slice(0, 12)}…` }) : text;
}

/** A table of whatever list the API returns: scalar columns first, at most eight. */
function genericTable(items, empty) {
  const list = Array.isArray(items) ? items : (items && items.items) || [];
  if (!list.length) return emptyState(empty, null);
  const keys = [...new Set(list.flatMap((x) => Object.keys(x)))].slice(0, 8);
  return h('div', { class: 'table-wrap' }, h('table', { class: 'plain' },
    h('thead', {}, h('tr', {}, keys.map((k) => h('th', { scope: 'col', text: k.replaceAll('_', ' ') })))),
    h('tbody', {}, list.map((x) => h('tr', {}, keys.map((k) => h('td', {}, cell(x[k]))))))));
}

function unavailable(what, needs) {
  return emptyState(`${what} not available on this hub yet`,
    `This hub does not publish ${needs}. The page fills in by itself once the hub is upgraded; nothing to configure here.`);
}

function registryPage({ title, intro, missing, sections }) {
  const el = h('div', { class: 'page' }, h('header', { class: 'page-head' },
    h('div', {}, h('h1', { text: title }), h('p', { class: 'muted', text: intro }))));
  const body = h('div', { class: 'stack' }, h('p', { class: 'muted', text: 'Loading…' }));
  el.append(body);
  async function render() {
    const paths = await apiPaths();
    const available = sections.filter((sct) => `/api/v1${sct.path}` in paths);
    if (!available.length) {
      body.replaceChildren(card(title, unavailable(missing, sections.map((sct) => `GET /api/v1${sct.path}`).join(' or '))));
      return;
    }
    body.replaceChildren(...available.map((sct) => {
      const holder = h('div', {}, h('p', { class: 'muted', text: 'Loading…' }));
      api(sct.path).then((data) => holder.replaceChildren(genericTable(data, sct.empty)),
        (err) => holder.replaceChildren(errorState(err, render)));
      return card(sct.title, holder);
    }));
  }
  render();
  return { el, onLive() {}, onResync: render, destroy() {}, title };
}

export const modelsView = () => registryPage({
  title: 'Models',
  missing: 'The model registry is',
  intro: 'Signed model versions, where each runs, and rollouts with their canary progress.',
  sections: [
    { path: '/models', title: 'Model versions', empty: 'No models registered yet' },
    { path: '/deployments', title: 'Rollouts', empty: 'No rollouts yet' },
  ],
});

export const federatedView = () => registryPage({
  title: 'Federated learning',
  missing: 'Federated learning is',
  intro: 'Training rounds: participants, accepted and rejected updates, accuracy and loss, privacy settings.',
  sections: [
    { path: '/fl/rounds', title: 'Rounds', empty: 'No federated rounds yet' },
  ],
});
