// langrl annotate: keyboard-first pages for the five feedback kinds. Plain JS, no dependencies.
// All text is inserted with textContent (never innerHTML), so stored text cannot become markup.
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("page-data").textContent);
  const status = document.getElementById("status");
  const started = performance.now();
  const clientId = Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
  let busy = false;

  function say(text, isError) {
    status.textContent = text;
    status.className = isError ? "error" : "";
  }
  function typing(e) {
    const t = e.target;
    return t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.isContentEditable);
  }
  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // POST one judgement; on success remember a short note for the next page and load it.
  async function submit(fields, note) {
    if (busy) return;
    busy = true;
    document.querySelectorAll("button").forEach((b) => (b.disabled = true));
    say("Saving…");
    const body = Object.assign({ item_id: data.item_id, kind: data.kind, client_id: clientId, indices: data.indices,
      time_spent_s: Math.round((performance.now() - started) / 10) / 100 }, fields);
    try {
      const r = await fetch("/api/feedback", { method: "POST", body: JSON.stringify(body),
        headers: { "Content-Type": "application/json" } });  // the HttpOnly session cookie authenticates it
      const out = await r.json().catch(() => ({}));
      if (r.status === 200 || r.status === 201) {
        sessionStorage.setItem("langrl-flash", "Saved" + (note ? ": " + note : "") + " (#" + out.id + ")");
        location.reload();
        return;
      }
      say((out.error || "The server refused it") + " [" + r.status + "]", true);
    } catch (err) {
      say("Could not reach the server; press submit again (it is safe to retry).", true);
    }
    busy = false;
    document.querySelectorAll("button").forEach((b) => (b.disabled = false));
  }

  const flash = sessionStorage.getItem("langrl-flash");
  if (flash) {
    sessionStorage.removeItem("langrl-flash");
    say(flash);
    setTimeout(() => { if (status.textContent === flash) say(""); }, 2500);
  }

  // ---------------------------------------------------------------- pairwise
  function comparison() {
    const names = { 0: "A is better", 1: "B is better", tie: "tie" };
    const choose = (p) => submit({ preferred: p }, names[p]);
    document.querySelectorAll("[data-preferred]").forEach((b) => b.addEventListener("click", () => {
      const v = b.dataset.preferred;
      choose(v === "tie" ? "tie" : Number(v));
    }));
    document.addEventListener("keydown", (e) => {
      if (typing(e) || e.ctrlKey || e.metaKey || e.altKey) return;
      const k = e.key.toLowerCase();
      if (k === "a" || k === "arrowleft" || k === "1") choose(0);
      else if (k === "b" || k === "arrowright" || k === "2") choose(1);
      else if (k === "t" || k === "=" || k === "0") choose("tie");
      else return;
      e.preventDefault();
    });
  }

  // ----------------------------------------------------------------- ranking
  function ranking() {
    const n = data.responses.length;
    const letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let tiers = [];        // positions in the shown order, best tier first
    let tieNext = false;   // "=" pressed: the next response joins the last tier
    const out = document.getElementById("ranking-text");
    const unplaced = document.getElementById("unplaced");
    const placedSet = () => new Set(tiers.flat());
    function text() {
      return tiers.map((t) => t.map((i) => letters[i]).join(" = ")).join(" > ") + (tieNext ? " = …" : "");
    }
    function render() {
      out.textContent = tiers.length ? text() : "—";
      const placed = placedSet();
      const rest = [...Array(n).keys()].filter((i) => !placed.has(i)).map((i) => letters[i]);
      unplaced.textContent = rest.length ? "(to place: " + rest.join(", ") + ")" : "(all placed; Enter submits)";
      document.querySelectorAll(".choosable").forEach((card) => {
        const i = Number(card.dataset.index);
        const tier = tiers.findIndex((t) => t.includes(i));
        card.classList.toggle("placed", tier >= 0);
        card.querySelector(".place").textContent = tier >= 0 ? "#" + (tier + 1) : "";
      });
    }
    function place(i) {
      if (i >= n || placedSet().has(i)) return;
      if (tieNext && tiers.length) tiers[tiers.length - 1].push(i);
      else tiers.push([i]);
      tieNext = false;
      if (status.className === "error") say("");
      render();
    }
    function tie() { if (tiers.length) { tieNext = true; render(); } }
    function undo() {
      if (tieNext) { tieNext = false; render(); return; }
      if (!tiers.length) return;
      tiers[tiers.length - 1].pop();
      if (!tiers[tiers.length - 1].length) tiers.pop();
      render();
    }
    function clear() { tiers = []; tieNext = false; render(); }
    function send() {
      if (placedSet().size !== n) { say("Place every response first (" + (n - placedSet().size) + " left).", true); return; }
      const t = text();
      submit({ ranking: tiers.map((x) => x.slice()) }, t);
    }
    document.querySelectorAll(".choosable").forEach((card) => card.addEventListener("click", () => place(Number(card.dataset.index))));
    document.getElementById("tie").addEventListener("click", tie);
    document.getElementById("undo").addEventListener("click", undo);
    document.getElementById("clear").addEventListener("click", clear);
    document.getElementById("submit").addEventListener("click", send);
    document.addEventListener("keydown", (e) => {
      if (typing(e) || e.ctrlKey || e.metaKey || e.altKey) return;
      const k = e.key;
      const i = letters.indexOf(k.toUpperCase());
      if (k.length === 1 && i >= 0 && i < n) place(i);
      else if (k === "=") tie();
      else if (k === "Backspace") undo();
      else if (k === "Escape") clear();
      else if (k === "Enter") send();
      else return;
      e.preventDefault();
    });
    render();
  }

  // ------------------------------------------------------------------ rating
  function rating() {
    const rate = (v) => submit({ rating: v }, v > 0 ? "+1" : "−1");
    document.querySelectorAll("[data-rating]").forEach((b) => b.addEventListener("click", () => rate(Number(b.dataset.rating))));
    document.addEventListener("keydown", (e) => {
      if (typing(e) || e.ctrlKey || e.metaKey || e.altKey) return;
      const k = e.key.toLowerCase();
      if (k === "g" || k === "+" || k === "arrowup") rate(1);
      else if (k === "b" || k === "-" || k === "arrowdown") rate(-1);
      else return;
      e.preventDefault();
    });
  }

  // ------------------------------------------------------------------- spans
  // Offsets are in Unicode code points (what the server and the JSONL format count), not UTF-16 units.
  function spans() {
    const text = data.responses[0];
    const cps = Array.from(text);
    const n = cps.length;
    const cats = data.categories.map((c) => c[0]);
    const catLabel = Object.fromEntries(data.categories);
    const box = document.getElementById("span-text");
    const list = document.getElementById("marks");
    const missingList = document.getElementById("missing");
    const missingInput = document.getElementById("missing-input");
    const corrected = document.getElementById("corrected");
    let marks = [];      // {start, end, category}, same-category marks never overlap
    let missing = [];
    const isSpace = (c) => /\s/.test(c);

    const segs = [];     // sentences (or lines), for keyboard marking
    for (let i = 0; i < n;) {
      while (i < n && isSpace(cps[i])) i++;
      if (i >= n) break;
      let j = i;
      while (j < n) {
        const c = cps[j];
        if (c === "\n") break;
        j++;
        if (".!?".includes(c) && (j >= n || isSpace(cps[j]))) break;
      }
      let e = j;
      while (e > i && isSpace(cps[e - 1])) e--;
      if (e > i) segs.push([i, e]);
      i = Math.max(j, i + 1);
    }
    let cursor = -1;

    function render() {
      const cuts = new Set([0, n]);
      marks.forEach((m) => { cuts.add(m.start); cuts.add(m.end); });
      if (cursor >= 0) { cuts.add(segs[cursor][0]); cuts.add(segs[cursor][1]); }
      const pts = [...cuts].sort((a, b) => a - b);
      box.replaceChildren();
      for (let k = 0; k + 1 < pts.length; k++) {
        const a = pts[k], b = pts[k + 1];
        const piece = el("span", "piece", cps.slice(a, b).join(""));
        const inCats = cats.filter((c) => marks.some((m) => m.category === c && m.start <= a && b <= m.end));
        inCats.forEach((c) => piece.classList.add("cat-" + cats.indexOf(c)));
        if (inCats.length > 1) piece.classList.add("multi");
        if (cursor >= 0 && segs[cursor][0] <= a && b <= segs[cursor][1]) piece.classList.add("cursor");
        box.appendChild(piece);
      }
      list.replaceChildren();
      marks.forEach((m, k) => {
        const li = el("li");
        li.appendChild(el("span", "tag cat-" + cats.indexOf(m.category), catLabel[m.category]));
        li.appendChild(el("span", "", "“" + cps.slice(m.start, m.end).join("") + "”"));
        const rm = el("button", "", "×");
        rm.type = "button";
        rm.title = "Remove";
        rm.addEventListener("click", () => { marks.splice(k, 1); render(); });
        li.appendChild(rm);
        list.appendChild(li);
      });
      missingList.replaceChildren();
      missing.forEach((note, k) => {
        const li = el("li");
        li.appendChild(el("span", "tag tag-missing", "missing"));
        li.appendChild(el("span", "", note));
        const rm = el("button", "", "×");
        rm.type = "button";
        rm.addEventListener("click", () => { missing.splice(k, 1); render(); });
        li.appendChild(rm);
        missingList.appendChild(li);
      });
    }

    function selection() {   // the selected part of the response, in code points, trimmed of spaces
      const sel = window.getSelection();
      if (!sel.rangeCount || sel.isCollapsed) return null;
      const r = sel.getRangeAt(0).cloneRange();
      const all = document.createRange();
      all.selectNodeContents(box);
      if (r.compareBoundaryPoints(Range.END_TO_START, all) >= 0 || r.compareBoundaryPoints(Range.START_TO_END, all) <= 0) return null;
      if (r.compareBoundaryPoints(Range.START_TO_START, all) < 0) r.setStart(all.startContainer, all.startOffset);
      if (r.compareBoundaryPoints(Range.END_TO_END, all) > 0) r.setEnd(all.endContainer, all.endOffset);
      const before = document.createRange();
      before.setStart(all.startContainer, all.startOffset);
      before.setEnd(r.startContainer, r.startOffset);
      const s16 = before.toString().length, e16 = s16 + r.toString().length;
      let s = Array.from(text.slice(0, s16)).length, e = Array.from(text.slice(0, e16)).length;
      while (s < e && isSpace(cps[s])) s++;
      while (e > s && isSpace(cps[e - 1])) e--;
      return e > s ? [s, e] : null;
    }
    function target() {
      const s = selection();
      if (s) return s;
      return cursor >= 0 ? segs[cursor] : null;
    }
    function mark(category) {
      const t = target();
      if (!t) { say("Select part of the response (or move to a sentence with J/K) first.", true); return; }
      let [s, e] = t;
      const keep = [];
      for (const m of marks) {     // merge with overlapping or touching marks of the same category
        if (m.category === category && m.start <= e && s <= m.end) { s = Math.min(s, m.start); e = Math.max(e, m.end); }
        else keep.push(m);
      }
      keep.push({ start: s, end: e, category: category });
      marks = keep.sort((a, b) => a.start - b.start || a.end - b.end);
      window.getSelection().removeAllRanges();
      say("");
      render();
    }
    function unmark() {
      const t = target();
      if (!t) return;
      marks = marks.filter((m) => !(m.start < t[1] && t[0] < m.end));
      window.getSelection().removeAllRanges();
      render();
    }
    function move(d) {
      if (!segs.length) return;
      cursor = cursor < 0 ? (d > 0 ? 0 : segs.length - 1) : Math.min(segs.length - 1, Math.max(0, cursor + d));
      render();
    }
    function addMissing() {
      const note = missingInput.value.trim();
      if (note) { missing.push(note); missingInput.value = ""; render(); }
    }
    function send() {
      const note = marks.length + " span" + (marks.length === 1 ? "" : "s") + ", " + missing.length + " missing";
      submit({ spans: marks, missing: missing, corrected: corrected.value.trim() ? corrected.value : null }, note);
    }
    document.querySelectorAll("[data-category]").forEach((b) => {
      b.addEventListener("mousedown", (e) => e.preventDefault());   // keep the text selection when clicking
      b.addEventListener("click", () => mark(b.dataset.category));
    });
    document.getElementById("unmark").addEventListener("mousedown", (e) => e.preventDefault());
    document.getElementById("unmark").addEventListener("click", unmark);
    document.getElementById("missing-add").addEventListener("click", addMissing);
    document.getElementById("corrected-fill").addEventListener("click", () => { corrected.value = text; corrected.focus(); });
    document.getElementById("submit").addEventListener("click", send);
    missingInput.addEventListener("keydown", (e) => { if (e.key === "Enter" && !e.ctrlKey) { e.preventDefault(); addMissing(); } });
    document.addEventListener("keydown", (e) => {
      if ((e.ctrlKey || e.metaKey) && e.key === "Enter") { e.preventDefault(); send(); return; }
      if (typing(e)) { if (e.key === "Escape") e.target.blur(); return; }
      if (e.ctrlKey || e.metaKey || e.altKey) return;
      const k = e.key.toLowerCase();
      const digit = Number(e.key);
      if (digit >= 1 && digit <= cats.length) mark(cats[digit - 1]);
      else if (k === "j" || k === "arrowdown") move(1);
      else if (k === "k" || k === "arrowup") move(-1);
      else if (k === "x" || k === "delete") unmark();
      else if (k === "m") missingInput.focus();
      else if (k === "c") { document.getElementById("corrected-box").open = true; corrected.focus(); }
      else return;
      e.preventDefault();
    });
    render();
  }

  // ---------------------------------------------------------------- critique
  function critique() {
    const crit = document.getElementById("critique");
    const refi = document.getElementById("refinement");
    function send() {
      if (!crit.value.trim()) { say("Write a critique first.", true); crit.focus(); return; }
      submit({ critique: crit.value, refinement: refi.value.trim() ? refi.value : null }, "critique");
    }
    document.getElementById("refinement-fill").addEventListener("click", () => { refi.value = data.responses[0]; refi.focus(); });
    document.getElementById("submit").addEventListener("click", send);
    document.addEventListener("keydown", (e) => {
      if ((e.ctrlKey || e.metaKey) && e.key === "Enter") { e.preventDefault(); send(); }
      else if (e.key === "Escape" && typing(e)) e.target.blur();
    });
    crit.focus();
  }

  ({ comparison, ranking, rating, spans, critique })[data.kind]();
})();
