// Ingest: files uploaded one at a time to the server's ingest route, which
// chunks them exactly as `vectorgate ingest` does. The bar shows the bytes
// sent over all files; each file's line says what was written.

import { upload } from "./api.js";
import { $, clear, flash, h, setOptions } from "./dom.js";
import { report } from "./main.js";

let busy = false;

async function run(event) {
  event.preventDefault();
  if (busy) return;
  const files = Array.from($("ingest-files").files || []);
  const collection = $("ingest-collection").value.trim();
  if (!collection || !files.length) {
    flash("Choose a collection and one or more files.", true);
    return;
  }
  busy = true;
  const submit = $("ingest-form").querySelector("button[type=submit]");
  submit.disabled = true;
  const bar = $("ingest-progress");
  const total = files.reduce((sum, f) => sum + f.size, 0) || 1;
  let done = 0;
  const log = clear($("ingest-log"));
  bar.max = total;
  bar.value = 0;
  const totals = { files: 0, failed: 0, chunks: 0, written: 0 };
  const query = {
    store: $("ingest-store").hidden ? "" : $("ingest-store").value,
    chunk_tokens: $("ingest-chunk").value,
    overlap: $("ingest-overlap").value,
  };
  try {
    for (const file of files) {
      $("ingest-status").textContent = `Uploading ${file.name}…`;
      const line = h("li", {}, `${file.name}: uploading`);
      log.append(line);
      try {
        const answer = await upload(
          `/v1/collections/${encodeURIComponent(collection)}/documents:ingest`,
          { ...query, filename: file.name },
          file,
          (loaded, sent) => {
            bar.value = done + loaded;
            if (loaded >= sent) line.textContent = `${file.name}: uploaded; chunking and embedding…`;
          },
        );
        totals.files += 1;
        totals.chunks += answer.chunk_count;
        totals.written += answer.upserted_count;
        line.textContent = `${file.name}: ${answer.chunk_count} chunk(s), ${answer.upserted_count} new, `
          + `${answer.present_count} already stored`;
      } catch (err) {
        totals.failed += 1;
        line.textContent = `${file.name}: failed: ${err.message}`;
        line.classList.add("error");
        if (err.status === 401) throw err;
      }
      done += file.size;
      bar.value = done;
    }
    bar.value = total;
    $("ingest-status").textContent = `Done: ${totals.files} file(s), ${totals.chunks} chunk(s), `
      + `${totals.written} new${totals.failed ? `, ${totals.failed} failed` : ""}.`;
  } catch (err) {
    report(err);
  } finally {
    busy = false;
    submit.disabled = false;
  }
}

export function init() {
  $("ingest-form").addEventListener("submit", run);
}

export async function show(state) {
  setOptions($("ingest-store"), [["", "default store"], ...state.stores.map((s) => [s.name, s.name])]);
  const list = clear($("ingest-collections"));
  for (const name of state.indexes) list.append(h("option", { value: name }));
}
