"use strict";
// crowsnest web UI: helpers shared by the agent's and the hub's pages.
// Every URL here is relative: the page's <base href> leads back to the server's root (under
// any path prefix), so links and requests never name a host or an absolute path.
window.CN = (function () {
  const CN = {};

  // A DOM element: attrs sets attributes (`text` sets the text), kids are nodes or strings.
  // Text always goes through text nodes, never through HTML.
  CN.el = function (tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "text") e.textContent = String(v);
      else if (k === "on") for (const [ev, fn] of Object.entries(v)) e.addEventListener(ev, fn);
      else e.setAttribute(k, v === true ? "" : String(v));
    }
    for (const k of kids.flat()) {
      if (k === undefined || k === null || k === false) continue;
      e.append(k instanceof Node ? k : document.createTextNode(String(k)));
    }
    return e;
  };

  // GET a JSON answer (relative path), bounded by a timeout. Throws an Error carrying
  // `status` and the server's {"error": ...} message when the answer is not 2xx.
  CN.getJSON = async function (path, timeoutMs) {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), timeoutMs || 15000);
    try {
      const r = await fetch(path, { signal: ctl.signal, headers: { Accept: "application/json" } });
      const text = await r.text();
      let body = null;
      try { body = text ? JSON.parse(text) : null; } catch (e) { body = null; }
      if (!r.ok) {
        const err = new Error((body && body.error) || (r.status + " " + r.statusText + " " + path));
        err.status = r.status;
        throw err;
      }
      if (body === null && text) throw new Error("not JSON: " + path);
      return body;
    } catch (e) {
      if (e.name === "AbortError") throw new Error("timed out: " + path);
      throw e;
    } finally {
      clearTimeout(timer);
    }
  };

  // A container or model name as a relative URL path: each part percent-encoded.
  CN.encPath = function (name) {
    return String(name).split("/").filter(Boolean).map(encodeURIComponent).join("/");
  };

  // The page's path below the root it was served from, as decoded segments.
  CN.route = function () {
    const base = new URL(document.baseURI).pathname;
    const p = location.pathname;
    const rel = p.startsWith(base) ? p.slice(base.length) : "";
    return rel.split("/").filter(Boolean).map((s) => {
      try { return decodeURIComponent(s); } catch (e) { return s; }
    });
  };

  // ---- numbers ----
  CN.fmtBytes = function (v) {
    if (v === null || v === undefined || !isFinite(v)) return "–";
    const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let i = 0;
    let x = Math.abs(v);
    while (x >= 1024 && i < units.length - 1) { x /= 1024; i++; }
    const s = x >= 100 || i === 0 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2);
    return (v < 0 ? "-" : "") + s + " " + units[i];
  };
  CN.fmtRate = (v) => (v === null || v === undefined ? "–" : CN.fmtBytes(v) + "/s");
  CN.fmtNum = function (v, digits) {
    if (v === null || v === undefined || !isFinite(v)) return "–";
    const a = Math.abs(v);
    if (digits !== undefined) return v.toFixed(digits);
    if (a === 0) return "0";
    if (a >= 1e9) return (v / 1e9).toFixed(2) + "G";
    if (a >= 1e6) return (v / 1e6).toFixed(2) + "M";
    if (a >= 1e4) return (v / 1e3).toFixed(1) + "k";
    if (a >= 100) return v.toFixed(0);
    if (a >= 10) return v.toFixed(1);
    if (a >= 1) return v.toFixed(2);
    return v.toPrecision(2);
  };
  CN.fmtCores = function (v) {
    if (v === null || v === undefined || !isFinite(v)) return "–";
    if (v !== 0 && Math.abs(v) < 0.1) return (v * 1000).toFixed(Math.abs(v) < 0.01 ? 1 : 0) + "m";
    return v.toFixed(2);
  };
  CN.fmtPct = (v) => (v === null || v === undefined || !isFinite(v) ? "–" : CN.fmtNum(v) + "%");

  // ---- time: always the browser's zone, and the zone is named on the page ----
  CN.zoneName = function () {
    let zone = "";
    try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { zone = ""; }
    const off = -new Date().getTimezoneOffset();
    const sign = off >= 0 ? "+" : "-";
    const hh = String(Math.floor(Math.abs(off) / 60)).padStart(2, "0");
    const mm = String(Math.abs(off) % 60).padStart(2, "0");
    return (zone ? zone + " " : "local time ") + "(UTC" + sign + hh + ":" + mm + ")";
  };
  const timeFmt = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" });
  const minuteFmt = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
  const dayFmt = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric" });
  const fullFmt = new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23",
  });
  CN.fmtTime = (t) => timeFmt.format(new Date(t));
  CN.fmtMinute = (t) => minuteFmt.format(new Date(t));
  CN.fmtDay = (t) => dayFmt.format(new Date(t));
  CN.fmtDateTime = (t) => fullFmt.format(new Date(t));
  // RFC 3339 with up to nanoseconds (Go's format) to unix milliseconds.
  CN.parseTime = function (s) {
    if (typeof s !== "string") return NaN;
    return Date.parse(s.replace(/(\.\d{3})\d+/, "$1"));
  };
  CN.fmtAgo = function (ms) {
    if (!isFinite(ms)) return "–";
    const s = Math.max(0, ms / 1000);
    if (s < 60) return s.toFixed(s < 10 ? 1 : 0) + " s ago";
    if (s < 3600) return (s / 60).toFixed(0) + " min ago";
    return (s / 3600).toFixed(1) + " h ago";
  };

  // ---- page frame ----
  let statusEl = null;
  CN.header = function (role, nav) {
    const top = document.getElementById("top");
    top.replaceChildren(
      CN.el("a", { class: "brand", href: "./", text: "crowsnest" }),
      CN.el("span", { class: "role", text: role }),
      ...(nav || []).map(([label, href]) => CN.el("a", { href, text: label })),
      CN.el("span", { class: "spacer" }),
      CN.el("span", { class: "zone", id: "zone", title: "every time on this page is in this zone", text: "Times: " + CN.zoneName() }),
      (statusEl = CN.el("span", { class: "status", id: "status", text: "loading…" })),
    );
  };
  CN.status = function (text, isError) {
    if (!statusEl) return;
    statusEl.textContent = text;
    statusEl.classList.toggle("error", !!isError);
  };
  CN.updated = () => CN.status("updated " + CN.fmtTime(Date.now()));
  CN.failed = (e) => CN.status("error: " + (e && e.message ? e.message : String(e)), true);

  // Runs `fn` now and then `everyMs` after each run ends (never two at once). `every` may be
  // a function, read after each run, so a page can change its pace.
  CN.poll = function (fn, every) {
    let timer = null;
    let stopped = false;
    let again = false;
    const run = async () => {
      timer = null;
      again = false;
      try {
        await fn();
      } catch (e) {
        CN.failed(e);
      }
      if (stopped) return;
      timer = setTimeout(run, again ? 0 : typeof every === "function" ? every() : every);
    };
    run();
    return {
      stop() { stopped = true; if (timer) clearTimeout(timer); },
      // Run again now, or as soon as the run under way ends.
      now() { if (timer) { clearTimeout(timer); run(); } else again = true; },
    };
  };

  // A row of buttons choosing one of `ranges` ([{key, label}]).
  CN.rangePicker = function (ranges, current, onChange) {
    const box = CN.el("div", { class: "ranges", role: "group", "aria-label": "time range" });
    const buttons = ranges.map((r) =>
      CN.el("button", {
        type: "button", "data-range": r.key, class: r.key === current ? "on" : null, text: r.label,
        on: { click() { for (const b of buttons) b.classList.toggle("on", b === this); onChange(r.key); } },
      }));
    box.append(...buttons);
    return box;
  };

  // A usage bar (fraction 0..1).
  CN.bar = function (fraction, title) {
    const f = Math.max(0, Math.min(1, fraction || 0));
    const cls = f >= 0.9 ? "bar full" : f >= 0.75 ? "bar high" : "bar";
    return CN.el("div", { class: cls, title }, CN.el("span", { style: "width:" + (f * 100).toFixed(1) + "%" }));
  };

  CN.card = (k, v, title) => CN.el("div", { class: "card", title }, CN.el("div", { class: "k", text: k }), CN.el("div", { class: "v", text: v }));

  return CN;
})();
