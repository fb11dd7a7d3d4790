// The console's QR encoder (www/console/qr.js) against vectors made by another encoder (Python's
// `qrcode` 8.2, byte mode, forced mask; see qr-vectors.json's "generator"). No browser needed.

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import vm from "node:vm";
import { ROOT } from "./harness.mjs";

const context = vm.createContext({ TextEncoder });
vm.runInContext(fs.readFileSync(path.join(ROOT, "www/console/qr.js"), "utf8"), context);
const QR = context.MlinkQR;
const VECTORS = JSON.parse(fs.readFileSync(path.join(ROOT, "tests/browser/qr-vectors.json"), "utf8"));
const ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_/:.?=&";

// Array.from: arrays of this realm (the encoder's live in the vm context's).
const bits = (modules) => Array.from(modules, (row) => Array.from(row, (dark) => (dark ? "1" : "0")).join(""));
const fromHex = (rows, size) =>
  rows.map((hex) => [...hex].map((d) => parseInt(d, 16).toString(2).padStart(4, "0")).join("").slice(0, size));
const sweepText = (length, version) =>
  Array.from({ length }, (_, i) => ALPHABET[(i * 7 + version) % ALPHABET.length]).join("");

test("module matrices equal the reference's, mask by mask", () => {
  assert.ok(VECTORS.matrices.length >= 10);
  for (const v of VECTORS.matrices) {
    const code = QR.encode(v.text, v.level, v.mask);
    const what = `${JSON.stringify(v.text.slice(0, 30))} ${v.level} mask ${v.mask}`;
    assert.equal(code.version, v.version, what);
    assert.equal(code.size, v.version * 4 + 17, what);
    assert.deepEqual(bits(code.modules), fromHex(v.rows, code.size), what);
  }
});

test("every version 1-20 at levels L and M, filled to capacity, matches the reference", () => {
  assert.equal(VECTORS.sweep.length, 40);
  for (const v of VECTORS.sweep) {
    const text = sweepText(v.length, v.version);
    const code = QR.encode(text, v.level, v.mask);
    const what = `version ${v.version}-${v.level}, ${v.length} bytes`;
    assert.equal(code.version, v.version, what);
    const digest = createHash("sha256").update(bits(code.modules).join("\n")).digest("hex");
    assert.equal(digest, v.sha256, what);
    // One byte more needs the next version.
    if (v.version < 20) assert.equal(QR.encode(text + "x", v.level, v.mask).version, v.version + 1, what);
  }
});

test("the automatic mask is the one with the lowest penalty", () => {
  const texts = ["a", "https://t.me/MlinkBot?start=abc", "http://127.0.0.1:8787/mlink/" + "Ab0_-".repeat(19), "z".repeat(250)];
  for (const text of texts) {
    for (const level of ["L", "M"]) {
      const chosen = QR.encode(text, level);
      const scores = Array.from({ length: 8 }, (_, mask) => QR.penalty(QR.encode(text, level, mask).modules));
      assert.equal(scores[chosen.mask], Math.min(...scores), `${text.slice(0, 20)} ${level}: ${scores}`);
      assert.deepEqual(bits(chosen.modules), bits(QR.encode(text, level, chosen.mask).modules));
    }
  }
});

test("URLs up to 858 bytes fit (version 20-L); longer text is refused", () => {
  assert.equal(QR.encode("x".repeat(858), "L").version, 20);
  assert.throws(() => QR.encode("x".repeat(859), "L"), { name: "RangeError" });
  // UTF-8: Cyrillic letters take two bytes each.
  assert.equal(QR.encode("я".repeat(8), "L").version, QR.encode("x".repeat(16), "L").version);
});
