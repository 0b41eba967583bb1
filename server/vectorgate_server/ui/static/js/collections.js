// Collections per store: spec, counts, index, and a paged browse of documents.

import { api } from "./api.js";
import { $, clear, flash, h, json, setOptions, truncate } from "./dom.js";
import { report } from "./main.js";

let st = null;
let listToken = "";
let browsing = null; // {name, store}
let docTokens = [""]; // page tokens: [first, second, ...]

const metricName = (m) => (m || "").replace("DISTANCE_METRIC_", "").toLowerCase();

function collectionRow(c, label, store) {
  const open = h("button", { type: "button", class: "secondary", "aria-label": `Browse ${label}` }, label);
  open.addEventListener("click", () => browse(label, store).catch(report));
  return h("tr", {},
    h("td", {}, open),
    h("td", {}, c.store || store || ""),
    h("td", {}, c.backend || ""),
    h("td", { class: "num" }, c.dimension || ""),
    h("td", {}, metricName(c.metric)),
    h("td", {}, c.embedding_model || ""),
    h("td", {}, c.index ? c.index.type || "" : ""),
    h("td", { class: "num" }, c.document_count ?? "—"));
}

async function loadPage(append) {
  const rows = $("coll-rows");
  if (!append) { clear(rows); listToken = ""; }
  if (st.admin) {
    const store = $("coll-store").value;
    const page = await api("GET", "/v1/collections", { query: { store, page_size: 100, page_token: listToken } });
    for (const c of page.collections || []) rows.append(collectionRow(c, c.name, store));
    listToken = page.next_page_token || "";
    $("coll-more-wrap").hidden = !listToken;
    if (!(page.collections || []).length && !append) {
      rows.append(h("tr", {}, h("td", { colspan: 8 }, "No collections in this store yet.")));
    }
  } else {
    $("coll-more-wrap").hidden = true;
    for (const name of st.indexes) {
      try {
        const { collection } = await api("GET", `/v1/collections/${encodeURIComponent(name)}`);
        rows.append(collectionRow(collection, name, ""));
      } catch (err) {
        rows.append(h("tr", {}, h("td", {}, name), h("td", { colspan: 7, class: "error" }, err.message)));
      }
    }
    if (!st.indexes.length) rows.append(h("tr", {}, h("td", { colspan: 8 }, "This key was granted no index.")));
  }
}

async function browse(name, store) {
  browsing = { name, store };
  docTokens = [""];
  const { collection } = await api("GET", `/v1/collections/${encodeURIComponent(name)}`, { query: { store } });
  $("coll-detail").hidden = false;
  $("coll-detail-title").textContent = store ? `${store} / ${name}` : name;
  $("coll-spec").textContent = json(collection);
  await loadDocs(0);
  $("coll-detail-title").scrollIntoView({ block: "nearest" });
}

async function loadDocs(pageIndex) {
  if (!browsing) return;
  const token = docTokens[pageIndex];
  const page = await api("GET", `/v1/collections/${encodeURIComponent(browsing.name)}/documents`, {
    query: { store: browsing.store, page_size: $("docs-page-size").value, page_token: token },
  });
  const rows = clear($("docs-rows"));
  for (const doc of page.documents || []) {
    rows.append(h("tr", {},
      h("td", { class: "meta" }, doc.id),
      h("td", { class: "text" }, truncate(doc.text, 400)),
      h("td", { class: "meta" }, json(doc.metadata || {}))));
  }
  if (!(page.documents || []).length) rows.append(h("tr", {}, h("td", { colspan: 3 }, "No documents on this page.")));
  docTokens = docTokens.slice(0, pageIndex + 1);
  if (page.next_page_token) docTokens.push(page.next_page_token);
  $("docs-next").disabled = !page.next_page_token;
  $("docs-next").dataset.page = String(pageIndex + 1);
  $("docs-status").textContent = `page ${pageIndex + 1}, ${(page.documents || []).length} document(s)`;
}

export function init(state) {
  st = state;
  $("coll-store").addEventListener("change", () => loadPage(false).catch(report));
  $("coll-refresh").addEventListener("click", () => loadPage(false).catch(report));
  $("coll-more").addEventListener("click", () => loadPage(true).catch(report));
  $("docs-first").addEventListener("click", () => loadDocs(0).catch(report));
  $("docs-next").addEventListener("click", () => loadDocs(Number($("docs-next").dataset.page)).catch(report));
  $("docs-page-size").addEventListener("change", () => { docTokens = [""]; loadDocs(0).catch(report); });
  $("coll-create").addEventListener("submit", async (event) => {
    event.preventDefault();
    const collection = { name: $("coll-new-name").value.trim(), store: $("coll-new-store").value };
    if ($("coll-new-dim").value) collection.dimension = Number($("coll-new-dim").value);
    if ($("coll-new-metric").value) collection.metric = $("coll-new-metric").value;
    try {
      await api("POST", "/v1/collections", { body: { collection } });
      flash(`Created collection ${collection.name} in ${collection.store}.`);
      $("coll-new-name").value = "";
      $("coll-store").value = collection.store;
      await loadPage(false);
    } catch (err) { report(err); }
  });
}

export async function show(state) {
  st = state;
  const stores = state.stores.map((s) => [s.name, `${s.name} (${s.backend}${s.is_default ? ", default" : ""})`]);
  setOptions($("coll-store"), stores);
  setOptions($("coll-new-store"), stores);
  await loadPage(false);
}
