// Small DOM helpers: element builders, formatting, state pills, empty/error states, dialogs.
import { DEVICE_STATES } from './contract.js';

const SVG_NS = 'http://www.w3.org/2000/svg';

function build(el, attrs, children) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'text') el.textContent = v;
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else el.setAttribute(k === 'className' ? 'class' : k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export const h = (tag, attrs, ...children) => build(document.createElement(tag), attrs, children);
export const s = (tag, attrs, ...children) =>
  build(document.createElementNS(SVG_NS, tag), attrs, children);

export const STATES = DEVICE_STATES;
const STATE_LABEL = { online: 'Online', degraded: 'Degraded', offline: 'Offline', lost: 'Lost' };

export function statePill(state) {
  return h('span', { class: `pill pill-${state}`, 'data-state': state },
    h('span', { class: 'dot', 'aria-hidden': 'true' }), STATE_LABEL[state] || state);
}

export function pct(x, digits = 0) {
  return x === null || x === undefined || Number.isNaN(x) ? '—' : `${(x * 100).toFixed(digits)} %`;
}

export function ms(x) {
  if (x === null || x === undefined) return '—';
  return x >= 1000 ? `${(x / 1000).toFixed(2)} s` : `${x.toFixed(x < 10 ? 1 : 0)} ms`;
}

export function ago(iso, now = Date.now()) {
  if (!iso) return 'never';
  const sec = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (sec < 5) return 'just now';
  if (sec < 60) return `${sec} s ago`;
  if (sec < 3600) return `${Math.floor(sec / 60)} min ago`;
  if (sec < 86400) return `${Math.floor(sec / 3600)} h ago`;
  return `${Math.floor(sec / 86400)} d ago`;
}

export function when(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  return d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
}

export function timeEl(iso) {
  return h('time', { datetime: iso || '', title: iso ? when(iso) : 'never', 'data-ago': iso || '' },
    ago(iso));
}

/** Keep every "x s ago" on the page current. */
export function tickTimes(root = document) {
  for (const t of root.querySelectorAll('time[data-ago]')) t.textContent = ago(t.dataset.ago || null);
}

export function emptyState(title, text, ...extra) {
  return h('div', { class: 'empty', role: 'note' },
    h('div', { class: 'empty-icon', 'aria-hidden': 'true' }), h('h3', { text: title }),
    text ? h('p', { text }) : null, ...extra);
}

export function errorState(err, retry) {
  return h('div', { class: 'empty error-state', role: 'alert' },
    h('div', { class: 'empty-icon', 'aria-hidden': 'true' }),
    h('h3', { text: 'Could not load this' }),
    h('p', { text: err && err.message ? err.message : String(err) }),
    retry ? h('button', { class: 'btn', type: 'button', onclick: retry }, 'Try again') : null);
}

export function card(title, ...children) {
  const id = `card-${title.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`;
  return h('section', { class: 'card', 'aria-labelledby': id },
    h('h2', { class: 'card-title', id, text: title }), ...children);
}

export function toast(message, kind = 'info') {
  const box = document.getElementById('toasts');
  const t = h('div', { class: `toast toast-${kind}` }, message);
  box.append(t);
  setTimeout(() => t.remove(), 5000);
}

/** A modal confirmation; resolves true when confirmed. `typed` asks the user to type a word. */
export function confirmDialog({ title, body, confirmLabel = 'Confirm', danger = false, typed, extra }) {
  return new Promise((resolve) => {
    const input = typed
      ? h('input', { id: 'confirm-typed', autocomplete: 'off', spellcheck: 'false' }) : null;
    const ok = h('button', { class: `btn ${danger ? 'btn-danger' : 'btn-primary'}`, type: 'submit',
      disabled: typed ? true : null }, confirmLabel);
    const cancel = h('button', { class: 'btn', type: 'button' }, 'Cancel');
    const form = h('form', { method: 'dialog', class: 'dialog-body' },
      h('h2', { text: title, id: 'dialog-title' }), h('p', { text: body }),
      typed ? h('label', { for: 'confirm-typed' }, 'Type ', h('code', { text: typed }),
        ' to confirm') : null,
      input, extra || null, h('div', { class: 'dialog-actions' }, cancel, ok));
    const dlg = h('dialog', { class: 'dialog', 'aria-labelledby': 'dialog-title' }, form);
    if (input) input.addEventListener('input', () => { ok.disabled = input.value !== typed; });
    let result = false;
    form.addEventListener('submit', () => { result = true; });
    cancel.addEventListener('click', () => dlg.close());
    dlg.addEventListener('close', () => { dlg.remove(); resolve(result); });
    document.body.append(dlg);
    dlg.showModal();
    (input || ok).focus();
  });
}
