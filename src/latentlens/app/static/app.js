// latentlens explorer: plain JavaScript, no dependencies, every request to the page's own origin.
"use strict";

const state = {
  meta: null, seed: 0, index: 0, source: "auto", set: "latent", compareSet: null, compare: false,
  shifts: {}, // set -> {k: alpha}
  active: { set: "latent", k: 0 },
};
const $ = (id) => document.getElementById(id);
let renderTicket = 0;
let renderTimer = null;

// An error stays until a later request succeeds; a notice ("saved ...") stays until the next message.
let statusIsError = false;
function status(text, isError = false) { $("status").textContent = text || ""; statusIsError = isError; }
function error(text) { status(text, true); }

function shiftParam() {
  const parts = [];
  for (const [set, ks] of Object.entries(state.shifts)) {
    for (const [k, a] of Object.entries(ks)) {
      if (Math.abs(a) > 1e-9) parts.push(`${set}:${k}:${a}`);
    }
  }
  return parts.join(",");
}

function query(extra) {
  const q = new URLSearchParams({ seed: state.seed, index: state.index, source: state.source, ...extra });
  return q.toString();
}

// The latest request wins: a response that arrives after a newer request was sent is dropped.
async function loadInto(img, url, ticket, current) {
  try {
    const response = await fetch(url);
    if (!response.ok) {
      const body = await response.json().catch(() => ({ error: response.statusText }));
      error(body.error);
      return;
    }
    const blob = await response.blob();
    if (current && ticket !== current()) return;
    const old = img.src;
    img.src = URL.createObjectURL(blob);
    if (old.startsWith("blob:")) URL.revokeObjectURL(old);
    img.dataset.url = url;
    if (statusIsError) status("");
  } catch (exc) {
    error(String(exc));
  }
}

function scheduleRender() {
  clearTimeout(renderTimer);
  renderTimer = setTimeout(renderNow, 60); // debounce slider moves
}

function renderNow() {
  const ticket = ++renderTicket;
  const current = () => renderTicket;
  loadInto($("main-image"), `/api/render.png?${query({ shifts: shiftParam() })}`, ticket, current);
  const { set, k } = state.active;
  const strip = { shifts: shiftParam(), set, k, steps: 9, range: 3 };
  const stripUrl = `/api/traversal.png?${query(strip)}`;
  loadInto($("traversal"), stripUrl, ticket, current);
  $("export-png").href = stripUrl;
  $("export-gif").href = `/api/traversal.gif?${query(strip)}`;
  $("traversal-label").textContent = labelOf(set, k);
  $("main-caption").textContent = `seed ${state.seed}, image ${state.index}` + (shiftParam() ? `, shifted ${shiftParam()}` : "");
  const compareRow = $("compare-row");
  compareRow.hidden = !state.compare;
  if (state.compare && state.compareSet) {
    const other = setInfo(state.compareSet);
    const ck = Math.min(k, other.n - 1);
    $("compare-label").textContent = `${state.compareSet}: ${labelOf(state.compareSet, ck)}`;
    loadInto($("compare-traversal"), `/api/traversal.png?${query({ shifts: shiftParam(), set: state.compareSet, k: ck, steps: 9, range: 3 })}`, ticket, current);
  }
  if (state.meta.attention) {
    $("attention-figure").hidden = false;
    $("attention-target").textContent = labelOf(set, k);
    loadInto($("attention-image"), `/api/attention.png?${query({ set, k })}`, ticket, current);
  }
}

function setInfo(name) { return state.meta.sets.find((s) => s.name === name); }
function labelOf(set, k) { return setInfo(set).labels[k]; }

function buildSliders() {
  const box = $("sliders");
  box.textContent = "";
  const info = setInfo(state.set);
  const limit = state.meta.limits.alpha;
  state.shifts[state.set] = state.shifts[state.set] || {};
  for (let k = 0; k < info.n; k++) {
    const row = document.createElement("div");
    row.className = "slider";
    row.dataset.k = k;
    let name;
    if (info.renamable) {
      name = document.createElement("input");
      name.className = "name";
      name.value = info.labels[k];
      name.setAttribute("aria-label", `name of direction ${k}`);
      name.addEventListener("change", () => rename(state.set, k, name.value));
    } else {
      name = document.createElement("span");
      name.className = "name";
      name.textContent = info.labels[k];
    }
    const range = document.createElement("input");
    range.type = "range";
    range.min = -limit; range.max = limit; range.step = 0.1;
    range.value = state.shifts[state.set][k] || 0;
    range.setAttribute("aria-label", `shift along ${info.labels[k]}`);
    const value = document.createElement("span");
    value.textContent = Number(range.value).toFixed(1);
    range.addEventListener("input", () => {
      state.shifts[state.set][k] = Number(range.value);
      value.textContent = Number(range.value).toFixed(1);
      state.active = { set: state.set, k };
      for (const r of box.children) r.classList.toggle("active", Number(r.dataset.k) === k);
      scheduleRender();
    });
    const pick = document.createElement("button");
    pick.type = "button";
    pick.textContent = "traverse";
    pick.addEventListener("click", () => { state.active = { set: state.set, k }; renderNow(); });
    row.append(name, range, value, pick);
    box.append(row);
  }
}

async function rename(set, k, name) {
  const response = await fetch("/api/rename", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ set, k, name }),
  });
  const body = await response.json();
  if (!response.ok) { error(body.error); return; }
  setInfo(set).labels[k] = body.name;
  status(`saved the name "${body.name}"`);
  renderNow();
}

function buildGrid() {
  const grid = $("grid");
  grid.textContent = "";
  for (let i = 0; i < 16; i++) {
    const img = document.createElement("img");
    img.className = "pixelated" + (i === state.index ? " selected" : "");
    img.alt = `sample ${i}`;
    img.src = `/api/render.png?${new URLSearchParams({ seed: state.seed, index: i, source: state.source })}`;
    img.addEventListener("click", () => {
      state.index = i;
      for (const other of grid.children) other.classList.remove("selected");
      img.classList.add("selected");
      renderNow();
    });
    grid.append(img);
  }
}

function fillSetSelect(select, value) {
  select.textContent = "";
  for (const s of state.meta.sets) {
    const option = document.createElement("option");
    option.value = s.name;
    option.textContent = `${s.name} (${s.n})`;
    select.append(option);
  }
  select.value = value;
}

let curveTicket = 0;
let curveTimer = null;

function buildCurve() {
  const curve = state.meta.curve;
  $("curve-panel").hidden = !curve;
  if (!curve) return;
  const range = $("curve-position");
  range.max = curve.corners - 1;
  $("curve-last").textContent = curve.corners - 1;
  const show = () => {
    const ticket = ++curveTicket;
    loadInto($("curve-image"), `/api/curve.png?${new URLSearchParams({ position: range.value })}`, ticket, () => curveTicket);
  };
  range.addEventListener("input", () => {
    $("curve-value").textContent = Number(range.value).toFixed(2);
    clearTimeout(curveTimer);
    curveTimer = setTimeout(show, 60);
  });
  show();
}

async function main() {
  const response = await fetch("/api/meta");
  state.meta = await response.json();
  $("run").textContent = `${state.meta.run}: ${state.meta.kind}, latent ${state.meta.latent_dim}`;
  state.source = state.meta.data_images ? "data" : "prior";
  $("source").value = state.source;
  $("source-label").hidden = !state.meta.data_images;
  const names = state.meta.sets.map((s) => s.name);
  state.set = names.find((n) => n !== "latent") || "latent";
  state.compareSet = names.find((n) => n !== state.set) || state.set;
  state.active = { set: state.set, k: 0 };
  fillSetSelect($("set"), state.set);
  fillSetSelect($("compare-set"), state.compareSet);
  $("set").addEventListener("change", () => { state.set = $("set").value; state.active = { set: state.set, k: 0 }; buildSliders(); renderNow(); });
  $("compare-set").addEventListener("change", () => { state.compareSet = $("compare-set").value; renderNow(); });
  $("compare-on").addEventListener("change", () => { state.compare = $("compare-on").checked; renderNow(); });
  $("reset").addEventListener("click", () => { state.shifts = {}; buildSliders(); renderNow(); });
  $("new-samples").addEventListener("click", () => { state.seed = (state.seed + 1) % 100000; $("seed").value = state.seed; buildGrid(); renderNow(); });
  $("seed").addEventListener("change", () => { state.seed = Math.max(0, Number($("seed").value) || 0); buildGrid(); renderNow(); });
  $("source").addEventListener("change", () => { state.source = $("source").value; buildGrid(); renderNow(); });
  buildGrid();
  buildSliders();
  buildCurve();
  renderNow();
}

main();
