// Admin pages (master key only): virtual indexes with policy filters, and keys.

import { api } from "./api.js";
import { $, clear, flash, h, json, setOptions } from "./dom.js";
import { FilterBuilder } from "./filter.js";
import { report } from "./main.js";

const date = (ts) => (ts ? new Date(ts).toLocaleString() : "never");

// ------------------------------------------------------------------ indexes

let policy = null;
let st = null;

async function loadIndexes() {
  const page = await api("GET", "/v1/indexes", { query: { page_size: 1000 } });
  const rows = clear($("index-rows"));
  for (const index of page.indexes || []) {
    const del = h("button", { type: "button", class: "danger", "aria-label": `Delete index ${index.index_name}` }, "Delete");
    del.addEventListener("click", async () => {
      if (!window.confirm(`Delete virtual index ${index.index_name}? Keys granted it lose access.`)) return;
      try {
        await api("DELETE", `/v1/indexes/${encodeURIComponent(index.index_name)}`);
        flash(`Deleted index ${index.index_name}.`);
        await st.refresh();
        await loadIndexes();
      } catch (err) { report(err); }
    });
    const target = index.litellm_params || {};
    rows.append(h("tr", {},
      h("td", {}, index.index_name),
      h("td", {}, target.vector_store_name || ""),
      h("td", {}, target.vector_store_index || ""),
      h("td", { class: "meta" }, index.policy_filter ? json(index.policy_filter) : "—"),
      h("td", {}, index.description || ""),
      h("td", {}, date(index.create_time)),
      h("td", {}, del)));
  }
  if (!(page.indexes || []).length) rows.append(h("tr", {}, h("td", { colspan: 7 }, "No virtual indexes yet.")));
}

async function createIndex(event) {
  event.preventDefault();
  const body = {
    index_name: $("index-name").value.trim(),
    litellm_params: { vector_store_name: $("index-store").value, vector_store_index: $("index-collection").value.trim() },
  };
  if ($("index-description").value.trim()) body.description = $("index-description").value.trim();
  try {
    const f = policy.value();
    if (f) body.policy_filter = f;
  } catch (err) {
    flash(`Policy filter: ${err.message}`, true);
    return;
  }
  try {
    await api("POST", "/v1/indexes", { body });
    flash(`Created index ${body.index_name}.`);
    $("index-form").reset();
    policy.reset();
    await st.refresh();
    await loadIndexes();
  } catch (err) { report(err); }
}

export const indexes = {
  init(state) {
    st = state;
    policy = new FilterBuilder($("index-filter"), "Policy");
    $("index-form").addEventListener("submit", createIndex);
  },
  async show(state) {
    st = state;
    setOptions($("index-store"), state.stores.map((s) => [s.name, `${s.name} (${s.backend})`]));
    await loadIndexes();
  },
};

// ------------------------------------------------------------------ keys

let grantCounter = 0;

function addGrant() {
  const n = ++grantCounter;
  const row = {
    index: h("select", { id: `grant-${n}-index` }, st.indexes.map((name) => h("option", { value: name }, name))),
    read: h("input", { type: "checkbox", id: `grant-${n}-read`, checked: true }),
    write: h("input", { type: "checkbox", id: `grant-${n}-write` }),
  };
  const remove = h("button", { type: "button", class: "danger", "aria-label": `Remove grant ${n}` }, "Remove");
  row.el = h("div", { class: "grant-row" },
    h("label", { for: `grant-${n}-index` }, `Index ${n}`), row.index,
    row.read, h("label", { for: `grant-${n}-read` }, "read"),
    row.write, h("label", { for: `grant-${n}-write` }, "write"),
    remove);
  remove.addEventListener("click", () => row.el.remove());
  row.el.grant = row;
  $("key-grants").append(row.el);
  return row;
}

async function loadKeys() {
  const { keys = [] } = await api("GET", "/key/list");
  const rows = clear($("key-rows"));
  for (const key of keys) {
    const revoke = h("button", { type: "button", class: "danger", "aria-label": `Revoke key ${key.key_alias || key.key_prefix}` }, "Revoke");
    revoke.addEventListener("click", async () => {
      if (!window.confirm(`Revoke key ${key.key_alias || key.key_prefix}? Calls with it fail from now on.`)) return;
      try {
        await api("POST", "/key/delete", { body: { keys: [key.token] } });
        flash(`Revoked key ${key.key_alias || key.key_prefix}.`);
        await loadKeys();
      } catch (err) { report(err); }
    });
    const grants = (key.allowed_vector_store_indexes || [])
      .map((g) => `${g.index_name}: ${(g.index_permissions || []).join("+")}`).join(", ");
    rows.append(h("tr", {},
      h("td", {}, key.key_alias || ""),
      h("td", { class: "meta" }, `${key.key_prefix || ""}…`),
      h("td", {}, grants || "—"),
      h("td", {}, (key.models || []).join(", ") || "any"),
      h("td", {}, date(key.expires)),
      h("td", {}, `${date(key.create_time)}${key.created_by ? ` by ${key.created_by}` : ""}`),
      h("td", {}, revoke)));
  }
  if (!keys.length) rows.append(h("tr", {}, h("td", { colspan: 7 }, "No virtual keys yet.")));
}

async function mintKey(event) {
  event.preventDefault();
  const grants = Array.from($("key-grants").children).map((el) => el.grant).filter(Boolean)
    .map((g) => ({
      index_name: g.index.value,
      index_permissions: [g.read.checked && "read", g.write.checked && "write"].filter(Boolean),
    }))
    .filter((g) => g.index_name);
  const body = { allowed_vector_store_indexes: grants };
  if ($("key-alias").value.trim()) body.key_alias = $("key-alias").value.trim();
  if ($("key-duration").value.trim()) body.duration = $("key-duration").value.trim();
  const models = $("key-models").value.split(",").map((s) => s.trim()).filter(Boolean);
  if (models.length) body.models = models;
  try {
    const answer = await api("POST", "/key/generate", { body });
    $("key-new").hidden = false;
    $("key-new-value").value = answer.key;
    $("key-new-value").focus();
    $("key-new-value").select();
    $("key-form").reset();
    clear($("key-grants"));
    await loadKeys();
  } catch (err) { report(err); }
}

function forgetNewKey() {
  $("key-new-value").value = "";
  $("key-new").hidden = true;
}

export const keys = {
  init(state) {
    st = state;
    $("key-add-grant").addEventListener("click", () => addGrant().index.focus());
    $("key-form").addEventListener("submit", mintKey);
    $("key-new-copy").addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText($("key-new-value").value);
        flash("Copied.");
      } catch {
        $("key-new-value").select();
        flash("Select the key and copy it (the clipboard is not available here).");
      }
    });
    $("key-new-done").addEventListener("click", forgetNewKey);
  },
  async show(state) {
    st = state;
    for (const el of $("key-grants").children) {
      if (el.grant) setOptions(el.grant.index, state.indexes.map((n) => [n, n]));
    }
    await loadKeys();
  },
  // The new key is shown once: leaving the page forgets it.
  hide: forgetNewKey,
};
