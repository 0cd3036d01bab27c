"use strict";
// Polls /api/state every 2 s and renders it; the login cookie (or no token) identifies the caller.
const POLL_MS = 2000;
const $ = (selector) => document.querySelector(selector);

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "" : String(text);
  if (className) td.className = className;
  return td;
}

function fill(tableId, rows, render) {
  const body = $(`#${tableId} tbody`);
  body.replaceChildren(...rows.map((row) => {
    const tr = document.createElement("tr");
    tr.append(...render(row));
    return tr;
  }));
}

function time(ms) {
  return ms ? new Date(ms).toISOString().replace("T", " ").slice(0, 19) : "";
}

function notice(text, kind) {
  const box = $("#notice");
  box.textContent = text;
  box.className = kind;
}

async function api(path, options) {
  const response = await fetch(path, { credentials: "same-origin", ...options });
  let body = {};
  try { body = await response.json(); } catch (_) { body = { error: response.statusText }; }
  return { status: response.status, body };
}

async function replay(address) {
  const { status, body } = await api("/api/dlq/replay", {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ positions: [address] }),
  });
  if (status === 403) notice(`Replay refused (HTTP 403): ${body.error}`, "denied");
  else if (status === 200 && (body.skipped || []).length)
    notice(`Not replayed ${address}: ${body.skipped.map((s) => s.why).join("; ")}`, "denied");
  else if (status === 200) notice(`Replayed ${address} -> ${body.replayed.map((r) => r.to).join(", ")}`, "ok");
  else notice(`Replay failed (HTTP ${status}): ${body.error}`, "denied");
}

function render(state) {
  $("#sampled").textContent = `sampled ${state.sampled_at}`;
  $("#role").textContent = `role: ${state.caller.role}`;
  $("#problems").textContent = state.healthy ? "" : state.verdict;
  fill("connectors", state.connectors, (c) => [
    cell(c.name), cell(c.type), cell(c.state, c.state),
    cell(c.tasks.map((t) => `${t.id}: ${t.state} on ${t.worker_id}`).join(", ")),
  ]);
  fill("groups", state.groups, (g) => [cell(g.group), cell(g.consumed, "num"), cell(g.per_second, "num"),
    cell(g.lag, "num")]);
  const seconds = (s) => (s === null || s === undefined ? "-" : `${s} s`);
  fill("latency", state.latency, (l) => [cell(l.target), cell(l.applied, "num"), cell(seconds(l.p50_s), "num"),
    cell(seconds(l.p95_s), "num"), cell((state.retries || {})[l.target] || 0, "num")]);
  $("#conflict-count").textContent = `(${state.conflict_count} settled)`;
  fill("topics", state.topics, (t) => {
    const row = [cell(t.topic), cell(t.records, "num"), cell(t.per_second, "num")];
    row[1].dataset.topic = t.topic;
    return row;
  });
  $("#dlq-count").textContent =
    `(${state.dead_letter_count} in ${state.dlq_topic}, ${state.dead_letters_pending ?? 0} pending)`;
  fill("dead-letters", state.dead_letters, (d) => {
    const button = document.createElement("button");
    button.textContent = "Replay";
    button.dataset.address = d.address;
    button.className = "replay";
    button.addEventListener("click", () => replay(d.address));
    const action = document.createElement("td");
    action.append(button);
    const status = cell(d.status);
    status.title = (d.replays || []).join("\n");
    return [cell(d.address), cell(time(d.timestamp_ms)), cell(d.stage), cell(d.entity), status, cell(d.reason),
      action];
  });
  fill("holds", state.holds || [], (h) => {
    const v = h.value || {};
    return [cell(time(h.timestamp_ms)), cell(h.key), cell(`${v.cause} (${v.target})`), cell(v.message)];
  });
  fill("conflicts", state.conflicts, (c) => {
    const v = c.value || {};
    const sides = Object.entries(v.values || {}).map(([system, value]) => `${system} ${value}`).join(" / ");
    const text = v.field ? `${v.field}: ${sides} -> ${v.winner} (${v.policy})` : JSON.stringify(v);
    return [cell(time(c.timestamp_ms)), cell(c.key), cell(text)];
  });
}

async function poll() {
  try {
    const { status, body } = await api("/api/state");
    if (status === 200) render(body);
    else $("#problems").textContent = `HTTP ${status}: ${body.error}`;
  } catch (error) {
    $("#problems").textContent = `dashboard unreachable: ${error}`;
  }
  setTimeout(poll, POLL_MS);
}

$("#login").addEventListener("submit", async (event) => {
  event.preventDefault();
  const { status, body } = await api("/login", { method: "POST", body: new URLSearchParams({ token: $("#token").value }) });
  $("#token").value = "";
  if (status === 200) notice(`Signed in as ${body.role}`, "ok");
  else notice(`Sign-in refused (HTTP ${status}): ${body.error}`, "denied");
});

$("#logout").addEventListener("click", async () => {
  await api("/logout", { method: "POST" });
  notice("Signed out", "ok");
});

$("#lookup").addEventListener("submit", async (event) => {
  event.preventDefault();
  const number = encodeURIComponent($("#customer-number").value.trim());
  const pii = $("#show-pii").checked ? "?show_pii=1" : "";
  const { status, body } = await api(`/api/customer360/${number}${pii}`);
  if (status === 200) $("#customer").textContent = JSON.stringify(body.customer.value, null, 2);
  else {
    $("#customer").textContent = `HTTP ${status}: ${body.error}`;
    if (status === 403) notice(`Refused (HTTP 403): ${body.error}`, "denied");
  }
});

poll();
