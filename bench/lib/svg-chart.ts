/**
 * A small hand-written SVG line chart (no dependency): enough for the report's three charts, and
 * readable in any Markdown viewer that shows images.
 */

/** One line of the chart. */
export interface ChartSeries {
  name: string;
  points: Array<[number, number]>;
  /** Dashed line (baselines). */
  dashed?: boolean;
}

/** Chart options. */
export interface LineChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: ChartSeries[];
  /** Logarithmic (base 2) x axis, e.g. for connection counts. */
  xLog2?: boolean;
  /** Logarithmic (base 10) y axis, e.g. for latencies that span milliseconds to seconds. */
  yLog10?: boolean;
  /** Horizontal reference lines (aims). */
  hLines?: Array<{ y: number; label: string }>;
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function niceStep(range: number, ticks: number): number {
  const raw = range / ticks;
  const mag = 10 ** Math.floor(Math.log10(raw || 1));
  const n = raw / mag;
  return (n <= 1 ? 1 : n <= 2 ? 2 : n <= 5 ? 5 : 10) * mag;
}

function fmt(n: number): string {
  if (Math.abs(n) >= 1e6) return `${+(n / 1e6).toFixed(1)}M`;
  if (Math.abs(n) >= 1e3) return `${+(n / 1e3).toFixed(1)}k`;
  return `${+n.toFixed(2)}`;
}

/** Render a line chart as an SVG document. */
export function lineChart(o: LineChartOptions): string {
  const W = 680;
  const H = 380;
  const m = { l: 70, r: 170, t: 40, b: 55 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const all = o.series.flatMap((s) => s.points);
  const xs = all.map((p) => p[0]);
  const ys = [...all.map((p) => p[1]), ...(o.hLines ?? []).map((h) => h.y)];
  const tx = (x: number) => (o.xLog2 ? Math.log2(Math.max(x, 1e-9)) : x);
  const xMin = Math.min(...xs.map(tx), o.xLog2 ? Infinity : 0);
  const xMax = Math.max(...xs.map(tx), xMin + 1);
  const yStep = niceStep(Math.max(...ys, 1), 5);
  const yMax = Math.ceil(Math.max(...ys, 1) / yStep) * yStep;
  const positive = ys.filter((y) => y > 0);
  const lMin = Math.floor(Math.log10(Math.min(...positive, 1)));
  const lMax = Math.max(Math.ceil(Math.log10(Math.max(...positive, 10))), lMin + 1);
  const px = (x: number) => m.l + ((tx(x) - xMin) / (xMax - xMin || 1)) * pw;
  const py = o.yLog10
    ? (y: number) => m.t + ph - ((Math.log10(Math.max(y, 10 ** lMin)) - lMin) / (lMax - lMin)) * ph
    : (y: number) => m.t + ph - (y / yMax) * ph;
  const yTicks: number[] = [];
  if (o.yLog10) for (let l = lMin; l <= lMax; l++) yTicks.push(10 ** l);
  else for (let y = 0; y <= yMax + 1e-9; y += yStep) yTicks.push(y);
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
  );
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(`<text x="${W / 2 - m.r / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${esc(o.title)}</text>`);
  for (const y of yTicks) {
    out.push(`<line x1="${m.l}" x2="${m.l + pw}" y1="${py(y)}" y2="${py(y)}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${m.l - 6}" y="${py(y) + 4}" text-anchor="end">${fmt(y)}</text>`);
  }
  const xTicks = [...new Set(xs)].sort((a, b) => a - b);
  for (const x of xTicks.length <= 12 ? xTicks : xTicks.filter((_, i) => i % Math.ceil(xTicks.length / 10) === 0)) {
    out.push(`<line x1="${px(x)}" x2="${px(x)}" y1="${m.t + ph}" y2="${m.t + ph + 4}" stroke="#333"/>`);
    out.push(`<text x="${px(x)}" y="${m.t + ph + 17}" text-anchor="middle">${fmt(x)}</text>`);
  }
  out.push(`<line x1="${m.l}" x2="${m.l}" y1="${m.t}" y2="${m.t + ph}" stroke="#333"/>`);
  out.push(`<line x1="${m.l}" x2="${m.l + pw}" y1="${m.t + ph}" y2="${m.t + ph}" stroke="#333"/>`);
  out.push(`<text x="${m.l + pw / 2}" y="${H - 12}" text-anchor="middle">${esc(o.xLabel)}</text>`);
  out.push(`<text transform="translate(16 ${m.t + ph / 2}) rotate(-90)" text-anchor="middle">${esc(o.yLabel)}</text>`);
  for (const h of o.hLines ?? []) {
    out.push(`<line x1="${m.l}" x2="${m.l + pw}" y1="${py(h.y)}" y2="${py(h.y)}" stroke="#888" stroke-dasharray="2 3"/>`);
    out.push(`<text x="${m.l + pw - 4}" y="${py(h.y) - 4}" text-anchor="end" fill="#555">${esc(h.label)}</text>`);
  }
  o.series.forEach((s, i) => {
    const c = COLORS[i % COLORS.length];
    const pts = [...s.points].sort((a, b) => a[0] - b[0]);
    if (pts.length > 0) {
      out.push(
        `<polyline fill="none" stroke="${c}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''} points="${pts.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(' ')}"/>`,
      );
      if (pts.length <= 30)
        for (const [x, y] of pts) out.push(`<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="3" fill="${c}"/>`);
    }
    const ly = m.t + 10 + i * 18;
    out.push(
      `<line x1="${m.l + pw + 12}" x2="${m.l + pw + 32}" y1="${ly}" y2="${ly}" stroke="${c}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`,
    );
    out.push(`<text x="${m.l + pw + 36}" y="${ly + 4}">${esc(s.name)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
