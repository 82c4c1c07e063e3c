// The course page of `grader site` (grader/site/__init__.py writes the data as data.js).
// Plain JavaScript, no library, nothing fetched: every table, plot and link is built here from
// window.GRADER_SITE. Text from submissions goes into the page through textContent only.
(function () {
  "use strict";

  const D = window.GRADER_SITE;
  if (!D) {
    throw new Error("data.js did not load: the page needs data.js beside it");
  }
  const S = D.strings;
  const body = document.body;
  const root = body.dataset.root || "";
  const app = document.getElementById("app");
  const SVG = "http://www.w3.org/2000/svg";
  // Colour-blind-safe (Okabe-Ito), as the README plots: a team keeps its colour on every page.
  const COLOURS = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"];
  const TEAMS = Object.keys(D.teams).sort();
  const HWTEAMS = new Set(D.homeworks.flatMap((hw) => hw.points.map((p) => p.team)));
  const colourOrder = Array.from(new Set(TEAMS.concat(Array.from(HWTEAMS)))).sort();

  function colour(team) {
    return COLOURS[colourOrder.indexOf(team) % COLOURS.length];
  }

  function t(key, params) {
    const text = S[key] === undefined ? key : S[key];
    return text.replace(/\{(\w+)\}/g, (_, name) => (params && name in params ? String(params[name]) : ""));
  }

  // An element with attributes and children; strings become text nodes, never HTML.
  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value !== null && value !== undefined && value !== false) node.setAttribute(name, String(value));
    }
    for (const child of [].concat(children || [])) {
      if (child === null || child === undefined) continue;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, String(value));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function github(path) {
    // The repository comes from course.yaml, not from a submission; still only owner/name.
    if (!D.repository || !/^[\w.-]+\/[\w.-]+$/.test(D.repository)) return null;
    return "https://github.com/" + D.repository + path;
  }

  function prCell(pr) {
    if (pr === null || pr === undefined) return { text: "—", sort: null };
    return { text: "#" + pr, sort: pr, href: github("/pull/" + pr) };
  }

  // --- tables: sort on a header click, filter on typing ----------------------------------------

  function compare(a, b, direction) {
    // Empty cells last in either direction; numbers as numbers, text as text.
    if (a === null && b === null) return 0;
    if (a === null) return 1;
    if (b === null) return -1;
    const order = typeof a === "number" && typeof b === "number" ? a - b : String(a).localeCompare(String(b));
    return direction === "ascending" ? order : -order;
  }

  function makeTable(columns, rows, options) {
    const table = el("table", { class: "results" });
    const head = el("tr");
    const tbody = el("tbody");
    const state = { column: -1, direction: "none" };
    columns.forEach((column, index) => {
      const button = el("button", { type: "button" }, column.label);
      const th = el("th", { scope: "col", "aria-sort": "none", "data-key": column.key }, button);
      button.addEventListener("click", () => {
        state.direction = state.column === index && state.direction === "ascending" ? "descending" : "ascending";
        state.column = index;
        for (const other of head.children) other.setAttribute("aria-sort", "none");
        th.setAttribute("aria-sort", state.direction);
        rows.sort((x, y) => compare(x.cells[index].sort, y.cells[index].sort, state.direction) || x.order - y.order);
        for (const row of rows) tbody.appendChild(row.node);
      });
      head.appendChild(th);
    });
    rows.forEach((row, order) => {
      row.order = order;
      row.node = el(
        "tr",
        { "data-team": row.team || null, class: row.current === false ? "past" : null },
        row.cells.map((cell, index) => {
          const content = cell.href ? el("a", { href: cell.href }, cell.text) : cell.text;
          const numeric = typeof cell.sort === "number" && columns[index].key !== "pr";
          return el("td", { class: numeric ? "num" : null }, content);
        })
      );
      tbody.appendChild(row.node);
    });
    table.appendChild(el("thead", {}, head));
    table.appendChild(tbody);
    if (options && options.caption) table.insertBefore(el("caption", {}, options.caption), table.firstChild);
    return { table, rows, tbody };
  }

  function filters(made, verdicts) {
    const input = el("input", { type: "search", placeholder: t("filter_placeholder"), "aria-label": t("filter") });
    const select = el("select", { "aria-label": t("all_verdicts") }, [el("option", { value: "" }, t("all_verdicts"))]);
    for (const verdict of verdicts) select.appendChild(el("option", { value: verdict }, t("verdict." + verdict)));
    const empty = el("p", { class: "no-rows", hidden: true }, t("no_rows"));
    function apply() {
      const words = input.value.trim().toLocaleLowerCase().split(/\s+/).filter(Boolean);
      let shown = 0;
      for (const row of made.rows) {
        const text = row.cells.map((c) => c.text).join(" ").toLocaleLowerCase();
        const keep = words.every((w) => text.includes(w)) && (!select.value || row.verdict === select.value);
        row.node.hidden = !keep;
        shown += keep ? 1 : 0;
      }
      empty.hidden = shown > 0;
    }
    input.addEventListener("input", apply);
    select.addEventListener("change", apply);
    return { controls: el("div", { class: "controls" }, [el("label", {}, [t("filter") + " ", input]), select]), empty };
  }

  // --- scatters with Pareto fronts ---------------------------------------------------------------

  function niceTicks(low, high, count) {
    const span = high - low || Math.abs(high) || 1;
    const step0 = span / count;
    const power = Math.pow(10, Math.floor(Math.log10(step0)));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * power).find((s) => s >= step0);
    const ticks = [];
    for (let v = Math.ceil(low / step) * step; v <= high + step * 1e-9; v += step) ticks.push(+v.toPrecision(12));
    return ticks;
  }

  function logTicks(low, high) {
    const ticks = [];
    for (let e = Math.floor(Math.log10(low)); e <= Math.ceil(Math.log10(high)); e++) {
      for (const m of [1, 2, 5]) {
        const v = m * Math.pow(10, e);
        if (v >= low * 0.999 && v <= high * 1.001) ticks.push(v);
      }
    }
    return ticks;
  }

  function label(value) {
    return Math.abs(value) >= 100 ? value.toFixed(0) : +value.toPrecision(3) + "";
  }

  // An axis's labels: the fewest decimals that keep every tick's label distinct (1.002, 1.004 on a
  // flat range, never "1, 1, 1.01"), trailing zeros dropped.
  function labels(ticks) {
    for (let digits = 0; digits <= 6; digits++) {
      const texts = ticks.map((v) => +v.toFixed(digits) + "");
      if (new Set(texts).size === texts.length) return texts;
    }
    return ticks.map((v) => v + "");
  }

  // The points no other point beats on both axes (x: smaller is better for size, larger for speed).
  function paretoFront(points, x, smallerX, higherY) {
    const better = (a, b) => {
      const ax = smallerX ? -a[x] : a[x];
      const bx = smallerX ? -b[x] : b[x];
      const ay = higherY ? a.quality : -a.quality;
      const by = higherY ? b.quality : -b.quality;
      return ax >= bx && ay >= by && (ax > bx || ay > by);
    };
    return points.filter((p) => !points.some((q) => q !== p && better(q, p))).sort((a, b) => a[x] - b[x]);
  }

  function scatter(hw, kind, hidden, onPick) {
    const x = kind === "size" ? "size_mb" : "speedup";
    const all = hw.points.filter((p) => p[x] !== null && p[x] > 0 && !hidden.has(p.team));
    const figure = el("figure", { class: "plot", "data-kind": kind });
    figure.appendChild(el("figcaption", {}, t(kind === "size" ? "size_quality" : "speed_quality")));
    if (all.length < 2) {
      figure.appendChild(el("p", { class: "no-plot" }, t("no_plot")));
      return figure;
    }
    const W = 460, H = 320, L = 56, R = 14, T = 12, B = 44;
    const log = kind === "size";
    let xs = all.map((p) => p[x]);
    let lo = Math.min(...xs), hi = Math.max(...xs);
    if (log) {
      lo /= 1.3;
      hi *= 1.3;
    } else {
      const pad = (hi - lo || 1) * 0.08;
      lo = Math.max(0, lo - pad);
      hi += pad;
    }
    const ys = all.map((p) => p.quality);
    const ypad = (Math.max(...ys) - Math.min(...ys) || Math.abs(ys[0]) * 0.05 || 1) * 0.1;
    const ylo = Math.min(...ys) - ypad, yhi = Math.max(...ys) + ypad;
    const sx = (v) => L + ((log ? Math.log(v) - Math.log(lo) : v - lo) / (log ? Math.log(hi) - Math.log(lo) : hi - lo)) * (W - L - R);
    const sy = (v) => T + (1 - (v - ylo) / (yhi - ylo)) * (H - T - B);
    const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", class: "scatter" });
    chart.appendChild(svg("title", {}, t(kind === "size" ? "size_quality" : "speed_quality")));
    let xticks = log ? logTicks(lo, hi) : niceTicks(lo, hi, 5);
    if (xticks.length < 2) xticks = niceTicks(lo, hi, 4); // a narrow log range holds no 1-2-5 steps
    const xlabels = labels(xticks);
    xticks.forEach((v, i) => {
      chart.appendChild(svg("line", { x1: sx(v), x2: sx(v), y1: T, y2: H - B, class: "grid" }));
      chart.appendChild(svg("text", { x: sx(v), y: H - B + 14, class: "tick x", "text-anchor": "middle" }, xlabels[i]));
    });
    const yticks = niceTicks(ylo, yhi, 5);
    const ylabels = labels(yticks);
    yticks.forEach((v, i) => {
      chart.appendChild(svg("line", { x1: L, x2: W - R, y1: sy(v), y2: sy(v), class: "grid" }));
      chart.appendChild(svg("text", { x: L - 6, y: sy(v) + 3, class: "tick y", "text-anchor": "end" }, ylabels[i]));
    });
    chart.appendChild(svg("rect", { x: L, y: T, width: W - L - R, height: H - T - B, class: "frame" }));
    const xTitle = kind === "size" ? t("axis_size") : t("axis_speedup") + " (" + hw.device.toUpperCase() + ")";
    chart.appendChild(svg("text", { x: (L + W - R) / 2, y: H - 8, class: "axis", "text-anchor": "middle" }, xTitle));
    const yTitle = hw.quality + (hw.percent ? ", %" : "");
    chart.appendChild(svg("text", { x: 12, y: (T + H - B) / 2, class: "axis", "text-anchor": "middle", transform: `rotate(-90 12 ${(T + H - B) / 2})` }, yTitle));
    const front = paretoFront(all, x, kind === "size", hw.higher);
    if (front.length > 1) {
      const path = front.map((p, i) => (i ? "L" : "M") + sx(p[x]).toFixed(1) + " " + sy(p.quality).toFixed(1)).join(" ");
      const line = svg("path", { d: path, class: "front" });
      line.appendChild(svg("title", {}, t("pareto")));
      chart.appendChild(line);
    }
    for (const p of all) {
      const dot = svg("circle", {
        cx: sx(p[x]).toFixed(1),
        cy: sy(p.quality).toFixed(1),
        r: front.includes(p) ? 6 : 4.5,
        class: "dot" + (p.baseline ? " baseline" : "") + (front.includes(p) ? " on-front" : ""),
        fill: p.baseline ? "none" : colour(p.team),
        stroke: colour(p.team),
        "data-team": p.team,
        tabindex: 0,
      });
      const xText = kind === "size" ? label(p.size_mb) + " MB" : label(p.speedup) + "×";
      const base = p.baseline ? " (" + t("baseline") + ")" : "";
      dot.appendChild(svg("title", {}, `${p.team} / ${p.model}${base}: ${xText}, ${label(p.quality)}${hw.percent ? " %" : ""}`));
      dot.addEventListener("click", () => onPick(p));
      chart.appendChild(dot);
    }
    figure.appendChild(chart);
    return figure;
  }

  function legend(hw, hidden, redraw) {
    const teams = Array.from(new Set(hw.points.map((p) => p.team))).sort();
    const box = el("div", { class: "legend" });
    for (const team of teams) {
      const check = el("input", { type: "checkbox", checked: !hidden.has(team) });
      check.addEventListener("change", () => {
        if (check.checked) hidden.delete(team);
        else hidden.add(team);
        redraw();
      });
      const swatch = el("span", { class: "swatch", "data-colour": colour(team) });
      swatch.style.backgroundColor = colour(team); // CSSOM, allowed by the page's style-src policy
      box.appendChild(el("label", {}, [check, swatch, team]));
    }
    box.appendChild(el("span", { class: "legend-front" }, "— " + t("pareto")));
    box.appendChild(el("span", { class: "legend-base" }, "○ " + t("baseline")));
    return box;
  }

  // --- pages ---------------------------------------------------------------------------------------

  function homeworkSection(hw) {
    const section = el("section", { id: "hw-" + hw.id, class: "homework" });
    section.appendChild(el("h2", {}, hw.heading));
    section.appendChild(el("p", { class: "rule" }, hw.rule));
    const rows = hw.rows.map((row) => ({
      team: row.team,
      verdict: row.verdict,
      cells: row.cells.map((cell, i) => {
        const key = hw.columns[i].key;
        if (key === "pr") return prCell(row.pr);
        if (key === "team") return { text: cell.text, sort: cell.sort, href: "teams/" + row.team + ".html" };
        return cell;
      }),
    }));
    const made = makeTable(hw.columns, rows);
    const verdicts = Array.from(new Set(hw.rows.map((r) => r.verdict))).sort();
    const filter = filters(made, verdicts);
    section.appendChild(filter.controls);
    section.appendChild(el("div", { class: "scroll" }, made.table));
    section.appendChild(filter.empty);
    const hidden = new Set();
    const plots = el("div", { class: "plots" });
    function pick(point) {
      for (const row of made.rows) row.node.classList.toggle("picked", row.team === point.team);
      const target = made.rows.find((r) => r.team === point.team);
      if (target) target.node.scrollIntoView({ block: "nearest" });
    }
    function redraw() {
      plots.replaceChildren(scatter(hw, "size", hidden, pick), scatter(hw, "speed", hidden, pick));
    }
    redraw();
    if (hw.points.length) {
      section.appendChild(legend(hw, hidden, redraw));
      section.appendChild(plots);
    }
    return section;
  }

  function indexPage() {
    app.replaceChildren(el("h1", {}, t("title", { course: D.course })));
    app.appendChild(el("p", { class: "intro" }, t("intro")));
    if (D.generated) app.appendChild(el("p", { class: "generated" }, D.generated));
    const nav = el("nav", {}, [
      el("span", {}, t("homeworks") + ": "),
      ...D.homeworks.map((hw) => el("a", { href: "#hw-" + hw.id }, "HW-" + hw.id)),
      el("span", {}, " · " + t("teams") + ": "),
      ...TEAMS.map((team) => el("a", { href: "teams/" + team + ".html" }, team)),
    ]);
    app.appendChild(nav);
    for (const hw of D.homeworks) app.appendChild(homeworkSection(hw));
  }

  function teamPage(team) {
    const data = D.teams[team];
    app.replaceChildren(el("p", {}, el("a", { href: root + "index.html" }, t("back"))));
    app.appendChild(el("h1", {}, t("team_title", { team })));
    if (!data) return;
    const columns = ["homework", "graded_at", "pr", "head", "trigger", "verdict", "best", "changed", "now", "why"].map((key) => ({
      key,
      label: t("history." + key),
    }));
    columns.splice(8, 0, { key: "models", label: t("models") });
    const rows = data.attempts.map((a) => ({
      team,
      verdict: a.verdict,
      current: a.current,
      cells: [
        { text: "HW-" + a.homework, sort: a.homework },
        { text: a.graded_at, sort: a.graded_sort },
        prCell(a.pr),
        a.head_sha ? { text: a.head_sha.slice(0, 7), sort: a.head_sha, href: github("/commit/" + a.head_sha) } : { text: "—", sort: null },
        { text: a.trigger, sort: a.trigger },
        { text: t("verdict." + a.verdict), sort: a.verdict },
        { text: a.best, sort: parseFloat(a.best) || null },
        { text: a.changed, sort: a.changed },
        { text: a.models.map((m) => m.name + (m.baseline ? " (" + t("baseline") + ")" : "") + " " + m.size).join("; "), sort: a.models.length },
        { text: a.current ? t("current") : t("past"), sort: a.current ? 0 : 1 },
        { text: a.why, sort: a.why },
      ],
    }));
    const made = makeTable(columns, rows, { caption: t("attempts") });
    const filter = filters(made, Array.from(new Set(data.attempts.map((a) => a.verdict))).sort());
    app.appendChild(filter.controls);
    app.appendChild(el("div", { class: "scroll" }, made.table));
    app.appendChild(filter.empty);
  }

  document.documentElement.lang = D.language;
  if (body.dataset.page === "team") teamPage(body.dataset.team);
  else indexPage();
  body.setAttribute("data-ready", "1"); // the page is drawn (a browser test waits for this)
})();
