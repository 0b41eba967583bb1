// Calls a running vectorgate gateway from Node.js: @grpc/grpc-js with the .proto
// files loaded at run time by @grpc/proto-loader (include path third_party/googleapis).
//
//   VECTORGATE_TARGET=127.0.0.1:50051 [VECTORGATE_API_KEY=...] node test.js
//
// Creates a collection, upserts documents by text, searches, checks the top hit,
// checks a filtered search and an ALREADY_EXISTS error, then deletes the collection.
// Exits 0 on success; prints the failure and exits 1 otherwise.
"use strict";

const assert = require("node:assert/strict");
const path = require("node:path");
const { promisify } = require("node:util");
const grpc = require("@grpc/grpc-js");
const protoLoader = require("@grpc/proto-loader");

const ROOT = path.resolve(__dirname, "..", "..");
const TARGET = process.env.VECTORGATE_TARGET || "127.0.0.1:50051";
const API_KEY = process.env.VECTORGATE_API_KEY || "";
const COLLECTION = process.env.VECTORGATE_COLLECTION || "node_films";

function loadServices() {
  const definition = protoLoader.loadSync(
    [
      "vectorgate/v1/collection_admin_service.proto",
      "vectorgate/v1/upsert_service.proto",
      "vectorgate/v1/search_service.proto",
    ],
    {
      includeDirs: [path.join(ROOT, "proto"), path.join(ROOT, "third_party", "googleapis")],
      keepCase: true,
      longs: Number,
      enums: String,
      defaults: true,
      oneofs: true,
    },
  );
  return grpc.loadPackageDefinition(definition).vectorgate.v1;
}

function call(client, method) {
  const fn = promisify(client[method].bind(client));
  return (request) => {
    const metadata = new grpc.Metadata();
    if (API_KEY) metadata.set("authorization", `Bearer ${API_KEY}`);
    return fn(request, metadata, { deadline: Date.now() + 60_000 });
  };
}

// google.protobuf.Struct as proto-loader expects it: protobufjs bundles the well-known
// types with camelCase field names (numberValue), whatever keepCase says.
function struct(object) {
  const fields = {};
  for (const [key, value] of Object.entries(object)) {
    if (typeof value === "number") fields[key] = { numberValue: value };
    else if (typeof value === "boolean") fields[key] = { boolValue: value };
    else fields[key] = { stringValue: String(value) };
  }
  return { fields };
}

function unstruct(message) {
  const result = {};
  for (const [key, value] of Object.entries((message && message.fields) || {})) {
    result[key] = value[value.kind];
  }
  return result;
}

const FILMS = [
  ["alien", "A crew aboard a deep space freighter is hunted by a deadly alien creature.", 1979],
  ["toy-story", "A cowboy doll feels threatened when a new spaceman action figure arrives.", 1995],
  ["jaws", "A great white shark terrorises a seaside resort town during the summer.", 1975],
  ["up", "An old man ties thousands of balloons to his house to fly to South America.", 2009],
  ["heat", "A detective hunts a crew of professional bank robbers in Los Angeles.", 1995],
];

async function main() {
  const v1 = loadServices();
  const credentials = grpc.credentials.createInsecure();
  const collections = new v1.CollectionAdminService(TARGET, credentials);
  const upserts = new v1.UpsertService(TARGET, credentials);
  const search = new v1.SearchService(TARGET, credentials);
  try {
    const created = await call(collections, "CreateCollection")({
      collection: { name: COLLECTION, metric: "DISTANCE_METRIC_COSINE" },
    });
    assert.equal(created.collection.name, COLLECTION);
    assert.equal(created.collection.dimension, 384);
    console.log(`created ${COLLECTION} in store ${created.collection.store}`);

    await assert.rejects(
      call(collections, "CreateCollection")({ collection: { name: COLLECTION } }),
      (err) => err.code === grpc.status.ALREADY_EXISTS,
    );

    const upserted = await call(upserts, "UpsertDocuments")({
      collection: COLLECTION,
      documents: FILMS.map(([id, text, year]) => ({ id, text, metadata: struct({ year }) })),
    });
    assert.equal(upserted.upserted_count, FILMS.length);

    const found = await call(search, "Search")({
      collection: COLLECTION,
      text: "a shark attacks swimmers at the beach",
      top_k: 3,
    });
    assert.equal(found.hits.length, 3);
    assert.equal(found.hits[0].id, "jaws");
    assert.equal(unstruct(found.hits[0].metadata).year, 1975);
    assert.ok(found.hits[0].score >= found.hits[1].score);
    console.log(`top hit: ${found.hits[0].id} (${found.hits[0].score.toFixed(4)})`);

    const filtered = await call(search, "Search")({
      collection: COLLECTION,
      text: "monster in outer space",
      top_k: 5,
      filter: {
        condition: { field: "year", op: "FILTER_OPERATOR_GTE", value: { int_value: 1990 } },
      },
    });
    const ids = filtered.hits.map((hit) => hit.id);
    assert.ok(!ids.includes("alien"), `filtered search returned ${ids}`);
    assert.deepEqual([...ids].sort(), ["heat", "toy-story", "up"]);
    console.log(`filtered: ${ids.join(", ")}`);
  } finally {
    await call(collections, "DeleteCollection")({ name: COLLECTION }).catch(() => undefined);
    collections.close();
    upserts.close();
    search.close();
  }
}

main().then(
  () => console.log("node client test: ok"),
  (err) => {
    console.error("node client test: FAILED");
    console.error(err);
    process.exitCode = 1;
  },
);
