"use strict";
// The classroom edition's page. Every picture and number was sampled once by the real model (data.js);
// the page only looks them up, so a schedule that was not sampled cannot be picked.

const D = window.CLASSROOM;
const $ = (id) => document.getElementById(id);
const state = { cls: 0, seed: D.seeds[0], grid: null, step: D.steps };

// A schedule is named by its toggles: per brick, "1" for each range it runs in ("11111.11111.11100").
const keyOf = (grid) => grid.map((row) => row.map((on) => (on ? "1" : "0")).join("")).join(".");
const gridOf = (key) => key.split(".").map((row) => [...row].map((c) => c === "1"));
const runsHere = () => D.runs[`${state.cls}/${state.seed}`];
const currentRun = () => runsHere()[keyOf(state.grid)];
const everyBrick = () => runsHere()[Object.keys(D.schedules)[0]];

function element(tag, props = {}, children = []) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

function fill(select, items) {
  select.replaceChildren(...items.map(([label, value]) => new Option(label, value)));
}

function showView(view) {
  const known = ["play", "lesson", "credits"].includes(view) ? view : "play";
  document.querySelectorAll(".view").forEach((section) => { section.hidden = section.id !== known; });
  document.querySelectorAll("[role=tab]").forEach((tab) => {
    tab.setAttribute("aria-selected", String(tab.dataset.view === known));
  });
  if (known === "play") drawCharts(); // Plotly sizes a chart to its box, which a hidden view lacks
}

function flipped(k, j) {
  const grid = state.grid.map((row) => row.slice());
  grid[k][j] = !grid[k][j];
  return grid;
}

function drawToggles() {
  const header = element("tr", {}, [element("th", { textContent: "brick" }),
    ...D.range_labels.map((label) => {
      const [steps, sigma] = label.split(", ");
      const noise = element("span", { className: "sigma", textContent: sigma || "" });
      return element("th", { title: label }, [steps, noise]);
    })]);
  const rows = D.bricks.map((name, k) => element("tr", {}, [element("th", { textContent: name, scope: "row" }),
    ...D.range_labels.map((label, j) => {
      const box = element("input", { type: "checkbox", id: `cell-${k}-${j}`, checked: state.grid[k][j] });
      box.setAttribute("aria-label", `${name}, ${label}`);
      box.disabled = !(keyOf(flipped(k, j)) in D.schedules);
      box.title = box.disabled ? "Not sampled in advance: the live app runs any schedule" : "";
      box.addEventListener("change", () => { state.grid = flipped(k, j); drawRun(); });
      return element("td", {}, [box]);
    })]));
  $("toggles").replaceChildren(element("thead", {}, [header]), element("tbody", {}, rows));
  // said on the page, not only on hover, which a phone never shows
  $("greyed").hidden = !document.querySelector("#toggles input:disabled");
}

// The tallest stacked bar of any run of this picture: every schedule's chart on one axis, so that a schedule that
// skips work shows lower bars than every brick's.
function tallest(name) {
  const runs = Object.values(runsHere());
  return Math.max(...runs.flatMap((run) => run.charts[name][0].map((_, step) =>
    run.charts[name].reduce((sum, trace) => sum + trace[step], 0))));
}

function drawCharts() {
  const run = currentRun();
  for (const name of ["flops", "time"]) {
    const base = D.charts[name];
    const traces = base.data.map((trace, i) => ({ ...trace, y: run.charts[name][i] }));
    // a fresh layout each time (Plotly writes a zoom into the object it is given) that cannot be zoomed: a drag or
    // a swipe over a chart would otherwise leave it on a slice of the steps, with no button to undo it
    const layout = structuredClone(base.layout);
    layout.dragmode = false; // a finger on the chart scrolls the page (the charts' own template says so too)
    layout.xaxis = { ...layout.xaxis, fixedrange: true };
    layout.yaxis = { ...layout.yaxis, fixedrange: true, range: [0, 1.05 * tallest(name)], autorange: false };
    Plotly.react(`${name}-chart`, traces, layout, { displayModeBar: false, responsive: true });
  }
}

function picture(src, caption) {
  const image = element("img", { src, alt: caption });
  return element("figure", {}, [image, element("figcaption", { textContent: caption })]);
}

function drawStep() {
  const [noisy, estimate, bricks] = currentRun().frames[state.step - 1];
  const on = D.bricks.filter((_, k) => bricks[k] !== null);
  $("step-text").textContent = `${state.step} of ${D.steps}, σ ${D.sigmas[state.step - 1].toPrecision(3)}; ` +
    `bricks on: ${on.join(", ")}`;
  $("frames").replaceChildren(picture(noisy, "x_t (rescaled)"), picture(estimate, "denoised estimate"),
    ...D.bricks.flatMap((name, k) => (bricks[k] === null ? [] : [picture(bricks[k], `${name}'s own estimate`)])));
}

function drawRun() {
  const key = keyOf(state.grid);
  const run = currentRun();
  $("run-image").src = run.image;
  $("all-image").src = everyBrick().image;
  $("diff-image").src = run.diff;
  $("diff-scale").textContent = `; full colour at ±${run.diff_limit} / 255`;
  $("cost").textContent = run.summary;
  const preset = D.presets.find((p) => p.key === key);
  $("schedule-name").textContent = `Schedule: ${preset ? `${preset.name}, ` : ""}${D.schedules[key]}`;
  $("preset").value = preset ? preset.key : "";
  drawToggles();
  drawCharts();
  drawStep();
}

function setSplit(slider, input) {
  slider.querySelector(".top").style.clipPath = `inset(0 0 0 ${input.value}%)`;
  slider.querySelector(".line").style.left = `${input.value}%`;
}

function startPlay() {
  fill($("class"), D.classes.map((name, i) => [name, i]));
  fill($("seed"), D.seeds.map((seed) => [seed, seed]));
  $("seed").parentElement.hidden = D.seeds.length < 2; // one seed: nothing to choose
  // a preset's headline, which a laptop's box shows whole: "pg-recipe: top brick off for the last 40% of steps"
  fill($("preset"), [["custom", ""], ...D.presets.map((p) => [`${p.name}: ${p.headline}`, p.key])]);
  $("preset").options[0].disabled = true; // shown for ticks set by hand, not a schedule to pick
  // opens on the paper's recipe, where it was sampled: a first picture that already differs from every brick's
  const recipe = D.presets.find((p) => p.name === "pg-recipe");
  state.grid = gridOf(recipe ? recipe.key : Object.keys(D.schedules)[0]);
  $("class").addEventListener("change", (e) => {
    state.cls = Number(e.target.value);
    if (!$("lesson-predict").hidden) $("lesson-class").value = e.target.value; // the lesson draws it too
    drawRun();
  });
  $("every-brick").addEventListener("click", () => { state.grid = gridOf(Object.keys(D.schedules)[0]); drawRun(); });
  $("seed").addEventListener("change", (e) => { state.seed = Number(e.target.value); drawRun(); });
  $("preset").addEventListener("change", (e) => {
    if (e.target.value) state.grid = gridOf(e.target.value);
    drawRun(); // the box names what the grid shows, whatever was picked
  });
  const step = $("step");
  step.max = D.steps;
  step.value = state.step;
  step.addEventListener("input", () => { state.step = Number(step.value); drawStep(); });
  for (const [slider, input] of [["compare", "compare-split"], ["lesson-slider", "lesson-split"]]) {
    $(input).addEventListener("input", () => setSplit($(slider), $(input)));
    // a finger that lands on the picture moves the line at once, before the browser knows whether it scrolls the
    // page; when it does scroll, the line goes back
    let before = null;
    $(input).addEventListener("pointerdown", () => { before = $(input).value; });
    $(input).addEventListener("pointercancel", () => {
      if (before !== null) { $(input).value = before; setSplit($(slider), $(input)); }
      before = null;
    });
    setSplit($(slider), $(input));
  }
  drawRun();
}

// Pictures side by side, each with its change map below it on the lesson's one scale.
function strip(id, lesson, items) {
  $(id).replaceChildren(...items.map(([caption, shown]) => element("figure", {}, [
    element("img", { src: shown ? shown.image : lesson.reference, alt: caption }),
    shown ? element("img", { src: shown.map, alt: `what it changed: ${caption}`, className: "map" })
      : element("div", { className: "map blank" }),
    element("figcaption", { textContent: caption })])));
}

function startLesson() {
  $("lesson-intro").innerHTML = D.predict; // the app's own stage 1, rendered at export
  fill($("lesson-class"), D.classes.map((name, i) => [name, i]));
  // no guess is made for the class: the button waits for theirs
  $("lesson-guess").append(...D.bricks.map((name, k) => element("label", {}, [
    element("input", { type: "radio", name: "guess", value: k }), ` ${name}`])));
  const run = $("lesson-run");
  const waiting = run.textContent; // the page's own words until a guess is made
  const guessed = (made) => {
    run.disabled = !made;
    run.textContent = made ? "Lock in my guess and see" : waiting;
  };
  $("lesson-guess").addEventListener("change", () => guessed(true));
  const phase = (comparing) => { $("lesson-predict").hidden = comparing; $("lesson-compare").hidden = !comparing; };
  run.addEventListener("click", () => {
    const lesson = D.lessons[Number($("lesson-class").value)];
    const guess = Number(document.querySelector("input[name=guess]:checked").value);
    const row = lesson.rows[guess];
    $("lesson-all").src = lesson.reference;
    $("lesson-off").src = row.late.image;
    $("lesson-map").src = row.late.map;
    for (const scale of document.querySelectorAll(".lesson-scale")) {
      scale.textContent = `Change maps: red lighter, blue darker, white the same; full colour: a change of ` +
        `${lesson.map_limit} / 255 or more, the same scale on every map.`;
    }
    strip("lesson-every-late", lesson, lesson.rows.map((r, k) => [`${r.brick} off late${k === guess ? " (yours)" : ""}`,
      r.late]));
    strip("lesson-early", lesson, [["every brick", null], ["yours off early", row.early], ["yours off late", row.late]]);
    strip("lesson-cost", lesson, [["every brick", null], ["yours off late", row.late],
      [`every brick, ${row.fewer.steps} steps`, row.fewer]]);
    // HTML rendered at export from the app's own verdicts and take-away
    for (const [id, part] of [["lesson-result", "late"], ["lesson-early-text", "early"], ["lesson-cost-text", "cost"],
      ["lesson-takeaway", "take_away"]]) $(id).innerHTML = lesson.verdicts[part][guess];
    phase(true);
  });
  $("lesson-again").addEventListener("click", () => { // the next group makes its own guess
    document.querySelectorAll("input[name=guess]").forEach((input) => { input.checked = false; });
    guessed(false);
    phase(false);
  });
}

function startPage() {
  const live = D.app_url ? element("a", { href: D.app_url, textContent: "The live app" }) : "The live app";
  $("live-note").append(`Every picture here was sampled in advance (${D.steps} ${D.method} steps, guidance ` +
    `${D.guidance}), so only some schedules can be picked. `, live,
    " does everything: any schedule, sampler, number of steps, size or seed.");
  $("credits").innerHTML = D.credits; // the project's credits file, rendered at export
  document.querySelectorAll("[role=tab]").forEach((tab) => {
    tab.addEventListener("click", () => { window.location.hash = tab.dataset.view; });
  });
  window.addEventListener("hashchange", () => showView(window.location.hash.slice(1)));
  startPlay();
  startLesson();
  showView(window.location.hash.slice(1));
}

startPage();
