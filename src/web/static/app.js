// fasop live Pareto viewer: the page. Plain JS, no build step; ECharts is served by fasop itself.
// Data flow: POST /api/search starts a search; GET /api/events (Server-Sent Events) replays the
// current run from its start, then streams one `result` event per estimated plan, and ends with
// `done`, `stopped` or `error` (the page then closes the stream, or EventSource would reconnect).
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  const STAR = 'path://M50,2 L61.8,35.5 L97.6,35.5 L68.9,57.3 L79.4,91 L50,70.6 L20.6,91 L31.1,57.3 L2.4,35.5 L38.2,35.5 Z';
  const FINAL = ['done', 'stopped', 'error'];

  /** Everything the page knows about the current run. Exposed as window.fasopViewer for tests. */
  const state = {
    mode: 'search',
    info: null,
    run: null,
    runInfo: {},
    status: 'idle', // idle | starting | running | done | stopped | error | watching | complete
    total: 0,
    done: 0,
    valid: 0,
    oom: 0,
    plans: [], // valid plans only (non-OOM, cost > 0, throughput > 0)
    frontier: [], // indices into plans, cheapest first
    best: -1,
    cheapest: -1,
    latest: -1,
    startedAt: 0,
    elapsedS: 0,
    finalElapsed: null,
    source: null,
    connected: false,
    renderCount: 0,
    chosen: -1, // index into plans of the plan whose export command is shown (-1: the best)
    modelConfig: null, // parsed config.json chosen in the form
    modelConfigName: '',
    request: null, // the form body of the search now shown
  };
  window.fasopViewer = state;

  // ---------- formatting ----------
  const fmt = (x, d = 2) => (x === null || x === undefined || !Number.isFinite(x) ? '—' : x.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d }));
  const money = (x) => (Number.isFinite(x) ? `$${fmt(x, 2)}` : '—');
  const degrees = (p) => `tp ${p.tp} · pp ${p.pp} · dp ${p.dp}`;
  const nodes = (p) => {
    const counts = new Map();
    for (const t of p.node_type || []) counts.set(t, (counts.get(t) || 0) + 1);
    return [...counts].map(([t, c]) => `${c}×${t}`).join(' + ') || p.gpu_cluster_str || '—';
  };
  const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));

  // ---------- frontier (SPEC §13.6) ----------
  /** Non-OOM points sorted by cost asc, throughput desc (stable); keep strictly rising throughput. */
  function paretoFrontier(plans) {
    const order = plans.map((_, i) => i).sort((a, b) => plans[a].cost - plans[b].cost || plans[b].throughput - plans[a].throughput);
    const out = [];
    let best = -Infinity;
    for (const i of order) {
      if (plans[i].throughput > best) {
        best = plans[i].throughput;
        out.push(i);
      }
    }
    return out;
  }

  // ---------- run state ----------
  function resetRun(info) {
    Object.assign(state, {
      run: info.run, runInfo: info, total: info.total || 0, done: 0, valid: 0, oom: 0, plans: [], frontier: [],
      best: -1, cheapest: -1, latest: -1, startedAt: info.started_at || Date.now(), finalElapsed: null, chosen: -1,
      request: state.pendingRequest || state.request,
    });
    state.pendingRequest = null;
    state.status = info.mode === 'watch' ? 'watching' : 'running';
    setTitle();
    scheduleRender(true);
  }

  function addPlan(p) {
    state.done += 1;
    if (p.is_oom) {
      state.oom += 1;
      return;
    }
    state.valid += 1;
    if (!(p.cost > 0 && p.throughput > 0)) return; // nothing to draw
    const i = state.plans.push(p) - 1;
    state.latest = i;
    if (state.best < 0 || p.throughput > state.plans[state.best].throughput) state.best = i;
    if (state.cheapest < 0 || p.cost < state.plans[state.cheapest].cost) state.cheapest = i;
  }

  function setTitle() {
    const i = state.runInfo || {};
    const parts = [];
    if (i.model_type) parts.push(i.model_type);
    if (i.gpu_cluster) parts.push(typeof i.gpu_cluster === 'string' ? i.gpu_cluster : Object.entries(i.gpu_cluster).map(([k, v]) => `${k}:${v}`).join(', '));
    if (i.gbs_values) parts.push(`gbs ${i.gbs_values.join('/')}`);
    if (i.file_name) parts.push(i.file_name);
    $('run-title').textContent = parts.length ? `— ${parts.join(' · ')}` : '';
  }

  // ---------- the stream ----------
  function openStream() {
    closeStream();
    const es = new EventSource('/api/events');
    state.source = es;
    setConn('live', 'connected');
    const on = (name, fn) => es.addEventListener(name, (ev) => {
      if (state.source !== es) return;
      fn(JSON.parse(ev.data));
    });
    es.onopen = () => setConn('live', 'connected');
    es.onerror = () => {
      if (state.source !== es) return;
      // A closed stream before a final event: EventSource reconnects and the server replays the run.
      setConn(es.readyState === EventSource.CLOSED ? 'bad' : 'warn', es.readyState === EventSource.CLOSED ? 'disconnected' : 'reconnecting…');
    };
    on('start', (d) => resetRun(d));
    on('total', (d) => { state.total = d.total; scheduleRender(); });
    on('meta', (d) => {
      Object.assign(state.runInfo, Object.fromEntries(Object.entries(d).filter(([k, v]) => v !== undefined && ['model_type', 'gpu_cluster', 'gbs_values'].includes(k))));
      if (!state.runInfo.gpu_cluster && d.cluster) state.runInfo.gpu_cluster = d.cluster;
      setTitle();
    });
    on('result', (p) => { addPlan(p); scheduleRender(); });
    on('complete', (d) => { state.status = 'complete'; state.finalElapsed = d.elapsed_s; scheduleRender(true); });
    on('warning', (d) => showError(d.message, ''));
    on('idle', () => { closeStream(); setIdle(); });
    for (const name of FINAL) {
      on(name, (d) => {
        closeStream();
        state.status = name;
        state.finalElapsed = d.elapsed_s;
        if (name === 'error') {
          showError(d.error, d.hint);
          clearRun(); // a failed search's partial results are not its answer
        }
        setConn('ok', 'connected');
        setRunning(false);
        scheduleRender(true);
      });
    }
  }

  function closeStream() {
    if (state.source) state.source.close();
    state.source = null;
  }

  function setIdle() {
    state.status = state.run === null ? 'idle' : state.status;
    setConn('ok', 'connected');
    setRunning(false);
    scheduleRender(true);
  }

  function setConn(kind, text) {
    state.connected = kind === 'ok' || kind === 'live';
    $('conn-dot').className = `dot ${kind}`;
    $('conn-text').textContent = text;
  }

  // While no stream is open: check the server now and then (and notice searches started elsewhere).
  async function poll() {
    if (!state.source) {
      try {
        const r = await fetch('/api/search/status', { cache: 'no-store' });
        const s = await r.json();
        setConn('ok', 'connected');
        if (s.running && s.run !== state.run) {
          setRunning(true);
          openStream();
        }
      } catch {
        setConn('bad', 'server unreachable');
      }
    }
    setTimeout(poll, 2000);
  }

  // ---------- the form ----------
  function gpuRow(type, count) {
    const row = document.createElement('div');
    row.className = 'gpu-row';
    const sel = document.createElement('select');
    sel.className = 'gpu-type';
    sel.setAttribute('aria-label', 'GPU type');
    const profiled = new Set((state.info.profiles || []).filter((e) => e.model === $('model').value).map((e) => e.gpu.toUpperCase()));
    for (const g of state.info.gpus) {
      const o = document.createElement('option');
      o.value = g;
      o.textContent = profiled.size && !profiled.has(g.toUpperCase()) ? `${g} (no profile)` : g;
      sel.append(o);
    }
    sel.value = type;
    const num = document.createElement('input');
    Object.assign(num, { type: 'number', min: '1', step: '1', value: String(count), className: 'gpu-nodes', required: true });
    num.setAttribute('aria-label', 'nodes');
    const del = document.createElement('button');
    Object.assign(del, { type: 'button', textContent: '×', title: 'remove' });
    del.addEventListener('click', () => {
      if ($('gpu-rows').children.length > 1) row.remove();
      updateCliLine();
    });
    row.append(sel, num, del);
    $('gpu-rows').append(row);
  }

  function fillSelect(id, values, value) {
    const sel = $(id);
    sel.replaceChildren(...values.map((v) => Object.assign(document.createElement('option'), { value: v, textContent: v })));
    sel.value = value;
  }

  function formBody() {
    const intOrNull = (id) => ($(id).value.trim() === '' ? null : $(id).value.trim());
    return {
      gpus: [...document.querySelectorAll('.gpu-row')].map((r) => ({ type: r.querySelector('.gpu-type').value, nodes: r.querySelector('.gpu-nodes').value.trim() })),
      model: $('model').value,
      dataset: $('dataset').value,
      gbs: $('gbs').value.trim(),
      paretoGbsMax: intOrNull('gbs-max'),
      gpuPerNode: intOrNull('gpn'),
      precision: $('precision').value,
      partitionMethod: $('partition').value,
      estimator: $('estimator').value,
      pareto: $('pareto').checked,
      recipe: $('recipe').value,
      trainTokens: $('train-tokens').value.trim() || null,
      epochs: intOrNull('epochs'),
      ...(state.modelConfig ? { modelConfig: state.modelConfig } : {}),
      ...(seqOverride() !== null ? { seqLength: seqOverride() } : {}),
      ...techniqueFields(),
    };
  }

  /** The technique lists the form asks for (empty fields: the search's own default). */
  function techniqueFields() {
    const out = {};
    for (const [id, key] of [['recompute', 'recompute'], ['dp-sharding', 'dpSharding'], ['virtual-stages', 'virtualStages'], ['cp', 'cp']]) {
      const v = $(id).value.trim();
      if (v) out[key] = v;
    }
    // sequence parallelism is in the corrected estimator's default space; unticked turns it off
    if (!$('sequence-parallel').checked && $('estimator').value === 'fasop') out.sequenceParallel = false;
    return out;
  }

  /** The technique flags of a form body, as the CLI spells them. */
  function techniqueFlags(b) {
    const parts = [];
    if (b.recompute) parts.push(`--recompute ${b.recompute}`);
    if (b.dpSharding) parts.push(`--dp-sharding ${b.dpSharding}`);
    if (b.sequenceParallel === false) parts.push('--no-sequence-parallel');
    if (b.virtualStages) parts.push(`--virtual-stages ${b.virtualStages}`);
    if (b.cp) parts.push(`--cp ${b.cp}`);
    return parts;
  }

  /** The sequence length field when it asks for one: any value with a model config, one other than the catalog model's otherwise. */
  function seqOverride() {
    const v = $('seq-length').value.trim();
    if (v === '') return null;
    if (state.modelConfig) return v;
    return Number(v) === state.info.catalog?.models?.[$('model').value]?.seq_length ? null : v;
  }

  /** GPUs per node when the field is empty: the catalog's node size when the types agree (8 with Pareto), as the CLI does. */
  function defaultGpn(b) {
    if (b.pareto) return 8;
    const sizes = b.gpus.map((g) => state.info.catalog?.gpus?.[g.type]?.gpusPerNode).filter((x) => x);
    return sizes.length && sizes.every((x) => x === sizes[0]) ? sizes[0] : 4;
  }

  /** The training budget the form asks for, in words. */
  function budgetText(b) {
    const ds = state.info.catalog?.datasets?.[b.dataset];
    const seq = b.seqLength || (state.modelConfig ? 'its default' : state.info.catalog?.models?.[b.model]?.seq_length);
    if (!ds) return '';
    const n = (x) => Number(x).toLocaleString('en-US');
    if (b.estimator === 'reference') return `Budget: one epoch of ${b.dataset}'s ${n(ds.samples)} samples (the original's count; one sample = one sequence of ${seq} tokens).`;
    if (b.trainTokens) return `Budget: ${b.trainTokens} tokens in all, sequences of ${seq} tokens.`;
    const epochs = b.epochs ? Number(b.epochs) : 1;
    if (ds.tokens) return `Budget: ${epochs} × ${b.dataset}'s ${n(ds.tokens)} tokens (${ds.tokensSource}), sequences of ${seq} tokens.`;
    return `Budget: ${epochs} × ${b.dataset}'s ${n(ds.samples)} samples of ${seq} tokens (the catalog has no token count for it).`;
  }

  function updateCliLine() {
    const b = formBody();
    const parts = ['fasop search --gpus', ...b.gpus.map((g) => `${g.type} ${g.nodes}`), `--model-type ${b.model}`, `--dataset ${b.dataset}`, `--gbs ${b.gbs}`];
    if (b.paretoGbsMax) parts.push(`--pareto-gbs-max ${b.paretoGbsMax}`);
    if (b.gpuPerNode) parts.push(`--gpu-per-node ${b.gpuPerNode}`);
    if (b.precision !== '16') parts.push(`--precision ${b.precision}`);
    if (b.partitionMethod !== 'minmax') parts.push(`--pp-partition-method ${b.partitionMethod}`);
    if (b.estimator !== 'fasop') parts.push(`--estimator ${b.estimator}`);
    if (b.pareto) parts.push('--pareto');
    if (b.recipe !== 'megatron-mixed') parts.push(`--recipe ${b.recipe}`);
    if (b.trainTokens) parts.push(`--train-tokens ${b.trainTokens}`);
    if (b.epochs) parts.push(`--epochs ${b.epochs}`);
    if (state.modelConfig) parts[parts.indexOf(`--model-type ${b.model}`)] = `--model-config ${state.modelConfigName}`;
    if (b.seqLength) parts.push(`--seq-length ${b.seqLength}`);
    parts.push(...techniqueFlags(b));
    $('cli-line').textContent = `$ ${parts.join(' ')}`;
    const gpn = defaultGpn(b);
    $('gpn').placeholder = b.pareto ? `${gpn} (Pareto)` : `${gpn} (catalog)`;
    const seq = state.info.catalog?.models?.[b.model]?.seq_length;
    // a catalog model shows its own length until the user asks for another; a new model resets it
    if (!state.modelConfig && state.seqModel !== b.model) $('seq-length').value = seq ?? '';
    state.seqModel = state.modelConfig ? undefined : b.model;
    $('budget-help').textContent = budgetText(b);
  }

  /** The `fasop export` command that prints the launcher arguments of one plan of the search shown. */
  function exportCommand(p, b) {
    const gpus = (p.gpu_cluster_str || '').split(',').map((x) => x.trim()).filter(Boolean).map((x) => x.replace(/:(\d+)$/, ' $1')).join(' ');
    const parts = ['fasop export --gpus', gpus];
    parts.push(b.modelConfig ? `--model-config ${state.modelConfigName}` : `--model-type ${b.model}`);
    if (b.seqLength) parts.push(`--seq-length ${b.seqLength}`);
    parts.push(`--dataset ${b.dataset}`, `--gbs ${p.gbs}`, `--tp ${p.tp}`, `--dp ${p.dp}`, `--pp ${p.pp}`, `--mbs ${p.mbs}`);
    parts.push(`--gpu-per-node ${b.gpuPerNode || defaultGpn(b)}`);
    if (b.pareto) parts.push('--pareto');
    if (b.precision !== '16' && b.precision !== 16) parts.push(`--precision ${b.precision}`);
    if (b.partitionMethod !== 'minmax') parts.push(`--pp-partition-method ${b.partitionMethod}`);
    if (b.estimator !== 'fasop') parts.push(`--estimator ${b.estimator}`);
    if (b.recipe && b.recipe !== 'megatron-mixed') parts.push(`--recipe ${b.recipe}`);
    if (b.trainTokens) parts.push(`--train-tokens ${b.trainTokens}`);
    if (b.epochs) parts.push(`--epochs ${b.epochs}`);
    // the plan's own execution, one value each (the corrected estimator's; the reference's is plain)
    if (b.estimator === 'fasop' && p.recompute) {
      parts.push(`--recompute ${p.recompute}`, `--dp-sharding ${p.dp_sharding || 'none'}`, `--virtual-stages ${p.virtual_stages || 1}`);
      parts.push(p.sequence_parallel === true || p.sequence_parallel === 'True' ? '--sequence-parallel' : '--no-sequence-parallel');
    }
    if (Number(p.cp) > 1) parts.push(`--cp ${p.cp}`);
    parts.push('--format megatron');
    return parts.join(' ');
  }

  async function copyExport() {
    const text = $('export-cmd').textContent;
    try {
      await navigator.clipboard.writeText(text);
      $('copy-export').textContent = 'Copied';
    } catch {
      // no clipboard permission: select the text so that Ctrl+C copies it
      const r = document.createRange();
      r.selectNodeContents($('export-cmd'));
      getSelection().removeAllRanges();
      getSelection().addRange(r);
      $('copy-export').textContent = 'Selected: press Ctrl+C';
    }
    setTimeout(() => { $('copy-export').textContent = 'Copy export command'; }, 2000);
  }

  /** Forget the shown run: a new search failed to start, so the old chart must not stay as if it were its result. */
  function clearRun() {
    Object.assign(state, { run: null, runInfo: {}, total: 0, done: 0, valid: 0, oom: 0, plans: [], frontier: [], best: -1, cheapest: -1, latest: -1, chosen: -1, finalElapsed: null, request: null });
    $('run-title').textContent = '';
  }

  function showError(message, hint) {
    const box = $('form-error');
    if (!message) {
      box.hidden = true;
      box.replaceChildren();
      return;
    }
    box.hidden = false;
    box.replaceChildren(document.createTextNode(message));
    if (hint) {
      const h = document.createElement('span');
      h.className = 'hint';
      h.textContent = `Fix: ${hint}`;
      box.append(h);
    }
  }

  function setRunning(running) {
    $('start').disabled = running || state.mode === 'watch';
    $('stop').disabled = !running || state.mode === 'watch';
    $('form-fields').disabled = running || state.mode === 'watch';
  }

  async function start(ev) {
    ev.preventDefault();
    showError(null);
    const form = $('search-form');
    const bad = [...form.querySelectorAll('input')].find((i) => !i.checkValidity());
    if (bad) {
      showError(`${bad.getAttribute('aria-label') || bad.name || 'a field'}: ${bad.validationMessage}`, 'correct the highlighted field');
      bad.focus();
      return;
    }
    setRunning(true);
    state.status = 'starting';
    scheduleRender(true);
    try {
      const request = formBody();
      const r = await fetch('/api/search', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(request) });
      const body = await r.json();
      if (!r.ok) {
        showError(body.error, body.hint);
        if (r.status !== 409) {
          clearRun();
          state.status = 'error';
        } else state.status = state.run === null ? 'idle' : state.status === 'starting' ? 'idle' : state.status;
        setRunning(r.status === 409);
        if (r.status === 409 && !state.source) openStream();
        scheduleRender(true);
        return;
      }
      state.pendingRequest = request;
      openStream();
    } catch (err) {
      showError(`cannot reach the server: ${err.message}`, 'is `fasop serve` still running?');
      setRunning(false);
    }
  }

  async function stop() {
    $('stop').disabled = true;
    try {
      const r = await fetch('/api/search/stop', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
      const body = await r.json();
      if (body.status === 'not_running') setRunning(false);
    } catch (err) {
      showError(`cannot reach the server: ${err.message}`, 'is `fasop serve` still running?');
    }
  }

  // ---------- rendering ----------
  let chart = null;
  let renderTimer = null;
  let lastRender = 0;

  /** Redraw at most ~5 times a second while results pour in; at once for state changes. */
  function scheduleRender(now = false) {
    if (now) {
      clearTimeout(renderTimer);
      renderTimer = null;
      render();
      return;
    }
    if (renderTimer) return;
    renderTimer = setTimeout(() => {
      renderTimer = null;
      render();
    }, Math.max(0, 200 - (Date.now() - lastRender)));
  }

  function tooltip(p, tag) {
    const rows = [
      ['degrees', `${degrees(p)} · mbs ${p.mbs} · gbs ${p.gbs}`],
      ['nodes', nodes(p)],
      ['partition', `[${(p.partition || []).join(', ')}]`],
      ['step time', `${fmt(p.step_time, 3)} s`],
      ['throughput', `${fmt(p.throughput, 3)} samples/s`],
      ['memory', `${fmt(p.oom_gpumem, 2)} GiB`],
      ['cost', `${money(p.cost)} (${fmt(p.total_time_hours, 2)} h)`],
    ];
    return `<div style="font-weight:700;margin-bottom:4px">${esc(tag)} · plan #${p.index}</div>` +
      `<div style="display:grid;grid-template-columns:78px 1fr;gap:1px 6px">${rows.map(([k, v]) => `<span style="color:#64748b">${k}</span><span>${esc(v)}</span>`).join('')}</div>`;
  }

  function initChart() {
    if (chart || !window.echarts) return;
    chart = window.echarts.init($('chart'), null, { renderer: 'canvas' });
    window.addEventListener('resize', () => chart.resize());
    chart.setOption({
      animation: false,
      grid: { left: 70, right: 30, top: 48, bottom: 56 },
      legend: { top: 8, right: 20, itemGap: 18 },
      tooltip: { trigger: 'item', confine: true, extraCssText: 'max-width: 420px; white-space: normal;', formatter: (params) => {
        const p = state.plans[params.value[2]];
        return p ? tooltip(p, params.seriesName) : '';
      } },
      xAxis: { type: 'value', name: 'Training cost ($)', nameLocation: 'middle', nameGap: 32, nameTextStyle: { fontWeight: 'bold', fontSize: 13 }, min: 0, splitLine: { lineStyle: { type: 'dashed', opacity: 0.5 } } },
      yAxis: { type: 'value', name: 'Throughput (samples/s)', nameLocation: 'middle', nameGap: 48, nameTextStyle: { fontWeight: 'bold', fontSize: 13 }, min: 0, splitLine: { lineStyle: { type: 'dashed', opacity: 0.5 } } },
      series: [
        { name: 'Other plans', type: 'scatter', symbolSize: 7, itemStyle: { color: '#888888', opacity: 0.55 }, data: [], z: 1 },
        { name: 'Pareto frontier', type: 'line', symbol: 'circle', symbolSize: 10, lineStyle: { color: '#3b82f6', width: 2.5 }, itemStyle: { color: '#3b82f6', borderColor: '#1d4ed8', borderWidth: 1.5 }, data: [], z: 3 },
        { name: 'Best throughput', type: 'scatter', symbol: STAR, symbolSize: 26, itemStyle: { color: '#16a34a', borderColor: '#14532d', borderWidth: 1 }, data: [], z: 5 },
        { name: 'Latest plan', type: 'scatter', symbol: 'diamond', symbolSize: 14, itemStyle: { color: '#f97316', borderColor: '#9a3412', borderWidth: 1 }, data: [], z: 4 },
      ],
    });
  }

  function render() {
    lastRender = Date.now();
    state.renderCount += 1;
    state.frontier = paretoFrontier(state.plans);
    const onFrontier = new Set(state.frontier);
    const pt = (i) => [state.plans[i].cost, state.plans[i].throughput, i];

    // counters and progress
    const total = state.total;
    const pct = total > 0 ? Math.min(100, (100 * state.done) / total) : 0;
    $('count-done').textContent = state.done;
    $('count-total').textContent = total;
    $('count-valid').textContent = state.valid;
    $('count-oom').textContent = state.oom;
    $('count-frontier').textContent = state.frontier.length;
    $('count-pct').textContent = `${pct.toFixed(pct < 10 && pct > 0 ? 1 : 0)} %`;
    const runningNow = state.status === 'running' || state.status === 'watching';
    const el = (Date.now() - state.startedAt) / 1000;
    const rate = runningNow && el > 0 ? state.done / el : 0;
    $('count-rate').textContent = runningNow && state.done > 0 ? `${rate.toFixed(rate < 10 ? 1 : 0)} plans/s · ETA ${total > state.done && rate > 0 ? `${Math.ceil((total - state.done) / rate)} s` : '—'}` : '';
    const bar = $('progress-bar');
    bar.style.width = `${pct}%`;
    bar.className = `bar ${state.status === 'stopped' ? 'stopped' : state.status === 'error' ? 'error' : ''}`;
    $('card-done').textContent = state.done.toLocaleString('en-US');
    $('card-total').textContent = total.toLocaleString('en-US');
    $('card-valid-sub').textContent = `${state.valid.toLocaleString('en-US')} fit in memory · ${state.oom.toLocaleString('en-US')} OOM`;
    $('card-frontier').textContent = state.frontier.length;
    const best = state.plans[state.best];
    const cheap = state.plans[state.cheapest];
    $('card-best').textContent = best ? `${fmt(best.throughput, 3)}` : '—';
    $('card-best-sub').textContent = best ? `samples/s · ${degrees(best)} · mbs ${best.mbs} · ${money(best.cost)}` : 'no valid plan yet';
    $('card-cheapest').textContent = cheap ? money(cheap.cost) : '—';
    $('card-cheapest-sub').textContent = cheap ? `${degrees(cheap)} · mbs ${cheap.mbs} · ${fmt(cheap.throughput, 3)} samples/s` : 'no valid plan yet';

    // status bar
    $('state-text').textContent = state.status;
    const elapsed = state.finalElapsed ?? (state.run !== null && (state.status === 'running' || state.status === 'watching') ? (Date.now() - state.startedAt) / 1000 : 0);
    state.elapsedS = elapsed;
    $('elapsed').textContent = `${elapsed.toFixed(1)} s`;

    // best plan details
    const dl = $('best-details');
    const shown = state.plans[state.chosen] || best;
    $('plan-heading').textContent = state.plans[state.chosen] ? 'Chosen plan' : 'Best plan';
    $('export-cmd').textContent = shown && state.request ? exportCommand(shown, state.request) : '';
    $('copy-export').disabled = !(shown && state.request);
    if (shown) {
      const best = shown; // the details below describe the plan shown
      const rows = [
        ['throughput', `${fmt(best.throughput, 4)} samples/s`], ['cost', `${money(best.cost)} for ${fmt(best.total_time_hours, 2)} h of training`],
        ['step time', `${fmt(best.step_time, 4)} s`], ['TP / PP / DP', `${best.tp} / ${best.pp} / ${best.dp}`], ['micro-batch', best.mbs], ['global batch', best.gbs],
        ['sub-cluster', `${best.gpu_cluster_str} — ${best.tp * best.pp * best.dp} GPUs`],
        ['nodes', `${nodes(best)}  [${(best.node_type || []).join(', ')}]`], ['partition', `[${(best.partition || []).join(', ')}] operators per stage`], ['memory', `${fmt(best.oom_gpumem, 2)} GiB per GPU (fullest)`], ['plan', `#${best.index}`],
      ];
      dl.replaceChildren(...rows.flatMap(([k, v]) => [Object.assign(document.createElement('dt'), { textContent: k }), Object.assign(document.createElement('dd'), { textContent: String(v) })]));
    } else {
      dl.replaceChildren(Object.assign(document.createElement('dt'), { textContent: '—' }), Object.assign(document.createElement('dd'), { textContent: state.done ? 'every plan so far runs out of memory' : 'no valid plan yet' }));
    }
    // frontier table
    $('frontier-body').replaceChildren(...state.frontier.map((i) => {
      const p = state.plans[i];
      const tr = document.createElement('tr');
      tr.className = `${i === state.best ? 'best' : ''} ${i === state.chosen ? 'chosen' : ''}`.trim();
      tr.title = 'show this plan and its export command';
      tr.addEventListener('click', () => { state.chosen = i; scheduleRender(true); });
      for (const v of [fmt(p.cost, 2), fmt(p.throughput, 3), `${p.tp}·${p.pp}·${p.dp}`, p.mbs, p.gbs, nodes(p)]) tr.append(Object.assign(document.createElement('td'), { textContent: String(v) }));
      return tr;
    }));

    // chart
    $('chart-empty').hidden = state.plans.length > 0;
    $('chart-empty').textContent = state.done > 0 ? 'No plan fits in memory yet.' : state.mode === 'watch' ? `Waiting for results in ${state.info?.watch_file ?? 'the file'}…` : 'Start a search: each estimated plan appears here as it is computed.';
    initChart();
    if (chart) {
      const logX = $('log-x').checked;
      chart.setOption({
        xAxis: { type: logX ? 'log' : 'value', min: logX ? 'dataMin' : 0, name: logX ? 'Training cost ($, log scale)' : 'Training cost ($)' },
        series: [
          { data: state.plans.map((_, i) => i).filter((i) => !onFrontier.has(i)).map(pt) },
          { data: state.frontier.map(pt) },
          { data: state.best >= 0 ? [pt(state.best)] : [] },
          { data: state.latest >= 0 ? [pt(state.latest)] : [] },
        ],
      });
    }
    if (state.status === 'running' || state.status === 'watching') scheduleTick();
  }

  let tick = null;
  function scheduleTick() {
    if (tick) return;
    tick = setTimeout(() => {
      tick = null;
      if (state.status === 'running' || state.status === 'watching') scheduleRender();
    }, 500);
  }

  // ---------- start-up ----------
  async function init() {
    setConn('warn', 'connecting…');
    let info;
    try {
      info = await (await fetch('/api/info', { cache: 'no-store' })).json();
    } catch (err) {
      setConn('bad', 'server unreachable');
      return;
    }
    state.info = info;
    state.mode = info.mode;
    setConn('ok', 'connected');
    fillSelect('model', info.models, info.defaults.model);
    fillSelect('dataset', info.datasets, info.defaults.dataset);
    fillSelect('partition', info.partition_methods, info.defaults.partitionMethod);
    fillSelect('estimator', info.estimators, info.defaults.estimator);
    fillSelect('recipe', info.recipes || ['megatron-mixed'], info.defaults.recipe || 'megatron-mixed');
    $('copy-export').addEventListener('click', copyExport);
    $('model-config').addEventListener('change', async () => {
      const f = $('model-config').files[0];
      state.modelConfig = null;
      state.modelConfigName = '';
      showError(null);
      if (f) {
        try {
          state.modelConfig = JSON.parse(await f.text());
          state.modelConfigName = f.name;
          $('seq-length').value = '';
        } catch (err) {
          showError(`${f.name} is not valid JSON: ${err.message}`, 'choose a Hugging Face config.json');
          $('model-config').value = '';
        }
      }
      $('model').disabled = Boolean(state.modelConfig);
      updateCliLine();
    });
    const profiledGpus = [...new Set((info.profiles || []).filter((e) => e.model === info.defaults.model).map((e) => e.gpu))];
    gpuRow(info.gpus.find((g) => profiledGpus.some((p) => p.toUpperCase() === g.toUpperCase())) || info.gpus[0], 4);
    $('add-gpu').addEventListener('click', () => {
      const used = new Set([...document.querySelectorAll('.gpu-type')].map((s) => s.value));
      gpuRow(info.gpus.find((g) => !used.has(g)) || info.gpus[0], 1);
      updateCliLine();
    });
    $('search-form').addEventListener('submit', start);
    $('search-form').addEventListener('input', updateCliLine);
    $('search-form').addEventListener('change', updateCliLine);
    $('stop').addEventListener('click', stop);
    $('log-x').addEventListener('change', () => scheduleRender(true));
    if (info.mode === 'watch') {
      $('mode-text').textContent = 'following a file';
      const note = $('watch-note');
      note.hidden = false;
      note.textContent = `Following ${info.watch_file}. Run a search with --parsing --parsing-file pointing to it from another terminal; this page shows each plan as it is written.`;
      document.querySelector('#search-form h2').textContent = 'Following a file';
      for (const id of ['form-fields', 'cli-line']) $(id).hidden = true;
      document.querySelector('.buttons').hidden = true;
      setRunning(false);
      openStream();
    } else {
      $('mode-text').textContent = 'search';
      if (info.profile_error) showError(info.profile_error, 'start fasop serve with --profile-dir DIR');
      setRunning(false);
      const s = await (await fetch('/api/search/status', { cache: 'no-store' })).json();
      if (s.run !== undefined) {
        setRunning(s.running);
        openStream();
      }
      setTimeout(poll, 2000);
    }
    updateCliLine();
    scheduleRender(true);
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
