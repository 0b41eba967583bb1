// The REST API of this server, called with the signed-in key as a Bearer token.
// The key lives in sessionStorage (this tab only) and never in a URL.

const STORAGE = "vectorgate.console.key";

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
    const info = (this.body.details || []).find((d) => (d["@type"] || "").endsWith("ErrorInfo"));
    this.reason = info ? info.reason : "";
  }
}

export const session = {
  get key() { return sessionStorage.getItem(STORAGE) || ""; },
  set key(value) {
    if (value) sessionStorage.setItem(STORAGE, value);
    else sessionStorage.removeItem(STORAGE);
  },
};

function url(path, query) {
  const u = new URL(path, window.location.origin);
  for (const [k, v] of Object.entries(query || {})) {
    if (v !== undefined && v !== null && v !== "") u.searchParams.set(k, String(v));
  }
  return u.pathname + u.search;
}

function headers(extra = {}) {
  const out = { ...extra };
  if (session.key) out.Authorization = `Bearer ${session.key}`;
  return out;
}

/** JSON request; resolves to the parsed body, rejects with ApiError. */
export async function api(method, path, { body, query } = {}) {
  const init = { method, headers: headers(), credentials: "omit", cache: "no-store" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(url(path, query), init);
  const text = await response.text();
  let parsed = null;
  try { parsed = text ? JSON.parse(text) : {}; } catch { parsed = { message: text }; }
  if (!response.ok) throw new ApiError(response.status, parsed);
  return parsed;
}

/** Plain-text GET (the Prometheus exposition at /metrics). */
export async function getText(path) {
  const response = await fetch(path, { headers: headers(), credentials: "omit", cache: "no-store" });
  if (!response.ok) throw new ApiError(response.status, { message: await response.text() });
  return response.text();
}

/** Upload a file as the raw body, reporting progress(loaded, total); resolves to the JSON answer. */
export function upload(path, query, file, progress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url(path, query));
    for (const [k, v] of Object.entries(headers({ "Content-Type": "application/octet-stream" }))) {
      xhr.setRequestHeader(k, v);
    }
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) progress(e.loaded, e.total); };
    xhr.onerror = () => reject(new ApiError(0, { message: "network error" }));
    xhr.onload = () => {
      let parsed = {};
      try { parsed = xhr.responseText ? JSON.parse(xhr.responseText) : {}; } catch { parsed = { message: xhr.responseText }; }
      if (xhr.status >= 200 && xhr.status < 300) resolve(parsed);
      else reject(new ApiError(xhr.status, parsed));
    };
    xhr.send(file);
  });
}

/** Who the key is: {admin: true} for the master key (or an open server), else {admin: false, info}. */
export async function whoami() {
  try {
    const answer = await api("GET", "/key/info");
    return { admin: false, info: answer.info || {} };
  } catch (err) {
    // GetKey with no key names the caller's own key; the master key has none to describe.
    if (err instanceof ApiError && err.status === 400 && err.reason === "MISSING_FIELD") {
      return { admin: true, info: null };
    }
    throw err;
  }
}
