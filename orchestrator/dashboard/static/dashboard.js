// provider-orchestrator dashboard: live updates without reloads.
// The server renders everything; this script only (1) re-fetches the page's
// fragments when an event arrives, (2) ticks countdowns, (3) shows times in
// the viewer's zone, and (4) confirms and sends actions.
"use strict";

const REFRESH_DELAY_MS = 150;   // events in a burst refresh once
const FALLBACK_REFRESH_MS = 10000; // in case an event was missed
const STATE_SAVE_DELAY_MS = 700;
let refreshTimer = null;
let refreshing = false;
let again = false;

function scheduleRefresh() {
  if (refreshTimer === null) {
    refreshTimer = setTimeout(() => { refreshTimer = null; refresh(); }, REFRESH_DELAY_MS);
  }
}

async function refresh() {
  if (refreshing) { again = true; return; }
  refreshing = true;
  try {
    for (const box of document.querySelectorAll("[data-fragment]")) {
      const response = await fetch(box.dataset.fragment, { headers: { Accept: "text/html" } });
      if (response.ok) {
        box.innerHTML = await response.text();
      }
    }
    decorate();
  } catch (error) {
    setLive("reconnecting");
  } finally {
    refreshing = false;
    if (again) { again = false; scheduleRefresh(); }
  }
}

function setLive(state) {
  const live = document.getElementById("live");
  if (live) { live.dataset.state = state; live.textContent = state; }
}

function formatLeft(seconds) {
  if (seconds <= 0) { return "ending"; }
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = Math.floor(seconds % 60);
  const two = (n) => String(n).padStart(2, "0");
  return h > 0 ? `${h}h ${two(m)}m ${two(s)}s` : m > 0 ? `${m}m ${two(s)}s` : `${s}s`;
}

function tick() {
  const now = Date.now() / 1000;
  let ended = false;
  for (const item of document.querySelectorAll("[data-until]")) {
    const left = parseFloat(item.dataset.until) - now;
    item.textContent = formatLeft(left);
    if (left <= -1) { ended = true; }
  }
  if (ended) { scheduleRefresh(); }
}

function decorate() {
  for (const item of document.querySelectorAll("time[data-moment]")) {
    const moment = new Date(parseFloat(item.dataset.moment) * 1000);
    item.dateTime = moment.toISOString();
    item.title = moment.toISOString();
    item.textContent = moment.toLocaleString();
  }
  tick();
}

function notify(text, failed) {
  const notice = document.getElementById("notice");
  if (!notice) { return; }
  notice.textContent = text;
  notice.classList.toggle("failed", failed);
  notice.hidden = false;
}

async function act(button) {
  if (!window.confirm(button.dataset.confirm)) { return; }
  button.disabled = true;
  try {
    const response = await fetch(button.dataset.action, {
      method: "POST",
      headers: { "X-Orchestrator-Action": "1", Accept: "application/json" },
    });
    const answer = await response.json();
    if (!response.ok) {
      notify(answer.error || `refused (${response.status})`, true);
    } else if ("current" in answer) {
      notify(`${answer.backend}: ${answer.action} done; current provider is ${answer.current || "none (fallback mode)"}`, false);
    } else {
      notify(`job ${answer.job_id} queued again as ${answer.queued_as}`, false);
    }
  } catch (error) {
    notify("the dashboard did not answer", true);
  } finally {
    button.disabled = false;
    scheduleRefresh();
  }
}

function listen() {
  const events = new EventSource("/api/events");
  events.onopen = () => { setLive("live"); scheduleRefresh(); };
  events.onmessage = () => {
    scheduleRefresh();
    // A standalone dashboard reads the state file, which its owner saves within
    // half a second of a change: look again once it has.
    setTimeout(scheduleRefresh, STATE_SAVE_DELAY_MS);
  };
  events.onerror = () => setLive("reconnecting");  // EventSource reconnects by itself
}

document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-action]");
  if (button) { act(button); }
});
document.addEventListener("DOMContentLoaded", () => {
  decorate();
  listen();
  setInterval(tick, 1000);
  setInterval(scheduleRefresh, FALLBACK_REFRESH_MS);
});
