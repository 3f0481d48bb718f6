// tumult on-call console. Plain JavaScript, no dependencies: it polls the
// agent's /v1 API twice a second and renders what it answers. The API is the
// source of truth; the page keeps nothing but the bearer token, in this
// tab's sessionStorage (never a cookie, so no other site can act with it).
"use strict";

(function () {
  const POLL_MS = 500; // a fault shows within a second of its injection
  const PLAN_MS = 60000;
  const TOKEN_KEY = "tumult.token";
  const $ = (id) => document.getElementById(id);

  let serverOffset = 0; // server clock minus this browser's, from Date headers
  let last = { status: null, history: [], plan: null };
  let planAt = 0;
  let polls = 0;
  let lastOK = 0;
  let busy = false;

  // ---- API ----------------------------------------------------------------

  function token() {
    try { return sessionStorage.getItem(TOKEN_KEY) || ""; } catch (e) { return ""; }
  }

  async function api(method, path, body) {
    const headers = { "Accept": "application/json" };
    const t = token();
    if (t) headers["Authorization"] = "Bearer " + t;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let resp;
    try {
      resp = await fetch(path, {
        method, headers, body: body === undefined ? undefined : JSON.stringify(body),
        cache: "no-store", credentials: "omit", redirect: "error",
      });
    } catch (e) {
      return { ok: false, status: 0, error: "cannot reach the tumult agent: " + e.message };
    }
    const date = resp.headers.get("Date");
    if (date) {
      const d = Date.parse(date);
      if (!isNaN(d)) serverOffset = d + 500 - Date.now(); // Date has 1 s resolution
    }
    let data = null;
    try { data = await resp.json(); } catch (e) { data = null; }
    if (!resp.ok) {
      const msg = (data && data.error) || resp.statusText || "error";
      return { ok: false, status: resp.status, error: msg };
    }
    return { ok: true, status: resp.status, data };
  }

  function now() { return Date.now() + serverOffset; }

  // ---- formatting ---------------------------------------------------------

  function t(s) { return s ? Date.parse(s) : NaN; }

  function dur(ms) {
    if (!isFinite(ms)) return "—";
    const neg = ms < 0;
    let s = Math.round(Math.abs(ms) / 1000);
    let out;
    if (s < 60) out = s + "s";
    else if (s < 3600) out = Math.floor(s / 60) + "m" + String(s % 60).padStart(2, "0") + "s";
    else if (s < 86400) out = Math.floor(s / 3600) + "h" + String(Math.floor(s / 60) % 60).padStart(2, "0") + "m";
    else out = Math.floor(s / 86400) + "d" + Math.floor(s / 3600) % 24 + "h";
    return neg ? "-" + out : out;
  }

  function ago(s) {
    const ms = t(s);
    if (!isFinite(ms)) return "never";
    // The server's clock is known to a second: a moment ago is "just now",
    // never a negative age.
    const d = now() - ms;
    return d < 1000 ? "just now" : dur(d) + " ago";
  }

  function until(s) {
    const ms = t(s);
    if (!isFinite(ms)) return "";
    return "in " + dur(ms - now());
  }

  function clock(s) {
    const ms = t(s);
    if (!isFinite(ms)) return "—";
    const d = new Date(ms);
    const same = new Date(now()).toDateString() === d.toDateString();
    return same ? d.toLocaleTimeString() : d.toLocaleString();
  }

  function shortMember(m) {
    if (!m) return "—";
    if (m.name) return m.name.replace(/^\//, "");
    return (m.id || "").slice(0, 12) || "—";
  }

  // ---- DOM helpers --------------------------------------------------------

  // h builds an element; children are nodes or text (never parsed as HTML).
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") el.className = v;
      else if (k === "text") el.textContent = v;
      else el.setAttribute(k, v);
    }
    for (const c of children) {
      if (c === null || c === undefined) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }

  const SVG = "http://www.w3.org/2000/svg";
  function s(tag, attrs) {
    const el = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
    return el;
  }

  function badge(word, kind) {
    return h("span", { class: "badge b-" + (kind || word) }, word);
  }

  function fillTable(id, rows, emptyId) {
    const body = document.querySelector("#" + id + " tbody");
    // Each cell carries its column's name: on a phone the rows become
    // cards and the names label the cells.
    const names = Array.from(document.querySelectorAll("#" + id + " thead th")).map((th) => th.textContent);
    for (const tr of rows) {
      Array.from(tr.children).forEach((td, i) => td.setAttribute("data-label", names[i] || ""));
    }
    body.replaceChildren(...rows);
    if (emptyId) {
      const e = $(emptyId);
      if (e.dataset.text === undefined) e.dataset.text = e.textContent;
      e.textContent = e.dataset.text;
      e.hidden = rows.length > 0;
    }
  }

  // locked shows that nothing is known, rather than an empty fleet, while
  // the agent refuses to answer without a (right) token.
  const UNKNOWN = "Unknown: the agent answers only with an accepted token.";
  function locked() {
    last.status = null;
    for (const [id, empty] of [["faults", "faults-empty"], ["sources", "sources-empty"], ["history", "history-empty"]]) {
      fillTable(id, [], empty);
      $(empty).textContent = UNKNOWN;
    }
    $("faults-count").textContent = "";
    $("policies").replaceChildren(h("p", { class: "muted" }, UNKNOWN));
    $("endpoints-section").hidden = true;
  }

  function notice(text, info) {
    const n = $("notice");
    n.textContent = text;
    n.className = "notice" + (info ? " info" : "");
    n.hidden = !text;
  }

  // ---- rendering ----------------------------------------------------------

  function renderState(st) {
    const state = (st.state || "unknown").toLowerCase();
    $("top").className = "state-" + state;
    $("state").textContent = state.toUpperCase();
    const parts = [];
    if (st.actor) parts.push("by " + st.actor);
    if (st.source && st.source !== st.actor) parts.push("via " + st.source);
    if (st.reason) parts.push("“" + st.reason + "”");
    if (st.since) parts.push("since " + clock(st.since) + " (" + ago(st.since) + ")");
    if (st.until) parts.push("until " + clock(st.until) + " (" + until(st.until) + ")");
    if (st.dry_run) parts.push("DRY RUN: nothing is injected");
    $("state-detail").textContent = parts.join(" · ") || (state === "armed" ? "faults may be injected inside open windows" : "");
    $("replica").textContent = (st.replica ? "replica " + st.replica : "") + (st.leader === false ? " (standby: another replica schedules)" : "");
  }

  function renderFaults(faults) {
    $("faults-count").textContent = faults.length ? "(" + faults.length + ")" : "";
    fillTable("faults", faults.map((f) => {
      const left = t(f.restore_by) - now();
      const kind = (f.fault && f.fault.kind) || "—";
      return h("tr", { "data-member": shortMember(f.member), "data-id": f.id },
        h("td", {}, shortMember(f.member)),
        h("td", {}, f.policy),
        h("td", {}, kind + (f.dry_run ? " (dry run)" : "")),
        h("td", {}, badge(f.phase || "—")),
        h("td", { class: "num" }, isFinite(left) && left > 0 && f.phase === "injected" ? dur(left) : (f.phase === "injected" ? "due" : f.phase || "—")),
        h("td", {}, f.actor || "—"));
    }), "faults-empty");
  }

  function renderSources(sources) {
    fillTable("sources", sources.map((src) => {
      let word = "up";
      if (src.tripped) word = "tripped";
      else if (!src.up) word = "down";
      return h("tr", { "data-source": src.name },
        h("td", {}, src.name, src.kind ? h("div", { class: "muted small" }, src.kind) : null),
        h("td", {}, src.scope || "global"),
        h("td", {}, badge(word), src.detail ? h("div", { class: "muted small" }, src.detail) : null),
        h("td", { class: "num" }, ago(src.last_read)),
        h("td", { class: src.error ? "error" : "muted" }, src.error || "—"));
    }), "sources-empty");
  }

  // Endpoint reachability, when the agent reports it: each docker or
  // nomad block with its state (up, down, unchecked, unused), the last
  // check and its error. Older agents report none: the card stays hidden.
  const ENDPOINT_BADGE = { up: "ok", down: "bad", unchecked: "skipped", unused: "skipped" };
  function renderEndpoints(eps) {
    const sec = $("endpoints-section");
    if (!Array.isArray(eps) || eps.length === 0) { sec.hidden = true; return; }
    sec.hidden = false;
    fillTable("endpoints", eps.map((e) => {
      const name = e.name || [e.driver, e.endpoint].filter(Boolean).join("/") || "—";
      let state = e.state;
      if (!state && (e.reachable !== undefined || e.up !== undefined)) state = (e.reachable || e.up) ? "up" : "down";
      const when = e.checked || e.last_check;
      return h("tr", { "data-endpoint": name },
        h("td", {}, name, e.policies && e.policies.length ? h("div", { class: "muted small" }, e.policies.join(", ")) : null),
        h("td", {}, state ? badge(state, ENDPOINT_BADGE[state] || "skipped") : "—",
          e.since ? h("div", { class: "muted small" }, "since " + ago(e.since)) : null),
        h("td", { class: "num" }, when ? ago(when) : "—"),
        h("td", { class: e.error ? "error" : "muted" }, e.error || "—"));
    }));
  }

  // timeline draws the next 24 h of a policy: windows pale, open time
  // solid, freezes grey, now as a red line at the left edge.
  function timeline(pp, from, to) {
    const W = 1000, H = 24, top = 2, barH = 18;
    const span = to - from;
    const x = (ms) => Math.max(0, Math.min(W, (ms - from) / span * W));
    const svg = s("svg", { class: "timeline", viewBox: "0 0 " + W + " " + H, preserveAspectRatio: "none", role: "img",
      "aria-label": pp.name + ": open time in the next 24 hours" });
    svg.append(s("rect", { x: 0, y: top, width: W, height: barH, fill: "none", class: "tick" }));
    for (let hr = 6; hr < 24; hr += 6) {
      const ms = from + hr * 3600e3;
      svg.append(s("line", { x1: x(ms), x2: x(ms), y1: top, y2: top + barH + 3, class: "tick" }));
    }
    // An interval is {start, end} (older agents: {Start, End}); one that
    // does not parse is left out rather than drawn wrong.
    const bar = (iv, cls, y, height) => {
      const a = t(iv.start || iv.Start), b = t(iv.end || iv.End);
      if (!isFinite(a) || !isFinite(b)) return null;
      const r = s("rect", { class: cls, x: x(a), y, width: Math.max(1, x(b) - x(a)), height });
      svg.append(r);
      return r;
    };
    for (const iv of pp.windows || []) bar(iv, "win", top, barH);
    for (const iv of pp.open || []) bar(iv, "open", top + 3, barH - 6);
    for (const fz of pp.freezes || []) {
      const r = bar(fz, "freeze", top, barH);
      if (!r) continue;
      const title = s("title", {});
      title.textContent = "freeze: " + (fz.reason || "");
      r.append(title);
    }
    svg.append(s("line", { class: "now", x1: x(now()), x2: x(now()), y1: 0, y2: top + barH + 2 }));
    // Labels are HTML under the drawing: the drawing stretches to the
    // card's width, which would stretch text drawn inside it.
    const labels = h("div", { class: "axis" }, ...["now", "+6h", "+12h", "+18h", "+24h"].map((l) => h("span", {}, l)));
    return h("div", { class: "tl" }, svg, labels);
  }

  function renderPolicies(policies, plan) {
    const byName = {};
    if (plan && plan.policies) for (const pp of plan.policies) byName[pp.name] = pp;
    const from = now(), to = from + 24 * 3600e3;
    const nodes = policies.map((p) => {
      let win;
      if (p.frozen) win = badge("frozen", "warn");
      else if (p.window_open) win = badge("window open", "ok");
      else win = badge("window closed", "skipped");
      const meta = [];
      meta.push(p.fault + " on " + p.target);
      if (p.window_open && p.closes) meta.push("closes " + until(p.closes));
      if (!p.window_open && p.next_open) meta.push("opens " + until(p.next_open));
      if (p.frozen) meta.push("freeze: " + p.frozen);
      meta.push(p.today + " today", p.active + " active");
      if (p.next_at && p.enabled) meta.push("next arrival " + until(p.next_at));
      const stateWhy = p.state !== "armed" ? [p.state, p.state_actor && "by " + p.state_actor, p.state_reason && "“" + p.state_reason + "”",
        p.state_until && "until " + clock(p.state_until)].filter(Boolean).join(" ") : "";
      const pp = byName[p.name];
      return h("div", { class: "policy", "data-policy": p.name },
        h("div", { class: "head" },
          h("span", { class: "name" }, p.name),
          badge(p.state), win,
          p.enabled ? null : badge("disabled", "skipped"),
          p.dry_run ? badge("dry run", "skipped") : null),
        h("div", { class: "meta" }, meta.join(" · ")),
        stateWhy ? h("div", { class: "meta" }, stateWhy) : null,
        p.last ? h("div", { class: "meta" }, "last: " + p.last + (p.last_at ? " (" + ago(p.last_at) + ")" : "")) : null,
        pp ? timeline(pp, from, to) : null);
    });
    if (nodes.length === 0) nodes.push(h("p", { class: "muted" }, "No policy is loaded."));
    $("policies").replaceChildren(...nodes);
    // Keep the pause/resume policy choices in step with what is loaded.
    const sel = $("dlg-policy");
    const want = ["", ...policies.map((p) => p.name)];
    const have = Array.from(sel.options).map((o) => o.value);
    if (want.join("\n") !== have.join("\n")) {
      sel.replaceChildren(...want.map((n) => h("option", { value: n }, n || "all policies")));
    }
  }

  function renderHistory(recs) {
    fillTable("history", recs.map((r) => {
      const why = r.reason || r.error || "";
      return h("tr", { "data-id": r.id, "data-result": r.result },
        h("td", { class: "num" }, clock(r.finished)),
        h("td", {}, r.policy),
        h("td", {}, shortMember(r.member)),
        h("td", {}, badge(r.result || "—"), r.dry_run ? h("div", { class: "muted small" }, "dry run") : null),
        h("td", {}, why, r.actor_reason ? h("div", { class: "muted small" }, "asked: " + r.actor_reason) : null),
        h("td", {}, r.actor || "—"));
    }), "history-empty");
  }

  function render() {
    const st = last.status;
    if (!st) return;
    renderState(st);
    renderFaults(st.faults || []);
    renderPolicies(st.policies || [], last.plan);
    renderSources(st.sources || []);
    renderEndpoints(st.endpoints);
    renderHistory(last.history || []);
  }

  // ---- polling ------------------------------------------------------------

  async function poll() {
    const wantPlan = Date.now() - planAt > PLAN_MS;
    const [st, hist, plan] = await Promise.all([
      api("GET", "/v1/status"),
      api("GET", "/v1/history?limit=25"),
      wantPlan ? api("GET", "/v1/plan?hours=24") : Promise.resolve(null),
    ]);
    polls++;
    document.body.dataset.polls = String(polls);
    if (!st.ok) {
      if (st.status === 401 || st.status === 403) {
        $("token-state").textContent = st.status === 401 ? "a token is required to read the state" : "this token is refused";
        $("live").textContent = "not authorised: " + st.error;
        $("state").textContent = "LOCKED";
        $("state-detail").textContent = "enter an API token below to see and control tumult";
        $("top").className = "state-unknown";
        locked();
      } else {
        $("live").textContent = "connection lost " + (lastOK ? dur(Date.now() - lastOK) + " ago" : "") + ": " + st.error;
        $("top").className = "state-unknown";
        $("state-detail").textContent = "no answer from the agent; the state shown may be stale";
      }
      return;
    }
    lastOK = Date.now();
    last.status = st.data;
    if (hist && hist.ok) last.history = hist.data;
    if (plan && plan.ok) { last.plan = plan.data; planAt = Date.now(); }
    $("token-state").textContent = token() ? "token in use (this tab only)" : "";
    $("live").textContent = "live · updated " + new Date().toLocaleTimeString();
    render();
  }

  async function loop() {
    try { await poll(); } catch (e) { $("live").textContent = "error: " + e.message; }
    setTimeout(loop, POLL_MS);
  }

  // ---- actions ------------------------------------------------------------

  const ACTIONS = {
    halt: { title: "Halt tumult", help: "Every running fault is restored at once and no new fault starts until someone resumes.", ok: "Halt now", cls: "danger", path: "/v1/halt" },
    pause: { title: "Pause", help: "No new faults. Running faults end normally, or at once with restore.", ok: "Pause", cls: "warn", path: "/v1/pause" },
    resume: { title: "Resume", help: "Arm tumult again: faults may start inside open windows.", ok: "Resume", cls: "ok", path: "/v1/resume" },
  };
  let pending = null;

  function openDialog(kind) {
    const a = ACTIONS[kind];
    pending = kind;
    $("dlg-title").textContent = a.title;
    $("dlg-help").textContent = a.help;
    $("dlg-ok").textContent = a.ok;
    $("dlg-ok").className = "btn " + a.cls;
    $("dlg-policy-row").hidden = kind === "halt";
    $("dlg-pause-rows").hidden = kind !== "pause";
    $("dlg-reason").value = "";
    $("dlg-for").value = "";
    $("dlg-restore").checked = false;
    $("dlg-policy").value = "";
    $("dlg-error").hidden = true;
    $("dlg").showModal();
    $("dlg-reason").focus();
  }

  async function submitDialog(ev) {
    ev.preventDefault();
    if (busy || !pending) return;
    const kind = pending;
    const reason = $("dlg-reason").value.trim();
    if (!reason) {
      $("dlg-error").textContent = "A reason is required: it is recorded with your name.";
      $("dlg-error").hidden = false;
      return;
    }
    const body = { reason };
    const policy = $("dlg-policy").value;
    if (kind !== "halt" && policy) body.policy = policy;
    if (kind === "pause") {
      const f = $("dlg-for").value.trim();
      if (f) body.for = f;
      if ($("dlg-restore").checked) body.restore = true;
    }
    busy = true;
    $("dlg-ok").disabled = true;
    const res = await api("POST", ACTIONS[kind].path, body);
    busy = false;
    $("dlg-ok").disabled = false;
    $("dlg").close();
    pending = null;
    if (!res.ok) {
      // Nothing changed: say why, and let the next poll show the state.
      notice("Refused: " + kind + " was not done: " + res.error + (res.status ? " (HTTP " + res.status + ")" : ""));
    } else {
      const c = res.data || {};
      notice((kind === "halt" ? "Halted" : kind === "pause" ? "Paused" : "Resumed") +
        (policy && kind !== "halt" ? " policy " + policy : "") + " by " + (c.actor || "you") + ": " + reason, true);
      planAt = 0;
    }
    poll();
  }

  function init() {
    $("halt-btn").addEventListener("click", () => openDialog("halt"));
    $("pause-btn").addEventListener("click", () => openDialog("pause"));
    $("resume-btn").addEventListener("click", () => openDialog("resume"));
    $("dlg-form").addEventListener("submit", submitDialog);
    $("dlg-cancel").addEventListener("click", () => { pending = null; $("dlg").close(); });
    $("notice").addEventListener("click", () => notice(""));
    $("token-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const v = $("token").value.trim();
      try { if (v) sessionStorage.setItem(TOKEN_KEY, v); else sessionStorage.removeItem(TOKEN_KEY); } catch (e) { /* storage off */ }
      $("token").value = "";
      notice("");
      planAt = 0;
      poll();
    });
    $("token-forget").addEventListener("click", () => {
      try { sessionStorage.removeItem(TOKEN_KEY); } catch (e) { /* storage off */ }
      $("token-state").textContent = "token forgotten";
      poll();
    });
    loop();
  }

  document.addEventListener("DOMContentLoaded", init);
})();
