// A filter builder producing vectorgate's portable filter: the JSON form of
// vectorgate.v1.Filter ({condition: {field, op, value: {string_value|int_value|
// float_value|bool_value|list_value}}}, {all_of|any_of: {filters: [...]}},
// {negate: {...}}), which every backend receives compiled to its native filter.

import { h, json } from "./dom.js";

export const OPERATORS = [
  ["FILTER_OPERATOR_EQ", "="],
  ["FILTER_OPERATOR_NE", "≠"],
  ["FILTER_OPERATOR_GT", ">"],
  ["FILTER_OPERATOR_GTE", "≥"],
  ["FILTER_OPERATOR_LT", "<"],
  ["FILTER_OPERATOR_LTE", "≤"],
  ["FILTER_OPERATOR_IN", "in"],
  ["FILTER_OPERATOR_NIN", "not in"],
  ["FILTER_OPERATOR_CONTAINS", "contains"],
];
const TYPES = [["string", "text"], ["int", "integer"], ["float", "number"], ["bool", "boolean"]];
const LISTS = new Set(["FILTER_OPERATOR_IN", "FILTER_OPERATOR_NIN"]);

/** One typed value; throws Error naming what is wrong. */
export function typedValue(type, raw, where) {
  const text = raw.trim();
  switch (type) {
    case "string": return { string_value: raw };
    case "int":
      if (!/^-?\d+$/.test(text)) throw new Error(`${where}: ${JSON.stringify(raw)} is not an integer`);
      return { int_value: text }; // int64 as a JSON string: exact beyond 2^53
    case "float": {
      const n = Number(text);
      if (text === "" || !Number.isFinite(n)) throw new Error(`${where}: ${JSON.stringify(raw)} is not a number`);
      return { float_value: n };
    }
    case "bool":
      if (!["true", "false"].includes(text.toLowerCase())) throw new Error(`${where}: use true or false`);
      return { bool_value: text.toLowerCase() === "true" };
    default: throw new Error(`${where}: unknown type ${type}`);
  }
}

/** The portable filter of builder rows ({field, op, type, value, negate}); null when empty. */
export function buildFilter(combinator, rows) {
  const filters = rows.filter((r) => r.field.trim() !== "").map((r, i) => {
    const where = `condition ${i + 1}`;
    let value;
    if (LISTS.has(r.op)) {
      const items = r.value.split(",").map((s) => s.trim()).filter((s) => s !== "");
      if (!items.length) throw new Error(`${where}: give one or more values separated by commas`);
      value = { list_value: { values: items.map((item) => typedValue(r.type, item, where)) } };
    } else {
      value = typedValue(r.type, r.value, where);
    }
    const condition = { condition: { field: r.field.trim(), op: r.op, value } };
    return r.negate ? { negate: condition } : condition;
  });
  if (filters.length === 0) return null;
  if (filters.length === 1) return filters[0];
  return { [combinator]: { filters } };
}

let counter = 0;

/** A builder mounted in `root`; `onChange(filter|null, error|null)` after every edit. */
export class FilterBuilder {
  constructor(root, label) {
    this.id = `fb${++counter}`;
    this.root = root;
    this.rows = [];
    this.combinator = h("select", { id: `${this.id}-comb` },
      h("option", { value: "all_of" }, "all conditions (and)"),
      h("option", { value: "any_of" }, "any condition (or)"));
    this.combinator.addEventListener("change", () => this.render());
    this.list = h("div");
    this.preview = h("pre", { class: "code filter-preview", id: `${this.id}-json`, "aria-live": "polite" });
    this.error = h("p", { class: "error", role: "alert" });
    root.append(
      h("div", { class: "row" }, h("label", { for: `${this.id}-comb` }, `${label}: match`), this.combinator),
      this.list,
      h("button", { type: "button", class: "secondary", onclick: () => { this.addRow(); } }, "Add condition"),
      h("label", { for: `${this.id}-json` }, "Portable filter JSON"),
      this.preview,
      this.error,
    );
    this.render();
  }

  addRow(values = {}) {
    const n = this.rows.length + 1;
    const id = `${this.id}-r${++counter}`;
    const row = {
      field: h("input", { id: `${id}-field`, "aria-label": `Condition ${n} field`, placeholder: "metadata key or id", value: values.field || "" }),
      op: h("select", { "aria-label": `Condition ${n} operator` }, OPERATORS.map(([v, l]) => h("option", { value: v }, l))),
      type: h("select", { "aria-label": `Condition ${n} value type` }, TYPES.map(([v, l]) => h("option", { value: v }, l))),
      value: h("input", { "aria-label": `Condition ${n} value`, placeholder: "value (in: a, b, c)", value: values.value || "" }),
      negate: h("input", { type: "checkbox", id: `${id}-not` }),
    };
    if (values.op) row.op.value = values.op;
    if (values.type) row.type.value = values.type;
    const remove = h("button", { type: "button", class: "danger", "aria-label": `Remove condition ${n}` }, "Remove");
    row.el = h("div", { class: "filter-row" }, h("label", { for: `${id}-not` }, "not"), row.negate,
      row.field, row.op, row.type, row.value, remove);
    remove.addEventListener("click", () => {
      this.rows = this.rows.filter((r) => r !== row);
      row.el.remove();
      this.render();
    });
    for (const el of [row.field, row.op, row.type, row.value, row.negate]) {
      el.addEventListener("input", () => this.render());
      el.addEventListener("change", () => this.render());
    }
    this.rows.push(row);
    this.list.append(row.el);
    this.render();
    row.field.focus();
    return row;
  }

  /** The filter, or throws Error with the reason. */
  value() {
    return buildFilter(this.combinator.value, this.rows.map((r) => ({
      field: r.field.value, op: r.op.value, type: r.type.value, value: r.value.value, negate: r.negate.checked,
    })));
  }

  reset() {
    for (const row of this.rows) row.el.remove();
    this.rows = [];
    this.render();
  }

  render() {
    try {
      const filter = this.value();
      this.preview.textContent = filter ? json(filter) : "(no filter)";
      this.error.textContent = "";
    } catch (err) {
      this.preview.textContent = "";
      this.error.textContent = err.message;
    }
  }
}
