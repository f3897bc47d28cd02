// Unit tests of the amplify_outputs.json mapping (src/outputs.js), run by
// TestNodeUnits with `node --test`.

import assert from "node:assert/strict";
import { test } from "node:test";
import { amplifyOutputs, storagePaths } from "../src/outputs.js";

const ALL = ["CREATE_AND_UPDATE", "DELETE", "READ"];

test("nothing granted, no path", () => {
  assert.deepEqual(storagePaths({ authenticated: [] }), {});
  assert.deepEqual(storagePaths(undefined), {});
});

test("authenticated everything, guests read", () => {
  assert.deepEqual(storagePaths({ authenticated: ALL, unAuthenticated: ["READ"] }), {
    "public/*": { guest: ["get", "list"], authenticated: ["get", "list", "write", "delete"] },
    "protected/{entity_id}/*": { guest: ["get", "list"], authenticated: ["get", "list"], entityidentity: ["get", "list", "write", "delete"] },
    "private/{entity_id}/*": { entityidentity: ["get", "list", "write", "delete"] },
    "uploads/*": { authenticated: ["write"] },
  });
});

test("write without read lists nothing and reads nothing", () => {
  assert.deepEqual(storagePaths({ authenticated: ["CREATE_AND_UPDATE"], unAuthenticated: ["CREATE_AND_UPDATE", "DELETE"] }), {
    "public/*": { guest: ["write", "delete"], authenticated: ["write"] },
    "protected/{entity_id}/*": { entityidentity: ["write"] },
    "private/{entity_id}/*": { entityidentity: ["write"] },
    "uploads/*": { guest: ["write"], authenticated: ["write"] },
  });
});

test("guests never own protected or private paths", () => {
  const paths = storagePaths({ authenticated: [], unAuthenticated: ALL });
  assert.deepEqual(Object.keys(paths), ["public/*", "protected/{entity_id}/*", "uploads/*"]);
  assert.deepEqual(paths["protected/{entity_id}/*"], { guest: ["get", "list"] });
});

test("duplicates and order do not matter", () => {
  assert.deepEqual(
    storagePaths({ authenticated: ["READ", "DELETE", "READ"] }),
    storagePaths({ authenticated: ["DELETE", "READ"] }),
  );
});

test("outputs: the first resource by name is the default bucket", () => {
  const out = amplifyOutputs(
    [
      { name: "zeta", bucketName: "b-zeta", region: "eu-west-1", permissions: { authenticated: ["READ"] } },
      { name: "alpha", bucketName: "b-alpha", region: "", permissions: { authenticated: [] } },
    ],
    "us-east-1",
  );
  assert.equal(out.version, "1.3");
  assert.equal(out.storage.bucket_name, "b-alpha");
  assert.equal(out.storage.aws_region, "us-east-1");
  assert.deepEqual(out.storage.buckets.map((b) => [b.name, b.bucket_name, b.aws_region]), [
    ["alpha", "b-alpha", "us-east-1"],
    ["zeta", "b-zeta", "eu-west-1"],
  ]);
  assert.deepEqual(out.storage.buckets[0].paths, {});
});
