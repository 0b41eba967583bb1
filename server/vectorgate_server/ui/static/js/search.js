// Search playground: text or vector queries, filter builder, fused multi-target,
// hybrid and rerank, explain, hits with per-source contributions and failed targets.

import { api } from "./api.js";
import { $, clear, h, json, truncate } from "./dom.js";
import { FilterBuilder } from "./filter.js";
import { report } from "./main.js";

let st = null;
let filter = null;
const targets = [];
let counter = 0;

function storeChoices() {
  return st.admin ? [["", "default store"], ...st.stores.map((s) => [s.name, s.name])] : [];
}

function addTarget() {
  const n = ++counter;
  const row = {
    collection: h("input", { id: `target-${n}-collection`, list: "search-indexes", required: true }),
    store: h("select", { id: `target-${n}-store` }, storeChoices().map(([v, l]) => h("option", { value: v }, l))),
    weight: h("input", { id: `target-${n}-weight`, type: "number", step: "0.1", min: "0", placeholder: "1.0" }),
  };
  const remove = h("button", { type: "button", class: "danger", "aria-label": `Remove target ${n}` }, "Remove");
  row.el = h("div", { class: "target-row" },
    h("label", { for: `target-${n}-collection` }, st.admin ? `Collection or index ${n}` : `Index ${n}`), row.collection,
    st.admin ? h("label", { for: `target-${n}-store` }, "in store") : null, st.admin ? row.store : null,
    h("label", { for: `target-${n}-weight` }, "weight"), row.weight,
    remove);
  remove.addEventListener("click", () => {
    if (targets.length === 1) return;
    targets.splice(targets.indexOf(row), 1);
    row.el.remove();
  });
  targets.push(row);
  $("search-targets").append(row.el);
  return row;
}

/** The SearchRequest JSON of the form; throws Error naming a bad field. */
export function buildRequest() {
  const chosen = targets.filter((t) => t.collection.value.trim());
  if (!chosen.length) throw new Error("Name a collection or index to search.");
  const body = { top_k: Number($("search-topk").value) || 10 };
  const asTarget = (t) => {
    const out = { collection: t.collection.value.trim() };
    if (st.admin && t.store.value) out.store = t.store.value;
    if (t.weight.value !== "") out.weight = Number(t.weight.value);
    return out;
  };
  if (chosen.length === 1 && chosen[0].weight.value === "") {
    Object.assign(body, asTarget(chosen[0]));
  } else {
    body.targets = chosen.map(asTarget);
    body.fusion = { method: $("search-fusion").value };
  }
  if ($("search-kind-vector").checked) {
    const values = $("search-vector").value.split(/[\s,]+/).filter(Boolean).map(Number);
    if (!values.length || values.some((v) => !Number.isFinite(v))) {
      throw new Error("Query vector: give numbers separated by commas.");
    }
    body.vector = { values };
  } else {
    body.text = $("search-text").value;
  }
  body.mode = $("search-mode").value;
  if (body.mode === "SEARCH_MODE_HYBRID") {
    const hybrid = {};
    if ($("search-dense-weight").value !== "") hybrid.dense_weight = Number($("search-dense-weight").value);
    if ($("search-keyword-weight").value !== "") hybrid.keyword_weight = Number($("search-keyword-weight").value);
    if (Object.keys(hybrid).length) body.hybrid = hybrid;
  }
  if ($("search-threshold").value !== "") body.score_threshold = Number($("search-threshold").value);
  if ($("search-rerank").checked) {
    body.rerank = { enabled: true };
    if ($("search-rerank-model").value.trim()) body.rerank.model = $("search-rerank-model").value.trim();
    if ($("search-rerank-topn").value !== "") body.rerank.top_n = Number($("search-rerank-topn").value);
  }
  if ($("search-explain").checked) body.explain = true;
  const f = filter.value();
  if (f) body.filter = f;
  return body;
}

function contributions(hit) {
  const sources = hit.sources || [];
  if (!sources.length) return "";
  return h("ul", { class: "contrib" }, sources.map((s) => h("li", {},
    `${s.store}/${s.collection} ${(s.retriever || "").replace("RETRIEVER_", "").toLowerCase()}`
    + ` #${s.rank} score ${fmt(s.score)} → +${fmt(s.contribution)}`)));
}

const fmt = (x) => (typeof x === "number" ? x.toFixed(4) : x ?? "");

function render(answer) {
  const hits = answer.hits || [];
  const failures = answer.failures || [];
  const rows = clear($("search-hits"));
  hits.forEach((hit, i) => {
    rows.append(h("tr", {},
      h("td", { class: "num" }, i + 1),
      h("td", { class: "id", title: hit.id }, hit.id.length > 14 ? `${hit.id.slice(0, 12)}…` : hit.id),
      h("td", { class: "num" }, fmt(hit.score)),
      h("td", {}, [hit.store, hit.collection].filter(Boolean).join(" / ")),
      h("td", { class: "text" }, truncate(hit.text, 400)),
      h("td", { class: "meta" }, JSON.stringify(hit.metadata || {}, null, 1).replace(/\n\s*/g, " ")),
      h("td", {}, contributions(hit))));
  });
  const list = clear($("search-failures"));
  for (const f of failures) {
    list.append(h("li", {}, `${f.store}/${f.collection} failed (${f.stage}): ${f.code} ${f.reason} — ${f.message}`));
  }
  const explanation = answer.explanation;
  $("search-explain-box").hidden = !explanation;
  $("search-explanation").textContent = explanation ? json(explanation) : "";
  $("search-status").textContent = `${hits.length} hit(s)${failures.length ? `, ${failures.length} failed target(s)` : ""}`;
}

export function init(state) {
  st = state;
  document.body.append(h("datalist", { id: "search-indexes" }));
  filter = new FilterBuilder($("search-filter"), "Filter");
  addTarget();
  $("search-add-target").addEventListener("click", () => addTarget().collection.focus());
  const kind = () => {
    const vector = $("search-kind-vector").checked;
    $("search-vector").disabled = !vector;
    $("search-text").disabled = vector;
  };
  $("search-kind-text").addEventListener("change", kind);
  $("search-kind-vector").addEventListener("change", kind);
  // Options that apply only in some modes are disabled otherwise.
  const options = () => {
    const hybrid = $("search-mode").value === "SEARCH_MODE_HYBRID";
    $("search-dense-weight").disabled = !hybrid;
    $("search-keyword-weight").disabled = !hybrid;
    const rerank = $("search-rerank").checked;
    $("search-rerank-model").disabled = !rerank;
    $("search-rerank-topn").disabled = !rerank;
  };
  $("search-mode").addEventListener("change", options);
  $("search-rerank").addEventListener("change", options);
  options();
  $("search-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    let body;
    try {
      body = buildRequest();
    } catch (err) {
      $("search-status").textContent = err.message;
      return;
    }
    $("search-status").textContent = "Searching…";
    try {
      render(await api("POST", "/v1/search", { body }));
    } catch (err) {
      $("search-status").textContent = `Error: ${err.message}`;
      report(err);
    }
  });
}

export async function show(state) {
  st = state;
  const list = clear($("search-indexes"));
  for (const name of state.indexes) list.append(h("option", { value: name }));
}
