// One device: identity, health charts from its heartbeat history, activity, twin, the commands
// it was sent (with late replies: an agent update's outcome) and actions.
import { api, apiPaths, qs } from './api.js';
import { lineChart } from './charts.js';
import { API_PREFIX, HEALTH_BANDS } from './contract.js';
import {
  card, confirmDialog, emptyState, errorState, h, ms, pct, statePill, timeEl, toast, when,
} from './ui.js';

const CHARTS = [
  { key: 'cpu', title: 'CPU', format: (v) => `${Math.round(v * 100)}%`, fixedMax: 1, band: HEALTH_BANDS.cpu },
  { key: 'mem', title: 'Memory', format: (v) => `${Math.round(v * 100)}%`, fixedMax: 1, band: HEALTH_BANDS.mem },
  { key: 'rtt_ms', title: 'Round-trip time', format: (v) => `${+v.toFixed(1)} ms`, band: HEALTH_BANDS.rtt_ms },
  { key: 'infer_ms_p50', title: 'Inference latency (p50)', format: (v) => `${+v.toFixed(1)} ms` },
  { key: 'offload_ratio', title: 'Offload ratio', format: (v) => `${Math.round(v * 100)}%`, fixedMax: 1 },
];
const MINUTE_KEYS = { cpu: 'cpu_avg', mem: 'mem_avg', rtt_ms: 'rtt_ms_avg', offload_ratio: 'offload_ratio_avg' };

function dl(pairs) {
  return h('dl', { class: 'props' }, pairs.filter(Boolean).map(([k, v]) => [h('dt', { text: k }), h('dd', {}, v ?? '—')]));
}

function chips(list) {
  return list && list.length ? list.map((x) => h('span', { class: 'chip', text: x })) : h('span', { class: 'muted', text: 'none' });
}

function table(columns, items, empty) {
  if (!items.length) return emptyState(empty, null);
  return h('div', { class: 'table-wrap' }, h('table', { class: 'plain' },
    h('thead', {}, h('tr', {}, columns.map(([label]) => h('th', { scope: 'col', text: label })))),
    h('tbody', {}, items.map((it) => h('tr', {}, columns.map(([, fn]) => h('td', {}, fn(it))))))));
}

function json(value) {
  return h('pre', { class: 'json' }, JSON.stringify(value, null, 2));
}

function tabs(defs) {
  const bar = h('div', { class: 'tabs', role: 'tablist' });
  const panel = h('div', { class: 'tab-panel', role: 'tabpanel' });
  const buttons = defs.map((d, i) => h('button', { role: 'tab', type: 'button', class: 'tab', id: `tab-${d.id}`,
    'aria-selected': String(i === 0), onclick: () => pick(i) }, d.label));
  let current = 0;
  function pick(i) {
    current = i;
    buttons.forEach((b, j) => b.setAttribute('aria-selected', String(i === j)));
    panel.setAttribute('aria-labelledby', buttons[i].id);
    panel.replaceChildren(h('p', { class: 'muted', text: 'Loading…' }));
    defs[i].load().then((node) => panel.replaceChildren(node), (err) => panel.replaceChildren(errorState(err, () => pick(i))));
  }
  function refresh() {
    defs[current].load().then((node) => panel.replaceChildren(node), () => {});
  }
  bar.append(...buttons);
  pick(0);
  return { el: h('div', {}, bar, panel), refresh };
}

export function deviceView(ctx, id) {
  const enc = encodeURIComponent(id);
  const el = h('div', { class: 'page' });
  const charts = Object.fromEntries(CHARTS.map((c) => [c.key, lineChart(c)]));
  let resolution = 'raw';
  let head = null;
  let activity = null;
  let activityTimer = null;
  let commandsTimer = null;
  let refreshCommands = () => {};
  let alive = true;

  async function loadCharts() {
    const hist = await api(`/devices/${enc}/health/history${qs({ resolution, limit: resolution === 'raw' ? 300 : 1440 })}`);
    hist.reverse();
    for (const c of CHARTS) {
      const key = resolution === 'raw' ? c.key : MINUTE_KEYS[c.key];
      charts[c.key].set(key ? hist.map((p) => ({ t: Date.parse(p.ts || p.minute), v: p[key] })) : []);
    }
  }

  function actions(device) {
    if (ctx.session.role !== 'admin') {
      return emptyState('Read-only', 'You signed in with a viewer key. Actions need an admin key.');
    }
    const out = h('div', { class: 'actions' });
    apiPaths().then((paths) => {
      const commandPath = `${API_PREFIX}/devices/{device_id}/commands/{name}` in paths;
      const deployPath = `${API_PREFIX}/devices/{device_id}/deployments` in paths;
      const updatePath = `${API_PREFIX}/devices/{device_id}/agent-update` in paths;
      const cmdForm = commandForm(commandPath);
      const roll = deployPath ? rollForm(device)
        : h('div', { class: 'action' }, h('h3', { text: 'Roll a model version' }),
          h('p', { class: 'hint', text: 'This hub has no model registry yet: rollouts appear here once it does.' }));
      const disable = h('button', { class: 'btn btn-danger-outline', type: 'button' }, 'Disable device');
      disable.addEventListener('click', async () => {
        if (!(await confirmDialog({ title: `Disable ${id}?`, danger: true, confirmLabel: 'Disable device',
          body: 'Its secret is replaced by one nobody sees, so the device can no longer authenticate. Re-provision it to bring it back.' }))) return;
        try { await api(`/devices/${enc}/secret`, { method: 'POST' }); toast(`${id} disabled: its credentials were revoked`, 'ok'); }
        catch (err) { toast(err.message, 'error'); }
      });
      const del = h('button', { class: 'btn btn-danger', type: 'button' }, 'Delete device');
      del.addEventListener('click', async () => {
        if (!(await confirmDialog({ title: `Delete ${id}?`, danger: true, typed: id, confirmLabel: 'Delete',
          body: 'The device record and all of its telemetry are removed. This cannot be undone.' }))) return;
        try { await api(`/devices/${enc}`, { method: 'DELETE' }); toast(`${id} deleted`, 'ok'); location.hash = '#/'; }
        catch (err) { toast(err.message, 'error'); }
      });
      out.append(cmdForm, roll, updatePath ? updateForm(device) : null, h('div', { class: 'action' }, h('h3', { text: 'Access' }),
        h('p', { class: 'hint', text: 'Disable revokes its credentials; delete removes it and its history.' }),
        h('div', { class: 'inline' }, disable, del)));
    });
    return out;
  }

  function commandForm(available) {
    const cmdName = h('input', { id: 'cmd-name', value: 'ping', autocomplete: 'off', spellcheck: 'false', disabled: available ? null : true });
    const cmdArgs = h('input', { id: 'cmd-args', placeholder: '{"key": "value"}', autocomplete: 'off', spellcheck: 'false', disabled: available ? null : true });
    const send = h('button', { class: 'btn', type: 'submit', disabled: available ? null : true }, 'Send command');
    const out = h('div', { id: 'cmd-reply', class: 'reply', 'aria-live': 'polite' });
    const form = h('form', { class: 'action', 'aria-labelledby': 'act-cmd' },
      h('h3', { id: 'act-cmd', text: 'Send a command' }),
      h('div', { class: 'inline' }, h('label', { for: 'cmd-name', class: 'sr-only', text: 'Command name' }), cmdName,
        h('label', { for: 'cmd-args', class: 'sr-only', text: 'Arguments (JSON)' }), cmdArgs, send),
      available ? h('p', { class: 'hint', text: 'The hub publishes cmd/<name> and waits up to 10 s for the reply. Agents answer ping.' })
        : h('p', { class: 'hint', text: 'This hub has no command API yet (coming with the next hub release).' }), out);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const name = cmdName.value.trim();
      let args = {};
      try { args = cmdArgs.value.trim() ? JSON.parse(cmdArgs.value) : {}; } catch { toast('Arguments must be a JSON object', 'error'); return; }
      if (!name || !(await confirmDialog({ title: `Send “${name}” to ${id}?`, body: 'The device runs it as soon as it receives it; the reply shows here.', confirmLabel: 'Send' }))) return;
      send.disabled = true;
      out.replaceChildren(h('span', { class: 'muted', text: `Waiting for ${id} to reply…` }));
      try {
        const r = await api(`/devices/${enc}/commands/${encodeURIComponent(name)}`, { method: 'POST', body: { args, timeout_s: 10 } });
        out.replaceChildren(h('p', { class: 'reply' }, h('span', { class: r.ok ? 'reply-ok' : 'reply-bad', text: r.ok ? 'OK' : 'Refused' }),
          ` · replied in ${ms(r.elapsed_ms)}`, r.error ? ` · ${r.error}` : ''), json(r.result));
        refreshCommands();
      } catch (err) {
        out.replaceChildren(h('p', { class: 'reply reply-bad', text: err.message }));
      } finally { send.disabled = false; }
    });
    return form;
  }

  function rollForm(device) {
    const models = device.capabilities || [];
    const model = h('select', { id: 'roll-model' }, models.map((m) => h('option', { value: m }, m)));
    const version = h('select', { id: 'roll-version' });
    const running = h('p', { class: 'hint', id: 'roll-running' });
    const go = h('button', { class: 'btn btn-primary', type: 'submit', disabled: true }, 'Roll out');
    const status = h('div', { id: 'roll-status', 'aria-live': 'polite' });
    const form = h('form', { class: 'action', 'aria-labelledby': 'act-roll' }, h('h3', { id: 'act-roll', text: 'Roll a model version' }),
      h('div', { class: 'inline' }, h('label', { for: 'roll-model', class: 'sr-only', text: 'Model' }), model,
        h('label', { for: 'roll-version', class: 'sr-only', text: 'Version' }), version, go), running, status);
    async function load() {
      go.disabled = true;
      if (!model.value) { running.textContent = 'This device reports no models.'; return; }
      const m = encodeURIComponent(model.value);
      const [versions, rows] = await Promise.all([api(`/models/${m}/versions`).catch(() => []), api(`/models/${m}/devices`).catch(() => [])]);
      const mine = rows.find((r) => r.device_id === id);
      version.replaceChildren(...versions.map((v) => h('option', { value: v.version }, `${v.version} (seq ${v.seq})`)));
      running.replaceChildren(mine ? h('span', {}, 'Runs ', h('code', { text: mine.version, id: 'roll-current' }),
        mine.state === 'refused' ? ` · refused ${mine.refused_version}: ${mine.reason}` : '') : 'Runs its catalogue version (no registry report yet).');
      go.disabled = !versions.length;
      version.hidden = !versions.length;
      if (!versions.length) running.append(' The registry has no versions of this model to roll out.');
    }
    model.addEventListener('change', () => load());
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const v = version.value;
      if (!(await confirmDialog({ title: `Roll ${model.value} ${v} out to ${id}?`, confirmLabel: 'Roll out',
        body: 'The device downloads the signed artifact, verifies it and swaps models without dropping a request.' }))) return;
      try {
        const dep = await api(`/devices/${enc}/deployments`, { method: 'POST', body: { model: model.value, version: v } });
        toast(`Rollout #${dep.id} of ${dep.version} sent to ${id}`, 'ok');
        status.replaceChildren(h('span', { class: 'muted', text: `Rollout #${dep.id}: waiting for ${id} to report ${v}…` }));
        const t0 = Date.now();
        while (alive && Date.now() - t0 < 120000) {
          const d = await api(`/deployments/${dep.id}`);
          if (d.running || d.refused) {
            status.replaceChildren(d.running ? h('span', { class: 'reply-ok', text: `${id} runs ${v} (rollout #${d.id})` })
              : h('span', { class: 'reply-bad', text: `${id} refused ${v}; see Models` }));
            await load();
            return;
          }
          await new Promise((r) => setTimeout(r, 1000));
        }
      } catch (err) { toast(err.message, 'error'); }
    });
    load();
    return form;
  }

  function updateForm(device) {
    const release = h('select', { id: 'update-release' });
    const go = h('button', { class: 'btn btn-primary', type: 'submit', disabled: true }, 'Update');
    const status = h('div', { id: 'update-status', 'aria-live': 'polite' });
    const form = h('form', { class: 'action', 'aria-labelledby': 'act-update' }, h('h3', { id: 'act-update', text: 'Update the agent' }),
      h('div', { class: 'inline' }, h('label', { for: 'update-release', class: 'sr-only', text: 'Release' }), release, go),
      h('p', { class: 'hint' }, 'Runs ', device.agent_version ? h('code', { text: device.agent_version }) : 'an unknown version',
        '. The device downloads the signed bundle, restarts into it and keeps it only if it comes up healthy; its reply shows under Recent commands.'),
      status);
    let releases = [];
    api('/agent-releases').then((list) => {
      releases = list;
      release.replaceChildren(...list.map((r, i) => h('option', { value: String(i) }, `${r.version} · ${r.arch} · Python ${r.python}`)));
      go.disabled = !list.length;
      release.hidden = !list.length;
      if (!list.length) status.replaceChildren(h('span', { class: 'muted', text: 'No agent releases yet: upload a bundle to POST /agent-releases.' }));
    }, (err) => status.replaceChildren(h('span', { class: 'reply-bad', text: err.message })));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const r = releases[Number(release.value)];
      if (!r || !(await confirmDialog({ title: `Update ${id} to ${r.version}?`, confirmLabel: 'Update',
        body: `${r.arch} / Python ${r.python} bundle, sha256 ${r.sha256.slice(0, 12)}…. The agent restarts; if the new version fails its trial, the launcher returns to the old one.` }))) return;
      go.disabled = true;
      try {
        const sent = await api(`/devices/${enc}/agent-update`, { method: 'POST', body: { version: r.version, arch: r.arch, python: r.python } });
        status.replaceChildren(h('span', { class: 'muted' }, 'Sent: command ', h('code', { text: sent.cmd_id, id: 'update-cmd-id' }),
          '. The reply comes once the device runs the new version (or rolled back).'));
        refreshCommands();
      } catch (err) {
        status.replaceChildren(h('span', { class: 'reply-bad', text: err.message }));
      } finally { go.disabled = false; }
    });
    return form;
  }

  function outcome(c) {
    if (c.ok === null || c.ok === undefined) return h('span', { class: 'muted', text: c.sent_at ? 'waiting' : '—' });
    return h('span', { class: c.ok ? 'reply-ok' : 'reply-bad', text: c.ok ? 'OK' : 'Refused' });
  }

  function commandsCard() {
    const body = h('div', { id: 'commands' }, h('p', { class: 'muted', text: 'Loading…' }));
    async function load() {
      const page = await api(`/devices/${enc}/commands?limit=10`);
      if (!alive) return;
      body.replaceChildren(table([
        ['Sent', (c) => (c.sent_at ? timeEl(c.sent_at) : '—')], ['Command', (c) => h('code', { text: c.name })],
        ['Outcome', outcome],
        ['Error', (c) => (c.error ? h('span', { class: 'sub' }, c.code ? [h('code', { text: c.code }), ' '] : null, c.error) : '—')],
        ['Replied', (c) => (c.replied_at ? timeEl(c.replied_at) : '—')],
      ], page.items, 'No commands sent yet'));
    }
    refreshCommands = () => { load().catch(() => {}); };
    load().catch((err) => body.replaceChildren(errorState(err, refreshCommands)));
    clearInterval(commandsTimer);
    commandsTimer = setInterval(refreshCommands, 5000);
    return card('Recent commands', h('p', { class: 'muted', text: 'What the hub sent this device and its replies, newest first; a late reply (an agent update\'s outcome) shows up here.' }), body);
  }

  function commandsSlot() {
    const slot = h('div', { id: 'commands-slot' });
    apiPaths().then((paths) => {
      if (alive && `${API_PREFIX}/devices/{device_id}/commands` in paths) slot.replaceChildren(commandsCard());
    });
    return slot;
  }

  function twinCard(twin) {
    const reported = twin.reported || {};
    const keys = Object.keys(reported);
    return card('Twin',
      h('p', { class: 'muted' }, 'Desired state is what the hub asks for; reported is what the device says it has. ',
        twin.ts ? ['Reported ', timeEl(twin.ts), ', version ', h('code', { text: JSON.stringify(twin.version) })] : ''),
      keys.length ? table([['Key', (k) => h('code', { text: k })], ['Desired', () => h('span', { class: 'muted', text: 'not set' })],
        ['Reported', (k) => h('code', { text: JSON.stringify(reported[k]) })]], keys, '')
        : emptyState('No twin reported yet', 'The device has not published twin/reported.'));
  }

  async function render() {
    let device, twin;
    try {
      [device, twin] = await Promise.all([api(`/devices/${enc}`), api(`/devices/${enc}/twin`)]);
    } catch (err) {
      el.replaceChildren(err.status === 404
        ? emptyState(`No device “${id}”`, 'It may have been deleted.', h('a', { href: '#/', class: 'btn' }, 'Back to the fleet'))
        : errorState(err, render));
      return;
    }
    if (!alive) return;
    const hl = device.health;
    const pill = h('span', { id: 'device-state' }, statePill(hl.state));
    const reason = h('span', { class: 'muted', id: 'device-reason' }, hl.reason ? `${hl.reason} · ` : '', 'since ', timeEl(hl.since));
    head = { pill, reason };
    const range = h('select', { id: 'chart-range' }, h('option', { value: 'raw' }, 'Last 300 heartbeats'),
      h('option', { value: 'minute' }, 'Per minute, last 24 h'));
    range.addEventListener('change', () => { resolution = range.value; loadCharts().catch((e) => toast(e.message, 'error')); });
    el.replaceChildren(
      h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, h('a', { href: '#/' }, 'Fleet'), ' / ', h('span', { text: id })),
      h('header', { class: 'page-head' }, h('div', {},
        h('h1', { class: 'mono' }, id, ' ', pill), h('p', {}, device.name ? h('strong', { text: device.name }) : null, device.name ? ' · ' : null, reason))),
      h('div', { class: 'grid-2' },
        card('Details', dl([
          ['Site', device.site], ['Tags', chips(device.tags)], ['Hardware', device.hardware],
          ['Agent version', device.agent_version ? h('code', { text: device.agent_version }) : null],
          ['Models', chips(device.capabilities)],
          ['Last seen', timeEl(hl.last_seen)], ['Last heartbeat', timeEl(hl.last_heartbeat_at)],
          ['Service', device.service ? `${device.service.service_id} @ ${device.service.address}` : null],
        ])),
        card('Enrollment', dl([
          ['Registered', when(device.created_at)], ['Updated', when(device.updated_at)],
          ['Credentials', 'device id + secret (HTTP Basic, MQTT username/password)'],
          ['Metadata', Object.keys(device.metadata).length ? json(device.metadata) : null],
        ]))),
      h('section', { class: 'card', 'aria-labelledby': 'health-title' },
        h('div', { class: 'card-head' }, h('h2', { class: 'card-title', id: 'health-title', text: 'Health history' }),
          h('div', { class: 'field inline' }, h('label', { for: 'chart-range', text: 'Range' }), range)),
        h('div', { class: 'charts' }, CHARTS.map((c) => charts[c.key].el))),
      h('div', { class: 'grid-2' },
        card('Recent activity', (activity = tabs([
          { id: 'results', label: 'Results', load: async () => table([
            ['Time', (r) => timeEl(r.ts)], ['Model', (r) => h('code', { text: `${r.model} ${r.model_version}` })],
            ['Where', (r) => h('span', { class: `chip chip-${r.where}`, text: r.where })], ['Latency', (r) => ms(r.latency_ms)],
            ['Output', (r) => h('code', { class: 'clip', text: JSON.stringify(r.output) })],
          ], await api(`/devices/${enc}/results?limit=20`), 'No results yet') },
          { id: 'events', label: 'Events', load: async () => table([
            ['Time', (r) => timeEl(r.ts)], ['Kind', (r) => h('span', { class: 'chip', text: r.kind })],
            ['Model', (r) => r.model], ['Data', (r) => h('code', { class: 'clip', text: JSON.stringify(r.data) })],
          ], await api(`/devices/${enc}/events?limit=20`), 'No events yet') },
          { id: 'errors', label: 'Errors', load: async () => table([
            ['Time', (r) => timeEl(r.ts)], ['Code', (r) => h('code', { text: r.code })], ['Topic', (r) => r.topic], ['Error', (r) => r.error],
          ], await api(`/devices/${enc}/errors?limit=20`), 'No errors — good.') },
          { id: 'states', label: 'State changes', load: async () => table([
            ['Time', (r) => timeEl(r.ts)], ['From', (r) => (r.from_state ? statePill(r.from_state) : '—')],
            ['To', (r) => statePill(r.to_state)], ['Reason', (r) => r.reason || '—'],
          ], await api(`/devices/${enc}/state-changes?limit=20`), 'No state changes yet') },
        ])).el),
        twinCard(twin)),
      commandsSlot(),
      card('Actions', actions(device)),
    );
    loadCharts().catch((e) => toast(e.message, 'error'));
  }

  function onLive(updates) {
    for (const u of updates) {
      if (u.device !== id || !head) continue;
      if (u.type !== 'health' && activity && !activityTimer) {
        activityTimer = setTimeout(() => { activityTimer = null; if (alive) activity.refresh(); }, 300);
      }
      if (u.type === 'state') {
        head.pill.replaceChildren(statePill(u.to));
        head.reason.replaceChildren(u.reason ? `${u.reason} · ` : '', 'since ', timeEl(u.ts));
      } else if (u.type === 'health' && resolution === 'raw') {
        for (const c of CHARTS) charts[c.key].push({ t: Date.parse(u.ts), v: u[c.key] });
      }
    }
  }

  render();
  return { el, onLive, onResync: render, destroy() { alive = false; clearTimeout(activityTimer); clearInterval(commandsTimer); }, title: id };
}
