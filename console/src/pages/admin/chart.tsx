/**
 * A small SVG chart of a query result (bar, line or pie): one label column, one numeric column.
 * No library: the result is at most READ_MODEL_SQL_MAX_ROWS rows and the shapes are simple; an SVG
 * scales with the page and carries its own accessible name (the table stays the full answer).
 */
export type ChartKind = 'bar' | 'line' | 'pie';

const W = 640;
const H = 280;
const PAD = { l: 48, r: 12, t: 12, b: 56 };
const COLORS = ['#1f4fc4', '#1a7f37', '#b42318', '#8a5a00', '#6f42c1', '#0a7b83', '#c2410c', '#57606a'];

export const toNumber = (v: unknown): number | null => {
  if (typeof v === 'number') return Number.isFinite(v) ? v : null;
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  if (typeof v === 'boolean') return v ? 1 : 0;
  return null;
};

export function Chart({ kind, labels, values, title }: { kind: ChartKind; labels: string[]; values: number[]; title: string }) {
  const n = Math.min(labels.length, values.length, kind === 'line' ? 1000 : 50);
  const ls = labels.slice(0, n);
  const vs = values.slice(0, n);
  const desc = `${kind} chart of ${n} values${n < labels.length ? ` (first ${n} of ${labels.length})` : ''}`;
  if (!n) return <p class="muted">Nothing to chart.</p>;
  if (kind === 'pie') {
    const total = vs.reduce((a, b) => a + Math.max(0, b), 0) || 1;
    let angle = -Math.PI / 2;
    const r = 110;
    const cx = 140;
    const cy = H / 2;
    return (
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-labelledby="chart-title chart-desc" style={{ width: '100%', maxWidth: `${W}px` }}>
        <title id="chart-title">{title}</title>
        <desc id="chart-desc">{desc}</desc>
        {vs.map((v, i) => {
          const a = (Math.max(0, v) / total) * Math.PI * 2;
          const x1 = cx + r * Math.cos(angle);
          const y1 = cy + r * Math.sin(angle);
          angle += a;
          const x2 = cx + r * Math.cos(angle);
          const y2 = cy + r * Math.sin(angle);
          const d = a >= Math.PI * 2 - 1e-9
            ? `M ${cx - r} ${cy} a ${r} ${r} 0 1 0 ${2 * r} 0 a ${r} ${r} 0 1 0 ${-2 * r} 0`
            : `M ${cx} ${cy} L ${x1} ${y1} A ${r} ${r} 0 ${a > Math.PI ? 1 : 0} 1 ${x2} ${y2} Z`;
          return <path key={i} d={d} fill={COLORS[i % COLORS.length]}><title>{`${ls[i]}: ${v}`}</title></path>;
        })}
        {ls.slice(0, 12).map((l, i) => (
          <g key={i} transform={`translate(290 ${24 + i * 20})`}>
            <rect width="12" height="12" fill={COLORS[i % COLORS.length]} />
            <text x="18" y="11" font-size="12" fill="currentColor">{`${l.slice(0, 40)} (${vs[i]})`}</text>
          </g>
        ))}
      </svg>
    );
  }
  const max = Math.max(0, ...vs);
  const min = Math.min(0, ...vs);
  const span = max - min || 1;
  const iw = W - PAD.l - PAD.r;
  const ih = H - PAD.t - PAD.b;
  const y = (v: number) => PAD.t + ih - ((v - min) / span) * ih;
  const step = iw / n;
  return (
    <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-labelledby="chart-title chart-desc" style={{ width: '100%', maxWidth: `${W}px` }}>
      <title id="chart-title">{title}</title>
      <desc id="chart-desc">{desc}</desc>
      <line x1={PAD.l} x2={W - PAD.r} y1={y(0)} y2={y(0)} stroke="currentColor" stroke-opacity="0.4" />
      <text x={PAD.l - 6} y={y(max) + 4} font-size="11" text-anchor="end" fill="currentColor">{max}</text>
      {min < 0 && <text x={PAD.l - 6} y={y(min) + 4} font-size="11" text-anchor="end" fill="currentColor">{min}</text>}
      {kind === 'bar'
        ? vs.map((v, i) => (
          <rect key={i} x={PAD.l + i * step + step * 0.1} width={step * 0.8} y={Math.min(y(v), y(0))} height={Math.abs(y(v) - y(0))} fill={COLORS[0]}>
            <title>{`${ls[i]}: ${v}`}</title>
          </rect>
        ))
        : <polyline fill="none" stroke={COLORS[0]} stroke-width="2" points={vs.map((v, i) => `${PAD.l + i * step + step / 2},${y(v)}`).join(' ')} />}
      {n <= 24 && ls.map((l, i) => (
        <text key={i} font-size="11" fill="currentColor" text-anchor="end" transform={`translate(${PAD.l + i * step + step / 2} ${H - PAD.b + 14}) rotate(-35)`}>{l.slice(0, 16)}</text>
      ))}
    </svg>
  );
}
