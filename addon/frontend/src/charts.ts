// Hand-rolled SVG line charts: time on x, value on y from 0, gaps where values are null or samples
// are missing. Drawn at the container's pixel width so labels stay readable on a phone.

export interface Series {
  label: string;
  /** CSS class that sets the stroke colour (see styles.css). */
  cls: string;
  values: (number | null)[];
}

export interface ChartSpec {
  label: string;
  times: number[]; // ms since epoch, ascending, one per value
  series: Series[];
  /** Server status per time; degraded and error stretches are marked along the x axis. */
  status: (string | null)[];
  from: number;
  to: number;
  /** The history's bucket size; samples more than 2.5 steps apart are not joined. */
  stepMs: number;
  /** Smallest top of the y axis, so a flat line near 0 is not magnified. */
  minTop: number;
  format: (v: number) => string;
}

const NS = 'http://www.w3.org/2000/svg';
const PAD = { left: 56, right: 10, top: 10, bottom: 24 };
const HOUR = 3_600_000;

function el<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>, text?: string) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

/** Rounds up to a value whose quarters are round numbers. */
function niceTop(max: number): number {
  const mag = 10 ** Math.floor(Math.log10(max));
  return ([1, 1.2, 1.6, 2, 2.4, 3.2, 4, 6, 8, 10].find((m) => m * mag >= max) ?? 10) * mag;
}

/** Tick times at whole local hours, 4–8 of them across the window. */
function timeTicks(from: number, to: number): number[] {
  const span = to - from;
  const step = [1, 2, 3, 6, 12, 24, 48].map((h) => h * HOUR).find((s) => span / s <= 6) ?? 48 * HOUR;
  const offset = new Date(from).getTimezoneOffset() * 60_000;
  const ticks: number[] = [];
  for (let t = Math.ceil((from - offset) / step) * step + offset; t <= to; t += step) ticks.push(t);
  return ticks;
}

function timeLabel(t: number, span: number): string {
  const d = new Date(t);
  const hm = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  return span > 36 * HOUR ? `${d.toLocaleDateString([], { weekday: 'short' })} ${hm}` : hm;
}

export function lineChart(spec: ChartSpec, width: number, height = 180): SVGSVGElement {
  const w = Math.max(240, Math.round(width));
  const plotW = w - PAD.left - PAD.right;
  const plotH = height - PAD.top - PAD.bottom;
  const svg = el('svg', { viewBox: `0 0 ${w} ${height}`, width: w, height, role: 'img', class: 'chart' });

  const all = spec.series.flatMap((s) => s.values).filter((v): v is number => v !== null && Number.isFinite(v));
  const top = niceTop(Math.max(spec.minTop, ...all) * 1.05);
  const x = (t: number) => PAD.left + ((t - spec.from) / (spec.to - spec.from)) * plotW;
  const y = (v: number) => PAD.top + plotH - (v / top) * plotH;

  for (let i = 0; i <= 4; i++) {
    const v = (top * i) / 4;
    svg.append(
      el('line', { class: 'grid', x1: PAD.left, x2: w - PAD.right, y1: y(v), y2: y(v) }),
      el('text', { class: 'tick', x: PAD.left - 6, y: y(v), 'text-anchor': 'end', 'dominant-baseline': 'middle' }, spec.format(v)),
    );
  }
  for (const t of timeTicks(spec.from, spec.to)) {
    svg.append(el('line', { class: 'grid', x1: x(t), x2: x(t), y1: PAD.top, y2: PAD.top + plotH }));
    const label = timeLabel(t, spec.to - spec.from);
    const half = label.length * 3.3; // about half the width of 11px text
    if (x(t) - half >= PAD.left && x(t) + half <= w) {
      svg.append(el('text', { class: 'tick', x: x(t), y: height - 6, 'text-anchor': 'middle' }, label));
    }
  }
  svg.append(el('line', { class: 'axis', x1: PAD.left, x2: w - PAD.right, y1: PAD.top + plotH, y2: PAD.top + plotH }));

  // Degraded/error stretches: one bar per run of equal status, just above the x axis.
  for (let i = 0; i < spec.status.length; ) {
    const st = spec.status[i];
    let j = i + 1;
    while (j < spec.status.length && spec.status[j] === st && spec.times[j] - spec.times[j - 1] <= 2.5 * spec.stepMs) j++;
    if (st === 'degraded' || st === 'error') {
      const x0 = x(Math.max(spec.from, spec.times[i]));
      const x1 = x(Math.min(spec.to, spec.times[j - 1] + spec.stepMs));
      svg.append(el('rect', { class: `status-bar ${st}`, x: x0, y: PAD.top + plotH - 4, width: Math.max(2, x1 - x0), height: 4 }));
    }
    i = j;
  }

  let drawn = 0;
  for (const s of spec.series) {
    // Split into runs of consecutive measured samples; a run of one is drawn as a dot.
    const runs: [number, number][][] = [];
    let run: [number, number][] = [];
    let prevT = -Infinity;
    s.values.forEach((v, i) => {
      const t = spec.times[i];
      if (v === null || !Number.isFinite(v) || t < spec.from || t > spec.to || t - prevT > 2.5 * spec.stepMs) {
        if (run.length) runs.push(run);
        run = [];
      }
      if (v !== null && Number.isFinite(v) && t >= spec.from && t <= spec.to) run.push([x(t), y(v)]);
      prevT = t;
    });
    if (run.length) runs.push(run);
    for (const r of runs) {
      drawn += r.length;
      svg.append(
        r.length === 1
          ? el('circle', { class: `dot ${s.cls}`, cx: r[0][0].toFixed(1), cy: r[0][1].toFixed(1), r: 2.5 })
          : el('polyline', { class: `line ${s.cls}`, points: r.map(([px, py]) => `${px.toFixed(1)},${py.toFixed(1)}`).join(' ') }),
      );
    }
  }
  if (!drawn) {
    svg.append(el('text', { class: 'empty', x: PAD.left + plotW / 2, y: PAD.top + plotH / 2, 'text-anchor': 'middle' }, 'No samples yet'));
  }
  const last = spec.series.map((s) => {
    const v = [...s.values].reverse().find((val) => val !== null);
    return `${s.label} ${v == null ? 'not measured' : spec.format(v)}`;
  });
  svg.setAttribute('aria-label', `${spec.label}: ${drawn} samples; latest ${last.join(', ')}`);
  svg.dataset.points = String(drawn);
  return svg;
}
