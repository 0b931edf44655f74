// univg audit: the page's behaviour. Markup comes from the server, escaped there; this script only
// inserts those fragments, toggles classes and sends decisions. Text from anywhere else (error
// messages, the auditor's own input) goes in with textContent.
'use strict';

(() => {
  const $ = (sel, root = document) => root.querySelector(sel);
  const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));
  const boot = JSON.parse($('#boot').textContent);
  const form = $('#filter-form');
  const listEl = $('#list');
  const sampleEl = $('#sample');
  const state = {
    ids: [],
    page: 0,
    pages: 1,
    current: null,
    detail: null,
    reason: null,
    undo: [],
    busy: false,
    auditor: localStorage.getItem('univg.audit.auditor') || boot.auditor,
  };
  $('#auditor').value = state.auditor;

  function toast(text, err) {
    const t = $('#toast');
    t.textContent = text;
    t.className = err ? 'show err' : 'show';
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => (t.className = ''), err ? 6000 : 1800);
  }

  async function api(path, body) {
    const res = await fetch(path, body === undefined ? { credentials: 'same-origin' } : { method: 'POST', credentials: 'same-origin', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    let data = null;
    try {
      data = await res.json();
    } catch {
      data = { error: `${res.status} ${res.statusText}` };
    }
    if (!res.ok) throw new Error((data && data.error) || `${res.status} ${res.statusText}`);
    return data;
  }

  // ---- the filters and the list --------------------------------------------------------------

  function query(page) {
    const p = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (v !== '') p.append(k, String(v));
    if (page) p.set('page', String(page));
    return p;
  }

  function syncUrl() {
    const p = query(state.page);
    if (state.current) p.set('open', state.current);
    history.replaceState(null, '', `?${p}`);
  }

  function restoreForm() {
    const p = new URLSearchParams(location.search);
    for (const el of form.elements) {
      if (!el.name) continue;
      if (el.type === 'checkbox') el.checked = p.getAll(el.name).includes(el.value);
      else if (p.has(el.name)) el.value = p.get(el.name);
    }
    state.page = Number(p.get('page') || 0) || 0;
    return p;
  }

  let listSeq = 0;
  async function loadList(keepCurrent) {
    const seq = ++listSeq;
    const p = query(state.page);
    const chosen = new URLSearchParams(location.search);
    // Facet checkboxes are rebuilt from the answer: keep what was ticked before they exist.
    for (const k of ['task', 'difficulty', 'verdict', 'reason', 'pool', 'source', 'status']) if (!$(`#facets [name="${k}"]`)) for (const v of chosen.getAll(k)) p.append(k, v);
    let data;
    try {
      data = await api(`/api/list?${p}`);
    } catch (e) {
      toast(e.message, true);
      return;
    }
    if (seq !== listSeq) return;
    $('#facets').innerHTML = data.facets;
    listEl.innerHTML = data.list;
    state.ids = data.ids;
    state.pages = data.pages;
    state.page = data.page;
    markCurrent();
    syncUrl();
    if (!keepCurrent && !state.current && state.ids.length) openSample(state.ids[0]);
  }

  function markCurrent() {
    for (const li of $$('li.row')) li.classList.toggle('current', li.dataset.id === state.current);
    const cur = $$('li.row').find((li) => li.dataset.id === state.current);
    if (cur) cur.scrollIntoView({ block: 'nearest' });
  }

  form.addEventListener('change', () => {
    state.page = 0;
    loadList(true);
  });
  let typing = null;
  $('#q').addEventListener('input', () => {
    clearTimeout(typing);
    typing = setTimeout(() => {
      state.page = 0;
      loadList(true);
    }, 300);
  });
  form.addEventListener('submit', (e) => e.preventDefault());
  form.addEventListener('reset', () => setTimeout(() => {
    for (const el of $$('#facets input')) el.checked = false;
    history.replaceState(null, '', '?');
    state.page = 0;
    loadList(true);
  }));
  listEl.addEventListener('click', (e) => {
    const pageBtn = e.target.closest('button[data-page]');
    if (pageBtn) {
      state.page = Number(pageBtn.dataset.page);
      loadList(true);
      return;
    }
    const row = e.target.closest('li.row');
    if (row) openSample(row.dataset.id);
  });

  // ---- the sample ----------------------------------------------------------------------------

  let sampleSeq = 0;
  async function openSample(id) {
    const seq = ++sampleSeq;
    state.current = id;
    markCurrent();
    syncUrl();
    let data;
    try {
      data = await api(`/api/sample/${encodeURIComponent(id)}?auditor=${encodeURIComponent(state.auditor)}`);
    } catch (e) {
      toast(e.message, true);
      return;
    }
    if (seq !== sampleSeq) return;
    sampleEl.innerHTML = data.html;
    state.detail = data;
    state.reason = null;
    setFocus(data.focus);
    sampleEl.scrollTop = 0;
  }

  function setFocus(k) {
    const art = $('article.sample');
    if (!art || k === null || k === undefined) return;
    art.dataset.focus = String(k);
    for (const el of $$('[data-cand]', art)) el.classList.toggle('on', el.dataset.cand === String(k));
  }

  function cycleCandidate(step) {
    const d = state.detail;
    if (!d || d.candidates.length === 0) return;
    const art = $('article.sample');
    const at = d.candidates.indexOf(Number(art.dataset.focus));
    setFocus(d.candidates[(at + step + d.candidates.length) % d.candidates.length]);
  }

  async function move(step) {
    if (state.ids.length === 0) return;
    const at = state.ids.indexOf(state.current);
    const next = at + step;
    if (next >= 0 && next < state.ids.length) return openSample(state.ids[next]);
    if (next >= state.ids.length && state.page + 1 < state.pages) {
      state.page++;
      state.current = null;
      await loadList(false);
    } else if (next < 0 && state.page > 0) {
      state.page--;
      await loadList(true);
      if (state.ids.length) openSample(state.ids[state.ids.length - 1]);
    }
  }

  // Hovering a box's text lights up its drawing, and the other way round.
  function highlight(e, on) {
    const el = e.target.closest && e.target.closest('[data-box]');
    if (!el) return;
    const key = el.dataset.box;
    for (const x of $$('[data-box]', sampleEl)) if (x.dataset.box === key) x.classList.toggle('hl', on);
  }
  sampleEl.addEventListener('mouseover', (e) => highlight(e, true));
  sampleEl.addEventListener('mouseout', (e) => highlight(e, false));

  sampleEl.addEventListener('click', (e) => {
    const tab = e.target.closest('.tab[data-cand]');
    if (tab) return setFocus(Number(tab.dataset.cand));
    const act = e.target.closest('button[data-decision]');
    if (act) return decide(act.dataset.decision);
    if (e.target.closest('button[data-undo]')) return undo();
    const r = e.target.closest('button[data-reason]');
    if (r) return pickReason(r.dataset.reason);
  });

  function pickReason(reason) {
    state.reason = state.reason === reason ? null : reason;
    for (const b of $$('button[data-reason]', sampleEl)) b.classList.toggle('on', b.dataset.reason === state.reason);
  }

  // ---- decisions -----------------------------------------------------------------------------

  async function decide(decision) {
    const art = $('article.sample');
    if (!art || state.busy) return;
    state.busy = true;
    const note = $('#note');
    const focus = art.dataset.focus === '' ? null : Number(art.dataset.focus);
    try {
      const data = await api('/api/labels', { sampleId: art.dataset.id, candidateIndex: focus, decision, reason: state.reason, note: note ? note.value : '', auditor: state.auditor });
      state.undo.push({ id: data.label.id, sampleId: data.label.sampleId });
      $('#decide').innerHTML = data.decide;
      toast(`${decision}: saved`);
      const row = $$('li.row').find((li) => li.dataset.id === data.label.sampleId);
      if (row) $('.decs', row).innerHTML = data.badges;
      await move(1);
      // Counts and status filters change with every decision.
      loadList(true);
    } catch (e) {
      toast(`not saved: ${e.message}`, true);
    } finally {
      state.busy = false;
    }
  }

  async function undo() {
    const last = state.undo.pop();
    if (!last || state.busy) {
      if (!last) toast('nothing to undo on this page');
      return;
    }
    state.busy = true;
    try {
      const data = await api('/api/undo', { id: last.id });
      if (state.current !== last.sampleId) await openSample(last.sampleId);
      else $('#decide').innerHTML = data.decide;
      const row = $$('li.row').find((li) => li.dataset.id === last.sampleId);
      if (row) $('.decs', row).innerHTML = data.badges;
      toast('undone');
    } catch (e) {
      state.undo.push(last);
      toast(`not undone: ${e.message}`, true);
    } finally {
      state.busy = false;
    }
  }

  $('#auditor').addEventListener('change', (e) => {
    const v = e.target.value.trim();
    if (!/^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/.test(v)) {
      toast('an auditor name is 1-64 letters, digits or . _ @ -', true);
      e.target.value = state.auditor;
      return;
    }
    state.auditor = v;
    localStorage.setItem('univg.audit.auditor', v);
    if (state.current) openSample(state.current);
  });

  // ---- panels --------------------------------------------------------------------------------

  async function showStats() {
    try {
      const data = await api('/api/stats');
      $('#stats-body').innerHTML = data.html;
      const d = $('#stats');
      if (!d.open) d.showModal();
    } catch (e) {
      toast(e.message, true);
    }
  }
  $('#stats-open').addEventListener('click', showStats);
  $('#help-open').addEventListener('click', () => $('#help').showModal());

  // ---- keyboard ------------------------------------------------------------------------------

  document.addEventListener('keydown', (e) => {
    const t = e.target;
    const typingIn = t instanceof HTMLInputElement || t instanceof HTMLTextAreaElement || t instanceof HTMLSelectElement;
    if (e.key === 'Escape') {
      if (typingIn) t.blur();
      return;
    }
    if (typingIn || e.altKey || e.metaKey) return;
    if (e.ctrlKey) {
      if (e.key === 'z') {
        e.preventDefault();
        undo();
      }
      return;
    }
    if ($('dialog[open]') && e.key !== '?') return;
    const k = e.key;
    const act = {
      j: () => move(1),
      ArrowDown: () => move(1),
      k: () => move(-1),
      ArrowUp: () => move(-1),
      a: () => decide('accept'),
      r: () => decide('reject'),
      f: () => decide('flag'),
      u: () => undo(),
      c: () => cycleCandidate(1),
      C: () => cycleCandidate(-1),
      b: () => { const a = $('article.sample'); if (a) a.classList.toggle('all'); },
      n: () => { const n = $('#note'); if (n) n.focus(); },
      '/': () => $('#q').focus(),
      s: () => showStats(),
      '?': () => { const h = $('#help'); if (h.open) h.close(); else h.showModal(); },
    }[k];
    if (act) {
      e.preventDefault();
      act();
    } else if (/^[1-9]$/.test(k)) {
      const r = boot.reasons[Number(k) - 1];
      if (r) {
        e.preventDefault();
        pickReason(r);
      }
    }
  });

  // ---- start ---------------------------------------------------------------------------------

  const start = restoreForm();
  const open = start.get('open');
  if (open) state.current = open;
  loadList(Boolean(open)).then(() => {
    if (open) openSample(open);
  });
})();
