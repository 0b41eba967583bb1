// Copies the front-end libraries the console uses from node_modules into the
// Python package (server/vectorgate_server/ui/static/vendor/), and the test-only
// ones (axe-core) into tests/ui/vendor/, with their licences, and records the
// versions in each VERSIONS.json. The copies are committed: users install
// vectorgate, and CI runs the tests, without Node.js. Run after `npm ci`:
//   cd ui && npm ci && npm run vendor
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));

// target folder -> package name -> files to copy (from the package root) into <target>/<name>/
const TARGETS = {
  [join(here, "..", "server", "vectorgate_server", "ui", "static", "vendor")]: {
    uplot: ["dist/uPlot.iife.min.js", "dist/uPlot.min.css", "LICENSE"],
  },
  [join(here, "..", "tests", "ui", "vendor")]: {
    "axe-core": ["axe.min.js", "LICENSE"],
  },
};

for (const [target, packages] of Object.entries(TARGETS)) {
  const versions = {};
  for (const [name, files] of Object.entries(packages)) {
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
}
