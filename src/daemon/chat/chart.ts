import type { Series } from '../../ops-server/analysis/schema.js';

/**
 * A run's key series as a PNG for a chat (Slack, Discord): echarts renders SVG server-side (no DOM, no canvas, no
 * native build), resvg rasterizes it. echarts is loaded on first use only: it is large and most
 * daemons never draw a chart.
 */
export async function seriesPng(series: Series, title: string, opts: { width?: number; height?: number; threshold?: number | null } = {}): Promise<Buffer> {
  const width = opts.width ?? 900;
  const height = opts.height ?? 340;
  const echarts = await import('echarts');
  const chart = echarts.init(null, null, { renderer: 'svg', ssr: true, width, height });
  let svg: string;
  try {
    chart.setOption({
      animation: false,
      backgroundColor: '#ffffff',
      title: { text: title, left: 12, top: 8, textStyle: { fontSize: 15, fontWeight: 'bold' } },
      grid: { left: 64, right: 24, top: 52, bottom: 40 },
      xAxis: { type: 'time', axisLabel: { hideOverlap: true } },
      // the unit is in the title; the axis starts near the data, not at zero
      yAxis: { type: 'value', scale: true, ...(typeof opts.threshold === 'number' ? { min: (v: { min: number }) => Math.floor(Math.min(v.min, opts.threshold as number) * 0.9) } : {}) },
      series: [
        {
          type: 'line',
          name: series.label,
          showSymbol: series.points.length <= 40,
          connectNulls: false,
          lineStyle: { width: 2 },
          areaStyle: { opacity: 0.08 },
          data: series.points.map((p) => [Date.parse(p.t), p.v]),
          // the finding's limit, so the chart says at a glance how far over it the series was
          ...(typeof opts.threshold === 'number'
            ? { markLine: { symbol: 'none', silent: true, lineStyle: { color: '#d62828', type: 'dashed' }, label: { formatter: `limit ${opts.threshold}`, position: 'insideEndTop' }, data: [{ yAxis: opts.threshold }] } }
            : {}),
        },
      ],
    });
    svg = chart.renderToSVGString();
  } finally {
    // an undisposed SSR chart keeps timers that hold the process open
    chart.dispose();
  }
  const { renderAsync } = await import('@resvg/resvg-js');
  // rasterized off the main thread: the daemon keeps acking envelopes meanwhile
  const image = await renderAsync(svg, { fitTo: { mode: 'width', value: width * 1.5 }, background: '#ffffff', font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' } });
  return image.asPng();
}
