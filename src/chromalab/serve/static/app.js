// chromalab web app: upload photos, see them in colour, change the temperature live, download.
// Plain JS, no build step, nothing fetched from another host. Every request goes to this server's API.
"use strict";

const MAX_PARALLEL_UPLOADS = 3;  // the server's pool is bounded too; this keeps a big drop from filling it
const $ = (selector) => document.querySelector(selector);
const state = { models: [], cards: [], waiting: [], uploading: 0 };

function temperature() { return Number($("#temperature").value); }
function currentModel() { return state.models.find((m) => m.name === $("#model").value); }
function say(text) { $("#status").textContent = text; }

async function loadModels() {
  const response = await fetch("/api/models");
  if (!response.ok) { say("Could not list the models: " + (await errorOf(response))); return; }
  state.models = await response.json();
  // the slider reaches every model's own temperature (the bundled default's is 1.1), and 2 at least
  const highest = Math.max(2, ...state.models.map((m) => m.temperature || 0));
  $("#temperature").max = String(Math.ceil(highest * 10) / 10);
  for (const model of state.models) {
    const option = document.createElement("option");
    option.value = model.name;
    option.textContent = model.name + (model.classification ? "" : " (regression)");
    $("#model").append(option);
  }
  showModel();
}

function showModel() {
  const model = currentModel();
  if (!model) return;
  $("#about").textContent = model.about;
  $("#temperature").value = model.temperature;
  $("#temperature").disabled = !model.classification;
  showTemperature();
}

function showTemperature() {
  const model = currentModel();
  $("#temperature-value").textContent = model && !model.classification ? "fixed (regression model)"
    : "T = " + temperature().toFixed(2);
}

async function errorOf(response) {
  try { return (await response.json()).error; } catch { return response.status + " " + response.statusText; }
}

function addFiles(files) {
  for (const file of files) {
    const card = makeCard(file);
    state.cards.push(card);
    state.waiting.push(card);
  }
  pump();
}

function makeCard(file) {
  const node = $("#card").content.firstElementChild.cloneNode(true);
  node.querySelector(".name").textContent = file.name;
  $("#results").append(node);
  const card = {
    file, node, id: null, shown: null, pending: null, width: 0, height: 0, hints: [], version: 0, reference: null,
  };
  node.querySelector(".split").addEventListener("input", (event) => {
    node.querySelector(".compare").style.setProperty("--split", event.target.value + "%");
  });
  node.querySelector(".remove").addEventListener("click", () => removeCard(card));
  attachHints(card, render);
  attachReference(card, render);
  return card;
}

function pump() {
  while (state.uploading < MAX_PARALLEL_UPLOADS && state.waiting.length) {
    state.uploading += 1;
    upload(state.waiting.shift()).finally(() => { state.uploading -= 1; pump(); updateAll(); });
  }
}

function upload(card) {
  const node = card.node;
  const progress = node.querySelector("progress");
  const label = node.querySelector(".state");
  label.classList.remove("error");
  label.textContent = "uploading";
  progress.hidden = false;
  const form = new FormData();
  form.append("file", card.file);
  form.append("model", $("#model").value);
  return new Promise((resolve) => {
    const request = new XMLHttpRequest();
    request.open("POST", "/api/uploads");
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) progress.value = (100 * event.loaded) / event.total;
      if (event.loaded === event.total) label.textContent = "colorizing";
    });
    request.addEventListener("load", () => {
      let body = {};
      try { body = JSON.parse(request.responseText); } catch { body = { error: request.statusText }; }
      if (request.status === 200) { showResult(card, body); } else { fail(card, body.error || request.statusText); }
      resolve();
    });
    request.addEventListener("error", () => { fail(card, "the server did not answer"); resolve(); });
    request.send(form);
  });
}

function fail(card, message) {
  const label = card.node.querySelector(".state");
  label.textContent = "Not colorized: " + message;
  label.classList.add("error");
  card.node.querySelector("progress").hidden = true;
}

function showResult(card, body) {
  const node = card.node;
  if (card.id) fetch("/api/uploads/" + card.id, { method: "DELETE" });
  card.id = body.id;
  card.shown = null;
  [card.width, card.height] = [body.width, body.height];
  for (const hint of card.hints) hint.marker.remove();  // a new upload (e.g. another model) starts without hints
  card.hints = [];
  node.querySelector("progress").hidden = true;
  node.querySelector(".state").textContent = body.width + " x " + body.height + " pixels, " + body.model;
  const before = node.querySelector(".before");
  before.src = "/api/uploads/" + card.id + "/preview?grey=true";
  before.alt = card.file.name + ", the grey input";
  node.querySelector(".after").alt = card.file.name + ", colorized";
  node.querySelector(".compare").hidden = false;
  node.querySelector(".split-label").hidden = false;
  node.querySelector(".card-actions").hidden = false;
  node.querySelector(".reference").hidden = false;
  render(card);
  if (card.reference) card.setReference(card.reference);  // a new upload of the photo (another model): again
}

// Re-render one card at the current temperature (and hints); while a preview loads, only the latest request waits.
function render(card) {
  if (!card.id) return;
  const wanted = temperature().toFixed(2) + "&v=" + card.version;
  const after = card.node.querySelector(".after");
  if (card.pending !== null) { card.pending = wanted; return; }
  if (card.shown === wanted) { updateDownload(card); return; }
  card.pending = wanted;
  after.onload = after.onerror = () => {
    const loaded = card.pending;
    card.pending = null;
    card.shown = after.dataset.temperature;
    if (loaded !== card.shown) render(card);
  };
  after.dataset.temperature = wanted;
  after.src = "/api/uploads/" + card.id + "/preview?temperature=" + wanted;
  updateDownload(card);
}

function updateDownload(card) {
  const format = $("#format").value;
  const link = card.node.querySelector(".download");
  link.href = "/api/uploads/" + card.id + "/download?temperature=" + temperature().toFixed(2) + "&format=" + format;
  link.textContent = "Download " + format.toUpperCase();
}

function updateAll() {
  for (const card of state.cards) render(card);
  const ids = state.cards.filter((card) => card.id).map((card) => card.id);
  $("#download-all").disabled = ids.length === 0;
  const busy = state.waiting.length + state.uploading;
  say(busy ? busy + " photo(s) in progress" : ids.length + " photo(s) colorized");
}

function removeCard(card) {
  if (card.id) fetch("/api/uploads/" + card.id, { method: "DELETE" });
  state.cards = state.cards.filter((other) => other !== card);
  state.waiting = state.waiting.filter((other) => other !== card);
  card.node.remove();
  updateAll();
}

function downloadAll() {
  const ids = state.cards.filter((card) => card.id).map((card) => card.id).join(",");
  const link = document.createElement("a");
  link.href = "/api/download.zip?ids=" + ids + "&temperature=" + temperature().toFixed(2) + "&format=" + $("#format").value;
  link.download = "colorized.zip";
  document.body.append(link);
  link.click();
  link.remove();
}

function setUp() {
  const drop = $("#drop");
  $("#files").addEventListener("change", (event) => { addFiles(event.target.files); event.target.value = ""; });
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    addFiles(event.dataTransfer.files);
  });
  $("#temperature").addEventListener("input", () => { showTemperature(); updateAll(); });
  $("#format").addEventListener("change", updateAll);
  $("#model").addEventListener("change", () => {
    showModel();
    for (const card of state.cards) { card.pending = null; state.waiting.push(card); }  // the same files, the new model
    pump();
  });
  $("#download-all").addEventListener("click", downloadAll);
  loadModels();
}

setUp();
