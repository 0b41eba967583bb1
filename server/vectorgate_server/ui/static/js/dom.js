// Small DOM helpers. Text always goes in as text nodes (never innerHTML), so
// data from the API cannot inject markup.

export const $ = (id) => document.getElementById(id);

/** Create an element: h("td", {class: "num"}, "3"). Attributes with value false/null are skipped. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2), value);
    } else if (name === "value") {
      el.value = value;
    } else if (name === "checked") {
      el.checked = Boolean(value);
    } else {
      el.setAttribute(name, value === true ? "" : String(value));
    }
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

/** Options of a <select> from [value, label] pairs, keeping the selection when it still exists. */
export function setOptions(select, pairs) {
  const keep = select.value;
  clear(select);
  for (const [value, label] of pairs) select.append(h("option", { value }, label));
  if (pairs.some(([value]) => value === keep)) select.value = keep;
}

let flashTimer = null;
/** A message in the status line; errors stay until the next message. */
export function flash(message, isError = false) {
  const el = $("flash");
  el.textContent = message;
  el.classList.toggle("error", isError);
  el.setAttribute("role", isError ? "alert" : "status");
  clearTimeout(flashTimer);
  if (!isError && message) flashTimer = setTimeout(() => { el.textContent = ""; }, 6000);
}

export const json = (value) => JSON.stringify(value, null, 2);

export function truncate(text, max = 300) {
  return text && text.length > max ? `${text.slice(0, max)}…` : text || "";
}
