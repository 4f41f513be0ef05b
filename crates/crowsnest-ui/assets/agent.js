"use strict";
// crowsnest web UI, agent pages:
//   /                      machine overview, top containers, the container tree with search
//   /containers/<name>     one container: live charts (1 s) and history from the store
// Data: cAdvisor's API (/api/v1.3, /api/v2.0) and the store's /api/v1/query, all relative.
(function (CN) {
  const C = CN.COLORS;
  const UNLIMITED = Math.pow(2, 62);
  const K8S_POD = "io.kubernetes.pod.name";
  const K8S_NS = "io.kubernetes.pod.namespace";
  const K8S_CONTAINER = "io.kubernetes.container.name";

  const sum = (list, f) => {
    if (!list || !list.length) return undefined;
    let total = 0;
    for (const x of list) total += f(x) || 0;
    return total;
  };
  const diskSum = (s, op) => sum(s.diskio && s.diskio.io_service_bytes, (d) => d.stats && d.stats[op]);
  const netSum = (s, f) => sum(s.network && s.network.interfaces, f);
  const psi = (part) => (part && part.psi && part.psi.some ? part.psi.some.total : undefined);

  // Every chart of a container. A series is read from a v1 sample (`get`, a rate when
  // `counter`) in the live view, and from the store (`metric`, `agg=rate` for counters) in
  // the history views; `scale` turns either into the chart's unit.
  const CHARTS = [
    {
      id: "cpu", title: "CPU (cores)", fmt: CN.fmtCores,
      series: [
        { key: "total", label: "total", color: C[0], counter: true, scale: 1e-9, metric: "cpu/usage", get: (s) => s.cpu && s.cpu.usage.total },
        { key: "user", label: "user", color: C[2], counter: true, scale: 1e-9, metric: "cpu/usage_user", get: (s) => s.cpu && s.cpu.usage.user },
        { key: "system", label: "system", color: C[1], counter: true, scale: 1e-9, metric: "cpu/usage_system", get: (s) => s.cpu && s.cpu.usage.system },
        { key: "throttled", label: "throttled", color: C[4], dash: true, counter: true, scale: 1e-9, metric: "cpu/cfs_throttled_time", get: (s) => s.cpu && s.cpu.cfs && s.cpu.cfs.throttled_time },
      ],
      lines: [{ key: "limit", label: "limit", color: C[4], metric: "cpu/limit", scale: 1e-3, spec: (sp) => (sp.cpu && sp.cpu.quota > 0 && sp.cpu.period > 0 ? sp.cpu.quota / sp.cpu.period : null) }],
    },
    {
      id: "memory", title: "Memory", fmt: CN.fmtBytes, binary: true,
      series: [
        { key: "usage", label: "usage", color: C[0], metric: "memory/usage", get: (s) => s.memory && s.memory.usage },
        { key: "working_set", label: "working set", color: C[2], metric: "memory/working_set", get: (s) => s.memory && s.memory.working_set },
      ],
      lines: [{ key: "limit", label: "limit", color: C[4], metric: "memory/limit", spec: (sp) => (sp.has_memory && sp.memory && sp.memory.limit > 0 && sp.memory.limit < UNLIMITED ? sp.memory.limit : null) }],
    },
    {
      id: "network", title: "Network", fmt: CN.fmtRate, binary: true,
      empty: "no network of its own (it uses the host's or another container's)",
      series: [
        { key: "rx", label: "rx", color: C[0], counter: true, metric: "network/rx", get: (s) => netSum(s, (i) => i.rx_bytes) },
        { key: "tx", label: "tx", color: C[1], counter: true, metric: "network/tx", get: (s) => netSum(s, (i) => i.tx_bytes) },
      ],
    },
    {
      id: "diskio", title: "Block I/O", fmt: CN.fmtRate, binary: true, empty: "no block I/O reported",
      series: [
        { key: "read", label: "read", color: C[0], counter: true, metric: "disk/io_read_bytes", get: (s) => diskSum(s, "Read") },
        { key: "write", label: "write", color: C[1], counter: true, metric: "disk/io_write_bytes", get: (s) => diskSum(s, "Write") },
      ],
    },
    {
      id: "pids", title: "Processes", fmt: CN.fmtNum, empty: "no process counts reported",
      series: [
        { key: "processes", label: "processes", color: C[0], metric: "process/count", get: (s) => s.processes && s.processes.process_count },
        { key: "threads", label: "threads", color: C[2], metric: "process/threads", get: (s) => s.processes && s.processes.threads_current },
      ],
    },
    {
      id: "pressure", title: "Pressure (% of time some task waited)", fmt: CN.fmtPct,
      empty: "no pressure (PSI) reported by this kernel",
      series: [
        { key: "cpu", label: "cpu", color: C[0], counter: true, scale: 1e-4, metric: "cpu/pressure_waiting", get: (s) => psi(s.cpu) },
        { key: "memory", label: "memory", color: C[2], counter: true, scale: 1e-4, metric: "memory/pressure_waiting", get: (s) => psi(s.memory) },
        { key: "io", label: "io", color: C[1], counter: true, scale: 1e-4, metric: "disk/pressure_waiting", get: (s) => psi(s.diskio) },
      ],
    },
  ];

  const RANGES = [
    { key: "live", label: "live", every: 1000 },
    { key: "5m", label: "5 min", ms: 300e3, step: "5s", every: 5000 },
    { key: "1h", label: "1 h", ms: 3600e3, step: "20s", every: 15000 },
    { key: "24h", label: "24 h", ms: 86400e3, step: "5m", every: 60000 },
    { key: "7d", label: "7 d", ms: 604800e3, step: "30m", every: 60000 },
  ];

  // The series of the live view from v1 samples (oldest first): values, or per-second
  // rates between neighbours for counters (no rate across a reset or a missing value).
  function liveSeries(samples, spec, charts) {
    const t = samples.map((s) => CN.parseTime(s.timestamp));
    const out = {};
    for (const ch of charts) {
      const series = {};
      for (const sd of ch.series) {
        const scale = sd.scale || 1;
        const vals = samples.map((s) => { const v = sd.get(s); return v === undefined || v === null ? null : v; });
        const pts = [];
        for (let i = 0; i < samples.length; i++) {
          if (!sd.counter) { pts.push([t[i], vals[i] === null ? null : vals[i] * scale]); continue; }
          if (i === 0) continue;
          const dt = (t[i] - t[i - 1]) / 1000;
          const a = vals[i - 1], b = vals[i];
          pts.push([t[i], a === null || b === null || b < a || !(dt > 0) ? null : ((b - a) / dt) * scale]);
        }
        series[sd.key] = pts;
      }
      const lines = {};
      for (const ld of ch.lines || []) lines[ld.key] = ld.spec(spec || {});
      out[ch.id] = { series, lines };
    }
    return out;
  }

  // One container's live samples, kept up to date by asking only for the newest ones.
  class LiveSource {
    constructor(name) {
      this.name = name;
      this.path = "api/v1.3/containers/" + CN.encPath(name);
      this.samples = [];
      this.info = null;
      this.skew = 0; // server clock minus browser clock, from the newest sample
    }
    async refresh() {
      const first = this.samples.length === 0;
      const info = await CN.getJSON(this.path + "?num_stats=" + (first ? -1 : 5));
      this.info = info;
      const last = this.samples.length ? CN.parseTime(this.samples[this.samples.length - 1].timestamp) : -Infinity;
      for (const s of info.stats || []) if (CN.parseTime(s.timestamp) > last) this.samples.push(s);
      if (this.samples.length > 1200) this.samples.splice(0, this.samples.length - 1200);
      if (this.samples.length) this.skew = CN.parseTime(this.samples[this.samples.length - 1].timestamp) - Date.now();
      return info;
    }
    view(charts) {
      const data = liveSeries(this.samples, this.info && this.info.spec, charts);
      const n = this.samples.length;
      const xmax = n ? CN.parseTime(this.samples[n - 1].timestamp) : Date.now();
      // the whole history kept in memory (at least 10 s wide)
      const xmin = n ? Math.min(CN.parseTime(this.samples[0].timestamp), xmax - 10e3) : xmax - 60e3;
      return { data, xmin, xmax };
    }
  }

  // Points of every series the store has for `metric` of the container, summed per time
  // (block I/O has one series per device).
  async function storeSeries(name, metric, agg, range, startSec) {
    const q = "api/v1/query?metric=" + encodeURIComponent(metric) + "&container=" + encodeURIComponent(name) +
      "&start=" + startSec.toFixed(3) + "&step=" + range.step + "&agg=" + agg;
    const r = await CN.getJSON(q, 30000);
    const byT = new Map();
    for (const s of r.series || []) {
      for (const [t, v] of s.points || []) {
        if (v === null) continue;
        byT.set(t, (byT.get(t) || 0) + v);
      }
    }
    return { start: r.start, end: r.end, pts: [...byT.entries()].sort((a, b) => a[0] - b[0]) };
  }

  // Every chart's data for a history range from the store.
  async function storeView(name, range, skew, charts) {
    const now = Date.now() + skew;
    const startSec = (now - range.ms) / 1000;
    const jobs = [];
    for (const ch of charts) {
      for (const sd of ch.series) jobs.push([ch.id, "s", sd, storeSeries(name, sd.metric, sd.counter ? "rate" : "avg", range, startSec)]);
      for (const ld of ch.lines || []) jobs.push([ch.id, "l", ld, storeSeries(name, ld.metric, "last", range, startSec)]);
    }
    const results = await Promise.all(jobs.map((j) => j[3]));
    const data = {};
    let xmin = now - range.ms, xmax = now;
    results.forEach((r, i) => {
      const [id, kind, d] = jobs[i];
      const entry = data[id] || (data[id] = { series: {}, lines: {} });
      const scale = d.scale || 1;
      if (r.start !== undefined) { xmin = r.start; xmax = r.end; }
      if (kind === "s") entry.series[d.key] = r.pts.map(([t, v]) => [t, v * scale]);
      else entry.lines[d.key] = r.pts.length ? r.pts[r.pts.length - 1][1] * scale : null;
    });
    return { data, xmin, xmax };
  }

  function makeCharts(parent, charts) {
    const grid = CN.el("div", { class: "charts" });
    parent.append(grid);
    const out = {};
    for (const ch of charts) out[ch.id] = new CN.Chart(grid, ch);
    return out;
  }

  function drawAll(chartObjs, view, note) {
    for (const [id, chart] of Object.entries(chartObjs)) {
      const d = view.data[id] || { series: {}, lines: {} };
      chart.update({ series: d.series, lines: d.lines, xmin: view.xmin, xmax: view.xmax, note });
    }
  }

  // ---- names ----
  function displayName(name, spec) {
    const labels = (spec && spec.labels) || {};
    if (labels[K8S_POD] && labels[K8S_CONTAINER]) return labels[K8S_CONTAINER];
    if (spec && spec.aliases && spec.aliases.length) return spec.aliases[0];
    return name;
  }
  function badges(spec) {
    const out = [];
    if (!spec) return out;
    const labels = spec.labels || {};
    if (spec.namespace) out.push(CN.el("span", { class: "badge rt", title: "runtime", text: spec.namespace }));
    if (spec.aliases && spec.aliases.length) out.push(CN.el("span", { class: "badge rt", title: "runtime name", text: spec.aliases[0] }));
    if (labels[K8S_POD]) {
      out.push(CN.el("span", { class: "badge k8s", title: "Kubernetes namespace/pod", text: (labels[K8S_NS] || "?") + "/" + labels[K8S_POD] }));
    }
    if (labels[K8S_CONTAINER]) out.push(CN.el("span", { class: "badge k8s", title: "Kubernetes container", text: labels[K8S_CONTAINER] }));
    return out;
  }
  const containerHref = (name) => "containers/" + CN.encPath(name);
  const segs = (name) => name.split("/").filter(Boolean);
  function compareNames(a, b) {
    const x = segs(a), y = segs(b);
    for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] < y[i] ? -1 : 1;
    return x.length - y.length;
  }

  // ---- the overview ----
  async function overview(main) {
    const machineBox = CN.el("div", { class: "cards" });
    const fsBody = CN.el("tbody");
    const topCpu = CN.el("tbody");
    const topMem = CN.el("tbody");
    const treeBody = CN.el("tbody");
    const search = CN.el("input", { type: "search", id: "search", placeholder: "search names, runtime names, pods, namespaces, images", "aria-label": "search containers" });
    const chartBox = CN.el("div");
    main.append(
      CN.el("h1", { text: "Machine" }), machineBox,
      chartBox,
      CN.el("h2", { text: "Filesystems" }),
      CN.el("table", { id: "filesystems" }, CN.el("thead", {}, CN.el("tr", {},
        CN.el("th", { text: "device" }), CN.el("th", { text: "type" }), CN.el("th", { text: "usage" }),
        CN.el("th", { class: "num", text: "used" }), CN.el("th", { class: "num", text: "capacity" }), CN.el("th", { class: "num", text: "available" }))), fsBody),
      CN.el("div", { class: "cols" },
        CN.el("div", {}, CN.el("h2", { text: "Top containers by CPU" }), CN.el("table", { id: "top-cpu" },
          CN.el("thead", {}, CN.el("tr", {}, CN.el("th", { text: "container" }), CN.el("th", { class: "num", text: "cores" }))), topCpu)),
        CN.el("div", {}, CN.el("h2", { text: "Top containers by memory" }), CN.el("table", { id: "top-memory" },
          CN.el("thead", {}, CN.el("tr", {}, CN.el("th", { text: "container" }), CN.el("th", { class: "num", text: "working set" }))), topMem))),
      CN.el("h2", { text: "Containers" }),
      search,
      CN.el("table", { class: "tree", id: "tree" }, CN.el("thead", {}, CN.el("tr", {},
        CN.el("th", { text: "name" }), CN.el("th", { class: "num", text: "CPU (cores)" }),
        CN.el("th", { class: "num", text: "working set" }), CN.el("th", { class: "num", text: "processes" }))), treeBody),
    );

    const attrs = await CN.getJSON("api/v2.0/attributes");
    const root = new LiveSource("/");
    const rootCharts = makeCharts(chartBox, CHARTS.filter((c) => c.id === "cpu" || c.id === "memory"));
    let specs = {};
    let specsAt = 0;
    let stats = {};

    function rows() {
      const out = [];
      for (const [name, list] of Object.entries(stats)) {
        const spec = specs[name];
        const a = list.length > 1 ? list[list.length - 2] : null;
        const b = list[list.length - 1];
        let cpu = null;
        if (a && a.cpu && b.cpu && a.cpu.usage.total !== undefined && b.cpu.usage.total !== undefined) {
          const dt = (CN.parseTime(b.timestamp) - CN.parseTime(a.timestamp)) / 1000;
          const d = b.cpu.usage.total - a.cpu.usage.total;
          if (dt > 0 && d >= 0) cpu = d / dt / 1e9;
        }
        const mem = b && b.memory ? (b.memory.working_set !== undefined ? b.memory.working_set : b.memory.usage) : null;
        const procs = b && b.processes ? b.processes.process_count : null;
        out.push({ name, spec, cpu, mem: mem === undefined ? null : mem, procs: procs === undefined ? null : procs, last: b });
      }
      out.sort((x, y) => compareNames(x.name, y.name));
      return out;
    }

    function nameCell(r) {
      return CN.el("td", { class: "name" }, CN.el("a", { href: containerHref(r.name), text: displayName(r.name, r.spec) }),
        r.spec && displayName(r.name, r.spec) !== r.name ? CN.el("div", { class: "note", text: r.name }) : null);
    }

    function drawTree(all) {
      const q = search.value.trim().toLowerCase();
      const hay = (r) => {
        const sp = r.spec || {};
        const labels = sp.labels || {};
        return [r.name, ...(sp.aliases || []), sp.namespace, sp.image, labels[K8S_POD], labels[K8S_NS], labels[K8S_CONTAINER]]
          .filter(Boolean).join(" ").toLowerCase();
      };
      const shown = new Set();
      const matched = new Set();
      for (const r of all) {
        if (q && !hay(r).includes(q)) continue;
        matched.add(r.name);
        shown.add(r.name);
        // keep the ancestors of a match, so the match is seen where it nests
        const parts = segs(r.name);
        for (let i = 0; i < parts.length; i++) shown.add("/" + parts.slice(0, i).join("/"));
      }
      const trs = [];
      for (const r of all) {
        if (!shown.has(r.name)) continue;
        const depth = segs(r.name).length;
        const leaf = r.name === "/" ? "/" : segs(r.name).slice(-1)[0];
        trs.push(CN.el("tr", { "data-name": r.name, class: matched.has(r.name) ? null : "ancestor" },
          CN.el("td", { class: "name" },
            CN.el("span", { class: "indent", style: "width:" + depth * 16 + "px" }),
            CN.el("a", { class: "leaf", href: containerHref(r.name), title: r.name, text: leaf }), " ", ...badges(r.spec)),
          CN.el("td", { class: "num", text: CN.fmtCores(r.cpu) }),
          CN.el("td", { class: "num", text: CN.fmtBytes(r.mem) }),
          CN.el("td", { class: "num", text: r.procs === null ? "–" : String(r.procs) })));
      }
      if (!trs.length) trs.push(CN.el("tr", {}, CN.el("td", { colspan: 4, class: "note", text: "no container matches" })));
      treeBody.replaceChildren(...trs);
    }
    let last = [];
    search.addEventListener("input", () => drawTree(last));

    function draw() {
      const all = rows();
      last = all;
      const rootRow = all.find((r) => r.name === "/");
      const others = all.filter((r) => r.name !== "/");
      machineBox.replaceChildren(
        CN.card("cores", String(attrs.num_cores)),
        CN.card("memory", CN.fmtBytes(attrs.memory_capacity)),
        CN.card("CPU in use", rootRow && rootRow.cpu !== null ? CN.fmtCores(rootRow.cpu) + " cores" : "–"),
        CN.card("memory in use", rootRow ? CN.fmtBytes(rootRow.mem) : "–", "working set of the root cgroup"),
        CN.card("containers", String(others.length)),
        CN.card("kernel", attrs.kernel_version || "–"),
        CN.card("crowsnest", attrs.cadvisor_version || "–"),
      );
      const fs = (rootRow && rootRow.last && rootRow.last.filesystem) || [];
      fsBody.replaceChildren(...(fs.length ? fs.map((f) => CN.el("tr", { "data-device": f.device },
        CN.el("td", { class: "name", text: f.device }), CN.el("td", { text: f.type || "" }),
        CN.el("td", {}, CN.bar(f.capacity ? f.usage / f.capacity : 0, CN.fmtPct(f.capacity ? (100 * f.usage) / f.capacity : null))),
        CN.el("td", { class: "num", text: CN.fmtBytes(f.usage) + (f.capacity ? " (" + CN.fmtPct((100 * f.usage) / f.capacity) + ")" : "") }),
        CN.el("td", { class: "num", text: CN.fmtBytes(f.capacity) }),
        CN.el("td", { class: "num", text: CN.fmtBytes(f.available) })))
        : [CN.el("tr", {}, CN.el("td", { colspan: 6, class: "note", text: "no filesystem reported" }))]));
      const top = (key, fmt, body) => {
        const list = others.filter((r) => r[key] !== null).sort((x, y) => y[key] - x[key]).slice(0, 10);
        body.replaceChildren(...(list.length ? list.map((r) => CN.el("tr", { "data-name": r.name }, nameCell(r), CN.el("td", { class: "num", text: fmt(r[key]) })))
          : [CN.el("tr", {}, CN.el("td", { colspan: 2, class: "note", text: "waiting for two samples…" }))]));
      };
      top("cpu", CN.fmtCores, topCpu);
      top("mem", CN.fmtBytes, topMem);
      drawTree(all);
    }

    CN.poll(async () => {
      const now = Date.now();
      const [st] = await Promise.all([
        CN.getJSON("api/v2.0/stats/?recursive=true&count=2", 30000),
        root.refresh(),
      ]);
      stats = st;
      if (now - specsAt > 10000 || Object.keys(st).some((n) => !(n in specs))) {
        specs = await CN.getJSON("api/v2.0/spec/?recursive=true", 30000);
        specsAt = now;
      }
      drawAll(rootCharts, root.view(CHARTS));
      draw();
      CN.updated();
    }, 2000);
  }

  // ---- one container ----
  async function containerPage(main, name) {
    const title = CN.el("h1", { text: name });
    const crumbs = CN.el("div", { class: "crumbs" });
    const badgeBox = CN.el("div");
    const info = CN.el("dl", { class: "info" });
    const subs = CN.el("div");
    const picked = new URLSearchParams(location.search).get("range");
    let range = RANGES.find((r) => r.key === picked) || RANGES[0];
    const rangeNote = CN.el("span", { class: "note", id: "range-note" });
    let poller = null;
    const picker = CN.rangePicker(RANGES, range.key, (key) => {
      range = RANGES.find((r) => r.key === key) || RANGES[0];
      history.replaceState(null, "", location.pathname + (range.key === "live" ? "" : "?range=" + range.key));
      if (poller) poller.now();
    });
    const chartBox = CN.el("div", { id: "charts" });
    main.append(crumbs, title, badgeBox, info, CN.el("div", {}, picker, " ", rangeNote), chartBox, CN.el("h2", { text: "Subcontainers" }), subs);
    document.title = "crowsnest: " + name;

    const parts = segs(name);
    crumbs.append(CN.el("a", { href: "./", text: "overview" }), " › ", CN.el("a", { href: "containers/", text: "/" }));
    parts.forEach((p, i) => {
      crumbs.append(i ? " / " : "", i === parts.length - 1 ? p : CN.el("a", { href: containerHref("/" + parts.slice(0, i + 1).join("/")), text: p }));
    });

    const charts = makeCharts(chartBox, CHARTS);
    const live = new LiveSource(name);
    let described = false;

    function describe(ci) {
      const sp = ci.spec || {};
      const v2like = { aliases: ci.aliases, namespace: ci.namespace, labels: sp.labels };
      title.textContent = displayName(name, v2like);
      badgeBox.replaceChildren(...badges(v2like));
      if (displayName(name, v2like) !== name) badgeBox.append(CN.el("span", { class: "note", text: " " + name }));
      const rows = [];
      const add = (k, v) => { if (v !== null && v !== undefined && v !== "") rows.push(CN.el("dt", { text: k }), CN.el("dd", { text: v })); };
      add("id", ci.id);
      add("runtime", ci.namespace);
      add("aliases", (ci.aliases || []).join(", "));
      add("image", sp.image);
      add("created", sp.creation_time ? CN.fmtDateTime(CN.parseTime(sp.creation_time)) : null);
      add("CPU limit", sp.cpu && sp.cpu.quota > 0 && sp.cpu.period > 0 ? CN.fmtCores(sp.cpu.quota / sp.cpu.period) + " cores" : sp.has_cpu ? "none" : null);
      add("CPU shares", sp.cpu && sp.cpu.limit ? String(sp.cpu.limit) : null);
      add("memory limit", sp.has_memory ? (sp.memory && sp.memory.limit > 0 && sp.memory.limit < UNLIMITED ? CN.fmtBytes(sp.memory.limit) : "none") : null);
      add("labels", Object.entries(sp.labels || {}).map(([k, v]) => k + "=" + v).join(", "));
      info.replaceChildren(...rows);
      const list = (ci.subcontainers || []).map((s) => s.name).sort(compareNames);
      subs.replaceChildren(list.length
        ? CN.el("ul", { class: "links" }, ...list.map((n) => CN.el("li", {}, CN.el("a", { href: containerHref(n), text: n }))))
        : CN.el("p", { class: "note", text: "none" }));
    }

    poller = CN.poll(async () => {
      const r = range;
      let ci;
      try {
        ci = await live.refresh();
      } catch (e) {
        if (e.status === 404) {
          title.textContent = name;
          rangeNote.textContent = "";
          chartBox.replaceChildren(CN.el("p", { class: "error", text: "The agent does not know a container named " + name + " (" + e.message + ")." }));
          CN.failed(e);
          return;
        }
        throw e;
      }
      if (!described || r.key === "live") { describe(ci); described = true; }
      if (r.key === "live") {
        rangeNote.textContent = "the agent's memory, refreshed every second";
        drawAll(charts, live.view(CHARTS));
        chartBox.dataset.range = r.key;
      } else {
        let view;
        try {
          view = await storeView(name, r, live.skew, CHARTS);
        } catch (e) {
          if (e.status !== 404) throw e;
          rangeNote.textContent = e.message;
          const now = Date.now() + live.skew;
          view = { data: {}, xmin: now - r.ms, xmax: now };
          drawAll(charts, view, "no history: " + e.message);
          CN.failed(e);
          return;
        }
        if (range !== r) return; // the range changed while the answers came
        drawAll(charts, view);
        rangeNote.textContent = "last " + r.label + " from the agent's store, one point per " + r.step;
        chartBox.dataset.range = r.key;
      }
      CN.updated();
    }, () => range.every);
  }

  // ---- the page ----
  // (The root page adds this script itself, possibly before the body is parsed.)
  function boot() {
    const route = CN.route();
    const main = document.getElementById("main");
    main.replaceChildren();
    CN.header("agent", [["overview", "./"], ["containers", "containers/"]]);
    const start = route.length === 0 ? overview(main)
      : route[0] === "containers" ? containerPage(main, "/" + route.slice(1).join("/"))
      : Promise.resolve(main.append(CN.el("p", { class: "error", text: "no such page" })));
    start.catch(CN.failed);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", boot);
  else boot();
})(window.CN);
