// eaas dashboard page: follows the /dashboard/stream SSE feed and keeps the experts grid, actors, traffic charts and timeline up to date in place.
'use strict';

const TRAFFIC_MS = 300 * 1000; // TRAFFIC_SECONDS in snapshot.ts
const TIMELINE_LENGTH = 200;
const STATES = ['starting', 'up', 'suspected', 'down', 'restarting', 'retiring', 'failed'];
const EXPERTS_SHOWN = 4; // experts listed per actor before "+N"
// Okabe-Ito blue and orange: distinguishable with every common colour-vision deficiency; the 2nd series is also dashed.
const SERIES_COLOURS = ['#0072b2', '#d55e00'];
// Viridis, sampled at 9 even stops; interpolated in between.
const VIRIDIS = ['#440154', '#472d7b', '#3b528b', '#2c728e', '#21918c', '#28ae80', '#5ec962', '#addc30', '#fde725']
  .map((h) => [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16)));

// ---- small helpers -------------------------------------------------------------------------------------------

const $ = (id) => document.getElementById(id);
function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text != null) e.textContent = text;
  return e;
}
// Write only on change: a once-a-second refresh of ~1000 cells must not cause needless style and layout work.
function setText(e, s) { if (e.textContent !== s) e.textContent = s; }
function setAttr(e, name, v) { if (e.getAttribute(name) !== v) e.setAttribute(name, v); }
function setClass(e, c) { if (e.className !== c) e.className = c; }
const num = (v) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const arr = (v) => (Array.isArray(v) ? v : []);
const str = (v) => (v == null ? '' : String(v));
// Server strings end up in class names only after this, so they can never inject odd selectors or styles.
const token = (v) => str(v).toLowerCase().replace(/[^a-z0-9-]/g, '') || 'unknown';
const pad2 = (n) => String(n).padStart(2, '0');
function hms(ms) {
  if (num(ms) == null) return '--:--:--';
  const d = new Date(ms);
  return `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
}
function fmt(v) {
  v = num(v);
  if (v == null) return '–';
  const a = Math.abs(v);
  const trim = (x, d) => x.toFixed(d).replace(/\.0$/, '');
  if (a >= 1e6) return trim(v / 1e6, a >= 1e7 ? 0 : 1) + 'M';
  if (a >= 1e4) return trim(v / 1e3, a >= 1e5 ? 0 : 1) + 'k';
  if (a >= 100 || Number.isInteger(v)) return String(Math.round(v));
  return v.toFixed(a >= 10 ? 1 : 2);
}
// 1, 2 or 5 times a power of ten at or above v, so chart axis labels read as round numbers.
function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}
function viridis(t) {
  t = Math.min(1, Math.max(0, t)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(t)), f = t - i, a = VIRIDIS[i], b = VIRIDIS[i + 1];
  return `rgb(${[0, 1, 2].map((k) => Math.round(a[k] + (b[k] - a[k]) * f)).join(',')})`;
}
const cellAt = (m, l, e) => num(arr(arr(m)[l])[e]) ?? 0;

// ---- header --------------------------------------------------------------------------------------------------

let lastUpdate = 0;
let nodeCount = 0;
let tokensNow = null;

function renderTotals() {
  let up = 0;
  for (const a of actors.values()) if (a.state === 'up') up++;
  setText($('t-up'), `${up} / ${actors.size}`);
  setText($('t-nodes'), String(nodeCount));
  setText($('t-tps'), fmt(tokensNow));
  setText($('t-updated'), lastUpdate ? hms(lastUpdate) : '–');
  setText($('actors-count'), actors.size ? `${actors.size} actors on ${groups.size} nodes` : '');
}
function touched() {
  lastUpdate = Date.now();
  $('t-updated-wrap').classList.remove('stale');
}
// Flag a silent feed: snapshots come about once a second, so 5 s without one means something is off.
setInterval(() => {
  if (lastUpdate && Date.now() - lastUpdate > 5000) $('t-updated-wrap').classList.add('stale');
}, 1000);

function setConn(kind, text) {
  const c = $('conn');
  setAttr(c, 'data-conn', kind);
  setText(c, text);
}

// ---- experts grid --------------------------------------------------------------------------------------------

const grid = { layers: -1, experts: -1, cells: [] }; // cells[layer][expert] = {el, key}

// Built once per shape, so per-second updates only touch text, attributes and colours of existing cells.
function buildGrid(layers, experts) {
  const g = $('grid');
  g.textContent = '';
  grid.layers = layers; grid.experts = experts; grid.cells = [];
  if (!layers || !experts) return; // the empty grid shows a CSS note
  g.style.gridTemplateColumns = `2.4em repeat(${experts}, minmax(17px, 44px))`;
  const every = experts > 32 ? 4 : 1; // numbering every column of 64 would be clutter
  const f = document.createDocumentFragment();
  f.appendChild(el('div', 'corner', 'L\\E'));
  for (let e = 0; e < experts; e++) f.appendChild(el('div', 'colhead', e % every === 0 ? String(e) : ''));
  for (let l = 0; l < layers; l++) {
    f.appendChild(el('div', 'rowhead', String(l)));
    const row = [];
    for (let e = 0; e < experts; e++) {
      const c = el('div', 'cell');
      c.dataset.layer = String(l);
      c.dataset.expert = String(e);
      f.appendChild(c);
      row.push({ el: c, key: '' });
    }
    grid.cells.push(row);
  }
  g.appendChild(f);
}

function renderExperts(s) {
  const layers = Math.max(0, Math.floor(num(s.layers) ?? 0));
  const experts = Math.max(0, Math.floor(num(s.experts) ?? 0));
  if (layers !== grid.layers || experts !== grid.experts) buildGrid(layers, experts);
  let max = 0;
  for (let l = 0; l < layers; l++) for (let e = 0; e < experts; e++) max = Math.max(max, cellAt(s.heat, l, e));
  setText($('legend-max'), fmt(max));
  for (let l = 0; l < layers; l++) {
    for (let e = 0; e < experts; e++) {
      const h = cellAt(s.heat, l, e), r = cellAt(s.running, l, e), d = cellAt(s.desired, l, e);
      const cell = grid.cells[l][e], t = max > 0 ? h / max : 0;
      const key = `${h}|${r}|${d}|${Math.round(t * 255)}`;
      if (cell.key === key) continue; // unchanged since last second: skip all DOM work
      cell.key = key;
      const c = cell.el, short = r < d;
      c.dataset.heat = String(h);
      c.dataset.running = String(r);
      c.dataset.desired = String(d);
      // Text colour follows the background's lightness (viridis turns light past ~60%).
      setClass(c, 'cell' + (h > 0 ? (t > 0.6 ? ' hot' : ' warm') : '') + (short ? ' short' : '') + (r === 0 && d === 0 ? ' idle' : ''));
      c.style.backgroundColor = h > 0 ? viridis(t) : '';
      setText(c, `${r}/${d}`);
      c.title = `layer ${l} expert ${e}: ${fmt(h)} tokens/s, running ${r} of desired ${d}`;
    }
  }
}

// ---- actors and nodes ----------------------------------------------------------------------------------------

const actors = new Map(); // instance -> {el, parts, state, node}
const groups = new Map(); // node name -> {el, list, roles, count}

function groupFor(node) {
  let g = groups.get(node);
  if (g) return g;
  const sec = el('section', 'node');
  sec.dataset.node = node;
  const head = el('div', 'node-head');
  head.append(el('span', 'node-name', node || '(no node)'), el('span', 'roles'), el('span', 'node-count'));
  const list = el('div', 'node-list');
  sec.append(head, list);
  $('nodes').appendChild(sec);
  g = { el: sec, list, roles: head.children[1], count: head.children[2], rolesKey: null };
  groups.set(node, g);
  return g;
}

function setRoles(g, roles) {
  const key = roles.join(',');
  if (g.rolesKey === key) return;
  g.rolesKey = key;
  g.roles.textContent = '';
  for (const r of roles) g.roles.appendChild(el('span', 'role role-' + token(r), str(r)));
}

function makeActor(instance) {
  const row = el('div', 'actor');
  row.dataset.instance = instance;
  const parts = {
    name: el('span', 'a-name', instance),
    state: el('span', 'badge'),
    busy: el('span', 'r a-busy'),
    bar: el('span', 'busy-bar'),
    busyText: el('span', 'busy-text'),
    rows: el('span', 'r'),
    restarts: el('span', 'r'),
    experts: el('span', 'a-experts'),
  };
  parts.name.title = instance;
  parts.busy.append(parts.bar, parts.busyText);
  row.append(parts.name, parts.state, parts.busy, parts.rows, parts.restarts, parts.experts);
  return { el: row, parts, state: '', node: null };
}

// Applies one ActorRow to its element (creating it if new); moves it when its node changed.
function updateActor(a) {
  if (!a || typeof a !== 'object' || a.instance == null) return null;
  const instance = str(a.instance);
  let rec = actors.get(instance);
  if (!rec) { rec = makeActor(instance); actors.set(instance, rec); }
  const node = str(a.node);
  if (rec.node !== node) { rec.node = node; groupFor(node).list.appendChild(rec.el); }
  const p = rec.parts;
  const state = STATES.includes(a.state) ? a.state : 'unknown';
  rec.state = state;
  setAttr(rec.el, 'data-state', state);
  setClass(rec.el, 'actor st-row-' + state);
  setClass(p.state, 'badge st-' + state);
  setText(p.state, state === 'unknown' ? str(a.state) || '?' : state);
  p.state.title = num(a.since) != null ? `${state} since ${hms(a.since)}` : state;
  const busy = num(a.busy);
  const pct = busy == null ? null : Math.round(Math.max(0, busy) * 100);
  setText(p.busyText, pct == null ? '–' : `${pct}%`);
  p.bar.style.width = pct == null ? '0' : `${Math.min(100, pct)}%`;
  setClass(p.busy, pct == null ? 'r a-busy none' : 'r a-busy');
  setText(p.rows, fmt(a.rowsPerSec));
  const restarts = num(a.restarts) ?? 0;
  setText(p.restarts, String(restarts));
  setClass(p.restarts, restarts > 0 ? 'r warn' : 'r');
  const ex = arr(a.experts).map(str);
  // Fit the column: up to EXPERTS_SHOWN ids within ~20 characters, then "+N" for the rest (all of them in the title).
  let shown = 0, len = 0;
  while (shown < Math.min(EXPERTS_SHOWN, ex.length) && (shown === 0 || len + 1 + ex[shown].length <= 20)) len += (shown ? 1 : 0) + ex[shown++].length;
  setText(p.experts, ex.slice(0, shown).join(' ') + (ex.length > shown ? ` +${ex.length - shown}` : ''));
  p.experts.title = ex.join(' ');
  return rec;
}

function renderGroupCounts() {
  for (const g of groups.values()) {
    let up = 0, n = 0;
    for (const child of g.list.children) { n++; if (child.dataset.state === 'up') up++; }
    setText(g.count, n ? `${up}/${n} up` : 'no actors');
  }
}

const byName = (a, b) => a.localeCompare(b, undefined, { numeric: true });

function renderActors(s) {
  const seen = new Set();
  for (const a of arr(s.actors)) {
    const rec = updateActor(a);
    if (rec) seen.add(str(a.instance));
  }
  for (const [name, rec] of actors) if (!seen.has(name)) { rec.el.remove(); actors.delete(name); }
  // Nodes in the snapshot's order, then any node only an actor names; drop nodes nobody mentions any more.
  const nodes = arr(s.nodes).filter((n) => n && typeof n === 'object');
  const order = [...new Set(nodes.map((n) => str(n.name)))];
  for (const rec of actors.values()) if (!order.includes(rec.node)) order.push(rec.node);
  for (const [name, g] of groups) if (!order.includes(name)) { g.el.remove(); groups.delete(name); }
  for (const n of nodes) setRoles(groupFor(str(n.name)), arr(n.roles));
  const box = $('nodes');
  order.forEach((name, i) => {
    const g = groupFor(name);
    if (box.children[i] !== g.el) box.insertBefore(g.el, box.children[i] || null);
    // Sorted by instance within a node; only misplaced elements are moved, so a steady cluster causes no DOM churn.
    const mine = [...actors.entries()].filter(([, r]) => r.node === name).map(([k]) => k).sort(byName);
    mine.forEach((k, j) => {
      const e = actors.get(k).el;
      if (g.list.children[j] !== e) g.list.insertBefore(e, g.list.children[j] || null);
    });
  });
  nodeCount = nodes.length;
  renderGroupCounts();
}

// ---- traffic charts ------------------------------------------------------------------------------------------

const CHARTS = [
  { title: 'Throughput', unit: 'tok/s', series: [{ key: 'tokensPerSec', label: 'tokens/s' }] },
  { title: 'Requests', unit: '', series: [{ key: 'running', label: 'running' }, { key: 'waiting', label: 'waiting' }] },
  { title: 'TTFT', unit: 'ms', series: [{ key: 'ttftP50', label: 'p50' }, { key: 'ttftP99', label: 'p99' }] },
  { title: 'ITL', unit: 'ms', series: [{ key: 'itlP50', label: 'p50' }, { key: 'itlP99', label: 'p99' }] },
];
let traffic = [];
let trafficEnd = 0;

function buildCharts() {
  const box = $('charts');
  for (const ch of CHARTS) {
    const wrap = el('div', 'chart');
    const head = el('div', 'chart-head');
    head.appendChild(el('h3', null, ch.title + (ch.unit ? ` (${ch.unit})` : '')));
    const latest = el('span', 'latest');
    ch.values = ch.series.map((s, i) => {
      const item = el('span', 'series');
      const sw = el('span', 'swatch' + (i ? ' dashed' : ''));
      sw.style.borderColor = SERIES_COLOURS[i];
      const v = el('b', null, '–');
      item.append(sw, ch.series.length > 1 ? el('span', null, s.label + ' ') : '', v);
      latest.appendChild(item);
      return v;
    });
    head.appendChild(latest);
    const plot = el('div', 'plot');
    ch.canvas = el('canvas');
    ch.canvas.setAttribute('aria-label', ch.title + ' over the last 5 minutes');
    plot.appendChild(ch.canvas);
    wrap.append(head, plot);
    box.appendChild(wrap);
  }
}

function drawChart(ch) {
  const cv = ch.canvas, w = cv.parentElement.clientWidth, h = cv.parentElement.clientHeight;
  if (!w || !h) return;
  // Back the canvas with device pixels so lines stay crisp on HiDPI screens; draw in CSS pixels.
  const dpr = window.devicePixelRatio || 1, W = Math.round(w * dpr), H = Math.round(h * dpr);
  if (cv.width !== W || cv.height !== H) { cv.width = W; cv.height = H; }
  const ctx = cv.getContext('2d');
  if (!ctx) return;
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  let max = 0;
  for (const p of traffic) for (const s of ch.series) max = Math.max(max, num(p && p[s.key]) ?? 0);
  const top = niceMax(max), padT = 14, padB = 14, padX = 2;
  const y0 = h - padB, ph = Math.max(1, y0 - padT), pw = Math.max(1, w - 2 * padX);
  const start = trafficEnd - TRAFFIC_MS;
  ctx.font = '10px system-ui, sans-serif';
  ctx.fillStyle = '#6b7280';
  ctx.strokeStyle = '#e5e7eb';
  ctx.lineWidth = 1;
  ctx.setLineDash([]);
  for (const y of [padT, padT + ph / 2, y0]) { ctx.beginPath(); ctx.moveTo(padX, Math.round(y) + 0.5); ctx.lineTo(w - padX, Math.round(y) + 0.5); ctx.stroke(); }
  ctx.textBaseline = 'bottom';
  ctx.textAlign = 'left';
  ctx.fillText(`max ${fmt(top)}${ch.unit ? ' ' + ch.unit : ''}`, padX, padT - 2);
  ctx.textBaseline = 'top';
  ctx.fillText('−5 min', padX, y0 + 2);
  ctx.textAlign = 'right';
  ctx.fillText('now', w - padX, y0 + 2);
  ctx.lineWidth = 1.5;
  ctx.lineJoin = 'round';
  ch.series.forEach((s, i) => {
    ctx.strokeStyle = ctx.fillStyle = SERIES_COLOURS[i];
    ctx.setLineDash(i ? [4, 3] : []);
    ctx.beginPath();
    let prevAt = null, run = 0, lx = 0, ly = 0;
    const endRun = () => { if (run === 1) ctx.fillRect(lx - 1, ly - 1, 2, 2); run = 0; }; // a lone point would be invisible
    for (const p of traffic) {
      const v = num(p && p[s.key]), at = num(p && p.at);
      // Null values, and missing seconds, are gaps in the line.
      if (v == null || at == null || (prevAt != null && at - prevAt > 2500)) endRun();
      prevAt = at;
      if (v == null || at == null) continue;
      lx = padX + Math.min(1, Math.max(0, (at - start) / TRAFFIC_MS)) * pw;
      ly = y0 - Math.min(1, Math.max(0, v / top)) * ph;
      if (run === 0) ctx.moveTo(lx, ly); else ctx.lineTo(lx, ly);
      run++;
    }
    endRun();
    ctx.stroke();
  });
}

// A full picture brings the whole history; the ones after it only the newest second, appended here.
function renderTraffic(s) {
  const points = arr(s.traffic).filter((p) => p && typeof p === 'object');
  if (s.full === false) {
    const cut = (num(s.at) ?? Date.now()) - TRAFFIC_MS;
    traffic = traffic.concat(points).filter((p) => (num(p.at) ?? 0) >= cut);
  } else traffic = points;
  const last = traffic[traffic.length - 1];
  trafficEnd = num(s.at) ?? num(last && last.at) ?? Date.now();
  tokensNow = last ? num(last.tokensPerSec) : null;
  for (const ch of CHARTS) {
    ch.series.forEach((se, i) => setText(ch.values[i], last ? fmt(last[se.key]) : '–'));
    drawChart(ch);
  }
}

let resizePending = false;
window.addEventListener('resize', () => {
  if (resizePending) return;
  resizePending = true;
  requestAnimationFrame(() => { resizePending = false; for (const ch of CHARTS) drawChart(ch); });
});

// ---- events timeline -----------------------------------------------------------------------------------------

function eventItem() {
  const li = el('li', 'ev');
  li.append(el('time', 'ev-time'), el('span', 'kind'), el('span', 'ev-about'), el('span', 'ev-text'));
  return li;
}
function fillEvent(li, ev) {
  const [time, kind, about, text] = li.children;
  const k = token(ev.kind);
  setText(time, hms(ev.at));
  setText(kind, str(ev.kind) || '?');
  setClass(kind, 'kind k-' + k);
  setText(about, str(ev.about));
  setText(text, str(ev.text));
  setAttr(li, 'data-kind', str(ev.kind));
  setAttr(li, 'data-about', str(ev.about));
}
const validEvent = (e) => e && typeof e === 'object';

// A snapshot's list is authoritative: reuse the existing <li>s by position (newest first), add or drop the rest.
function renderEvents(s) {
  const list = arr(s.events).filter(validEvent).slice(-TIMELINE_LENGTH).reverse();
  const ol = $('events');
  while (ol.children.length > list.length) ol.lastElementChild.remove();
  while (ol.children.length < list.length) ol.appendChild(eventItem());
  list.forEach((ev, i) => fillEvent(ol.children[i], ev));
  setText($('events-count'), list.length ? String(list.length) : '');
}
function addEvent(ev) {
  const ol = $('events'), li = eventItem();
  fillEvent(li, ev);
  li.classList.add('fresh'); // brief highlight so a live event catches the eye
  ol.insertBefore(li, ol.firstChild);
  while (ol.children.length > TIMELINE_LENGTH) ol.lastElementChild.remove();
  setText($('events-count'), String(ol.children.length));
}

// ---- stream --------------------------------------------------------------------------------------------------

function applySnapshot(s) {
  const model = str(s.model) || '?';
  setText($('model'), model);
  if (document.title !== `eaas — ${model}`) document.title = `eaas — ${model}`;
  renderExperts(s);
  renderActors(s);
  renderTraffic(s);
  // after the first picture, events come one by one as live events
  if (s.full !== false) renderEvents(s);
  touched();
  renderTotals();
}

function applyLive(m) {
  if (validEvent(m.event)) addEvent(m.event);
  if (m.actor && typeof m.actor === 'object') {
    updateActor(m.actor);
    renderGroupCounts();
  }
  touched();
  renderTotals();
}

function parse(data) {
  try {
    const v = JSON.parse(data);
    return v && typeof v === 'object' ? v : null;
  } catch {
    return null; // a malformed message is dropped; the next snapshot repairs the picture
  }
}

let retryTimer = 0;
function connect() {
  const es = new EventSource('/dashboard/stream');
  es.onopen = () => setConn('live', 'live');
  es.onerror = () => {
    setConn('down', 'reconnecting…');
    // EventSource retries by itself unless the server answered with an error status; then we retry ourselves.
    if (es.readyState === EventSource.CLOSED) {
      es.close();
      clearTimeout(retryTimer);
      retryTimer = setTimeout(connect, 3000);
    }
  };
  es.addEventListener('snapshot', (m) => { const s = parse(m.data); if (s) applySnapshot(s); });
  es.addEventListener('event', (m) => { const v = parse(m.data); if (v) applyLive(v); });
}

buildCharts();
renderTotals();
connect();
