// Hard samples (#/samples): inputs the devices' cascades asked the hub about, each with the
// device's answer and the hub's, for an operator to accept the hub's answer or correct it.
import { api, apiPaths, qs } from './api.js';
import { API_PREFIX } from './contract.js';
import { card, emptyState, errorState, h, pct, timeEl, toast } from './ui.js';

const enc = encodeURIComponent;
const FILTERS = [['all', 'All', {}], ['disagree', 'Answers differ', { disagree: true }],
  ['unreviewed', 'Not reviewed', { review: 'unreviewed' }]];

/** One line for any output: faces, a wake word, a class. */
export function summary(output) {
  if (!output) return '—';
  if (Array.isArray(output.faces)) {
    const n = output.faces.length;
    const best = n ? Math.max(...output.faces.map((f) => f.score)) : null;
    return n ? `${n} face${n > 1 ? 's' : ''} (best ${pct(best, 0)})` : 'no face';
  }
  if ('detected' in output) return output.detected ? `wake word ${output.wake_word || ''}`.trim() : 'no wake word';
  if ('label' in output) return `class ${output.label_name ?? output.label}`;
  return JSON.stringify(output).slice(0, 60);
}

function media(sample) {
  const src = `${API_PREFIX}/samples/${sample.id}/content`;
  if (sample.model.includes('wakeword')) return h('audio', { controls: true, preload: 'none', src, class: 'sample-audio' });
  if (sample.model.includes('face')) {
    return h('a', { href: src, target: '_blank', rel: 'noopener' },
      h('img', { src, alt: `input of sample ${sample.id}`, class: 'sample-thumb', loading: 'lazy', width: 120, height: 90 }));
  }
  return h('a', { href: src, target: '_blank', rel: 'noopener', class: 'mono' }, 'reading');
}

export function samplesView(ctx) {
  const body = h('div', { class: 'stack' }, h('p', { class: 'muted', text: 'Loading…' }));
  const el = h('div', { class: 'page' }, h('header', { class: 'page-head' }, h('div', {},
    h('h1', { text: 'Hard samples' }),
    h('p', { class: 'muted', text: 'What devices were unsure about: the input, the device\'s answer and the hub\'s. A corrected class is what the device then trains on, for models with a trainable part.' }))),
  body);
  let alive = true;
  let filter = 'all';
  const admin = ctx.session.role === 'admin';

  async function review(sample, verdict) {
    const req = verdict === 'accepted' ? { review: 'accepted' } : { review: 'corrected', label: sample.edge_output };
    try {
      await api(`/samples/${sample.id}/review`, { method: 'PUT', body: req });
      toast(`Sample ${sample.id}: ${verdict === 'accepted' ? 'hub\'s answer accepted' : 'device\'s answer kept'}`, 'ok');
      render();
    } catch (err) { toast(err.message, 'error'); }
  }

  async function render() {
    const paths = await apiPaths();
    if (!(`${API_PREFIX}/samples` in paths)) {
      body.replaceChildren(card('Samples', emptyState('Hard samples are not available on this hub yet', 'Upgrade the hub; nothing to configure here.')));
      return;
    }
    let page;
    try { page = await api(`/samples${qs({ limit: 100, ...FILTERS.find(([k]) => k === filter)[2] })}`); } catch (err) {
      body.replaceChildren(errorState(err, render));
      return;
    }
    if (!alive) return;
    const tabs = h('div', { class: 'tabs', role: 'tablist', 'aria-label': 'Filter' }, FILTERS.map(([key, label]) =>
      h('button', { class: 'tab', type: 'button', role: 'tab', 'aria-selected': String(key === filter),
        onclick: () => { filter = key; render(); } }, label)));
    const rows = page.items.map((s) => h('tr', { 'data-sample': s.id, 'data-review': s.review },
      h('td', {}, media(s)),
      h('td', {}, h('a', { href: `#/devices/${enc(s.device_id)}`, class: 'mono' }, s.device_id),
        h('span', { class: 'sub', text: `${s.model} ${s.model_version}` })),
      h('td', { 'data-col': 'edge' }, summary(s.edge_output)),
      h('td', { 'data-col': 'cloud' }, summary(s.cloud_output), h('span', { class: 'sub', text: `${s.cloud_model} ${s.cloud_version}` })),
      h('td', {}, h('span', { class: `pill pill-${s.agree ? 'online' : 'degraded'}` }, s.agree ? 'agree' : 'differ')),
      h('td', { 'data-col': 'review' }, s.review === 'unreviewed' ? h('span', { class: 'muted', text: 'not reviewed' })
        : h('span', {}, s.review, h('span', { class: 'sub', text: summary(s.label) }))),
      h('td', {}, timeEl(s.ts)),
      admin ? h('td', { class: 'nowrap' },
        h('button', { class: 'btn btn-sm', type: 'button', 'data-action': 'accept', onclick: () => review(s, 'accepted') }, 'Hub is right'),
        ' ',
        h('button', { class: 'btn btn-sm', type: 'button', 'data-action': 'device', onclick: () => review(s, 'corrected') }, 'Device is right'))
        : null));
    const heads = ['Input', 'Device', 'Device said', 'Hub said', '', 'Review', 'When', ...(admin ? [''] : [])];
    body.replaceChildren(tabs, h('section', { class: 'card card-flush', 'aria-labelledby': 'samples-title' },
      h('div', { class: 'card-head card-pad' }, h('h2', { class: 'card-title', id: 'samples-title', text: `${page.total} sample(s)` })),
      page.items.length ? h('div', { class: 'table-wrap' }, h('table', { class: 'plain', id: 'samples' },
        h('thead', {}, h('tr', {}, heads.map((t) => h('th', { scope: 'col', text: t })))), h('tbody', {}, rows)))
        : emptyState('No hard samples yet', 'Devices in cascade mode send what they were unsure about (offload.share_hard_samples).')));
  }

  render();
  return { el, title: 'Samples', onResync: render, onLive() {}, destroy() { alive = false; } };
}
