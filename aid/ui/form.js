// The Back Cramp Aid questionnaire: one anywidget ES module, no bundler, no dependencies.
//
// It draws native, accessible HTML from the question table Python sends (`questions`, `steps`):
// a fieldset with a legend per question, native radio groups (one Tab stop, arrow keys move the
// choice), checkboxes, labelled number fields. It writes one `answers` dict back; Python runs
// the engine and sends the card (`card`, HTML from a Jinja template with autoescaping) and the
// sticky bar (`bar`). It touches no DOM outside its own element.

let counter = 0;

function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) {
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
  }
  return node;
}

// The element that scrolls the page (Voila's page, or a notebook's output area).
function scroller(node) {
  for (let p = node.parentElement; p; p = p.parentElement) {
    const style = getComputedStyle(p);
    if (/(auto|scroll)/.test(style.overflowY) && p.scrollHeight > p.clientHeight) return p;
  }
  return document.scrollingElement || document.documentElement;
}

function render({ model, el }) {
  const p = `aid${++counter}`; // id prefix: several forms may share a notebook page
  const questions = model.get("questions");
  const steps = model.get("steps");
  const byId = Object.fromEntries(questions.map((q) => [q.id, q]));
  const fields = {}; // question id -> {fieldset, inputs, error, ...}
  let step = 0;

  // ---------------------------------------------------------------- answers out
  function setAnswer(qid, value) {
    const answers = { ...model.get("answers") };
    if (value === null || value === "" || (Array.isArray(value) && value.length === 0)) {
      delete answers[qid];
    } else {
      answers[qid] = value;
    }
    model.set("answers", answers);
    model.save_changes();
  }

  // ---------------------------------------------------------------- one question
  function choiceGroup(q, legendId, type) {
    const group = h("div", { class: `aid-choices aid-choices-${q.kind}` });
    const inputs = [];
    q.options.forEach(([value, label], i) => {
      const optId = `${p}-${q.id}-opt${i}`;
      const input = h("input", {
        type,
        id: `${optId}-input`,
        name: `${p}-${q.id}`,
        value,
        "aria-labelledby": `${optId} ${legendId}`,
      });
      input.addEventListener("change", () => {
        if (type === "radio") {
          setAnswer(q.id, value);
        } else {
          if (input.checked && value === "none") {
            inputs.forEach((other) => { if (other !== input) other.checked = false; });
          } else if (input.checked) {
            inputs.forEach((other) => { if (other.value === "none") other.checked = false; });
          }
          setAnswer(q.id, inputs.filter((x) => x.checked).map((x) => x.value));
        }
      });
      inputs.push(input);
      group.append(h("label", { class: "aid-choice", for: `${optId}-input` },
        input, h("span", { id: optId, text: label })));
    });
    return { group, inputs };
  }

  function numberField(q, legendId) {
    const inputId = `${p}-${q.id}-input`;
    const input = h("input", {
      type: "text", id: inputId, inputmode: "decimal", autocomplete: "off",
      class: "aid-number", "aria-labelledby": legendId,
    });
    const row = h("div", { class: "aid-number-row" }, input);
    let unit = null;
    if (q.units.length) {
      unit = h("select", { id: `${p}-${q.id}-unit`, "aria-labelledby": `${p}-${q.id}-unitlabel ${legendId}` },
        q.units.map((u) => h("option", { value: u, text: u })));
      row.append(h("span", { id: `${p}-${q.id}-unitlabel`, class: "aid-visually-hidden", text: "Unit for" }), unit);
    } else if (q.unit) {
      row.append(h("span", { class: "aid-unit", text: q.unit }));
    }
    const send = () => {
      const text = input.value.trim();
      if (unit) setAnswer(q.id, text ? { amount: text, unit: unit.value } : null);
      else setAnswer(q.id, text || null);
    };
    input.addEventListener("change", send);
    input.addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); send(); } });
    if (unit) unit.addEventListener("change", () => { if (input.value.trim()) send(); });
    return { row, input, unit };
  }

  function questionBlock(q) {
    // Choices: a fieldset named by its legend. A number: a group named by a visible <label>.
    const promptId = `${p}-${q.id}-legend`;
    const helpId = `${p}-${q.id}-help`;
    const errorId = `${p}-${q.id}-error`;
    const describedBy = [q.help ? helpId : "", errorId].filter(Boolean).join(" ");
    const isNumber = q.kind === "number";
    const prompt = h(isNumber ? "label" : "legend", {
      id: promptId, class: "aid-prompt", for: isNumber ? `${p}-${q.id}-input` : null,
    }, q.prompt,
      q.required ? h("span", { class: "aid-required", "aria-hidden": "true", text: " *" }) : null,
      q.required ? h("span", { class: "aid-visually-hidden", text: " (required)" }) : null);
    const block = isNumber
      ? h("div", { class: `aid-q aid-q-number`, role: "group", "aria-labelledby": promptId,
        "data-question": q.id }, prompt)
      : h("fieldset", { class: `aid-q aid-q-${q.kind}`, "data-question": q.id,
        "aria-describedby": describedBy }, prompt);
    if (q.help) block.append(h("p", { id: helpId, class: "aid-help", text: q.help }));
    const field = { fieldset: block, kind: q.kind };
    if (isNumber) {
      const { row, input, unit } = numberField(q, promptId);
      input.removeAttribute("aria-labelledby"); // its <label for> names it
      input.setAttribute("aria-describedby", describedBy);
      block.append(row);
      Object.assign(field, { input, unit, inputs: [input] });
    } else {
      const type = q.kind === "multi" ? "checkbox" : "radio";
      const { group, inputs } = choiceGroup(q, promptId, type);
      if (type === "radio") {
        group.setAttribute("role", "radiogroup");
        group.setAttribute("aria-labelledby", promptId);
        if (q.required) group.setAttribute("aria-required", "true");
      }
      block.append(group);
      field.inputs = inputs;
    }
    field.error = h("p", { id: errorId, class: "aid-error", "aria-live": "polite" });
    block.append(field.error);
    fields[q.id] = field;
    return block;
  }

  // ---------------------------------------------------------------- the page
  const title = h("h1", { id: `${p}-title`, class: "aid-title",
    text: "Back or rib cramps: how soon to get care and what to do now" });
  const intro = h("p", { class: "aid-intro" },
    "Answer what you can; you can leave out any question you are not sure about. Questions marked ",
    h("span", { class: "aid-required", text: "*" }),
    " are needed before advice can be given. A sign of an emergency shows at once in the bar at the bottom of the screen.");

  const progressText = h("p", { id: `${p}-progress`, class: "aid-progress-text" });
  const progress = h("progress", { max: String(steps.length), value: "1", "aria-labelledby": `${p}-progress` });
  const nav = h("nav", { class: "aid-progress", "aria-label": "Progress" }, progressText, progress);

  const stepSections = steps.map((s, i) => {
    const heading = h("h2", { tabindex: "-1", class: "aid-step-title", id: `${p}-step${i}` },
      `Step ${i + 1} of ${steps.length}: ${s.title}`);
    return h("section", { class: "aid-step", "aria-labelledby": `${p}-step${i}`, "data-step": String(i) },
      heading, s.questions.filter((qid) => byId[qid]).map((qid) => questionBlock(byId[qid])));
  });
  const back = h("button", { type: "button", class: "aid-back", onclick: () => goTo(step - 1, true) }, "Back");
  const next = h("button", { type: "button", class: "aid-next", onclick: () => goTo(step + 1, true) });
  const stepNav = h("div", { class: "aid-step-nav" }, back, next);
  const form = h("form", { class: "aid-form", "aria-label": "Questions", novalidate: true,
    onsubmit: (e) => e.preventDefault() }, stepSections, stepNav);

  function goTo(i, focus) {
    step = Math.max(0, Math.min(steps.length - 1, i));
    stepSections.forEach((s, j) => { s.hidden = j !== step; });
    progressText.textContent = `Step ${step + 1} of ${steps.length}: ${steps[step].title}`;
    progress.value = step + 1;
    back.hidden = step === 0;
    next.hidden = step === steps.length - 1;
    if (step < steps.length - 1) next.textContent = `Next: ${steps[step + 1].title}`;
    if (focus) stepSections[step].querySelector("h2").focus();
  }

  // Finish panel: what it saves, the note, the subject id, Finish, the download, Start again.
  const notes = h("textarea", { id: `${p}-notes`, rows: "3", class: "aid-notes" });
  notes.addEventListener("change", () => { model.set("notes", notes.value); model.save_changes(); });
  const subjectError = h("p", { id: `${p}-subject-error`, class: "aid-error", "aria-live": "polite" });
  const subject = h("input", { type: "text", id: `${p}-subject`, autocomplete: "off", class: "aid-subject",
    "aria-describedby": `${p}-subject-hint ${p}-subject-error` });
  subject.addEventListener("change", () => { model.set("subject", subject.value); model.save_changes(); });
  const saves = h("p", { class: "aid-saves" });
  const finishButton = h("button", { type: "button", class: "aid-finish aid-primary",
    onclick: () => {
      // the latest typed text first, then the request (messages keep their order)
      model.set("notes", notes.value); model.set("subject", subject.value); model.save_changes();
      model.send({ event: "finish" });
    } }, "Finish and get my summary");
  const finishMessage = h("p", { class: "aid-finish-message", role: "status" });
  const download = h("p", { class: "aid-download" });
  const staff = h("p", { class: "aid-staff-notice" });
  const confirmBox = h("div", { class: "aid-confirm", role: "group", "aria-labelledby": `${p}-confirm-text`, hidden: true },
    h("p", { id: `${p}-confirm-text`, text: "Clear every answer, the note and the result for the next person?" }),
    h("button", { type: "button", class: "aid-confirm-yes aid-danger", onclick: () => reset() }, "Yes, clear everything"),
    h("button", { type: "button", class: "aid-confirm-no", onclick: () => { confirmBox.hidden = true; again.focus(); } }, "Cancel"));
  const again = h("button", { type: "button", class: "aid-again",
    onclick: () => { confirmBox.hidden = false; confirmBox.querySelector(".aid-confirm-no").focus(); } }, "Start again");
  const finish = h("section", { class: "aid-finish-panel", "aria-labelledby": `${p}-finish-h` },
    h("h2", { id: `${p}-finish-h`, text: "Finish" }),
    saves,
    h("label", { for: `${p}-notes`, class: "aid-label" }, "Note for the doctor (optional)"),
    notes,
    h("label", { for: `${p}-subject`, class: "aid-label" }, "Subject id (optional, filled in by staff)"),
    h("p", { id: `${p}-subject-hint`, class: "aid-help", text: "A pseudonymous id such as P-0042: never a name, e-mail address or phone number." }),
    subject, subjectError,
    finishButton, finishMessage, download, staff,
    h("div", { class: "aid-again-row" }, again, confirmBox));

  const card = h("div", { class: "aid-card-area" });
  const result = h("section", { class: "aid-result", id: `${p}-result`, tabindex: "-1",
    "aria-labelledby": `${p}-result-h` }, h("h2", { id: `${p}-result-h`, text: "Your result" }), card);

  const barText = h("div", { class: "aid-bar-text" });
  const bar = h("div", { class: "aid-bar", role: "status", "aria-live": "polite" }, barText,
    h("a", { href: `#${p}-result`, class: "aid-bar-link",
      onclick: (e) => { e.preventDefault(); result.scrollIntoView({ block: "start" }); result.focus({ preventScroll: true }); } },
      "See your result"));

  const main = h("main", { class: "aid-app aid-dashboard", "aria-labelledby": `${p}-title` },
    title, intro,
    h("div", { class: "aid-layout" }, h("div", { class: "aid-main-col" }, nav, form, finish), result),
    bar);
  el.append(main);

  // ---------------------------------------------------------------- state in
  function applyAnswers(force) {
    const answers = model.get("answers");
    for (const [qid, field] of Object.entries(fields)) {
      const value = answers[qid];
      if (field.kind === "number") {
        if (force || document.activeElement !== field.input) {
          const amount = value && typeof value === "object" ? value.amount : value;
          field.input.value = amount === undefined || amount === null ? "" : String(amount);
          if (field.unit) field.unit.value = value && value.unit ? value.unit : "days";
        }
      } else if (field.kind === "multi") {
        const chosen = new Set(Array.isArray(value) ? value : []);
        field.inputs.forEach((x) => { x.checked = chosen.has(x.value); });
      } else {
        field.inputs.forEach((x) => { x.checked = value !== undefined && x.value === String(value); });
      }
    }
  }

  function applyVisible() {
    const visible = model.get("visible");
    for (const [qid, field] of Object.entries(fields)) field.fieldset.hidden = visible[qid] === false;
  }

  function applyErrors() {
    const errors = model.get("errors");
    for (const [qid, field] of Object.entries(fields)) {
      const message = errors[qid] || "";
      field.error.textContent = message;
      field.inputs.forEach((x) => {
        if (message && field.kind === "number") x.setAttribute("aria-invalid", "true");
        else x.removeAttribute("aria-invalid");
      });
    }
  }

  function applyBar() {
    const state = model.get("bar");
    bar.className = `aid-bar aid-bar-${state.level || "none"}`;
    bar.setAttribute("aria-live", state.level === "emergency" ? "assertive" : "polite");
    barText.replaceChildren(...[
      h("strong", { class: "aid-bar-label", text: state.label || "" }),
      " ", h("span", { class: "aid-bar-action", text: state.action || "" }),
      state.no_drive ? h("strong", { class: "aid-bar-drive", text: ` ${state.no_drive}` }) : null,
      state.stop ? h("span", { class: "aid-bar-stop", text: ` ${state.stop}` }) : null,
    ].filter((x) => x !== null));
    requestAnimationFrame(keepClear);
  }

  function applyFinish() {
    const state = model.get("finish_state");
    finishMessage.textContent = state.message || "";
    finishMessage.className = `aid-finish-message aid-finish-${state.status || "idle"}`;
    staff.textContent = state.staff_notice || "";
    download.replaceChildren();
    if (state.href) {
      download.append(
        h("a", { class: "aid-download-link", href: state.href, download: state.filename },
          "Download your summary to print or show your doctor"),
        h("span", { class: "aid-help", text: ` It holds your answers, the result, the date and the knowledge-base version (${state.kb_version}).` }));
    }
    if (state.fhir_href) {
      download.append(
        h("br"),
        h("a", { class: "aid-fhir-link", href: state.fhir_href, download: state.fhir_filename },
          "For clinic staff: the same record for the health record system (FHIR)"));
    }
  }

  // The bar is fixed at the bottom of the screen. Inside Voila the page scrolls in a panel with
  // `contain: strict`, which makes "fixed" scroll with the panel: pin() moves the bar back to the
  // bottom of the window (a no-op on a plain page). Only the bar itself is moved.
  let offset = 0;
  function pin() {
    const gap = window.innerHeight - bar.getBoundingClientRect().bottom;
    if (Math.abs(gap) > 0.5) {
      offset += gap;
      bar.style.transform = offset ? `translateY(${offset}px)` : "";
    }
  }

  // Pad the page by the bar's height, and scroll the focused control up when the bar would
  // cover it (it must never hide the question being answered).
  function keepClear() {
    pin();
    main.style.paddingBottom = `${bar.offsetHeight + 16}px`;
    const focused = document.activeElement;
    if (!focused || !main.contains(focused) || bar.contains(focused)) return;
    const block = focused.closest("[data-question]");
    const target = block ? block.querySelector(".aid-prompt") : focused;
    const barTop = bar.getBoundingClientRect().top;
    const rects = [focused.getBoundingClientRect(), target.getBoundingClientRect()];
    const bottom = Math.max(...rects.map((r) => r.bottom));
    if (bottom > barTop - 8) {
      const top = Math.min(...rects.map((r) => r.top));
      const by = Math.min(bottom - barTop + 16, Math.max(0, top - 8));
      scroller(main).scrollBy({ top: by });
      pin();
    }
  }

  function reset() {
    confirmBox.hidden = true;
    form.reset();
    notes.value = "";
    subject.value = "";
    download.replaceChildren();
    finishMessage.textContent = "";
    model.send({ event: "reset" });
    goTo(0, true);
  }

  const handlers = {
    "change:answers": () => applyAnswers(false),
    "change:visible": applyVisible,
    "change:errors": applyErrors,
    "change:card": () => { card.innerHTML = model.get("card"); },
    "change:bar": applyBar,
    "change:finish_state": applyFinish,
    "change:saves": () => { saves.textContent = model.get("saves"); },
    "change:subject_error": () => {
      subjectError.textContent = model.get("subject_error");
      if (model.get("subject_error")) subject.setAttribute("aria-invalid", "true");
      else subject.removeAttribute("aria-invalid");
    },
    "change:generation": () => {
      applyAnswers(true);
      notes.value = model.get("notes");
      subject.value = model.get("subject");
    },
  };
  for (const [event, fn] of Object.entries(handlers)) model.on(event, fn);
  main.addEventListener("focusin", () => requestAnimationFrame(keepClear));
  const onScroll = () => pin();
  document.addEventListener("scroll", onScroll, { capture: true, passive: true });
  window.addEventListener("resize", onScroll, { passive: true });
  const resize = new ResizeObserver(() => keepClear());
  resize.observe(bar);

  for (const fn of Object.values(handlers)) fn();
  goTo(0, false);
  return () => {
    for (const [event, fn] of Object.entries(handlers)) model.off(event, fn);
    resize.disconnect();
    document.removeEventListener("scroll", onScroll, { capture: true });
    window.removeEventListener("resize", onScroll);
  };
}

export default { render };
