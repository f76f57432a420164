// A hand-written SVG of panels on a shared x axis (the compressed day's actors and load over time; the
// simulator's throughput against hosts and over time), lines or steps, with a band and marked moments.

export interface Series {
  label: string;
  color: string;
  points: [number, number][];
  /** Draw as steps (a count) rather than a line. */
  step?: boolean;
  dashed?: boolean;
}

export interface Panel {
  title: string;
  yLabel: string;
  series: Series[];
  /** Horizontal band (e.g. the policy's dead band). */
  band?: { lo: number; hi: number; label: string };
  yMax?: number;
  /** Moments marked by a vertical line (e.g. a host failing). */
  marks?: { x: number; label: string }[];
}

const W = 900;
const PANEL_H = 190;
const LEFT = 60;
const RIGHT = 170;
const TOP = 40;
const GAP = 45;

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** A round step for axis ticks near `span / 5`. */
function tickStep(span: number): number {
  const raw = span / 5;
  const mag = 10 ** Math.floor(Math.log10(raw || 1));
  return [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
}

const num = (v: number) => (Number.isInteger(v) ? String(v) : v.toFixed(Math.max(0, 2 - Math.floor(Math.log10(Math.abs(v) || 1)))));

export function renderSvg(title: string, subtitle: string, xMax: number, panels: Panel[], xLabel = 'time since the start of the day (s)'): string {
  const H = TOP + panels.length * (PANEL_H + GAP) + 30;
  const pw = W - LEFT - RIGHT;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${LEFT}" y="16" font-size="14" font-weight="bold">${esc(title)}</text>`,
    `<text x="${LEFT}" y="31" fill="#555">${esc(subtitle)}</text>`,
  ];
  const xStep = tickStep(xMax);
  panels.forEach((p, k) => {
    const y0 = TOP + k * (PANEL_H + GAP) + 15;
    const all = p.series.flatMap((s) => s.points.map(([, y]) => y)).filter(Number.isFinite);
    const yMax = p.yMax ?? Math.max(1e-9, ...all, p.band?.hi ?? 0) * 1.1;
    const X = (x: number) => LEFT + (Math.min(x, xMax) / xMax) * pw;
    const Y = (y: number) => y0 + PANEL_H - (Math.min(y, yMax) / yMax) * PANEL_H;
    out.push(`<text x="${LEFT}" y="${y0 - 5}" font-weight="bold">${esc(p.title)}</text>`);
    out.push(`<rect x="${LEFT}" y="${y0}" width="${pw}" height="${PANEL_H}" fill="none" stroke="#999"/>`);
    const yStep = tickStep(yMax);
    for (let v = 0; v <= yMax + 1e-12; v += yStep) {
      out.push(`<line x1="${LEFT}" x2="${LEFT + pw}" y1="${Y(v)}" y2="${Y(v)}" stroke="#eee"/>`);
      out.push(`<text x="${LEFT - 5}" y="${Y(v) + 4}" text-anchor="end">${num(v)}</text>`);
    }
    for (let v = 0; v <= xMax + 1e-9; v += xStep) {
      out.push(`<line x1="${X(v)}" x2="${X(v)}" y1="${y0 + PANEL_H}" y2="${y0 + PANEL_H + 4}" stroke="#999"/>`);
      out.push(`<text x="${X(v)}" y="${y0 + PANEL_H + 15}" text-anchor="middle">${num(v)}</text>`);
    }
    out.push(`<text transform="translate(${LEFT - 42},${y0 + PANEL_H / 2}) rotate(-90)" text-anchor="middle">${esc(p.yLabel)}</text>`);
    if (p.band) {
      out.push(`<rect x="${LEFT}" y="${Y(p.band.hi)}" width="${pw}" height="${Math.max(0, Y(p.band.lo) - Y(p.band.hi))}" fill="#fe9" fill-opacity="0.5"/>`);
    }
    for (const m of p.marks ?? []) {
      out.push(`<line x1="${X(m.x)}" x2="${X(m.x)}" y1="${y0}" y2="${y0 + PANEL_H}" stroke="#c00" stroke-dasharray="2,2"/>`);
      out.push(`<text x="${X(m.x) + 2}" y="${y0 + 10}" fill="#c00" font-size="9">${esc(m.label)}</text>`);
    }
    p.series.forEach((s, i) => {
      const pts: string[] = [];
      let prev: [number, number] | undefined;
      for (const [x, y] of s.points) {
        if (!Number.isFinite(y)) continue;
        if (s.step && prev) pts.push(`${X(x).toFixed(1)},${Y(prev[1]).toFixed(1)}`);
        pts.push(`${X(x).toFixed(1)},${Y(y).toFixed(1)}`);
        prev = [x, y];
      }
      out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="1.6"${s.dashed ? ' stroke-dasharray="5,3"' : ''} points="${pts.join(' ')}"/>`);
      const ly = y0 + 12 + i * 16;
      out.push(`<line x1="${LEFT + pw + 10}" x2="${LEFT + pw + 30}" y1="${ly - 4}" y2="${ly - 4}" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="5,3"' : ''}/>`);
      out.push(`<text x="${LEFT + pw + 35}" y="${ly}">${esc(s.label)}</text>`);
    });
    if (p.band) {
      const ly = y0 + 12 + p.series.length * 16;
      out.push(`<rect x="${LEFT + pw + 10}" y="${ly - 9}" width="20" height="8" fill="#fe9"/>`);
      out.push(`<text x="${LEFT + pw + 35}" y="${ly}">${esc(p.band.label)}</text>`);
    }
  });
  out.push(`<text x="${LEFT + pw / 2}" y="${H - 8}" text-anchor="middle">${esc(xLabel)}</text>`);
  out.push('</svg>');
  return out.join('\n') + '\n';
}
