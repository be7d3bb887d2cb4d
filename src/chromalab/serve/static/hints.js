// chromalab web app, colour hints: click a photo to say what colour a place is, pick from the network's
// likeliest colours there (or any colour), drag a dot to move it, remove it. Each change is sent to the server
// (PUT /api/uploads/ID/hints), which runs the network's decoder again; then the card's preview is reloaded.
"use strict";

// attachHints(card, rerender): card = { node, id, width, height, hints: [...], version }; rerender(card) reloads
// the preview (its URL carries card.version, so a changed colorization is never taken from the cache).
function attachHints(card, rerender) {
  const node = card.node;
  const compare = node.querySelector(".compare");
  const editor = node.querySelector(".hint-editor");
  const toggle = node.querySelector(".hints-toggle");
  let selected = null;
  let dragging = null;

  toggle.addEventListener("click", () => {
    const on = !compare.classList.contains("hinting");
    compare.classList.toggle("hinting", on);
    toggle.setAttribute("aria-pressed", String(on));
    editor.hidden = !on;
    if (on) compare.tabIndex = 0;  // the keyboard can reach the photo to put a hint on it
    else compare.removeAttribute("tabindex");
    if (!on) select(null);
    else if (card.id) send(); // the server prepares the photo's spreading while the user chooses where to click
  });

  compare.addEventListener("click", (event) => {
    if (!compare.classList.contains("hinting") || event.target.classList.contains("hint") || !card.id) return;
    add(...photoPoint(event));
  });
  compare.addEventListener("keydown", (event) => {
    if (event.target !== compare || event.key !== "Enter" || !compare.classList.contains("hinting")) return;
    event.preventDefault();
    if (card.id) add(Math.floor(card.width / 2), Math.floor(card.height / 2)).marker.focus();  // arrows move it
  });

  // A new hint at photo pixel (x, y), in the network's likeliest colour there (sent once that is known).
  function add(x, y) {
    const hint = { x, y, color: "#808080", marker: null };
    card.hints.push(hint);
    place(hint);
    select(hint);
    palette(hint).then((colours) => {
      if (colours.length) hint.color = colours[0].color;
      showSwatches(colours);
      paint(hint);
      send();
    });
    return hint;
  }

  node.querySelector(".hint-colour").addEventListener("change", (event) => {
    if (!selected) return;
    selected.color = event.target.value;
    paint(selected);
    send();
  });
  node.querySelector(".hint-remove").addEventListener("click", () => { if (selected) remove(selected); });

  function photoPoint(event) {
    const box = compare.getBoundingClientRect();
    const x = Math.floor(((event.clientX - box.left) / box.width) * card.width);
    const y = Math.floor(((event.clientY - box.top) / box.height) * card.height);
    return [Math.min(Math.max(x, 0), card.width - 1), Math.min(Math.max(y, 0), card.height - 1)];
  }

  function place(hint) {
    if (!hint.marker) {
      hint.marker = document.createElement("button");
      hint.marker.type = "button";
      hint.marker.className = "hint";
      hint.marker.addEventListener("pointerdown", (event) => startDrag(event, hint));
      hint.marker.addEventListener("keydown", (event) => moveByKey(event, hint));
      hint.marker.addEventListener("focus", () => select(hint));
      compare.append(hint.marker);
    }
    hint.marker.style.left = (100 * (hint.x + 0.5)) / card.width + "%";
    hint.marker.style.top = (100 * (hint.y + 0.5)) / card.height + "%";
    paint(hint);
  }

  function paint(hint) {
    hint.marker.style.background = hint.color;
    hint.marker.setAttribute("aria-label", "hint at " + hint.x + ", " + hint.y + ": " + hint.color);
    if (hint === selected) node.querySelector(".hint-colour").value = hint.color;
  }

  // Delete or Backspace removes the hint; the arrow keys move it by 1 % of the photo (Shift: 10 %).
  const STEPS = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
  let moveTimer = null;
  function moveByKey(event, hint) {
    if (event.key === "Delete" || event.key === "Backspace") { event.preventDefault(); remove(hint); return; }
    const step = STEPS[event.key];
    if (!step) return;
    event.preventDefault();
    const share = event.shiftKey ? 0.1 : 0.01;
    hint.x = Math.min(Math.max(hint.x + Math.round(step[0] * share * card.width), 0), card.width - 1);
    hint.y = Math.min(Math.max(hint.y + Math.round(step[1] * share * card.height), 0), card.height - 1);
    place(hint);
    clearTimeout(moveTimer);  // a run of key presses is sent once it pauses
    moveTimer = setTimeout(async () => { send(); showSwatches(await palette(hint)); }, 250);
  }

  function select(hint) {
    if (selected && selected.marker) selected.marker.classList.remove("selected");
    selected = hint;
    if (hint) { hint.marker.classList.add("selected"); node.querySelector(".hint-colour").value = hint.color; }
    node.querySelector(".hint-controls").hidden = !hint;  // they act on the selected hint: none, nothing to show
  }

  function startDrag(event, hint) {
    event.preventDefault();
    select(hint);
    dragging = { hint, moved: false };
    hint.marker.setPointerCapture(event.pointerId);
    hint.marker.onpointermove = (move) => {
      [hint.x, hint.y] = photoPoint(move);
      dragging.moved = true;
      place(hint);
    };
    hint.marker.onpointerup = async () => {
      hint.marker.onpointermove = hint.marker.onpointerup = null;
      const moved = dragging.moved;
      dragging = null;
      if (moved) send();
      showSwatches(await palette(hint));
    };
  }

  function remove(hint) {
    card.hints = card.hints.filter((other) => other !== hint);
    hint.marker.remove();
    if (selected === hint) select(null);
    showSwatches([]);
    send();
  }

  async function palette(hint) {
    const response = await fetch("/api/uploads/" + card.id + "/palette?x=" + hint.x + "&y=" + hint.y);
    return response.ok ? (await response.json()).colors : [];
  }

  function showSwatches(colours) {
    const box = node.querySelector(".swatches");
    box.replaceChildren();
    for (const colour of colours) {
      const swatch = document.createElement("button");
      swatch.type = "button";
      swatch.className = "swatch";
      swatch.style.background = colour.color;
      swatch.title = colour.color + " (" + Math.round(100 * colour.p) + "%)";
      swatch.setAttribute("aria-label", "use " + colour.color);
      swatch.addEventListener("click", () => {
        if (!selected) return;
        selected.color = colour.color;
        paint(selected);
        send();
      });
      box.append(swatch);
    }
  }

  // One request in flight; changes made meanwhile are sent once it returns (the latest hints win).
  let inFlight = false;
  let again = false;
  async function send() {
    if (inFlight) { again = true; return; }
    inFlight = true;
    const body = { hints: card.hints.map(({ x, y, color }) => ({ x, y, color })) };
    const response = await fetch("/api/uploads/" + card.id + "/hints", {
      method: "PUT", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
    inFlight = false;
    if (again) { again = false; send(); return; }
    const shown = node.querySelector(".hint-state");
    if (!response.ok) { shown.textContent = "Hints not taken: " + (await errorOf(response)); return; }
    shown.textContent = "";
    card.version += 1;
    rerender(card);
  }

  // A new upload of the photo (another model) starts without hints: no dot, nothing selected.
  card.clearHints = () => {
    for (const hint of card.hints) hint.marker.remove();
    card.hints = [];
    select(null);
    showSwatches([]);
    node.querySelector(".hint-state").textContent = "";
  };
}
