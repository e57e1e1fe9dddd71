// The dashboard shell: sign-in, navigation, the live stream, and the hash router.
import { ApiError, login, logout, resume, setUnauthorizedHandler } from './api.js';
import { API_PREFIX } from './contract.js';
import { deviceView } from './device.js';
import { fleetView } from './fleet.js';
import { federatedView, modelsView } from './registry.js';
import { samplesView } from './samples.js';
import { h, tickTimes } from './ui.js';

const root = document.getElementById('app');
const ctx = { session: null };
let view = null;
let live = null;
let frame = null;

const LOGO = () => h('img', { src: '/assets/favicon.svg', alt: '', width: 28, height: 28, class: 'logo' });

function showLogin(message) {
  closeLive();
  if (view) view.destroy();
  view = null;
  frame = null;
  ctx.session = null;
  document.title = 'Sign in · edgefleet';
  const key = h('input', { id: 'api-key', name: 'api-key', type: 'password', required: true,
    autocomplete: 'current-password', spellcheck: 'false', placeholder: 'efk_…' });
  const error = h('p', { class: 'form-error', id: 'login-error', role: 'alert' }, message || '');
  const button = h('button', { class: 'btn btn-primary btn-block', type: 'submit' }, 'Sign in');
  const form = h('form', { class: 'login-card', 'aria-labelledby': 'login-title' },
    h('div', { class: 'brand brand-lg' }, LOGO(), h('span', { text: 'edgefleet' })),
    h('h1', { id: 'login-title', text: 'Sign in to your fleet' }),
    h('p', { class: 'muted' }, 'Use an admin or viewer API key; ', h('code', { text: 'edgefleet hub create-key' }), ' makes one.'),
    h('label', { for: 'api-key', text: 'API key' }), key, error, button);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    button.disabled = true;
    error.textContent = '';
    try {
      ctx.session = await login(key.value.trim());
      start();
    } catch (err) {
      error.textContent = err instanceof ApiError && err.status === 401
        ? 'That key was refused by the hub.' : err.message;
      key.select();
    } finally { button.disabled = false; }
  });
  root.replaceChildren(h('main', { class: 'login', id: 'main' }, form));
  root.removeAttribute('aria-busy');
  key.focus();
}

const liveBadge = h('span', { class: 'live', id: 'live-status', 'data-live': 'connecting', role: 'status' },
  h('span', { class: 'dot', 'aria-hidden': 'true' }), h('span', { class: 'live-text', text: 'Connecting…' }));

function setLive(state, text) {
  liveBadge.dataset.live = state;
  liveBadge.querySelector('.live-text').textContent = text;
}

function openLive() {
  closeLive();
  live = new EventSource(`${API_PREFIX}/live`);
  live.addEventListener('hello', () => setLive('up', 'Live'));
  live.addEventListener('update', (e) => { if (view) view.onLive(JSON.parse(e.data)); });
  live.addEventListener('resync', () => { if (view) view.onResync(); });
  live.addEventListener('error', () => {
    setLive('down', 'Reconnecting…');
    if (live && live.readyState === EventSource.CLOSED) {
      // closed for good (e.g. 401): check the session, else retry a little later
      resume().then(() => setTimeout(openLive, 2000), () => showLogin('Your session ended. Sign in again.'));
    }
  });
}

function closeLive() {
  if (live) live.close();
  live = null;
}

const NAV = [['#/', 'Fleet', /^#\/(devices\/.*)?$/], ['#/models', 'Models', /^#\/models/], ['#/federated', 'Federated', /^#\/federated/], ['#/samples', 'Samples', /^#\/samples/]];

function shell() {
  const links = NAV.map(([href, label]) => h('a', { href, class: 'nav-link', 'data-nav': label }, label));
  const out = h('button', { class: 'btn btn-ghost btn-invert', type: 'button' }, 'Sign out');
  out.addEventListener('click', async () => { await logout(); showLogin(); });
  const main = h('main', { id: 'main', class: 'main', tabindex: '-1' });
  root.replaceChildren(
    h('header', { class: 'topbar' },
      h('a', { class: 'brand', href: '#/' }, LOGO(), h('span', { text: 'edgefleet' })),
      h('nav', { class: 'nav', 'aria-label': 'Main' }, links),
      h('div', { class: 'topbar-end' }, liveBadge,
        h('span', { class: 'who', title: `signed in as ${ctx.session.name}` },
          h('span', { class: `role role-${ctx.session.role}`, text: ctx.session.role }), ctx.session.name),
        out)),
    main);
  root.removeAttribute('aria-busy');
  return { main, links };
}

function route() {
  if (!ctx.session || !frame) return;
  const hash = location.hash || '#/';
  if (view) view.destroy();
  const m = hash.match(/^#\/devices\/([^/?]+)/);
  const sub = (hash.match(/^#\/(?:models|federated)\/([^/?]+)/) || [])[1];
  view = m ? deviceView(ctx, decodeURIComponent(m[1]))
    : hash.startsWith('#/models') ? modelsView(ctx, sub && decodeURIComponent(sub))
      : hash.startsWith('#/federated') ? federatedView(ctx, sub)
        : hash.startsWith('#/samples') ? samplesView(ctx) : fleetView(ctx);
  for (const a of frame.links) {
    const active = NAV.find(([, label]) => label === a.dataset.nav)[2].test(hash);
    if (active) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  document.title = `${view.title} · edgefleet`;
  frame.main.replaceChildren(view.el);
}

function start() {
  frame = shell();
  openLive();
  route();
}

setUnauthorizedHandler(() => { if (ctx.session) showLogin('Your session ended. Sign in again.'); });
window.addEventListener('hashchange', route);
setInterval(() => tickTimes(), 5000);

resume().then((s) => { ctx.session = s; start(); }, () => showLogin());
