// chromalab web app, colour from a reference photo: a card's file input sends a colour photo to the server
// (PUT /api/uploads/ID/reference), which carries its colours to where it matches the photo; the card says how
// much of the photo matched, and its button takes the reference away (DELETE). Then the preview is reloaded.
"use strict";

// attachReference(card, rerender): card = { node, id, version, reference }; card.reference is the colour photo
// taken last (card.setReference(file, { anew: true }) sends it again when the photo is uploaded anew, e.g. for
// another model: if the new upload does not take it, the card has no reference any more).
function attachReference(card, rerender) {
  const node = card.node;
  const input = node.querySelector(".reference-file");
  const shown = node.querySelector(".reference-state");
  const removal = node.querySelector(".reference-remove");

  input.addEventListener("change", () => {
    const file = input.files[0];
    input.value = "";  // the same file chosen again is a change too
    if (file) send(file);
  });
  removal.addEventListener("click", async () => {
    let problem = null;
    try {
      const response = await fetch("/api/uploads/" + card.id + "/reference", { method: "DELETE" });
      if (!response.ok) problem = await errorOf(response);
    } catch (error) {
      problem = "the server did not answer (" + error.message + ")";
    }
    if (problem !== null) { show("Reference not removed: " + problem, true); return; }
    card.reference = null;
    removal.hidden = true;
    input.focus();  // the button is gone: the keyboard stays on the card
    show("", false);
    changed();
  });

  // One request in flight; a photo chosen meanwhile is sent once it returns (the latest wins).
  let inFlight = false;
  let next = null;
  async function send(file, { anew = false } = {}) {
    if (inFlight) { next = file; return; }
    inFlight = true;
    show("matching " + file.name, false);
    const form = new FormData();
    form.append("file", file);
    let response = null;
    let body;
    try {
      response = await fetch("/api/uploads/" + card.id + "/reference", { method: "PUT", body: form });
      body = response.ok ? await response.json() : { error: await errorOf(response) };
    } catch (error) {  // the server is gone or the connection dropped: the card says so, the next try can go
      body = { error: "the server did not answer (" + error.message + ")" };
    }
    inFlight = false;
    const taken = response !== null && response.ok;
    if (taken) card.reference = file;
    if (next) { const waiting = next; next = null; send(waiting); return; }
    if (!taken && anew) {  // the new upload has no reference: nothing is kept to remove
      card.reference = null;
      removal.hidden = true;
      show("Reference not taken: " + body.error, true);
      return;
    }
    if (!taken) {  // the server kept what it had: the card says so
      show("Reference not taken: " + body.error + (card.reference ? " (still " + card.reference.name + ")" : ""), true);
      return;
    }
    show(file.name + ": " + Math.round(100 * body.matched_share) + "% of the photo matched", false);
    removal.hidden = false;
    changed();
  }
  card.setReference = send;

  function show(text, error) {
    shown.textContent = text;
    shown.classList.toggle("error", error);
  }

  function changed() {
    card.version += 1;
    rerender(card);
  }
}
