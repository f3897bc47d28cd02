// Unit tests of the file browser's pure parts (src/files.js): how a file is
// cut into multipart parts, and how sizes are shown. Run with node's test
// runner by TestNodeUnits (console_test.go).

import assert from "node:assert/strict";
import test from "node:test";
import { MULTIPART_THRESHOLD, formatSize, partPlan } from "../src/files.js";

const MiB = 1024 * 1024;

test("a file above the threshold is cut into 8 MiB parts, the last smaller", () => {
  assert.equal(MULTIPART_THRESHOLD, 8 * MiB);
  assert.deepEqual(partPlan(20 * MiB), { partSize: 8 * MiB, count: 3 });
  assert.deepEqual(partPlan(16 * MiB), { partSize: 8 * MiB, count: 2 });
  assert.deepEqual(partPlan(16 * MiB + 1), { partSize: 8 * MiB, count: 3 });
});

test("a file too large for 10,000 parts of 8 MiB gets larger parts", () => {
  for (const size of [80_000 * MiB + 1, 1024 * 1024 * MiB, 5 * 1024 * 1024 * MiB]) {
    const { partSize, count } = partPlan(size);
    assert.ok(count <= 10_000, `${size}: ${count} parts`);
    assert.ok(partSize * count >= size && partSize * (count - 1) < size, `${size}: ${partSize} × ${count}`);
    assert.ok(partSize >= 5 * MiB && partSize <= 5 * 1024 * MiB, `${size}: part of ${partSize}`);
  }
});

test("sizes are shown 1024-based, with one decimal below 10", () => {
  assert.equal(formatSize(0), "0 B");
  assert.equal(formatSize(1023), "1023 B");
  assert.equal(formatSize(1536), "1.5 KiB");
  assert.equal(formatSize(20 * MiB), "20 MiB");
  assert.equal(formatSize(6.1 * 1024), "6.1 KiB");
  assert.equal(formatSize(3 * 1024 * 1024 * MiB), "3.0 TiB");
});
