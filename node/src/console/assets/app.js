// The swarmvote console: a tiny hash router over the node's read-only API (/v1/...),
// kept live by its event stream. Plain DOM, no framework; text goes in through
// textContent only, so nothing from the API is ever parsed as HTML.
"use strict";

const state = {
  names: new Map(), // voter id -> roster name
  status: null, // the last /v1/status
  events: null, // the EventSource
  refresh: null, // re-renders the current page on a relevant event
  timer: null,
  loggedIn: false,
};

// ---------- small helpers ----------

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function svg(tag, attrs) {
  const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  return e;
}

const pad = (n, w = 2) => String(n).padStart(w, "0");

// UTC, as the CLI prints times.
function time(ms) {
  if (ms === null || ms === undefined) return "-";
  const d = new Date(ms);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}Z`;
}

const short = (id) => (id ? String(id).slice(0, 12) : "-");
const name = (voter) => state.names.get(voter) || short(voter);
const badge = (word, cls) => el("span", { class: `badge ${cls || word}`, text: word });

function facts(rows) {
  const dl = el("dl", { class: "facts" });
  for (const [k, v] of rows) {
    if (v === undefined) continue;
    dl.append(el("dt", { text: k }), el("dd", {}, v === null ? "-" : v));
  }
  return dl;
}

function table(headers, rows, empty) {
  if (rows.length === 0) return el("p", { class: "empty", text: empty || "none" });
  return el("table", {},
    el("thead", {}, el("tr", {}, headers.map((h) => el("th", { text: h })))),
    el("tbody", {}, rows));
}

const page = () => document.getElementById("page");

function show(...children) {
  const p = page();
  p.replaceChildren(...children.flat());
  p.hidden = false;
}

// ---------- the API ----------

class Unauthorized extends Error {}

// GET a JSON document with the cookie. Any 401 sends the operator to the login page.
async function api(path) {
  let r;
  try {
    r = await fetch(path, { credentials: "same-origin", headers: { Accept: "application/json" } });
  } catch (e) {
    throw new Error(`cannot reach the node (${e.message})`);
  }
  if (r.status === 401) {
    let message = "";
    try { message = (await r.json()).error.message; } catch (_) { /* not JSON */ }
    toLogin(message === "wrong token"
      ? "The token was refused: it is wrong or the node has a new one (it changes at every start). Log in again."
      : "");
    throw new Unauthorized(message);
  }
  const body = await r.json().catch(() => null);
  if (!r.ok) {
    const m = body && body.error ? `${body.error.code}: ${body.error.message}` : `HTTP ${r.status}`;
    throw new Error(`${path}: ${m}`);
  }
  return body;
}

async function loadNames() {
  const roster = await api("/v1/roster");
  for (const m of roster.members) state.names.set(m.voter, m.name);
  return roster;
}

// ---------- login ----------

function toLogin(message) {
  state.loggedIn = false;
  stopEvents();
  document.getElementById("top").hidden = true;
  page().hidden = true;
  page().replaceChildren();
  const err = document.getElementById("login-error");
  err.textContent = message || "";
  err.hidden = !message;
  document.getElementById("login").hidden = false;
  document.getElementById("token").focus();
}

async function login(ev) {
  ev.preventDefault();
  const input = document.getElementById("token");
  let r;
  try {
    r = await fetch("/ui/login", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ token: input.value }),
    });
  } catch (e) {
    toLogin(`Cannot reach the node: ${e.message}`);
    return;
  }
  if (r.status === 204) {
    input.value = "";
    if (!location.hash || location.hash === "#/login") location.hash = "#/proposals";
    await start();
    return;
  }
  let message = `HTTP ${r.status}`;
  try { message = (await r.json()).error.message; } catch (_) { /* keep the status */ }
  toLogin(message === "wrong token" ? "Wrong token." : message);
}

async function logout() {
  await fetch("/ui/logout", { method: "POST", credentials: "same-origin" }).catch(() => null);
  toLogin("Logged out.");
}

// ---------- live updates ----------

function stopEvents() {
  if (state.events) state.events.close();
  state.events = null;
  setLive(false);
}

function setLive(on) {
  const l = document.getElementById("live");
  l.textContent = on ? "live" : "offline";
  l.classList.toggle("on", on);
}

const KINDS = ["proposal_seen", "ballot_accepted", "decided", "expired", "equivocation",
  "invalid_message", "voter_degraded", "voter_recovered"];

function startEvents() {
  stopEvents();
  // EventSource sends the cookie (same origin); it cannot send a header.
  const es = new EventSource("/v1/events");
  state.events = es;
  es.onopen = () => setLive(true);
  es.onerror = () => {
    setLive(false);
    // Closed for good (such as a 401): find out why through a plain request.
    if (es.readyState === EventSource.CLOSED) {
      api("/v1/status").then(() => setTimeout(() => state.loggedIn && startEvents(), 2000))
        .catch(() => null);
    }
  };
  for (const kind of KINDS) {
    es.addEventListener(kind, (m) => {
      let data = null;
      try { data = JSON.parse(m.data); } catch (_) { return; }
      if (state.refresh) state.refresh(kind, data);
    });
  }
}

// Coalesces bursts of events into one re-render.
function soon(fn) {
  clearTimeout(state.timer);
  state.timer = setTimeout(() => fn().catch(report), 150);
}

function report(e) {
  if (e instanceof Unauthorized) return;
  show(el("p", { class: "error", text: String(e.message || e) }));
}

// ---------- pages ----------

const filters = { status: "", action: "", history: false };

function bar(yes, no, n, q) {
  const total = Math.max(n || 0, yes + no, q || 0, 1);
  const b = el("div", { class: "bar", title: `${yes} yes, ${no} no, q = ${q}, n = ${n}` });
  const y = el("div", { class: "yes" });
  y.style.width = `${(100 * yes) / total}%`;
  const o = el("div", { class: "no" });
  o.style.width = `${(100 * no) / total}%`;
  b.append(y, o);
  if (q) {
    const m = el("div", { class: "q" });
    m.style.left = `calc(${(100 * q) / total}% - 1px)`;
    b.append(m);
  }
  return el("div", {}, b, el("div", { class: "bar-label", text: `yes ${yes} / no ${no} · q = ${q}` }));
}

function proposalRow(p) {
  return el("tr", {
    class: "row-link", "data-id": p.id, "data-status": p.status,
    onclick: () => { location.hash = `#/proposal/${p.id}`; },
  },
  el("td", { class: "mono", text: time(p.created_at) }),
  el("td", {}, el("a", { href: `#/proposal/${p.id}`, class: "mono", text: short(p.id) })),
  el("td", { class: "mono", text: p.action }),
  el("td", { text: name(p.proposer) }),
  el("td", {}, badge(p.status)),
  el("td", {}, bar(p.yes, p.no, p.n, p.q)));
}

async function proposalsPage() {
  const statusSel = el("select", { id: "filter-status" },
    ["", "pending", "approved", "rejected", "expired"].map((s) =>
      el("option", { value: s, selected: s === filters.status, text: s || "any status" })));
  const actionIn = el("input", { id: "filter-action", placeholder: "action, such as fs.delete", value: filters.action });
  // Off: what the node lists by default (within [retention] listed_secs of expiry).
  // On: the whole stored history, paged with "More".
  const historyBox = el("input", { id: "filter-history", type: "checkbox", checked: filters.history });
  const body = el("tbody", { id: "proposal-rows" });
  const more = el("button", { class: "more", type: "button", hidden: true, text: "More" });
  let cursor = null;

  const query = (c) => {
    const qs = new URLSearchParams({ limit: "50" });
    if (filters.status) qs.set("status", filters.status);
    if (filters.action) qs.set("action", filters.action);
    if (filters.history) qs.set("history", "true");
    if (c) qs.set("cursor", c);
    return `/v1/proposals?${qs}`;
  };
  const load = async (append) => {
    const pageData = await api(query(append ? cursor : null));
    const rows = pageData.proposals.map(proposalRow);
    if (append) body.append(...rows);
    else body.replaceChildren(...rows);
    cursor = pageData.next_cursor || null;
    more.hidden = !cursor;
    empty.hidden = body.children.length > 0;
  };
  const empty = el("p", { class: "empty", text: "No proposals match.", hidden: true });
  statusSel.addEventListener("change", () => { filters.status = statusSel.value; load(false).catch(report); });
  actionIn.addEventListener("change", () => { filters.action = actionIn.value.trim(); load(false).catch(report); });
  historyBox.addEventListener("change", () => { filters.history = historyBox.checked; load(false).catch(report); });
  more.addEventListener("click", () => load(true).catch(report));

  show(
    el("h1", { text: "Proposals" }),
    el("div", { class: "filters" },
      el("label", { for: "filter-status", text: "Status" }), statusSel,
      el("label", { for: "filter-action", text: "Action" }), actionIn,
      historyBox, el("label", { for: "filter-history", text: "whole history" }),
      el("span", { class: "muted small", text: "newest first" })),
    el("table", {},
      el("thead", {}, el("tr", {}, ["Created", "Id", "Action", "Proposer", "Status", "Yes / no against q"]
        .map((h) => el("th", { text: h })))),
      body),
    empty, el("p", {}, more));
  await load(false);
  // Live: the first page follows the stream; pages fetched with "More" stay as they were.
  state.refresh = (kind) => {
    if (["proposal_seen", "ballot_accepted", "decided", "expired", "equivocation"].includes(kind)) {
      soon(async () => { if (!cursor || body.children.length <= 50) await load(false); });
    }
  };
}

function pre(value) {
  return el("pre", { text: typeof value === "string" ? value : JSON.stringify(value, null, 2) });
}

function certificateCard(r) {
  const c = r.certificate;
  if (!c) {
    return el("p", { class: "muted", id: "certificate", text: `No certificate: the proposal is ${r.status}.` });
  }
  const verdict = c.valid ? badge("valid", "valid") : badge("invalid", "invalid");
  return el("div", { id: "certificate", "data-valid": String(c.valid) },
    facts([
      ["verification", el("span", {}, verdict, " ",
        c.valid ? "every signature and the quorum check out against the roster that judged it"
          : (c.error || "does not verify"))],
      ["tier", c.tier ? `${c.tier} (q = ${c.required})` : "-"],
      ["yes signers", String(c.signers)],
    ]),
    el("p", {},
      el("a", {
        class: "more", id: "certificate-download", href: `/v1/proposals/${r.id}/certificate`,
        download: `certificate-${short(r.id)}.json`, text: "Download certificate",
      }),
      el("span", { class: "muted small", text: "  check it offline: swarmvote verify-cert FILE" })));
}

function executionCard(r) {
  const parts = [];
  const x = r.execution;
  if (x) {
    parts.push(facts([
      ["state", badge(x.state, x.state === "finished" && x.exit_code === 0 ? "approved" : "none")],
      ["exit code", x.exit_code === null ? "-" : String(x.exit_code)],
      ["started", time(x.started_at)],
      ["finished", time(x.finished_at)],
      ["error", x.error || "-"],
    ]));
    if (x.stdout) parts.push(el("h2", { text: `stdout${x.stdout_truncated ? " (truncated)" : ""}` }), pre(x.stdout));
    if (x.stderr) parts.push(el("h2", { text: `stderr${x.stderr_truncated ? " (truncated)" : ""}` }), pre(x.stderr));
  }
  // Signed execution receipts: the executor's signed account of the run, and whether a
  // certificate here backs it (an unbacked one is evidence against its signer).
  for (const entry of r.receipts || []) {
    const x = entry.receipt.receipt;
    const st = entry.standing || {};
    const backed = st.state === "backed";
    parts.push(el("h2", { text: `Receipt signed by ${name(x.executor)}` }),
      el("div", { class: "receipt", "data-standing": st.state, "data-executor": name(x.executor) },
        facts([
          ["standing", el("span", {},
            badge(backed ? "backed" : "unbacked", backed ? "approved" : "rejected"),
            backed ? " a certificate of this proposal with the digest it names verifies here"
              : ` EVIDENCE against ${name(x.executor)}: ${st.reason || ""} ${st.detail || ""}`)],
          ["command", el("span", { class: "mono", text: x.command })],
          ["exit code", x.exit_code === null ? "- (killed)" : String(x.exit_code)],
          ["started", time(x.started_at)],
          ["finished", time(x.finished_at)],
          ["certificate", el("span", { class: "mono", text: x.certificate })],
          ["stdout sha-256", el("span", { class: "mono", text: x.stdout })],
          ["stderr sha-256", el("span", { class: "mono", text: x.stderr })],
          ["signature", el("span", { class: "mono small", text: entry.receipt.signature })],
        ]),
        el("p", { class: "muted small",
          text: `check it offline: swarmvote receipt ${r.id} --out r.json; swarmvote verify-receipt r.json --roster ROSTER` })));
  }
  if (parts.length === 0) {
    parts.push(el("p", { class: "muted", text: "No execution record on this node (only the proposer's node runs the action, and only with an executor configured)." }));
  }
  return el("div", { id: "execution" }, parts);
}

async function proposalPage(id) {
  const r = await api(`/v1/proposals/${encodeURIComponent(id)}`);
  const p = r.proposal.proposal;
  const t = r.tally;
  const latency = new Map((r.ballot_latencies || []).map((b) => [b.voter, b.latency_ms]));
  const ballots = r.ballots.map((sb) => {
    const b = sb.ballot;
    const ms = latency.get(b.voter);
    return el("tr", { "data-voter": name(b.voter), "data-vote": b.vote },
      el("td", { text: name(b.voter) }),
      el("td", {}, badge(b.vote)),
      el("td", { text: b.reason || "-" }),
      el("td", { class: "mono", text: ms === undefined ? "-" : `${ms} ms` }));
  });
  const equivocations = r.equivocations.map((e) => {
    const voter = e.yes ? e.yes.ballot.voter : "";
    return el("tr", {}, el("td", { text: name(voter) }), el("td", {}, pre(e)));
  });
  show(
    el("p", {}, el("a", { href: "#/proposals", text: "← proposals" })),
    el("h1", {}, "Proposal ", el("span", { class: "mono", text: short(r.id) }), " ",
      el("span", { id: "proposal-status", "data-status": r.status }, badge(r.status))),
    el("div", { class: "card" }, facts([
      ["id", el("span", { class: "mono", text: r.id })],
      ["action", el("span", { class: "mono", text: p.action })],
      ["proposer", name(p.proposer)],
      ["created", time(p.created_at)],
      ["expires", time(p.expires_at)],
      ["decided", time(r.decided_at)],
      ["verdict", el("span", {}, badge(t.verdict),
        ` ${t.yes.length} yes, ${t.no.length} no (n = ${t.n}, q = ${t.q}, tier ${t.tier})`,
        t.conflicting ? " CONFLICTING: approved through equivocation" : "")],
      ["tally", bar(t.yes.length, t.no.length, t.n, t.q)],
      ["own ballot", r.own_ballot ? badge(r.own_ballot.ballot.vote) : "none"],
    ])),
    el("h2", { text: "Payload" }), pre(p.payload),
    el("h2", { text: `Ballots (${r.ballots.length})` }),
    el("div", { id: "ballots" }, table(["Voter", "Vote", "Reason", "Latency"], ballots, "No ballots yet.")),
    el("p", { class: "muted small", text: "Latency: from the proposal's creation (proposer's clock) to this node accepting the ballot." }),
    el("h2", { text: "Equivocations" }),
    table(["Voter", "Evidence (signed yes and no)"], equivocations, "none"),
    el("h2", { text: "Certificate" }), el("div", { class: "card" }, certificateCard(r)),
    el("h2", { text: "Execution" }), el("div", { class: "card" }, executionCard(r)));
  state.refresh = (kind, data) => {
    if (data && data.proposal === id) soon(() => proposalPage(id));
    else if (data && data.evidence && kind === "equivocation") soon(() => proposalPage(id));
  };
}

function chart(recent) {
  const w = 9, gap = 3, h = 24;
  const s = svg("svg", { class: "chart", width: Math.max(1, recent.length) * (w + gap), height: h, role: "img" });
  recent.forEach((o, i) => {
    const tall = o.mark === "dissent" || o.mark === "equivocation" ? h : o.mark === "not_eligible" ? 4 : h * 0.45;
    const r = svg("rect", { x: i * (w + gap), y: h - tall, width: w, height: tall, class: o.mark, rx: 1 });
    const title = svg("title", {});
    title.textContent = `${short(o.proposal)}: ${o.mark}${o.vote ? ` (${o.vote})` : ""}`;
    r.append(title);
    s.append(r);
  });
  return s;
}

async function votersPage() {
  const s = await api("/v1/status");
  state.status = s;
  const rows = s.health.map((h) => {
    const recent = h.recent || [];
    const last = [...recent].reverse().find((o) => o.vote);
    const c = h.counts;
    return el("tr", { class: h.degraded ? "is-degraded" : "", "data-voter": h.name, "data-degraded": String(h.degraded) },
      el("td", {}, el("strong", { text: h.name }), el("div", { class: "mono small muted", text: short(h.voter) })),
      el("td", {}, h.degraded ? badge("degraded") : badge("healthy")),
      el("td", { text: h.reasons.length ? h.reasons.join(", ") : "-" }),
      el("td", { class: "mono", text: String(c.dissent) }),
      el("td", { class: "mono", text: String(c.missed) }),
      el("td", { class: "mono", text: String(c.invalid_signatures) }),
      el("td", { class: "mono", text: String(c.equivocations) }),
      el("td", {}, last
        ? el("span", {}, badge(last.vote), " on ", el("a", { class: "mono", href: `#/proposal/${last.proposal}`, text: short(last.proposal) }))
        : "-"),
      el("td", {}, recent.length ? chart(recent) : el("span", { class: "muted", text: "no settled proposals" })));
  });
  const legend = el("p", { class: "legend" },
    ["agreed", "dissent", "missed", "equivocation", "not_eligible"].map((m) =>
      el("span", {}, el("i", { class: m }), m.replace("_", " "))));
  show(
    el("h1", { text: "Voters" }),
    el("p", { class: "muted" },
      `Health over the window: ${s.health_window[0]} of ${s.health_window[1]} settled proposals. `,
      s.degraded.length ? el("strong", { class: "error", text: `${s.degraded.length} degraded: ${s.degraded.join(", ")}` }) : "No member is degraded."),
    table(["Member", "Health", "Reasons", "Dissent", "Missed", "Invalid signatures", "Equivocations", "Last ballot", "Recent (oldest → newest)"], rows),
    legend);
  state.refresh = (kind) => {
    if (["voter_degraded", "voter_recovered", "decided", "expired", "equivocation"].includes(kind)) soon(votersPage);
  };
}

async function peersPage() {
  const s = await api("/v1/status");
  state.status = s;
  const admitted = s.peers.filter((p) => p.admitted).length;
  show(
    el("h1", { text: "Peers" }),
    el("p", { class: "muted", text: `${s.peers.length} connected, ${admitted} admitted, ${s.mesh_peers} in the gossip mesh` }),
    el("h2", { text: "Connected" }),
    table(["Peer id", "Admitted", "Gossip score"], s.peers.map((p) => el("tr", {},
      el("td", { class: "mono", text: p.peer_id }),
      el("td", {}, p.admitted ? badge("admitted", "yes") : badge("not admitted", "no")),
      el("td", { class: "mono", text: p.score === null || p.score === undefined ? "-" : p.score.toFixed(1) }))), "No peer is connected."),
    el("h2", { text: "Unreachable (configured)" }),
    table(["Peer", "Address", "Failed dials", "Last error"], (s.unreachable || []).map((u) => el("tr", {},
      el("td", { class: "mono", text: u.peer_id || "-" }), el("td", { class: "mono", text: u.address }),
      el("td", { text: String(u.failures) }), el("td", { text: u.error }))), "none"),
    el("h2", { text: "Refused recently" }),
    table(["When", "Peer id", "Reason", "It announced"], (s.refused || []).map((r) => el("tr", {},
      el("td", { class: "mono", text: time(r.at) }), el("td", { class: "mono", text: r.peer_id }),
      el("td", { text: r.reason }), el("td", { class: "mono", text: r.theirs }))), "none"));
  state.refresh = null;
}

async function nodePage() {
  const [s, roster, history, logs] = await Promise.all([
    api("/v1/status"), loadNames(), api("/v1/roster/history"), api("/v1/logs")]);
  state.status = s;
  const count = (k) => s.counts[k] || 0;
  show(
    el("h1", { text: `Node ${s.name}` }),
    el("div", { class: "grid2" },
      el("div", { class: "card" }, facts([
        ["name", s.name], ["version", s.version],
        ["voter", el("span", { class: "mono", text: s.voter })],
        ["peer id", el("span", { class: "mono", text: s.peer_id })],
        ["swarm", s.swarm],
        ["member", s.member ? "yes" : "no (not in the head roster: it signs nothing)"],
        ["proposals", `pending ${count("pending")}, approved ${count("approved")}, rejected ${count("rejected")}, expired ${count("expired")}`],
        ["orphans", String(s.orphans)],
        ["last decision", s.last_decision_ms === null ? "none" : `${s.last_decision_ms} ms`],
        ["traffic", `in ${s.traffic.messages_in} msgs (${s.traffic.bytes_in} B), out ${s.traffic.messages_out} msgs (${s.traffic.bytes_out} B)`],
      ])),
      el("div", { class: "card" }, facts([
        ["roster", el("span", { class: "mono", text: roster.digest })],
        ["epoch", String(roster.epoch)],
        ["quorum", `${roster.quorum}: n = ${roster.n}, q = ${roster.q}`],
        ["genesis", el("span", { class: "mono", text: roster.genesis })],
        ["members", roster.members.map((m) => m.name).join(", ")],
        ["warnings", roster.warnings.length ? roster.warnings.join("; ") : "none"],
      ]))),
    el("h2", { text: "Tiers" }),
    table(["Tier", "Applies to", "Quorum", "n", "q", "Max offline", "Four eyes", "Requires"], roster.tiers.map((t) => el("tr", {},
      el("td", { text: t.name }), el("td", { class: "mono", text: t.applies_to }), el("td", { text: t.quorum }),
      el("td", { text: String(t.n) }), el("td", { text: String(t.q) }), el("td", { text: String(t.max_offline) }),
      el("td", { text: t.four_eyes ? "yes" : "no" }), el("td", { text: t.require.join(", ") || "-" }))), "one quorum for everything"),
    el("h2", { text: "Roster history (epochs)" }),
    table(["Epoch", "Digest", "Change proposal", "Signers", ""], history.steps.map((h) => el("tr", {},
      el("td", { text: String(h.epoch) }), el("td", { class: "mono", text: short(h.digest) }),
      el("td", {}, el("a", { class: "mono", href: `#/proposal/${h.proposal}`, text: short(h.proposal) })),
      el("td", { text: h.signers.map((m) => m.name).join(", ") }),
      el("td", { text: h.superseded ? "superseded" : "" }))), "No roster change yet: epoch 0 is the genesis roster."),
    el("h2", { text: `Recent warnings and errors (${logs.lines.length} of at most ${logs.capacity}${logs.dropped ? `, ${logs.dropped} older dropped` : ""})` }),
    table(["When", "Level", "Message", "Fields", "Target"], logs.lines.slice().reverse().map((l) => el("tr", { class: `log-${l.level}` },
      el("td", { class: "mono", text: time(l.at) }), el("td", { class: "level", text: l.level }),
      el("td", { text: l.message }), el("td", { class: "mono small", text: l.fields }),
      el("td", { class: "mono small muted", text: l.target }))), "No warnings or errors since the node started."));
  state.refresh = null;
}

// ---------- router ----------

async function route() {
  if (!state.loggedIn) return;
  const hash = location.hash || "#/proposals";
  const [, pageName, arg] = hash.split("/");
  for (const a of document.querySelectorAll("header nav a")) {
    a.classList.toggle("active", a.dataset.page === pageName || (pageName === "proposal" && a.dataset.page === "proposals"));
  }
  state.refresh = null;
  try {
    switch (pageName) {
      case "proposal": await proposalPage(decodeURIComponent(arg || "")); break;
      case "voters": await votersPage(); break;
      case "peers": await peersPage(); break;
      case "node": await nodePage(); break;
      default: await proposalsPage();
    }
  } catch (e) {
    report(e);
  }
}

// Checks the cookie with one request, then shows the console.
async function start() {
  try {
    const s = await api("/v1/status");
    state.status = s;
    await loadNames();
    document.getElementById("node-name").textContent = `${s.name} · ${s.swarm} · n = ${s.n}, q = ${s.q}`;
  } catch (e) {
    if (!(e instanceof Unauthorized)) toLogin(`Cannot load the node's status: ${e.message}`);
    return;
  }
  state.loggedIn = true;
  document.getElementById("login").hidden = true;
  document.getElementById("top").hidden = false;
  startEvents();
  await route();
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("login-form").addEventListener("submit", login);
  document.getElementById("logout").addEventListener("click", logout);
  window.addEventListener("hashchange", route);
  start();
});
