// Fleet overview: counts by state, then the device table (server-side filters and keyset paging).
import { api, qs } from './api.js';
import { drawSpark, sparkline } from './charts.js';
import { API_PREFIX } from './contract.js';
import { STATES, emptyState, errorState, h, pct, statePill, timeEl } from './ui.js';

const PAGE_SIZES = [25, 50, 100];
const HISTORY = 30; // heartbeats per sparkline
// Filters survive a visit to a device page and back.
const filters = { q: '', state: '', tag: '', site: '', capability: '', limit: 25 };

function field(label, input) {
  return h('div', { class: 'field' }, h('label', { for: input.id, text: label }), input);
}

function select(id, options, value) {
  const el = h('select', { id, name: id },
    options.map(([v, text]) => h('option', { value: v, selected: v === value ? true : null }, text)));
  return el;
}

export function fleetView(ctx) {
  const cursors = [null];
  let page = 0;
  let seq = 0;
  let summaryTimer = null;
  const rows = new Map();

  const counts = h('div', { class: 'summary', role: 'group', 'aria-label': 'Devices by state' });
  const search = h('input', { id: 'f-q', type: 'search', placeholder: 'Device id or name',
    value: filters.q, autocomplete: 'off' });
  const state = select('f-state', [['', 'Any state'], ...STATES.map((st) => [st, st[0].toUpperCase() + st.slice(1)])], filters.state);
  const tag = h('input', { id: 'f-tag', placeholder: 'e.g. kitchen', value: filters.tag });
  const site = h('input', { id: 'f-site', placeholder: 'e.g. plant-1', value: filters.site });
  const model = h('input', { id: 'f-model', placeholder: 'e.g. face-detect-lite',
    value: filters.capability });
  const size = select('f-limit', PAGE_SIZES.map((n) => [String(n), `${n} per page`]), String(filters.limit));
  const clear = h('button', { class: 'btn btn-ghost', type: 'reset' }, 'Clear filters');
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter devices' },
    field('Search', search), field('State', state), field('Tag', tag), field('Site', site),
    field('Model', model), field('Page size', size), h('div', { class: 'field field-end' }, clear));

  const tbody = h('tbody');
  const table = h('table', { class: 'devices', id: 'device-table' },
    h('caption', { class: 'sr-only', text: 'Devices, sorted by device id' }),
    h('thead', {}, h('tr', {},
      h('th', { scope: 'col', 'aria-sort': 'ascending' }, 'Device ', h('span', { class: 'sort', 'aria-hidden': 'true', text: '▲' })),
      ['State', 'Site', 'CPU', 'Memory', 'Offload', 'Last seen', 'Agent', 'Models']
        .map((c) => h('th', { scope: 'col', text: c })))),
    tbody);
  const body = h('div', { class: 'table-wrap' }, table);
  const range = h('span', { class: 'range', 'aria-live': 'polite' });
  const prev = h('button', { class: 'btn', type: 'button', 'aria-label': 'Previous page' }, '← Prev');
  const next = h('button', { class: 'btn', type: 'button', 'aria-label': 'Next page' }, 'Next →');
  const pager = h('nav', { class: 'pager', 'aria-label': 'Pages' }, range, h('div', { class: 'pager-buttons' }, prev, next));

  const el = h('div', { class: 'page' },
    h('header', { class: 'page-head' }, h('div', {}, h('h1', { text: 'Fleet' }),
      h('p', { class: 'muted', text: 'Every registered device, its health and what it runs. Updates live.' }))),
    counts, h('section', { class: 'card card-flush', 'aria-label': 'Devices' }, form, body, pager));

  function read() {
    Object.assign(filters, { q: search.value.trim(), state: state.value, tag: tag.value.trim(),
      site: site.value.trim(), capability: model.value.trim(), limit: Number(size.value) });
  }

  function restart() { read(); cursors.length = 1; page = 0; load(); }

  let debounce = null;
  form.addEventListener('input', (e) => {
    clearTimeout(debounce);
    debounce = setTimeout(restart, e.target === search || e.target.tagName === 'INPUT' ? 250 : 0);
  });
  form.addEventListener('submit', (e) => { e.preventDefault(); restart(); });
  form.addEventListener('reset', () => setTimeout(restart, 0));
  prev.addEventListener('click', () => { if (page > 0) { page -= 1; load(); } });
  next.addEventListener('click', () => { if (cursors[page + 1]) { page += 1; load(); } });

  async function loadSummary() {
    try {
      const sum = await api('/fleet/summary');
      const card = (key, label, n) => h('button', {
        class: `stat stat-${key}`, type: 'button', 'data-stat': key,
        'aria-pressed': String(filters.state === key || (key === 'total' && !filters.state)),
        onclick: () => { state.value = key === 'total' ? '' : key; restart(); },
      }, h('span', { class: 'stat-label', text: label }), h('span', { class: 'stat-value', text: n.toLocaleString() }));
      counts.replaceChildren(card('total', 'All devices', sum.total),
        ...STATES.map((st) => card(st, st[0].toUpperCase() + st.slice(1), sum.by_state[st] || 0)));
    } catch (err) {
      counts.replaceChildren(errorState(err, loadSummary));
    }
  }

  function row(d) {
    const lh = d.health.last_health || {};
    const cpu = sparkline([], { label: `CPU of ${d.id}` });
    const mem = sparkline([], { label: `memory of ${d.id}` });
    const bar = h('span', { class: 'bar-fill' });
    bar.style.width = `${Math.round((lh.offload_ratio || 0) * 100)}%`;
    const cells = {
      state: h('td', {}, statePill(d.health.state)),
      cpuVal: h('span', { class: 'num', text: pct(lh.cpu) }),
      memVal: h('span', { class: 'num', text: pct(lh.mem) }),
      offload: h('span', { class: 'num', text: pct(lh.offload_ratio) }),
      bar,
      seen: h('td', { class: 'nowrap' }, timeEl(d.health.last_seen)),
    };
    const tr = h('tr', { 'data-device': d.id, 'data-state': d.health.state },
      h('th', { scope: 'row' }, h('a', { href: `#/devices/${encodeURIComponent(d.id)}`, class: 'device-link' },
        h('span', { class: 'mono', text: d.id })), d.name ? h('span', { class: 'sub', text: d.name }) : null),
      cells.state,
      h('td', {}, d.site || h('span', { class: 'muted', text: '—' })),
      h('td', { class: 'metric' }, cpu, cells.cpuVal),
      h('td', { class: 'metric' }, mem, cells.memVal),
      h('td', { class: 'metric' }, h('span', { class: 'bar', 'aria-hidden': 'true' }, bar), cells.offload),
      cells.seen,
      h('td', { class: 'mono' }, d.agent_version || '—'),
      h('td', {}, d.capabilities.length ? d.capabilities.map((m) => h('span', { class: 'chip', text: m }))
        : h('span', { class: 'muted', text: '—' })));
    rows.set(d.id, { tr, cells, cpu, mem, cpuHist: [], memHist: [], lastTs: lh.ts || null });
    return tr;
  }

  async function histories(my, ids) {
    const queue = [...ids];
    const worker = async () => {
      while (queue.length && my === seq) {
        const id = queue.shift();
        try {
          const hist = await api(`/devices/${encodeURIComponent(id)}/health/history${qs({ limit: HISTORY })}`);
          const r = rows.get(id);
          if (!r || my !== seq) return;
          hist.reverse();
          r.cpuHist = hist.map((x) => x.cpu).concat(r.cpuHist);
          r.memHist = hist.map((x) => x.mem).concat(r.memHist);
          drawSpark(r.cpu, r.cpuHist);
          drawSpark(r.mem, r.memHist);
        } catch { /* a sparkline is decoration; the row is there */ }
      }
    };
    await Promise.all([worker(), worker(), worker()]);
  }

  async function load() {
    const my = ++seq;
    el.setAttribute('aria-busy', 'true');
    // Until this page is in there is no cursor for the next one: a second quick "Next" was
    // silently dropped. Disabled buttons say so (and a test's click waits for them).
    prev.disabled = next.disabled = true;
    loadSummary();
    try {
      const res = await api(`/devices${qs({ q: filters.q, state: filters.state, tag: filters.tag,
        site: filters.site, capability: filters.capability, limit: filters.limit, cursor: cursors[page] })}`);
      if (my !== seq) return;
      rows.clear();
      cursors[page + 1] = res.next_cursor;
      cursors.length = page + 2;
      if (res.items.length === 0) {
        const filtered = filters.q || filters.state || filters.tag || filters.site || filters.capability;
        tbody.replaceChildren(h('tr', {}, h('td', { colspan: 9 }, filtered
          ? emptyState('No devices match these filters', 'Try a broader search or clear the filters.')
          : emptyState('No devices yet', `Enroll a device with \`edgefleet provision --hub URL --token T\` or POST ${API_PREFIX}/enroll; it shows up here as soon as it registers.`))));
      } else {
        tbody.replaceChildren(...res.items.map(row));
      }
      const first = res.items.length ? page * filters.limit + 1 : 0;
      range.textContent = `${first.toLocaleString()}–${(page * filters.limit + res.items.length).toLocaleString()} of ${res.total.toLocaleString()}`;
      prev.disabled = page === 0;
      next.disabled = !res.next_cursor;
      table.dataset.loaded = String(my);
      el.removeAttribute('aria-busy');
      histories(my, res.items.map((d) => d.id));
    } catch (err) {
      if (my !== seq) return;
      tbody.replaceChildren(h('tr', {}, h('td', { colspan: 9 }, errorState(err, load))));
      prev.disabled = page === 0;
      el.removeAttribute('aria-busy');
    }
  }

  function onLive(updates) {
    let changed = false;
    for (const u of updates) {
      const r = rows.get(u.device);
      if (u.type === 'state') {
        changed = true;
        if (!r) continue;
        r.tr.dataset.state = u.to;
        r.cells.state.replaceChildren(statePill(u.to));
        r.tr.classList.remove('flash');
        void r.tr.offsetWidth; // restart the highlight animation
        r.tr.classList.add('flash');
      } else if (u.type === 'health' && r) {
        if (r.lastTs && u.ts <= r.lastTs) continue;
        r.lastTs = u.ts;
        r.cpuHist.push(u.cpu);
        r.memHist.push(u.mem);
        drawSpark(r.cpu, r.cpuHist);
        drawSpark(r.mem, r.memHist);
        r.cells.cpuVal.textContent = pct(u.cpu);
        r.cells.memVal.textContent = pct(u.mem);
        r.cells.offload.textContent = pct(u.offload_ratio);
        r.cells.bar.style.width = `${Math.round(u.offload_ratio * 100)}%`;
        r.cells.seen.replaceChildren(timeEl(u.ts));
      }
    }
    if (changed && !summaryTimer) summaryTimer = setTimeout(() => { summaryTimer = null; loadSummary(); }, 500);
  }

  load();
  return { el, onLive, onResync: load, destroy() { seq += 1; clearTimeout(summaryTimer); }, title: 'Fleet' };
}
