/**
 * A uPlot chart as a Preact component (uPlot: ~50 KB, canvas, fast). Only screens that chart
 * import this module, so uPlot stays out of the first load. Rules: the chart follows its
 * container's width (ResizeObserver); it is an image to assistive technology (role="img" with a
 * summary), and screens give the same numbers as text or a table beside it.
 */
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export type { uPlot };

export interface ChartProps {
  /** uPlot options without width/height (the component sets them). */
  options: Omit<uPlot.Options, 'width' | 'height'>;
  data: uPlot.AlignedData;
  height?: number;
  /** What the chart shows, in words (its accessible name). */
  label: string;
  /** Called with the uPlot instance after it is (re)made. */
  onReady?: (u: uPlot) => void;
}

export function Chart({ options, data, height = 220, label, onReady }: ChartProps) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);

  useEffect(() => {
    const el = box.current!;
    const u = new uPlot({ ...options, width: Math.max(el.clientWidth, 200), height }, data, el);
    plot.current = u;
    onReady?.(u);
    const ro = new ResizeObserver(() => u.setSize({ width: Math.max(el.clientWidth, 200), height }));
    ro.observe(el);
    return () => {
      ro.disconnect();
      u.destroy();
      plot.current = null;
    };
    // A new options object means a new chart; new data only updates it (below).
  }, [options, height]);

  useEffect(() => {
    plot.current?.setData(data);
  }, [data]);

  return <div class="chart" ref={box} role="img" aria-label={label} />;
}

/** Bars (uPlot's bar path builder), for counts per bucket. */
export const bars = (size = 0.7) => uPlot.paths.bars!({ size: [size, 60] });

/** Colours that read on light and dark backgrounds, in a fixed order. */
export const PALETTE = ['#3b6fe0', '#e0793b', '#2f9e5b', '#c2417a', '#8a63d2', '#b8901a', '#1f9bb3', '#7a7a7a'];
