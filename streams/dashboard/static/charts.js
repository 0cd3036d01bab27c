"use strict";
// Charts of /api/series, drawn as inline SVG (no library, no CDN): one <svg class="chart"> per chart, one <path
// class="series"> per series (data-series: its name, data-points: how many values it holds), polled every 2 s.
// A p95 series is dashed; a null point (a sample without a value: no rate yet, nothing applied) breaks the line.
(() => {
  const POLL_MS = 2000;
  const SVG = "http://www.w3.org/2000/svg";
  const W = 640, H = 220, LEFT = 56, RIGHT = 12, TOP = 10, BOTTOM = 24;
  const COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"];

  function el(name, attributes, text) {
    const node = document.createElementNS(SVG, name);
    for (const [key, value] of Object.entries(attributes || {})) node.setAttribute(key, String(value));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function number(value, unit) {
    if (unit === "s") return value < 1 ? `${Math.round(value * 1000)} ms` : `${+value.toPrecision(3)} s`;
    if (value >= 1e6) return `${+(value / 1e6).toPrecision(3)}M`;
    if (value >= 1e3) return `${+(value / 1e3).toPrecision(3)}k`;
    return `${+value.toPrecision(3)}`;
  }

  function clock(seconds) {
    return new Date(seconds * 1000).toTimeString().slice(0, 8);
  }

  // value -> y pixel: linear from 0, or log10 between the decades around the values (latency).
  function yScale(values, log) {
    const top = TOP, bottom = H - BOTTOM;
    if (log) {
      const positive = values.filter((v) => v > 0);
      const low = Math.floor(Math.log10(Math.min(...positive, 0.01)));
      const high = Math.max(Math.ceil(Math.log10(Math.max(...positive, 1))), low + 1);
      const ticks = [];
      for (let d = low; d <= high; d += 1) ticks.push(10 ** d);
      return { ticks, y: (v) => bottom - ((Math.log10(v) - low) / (high - low)) * (bottom - top) };
    }
    const max = Math.max(...values, 0) || 1;
    const step = 10 ** Math.floor(Math.log10(max));
    const high = Math.ceil(max / step) * step;
    return { ticks: [0, high / 2, high], y: (v) => bottom - (v / high) * (bottom - top) };
  }

  const valued = (series) => series.points.filter((p) => p[1] !== null);

  function draw(chart, interval) {
    const svg = el("svg", { class: "chart", "data-chart": chart.id, viewBox: `0 0 ${W} ${H}`,
      role: "img", "aria-label": chart.title });
    const points = chart.series.flatMap(valued);
    svg.append(el("rect", { class: "frame", x: LEFT, y: TOP, width: W - LEFT - RIGHT, height: H - TOP - BOTTOM }));
    if (!points.length) {
      svg.append(el("text", { class: "empty", x: W / 2, y: H / 2, "text-anchor": "middle" },
        "nothing moved yet (a rate needs two samples)"));
      return svg;
    }
    const times = points.map((p) => p[0]);
    let t0 = Math.min(...times), t1 = Math.max(...times);
    if (t1 - t0 < interval) t0 = t1 - interval;
    const x = (t) => LEFT + ((t - t0) / (t1 - t0)) * (W - LEFT - RIGHT);
    const log = chart.scale === "log";
    const scale = yScale(points.map((p) => p[1]), log);
    for (const tick of scale.ticks) {
      const y = scale.y(tick);
      svg.append(el("line", { class: "grid", x1: LEFT, x2: W - RIGHT, y1: y, y2: y }));
      svg.append(el("text", { class: "tick", x: LEFT - 4, y: y + 4, "text-anchor": "end" }, number(tick, chart.unit)));
    }
    for (const [t, anchor] of [[t0, "start"], [(t0 + t1) / 2, "middle"], [t1, "end"]]) {
      svg.append(el("text", { class: "tick", x: x(t), y: H - 6, "text-anchor": anchor }, clock(t)));
    }
    chart.series.forEach((series, index) => {
      const colour = COLOURS[index % COLOURS.length];
      // A value between two gaps draws no line: it gets a dot of its own.
      let d = "", run = [];
      const dots = [];
      for (const [t, v] of [...series.points, [null, null]]) {
        if (v === null || (log && v <= 0)) {
          if (run.length === 1) dots.push(run[0]);
          run = [];
          continue;
        }
        run.push([x(t), scale.y(v)]);
        d += `${run.length === 1 ? "M" : "L"}${x(t).toFixed(1)},${scale.y(v).toFixed(1)} `;
      }
      const path = el("path", { class: "series", d: d.trim() || "M0,0", stroke: colour, fill: "none",
        "data-series": series.name, "data-points": valued(series).length });
      if (series.name.endsWith(" p95")) path.setAttribute("stroke-dasharray", "5 3");
      path.append(el("title", {}, series.name));
      svg.append(path);
      for (const [cx, cy] of dots) svg.append(el("circle", { class: "lone", cx, cy, r: 2, fill: colour }));
      const values = valued(series);
      const [tl, vl] = values[values.length - 1];
      if (!log || vl > 0) svg.append(el("circle", { cx: x(tl), cy: scale.y(vl), r: 2.5, fill: colour }));
    });
    return svg;
  }

  function legend(chart) {
    const list = document.createElement("ul");
    list.className = "legend";
    chart.series.forEach((series, index) => {
      const item = document.createElement("li");
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.background = COLOURS[index % COLOURS.length];
      const values = valued(series);
      const latest = values[values.length - 1][1];
      item.append(swatch, `${series.name} ${number(latest, chart.unit)}`);
      list.append(item);
    });
    if (chart.hidden) {
      const more = document.createElement("li");
      more.className = "hidden-count";
      more.textContent = `+${chart.hidden} quiet or smaller (filter by name to see them)`;
      list.append(more);
    }
    return list;
  }

  function render(data) {
    const box = document.querySelector("#charts");
    box.replaceChildren(...data.charts.map((chart) => {
      const figure = document.createElement("figure");
      figure.className = "chart";
      figure.dataset.chart = chart.id;
      const caption = document.createElement("figcaption");
      caption.textContent = `${chart.title} (${chart.unit})`;
      figure.append(caption, draw(chart, data.interval_s), legend(chart));
      return figure;
    }));
    document.querySelector("#charts-window").textContent =
      `the last ${data.points} samples, one every ${data.interval_s} s or more`;
  }

  async function poll() {
    try {
      const match = encodeURIComponent(document.querySelector("#series-match").value.trim());
      const response = await fetch(`/api/series?match=${match}`, { credentials: "same-origin" });
      if (response.ok) render(await response.json());
    } catch (error) {
      document.querySelector("#charts-window").textContent = `charts unavailable: ${error}`;
    }
    setTimeout(poll, POLL_MS);
  }

  poll();
})();
