// The dashboard's charts, drawn with uPlot (served from its npm package) from
// the JSON a page embeds in <script type="application/json"> blocks. Plain
// browser script: no build step, nothing fetched from elsewhere.
/* global uPlot */
(() => {
  const data = (id) => {
    const el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  };
  const width = (el) => Math.max(320, Math.min(1300, el.clientWidth || 900));
  const pps = (v) => (v == null ? '' : v >= 1e6 ? `${(v / 1e6).toFixed(3)} Mpps` : `${Math.round(v / 1e3)} kpps`);

  /** Vertical lines at the change points, labelled with their change. */
  function changePointPlugin(points) {
    return {
      hooks: {
        draw: [
          (u) => {
            const ctx = u.ctx;
            ctx.save();
            for (const p of points) {
              if (!p.at) continue;
              const x = Math.round(u.valToPos(Date.parse(p.at) / 1000, 'x', true));
              ctx.strokeStyle = p.direction === 'regression' ? '#cf222e' : '#1a7f37';
              ctx.lineWidth = 2 * devicePixelRatio;
              ctx.setLineDash([6 * devicePixelRatio, 4 * devicePixelRatio]);
              ctx.beginPath();
              ctx.moveTo(x, u.bbox.top);
              ctx.lineTo(x, u.bbox.top + u.bbox.height);
              ctx.stroke();
              ctx.fillStyle = ctx.strokeStyle;
              ctx.font = `${12 * devicePixelRatio}px sans-serif`;
              ctx.fillText(p.label, x + 4 * devicePixelRatio, u.bbox.top + 14 * devicePixelRatio);
            }
            ctx.restore();
          },
        ],
      },
    };
  }

  const nightly = data('nightly-data');
  if (nightly) {
    nightly.scenarios.forEach((s, i) => {
      const el = document.getElementById(`nightly-${i}`);
      if (!el) return;
      const opts = {
        width: width(el),
        height: 260,
        cursor: { drag: { x: true, y: false } },
        scales: { x: { time: true } },
        series: [
          {},
          { label: 'min', stroke: 'rgba(9,105,218,0.25)', value: (_u, v) => pps(v) },
          { label: 'median', stroke: '#0969da', width: 2, value: (_u, v) => pps(v) },
          { label: 'max', stroke: 'rgba(9,105,218,0.25)', value: (_u, v) => pps(v) },
        ],
        bands: [{ series: [3, 1], fill: 'rgba(9,105,218,0.10)' }],
        axes: [{}, { values: (_u, vals) => vals.map(pps), size: 100 }],
        plugins: [changePointPlugin(s.changePoints)],
      };
      const plot = new uPlot(opts, [s.t, s.min, s.median, s.max], el);
      el.dataset.points = String(s.t.length);
      el.dataset.changePoints = String(s.changePoints.filter((p) => p.at).length);
      // A click (not a drag) on a night opens that night's measurements.
      let down = null;
      plot.over.addEventListener('mousedown', (e) => {
        down = e.clientX;
      });
      plot.over.addEventListener('mouseup', (e) => {
        const idx = plot.cursor.idx;
        if (down !== null && Math.abs(e.clientX - down) < 3 && idx != null)
          location.href = `/nightly/${encodeURIComponent(nightly.tree)}/${encodeURIComponent(s.jobs[idx])}`;
        down = null;
      });
    });
  }

  const perf = data('perf-data');
  if (perf) {
    perf.forEach((p, i) => {
      const el = document.getElementById(`perf-${i}`);
      if (!el) return;
      const n = Math.max(p.base.length, p.series.length);
      const rounds = Array.from({ length: n }, (_, k) => k + 1);
      const pad = (xs) => rounds.map((_, k) => (k < xs.length ? xs[k] : null));
      new uPlot(
        {
          title: el.dataset.title,
          width: width(el),
          height: 220,
          scales: { x: { time: false } },
          series: [
            { label: 'round' },
            { label: 'base', stroke: '#68727d', width: 2, points: { show: true }, value: (_u, v) => pps(v) },
            { label: 'series', stroke: '#0969da', width: 2, points: { show: true }, value: (_u, v) => pps(v) },
          ],
          axes: [{ label: 'round' }, { values: (_u, vals) => vals.map(pps), size: 100 }],
        },
        [rounds, pad(p.base), pad(p.series)],
        el,
      );
      el.dataset.rounds = String(n);
    });
  }
})();
