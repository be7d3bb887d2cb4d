// chromalab web app: upload photos, see them in colour, change the temperature live, download.
// Plain JS, no build step, nothing fetched from another host. Every request goes to this server's API.
"use strict";

// The server receives at most 2 bodies at once from one address and answers a third with 503
// (ServeSettings.receiving_per_client); a big drop is sent 2 at a time, and a 503 (busy) is tried again later.
const MAX_PARALLEL_UPLOADS = 2;
const BUSY_RETRIES = 8;  // tries after a 503, 1 s apart, then 2, ... (at most 5 s)
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
    stage: "waiting",  // waiting, uploading, later (the server was busy), done, failed
    tries: 0, redo: false,
  };
  node.querySelector(".split").addEventListener("input", (event) => {
    node.querySelector(".compare").style.setProperty("--split", event.target.value + "%");
  });
  for (const button of node.querySelectorAll(".remove")) button.addEventListener("click", () => removeCard(card));
  node.querySelector(".retry").addEventListener("click", () => { card.tries = 0; queue(card); pump(); updateAll(); });
  attachHints(card, render);
  attachReference(card, render);
  return card;
}

function queue(card) {
  card.stage = "waiting";
  card.node.querySelector(".failed-actions").hidden = true;
  if (!state.waiting.includes(card)) state.waiting.push(card);
}

function pump() {
  while (state.uploading < MAX_PARALLEL_UPLOADS && state.waiting.length) {
    const card = state.waiting.shift();
    state.uploading += 1;
    upload(card).finally(() => {
      state.uploading -= 1;
      if (card.redo) { card.redo = false; queue(card); }  // the model changed while it was sent
      pump();
      updateAll();
    });
  }
}

function upload(card) {
  const node = card.node;
  const progress = node.querySelector("progress");
  const label = node.querySelector(".state");
  label.classList.remove("error");
  label.textContent = "uploading";
  card.stage = "uploading";
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
      if (request.status === 200) showResult(card, body);
      else if (request.status === 503 && card.tries < BUSY_RETRIES) later(card);
      else fail(card, body.error || request.statusText);
      resolve();
    });
    request.addEventListener("error", () => { fail(card, "the server did not answer"); resolve(); });
    request.send(form);
  });
}

// The server was busy (503): the card goes back in the queue after a pause that grows with each try.
function later(card) {
  card.tries += 1;
  card.stage = "later";
  card.node.querySelector(".state").textContent = "waiting: the server is busy";
  setTimeout(() => {
    if (card.stage !== "later" || !state.cards.includes(card)) return;  // removed, or sent again meanwhile
    queue(card);
    pump();
  }, 1000 * Math.min(card.tries, 5));
}

function fail(card, message) {
  const node = card.node;
  const label = node.querySelector(".state");
  label.textContent = "Not colorized: " + message;
  label.classList.add("error");
  card.stage = "failed";
  node.querySelector("progress").hidden = true;
  node.querySelector(".failed-actions").hidden = false;
}

// The server no longer keeps the upload (unused for an hour, or pushed out by newer ones): the card says so and
// offers to send the photo again; until then it shows nothing that would ask the server for it.
function gone(card) {
  const node = card.node;
  card.id = null;
  for (const part of [".compare", ".split-label", ".card-actions", ".reference", ".hint-editor"]) {
    node.querySelector(part).hidden = true;
  }
  if (node.querySelector(".compare").classList.contains("hinting")) node.querySelector(".hints-toggle").click();
  fail(card, "the server no longer keeps this photo (unused for an hour, or pushed out by newer uploads)");
  updateAll();
}

function showResult(card, body) {
  const node = card.node;
  if (card.id) fetch("/api/uploads/" + card.id, { method: "DELETE" });
  card.id = body.id;
  card.shown = null;
  card.pending = null;  // a preview still loading was of the upload before: this one's is asked for below
  card.stage = "done";
  card.tries = 0;
  [card.width, card.height] = [body.width, body.height];
  card.clearHints();  // a new upload (e.g. another model) starts without hints
  node.querySelector("progress").hidden = true;
  node.querySelector(".failed-actions").hidden = true;
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
  if (card.reference) card.setReference(card.reference, { anew: true });  // a new upload (another model): again
}

// Re-render one card at the current temperature (and hints); while a preview loads, only the latest request waits.
function render(card) {
  if (!card.id) return;
  const wanted = temperature().toFixed(2) + "&v=" + card.version;
  const after = card.node.querySelector(".after");
  if (card.pending !== null) { card.pending = wanted; return; }
  if (card.shown === wanted) { updateDownload(card); return; }
  card.pending = wanted;
  after.onload = after.onerror = (event) => {
    const loaded = card.pending;
    card.pending = null;
    card.shown = after.dataset.temperature;
    if (event.type === "error") { checkKept(card, after.src); return; }
    if (loaded !== card.shown) render(card);
  };
  after.dataset.temperature = wanted;
  after.src = "/api/uploads/" + card.id + "/preview?temperature=" + wanted;
  updateDownload(card);
}

// A preview that did not load: if the server answers 404, the upload is gone.
async function checkKept(card, source) {
  const id = card.id;
  try {
    const response = await fetch(source);
    if (response.status === 404 && card.id === id) gone(card);
  } catch { /* the server did not answer: the next change tries again */ }
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
  const busy = state.cards.filter((card) => ["waiting", "uploading", "later"].includes(card.stage)).length;
  const failed = state.cards.filter((card) => card.stage === "failed").length;
  const notDone = failed ? ", " + failed + " not (see their cards)" : "";
  say((busy ? busy + " photo(s) in progress, " : "") + ids.length + " photo(s) colorized" + notDone);
}

function removeCard(card) {
  if (card.id) fetch("/api/uploads/" + card.id, { method: "DELETE" });
  card.stage = "removed";
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
    for (const card of state.cards) {  // the same files, the new model
      card.pending = null;
      if (card.stage === "uploading") card.redo = true;  // sent with the old model: once more when it is done
      else if (card.stage !== "waiting") { card.tries = 0; queue(card); }  // a waiting card takes the new one
    }
    pump();
    updateAll();
  });
  $("#download-all").addEventListener("click", downloadAll);
  loadModels();
}

setUp();
