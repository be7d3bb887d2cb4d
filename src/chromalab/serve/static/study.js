// chromalab study page: instructions, practice pairs with feedback, then the counted pairs; a reload goes on
// where the participant stopped (the server keeps the answers, this browser keeps a random participant id).
// Plain JS, no build step, nothing fetched from another host.
"use strict";

const $ = (selector) => document.querySelector(selector);
const NAME = decodeURIComponent(location.pathname.split("/")[2] || "");
const API = "/api/study/" + encodeURIComponent(NAME);
const STORAGE_KEY = "chromalab-study:" + NAME;
const QUESTIONS = {
  turing: "\u201cWhich is the real photo?\u201d One of the two is the photo as it was taken, the other was coloured "
    + "by a computer.",
  preference: "\u201cWhich looks more realistic?\u201d Both were coloured by a computer.",
};
const SIDES = ["left", "right"];
const state = { saved: null, trial: null, busy: false, timer: null };

function say(text) { $("#status").textContent = text; }
function choices() { return document.querySelectorAll(".choice"); }

async function errorOf(response) {
  try { return (await response.json()).error; } catch { return response.status + " " + response.statusText; }
}

// The participant: a random id (no personal data), kept in this browser so that a reload resumes.
function remembered() {
  try {
    const saved = JSON.parse(localStorage.getItem(STORAGE_KEY));
    if (saved && typeof saved.participant === "string") return saved;
  } catch { /* no storage (private window): this visit only */ }
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return { participant: Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(""), started: false };
}

function remember() {
  try { localStorage.setItem(STORAGE_KEY, JSON.stringify(state.saved)); } catch { /* this visit only */ }
}

function showInstructions(about) {
  for (const kind of about.kinds) {
    const item = document.createElement("li");
    item.textContent = QUESTIONS[kind];
    $("#questions").append(item);
  }
  $("#timing").textContent = about.show_ms > 0
    ? "Each pair is shown for " + (about.show_ms / 1000) + " s; then the photos disappear and you choose."
    : "Each pair stays until you choose.";
  $("#counts").textContent = (about.practice ? about.practice + " practice pairs first (you are told if you were "
    + "right), then " : "") + about.trials + " pairs. Some are easy: they check that the study works.";
  $("#instructions").hidden = false;
  $("#start").focus();
}

async function start() {
  state.saved.started = true;
  remember();
  await next();
}

async function next() {
  $("#instructions").hidden = true;
  $("#next").hidden = true;
  $("#feedback").textContent = "";
  $("#feedback").className = "feedback";
  say("");
  let body;
  try {
    const response = await fetch(API + "/next?participant=" + encodeURIComponent(state.saved.participant));
    if (!response.ok) { say("The next pair could not be loaded: " + (await errorOf(response))); return; }
    body = await response.json();
  } catch { say("The server did not answer; reload the page to go on."); return; }
  if (body.done) { finish(); return; }
  await show(body);
}

function finish() {
  state.trial = null;
  $("#trial").hidden = true;
  $("#done").hidden = false;
}

async function show(trial) {
  state.trial = trial;
  const counted = trial.position - trial.practice_total;
  $("#progress-text").textContent = trial.practice ? "Practice " + trial.position + " of " + trial.practice_total
    : "Pair " + counted + " of " + (trial.total - trial.practice_total);
  $("#progress").max = trial.total;
  $("#progress").value = trial.position - 1;
  $("#question").textContent = trial.question;
  $(".pair").classList.remove("hidden");
  const images = [];
  for (const button of choices()) {
    button.disabled = true;
    button.classList.remove("picked");
    const img = button.querySelector("img");
    img.src = trial.images[Number(button.dataset.choice)];
    images.push(img);
  }
  $("#trial").hidden = false;
  try { await Promise.all(images.map((img) => img.decode())); } catch { say("A photo could not be loaded; reload the page."); return; }
  if (state.trial !== trial) return;
  for (const button of choices()) button.disabled = false;
  if (trial.show_ms > 0) state.timer = setTimeout(() => $(".pair").classList.add("hidden"), trial.show_ms);
}

async function answer(choice) {
  const trial = state.trial;
  if (state.busy || !trial || [...choices()].some((button) => button.disabled)) return;
  state.busy = true;
  clearTimeout(state.timer);
  for (const button of choices()) button.disabled = true;
  choices()[choice].classList.add("picked");
  try {
    const response = await fetch(API + "/answer", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ participant: state.saved.participant, trial: trial.trial, choice }),
    });
    if (response.status === 409) { await next(); return; }  // answered meanwhile (another tab): go on
    if (!response.ok) { say("Not saved: " + (await errorOf(response)) + ". Try again."); enable(); return; }
    const body = await response.json();
    if (trial.practice && body.real !== undefined) { feedback(body); return; }
    await next();
  } catch {
    say("Not saved: the server did not answer. Try again.");
    enable();
  } finally {
    state.busy = false;
  }
}

function enable() {
  for (const button of choices()) { button.disabled = false; button.classList.remove("picked"); }
}

function feedback(body) {
  $(".pair").classList.remove("hidden");  // see the pair again, with the answer
  const text = "The real photo was the " + SIDES[body.real] + " one.";
  $("#feedback").textContent = (body.correct ? "Right! " : "Wrong. ") + text;
  $("#feedback").classList.add(body.correct ? "right" : "wrong");
  $("#next").hidden = false;
  $("#next").focus();
}

function setUp() {
  state.saved = remembered();
  $("#start").addEventListener("click", start);
  $("#next").addEventListener("click", next);
  for (const button of choices()) button.addEventListener("click", () => answer(Number(button.dataset.choice)));
  document.addEventListener("keydown", (event) => {
    if (event.repeat) return;  // a held key answers one pair, never the ones after it unseen
    if (event.key === "ArrowLeft") answer(0);
    if (event.key === "ArrowRight") answer(1);
  });
  fetch(API).then(async (response) => {
    if (!response.ok) { say("This study cannot be loaded: " + (await errorOf(response))); return; }
    const about = await response.json();
    document.title = "chromalab: study " + about.name;
    if (state.saved.started) { next(); } else { remember(); showInstructions(about); }
  }).catch(() => say("The server did not answer; reload the page."));
}

setUp();
