// The status page: one EventSource, the DOM built with textContent only (no HTML from data).
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const FLOOR_DBFS = -96;
  const state = { host: null, live: [], ended: [] };

  // Only the pill's colour changes: an element's other classes (.state) stay.
  const pill = (el, text, cls) => {
    el.textContent = text;
    el.classList.remove("ok", "bad", "warn", "off");
    el.classList.add("pill", cls);
  };
  const duration = (ms) => {
    const s = Math.floor(ms / 1000);
    return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
  };
  const dash = (v) => (v === null || v === undefined || v === "" ? "—" : String(v));

  function renderHost(h) {
    pill($("chrome"), h.chrome ? "Chrome up" : "Chrome down", h.chrome ? "ok" : "bad");
    pill($("registered"), h.registered ? "SIP registered" : h.sip && h.sip.reconnecting ? "SIP reconnecting" : "SIP not registered", h.registered ? "ok" : "bad");
    const c = h.cluster || {};
    if (c.mode === "redis") pill($("cluster"), c.ready ? "cluster ready" : "cluster not ready", c.ready ? "ok" : "bad");
    else pill($("cluster"), "single host", "off");
    if (h.draining) pill($("draining"), `draining: ${h.draining.callsInProgress} call(s) left`, "warn");
    else pill($("draining"), "taking calls", "ok");
    const sip = h.sip || {};
    $("sip").textContent = sip.lastError ? `last SIP error: ${sip.lastError}` : "";
  }

  function card(call, cards, parent) {
    let el = cards.get(call.id);
    if (!el) {
      el = $("call-card").content.firstElementChild.cloneNode(true);
      el.dataset.callId = call.id;
      cards.set(call.id, el);
    }
    parent.appendChild(el);
    const q = (sel) => el.querySelector(sel);
    el.classList.toggle("ended", call.state === "ended");
    q(".dir").textContent = call.direction === "inbound" ? "⬇ in" : "⬆ out";
    q(".parties").textContent = `${call.fromName ? `${call.fromName} ` : ""}${call.from} → ${call.to}`;
    pill(q(".state"), call.state, call.state === "answered" ? "ok" : call.state === "ended" ? "off" : "warn");
    q(".codec").textContent = dash(call.codec);
    q(".duration").textContent = duration(call.durationMs);
    const ms = (v) => (v === null || v === undefined ? "—" : `${v} ms`);
    q(".buffer").textContent = ms(call.playoutBufferMs);
    q(".rtt").textContent = ms(call.pipelineRttMs);
    q(".underruns").textContent = dash(call.underruns);
    // WebRTC receive quality: jitter, loss, round trip, jitter-buffer delay, concealment.
    const n = call.quality;
    q(".quality").textContent = n
      ? `jitter ${Math.round(n.jitterMs)} ms · loss ${n.lossPct} % · RTT ${ms(n.rttMs === null ? null : Math.round(n.rttMs))} · buffer ${ms(n.jitterBufferMs === null ? null : Math.round(n.jitterBufferMs))} · concealed ${n.concealedPct === null ? "—" : `${n.concealedPct} %`}`
      : "—";
    q(".amd").textContent = dash(call.amd);
    q(".transfer").textContent = dash(call.transferTarget);
    q(".end").textContent = dash(call.endReason);
    q(".recording").textContent = dash(call.recording);
    for (const side of ["caller", "agent"]) {
      const db = call[`${side}LevelDbfs`];
      const m = q(`meter.${side}`);
      m.value = db === null ? FLOOR_DBFS : db;
      m.dataset.dbfs = db === null ? String(FLOOR_DBFS) : String(db);
      q(`.${side}-db`).textContent = db === null || db <= FLOOR_DBFS ? "—" : `${db.toFixed(0)} dB`;
    }
  }

  const liveCards = new Map();
  const endedCards = new Map();
  function renderList(calls, cards, parent) {
    const keep = new Set(calls.map((c) => c.id));
    for (const [id, el] of cards) if (!keep.has(id)) (el.remove(), cards.delete(id));
    parent.querySelector(".empty").hidden = calls.length > 0;
    for (const c of calls) card(c, cards, parent);
  }

  function render() {
    if (state.host) renderHost(state.host);
    $("live-count").textContent = String(state.live.length);
    renderList(state.live, liveCards, $("live"));
    renderList(state.ended, endedCards, $("ended"));
  }

  function take(e) {
    const msg = JSON.parse(e.data);
    state.host = msg.host;
    state.live = msg.live;
    if (msg.ended) state.ended = msg.ended;
    render();
  }

  const source = new EventSource("/status/events");
  source.addEventListener("snapshot", take);
  source.addEventListener("update", take);
  let closing = false;
  // The host is shutting down: its last state is shown; EventSource keeps trying until it is back.
  source.addEventListener("closing", () => {
    closing = true;
    pill($("link"), "host stopped", "bad");
  });
  source.onopen = () => ((closing = false), pill($("link"), "live", "ok"));
  source.onerror = () => closing || pill($("link"), source.readyState === EventSource.CLOSED ? "disconnected" : "reconnecting…", "bad");
})();
