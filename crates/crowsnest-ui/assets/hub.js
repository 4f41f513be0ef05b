"use strict";
// crowsnest web UI, hub pages (the model API, Heapster's /api/v1/model, all relative):
//   /                                         nodes, namespaces and pods, cluster charts
//   /nodes/<node>[/freecontainers/<name>]     a node (or a system container on it)
//   /namespaces/<ns>[/pods/<pod>[/containers/<name>]]
(function (CN) {
  const C = CN.COLORS;
  const EVERY = 5000;

  // The charts the model can fill (it keeps rates and gauges; block I/O per device, pids and
  // pressure stay with each node's agent).
  const CHARTS = [
    {
      id: "cpu", title: "CPU (cores)", fmt: CN.fmtCores,
      series: [{ key: "usage", label: "usage", color: C[0], metric: "cpu/usage_rate", scale: 1e-3 }],
      lines: [
        { key: "limit", label: "limit", color: C[4], metric: "cpu/limit", scale: 1e-3 },
        { key: "request", label: "request", color: C[3], metric: "cpu/request", scale: 1e-3 },
        { key: "capacity", label: "capacity", color: C[5], metric: "cpu/node_capacity", scale: 1e-3 },
      ],
    },
    {
      id: "memory", title: "Memory", fmt: CN.fmtBytes, binary: true,
      series: [
        { key: "usage", label: "usage", color: C[0], metric: "memory/usage" },
        { key: "working_set", label: "working set", color: C[2], metric: "memory/working_set" },
      ],
      lines: [
        { key: "limit", label: "limit", color: C[4], metric: "memory/limit" },
        { key: "request", label: "request", color: C[3], metric: "memory/request" },
        { key: "capacity", label: "capacity", color: C[5], metric: "memory/node_capacity" },
      ],
    },
    {
      id: "network", title: "Network", fmt: CN.fmtRate, binary: true, empty: "no network figures for this entity",
      series: [
        { key: "rx", label: "rx", color: C[0], metric: "network/rx_rate" },
        { key: "tx", label: "tx", color: C[1], metric: "network/tx_rate" },
      ],
    },
  ];
  const RANGES = [
    { key: "5m", label: "5 min", ms: 300e3 },
    { key: "15m", label: "15 min", ms: 900e3 },
    { key: "all", label: "all kept", ms: null },
  ];

  const enc = CN.encPath;
  const model = "api/v1/model/";
  const points = (r) => (r && r.metrics ? r.metrics.map((p) => [CN.parseTime(p.timestamp), p.floatValue]) : []);
  const iso = (ms) => new Date(ms).toISOString();

  // The newest value of `metric` of the entity at `base` (a model path ending in `metrics`).
  async function latest(base, metric, since) {
    const r = await CN.getJSON(base + "/" + metric + (since ? "?start=" + encodeURIComponent(since) : ""));
    const p = points(r);
    return p.length ? p[p.length - 1][1] : null;
  }

  // The charts of one model entity.
  function entityCharts(parent, base) {
    let range = RANGES[0];
    const grid = CN.el("div", { class: "charts" });
    const note = CN.el("span", { class: "note" });
    let poller = null;
    parent.append(CN.el("div", {}, CN.rangePicker(RANGES, range.key, (key) => {
      range = RANGES.find((r) => r.key === key) || RANGES[0];
      if (poller) poller.now();
    }), " ", note), grid);
    const charts = {};
    for (const ch of CHARTS) charts[ch.id] = new CN.Chart(grid, ch);
    poller = CN.poll(async () => {
      const names = new Set(await CN.getJSON(base));
      const jobs = [];
      for (const ch of CHARTS) {
        for (const sd of ch.series) if (names.has(sd.metric)) jobs.push([ch.id, "s", sd]);
        for (const ld of ch.lines || []) if (names.has(ld.metric)) jobs.push([ch.id, "l", ld]);
      }
      const answers = await Promise.all(jobs.map((j) => CN.getJSON(base + "/" + j[2].metric)));
      const data = {};
      let tmin = Infinity, tmax = -Infinity;
      answers.forEach((r, i) => {
        const [id, kind, d] = jobs[i];
        const e = data[id] || (data[id] = { series: {}, lines: {} });
        const pts = points(r).map(([t, v]) => [t, v * (d.scale || 1)]);
        for (const [t] of pts) { if (t < tmin) tmin = t; if (t > tmax) tmax = t; }
        if (kind === "s") e.series[d.key] = pts;
        else e.lines[d.key] = pts.length ? pts[pts.length - 1][1] : null;
      });
      if (!isFinite(tmax)) { tmax = Date.now(); tmin = tmax - 300e3; }
      const xmin = range.ms ? tmax - range.ms : Math.min(tmin, tmax - 60e3);
      note.textContent = "from the hub's model, refreshed every " + EVERY / 1000 + " s";
      for (const [id, chart] of Object.entries(charts)) {
        const d = data[id] || { series: {}, lines: {} };
        chart.update({ series: d.series, lines: d.lines, xmin, xmax: tmax, note: names.size ? null : "the model has nothing for this yet" });
      }
      CN.updated();
    }, EVERY);
  }

  function linkList(items) {
    return items.length
      ? CN.el("ul", { class: "links" }, ...items.map(([text, href]) => CN.el("li", {}, CN.el("a", { href, text }))))
      : CN.el("p", { class: "note", text: "none" });
  }

  // ---- overview ----
  async function overview(main) {
    const cards = CN.el("div", { class: "cards" });
    const nodesBody = CN.el("tbody");
    const nsBody = CN.el("tbody");
    const chartBox = CN.el("div");
    main.append(
      CN.el("h1", { text: "Cluster" }), cards, chartBox,
      CN.el("h2", { text: "Nodes" }),
      CN.el("table", { id: "nodes" }, CN.el("thead", {}, CN.el("tr", {},
        ...["node", "status", "agent", "last scrape", "containers", "CPU (cores)", "working set", "last error"]
          .map((h, i) => CN.el("th", { class: i >= 4 && i <= 6 ? "num" : null, text: h })))), nodesBody),
      CN.el("h2", { text: "Namespaces and pods" }),
      CN.el("table", { id: "namespaces" }, CN.el("thead", {}, CN.el("tr", {},
        CN.el("th", { text: "namespace" }), CN.el("th", { text: "pods" }),
        CN.el("th", { class: "num", text: "CPU (cores)" }), CN.el("th", { class: "num", text: "memory" }))), nsBody),
    );
    entityCharts(chartBox, model + "metrics");
    CN.poll(async () => {
      const [nodes, namespaces] = await Promise.all([CN.getJSON("api/v1/hub/nodes"), CN.getJSON(model + "namespaces")]);
      let hubNow = -Infinity;
      for (const n of nodes) if (n.last_attempt) hubNow = Math.max(hubNow, CN.parseTime(n.last_attempt));
      const since = isFinite(hubNow) ? iso(hubNow - 60e3) : null;
      const figures = await Promise.all(nodes.map((n) => {
        const base = model + "nodes/" + enc(n.name) + "/metrics";
        return Promise.all([latest(base, "cpu/usage_rate", since), latest(base, "memory/working_set", since)]);
      }));
      nodesBody.replaceChildren(...(nodes.length ? nodes.map((n, i) => CN.el("tr", { "data-node": n.name },
        CN.el("td", { class: "name" }, CN.el("a", { href: "nodes/" + enc(n.name), text: n.name })),
        CN.el("td", {}, CN.el("span", { class: n.healthy ? "badge up" : "badge down", text: n.healthy ? "up" : "down" })),
        CN.el("td", { class: "name", text: n.url }),
        CN.el("td", { text: n.last_success ? CN.fmtAgo(hubNow - CN.parseTime(n.last_success)) : "never" }),
        CN.el("td", { class: "num", text: String(n.containers) }),
        CN.el("td", { class: "num", text: CN.fmtCores(figures[i][0] === null ? null : figures[i][0] / 1000) }),
        CN.el("td", { class: "num", text: CN.fmtBytes(figures[i][1]) }),
        CN.el("td", { class: "name error", text: n.healthy ? "" : n.last_error || "" })))
        : [CN.el("tr", {}, CN.el("td", { colspan: 8, class: "note", text: "no nodes (see --node and --external_hosts_file)" }))]));
      const pods = await Promise.all(namespaces.map((ns) => CN.getJSON(model + "namespaces/" + enc(ns) + "/pods")));
      const nsFigures = await Promise.all(namespaces.map((ns) => {
        const base = model + "namespaces/" + enc(ns) + "/metrics";
        return Promise.all([latest(base, "cpu/usage_rate", since), latest(base, "memory/usage", since)]);
      }));
      nsBody.replaceChildren(...(namespaces.length ? namespaces.map((ns, i) => CN.el("tr", { "data-namespace": ns },
        CN.el("td", { class: "name" }, CN.el("a", { href: "namespaces/" + enc(ns), text: ns })),
        CN.el("td", { class: "name" }, ...pods[i].flatMap((p, j) => [j ? ", " : "", CN.el("a", { href: "namespaces/" + enc(ns) + "/pods/" + enc(p), text: p })])),
        CN.el("td", { class: "num", text: CN.fmtCores(nsFigures[i][0] === null ? null : nsFigures[i][0] / 1000) }),
        CN.el("td", { class: "num", text: CN.fmtBytes(nsFigures[i][1]) })))
        : [CN.el("tr", {}, CN.el("td", { colspan: 4, class: "note", text: "no Kubernetes pods seen on the nodes" }))]));
      const up = nodes.filter((n) => n.healthy).length;
      const podCount = pods.reduce((a, p) => a + p.length, 0);
      cards.replaceChildren(CN.card("nodes up", up + " of " + nodes.length), CN.card("namespaces", String(namespaces.length)), CN.card("pods", String(podCount)));
      CN.updated();
    }, EVERY);
  }

  // ---- one entity ----
  function entityPage(main, kind, title, crumbs, base, children) {
    document.title = "crowsnest: " + title;
    const crumbBox = CN.el("div", { class: "crumbs" }, CN.el("a", { href: "./", text: "cluster" }));
    for (const [text, href] of crumbs) crumbBox.append(" › ", href ? CN.el("a", { href, text }) : text);
    const chartBox = CN.el("div");
    const childBox = CN.el("div");
    main.append(crumbBox, CN.el("h1", { text: title }), CN.el("div", {}, CN.el("span", { class: "badge", text: kind })), chartBox);
    entityCharts(chartBox, base);
    if (children) {
      main.append(CN.el("h2", { text: children.title }), childBox);
      CN.getJSON(children.path).then((names) => {
        childBox.replaceChildren(linkList(names.slice().sort().map((n) => [n, children.href(n)])));
      }).catch(CN.failed);
    }
  }

  // ---- the page ----
  // (The root page adds this script itself, possibly before the body is parsed.)
  function boot() {
    const r = CN.route();
    const main = document.getElementById("main");
    main.replaceChildren();
    CN.header("hub", [["cluster", "./"]]);
    const nodeHref = (n) => "nodes/" + enc(n);
    const nsHref = (ns) => "namespaces/" + enc(ns);
    const podHref = (ns, p) => nsHref(ns) + "/pods/" + enc(p);
    try {
      if (r.length === 0) {
        overview(main).catch(CN.failed);
      } else if (r[0] === "nodes" && r.length === 2) {
        const n = r[1];
        const base = model + "nodes/" + enc(n);
        entityPage(main, "node", n, [[n, null]], base + "/metrics", {
          title: "System containers", path: base + "/freecontainers", href: (c) => nodeHref(n) + "/freecontainers/" + enc(c),
        });
      } else if (r[0] === "nodes" && r[2] === "freecontainers" && r.length > 3) {
        const n = r[1];
        const c = r.slice(3).join("/");
        entityPage(main, "system container", c, [[n, nodeHref(n)], [c, null]], model + "nodes/" + enc(n) + "/freecontainers/" + enc(c) + "/metrics");
      } else if (r[0] === "namespaces" && r.length === 2) {
        const ns = r[1];
        entityPage(main, "namespace", ns, [[ns, null]], model + "namespaces/" + enc(ns) + "/metrics", {
          title: "Pods", path: model + "namespaces/" + enc(ns) + "/pods", href: (p) => podHref(ns, p),
        });
      } else if (r[0] === "namespaces" && r[2] === "pods" && r.length === 4) {
        const [, ns, , p] = r;
        const base = model + "namespaces/" + enc(ns) + "/pods/" + enc(p);
        entityPage(main, "pod", p, [[ns, nsHref(ns)], [p, null]], base + "/metrics", {
          title: "Containers", path: base + "/containers", href: (c) => podHref(ns, p) + "/containers/" + enc(c),
        });
      } else if (r[0] === "namespaces" && r[2] === "pods" && r[4] === "containers" && r.length === 6) {
        const [, ns, , p, , c] = r;
        entityPage(main, "pod container", c, [[ns, nsHref(ns)], [p, podHref(ns, p)], [c, null]],
          model + "namespaces/" + enc(ns) + "/pods/" + enc(p) + "/containers/" + enc(c) + "/metrics");
      } else {
        main.append(CN.el("p", { class: "error", text: "no such page" }));
      }
    } catch (e) {
      CN.failed(e);
    }
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", boot);
  else boot();
})(window.CN);
