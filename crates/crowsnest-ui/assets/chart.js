"use strict";
// crowsnest web UI: a small time-series line chart drawn as SVG.
// Time runs left to right in the browser's zone; one unit on the y axis from 0; each series is
// one <path class="series" data-points="N"> (a gap where a value is absent, never a 0);
// limits are dashed horizontal <line class="limit">. Hovering shows every value at that time.
(function (CN) {
  const SVG_NS = "http://www.w3.org/2000/svg";
  const W = 600, H = 210, L = 62, R = 10, T = 8, B = 22;
  // Tick spacings on the time axis, in milliseconds.
  const TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800,
    21600, 43200, 86400, 172800].map((s) => s * 1000);
  // A limit this many times above the data is named in the legend but not drawn, so that it
  // does not flatten the data into the bottom of the chart.
  const OFF_SCALE = 20;

  function s(tag, attrs, text) {
    const e = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) if (v !== null && v !== undefined) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // A round step and top for a y axis holding `max` in about four steps. With `binary`, steps
  // are round in KiB/MiB/GiB.
  function niceScale(max, binary) {
    if (!(max > 0)) max = 1;
    let unit = 1;
    if (binary) while (max / unit >= 1024) unit *= 1024;
    const m = max / unit;
    const raw = m / 4;
    const p = Math.pow(10, Math.floor(Math.log10(raw)));
    const f = raw / p;
    let step = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10) * p * unit;
    if (binary && step < 1) step = 1; // no fractions of a byte
    return { step, top: Math.ceil(max / step - 1e-9) * step };
  }

  // Index of the point of `pts` (sorted by time) nearest to `t`.
  function nearest(pts, t) {
    let lo = 0, hi = pts.length - 1;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (pts[mid][0] < t) lo = mid; else hi = mid;
    }
    return Math.abs(pts[lo][0] - t) <= Math.abs(pts[hi][0] - t) ? lo : hi;
  }

  class Chart {
    // o: {id, title, fmt(v) -> text, binary, series: [{key, label, color, dash}],
    //     lines: [{key, label, color}], empty: text when there is no data}
    constructor(parent, o) {
      this.o = o;
      this.legend = CN.el("div", { class: "legend" });
      this.svg = s("svg", { viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": o.title });
      this.tip = CN.el("div", { class: "tip" });
      this.root = CN.el("section", { class: "chart", "data-chart": o.id },
        CN.el("h3", { text: o.title }), this.legend, this.svg, this.tip);
      parent.append(this.root);
      this.svg.addEventListener("mousemove", (e) => this.hover(e));
      this.svg.addEventListener("mouseleave", () => this.unhover());
      this.view = null;
    }

    // d: {series: {key: [[unix ms, value or null], ...] sorted by time}, lines: {key: value},
    //     xmin, xmax (unix ms), note: text shown when there is no data}
    update(d) {
      const o = this.o;
      const fmt = o.fmt || CN.fmtNum;
      const xmin = d.xmin;
      const xmax = Math.max(d.xmax, d.xmin + 1000);
      const series = o.series.map((sd) => ({
        sd, pts: (d.series[sd.key] || []).filter((p) => p[0] >= xmin && p[0] <= xmax),
      }));
      let dataMax = 0;
      let any = false;
      for (const { pts } of series) {
        for (const [, v] of pts) {
          if (v !== null && isFinite(v)) { any = true; if (v > dataMax) dataMax = v; }
        }
      }
      const lines = (o.lines || []).map((ld) => {
        const v = d.lines ? d.lines[ld.key] : null;
        const ok = v !== null && v !== undefined && isFinite(v) && v > 0;
        return { ld, v: ok ? v : null, drawn: ok && (!any || dataMax === 0 ? false : v <= dataMax * OFF_SCALE) };
      });
      let max = dataMax;
      for (const l of lines) if (l.drawn && l.v > max) max = l.v;
      const { step, top } = niceScale(max * 1.05, o.binary);
      const px = (t) => L + ((t - xmin) / (xmax - xmin)) * (W - L - R);
      const py = (v) => T + (1 - Math.min(v, top) / top) * (H - T - B);
      this.view = { xmin, xmax, px, series, fmt };

      const svg = this.svg;
      svg.replaceChildren();
      // y grid and labels
      for (let i = 0, v = 0; any && v <= top * (1 + 1e-9) && i < 20; i++, v = i * step) {
        const y = py(v).toFixed(1);
        svg.append(s("line", { class: "grid", x1: L, x2: W - R, y1: y, y2: y }));
        svg.append(s("text", { x: L - 5, y: Number(y) + 3, "text-anchor": "end" }, fmt(v)));
      }
      // time ticks, aligned in the browser's zone
      const span = xmax - xmin;
      const xstep = TIME_STEPS.find((st) => span / st <= 6) || 86400000 * Math.ceil(span / 6 / 86400000);
      const off = new Date(xmin).getTimezoneOffset() * 60000;
      const label = (t) => (xstep >= 86400000 ? CN.fmtDay(t)
        : span > 86400000 ? CN.fmtDay(t) + " " + CN.fmtMinute(t)
        : xstep >= 60000 ? CN.fmtMinute(t) : CN.fmtTime(t));
      for (let t = Math.ceil((xmin - off) / xstep) * xstep + off, i = 0; t <= xmax && i < 12; t += xstep, i++) {
        const x = px(t).toFixed(1);
        svg.append(s("line", { class: "grid", x1: x, x2: x, y1: T, y2: H - B }));
        svg.append(s("text", { x, y: H - 7, "text-anchor": "middle" }, label(t)));
      }
      svg.append(s("line", { class: "axis", x1: L, x2: W - R, y1: H - B, y2: H - B }));
      svg.append(s("line", { class: "axis", x1: L, x2: L, y1: T, y2: H - B }));
      // the series: a gap wherever a value is absent
      for (const { sd, pts } of series) {
        let path = "";
        let n = 0;
        let pen = false;
        for (const [t, v] of pts) {
          if (v === null || !isFinite(v)) { pen = false; continue; }
          // a lone point is drawn as a dot (a zero-length segment with round caps)
          path += (pen ? "L" : "M") + px(t).toFixed(1) + " " + py(v).toFixed(1) + (pen ? "" : "l0 0");
          pen = true;
          n++;
        }
        if (n === 0) continue;
        svg.append(s("path", {
          class: "series", d: path, stroke: sd.color, "stroke-dasharray": sd.dash ? "4 3" : null,
          "data-series": sd.key, "data-points": n,
        }));
      }
      for (const l of lines) {
        if (!l.drawn) continue;
        const y = py(l.v).toFixed(1);
        svg.append(s("line", { class: "limit", x1: L, x2: W - R, y1: y, y2: y, stroke: l.ld.color, "data-line": l.ld.key }));
      }
      if (!any) {
        svg.append(s("text", { class: "empty", x: (L + W - R) / 2, y: (T + H - B) / 2, "text-anchor": "middle" },
          d.note || o.empty || "no data"));
      }
      // legend: the newest value of each series, and the limits
      const items = [];
      for (const { sd, pts } of series) {
        let last = null;
        let at = null;
        for (let i = pts.length - 1; i >= 0; i--) if (pts[i][1] !== null && isFinite(pts[i][1])) { [at, last] = pts[i]; break; }
        if (last === null) continue;
        items.push(CN.el("span", { class: "item", "data-series": sd.key, "data-last": last, "data-at": at },
          CN.el("i", { style: "background:" + sd.color }), sd.label + " ", CN.el("b", { text: fmt(last) })));
      }
      for (const l of lines) {
        if (l.v === null) continue;
        items.push(CN.el("span", { class: "item", "data-line": l.ld.key, "data-last": l.v },
          CN.el("i", { style: "background:" + l.ld.color }), l.ld.label + " ",
          CN.el("b", { text: fmt(l.v) }), l.drawn ? "" : " (off scale)"));
      }
      if (any && d.note) items.push(CN.el("span", { class: "item", text: d.note }));
      this.legend.replaceChildren(...items);
    }

    hover(e) {
      const view = this.view;
      if (!view) return;
      const rect = this.svg.getBoundingClientRect();
      const x = ((e.clientX - rect.left) / rect.width) * W;
      if (x < L || x > W - R) return this.unhover();
      const t = view.xmin + ((x - L) / (W - L - R)) * (view.xmax - view.xmin);
      const rows = [];
      let at = null;
      for (const { sd, pts } of view.series) {
        if (!pts.length) continue;
        const p = pts[nearest(pts, t)];
        if (at === null) at = p[0];
        rows.push(sd.label + ": " + (p[1] === null ? "–" : view.fmt(p[1])));
      }
      if (at === null) return this.unhover();
      let cursor = this.svg.querySelector("line.cursor");
      if (!cursor) {
        cursor = s("line", { class: "cursor", y1: T, y2: H - B });
        this.svg.append(cursor);
      }
      const cx = view.px(at).toFixed(1);
      cursor.setAttribute("x1", cx);
      cursor.setAttribute("x2", cx);
      this.tip.replaceChildren(CN.el("div", { text: CN.fmtDateTime(at) }), ...rows.map((r) => CN.el("div", { text: r })));
      const box = this.root.getBoundingClientRect();
      this.tip.style.display = "block";
      let left = e.clientX - box.left + 14;
      if (left + this.tip.offsetWidth > box.width) left = e.clientX - box.left - this.tip.offsetWidth - 14;
      this.tip.style.left = Math.max(0, left) + "px";
      this.tip.style.top = e.clientY - box.top + 14 + "px";
    }

    unhover() {
      this.tip.style.display = "none";
      const c = this.svg.querySelector("line.cursor");
      if (c) c.remove();
    }
  }

  CN.Chart = Chart;
  CN.COLORS = ["#1f6feb", "#e8590c", "#2f9e44", "#ae3ec9", "#c92a2a", "#0c8599", "#5c940d", "#364fc7"];
})(window.CN);
