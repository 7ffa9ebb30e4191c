/* Pacer report page: builds everything from the JSON object in <script id="report-data">
 * (schema: crates/pacer-report/DATA.md) with DOM APIs and Chart.js (global `Chart`).
 *   Overview     runs[]                     one row per run
 *   Models       runs[].models[]            latency/queue/first_token Stats, cost, failures
 *   Charts       per run: completions/min (timeline.completions, limits.rpm + "limit" events),
 *                latency distribution (latency_histogram), errors and cool-downs
 *                (timeline.failures + events), tokens (models[].tokens)
 *   Categories   models[].categories        when any category or probe is set
 *   Compare      2+ runs: models by label side by side
 *   Prompts      prompts[].answers[]        filterable browser, tokens coloured by probability
 * Prompts and answers are untrusted text: only textContent and attributes, never innerHTML.
 * At the end <html> gets data-rendered="ok|failed", data-charts=N, data-errors=N
 * (read by scripts/check-report.sh); errors are also listed in #report-errors. */
(function () {
  'use strict';
  // Errors: the template's inline script collects them from the start (window.__pacerError);
  // standalone, collect them here.
  const errors = window.__pacerErrors || [];
  if (!window.__pacerError) {
    window.__pacerError = (msg) => { errors.push(String(msg)); if (window.__pacerErrorHook) window.__pacerErrorHook(); };
    window.addEventListener('error', (e) => window.__pacerError(e.message || 'error'));
    window.addEventListener('unhandledrejection', (e) => window.__pacerError('unhandled rejection: ' + e.reason));
    const orig = console.error.bind(console);
    console.error = (...a) => { window.__pacerError(a.map(String).join(' ')); orig('[pacer-report error]', ...a); };
  }
  let chartCount = 0;

  // ---------- helpers ----------
  const NONE = '—';
  const isNum = (v) => typeof v === 'number' && isFinite(v);
  const arr = (v) => (Array.isArray(v) ? v : []);
  const obj = (v) => (v && typeof v === 'object' ? v : {});
  const str = (v) => (v == null ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v));
  const sum = (xs) => xs.reduce((a, b) => a + (isNum(b) ? b : 0), 0);

  function el(tag, props, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v == null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of kids.flat(2)) if (c != null && c !== false) e.append(c instanceof Node ? c : String(c));
    return e;
  }
  const badge = (text, kind) => el('span', { class: 'badge' + (kind ? ' ' + kind : ''), text });
  const muted = (text) => el('span', { class: 'muted', text });

  const intFmt = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
  const moneyFmt = new Intl.NumberFormat('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  const compactFmt = new Intl.NumberFormat('en-US', { notation: 'compact', maximumFractionDigits: 1 });
  const fInt = (v) => (isNum(v) ? intFmt.format(v) : NONE);
  const fPct = (v) => (isNum(v) ? (v * 100).toFixed(1) + '%' : NONE);
  const ratio = (a, b) => (isNum(a) && isNum(b) && b > 0 ? a / b : null);
  function fNum(v) { // 2–3 significant digits, thousands separators from 100 up
    if (!isNum(v)) return NONE;
    const a = Math.abs(v);
    if (a >= 100 || Number.isInteger(v)) return intFmt.format(v);
    if (a >= 10) return v.toFixed(1);
    if (a >= 1) return v.toFixed(2);
    return a === 0 ? '0' : String(Number(v.toPrecision(2)));
  }
  const fSec = (v) => (!isNum(v) ? NONE : v > 0 && v < 0.001 ? '< 1 ms' : fNum(v) + ' s');
  const fCost = (v) => (!isNum(v) ? NONE : '$' + (Math.abs(v) < 1 ? v.toFixed(4) : moneyFmt.format(v)));
  function fDur(s) { // "45.2 s", "3 m 12 s", "1 h 05 m"
    if (!isNum(s)) return NONE;
    if (s < 60) return fNum(s) + ' s';
    const t = Math.round(s), h = Math.floor(t / 3600), m = Math.floor((t % 3600) / 60), sec = t % 60;
    return h ? `${h} h ${String(m).padStart(2, '0')} m` : `${m} m ${String(sec).padStart(2, '0')} s`;
  }
  const fTime = (s) => (s ? String(s).replace('T', ' ').replace(/\.\d+/, '') : NONE);
  const span = (a, b) => { // "2025-06-01 09:00:00Z → 09:17:40Z": the end's date only when it differs
    const [x, y] = [fTime(a), fTime(b)];
    if (!a && !b) return NONE;
    return `${x} → ${x.slice(0, 11) === y.slice(0, 11) && y.length > 11 ? y.slice(11) : y}`;
  };

  const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#b07aa1', '#76b7b2', '#edc948', '#9c755f', '#ff9da7', '#bab0ac'];
  const labelColours = new Map();
  const colour = (label) => {
    if (!labelColours.has(label)) labelColours.set(label, PALETTE[labelColours.size % PALETTE.length]);
    return labelColours.get(label);
  };
  const alpha = (hex, a) => {
    const n = parseInt(hex.slice(1), 16);
    return `rgba(${n >> 16},${(n >> 8) & 255},${n & 255},${a})`;
  };

  // cols: [{h, num, sep, wrap, title}]; rows: [[text | Node]]; groups: [[heading, colspan]] above
  function table(cols, rows, groups) {
    const cls = (c) => [c.num && 'num', c.sep && 'sep', c.wrap && 'wrap'].filter(Boolean).join(' ') || null;
    const thead = el('thead');
    if (groups) thead.append(el('tr', { class: 'group' }, groups.map(([t, n]) => el('th', { colspan: n, text: t }))));
    thead.append(el('tr', null, cols.map((c) => el('th', { class: cls(c), title: c.title, text: c.h }))));
    const tbody = el('tbody', null, rows.map((r) => el('tr', null, r.map((v, i) => el('td', { class: cls(cols[i] || {}) }, v == null ? NONE : v)))));
    return el('div', { class: 'table-wrap' }, el('table', null, thead, tbody));
  }

  const models = (run) => arr(run.models).filter((m) => m && typeof m === 'object');
  const label = (m) => str(m.label) || '?';
  const latencyOf = (m) => (m.latency ? { s: m.latency, fb: false } : m.elapsed ? { s: m.elapsed, fb: true } : { s: null, fb: false });
  const modelCell = (m) => el('div', null, el('strong', { text: label(m), style: `color:${colour(label(m))}` }),
    el('div', { class: 'sub', text: `${str(m.provider)} / ${str(m.model)}` }));
  const failuresText = (f) => Object.entries(obj(f)).filter(([, n]) => isNum(n) && n > 0)
    .sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${fInt(n)}`).join(', ') || NONE;

  // ---------- page ----------
  function build(root, data) {
    const runs = arr(data.runs).filter((r) => r && typeof r === 'object');
    const prompts = arr(data.prompts).filter((p) => p && typeof p === 'object');
    const multi = runs.length > 1;
    runs.forEach((r) => models(r).forEach((m) => colour(label(m))));

    const sections = [['overview', 'Overview'], ['models', 'Models'], ['charts', 'Charts']];
    const hasCats = runs.some((r) => models(r).some((m) => arr(m.categories).some((c) => c && (c.category != null || c.probe != null))));
    if (hasCats) sections.push(['categories', 'Categories']);
    if (multi) sections.push(['compare', 'Compare']);
    sections.push(['prompts', 'Prompts']);

    root.append(el('h1', { text: 'Pacer report' }),
      el('div', { class: 'meta' }, `generated ${fTime(data.generated_at)} · pacer ${str(data.pacer_version) || '?'} · `
        + `${fInt(runs.length)} run${runs.length === 1 ? '' : 's'} · prompts shown ${fInt(prompts.length)} of ${fInt(data.prompts_seen)} seen`
        + (data.prompts_left_out > 0 ? ` (${fInt(data.prompts_left_out)} more left out to keep the file small)` : '')),
      el('nav', { class: 'toc' }, sections.map(([id, t]) => el('a', { href: '#' + id, text: t }))));
    const section = (id, title) => { const s = el('section', { id }, el('h2', { text: title })); root.append(s); return s; };
    const runHeading = (s, r) => multi && s.append(el('h3', { text: str(r.name) }));

    overview(section('overview', 'Overview'), runs);
    const ms = section('models', 'Models');
    runs.forEach((r) => { runHeading(ms, r); modelTable(ms, r); });
    const cs = section('charts', 'Charts');
    if (typeof Chart === 'undefined') errors.push('Chart.js is missing: no charts');
    else {
      Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
      Chart.defaults.color = '#57606a';
      Chart.defaults.plugins.legend.labels.boxWidth = 12;
    }
    runs.forEach((r, i) => {
      runHeading(cs, r);
      const grid = el('div', { class: 'charts' });
      cs.append(grid);
      for (const f of [completionsChart, latencyChart, errorsChart, tokensChart]) {
        try { f(r, i, grid); } catch (e) { errors.push(`run ${i} ${f.name}: ${e.message}`); }
      }
    });
    if (!runs.length) cs.append(el('p', { class: 'note', text: 'No runs.' }));
    if (hasCats) {
      const s = section('categories', 'Categories');
      runs.forEach((r) => { runHeading(s, r); categoryTable(s, r); });
    }
    if (multi) compare(section('compare', 'Compare'), runs);
    promptBrowser(section('prompts', 'Prompts'), data, runs, prompts);
  }

  function overview(s, runs) {
    const cols = [{ h: 'Run', wrap: true }, { h: 'Run id' }, { h: 'Models', wrap: true }, { h: 'Jobs', num: true, title: 'records' }, { h: 'OK', num: true },
      { h: 'Failed', num: true }, { h: 'Pending', num: true }, { h: 'Input tokens', num: true }, { h: 'Output tokens', num: true },
      { h: 'Cost', num: true }, { h: 'Wall time', num: true }, { h: 'Sessions / resumes', num: true }, { h: 'Started → ended', wrap: true }];
    const rows = runs.map((r) => {
      const t = obj(r.tokens);
      return [el('span', { title: str(r.path) }, str(r.name) || '?', r.budget_exhausted ? badge('budget exhausted', 'warn') : null),
        el('code', { text: str(r.run_id) || NONE }), models(r).map(label).join(', ') || NONE,
        fInt(r.records), fInt(r.ok), fInt(r.failed), fInt(r.pending), fInt(t.input), fInt(t.output), fCost(r.cost_usd),
        fDur(r.wall_seconds), `${fInt(r.sessions)} / ${fInt(r.resumes)}`, span(r.started_at, r.ended_at)];
    });
    s.append(table(cols, rows));
    const left = runs.filter((r) => r.events_left_out > 0);
    if (left.length) s.append(el('p', { class: 'note', text: left.map((r) => `${r.name}: ${fInt(r.events_left_out)} events left out of the charts`).join(' · ') }));
  }

  function modelTable(s, run) {
    const ms = models(run);
    if (!ms.length) { s.append(el('p', { class: 'note', text: 'No models.' })); return; }
    const ttft = ms.some((m) => m.first_token);
    const status = ms.some((m) => (isNum(m.pending) && m.pending > 0) || m.stopped);
    const cols = [{ h: 'Model' }, { h: 'Records', num: true }, { h: 'Success', num: true },
      { h: 'Latency p50', num: true, sep: true }, { h: 'p95', num: true }, { h: 'p99', num: true },
      { h: 'Queue p50 / p95 (mean)', num: true, sep: true, title: 'waiting for capacity' },
      ttft && { h: 'TTFT p50', num: true, title: 'time to first token (streamed)' }, { h: 'Out tok/s', num: true, title: 'output tokens per second of latency' },
      { h: 'Cost', num: true, sep: true }, { h: '$ / 1k prompts', num: true }, { h: 'Retries', num: true }, { h: 'Failures', wrap: true },
      status && { h: 'Status', wrap: true }].filter(Boolean);
    let fallback = false;
    const rows = ms.map((m) => {
      const lat = latencyOf(m), q = obj(m.queue), ls = obj(lat.s), mark = lat.fb ? ' †' : '';
      fallback = fallback || lat.fb;
      const st = [isNum(m.pending) && m.pending > 0 ? badge(`${fInt(m.pending)} pending`) : null,
        m.stopped ? badge('stopped: ' + m.stopped, 'bad') : null].filter(Boolean);
      return [modelCell(m), fInt(m.records), fPct(m.success_rate), fSec(ls.p50) + mark, fSec(ls.p95) + mark, fSec(ls.p99) + mark,
        m.queue ? `${fSec(q.p50)} / ${fSec(q.p95)} (${fSec(q.mean)})` : NONE, ttft ? fSec(obj(m.first_token).p50) : undefined,
        fNum(m.output_tokens_per_second), fCost(m.cost_usd), fCost(m.cost_per_1000_prompts), fInt(m.retries),
        failuresText(m.failures), status ? (st.length ? st : NONE) : undefined].filter((c) => c !== undefined);
    });
    s.append(table(cols, rows));
    if (fallback) s.append(el('p', { class: 'note', text: '† no latency recorded: elapsed time (first attempt to end, queue included) shown instead.' }));
  }

  // ---------- charts ----------
  function card(parent, title, kind, ri) {
    const canvas = el('canvas', { 'data-chart': kind, 'data-run': String(ri), role: 'img', 'aria-label': title });
    const note = el('p', { class: 'note' });
    parent.append(el('div', { class: 'card' }, el('h4', { text: title }), el('div', { class: 'canvas-box' }, canvas), note));
    return { canvas, note };
  }
  function makeChart(canvas, cfg) {
    if (typeof Chart === 'undefined') return;
    cfg.options = Object.assign({ animation: false, responsive: true, maintainAspectRatio: false }, cfg.options);
    try { new Chart(canvas, cfg); chartCount++; } catch (e) { errors.push(`chart ${canvas.dataset.chart}: ${e.message}`); }
  }
  const axisTitle = (text) => ({ display: true, text });
  const timeUnit = (run) => (run.wall_seconds > 600 ? { div: 60, name: 'min' } : { div: 1, name: 's' });
  function timeAxis(run, u) {
    const bs = isNum(run.bucket_seconds) && run.bucket_seconds > 0 ? run.bucket_seconds : 0;
    const nb = Math.max(0, ...models(run).map((m) => arr(obj(m.timeline).completions).length));
    // Events after the last record (a stop, the budget) stay on the axis.
    const lastEvent = Math.max(0, ...arr(run.events).map((e) => (e && isNum(e.t) ? e.t + (isNum(e.seconds) ? e.seconds : 0) : 0)));
    const end = Math.max(isNum(run.wall_seconds) ? run.wall_seconds : 0, nb * bs, lastEvent);
    return { type: 'linear', min: 0, max: end > 0 ? end / u.div : undefined, title: axisTitle(`time since start (${u.name})`) };
  }
  // Each bucket's point at its middle; f gets its count and the seconds it covers: the last
  // bucket only up to the run's end when that is half a bucket or more (a rate over less
  // would be noise), so that the rate is not understated there.
  const bucketPoints = (run, xs, u, f) => {
    const bs = run.bucket_seconds, wall = isNum(run.wall_seconds) ? run.wall_seconds : 0;
    if (!(isNum(bs) && bs > 0)) return [];
    const list = arr(xs), last = list.length - 1;
    return list.map((n, i) => {
      const part = wall - i * bs;
      const span = i === last && part >= bs / 2 && part < bs ? part : bs;
      return { x: (i * bs + span / 2) / u.div, y: f(isNum(n) ? n : 0, span) };
    });
  };

  // rpm limit of a lane over time: limits.rpm, stepped to each "limit" event's `to` (dimension rpm)
  function rpmSteps(run, m, u, end) {
    const evs = arr(run.events).filter((e) => e && e.kind === 'limit' && e.dimension === 'rpm' && e.lane === m.label && isNum(e.to) && isNum(e.t))
      .sort((a, b) => a.t - b.t);
    let y = isNum(obj(m.limits).rpm) ? m.limits.rpm : evs.length && isNum(evs[0].from) ? evs[0].from : null;
    const pts = y != null ? [{ x: 0, y }] : [];
    for (const e of evs) { pts.push({ x: e.t / u.div, y: e.to }); y = e.to; }
    if (!pts.length) return null;
    pts.push({ x: Math.max(end || 0, pts[pts.length - 1].x), y });
    return pts;
  }

  function completionsChart(run, ri, grid) {
    const { canvas, note } = card(grid, 'Completions per minute', 'completions', ri);
    const u = timeUnit(run), x = timeAxis(run, u), ds = [], limits = [];
    let maxY = 0;
    for (const m of models(run)) {
      const c = colour(label(m)), pts = bucketPoints(run, obj(m.timeline).completions, u, (n, bs) => (n * 60) / bs);
      pts.forEach((p) => { maxY = Math.max(maxY, p.y); });
      // A short run has a bucket or two: points, or its line would not show.
      ds.push({ label: label(m), data: pts, borderColor: c, backgroundColor: c, borderWidth: 1.5,
        pointRadius: pts.length <= 3 ? 4 : 0, tension: 0.25 });
      const lim = rpmSteps(run, m, u, x.max);
      if (lim) {
        ds.push({ label: label(m) + ' rpm limit', data: lim, borderColor: c, backgroundColor: c, borderDash: [6, 4], borderWidth: 1.5,
          pointRadius: 0, stepped: true, isLimit: true });
        limits.push([label(m), lim]);
      }
    }
    const y = { beginAtZero: true, title: axisTitle('completions / min') };
    const limMax = Math.max(0, ...limits.flatMap(([, l]) => l.map((p) => p.y)));
    const off = maxY > 0 && limMax > 3 * maxY;
    if (off) { // a round scale over the completions; the limits are named in the note
      const raw = (maxY * 1.1) / 6, mag = 10 ** Math.floor(Math.log10(raw)), step = [1, 2, 2.5, 5, 10].find((k) => k * mag >= raw) * mag;
      Object.assign(y, { max: Math.ceil((maxY * 1.1) / step) * step, ticks: { stepSize: step } });
    }
    makeChart(canvas, {
      type: 'line', data: { datasets: ds },
      options: {
        scales: { x, y }, interaction: { mode: 'nearest', axis: 'x', intersect: false },
        plugins: {
          legend: { labels: { filter: (item, d) => !d.datasets[item.datasetIndex].isLimit } },
          tooltip: { callbacks: { title: (it) => (it.length ? `${fNum(it[0].parsed.x)} ${u.name}` : ''),
            label: (c) => `${c.dataset.label}: ${fNum(c.parsed.y)} / min` } },
        },
      },
    });
    const parts = [];
    if (maxY === 0) parts.push('No completions.');
    if (limits.length) {
      parts.push('Dashed: rpm limits, stepped where pacer learned or lowered them.');
      const above = off ? limits.filter(([, p]) => p.some((q) => q.y > y.max)) : [];
      if (above.length) parts.push('Above the scale: ' + above.map(([l, p]) => `${l} ${p.map((q) => fInt(q.y)).filter((v, i, a) => !i || v !== a[i - 1]).join(' → ')} rpm`).join(', ') + '.');
    }
    note.textContent = parts.join(' ');
  }

  function latencyChart(run, ri, grid) {
    const { canvas, note } = card(grid, 'Latency distribution', 'latency', ri);
    const ok = (h) => arr(h.edges).length === arr(h.counts).length + 1 && arr(h.counts).length > 0 && h.edges.every(isNum);
    const ms = models(run).filter((m) => ok(obj(m.latency_histogram)));
    const hist = (m) => m.latency_histogram;
    const e0 = ms.length ? hist(ms[0]).edges : [];
    const same = ms.every((m) => hist(m).edges.length === e0.length && hist(m).edges.every((v, i) => v === e0[i]));
    const binLabel = (lo, hi) => `${fNum(lo)}–${fNum(hi)} s`;
    let cfg;
    if (same) {
      const n = e0.length - 1, zero = (i) => ms.every((m) => !hist(m).counts[i]);
      let lo = 0, hi = n - 1;
      while (lo < hi && zero(lo)) lo++;
      while (hi > lo && zero(hi)) hi--;
      const idx = n > 0 ? Array.from({ length: hi - lo + 1 }, (_, k) => lo + k) : [];
      cfg = {
        type: 'bar',
        data: { labels: idx.map((i) => binLabel(e0[i], e0[i + 1])),
          datasets: ms.map((m) => ({ label: label(m), data: idx.map((i) => hist(m).counts[i] || 0), backgroundColor: alpha(colour(label(m)), 0.8) })) },
        options: { scales: { x: { title: axisTitle('latency') }, y: { beginAtZero: true, title: axisTitle('records') } } },
      };
    } else { // different bins: a line per model at bin centres, share of that model's records
      const log = ms.every((m) => hist(m).edges[0] > 0);
      cfg = {
        type: 'line',
        data: { datasets: ms.map((m) => {
          const { edges, counts } = hist(m), tot = sum(counts) || 1, c = colour(label(m));
          return { label: label(m), borderColor: c, backgroundColor: c, pointRadius: 2, tension: 0.2,
            data: counts.map((n, i) => ({ x: log ? Math.sqrt(edges[i] * edges[i + 1]) : (edges[i] + edges[i + 1]) / 2,
              y: (100 * (n || 0)) / tot, n, lo: edges[i], hi: edges[i + 1] })) };
        }) },
        options: {
          scales: { x: { type: log ? 'logarithmic' : 'linear', title: axisTitle('latency (s), bin centres'),
            ticks: { callback: (v) => fNum(v) } }, y: { beginAtZero: true, title: axisTitle('% of records') } },
          plugins: { tooltip: { callbacks: { title: (it) => (it.length ? binLabel(it[0].raw.lo, it[0].raw.hi) : ''),
            label: (c) => `${c.dataset.label}: ${fInt(c.raw.n)} (${c.raw.y.toFixed(1)}%)` } } },
        },
      };
      note.textContent = 'The models use different bins: one line per model at bin centres, as a share of its records.';
    }
    makeChart(canvas, cfg);
    if (!ms.length || ms.every((m) => !sum(hist(m).counts))) note.textContent = 'No latency recorded.';
  }

  const EVENT_STYLE = {
    cooldown: { c: '#8250df', p: 'line', r: 5, name: 'cool-down' }, limit: { c: '#0969da', p: 'triangle', r: 6, name: 'limit change' },
    stopped: { c: '#cf222e', p: 'crossRot', r: 8, name: 'stopped' }, budget: { c: '#bf8700', p: 'rectRot', r: 7, name: 'budget' },
    retry: { c: '#6e7781', p: 'circle', r: 3, name: 'retry' }, session: { c: '#1a7f37', p: 'star', r: 7, name: 'session' },
    refused: { c: '#d1242f', p: 'rect', r: 4, name: '429, no pause' },
  };
  function eventText(ev) {
    let what = ev.kind;
    if (ev.kind === 'cooldown' && isNum(ev.seconds)) what += ` ${fNum(ev.seconds)} s`;
    if (ev.kind === 'limit' && ev.dimension) what += ` ${ev.dimension} ${fInt(ev.from)} → ${fInt(ev.to)}`;
    const d = str(ev.detail);
    return `${ev.lane == null ? 'run' : ev.lane} at ${fDur(ev.t)}: ${what}${d ? ' — ' + (d.length > 120 ? d.slice(0, 117) + '…' : d) : ''}`;
  }

  function errorsChart(run, ri, grid) {
    const { canvas, note } = card(grid, 'Errors and cool-downs', 'errors', ri);
    const u = timeUnit(run), x = Object.assign(timeAxis(run, u), { stacked: true, offset: false }), ds = [];
    let failures = 0;
    for (const m of models(run)) {
      const fs = arr(obj(m.timeline).failures);
      failures += sum(fs);
      if (sum(fs) > 0) {
        ds.push({ type: 'bar', label: label(m) + ' failures', order: 2, yAxisID: 'y', backgroundColor: alpha(colour(label(m)), 0.85),
          barPercentage: 1, categoryPercentage: 1, data: bucketPoints(run, fs, u, (n) => n) });
      }
    }
    const evs = arr(run.events).filter((e) => e && isNum(e.t) && EVENT_STYLE[e.kind]);
    const lanes = [null, ...models(run).map((m) => m.label)];
    for (const e of evs) if (!lanes.includes(e.lane)) lanes.push(e.lane);
    const counts = {};
    for (const [kind, st] of Object.entries(EVENT_STYLE)) {
      const these = evs.filter((e) => e.kind === kind);
      if (!these.length) continue;
      counts[kind] = these.length;
      const data = [];
      for (const e of these) {
        const y = lanes.indexOf(e.lane);
        data.push({ x: e.t / u.div, y, ev: e });
        if (kind === 'cooldown' && isNum(e.seconds) && e.seconds > 0) data.push({ x: (e.t + e.seconds) / u.div, y, ev: e }, { x: (e.t + e.seconds) / u.div, y: null });
      }
      ds.push({ type: 'line', label: st.name, order: 0, yAxisID: 'lanes', data, showLine: kind === 'cooldown', spanGaps: false, clip: 10,
        borderColor: kind === 'cooldown' ? alpha(st.c, 0.55) : st.c, backgroundColor: alpha(st.c, 0.5), borderWidth: kind === 'cooldown' ? 9 : 1.5,
        pointStyle: st.p, pointRadius: kind === 'cooldown' ? 0 : st.r, pointHitRadius: 6, pointHoverRadius: st.r + 2, borderCapStyle: 'butt' });
    }
    // two axes stacked on the left: failures per bucket below, one row per lane of events above
    const scales = { x, y: { stacked: true, beginAtZero: true, title: axisTitle('failures'), ticks: { precision: 0 } } };
    if (evs.length) {
      Object.assign(scales.y, { stack: 'v', stackWeight: 3, offset: true });
      scales.lanes = { type: 'linear', position: 'left', stack: 'v', stackWeight: Math.min(4, 0.8 * lanes.length), offset: true,
        min: -0.5, max: lanes.length - 0.5, reverse: true, grid: { display: false },
        afterBuildTicks: (a) => { a.ticks = lanes.map((_, i) => ({ value: i })); },
        ticks: { autoSkip: false, callback: (v) => (lanes[v] === undefined ? '' : lanes[v] == null ? 'run' : String(lanes[v])) } };
    }
    makeChart(canvas, {
      type: 'bar', data: { datasets: ds },
      options: {
        scales, interaction: { mode: 'nearest', intersect: true },
        plugins: { tooltip: {
          filter: (it) => it.raw && it.raw.y != null && !(it.raw.y === 0 && !it.raw.ev),
          callbacks: { title: () => '', label: (c) => (c.raw.ev ? eventText(c.raw.ev) : `${c.dataset.label}: ${fInt(c.raw.y)} at ${fNum(c.raw.x)} ${u.name}`) },
        } },
      },
    });
    const parts = [];
    if (!failures && !evs.length) parts.push('no errors or cool-downs');
    else {
      if (failures) parts.push(`${fInt(failures)} failures`);
      for (const [k, n] of Object.entries(counts)) parts.push(`${fInt(n)} × ${EVENT_STYLE[k].name}`);
    }
    if (run.events_left_out > 0) parts.push(`${fInt(run.events_left_out)} more events left out`);
    note.textContent = parts.join(' · ');
  }

  function tokensChart(run, ri, grid) {
    const { canvas, note } = card(grid, 'Tokens', 'tokens', ri);
    const ms = models(run), t = (m, k) => obj(m.tokens)[k] || 0;
    makeChart(canvas, {
      type: 'bar',
      data: { labels: ms.map(label), datasets: [
        { label: 'input', data: ms.map((m) => t(m, 'input')), backgroundColor: '#4e79a7cc' },
        { label: 'output', data: ms.map((m) => t(m, 'output')), backgroundColor: '#f28e2bcc' }] },
      options: {
        scales: { y: { beginAtZero: true, title: axisTitle('tokens'), ticks: { callback: (v) => compactFmt.format(v) } } },
        plugins: { tooltip: { callbacks: { label: (c) => `${c.dataset.label}: ${fInt(c.parsed.y)} tokens` } } },
      },
    });
    if (!ms.some((m) => t(m, 'input') || t(m, 'output'))) note.textContent = 'No tokens recorded.';
  }

  // ---------- categories, compare ----------
  function categoryTable(s, run) {
    const ms = models(run).filter((m) => arr(m.categories).length);
    if (!ms.length) { s.append(el('p', { class: 'note', text: 'No categories.' })); return; }
    const key = (c) => JSON.stringify([c.category, c.probe]);
    const keys = new Map();
    ms.forEach((m) => arr(m.categories).forEach((c) => c && keys.set(key(c), c)));
    const rowsOf = [...keys.values()].sort((a, b) => (a.category == null) - (b.category == null)
      || str(a.category).localeCompare(str(b.category)) || (a.probe ? 1 : 0) - (b.probe ? 1 : 0));
    const cols = [{ h: 'Category' }, { h: 'Probe' }];
    ms.forEach(() => cols.push({ h: 'Success', num: true, sep: true }, { h: 'Refusals', num: true }, { h: 'Truncated', num: true }, { h: 'Records', num: true }));
    const rows = rowsOf.map((k) => [k.category == null ? muted('(none)') : k.category, k.probe == null ? NONE : k.probe ? 'yes' : 'no',
      ...ms.flatMap((m) => {
        const c = arr(m.categories).find((x) => x && key(x) === key(k));
        return c ? [fPct(ratio(c.ok, c.records)), fPct(ratio(c.refusals, c.records)), fPct(ratio(c.truncated, c.records)), fInt(c.records)] : [NONE, NONE, NONE, NONE];
      })]);
    s.append(table(cols, rows, [['', 2], ...ms.map((m) => [label(m), 4])]));
  }

  function compare(s, runs) {
    const labels = [...new Set(runs.flatMap((r) => models(r).map(label)))];
    const find = (r, l) => models(r).find((m) => label(m) === l);
    const cols = [{ h: 'Model' }];
    runs.forEach(() => cols.push({ h: 'Success', num: true, sep: true }, { h: 'Latency p50', num: true }, { h: 'p95', num: true },
      { h: '$ / 1k prompts', num: true }, { h: 'Out tok/s', num: true }));
    let fallback = false;
    const rows = labels.map((l) => [el('strong', { text: l, style: `color:${colour(l)}` }), ...runs.flatMap((r) => {
      const m = find(r, l);
      if (!m) return [NONE, NONE, NONE, NONE, NONE];
      const lat = latencyOf(m), mark = lat.fb ? ' †' : '';
      fallback = fallback || lat.fb;
      return [fPct(m.success_rate), fSec(obj(lat.s).p50) + mark, fSec(obj(lat.s).p95) + mark, fCost(m.cost_per_1000_prompts), fNum(m.output_tokens_per_second)];
    })]);
    s.append(table(cols, rows, [['', 1], ...runs.map((r) => [str(r.name), 5])]));
    if (fallback) s.append(el('p', { class: 'note', text: '† no latency recorded: elapsed time shown instead.' }));
    const grid = el('div', { class: 'charts' });
    s.append(grid);
    const { canvas } = card(grid, 'Latency p50 by model and run', 'compare', 'all');
    makeChart(canvas, {
      type: 'bar',
      data: { labels, datasets: runs.map((r, i) => ({ label: str(r.name), backgroundColor: alpha(PALETTE[(i + 5) % PALETTE.length], 0.85),
        data: labels.map((l) => { const m = find(r, l); return m && m.latency && isNum(m.latency.p50) ? m.latency.p50 : null; }) })) },
      options: { scales: { y: { beginAtZero: true, title: axisTitle('latency p50 (s)') } },
        plugins: { tooltip: { callbacks: { label: (c) => `${c.dataset.label}: ${fSec(c.parsed.y)}` } } } },
    });
  }

  // ---------- prompt browser ----------
  const PAGE = 50;
  const probClass = (p) => (p >= 0.9 ? 'p90' : p >= 0.7 ? 'p70' : p >= 0.5 ? 'p50' : p >= 0.3 ? 'p30' : 'p00');
  function tokenSpans(tokens) {
    return tokens.map(([t, lp]) => {
      if (!isNum(lp)) return el('span', { class: 'tok', title: 'no logprob', text: t }); // -inf is written null
      const p = Math.exp(lp);
      return el('span', { class: 'tok ' + probClass(p), title: `logprob ${lp.toFixed(3)} · p ${p.toFixed(3)}`, text: t });
    });
  }
  function answerBody(a) {
    if (a.status !== 'ok') return el('div', { class: 'answer-text error', text: str(a.error) || 'error' });
    const text = str(a.text);
    const toks = arr(a.tokens).filter((t) => Array.isArray(t) && typeof t[0] === 'string');
    if (!toks.length) return el('div', { class: 'answer-text', text: a.text == null ? NONE : text });
    const joined = toks.map((t) => t[0]).join('');
    if (joined && text.startsWith(joined)) return el('div', { class: 'answer-text' }, tokenSpans(toks), text.slice(joined.length));
    return el('div', null, el('div', { class: 'answer-text', text }), el('div', { class: 'tokens-line' }, muted('tokens: '), tokenSpans(toks)));
  }

  function promptBrowser(s, data, runs, prompts) {
    if (!prompts.length) { s.append(el('p', { class: 'note', text: 'No prompts in this report.' })); return; }
    const multi = runs.length > 1;
    const runName = (i) => str(obj(runs[i]).name) || `run ${isNum(i) ? i : '?'}`;
    const order = (a) => [a.run, models(obj(runs[a.run])).findIndex((m) => m.label === a.label), str(a.label), a.sample];
    const cmp = (x, y) => { for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return x[i] < y[i] ? -1 : 1; return 0; };
    const items = prompts.map((p) => {
      const answers = arr(p.answers).filter((a) => a && typeof a === 'object').sort((a, b) => cmp(order(a), order(b)));
      const hay = [p.prompt_id, p.prompt, ...answers.flatMap((a) => [a.text, a.error])].map(str).join('\n').toLowerCase();
      return { p, answers, hay };
    });
    const cats = [...new Set(prompts.map((p) => p.category ?? null))].sort((a, b) => (a == null) - (b == null) || str(a).localeCompare(str(b)));
    const labels = [...new Set(items.flatMap((it) => it.answers.map((a) => str(a.label))))];
    const st = { q: '', cat: '*', model: '*', status: 'all', shown: PAGE };
    const option = (value, text) => el('option', { value, text });
    const search = el('input', { type: 'search', placeholder: 'Search prompt ids, prompts and answers…', 'aria-label': 'search' });
    const catSel = el('select', { 'aria-label': 'category' }, option('*', 'all categories'),
      cats.map((c, i) => option(String(i), c == null ? '(no category)' : c)));
    const modelSel = el('select', { 'aria-label': 'model' }, option('*', 'all models'), labels.map((l) => option(l, l)));
    const statusSel = el('select', { 'aria-label': 'status' }, [['all', 'any status'], ['ok', 'all ok'], ['error', 'with errors'],
      ['differ', 'answers differ']].map(([v, t]) => option(v, t)));
    const count = el('span', { class: 'muted' });
    const list = el('div'), more = el('button', { class: 'more', type: 'button' });
    const anyTokens = items.some((it) => it.answers.some((a) => arr(a.tokens).length));
    s.append(el('div', { class: 'filters' }, search, catSel, modelSel, statusSel, count));
    if (anyTokens) {
      s.append(el('div', { class: 'legend' }, muted('Token probability:'), [['p90', '≥ 0.9'], ['p70', '0.7–0.9'], ['p50', '0.5–0.7'],
        ['p30', '0.3–0.5'], ['p00', '< 0.3']].map(([c, t]) => el('span', { class: 'tok ' + c, text: t }))));
    }
    s.append(list, more);

    const visible = (it) => (st.model === '*' ? it.answers : it.answers.filter((a) => str(a.label) === st.model));
    function matches(it) {
      if (st.q && !it.hay.includes(st.q)) return false;
      if (st.cat !== '*' && cats[Number(st.cat)] !== (it.p.category ?? null)) return false;
      const as = visible(it);
      if (st.model !== '*' && !as.length) return false;
      if (st.status === 'ok') return as.length > 0 && as.every((a) => a.status === 'ok');
      if (st.status === 'error') return as.some((a) => a.status !== 'ok');
      if (st.status === 'differ') return new Set(as.map((a) => (a.status === 'ok' ? 'T' + str(a.text).trim() : 'E'))).size > 1;
      return true;
    }
    function promptCard(it) {
      const p = it.p, as = visible(it), text = p.prompt == null ? null : str(p.prompt);
      const head = el('div', { class: 'prompt-head' }, el('span', { class: 'pid mono', text: str(p.prompt_id) }),
        p.category != null ? badge(str(p.category)) : null, p.probe ? badge('probe', 'warn') : null);
      let body;
      if (text == null) body = el('div', { class: 'prompt-text muted', text: '(prompt text not available)' });
      else if (text.length > 500 || text.split('\n').length > 8) {
        const first = text.split('\n')[0].slice(0, 160);
        body = el('div', { class: 'prompt-text' }, el('details', null,
          el('summary', { text: `${first}… (${fInt(text.split('\n').length)} lines, ${fInt(text.length)} characters)` }), text));
      } else body = el('div', { class: 'prompt-text', text });
      const grid = el('div', { class: 'answers', style: `grid-template-columns: repeat(${Math.max(1, as.length)}, minmax(240px, 1fr))` },
        as.map((a) => el('div', { class: 'answer' },
          el('div', { class: 'answer-head', text: `${multi ? runName(a.run) + ' · ' : ''}${str(a.label)} #${str(a.sample)}` }),
          answerBody(a),
          el('div', { class: 'answer-meta' }, [a.finish_reason, `${fInt(a.output_tokens)} tokens`,
            isNum(a.latency_seconds) ? fSec(a.latency_seconds) : null, isNum(a.cost_usd) ? fCost(a.cost_usd) : null].filter(Boolean).join(' · '),
          a.clipped ? badge('(clipped)', 'warn') : null))));
      if (!as.length) grid.append(el('div', { class: 'answer muted', text: 'no answers' }));
      return el('div', { class: 'prompt' }, head, body, grid);
    }
    let matched = [];
    function render(reset) {
      if (reset) { matched = items.filter(matches); list.replaceChildren(); }
      const from = list.childElementCount, to = Math.min(matched.length, st.shown);
      for (let i = from; i < to; i++) list.append(promptCard(matched[i]));
      count.textContent = `${fInt(matched.length)} of ${fInt(items.length)} prompts match · showing ${fInt(to)}`;
      more.hidden = to >= matched.length;
      more.textContent = `Show ${fInt(Math.min(PAGE, matched.length - to))} more (${fInt(matched.length - to)} left)`;
    }
    let timer = 0;
    const refilter = () => { st.shown = PAGE; render(true); };
    search.addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(() => { st.q = search.value.trim().toLowerCase(); refilter(); }, 150); });
    catSel.addEventListener('change', () => { st.cat = catSel.value; refilter(); });
    modelSel.addEventListener('change', () => { st.model = modelSel.value; refilter(); });
    statusSel.addEventListener('change', () => { st.status = statusSel.value; refilter(); });
    more.addEventListener('click', () => { st.shown += PAGE; render(false); });
    render(true);
  }

  // ---------- run ----------
  let built = false;
  const root = document.getElementById('report') || document.body.appendChild(el('main', { id: 'report' }));
  try {
    const node = document.getElementById('report-data');
    if (!node) throw new Error('no <script id="report-data"> in the page');
    build(root, obj(JSON.parse(node.textContent)));
    built = true;
  } catch (e) {
    errors.push('building the report: ' + (e && e.stack ? e.stack : e));
  }
  // no loads from elsewhere: the report must work offline
  for (const e of document.querySelectorAll('[src], [href]')) {
    const u = e.getAttribute('src') || e.getAttribute('href') || '';
    if (/^\s*(https?:)?\/\//i.test(u)) errors.push(`network reference: <${e.tagName.toLowerCase()}> ${u}`);
  }
  // <html data-*> and the error box; again on every later error (a late exception, a failed load)
  function mark() {
    const html = document.documentElement;
    html.setAttribute('data-rendered', built ? 'ok' : 'failed');
    html.setAttribute('data-charts', String(chartCount));
    html.setAttribute('data-errors', String(errors.length));
    const old = document.getElementById('report-errors');
    if (old) old.remove();
    if (!errors.length) return;
    root.prepend(el('div', { id: 'report-errors', role: 'alert' },
      el('strong', { text: `The report hit ${errors.length} error${errors.length === 1 ? '' : 's'} while drawing:` }),
      el('ul', null, errors.map((m) => el('li', { text: String(m) })))));
  }
  window.__pacerErrorHook = mark;
  mark();
})();
