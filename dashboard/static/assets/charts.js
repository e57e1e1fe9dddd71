// Inline SVG charts: a row sparkline and a time-series line chart. No library, no canvas.
import { h, s } from './ui.js';

const round = (x) => Math.round(x * 10) / 10;

/** A tiny trend line for a table cell; `values` oldest first, drawn on [0, max]. */
export function sparkline(values, { max = 1, label = 'trend', width = 72, height = 22 } = {}) {
  const svg = s('svg', { class: 'spark', viewBox: `0 0 ${width} ${height}`, width, height,
    role: 'img', 'aria-label': label });
  drawSpark(svg, values, max, width, height);
  return svg;
}

export function drawSpark(svg, values, max = 1, width = 72, height = 22) {
  svg.replaceChildren();
  const v = values.filter((x) => x !== null && x !== undefined).slice(-30);
  if (v.length === 0) {
    svg.append(s('line', { x1: 2, y1: height - 3, x2: width - 2, y2: height - 3,
      class: 'spark-none' }));
    return;
  }
  const step = v.length > 1 ? (width - 4) / (v.length - 1) : 0;
  const y = (x) => round(height - 2 - Math.min(1, Math.max(0, x / max)) * (height - 4));
  const pts = v.map((x, i) => `${round(2 + i * step)},${y(x)}`);
  if (v.length === 1) pts.push(`${width - 2},${y(v[0])}`);
  const last = pts[pts.length - 1].split(',');
  svg.append(
    s('polygon', { class: 'spark-area',
      points: `2,${height - 2} ${pts.join(' ')} ${last[0]},${height - 2}` }),
    s('polyline', { class: 'spark-line', points: pts.join(' ') }),
    s('circle', { class: 'spark-dot', cx: last[0], cy: last[1], r: 2 }));
}

function niceMax(x) {
  if (x <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(x));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= x) return m * p;
  return 10 * p;
}

/**
 * A line chart over time. `points` [{t: epoch ms, v: number|null}] oldest first.
 * Returns {el, push(point)} so a live update can extend it.
 */
export function lineChart({ title, unit = '', format = (x) => String(x), fixedMax, band }) {
  const W = 560, H = 190, L = 46, R = 12, T = 12, B = 26;
  const svg = s('svg', { class: 'chart', viewBox: `0 0 ${W} ${H}`, role: 'img',
    'aria-label': `${title} over time` });
  const latest = h('span', { class: 'chart-latest' }, '—');
  const el = h('figure', { class: 'chart-card', 'data-chart': title },
    h('figcaption', {}, h('span', { class: 'chart-title', text: title }), latest), svg);
  let points = [];

  function draw() {
    svg.replaceChildren();
    const vals = points.filter((p) => p.v !== null && p.v !== undefined);
    if (vals.length === 0) {
      svg.append(s('text', { x: W / 2, y: H / 2, class: 'chart-empty', 'text-anchor': 'middle' },
        'No samples yet'));
      latest.textContent = '—';
      el.dataset.points = '0';
      return;
    }
    const yMax = fixedMax ?? niceMax(Math.max(...vals.map((p) => p.v)) * 1.1);
    const t0 = vals[0].t, t1 = Math.max(vals[vals.length - 1].t, t0 + 1000);
    const x = (t) => round(L + ((t - t0) / (t1 - t0)) * (W - L - R));
    const y = (v) => round(T + (1 - Math.min(1, Math.max(0, v / yMax))) * (H - T - B));
    for (let i = 0; i <= 4; i++) {
      const v = (yMax * i) / 4;
      svg.append(s('line', { x1: L, x2: W - R, y1: y(v), y2: y(v), class: 'grid' }),
        s('text', { x: L - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'tick' }, format(v)));
    }
    if (band !== undefined && band < yMax) {
      svg.append(s('line', { x1: L, x2: W - R, y1: y(band), y2: y(band), class: 'band' }),
        s('text', { x: W - R, y: y(band) - 4, 'text-anchor': 'end', class: 'band-label' },
          `healthy < ${format(band)}`));
    }
    for (const t of [t0, (t0 + t1) / 2, t1]) {
      svg.append(s('text', { x: x(t), y: H - 6, class: 'tick',
        'text-anchor': t === t0 ? 'start' : t === t1 ? 'end' : 'middle' },
      new Date(t).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit',
        second: '2-digit' })));
    }
    const d = vals.map((p, i) => `${i ? 'L' : 'M'}${x(p.t)},${y(p.v)}`).join(' ');
    const base = y(0);
    svg.append(
      s('path', { class: 'chart-area',
        d: `${d} L${x(vals[vals.length - 1].t)},${base} L${x(t0)},${base} Z` }),
      s('path', { class: 'chart-line', d }));
    const last = vals[vals.length - 1];
    svg.append(s('circle', { class: 'chart-dot', cx: x(last.t), cy: y(last.v), r: 3 }));
    latest.textContent = `${format(last.v)}${unit}`;
    el.dataset.points = String(vals.length);
  }

  return {
    el,
    set(newPoints) { points = newPoints.slice(-600); draw(); },
    push(point) { points.push(point); if (points.length > 600) points.shift(); draw(); },
  };
}

/**
 * Lines over categories (one point per round): `rows` [{label, values: {key: number}}], oldest
 * first; `series` [{key, label, cls}]. Drawn on [0, fixedMax or a nice max]; a legend names
 * each line (and its newest value), so colour is never the only cue.
 */
export function seriesChart({ title, rows, series, fixedMax, format = (x) => String(x) }) {
  const W = 560, H = 210, L = 46, R = 14, T = 14, B = 26;
  const svg = s('svg', { class: 'chart', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': title });
  const legend = h('div', { class: 'legend' });
  const el = h('figure', { class: 'chart-card', 'data-chart': title, 'data-points': String(rows.length) },
    h('figcaption', { class: 'caption-stack' }, h('span', { class: 'chart-title', text: title }), legend), svg);
  const all = rows.flatMap((r) => series.map((sr) => r.values[sr.key])).filter((v) => typeof v === 'number');
  if (!all.length) {
    svg.append(s('text', { x: W / 2, y: H / 2, class: 'chart-empty', 'text-anchor': 'middle' }, 'No published round yet'));
    return el;
  }
  const yMax = fixedMax ?? niceMax(Math.max(...all) * 1.1);
  const n = rows.length;
  const x = (i) => round(n === 1 ? (L + W - R) / 2 : L + (i / (n - 1)) * (W - L - R));
  const y = (v) => round(T + (1 - Math.min(1, Math.max(0, v / yMax))) * (H - T - B));
  for (let i = 0; i <= 4; i++) {
    const v = (yMax * i) / 4;
    svg.append(s('line', { x1: L, x2: W - R, y1: y(v), y2: y(v), class: 'grid' }),
      s('text', { x: L - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'tick' }, format(v)));
  }
  const every = Math.max(1, Math.ceil(n / 12));
  rows.forEach((r, i) => {
    if (i % every === 0 || i === n - 1) {
      svg.append(s('text', { x: x(i), y: H - 6, class: 'tick', 'text-anchor': 'middle' }, r.label));
    }
  });
  for (const sr of series) {
    const pts = rows.map((r, i) => [i, r.values[sr.key]]).filter(([, v]) => typeof v === 'number');
    if (!pts.length) continue;
    const d = pts.map(([i, v], k) => `${k ? 'L' : 'M'}${x(i)},${y(v)}`).join(' ');
    svg.append(s('path', { class: `series-line ${sr.cls}`, d }));
    for (const [i, v] of pts) {
      svg.append(s('circle', { class: `series-dot ${sr.cls}`, cx: x(i), cy: y(v), r: 3 },
        s('title', {}, `${r0(rows[i].label)} ${sr.label}: ${format(v)}`)));
    }
    const lastV = pts[pts.length - 1][1];
    legend.append(h('span', { class: 'legend-item' }, h('span', { class: `swatch ${sr.cls}`, 'aria-hidden': 'true' }),
      `${sr.label} `, h('strong', { text: format(lastV) })));
  }
  return el;
}

const r0 = (x) => String(x);

/** Accuracy and loss per federated round, side by side. */
export function roundsChart(rounds) {
  const rows = rounds.map((r) => ({ label: r.label, values: r.metrics }));
  return h('div', { class: 'charts charts-2' },
    seriesChart({ title: 'Accuracy', rows, fixedMax: 1, format: (v) => `${Math.round(v * 100)}%`,
      series: [
        { key: 'validation_accuracy', label: 'validation', cls: 's1' },
        { key: 'train_accuracy', label: 'clients after', cls: 's2' },
        { key: 'train_accuracy_before', label: 'clients before', cls: 's3' },
      ] }),
    seriesChart({ title: 'Training loss', rows, format: (v) => (+v).toFixed(2),
      series: [{ key: 'train_loss', label: 'mean client loss', cls: 's4' }] }));
}
