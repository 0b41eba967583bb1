// Sign-in, navigation and what the signed-in key may see.
//
// What a key may not do, the console does not offer: the admin pages (indexes,
// keys) and store pickers show only for the master key. The server refuses
// such calls anyway; the console never relies on hiding them.

import { ApiError, api, session, whoami } from "./api.js";
import { $, flash } from "./dom.js";
import * as collections from "./collections.js";
import * as search from "./search.js";
import * as ingest from "./ingest.js";
import * as admin from "./admin.js";
import * as metrics from "./metrics.js";

const VIEWS = {
  collections, search, ingest, indexes: admin.indexes, keys: admin.keys, metrics,
};
const ADMIN_VIEWS = new Set(["indexes", "keys"]);

/** What every view reads: who is signed in, the stores, the indexes the key can use. */
export const state = {
  admin: false,
  info: null,
  stores: [], // [{name, backend, is_default, keyword_search}] (admin only)
  indexes: [], // names of the virtual indexes the key may use (all of them for admin)
  grants: {}, // index name -> ["read", "write"] for a virtual key
  async refresh() {
    if (this.admin) {
      const [stores, indexes] = await Promise.all([
        api("GET", "/v1/stores"), api("GET", "/v1/indexes", { query: { page_size: 1000 } }),
      ]);
      this.stores = stores.stores || [];
      this.indexes = (indexes.indexes || []).map((i) => i.index_name);
    } else {
      const grants = (this.info && this.info.allowed_vector_store_indexes) || [];
      this.grants = Object.fromEntries(grants.map((g) => [g.index_name, g.index_permissions || []]));
      this.indexes = Object.keys(this.grants).sort();
    }
  },
};

let started = new Set();
let current = null;

function showSignin(message = "") {
  $("shell").hidden = true;
  $("signin").hidden = false;
  $("signin-error").textContent = message;
  $("signin-key").value = "";
  $("signin-key").focus();
}

async function enter() {
  const who = await whoami();
  state.admin = who.admin;
  state.info = who.info;
  await state.refresh();
  for (const el of document.querySelectorAll("[data-admin]")) el.hidden = !state.admin;
  const info = state.info;
  $("whoami").textContent = state.admin
    ? "signed in with the master key"
    : `signed in with key ${info.key_alias || info.key_prefix || ""} (${state.indexes.length} index${state.indexes.length === 1 ? "" : "es"})`;
  $("signin").hidden = true;
  $("shell").hidden = false;
  started = new Set();
  await route();
}

async function route() {
  let name = (window.location.hash.replace(/^#\/?/, "") || "collections").split("/")[0];
  if (!(name in VIEWS) || (ADMIN_VIEWS.has(name) && !state.admin)) name = "collections";
  if (current && current !== name && VIEWS[current].hide) VIEWS[current].hide();
  if (current !== name) flash("");
  current = name;
  for (const [view] of Object.entries(VIEWS)) $(`view-${view}`).hidden = view !== name;
  for (const link of document.querySelectorAll("nav a[data-view]")) {
    if (link.dataset.view === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const view = VIEWS[name];
  try {
    if (!started.has(name)) {
      started.add(name);
      view.init(state);
    }
    await view.show(state);
  } catch (err) {
    report(err);
  }
}

/** Show an API error; a rejected key sends the user back to sign-in. */
export function report(err) {
  if (err instanceof ApiError && err.status === 401) {
    session.key = "";
    showSignin(`Signed out: ${err.message}`);
    return;
  }
  flash(err.message || String(err), true);
}

$("signin-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const key = $("signin-key").value.trim();
  if (!key) {
    $("signin-error").textContent = "Enter a key.";
    return;
  }
  session.key = key;
  try {
    await enter();
    flash("");
  } catch (err) {
    session.key = "";
    showSignin(err instanceof ApiError && err.status === 401 ? "That key was not accepted." : err.message);
  }
});

$("signout").addEventListener("click", () => {
  session.key = "";
  for (const view of Object.values(VIEWS)) if (view.hide) view.hide();
  window.location.hash = "";
  showSignin();
});

window.addEventListener("hashchange", () => { if (!$("shell").hidden) route(); });

if (session.key) {
  enter().catch((err) => { session.key = ""; showSignin(err.message); });
} else {
  showSignin();
}
