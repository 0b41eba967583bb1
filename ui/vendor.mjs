// Copies the front-end libraries the console uses from node_modules into the
// Python package (server/vectorgate_server/ui/static/vendor/), with their
// licences, and records the versions in vendor/VERSIONS.json. The copies are
// committed: users install vectorgate without Node.js. Run after `npm ci`:
//   cd ui && npm ci && npm run vendor
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const target = join(here, "..", "server", "vectorgate_server", "ui", "static", "vendor");

// package name -> files to copy (from the package root) into vendor/<name>/
const FILES = {
  uplot: ["dist/uPlot.iife.min.js", "dist/uPlot.min.css", "LICENSE"],
};

const versions = {};
for (const [name, files] of Object.entries(FILES)) {
  const root = join(here, "node_modules", name);
  const meta = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
  versions[name] = meta.version;
  const out = join(target, name);
  mkdirSync(out, { recursive: true });
  for (const file of files) {
    copyFileSync(join(root, file), join(out, file.split("/").pop()));
  }
}
writeFileSync(join(target, "VERSIONS.json"), JSON.stringify(versions, null, 2) + "\n");
console.log(`vendored ${JSON.stringify(versions)} into ${target}`);
