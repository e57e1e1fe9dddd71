// Models & rollouts (#/models[/<model>]) and federated rounds (#/federated[/<round>]).
// Both read the hub's public API; a hub without these paths in its OpenAPI document gets an
// "not available on this hub yet" state instead of errors.
import { api, apiPaths } from './api.js';
import { roundsChart } from './charts.js';
import { API_PREFIX } from './contract.js';
import {
  card, confirmDialog, emptyState, errorState, h, pct, s, timeEl, toast,
} from './ui.js';

const enc = encodeURIComponent;

function short(hex, n = 12) {
  return hex ? h('code', { title: hex, text: `${hex.slice(0, n)}…` }) : h('span', { class: 'muted', text: '—' });
}

function bytes(n) {
  if (n === null || n === undefined) return '—';
  return n >= 1048576 ? `${(n / 1048576).toFixed(1)} MB` : n >= 1024 ? `${(n / 1024).toFixed(1)} kB` : `${n} B`;
}

function num(x, digits = 3) {
  return x === null || x === undefined ? '—' : (+x).toFixed(digits);
}

/** A status pill for rollouts, rounds and updates: the word is always shown, colour helps. */
export function tagPill(state, tone) {
  return h('span', { class: `pill pill-${tone}`, 'data-state': state },
    h('span', { class: 'dot', 'aria-hidden': 'true' }), state.replaceAll('_', ' '));
}

const DEPLOY_TONE = { active: 'degraded', completed: 'online', rolled_back: 'lost', superseded: 'offline' };
const ROUND_TONE = { open: 'degraded', training: 'degraded', aggregating: 'degraded', published: 'online', failed: 'offline' };

function table(columns, items, empty, rowAttrs) {
  if (!items.length) return emptyState(empty, null);
  return h('div', { class: 'table-wrap' }, h('table', { class: 'plain' },
    h('thead', {}, h('tr', {}, columns.map(([label]) => h('th', { scope: 'col', text: label })))),
    h('tbody', {}, items.map((it) => h('tr', rowAttrs ? rowAttrs(it) : {}, columns.map(([, fn]) => h('td', {}, fn(it))))))));
}

function stat(label, value, tone = 'total', id) {
  return h('div', { class: `stat stat-static stat-${tone}`, 'data-stat': id || null },
    h('span', { class: 'stat-label', text: label }), h('span', { class: 'stat-value', text: String(value) }));
}

function progress(done, total, bad = 0) {
  // SVG, not inline styles: the page's CSP allows no style attributes
  const W = 80;
  const ok = total ? Math.round((done / total) * W) : 0;
  const no = total ? Math.round((bad / total) * W) : 0;
  return h('span', { class: 'progress-cell' },
    s('svg', { class: 'progress', viewBox: `0 0 ${W} 8`, width: W, height: 8, role: 'img',
      'aria-label': `${done} of ${total} running${bad ? `, ${bad} refused` : ''}` },
    s('rect', { class: 'progress-track', x: 0, y: 0, width: W, height: 8, rx: 4 }),
    ok ? s('rect', { class: 'progress-ok', x: 0, y: 0, width: ok, height: 8, rx: 4 }) : null,
    no ? s('rect', { class: 'progress-bad', x: ok, y: 0, width: no, height: 8, rx: 4 }) : null),
    h('span', { class: 'num' }, `${done}/${total}`), bad ? h('span', { class: 'bad-count', text: `${bad} refused` }) : null);
}

function unavailable(what, needs) {
  return emptyState(`${what} not available on this hub yet`,
    `This hub does not publish ${needs}. The page fills in by itself once the hub is upgraded; nothing to configure here.`);
}

function pageShell(title, intro) {
  const body = h('div', { class: 'stack' }, h('p', { class: 'muted', text: 'Loading…' }));
  const el = h('div', { class: 'page' }, h('header', { class: 'page-head' },
    h('div', {}, h('h1', { text: title }), h('p', { class: 'muted', text: intro }))), body);
  return { el, body };
}

// ------------------------------------------------------------------------------- models

export function modelsView(ctx, selected) {
  const { el, body } = pageShell('Models',
    'Signed model versions, where each one runs, and rollouts with their canary progress.');
  let alive = true;
  let model = selected || null;
  let timer = null;
  const admin = ctx.session.role === 'admin';

  function metricsText(m) {
    if (!m || !Object.keys(m).length) return h('span', { class: 'muted', text: '—' });
    const acc = m.validation_accuracy ?? m.train_accuracy;
    return h('span', { title: JSON.stringify(m) }, acc !== undefined ? `acc ${pct(acc, 1)}` : '',
      m.train_loss !== undefined ? ` · loss ${num(m.train_loss)}` : '');
  }

  async function rollOut(version) {
    const target = h('select', { id: 'roll-target' }, h('option', { value: 'all' }, 'Every device running the model'),
      h('option', { value: 'canary' }, 'A canary share first'), h('option', { value: 'tag' }, 'Devices with a tag'));
    const share = h('input', { id: 'roll-canary', type: 'number', min: 1, max: 100, value: 25 });
    const tag = h('input', { id: 'roll-tag', placeholder: 'e.g. kitchen' });
    const extra = h('div', { class: 'dialog-fields' },
      h('label', { for: 'roll-target', text: 'Target' }), target,
      h('label', { for: 'roll-canary', text: 'Canary share (%)' }), share,
      h('label', { for: 'roll-tag', text: 'Tag' }), tag);
    if (!(await confirmDialog({ title: `Roll out ${model} ${version.version}?`, confirmLabel: 'Roll out', extra,
      body: `Signed version ${version.version} (seq ${version.seq}) is sent to the chosen devices; each verifies the signature before it swaps models.` }))) return;
    const req = { version: version.version, target: target.value };
    if (target.value === 'canary') req.canary_percent = Number(share.value);
    if (target.value === 'tag') req.tag = tag.value.trim();
    try {
      const dep = await api(`/models/${enc(model)}/deployments`, { method: 'POST', body: req });
      toast(`Rollout #${dep.id} of ${dep.version} started to ${dep.devices.length} device(s)`, 'ok');
      render();
    } catch (err) { toast(err.message, 'error'); }
  }

  async function rollback(dep) {
    if (!(await confirmDialog({ title: `Roll back rollout #${dep.id}?`, danger: true, confirmLabel: 'Roll back',
      body: `Its ${dep.devices.length} device(s) go back to the version before ${dep.version}, re-signed as a newer version so they accept it.` }))) return;
    try {
      const out = await api(`/deployments/${dep.id}/rollback`, { method: 'POST' });
      toast(`Rollout #${out.id} rolled back${out.rollback_version ? ` to ${out.rollback_version}` : ''}`, 'ok');
      render();
    } catch (err) { toast(err.message, 'error'); }
  }

  async function render() {
    clearTimeout(timer);
    const paths = await apiPaths();
    if (!(`${API_PREFIX}/models` in paths)) {
      body.replaceChildren(card('Models', unavailable('The model registry is', `GET ${API_PREFIX}/models`)));
      return;
    }
    let models, key;
    try {
      [models, key] = await Promise.all([api('/models'), api('/models/signing-key')]);
    } catch (err) { body.replaceChildren(errorState(err, render)); return; }
    if (!alive) return;
    if (!models.length) {
      body.replaceChildren(card('Model versions', emptyState('No models registered yet',
        `Upload a version with POST ${API_PREFIX}/models/{model}/versions, or run a federated round: its result is registered here.`)));
      return;
    }
    if (!model || !models.some((m) => m.model === model)) model = models[0].model;
    const m = models.find((x) => x.model === model);
    const [versions, deployments, devices] = await Promise.all([
      api(`/models/${enc(model)}/versions`), api(`/models/${enc(model)}/deployments`), api(`/models/${enc(model)}/devices`),
    ]).catch((err) => { body.replaceChildren(errorState(err, render)); return [null]; });
    if (!versions || !alive) return;
    const running = devices.filter((d) => d.state === 'running');
    const onLatest = m.latest ? running.filter((d) => d.version === m.latest.version).length : 0;
    const active = deployments.filter((d) => d.state === 'active');

    const picker = h('div', { class: 'tabs', role: 'tablist', 'aria-label': 'Models' }, models.map((x) =>
      h('a', { class: 'tab', role: 'tab', href: `#/models/${enc(x.model)}`, 'aria-selected': String(x.model === model) },
        x.model, h('span', { class: 'tab-count', text: String(x.versions) }))));
    const versionCols = [
      ['Version', (v) => h('span', { class: 'nowrap' }, h('strong', { class: 'mono', text: v.version }),
        m.latest && v.id === m.latest.id ? h('span', { class: 'chip chip-edge', text: 'latest' }) : null)],
      ['Seq', (v) => String(v.seq)],
      ['From', (v) => (v.created_by_round ? h('a', { href: `#/federated/${v.created_by_round}` }, `round ${v.created_by_round}`)
        : v.note ? h('span', { class: v.note.startsWith('rollback') ? 'note note-rollback' : 'note', text: v.note })
          : v.parent ? `upload, from ${v.parent}` : h('span', { class: 'muted', text: 'upload' }))],
      ['SHA-256', (v) => short(v.sha256)],
      ['Signature', (v) => h('span', { class: 'sig', title: v.signature }, h('span', { class: 'sig-ok', 'aria-hidden': 'true', text: '✓' }), ' Ed25519 ', short(v.signature, 8))],
      ['Size', (v) => bytes(v.size)],
      ['Quality', (v) => metricsText(v.metrics)],
      ['Running on', (v) => String(m.devices_running[v.version] || 0)],
      ['Created', (v) => timeEl(v.created_at)],
    ];
    if (admin) {
      versionCols.push(['', (v) => h('button', { class: 'btn btn-sm', type: 'button', 'data-roll': v.version,
        onclick: () => rollOut(v) }, 'Roll out')]);
    }
    const depCols = [
      ['#', (d) => String(d.id)], ['Version', (d) => h('code', { text: d.version })],
      ['Target', (d) => (d.target === 'canary' ? `canary ${d.canary_percent}%` : d.target === 'tag' ? `tag ${d.tag}`
        : d.target === 'device' ? h('a', { href: `#/devices/${enc(d.devices[0])}`, class: 'nowrap' }, d.devices[0]) : 'all')],
      ['Progress', (d) => progress(d.running, d.devices.length, d.refused)],
      ['State', (d) => h('span', {}, tagPill(d.state, DEPLOY_TONE[d.state] || 'offline'),
        d.reason ? h('span', { class: 'sub', text: d.reason }) : null,
        d.rollback_version ? h('span', { class: 'sub', text: `returned to ${d.rollback_version}` }) : null)],
      ['Started', (d) => timeEl(d.created_at)],
    ];
    if (admin) {
      depCols.push(['', (d) => (d.state === 'rolled_back' ? null : h('button', { class: 'btn btn-sm btn-danger-outline',
        type: 'button', onclick: () => rollback(d) }, 'Roll back'))]);
    }
    body.replaceChildren(
      h('div', { class: 'summary', role: 'group', 'aria-label': 'Registry' },
        stat('Models', models.length), stat('Versions', m.versions, 'total', 'versions'),
        stat(`Running ${m.latest ? m.latest.version : 'latest'}`, `${onLatest}/${devices.length}`, 'online', 'on-latest'),
        stat('Active rollouts', active.length, 'degraded', 'active'),
        stat('Refused', devices.filter((d) => d.state === 'refused').length, 'offline', 'refused')),
      picker,
      h('section', { class: 'card card-flush', 'aria-labelledby': 'versions-title' },
        h('div', { class: 'card-head card-pad' }, h('h2', { class: 'card-title', id: 'versions-title', text: `${model} versions` }),
          h('span', { class: 'muted key', title: key.public_key }, 'Signed by the hub key ', short(key.public_key, 10))),
        table(versionCols, versions, 'No versions yet', (v) => ({ 'data-version': v.version }))),
      h('div', { class: 'grid-split' },
        card('Where it runs', table([
          ['Device', (d) => h('a', { href: `#/devices/${enc(d.device_id)}`, class: 'mono' }, d.device_id)],
          ['Version', (d) => h('code', { text: d.version })],
          ['State', (d) => h('span', {}, tagPill(d.state, d.state === 'running' ? 'online' : 'offline'),
            d.reason ? h('span', { class: 'sub', text: `${d.refused_version ? `${d.refused_version}: ` : ''}${d.reason}` }) : null)],
          ['Reported', (d) => timeEl(d.updated_at)],
        ], devices, 'No device has reported this model yet', (d) => ({ 'data-device': d.device_id, 'data-version': d.version }))),
        card('Rollouts', table(depCols, deployments, 'No rollouts yet', (d) => ({ 'data-deployment': d.id, 'data-state': d.state })))),
    );
    if (active.length && alive) timer = setTimeout(render, 3000); // progress while a rollout runs
  }

  render();
  return {
    el, title: 'Models', onResync: render, onLive() {},
    destroy() { alive = false; clearTimeout(timer); },
  };
}

// ---------------------------------------------------------------------------- federated

const REJECT_HELP = {
  oversize: 'body over the size limit', unenrolled: 'unknown device or wrong secret',
  not_participant: 'not invited to this round', round_closed: 'round no longer training',
  duplicate: 'second update', malformed: 'unreadable header', wrong_shape: 'wrong value count',
  wrong_dtype: 'wrong encoding', non_finite: 'NaN or Inf', norm_too_large: 'norm over the limit',
  outlying_norm: 'norm far from the others',
};

export function federatedView(ctx, selected) {
  const { el, body } = pageShell('Federated learning',
    'Training rounds: participants, accepted and rejected updates, accuracy and loss per round, privacy and aggregation.');
  let alive = true;
  let timer = null;
  let current = selected ? Number(selected) : null;
  const admin = ctx.session.role === 'admin';

  /** The round form: what `edgefleet fl start` asks, in a dialog; the hub validates it. */
  async function startRound() {
    const field = (id, label, input) => [h('label', { for: id, text: label }), input];
    const model = h('input', { id: 'round-model', value: 'engine-fault', required: true, autocomplete: 'off' });
    const tag = h('input', { id: 'round-tag', placeholder: 'any' });
    const site = h('input', { id: 'round-site', placeholder: 'any' });
    const health = h('select', { id: 'round-health' },
      h('option', { value: 'live' }, 'Live: online or degraded'),
      h('option', { value: 'healthy' }, 'Healthy: online, inside every band'));
    const minClients = h('input', { id: 'round-min-clients', type: 'number', min: 1, value: 2, required: true });
    const epochs = h('input', { id: 'round-epochs', type: 'number', min: 1, max: 100, value: 1, required: true });
    const int8 = h('input', { id: 'round-int8', type: 'checkbox' });
    const secure = h('input', { id: 'round-secure', type: 'checkbox' });
    const gate = h('input', { id: 'round-gate', type: 'checkbox', checked: true });
    const deploy = h('select', { id: 'round-deploy' },
      h('option', { value: 'all' }, 'To every device running it'), h('option', { value: 'canary' }, 'A canary share first'),
      h('option', { value: 'none' }, 'Register only'));
    const extra = h('div', { class: 'dialog-fields' },
      field('round-model', 'Model', model), field('round-tag', 'Devices with tag', tag),
      field('round-site', 'In site', site), field('round-health', 'Health', health),
      field('round-min-clients', 'Min clients', minClients), field('round-epochs', 'Local epochs', epochs),
      field('round-int8', 'int8 updates', int8), field('round-secure', 'Secure aggregation', secure),
      field('round-gate', 'Refuse a worse result', gate), field('round-deploy', 'Roll the result out', deploy));
    if (!(await confirmDialog({ title: 'Start a federated round', confirmLabel: 'Start round', extra,
      body: 'The chosen devices train on what they learned from the hub, the hub aggregates their updates and, if the result passes the gate, signs and rolls it out.' }))) return;
    const req = {
      model: model.value.trim(), health: health.value, min_clients: Number(minClients.value),
      local_epochs: Number(epochs.value), quantization: int8.checked ? 'int8' : 'none',
      secure_aggregation: secure.checked, deploy: deploy.value,
    };
    if (tag.value.trim()) req.tag = tag.value.trim();
    if (site.value.trim()) req.site = site.value.trim();
    if (!gate.checked) req.max_regression = null;
    try {
      const r = await api('/fl/rounds', { method: 'POST', body: req });
      toast(`Round #${r.id} started with ${(r.participants || []).length} participant(s)`, r.state === 'failed' ? 'error' : 'ok');
      current = null; // the newest round, this one, until another is picked
      render();
    } catch (err) { toast(err.message, 'error'); }
  }
  if (admin) {
    el.querySelector('.page-head').append(
      h('button', { class: 'btn btn-primary', type: 'button', id: 'round-start', onclick: startRound }, 'Start a round'));
  }

  function settings(r) {
    const c = r.config || {};
    const p = r.privacy || {};
    return h('dl', { class: 'props' },
      [['Aggregation', `${c.aggregation || 'fedavg'}${c.aggregation === 'trimmed_mean' ? ` (trim ${c.trim})` : ''} · ${c.mode || 'sync'}${c.mode === 'async' ? ` (buffer ${c.buffer_size}, α ${c.staleness_alpha})` : ''}`],
        ['Clients', `fraction ${c.fraction ?? 1}, at least ${c.min_clients ?? '—'}`],
        ['Chosen', c.devices ? `listed: ${c.devices.join(', ')}` : [`${c.health || 'live'} devices`, c.tag && `tag ${c.tag}`, c.site && `site ${c.site}`].filter(Boolean).join(' · ')],
        ['Local training', `${c.local_epochs ?? '—'} epoch(s), lr ${c.learning_rate ?? '—'}, batch ${c.batch_size ?? '—'}`],
        ['Transfer', c.quantization !== 'int8' ? 'float32'
          : c.secure_aggregation ? `int8 steps of ${c.secure_range ?? 1}/127, masked in 32 bits` : 'int8 (one scale per update)'],
        ['Secure aggregation', c.secure_aggregation ? 'on (pairwise masks)' : 'off'],
        ['Differential privacy', c.privacy ? `clip ${p.clip_norm ?? c.privacy.clip_norm}, noise ×${p.noise_multiplier ?? c.privacy.noise_multiplier}, δ ${p.delta ?? c.privacy.delta}` : 'off'],
        ['ε (this round / total)', p.epsilon_round !== undefined ? `${num(p.epsilon_round, 2)} / ${num(p.epsilon_total, 2)}` : '—'],
        ['Update checks', `norm ≤ ${c.max_update_norm ?? '—'}, outlier z ≤ ${c.outlier_threshold ?? '—'}`],
        ['Versions', h('span', {}, h('code', { text: r.base_version || '—' }), ' → ',
          r.result_version ? h('a', { href: '#/models' }, h('code', { text: r.result_version })) : h('span', { class: 'muted', text: 'not yet' }))],
        ['Aggregation time', r.aggregation_ms !== null ? `${num(r.aggregation_ms, 1)} ms` : '—'],
      ].map(([k, v]) => [h('dt', { text: k }), h('dd', {}, v)]));
  }

  async function detail(r) {
    const updates = await api(`/fl/rounds/${r.id}/updates`);
    const parts = r.participants || [];
    const head = h('div', { class: 'card-head' },
      h('h2', { class: 'card-title', id: 'round-title' }, `Round ${r.id} `, tagPill(r.state, ROUND_TONE[r.state] || 'offline')),
      h('span', { class: 'muted' }, `${r.model} · started `, timeEl(r.created_at)));
    return h('section', { class: 'card', 'aria-labelledby': 'round-title', id: 'round-detail', 'data-round': r.id, 'data-state': r.state },
      head, r.reason ? h('p', { class: 'form-error', text: r.reason }) : null,
      h('div', { class: 'grid-2' },
        h('div', {}, h('h3', { class: 'sub-title', text: 'Settings' }), settings(r)),
        h('div', {}, h('h3', { class: 'sub-title' }, `Participants (${parts.length})`),
          h('div', { class: 'chips' }, parts.map((p) => h('span', { class: `chip chip-${p.state}`, title: p.state }, `${p.device_id} · ${p.state}`))),
          h('h3', { class: 'sub-title', text: 'Updates' }),
          h('p', { class: 'update-counts' }, h('strong', { text: String(r.updates.accepted || 0) }), ' accepted · ',
            h('strong', { text: String(r.updates.rejected || 0) }), ' rejected'))),
      h('h3', { class: 'sub-title', text: 'Every update, with the reason for a refusal' }),
      table([
        ['Device', (u) => h('a', { href: `#/devices/${enc(u.device_id)}`, class: 'mono' }, u.device_id)],
        ['Outcome', (u) => (u.accepted ? tagPill(u.aggregated ? 'aggregated' : 'accepted', 'online')
          : h('span', {}, tagPill(`rejected: ${u.reason}`, 'offline'),
            h('span', { class: 'sub', text: u.detail || REJECT_HELP[u.reason] || '' })))],
        ['Size', (u) => `${bytes(u.size_bytes)} ${u.encoding || ''}`],
        ['Samples', (u) => String(u.samples ?? '—')], ['Norm', (u) => num(u.norm)],
        ['Staleness', (u) => String(u.staleness ?? 0)],
        ['Local accuracy', (u) => (u.metrics && u.metrics.accuracy !== undefined
          ? `${pct(u.metrics.accuracy_before, 1)} → ${pct(u.metrics.accuracy, 1)}` : '—')],
        ['Loss', (u) => num(u.metrics && u.metrics.loss)], ['Received', (u) => timeEl(u.created_at)],
      ], updates, 'No updates yet: participants are training', (u) => ({ 'data-update': u.id, 'data-accepted': String(u.accepted) })));
  }

  async function render() {
    clearTimeout(timer);
    const paths = await apiPaths();
    if (!(`${API_PREFIX}/fl/rounds` in paths)) {
      body.replaceChildren(card('Rounds', unavailable('Federated learning is', `GET ${API_PREFIX}/fl/rounds`)));
      return;
    }
    let rounds;
    try { rounds = await api('/fl/rounds?limit=100'); } catch (err) { body.replaceChildren(errorState(err, render)); return; }
    if (!alive) return;
    if (!rounds.length) {
      timer = setTimeout(render, 4000);
      body.replaceChildren(card('Rounds', emptyState('No federated rounds yet',
        `Start one here (Start a round), with \`edgefleet fl start --model engine-fault\` or POST ${API_PREFIX}/fl/rounds; devices with the model and federated.enabled take part.`)));
      return;
    }
    const chosen = rounds.find((r) => r.id === current) || rounds[0];
    const published = rounds.filter((r) => r.state === 'published');
    const running = rounds.filter((r) => !['published', 'failed'].includes(r.state));
    const last = published[0];
    const chron = [...published].reverse();
    const chart = roundsChart(chron.map((r) => ({ label: `#${r.id}`, metrics: r.metrics || {} })));
    let detailEl;
    try { detailEl = await detail(chosen); } catch (err) { detailEl = errorState(err, render); }
    if (!alive) return;
    body.replaceChildren(
      h('div', { class: 'summary', role: 'group', 'aria-label': 'Rounds' },
        stat('Rounds', rounds.length), stat('Published', published.length, 'online', 'published'),
        stat('Running', running.length, 'degraded', 'running'),
        stat('Failed', rounds.filter((r) => r.state === 'failed').length, 'offline', 'failed'),
        stat('Latest accuracy', last && last.metrics.validation_accuracy !== undefined ? pct(last.metrics.validation_accuracy, 1) : '—', 'total', 'accuracy')),
      h('section', { class: 'card', 'aria-labelledby': 'quality-title' },
        h('div', { class: 'card-head' }, h('h2', { class: 'card-title', id: 'quality-title', text: 'Accuracy and loss per round' }),
          h('span', { class: 'muted', text: 'published rounds, oldest first' })), chart),
      h('section', { class: 'card card-flush', 'aria-labelledby': 'rounds-title' },
        h('div', { class: 'card-head card-pad' }, h('h2', { class: 'card-title', id: 'rounds-title', text: 'Rounds' })),
        table([
          ['Round', (r) => h('a', { href: `#/federated/${r.id}`, class: 'mono' }, `#${r.id}`)],
          ['State', (r) => tagPill(r.state, ROUND_TONE[r.state] || 'offline')],
          ['Model', (r) => r.model],
          ['Aggregation', (r) => `${r.config.aggregation || 'fedavg'} · ${r.config.mode || 'sync'}${r.config.quantization === 'int8' ? ' · int8' : ''}${r.config.secure_aggregation ? ' · secure' : ''}`],
          ['DP', (r) => (r.config.privacy ? `ε ${num(r.privacy.epsilon_round, 2)}` : 'off')],
          ['Participants', (r) => String((r.participants || []).length)],
          ['Updates', (r) => h('span', { class: 'nowrap' }, h('span', { class: 'ok-count', text: `${r.updates.accepted || 0} ✓` }), ' ',
            h('span', { class: 'bad-count', text: `${r.updates.rejected || 0} ✗` }))],
          ['Accuracy', (r) => (r.metrics.validation_accuracy !== undefined ? pct(r.metrics.validation_accuracy, 1) : '—')],
          ['Loss', (r) => num(r.metrics.train_loss)],
          ['Result', (r) => (r.result_version ? h('code', { text: r.result_version }) : h('span', { class: 'muted', text: r.reason ? 'failed' : '—' }))],
          ['Started', (r) => timeEl(r.created_at)],
        ], rounds, '', (r) => ({ 'data-round': r.id, 'data-state': r.state, class: r.id === chosen.id ? 'selected' : null }))),
      detailEl);
    // live progress: every second while a round runs, else look for new rounds now and then
    if (alive) timer = setTimeout(render, running.length ? 1000 : 4000);
  }

  render();
  return { el, title: 'Federated', onResync: render, onLive() {}, destroy() { alive = false; clearTimeout(timer); } };
}
