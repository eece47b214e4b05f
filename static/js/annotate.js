// The annotation workspace: keyboard shortcuts, autosave, the tool form kept in sync with
// its raw JSON, live diffs and candidate marks. No framework; htmx swaps the fragments and
// init() wires whatever workspace is on the page after each swap.
(() => {
  "use strict";
  const $ = (sel, root = document) => root.querySelector(sel);
  const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));
  const TEXT_TYPES = new Set(["text", "search", "number", "email", "url", "password", ""]);
  const isTyping = (el) =>
    !!el &&
    (el.isContentEditable ||
      el.tagName === "TEXTAREA" ||
      el.tagName === "SELECT" ||
      (el.tagName === "INPUT" && TEXT_TYPES.has(el.type)));
  const page = () => $("[data-page]")?.dataset.page || "";
  const editor = () => $('#workspace[data-page="editor"]');
  const form = () => $("#editor");
  const click = (sel) => {
    const el = $(sel);
    if (el && !el.disabled) el.click();
    return !!el;
  };

  // --- autosave ---------------------------------------------------------------------------
  let timer = null;
  let dirty = false;
  let checkTimer = null;

  function status(text, bad) {
    const el = $("#autosave-status");
    if (!el) return;
    el.textContent = text;
    el.classList.toggle("bad", !!bad);
  }
  function say(key) {
    return $("#autosave-status")?.dataset[key] || key;
  }
  function autosave(beacon) {
    const w = editor();
    const f = form();
    if (!w || !f || !dirty || w.dataset.mode === "read_only") return;
    dirty = false;
    clearTimeout(timer);
    const data = new FormData(f);
    if (beacon) {
      navigator.sendBeacon(w.dataset.autosave, data);
      return;
    }
    fetch(w.dataset.autosave, { method: "POST", body: data, credentials: "same-origin" })
      .then((r) => r.json().then((body) => ({ ok: r.ok, body })))
      .then(({ ok, body }) => status(ok ? `${say("saved")} ${body.saved_at}` : body.message, !ok))
      .catch(() => {
        dirty = true;
        status(say("offline"), true);
      });
  }
  function changed() {
    dirty = true;
    status(say("unsaved"));
    clearTimeout(timer);
    timer = setTimeout(() => autosave(false), 700);
  }
  window.addEventListener("pagehide", () => autosave(true));
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "hidden") autosave(true);
  });

  // --- live schema check -----------------------------------------------------------------
  // Only the answer to the newest request is shown: an older check that answers late (a slow
  // request, a paste followed by typing) must not put back a problem that is already fixed.
  let checkSeq = 0;
  function check(w) {
    const f = form();
    if (!f || !w.isConnected) return;
    const seq = ++checkSeq;
    fetch(w.dataset.check, { method: "POST", body: new FormData(f), credentials: "same-origin" })
      .then((r) => r.text())
      .then((html) => {
        const target = $("#problems");
        if (seq !== checkSeq || !target || !w.isConnected) return;
        const doc = new DOMParser().parseFromString(`<div>${html}</div>`, "text/html");
        target.replaceChildren(...doc.body.firstChild.childNodes);
      })
      .catch(() => {});
  }

  // --- text diff (Chinese by character, other scripts by word) ----------------------------
  const TOKEN = /[\u3000-\u9fff\uff00-\uffef]|[\p{L}\p{N}_]+|\s+|[^\p{L}\p{N}_\s]/gu;
  function diff(a, b) {
    const x = a.match(TOKEN) || [];
    const y = b.match(TOKEN) || [];
    let start = 0;
    while (start < x.length && start < y.length && x[start] === y[start]) start++;
    let ex = x.length;
    let ey = y.length;
    while (ex > start && ey > start && x[ex - 1] === y[ey - 1]) {
      ex--;
      ey--;
    }
    const mx = x.slice(start, ex);
    const my = y.slice(start, ey);
    const out = [["equal", x.slice(0, start).join("")]];
    if (mx.length * my.length > 4e6) {
      out.push(["delete", mx.join("")], ["insert", my.join("")]);
    } else {
      // Longest common subsequence over the differing middle.
      const n = mx.length;
      const m = my.length;
      const dp = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
      for (let i = n - 1; i >= 0; i--)
        for (let j = m - 1; j >= 0; j--)
          dp[i][j] = mx[i] === my[j] ? dp[i + 1][j + 1] + 1 : Math.max(dp[i + 1][j], dp[i][j + 1]);
      let i = 0;
      let j = 0;
      while (i < n || j < m) {
        if (i < n && j < m && mx[i] === my[j]) {
          out.push(["equal", mx[i++]]);
          j++;
        } else if (i < n && (j === m || dp[i + 1][j] >= dp[i][j + 1])) out.push(["delete", mx[i++]]);
        else out.push(["insert", my[j++]]);
      }
    }
    out.push(["equal", x.slice(ex).join("")]);
    const merged = [];
    for (const [op, text] of out) {
      if (!text) continue;
      const last = merged[merged.length - 1];
      if (last && last[0] === op) last[1] += text;
      else merged.push([op, text]);
    }
    return merged;
  }
  function renderDiff(target, a, b) {
    if (!target) return;
    target.replaceChildren();
    const parts = diff(a, b);
    if (!parts.some(([op]) => op !== "equal")) {
      target.textContent = target.dataset.empty || "";
      target.classList.add("unchanged");
      return;
    }
    target.classList.remove("unchanged");
    for (const [op, text] of parts) {
      const el = document.createElement(op === "insert" ? "ins" : op === "delete" ? "del" : "span");
      el.textContent = text;
      target.append(el);
    }
  }

  // --- the three editors ------------------------------------------------------------------
  const editors = {};

  editors.instruction = (w) => {
    const answer = $("#answer", w);
    const draft = $("#draft-text", w)?.textContent ?? "";
    const update = () => renderDiff($("#live-diff", w), draft, answer.value);
    answer.addEventListener("input", () => {
      update();
      changed();
    });
    update();
    return {
      focus() {
        answer.focus();
        answer.setSelectionRange(answer.value.length, answer.value.length);
      },
      acceptDraft() {
        if (!$("#draft-text:not([hidden])", w)) return;
        answer.value = draft;
        grow(answer);
        update();
        changed();
        this.focus();
      },
    };
  };

  editors.tool_call = (w) => {
    const json = $("#arguments-json", w);
    const content = $("#content", w);
    const radios = $$('input[name="choice"]', w);
    const draftEl = $("#draft-state");
    const draft = draftEl ? JSON.parse(draftEl.textContent) : null;
    const choice = () => radios.find((r) => r.checked)?.value || "";
    const activeSet = () => {
      const c = choice();
      return c.startsWith("tool:") ? $(`fieldset.args[data-tool="${CSS.escape(c.slice(5))}"]`, w) : null;
    };
    const parse = () => {
      try {
        const v = JSON.parse(json.value.trim() || "{}");
        return v && typeof v === "object" && !Array.isArray(v) ? v : null;
      } catch {
        return null;
      }
    };
    const read = (el) => {
      const raw = el.value;
      if (raw === "") return undefined;
      const type = el.dataset.type;
      if (type === "integer" || type === "number") {
        const n = Number(raw);
        return raw.trim() !== "" && Number.isFinite(n) ? n : raw;
      }
      if (type === "boolean") return raw === "true";
      if (type === "object" || type === "array") {
        try {
          return JSON.parse(raw);
        } catch {
          return raw;
        }
      }
      return raw;
    };
    const write = (el, v) => {
      if (v === undefined || v === null) el.value = "";
      else if (typeof v === "object") el.value = JSON.stringify(v, null, 2);
      else el.value = String(v);
      el.classList.toggle("filled", el.value !== "");
    };
    function formToJson() {
      const fs = activeSet();
      if (!fs) return;
      const obj = parse() || {};
      for (const el of $$("[data-arg]", fs)) {
        const v = read(el);
        if (v === undefined) delete obj[el.dataset.arg];
        else obj[el.dataset.arg] = v;
      }
      json.value = JSON.stringify(obj, null, 2);
      json.classList.remove("invalid");
    }
    function jsonToForm() {
      const obj = parse();
      json.classList.toggle("invalid", obj === null);
      const fs = activeSet();
      if (!fs || obj === null) return;
      for (const el of $$("[data-arg]", fs)) {
        if (el !== document.activeElement) write(el, obj[el.dataset.arg]);
      }
    }
    function markDraft() {
      const fs = activeSet();
      const dargs = (() => {
        try {
          return JSON.parse(draft?.arguments_json || "{}");
        } catch {
          return {};
        }
      })();
      const sameTool = draft && draft.mode === "tool" && choice() === `tool:${draft.tool}`;
      const obj = parse() || {};
      for (const field of $$(".field", w)) {
        const p = $(".draft-was", field);
        const k = field.dataset.field;
        const differs =
          sameTool && fs && fs.contains(field) && JSON.stringify(obj[k]) !== JSON.stringify(dargs[k]);
        field.classList.toggle("changed", !!differs);
        p.hidden = !differs;
        if (differs) p.textContent = `${w.dataset.draftWas || "draft:"} ${dargs[k] === undefined ? "—" : JSON.stringify(dargs[k])}`;
      }
      for (const field of $$(".field[data-required]", w)) field.classList.remove("missing");
    }
    function validate() {
      clearTimeout(checkTimer);
      checkTimer = setTimeout(() => check(w), 250);
    }
    function show() {
      const c = choice();
      const tool = c.startsWith("tool:");
      for (const fs of $$("fieldset.args", w)) fs.hidden = c !== `tool:${fs.dataset.tool}`;
      // A call may carry text too (imported rows do): then both are shown, both editable.
      const textBox = $(".text-answer", w);
      textBox.hidden = !(c === "text" || c === "clarify" || (tool && content.value !== ""));
      const label = $("label", textBox);
      label.textContent = tool ? label.dataset.withCall : label.dataset.alone;
      $("details.raw", w).hidden = !tool;
      for (const r of radios) r.closest("label").classList.toggle("picked", r.checked);
    }
    // Switching what the assistant does discards what the other choice had, visibly, and
    // can be undone until the record is saved: what is sent is exactly what is shown.
    const note = $("#mode-note", w);
    let undo = null;
    function discarded(kind, extra = "") {
      $(".what", note).textContent = `${note.dataset[kind]}${extra ? ` ${extra}` : ""}`;
      note.hidden = false;
    }
    function undoSwitch() {
      if (!undo) return;
      const { before, args, text } = undo;
      undo = null;
      note.hidden = true;
      json.value = args;
      content.value = text;
      const radio = radios.find((r) => r.value === before);
      for (const r of radios) r.checked = r === radio;
      show();
      jsonToForm();
      markDraft();
      changed();
      validate();
      grow(content);
      focusFirst();
    }
    function focusFirst() {
      const c = choice();
      if (c === "text" || c === "clarify") {
        content.focus();
        content.setSelectionRange(content.value.length, content.value.length);
        return;
      }
      const fs = activeSet();
      if (fs) {
        const fields = $$("[data-arg]", fs);
        const target = fields.find((el) => el.getAttribute("aria-required") && el.value === "") || fields[0];
        if (target) return target.focus();
      }
      (radios.find((r) => r.checked) || radios[0])?.focus();
    }
    function pick(value, { keepArgs = false } = {}) {
      const radio = radios.find((r) => r.value === value);
      if (!radio) return;
      const before = choice();
      if (before !== value && !keepArgs) {
        const saved = { before, args: json.value, text: content.value };
        const wasTool = before.startsWith("tool:");
        const nowTool = value.startsWith("tool:");
        const obj = parse() || {};
        let lost = "";
        if (nowTool && !wasTool && content.value.trim()) {
          content.value = "";
          lost = "textDropped";
        } else if (wasTool && !nowTool) {
          if (Object.keys(obj).length || json.value.trim() !== "{}") lost = "callDropped";
          json.value = "{}"; // text it carried stays: it is the text answer now
        }
        if (nowTool) {
          // Keep only the arguments the newly picked tool knows.
          const known = new Set(
            $$(`fieldset.args[data-tool="${CSS.escape(value.slice(5))}"] [data-arg]`, w).map((el) => el.dataset.arg),
          );
          const dropped = Object.keys(obj).filter((k) => !known.has(k));
          if (wasTool && dropped.length) lost = "argsDropped";
          if (wasTool) json.value = JSON.stringify(Object.fromEntries(Object.entries(obj).filter(([k]) => known.has(k))), null, 2);
          if (lost === "argsDropped") discarded(lost, dropped.join(", "));
        }
        if (lost && lost !== "argsDropped") discarded(lost);
        if (lost) undo = saved;
        else {
          undo = null;
          note.hidden = true;
        }
      }
      radio.checked = true;
      show();
      jsonToForm();
      markDraft();
      changed();
      validate();
      focusFirst();
    }
    radios.forEach((r) => r.addEventListener("change", () => pick(r.value)));
    for (const el of $$("[data-arg]", w)) {
      el.addEventListener("input", () => {
        formToJson();
        markDraft();
        changed();
        validate();
      });
    }
    json.addEventListener("input", () => {
      jsonToForm();
      markDraft();
      changed();
      validate();
    });
    content.addEventListener("input", () => {
      changed();
      validate();
    });
    show();
    jsonToForm();
    markDraft();
    return {
      focus: focusFirst,
      pick,
      pickKey(key) {
        const radio = radios.find((r) => r.dataset.key === key);
        if (radio) pick(radio.value);
      },
      acceptDraft() {
        if (!draft || !draft.mode) return;
        const value = draft.mode === "tool" ? `tool:${draft.tool}` : draft.mode;
        json.value = draft.mode === "tool" ? draft.arguments_json || "{}" : "{}";
        content.value = draft.content || "";
        undo = null;
        note.hidden = true;
        pick(value, { keepArgs: true });
      },
      undo: undoSwitch,
      saved() {
        undo = null;
        note.hidden = true;
      },
      rawJson() {
        $("details.raw", w).open = true;
        json.focus();
      },
    };
  };

  editors.conversation = (w) => {
    const cards = $$(".candidate", w);
    let current = null;
    const written = $("#new-answer", w);
    const refresh = () => {
      // A written answer replaces the chosen one on save: say so, and show which one drops.
      const replacing = !!written?.value.trim();
      let dropped = false;
      for (const card of cards) {
        const mark = $("input[type=radio]:checked", card)?.value || "";
        card.className = card.className.replace(/\bmark-\S+/, "") + ` mark-${mark || "none"}`;
        card.classList.toggle("dropping", replacing && mark === "chosen");
        dropped ||= replacing && mark === "chosen";
      }
      const note = $("#chosen-dropped", w);
      if (note) note.hidden = !dropped;
    };
    written?.addEventListener("input", refresh);
    function mark(card, value) {
      if (!card) return;
      for (const other of cards) {
        if (other !== card && value && $("input[type=radio]:checked", other)?.value === value)
          $('input[type=radio][value=""]', other).checked = true;
      }
      const radio = $(`input[type=radio][value="${value}"]`, card);
      const already = radio.checked && value;
      (already ? $('input[type=radio][value=""]', card) : radio).checked = true;
      refresh();
      changed();
    }
    for (const card of cards) {
      card.addEventListener("focusin", () => (current = card));
      $$("input[type=radio]", card).forEach((r) => r.addEventListener("change", () => mark(card, r.value)));
    }
    w.addEventListener("input", (e) => {
      if (e.target.matches("textarea")) changed();
      if (e.target.matches("details.raw-calls textarea")) redrawCalls(e.target);
    });
    for (const details of $$("details.raw-calls", w)) {
      details.addEventListener("toggle", () => $$("textarea", details).forEach(grow));
    }
    refresh();
    return {
      focus() {
        (cards[0] || $("#new-answer", w))?.focus();
      },
      move(step) {
        const i = cards.indexOf(current);
        const next = cards[Math.max(0, Math.min(cards.length - 1, i + step))];
        next?.focus();
      },
      mark(value) {
        mark(current || cards[0], value);
      },
      write() {
        $("#new-answer", w).focus();
      },
      acceptDraft() {
        const draft = cards.find((c) => !["answer", "chosen", "rejected", "human"].includes($('input[name$="-source"]', c).value));
        if (draft) {
          current = draft;
          mark(draft, "chosen");
          draft.focus();
        }
      },
    };
  };

  // A conversation's tool calls read as calls; edited as JSON, the calls shown follow it.
  function redrawCalls(textarea) {
    const msg = textarea.closest(".msg");
    const shown = $$(".call", msg);
    let calls = null;
    try {
      calls = JSON.parse(textarea.value);
    } catch {
      calls = null;
    }
    textarea.classList.toggle("invalid", !Array.isArray(calls));
    if (!Array.isArray(calls)) return;
    const template = shown[0];
    if (!template) return;
    const parts = calls.map((call) => {
      const fn = (call && typeof call === "object" && (call.function || call)) || {};
      let args = fn.arguments ?? {};
      if (typeof args === "string") {
        try {
          args = JSON.parse(args);
        } catch {
          /* shown as written */
        }
      }
      const el = template.cloneNode(true);
      el.hidden = false;
      $("code", el).textContent = String(fn.name ?? "");
      $("pre", el).textContent = typeof args === "string" ? args : JSON.stringify(args, null, 2);
      return el;
    });
    shown.forEach((el, i) => i && el.remove());
    if (parts.length) template.replaceWith(...parts);
    else template.hidden = true; // kept to draw calls typed in later
  }

  function grow(el) {
    el.style.height = "auto";
    el.style.height = `${Math.min(el.scrollHeight + 2, window.innerHeight * 0.6)}px`;
  }

  let active = null;
  let reviewed = null;
  function init() {
    const w = editor();
    if (w && !w.dataset.ready) {
      w.dataset.ready = "1";
      dirty = false;
      const make = editors[w.dataset.kind];
      active = make ? make(w) : null;
      for (const ta of $$("textarea[data-grow]", w)) {
        grow(ta);
        ta.addEventListener("input", () => grow(ta));
      }
      if (w.dataset.mode !== "read_only") active?.focus();
    } else if (!w) {
      active = null;
    }
    const review = $('[data-page="review"]');
    if (review && !review.dataset.ready) {
      review.dataset.ready = "1";
      for (const ta of $$("textarea[data-grow]", review)) ta.addEventListener("input", () => grow(ta));
      // htmx puts the focus back into the element with the same id after a swap: after a
      // send-back the next record's comment box would hold it, and "a" would type, not accept.
      if (review.dataset.record !== reviewed && review.contains(document.activeElement)) {
        document.activeElement.blur();
      }
      reviewed = review.dataset.record;
    }
  }
  document.addEventListener("DOMContentLoaded", init);
  document.addEventListener("htmx:afterSettle", init);
  document.addEventListener("htmx:afterRequest", (e) => {
    if (e.detail.elt?.id === "btn-save" && e.detail.successful) {
      status("");
      active?.saved?.(); // a discarded answer can be brought back until it is saved
    }
  });
  document.addEventListener("htmx:beforeRequest", (e) => {
    const id = e.detail.elt?.id;
    if (id === "btn-submit" || id === "btn-skip" || id === "btn-save") {
      // The request carries the form as it is now; no autosave may follow it.
      clearTimeout(timer);
      dirty = false;
    }
  });

  // --- side panel, help, conflict ---------------------------------------------------------
  function toggleGuidelines() {
    const body = $(".ws-body");
    if (!body) return (location.href = $('a[href$="/guidelines/"]')?.href || location.href);
    const history = $("#side-history");
    if (history && !history.hidden) {
      history.hidden = true;
      $("#side-guidelines").hidden = false;
      body.classList.remove("no-side");
      return;
    }
    body.classList.toggle("no-side");
  }
  function showHistory() {
    const w = editor();
    const side = $("#side-history");
    if (!w || !side) return;
    if (!side.hidden) return toggleGuidelines();
    $(".ws-body").classList.remove("no-side");
    $("#side-guidelines").hidden = true;
    side.hidden = false;
    htmx.ajax("GET", w.dataset.history, { target: "#side-history", swap: "innerHTML" });
  }
  function toggleHelp() {
    const dialog = $("#help");
    if (!dialog) return;
    if (dialog.open) dialog.close();
    else dialog.showModal();
  }
  // The editor form is never submitted natively (Enter in a field must not post it): its
  // buttons send it through htmx.
  document.addEventListener("submit", (e) => {
    if (e.target.matches("form[data-no-submit]")) e.preventDefault();
  });
  document.addEventListener("click", (e) => {
    const target = e.target.closest("[data-action]");
    if (!target) return;
    const action = target.dataset.action;
    if (action === "help") toggleHelp();
    else if (action === "guidelines") toggleGuidelines();
    else if (action === "history") showHistory();
    else if (action === "close-history") toggleGuidelines();
    else if (action === "accept-draft") active?.acceptDraft();
    else if (action === "undo-mode") active?.undo?.();
    else if (action === "keep-mine") {
      $("#version").value = target.dataset.version;
      click("#btn-save");
    } else if (action === "tick-all") {
      for (const box of $$('input[name="ids"]')) box.checked = target.checked;
    }
  });

  // --- keyboard ---------------------------------------------------------------------------
  // A shortcut that moves the focus into a text field waits for its key to come up: moved on
  // keydown, the same key press (or an input method composing it) types its letter into the
  // field just focused ("e" then 柳州螺蛳粉 was saved as "e柳州螺蛳粉").
  let pendingFocus = null;
  function focusOnKeyUp(e, fn) {
    e.preventDefault();
    const code = e.code;
    const run = () => {
      if (pendingFocus !== run) return;
      pendingFocus = null;
      document.removeEventListener("keyup", onUp, true);
      fn();
    };
    const onUp = (up) => {
      if (up.code === code) run();
    };
    pendingFocus = run;
    document.addEventListener("keyup", onUp, true);
    setTimeout(run, 600); // a key held down, or its keyup lost to another window
  }
  // While a focus move waits for its keyup, the key repeating (held down) types nothing.
  document.addEventListener(
    "keypress",
    (e) => {
      if (pendingFocus) e.preventDefault();
    },
    true,
  );

  document.addEventListener("keydown", (e) => {
    const p = page();
    const typing = isTyping(document.activeElement);
    const mod = e.ctrlKey || e.metaKey;
    if (e.key === "Escape") {
      if ($("#help")?.open) return;
      if (typing) document.activeElement.blur();
      return;
    }
    if (mod && e.key === "Enter") {
      e.preventDefault();
      if (p === "editor") click("#btn-submit");
      else if (p === "review") click(document.activeElement?.id === "comment" ? "#btn-send-back" : "#btn-accept");
      return;
    }
    if (mod && !e.altKey && e.key.toLowerCase() === "s" && p === "editor") {
      e.preventDefault();
      click("#btn-save");
      return;
    }
    if (e.altKey && !mod && p === "editor" && active) {
      const code = e.code;
      let handled = true;
      if (code === "KeyA") active.acceptDraft();
      else if (code === "KeyQ") active.pickKey?.("q");
      else if (code === "KeyJ") active.rawJson?.();
      else if (code === "KeyZ") active.undo?.();
      else if (code === "KeyS") click("#btn-skip");
      else if (/^Digit\d$/.test(code)) active.pickKey?.(code.slice(5));
      else handled = false;
      if (handled) e.preventDefault();
      return;
    }
    if (typing || mod || e.altKey) return;
    const key = e.key;
    if (key === "?") {
      e.preventDefault();
      return toggleHelp();
    }
    if (key === "g") return toggleGuidelines();
    if ((p === "queue" || p === "review-queue" || p === "queue-empty") && key === "n") {
      e.preventDefault();
      return click("#take-next") || (location.href = $('a[href$="/queue/"]')?.href);
    }
    if (p === "records" && key === "/") {
      e.preventDefault();
      return $("#q")?.focus();
    }
    if (p === "review") {
      if (key === "a") click("#btn-accept");
      else if (key === "b") focusOnKeyUp(e, () => $("#comment")?.focus());
      else if (key === "e") {
        e.preventDefault();
        click("#edit-link");
      }
      return;
    }
    if (p !== "editor" || !active) return;
    const actions = {
      a: () => active.acceptDraft(),
      h: showHistory,
      s: () => click("#btn-skip"),
      e: () => active.focus(),
      j: () => active.move?.(1),
      k: () => active.move?.(-1),
      c: () => active.mark?.("chosen"),
      x: () => active.mark?.("rejected"),
      w: () => active.write?.(),
      q: () => active.pickKey?.("q"),
    };
    // Picking a tool or a text answer focuses its first field: after the key comes up.
    if (/^[0-9]$/.test(key) && active.pickKey) return focusOnKeyUp(e, () => active.pickKey(key));
    if (key === "e" || key === "w" || key === "q") return focusOnKeyUp(e, actions[key]);
    if (actions[key]) {
      e.preventDefault();
      actions[key]();
    }
  });
})();
