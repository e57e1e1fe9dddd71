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
