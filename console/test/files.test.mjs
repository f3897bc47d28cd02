// Drives the console's file browser in Debian's Chromium with playwright-core,
// at a desktop and a phone viewport, against a server on its embedded S3
// gateway. Run by TestFileBrowserInBrowser (console_test.go), which starts
// the server, creates the storage resource "photos" in AB_APP/dev and passes:
//
//   AB_ENDPOINT       the API's base URL (the console is AB_ENDPOINT/console/)
//   AB_KEY_ID         an administrator's key, and AB_SECRET its secret
//   AB_READER_KEY_ID  a key that may list and download in AB_APP/dev but not
//                     upload or delete, and AB_READER_SECRET its secret
//   AB_APP, AB_BUCKET the app and the resource's bucket
//   AB_S3             the embedded gateway's S3 endpoint, and AB_S3_KEY_ID and
//                     AB_S3_SECRET its root key (profile embedded-s3 of the
//                     data directory's credentials file), to fill the bucket
//                     and check what the browser did behind its back
//   AB_ARTIFACTS      the folder for screenshots
//   CHROMIUM          the browser binary (/usr/bin/chromium)
//
// S3 requests are intercepted only to inject faults a real gateway does not
// produce on demand (a part whose first PUT fails, parts held back so an
// upload is caught mid-way) and one delete answer with a failure in it.
// Every other byte goes to the real gateway.

import assert from "node:assert/strict";
import { createHash, createHmac, randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { crc32, deflateSync } from "node:zlib";
import { SignatureV4 } from "@smithy/signature-v4";
import {
  ErrorWatch,
  checkScreen,
  disabledWithReason,
  env,
  inBrowser,
  logger,
  notAllowed,
  runViewports,
  shot as saveShot,
  signInWithKey,
} from "./browser.mjs";

const ENDPOINT = env("AB_ENDPOINT").replace(/\/+$/, "");
const KEY_ID = env("AB_KEY_ID");
const SECRET = env("AB_SECRET");
const READER_KEY_ID = env("AB_READER_KEY_ID");
const READER_SECRET = env("AB_READER_SECRET");
const APP = env("AB_APP");
const BUCKET = env("AB_BUCKET");
const S3 = env("AB_S3").replace(/\/+$/, "");
const ARTIFACTS = env("AB_ARTIFACTS");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";

const MiB = 1024 * 1024;
const NOTE = "Hello from the file browser.\nSecond line.\n";
const log = logger("files.test");

// ---------------------------------------------------------------- S3 with the gateway's root key

class Sha256 {
  constructor(secret) {
    this.h = secret ? createHmac("sha256", secret) : createHash("sha256");
  }
  update(d) {
    this.h.update(typeof d === "string" ? Buffer.from(d) : d);
  }
  async digest() {
    return new Uint8Array(this.h.digest());
  }
}

const signer = new SignatureV4({
  service: "s3",
  region: "us-east-1",
  credentials: { accessKeyId: env("AB_S3_KEY_ID"), secretAccessKey: env("AB_S3_SECRET") },
  sha256: Sha256,
  uriEscapePath: false,
});

/** s3 makes one signed request to the bucket; key is already URL-safe. */
async function s3(method, key, { query = {}, body, headers = {} } = {}) {
  const u = new URL(`${S3}/${BUCKET}${key ? `/${key}` : ""}`);
  const payload = body === undefined ? "" : body;
  const signed = await signer.sign({
    method,
    protocol: u.protocol,
    hostname: u.hostname,
    port: Number(u.port),
    path: u.pathname,
    query,
    headers: { host: u.host, "x-amz-content-sha256": createHash("sha256").update(payload).digest("hex"), ...headers },
    body: payload,
  });
  const sent = { ...signed.headers };
  delete sent.host;
  const qs = new URLSearchParams(query).toString();
  const resp = await fetch(`${u}${qs ? `?${qs}` : ""}`, { method, headers: sent, body: body === undefined ? undefined : body });
  const buf = Buffer.from(await resp.arrayBuffer());
  if (resp.status >= 300 && !(method === "HEAD" && resp.status === 404)) {
    throw new Error(`S3 ${method} ${key}: ${resp.status} ${buf.toString()}`);
  }
  return { status: resp.status, headers: resp.headers, body: buf };
}

const putObject = (key, body, type) => s3("PUT", key, { body, headers: { "content-type": type } });

/** uploadsUnder lists the keys of the incomplete multipart uploads under prefix. */
async function uploadsUnder(prefix) {
  const r = await s3("GET", "", { query: { uploads: "", prefix } });
  return [...r.body.toString().matchAll(/<Key>([^<]*)<\/Key>/g)].map((m) => m[1]);
}

async function keysUnder(prefix) {
  const r = await s3("GET", "", { query: { "list-type": "2", prefix } });
  return [...r.body.toString().matchAll(/<Key>([^<]*)<\/Key>/g)].map((m) => m[1]);
}

/** png is a w×h gradient as a PNG file. */
function png(w, h) {
  const raw = Buffer.alloc((w * 3 + 1) * h);
  for (let y = 0; y < h; y++) {
    raw[y * (w * 3 + 1)] = 0;
    for (let x = 0; x < w; x++) {
      const o = y * (w * 3 + 1) + 1 + x * 3;
      raw[o] = (x * 255) / w;
      raw[o + 1] = (y * 255) / h;
      raw[o + 2] = 160;
    }
  }
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(td));
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(raw)),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

const sha = (b) => createHash("sha256").update(b).digest("hex");

async function fill(P) {
  const puts = [];
  for (let i = 0; i < 60; i++) puts.push(() => putObject(`${P}many/item-${String(i).padStart(3, "0")}.txt`, `item ${i}\n`, "text/plain"));
  puts.push(() => putObject(`${P}pic.png`, png(64, 48), "image/png"));
  puts.push(() => putObject(`${P}notes.txt`, NOTE, "text/plain"));
  for (const k of ["old/a.txt", "old/b.txt", "old/sub/c.txt", "fail/x.txt", "fail/y.txt"]) puts.push(() => putObject(`${P}${k}`, k, "text/plain"));
  for (let i = 0; i < puts.length; i += 10) await Promise.all(puts.slice(i, i + 10).map((f) => f()));
}

// ---------------------------------------------------------------- the scenario

async function signIn(page, keyId, secret) {
  await page.goto(`${ENDPOINT}/console/`);
  await signInWithKey(page, keyId, secret);
  await page.getByRole("heading", { name: "Apps and environments" }).waitFor();
}

/** progressOf reads an upload's progress bar and state. */
const progressOf = (page, key) =>
  page.locator(`li.upload[data-key="${key}"]`).evaluate((li) => {
    const bar = li.querySelector("progress");
    return { value: bar.value, max: bar.max, state: li.dataset.state, text: li.querySelector(".upload-status").textContent };
  });

const waitUpload = (page, key, state) => page.locator(`li.upload[data-key="${key}"][data-state="${state}"]`).waitFor({ timeout: 120_000 });

async function scenario(vp) {
  const P = `public/${vp.name}/`;
  await fill(P);
  log(`${vp.name}: bucket filled under ${P}`);
  const options = { permissions: ["clipboard-read", "clipboard-write"] };
  await inBrowser(CHROMIUM, vp, options, join(ARTIFACTS, `files-${vp.name}-failure.png`), async (page) => {
    let n = 0;
    const shot = (name, opts) => saveShot(page, join(ARTIFACTS, `files-${vp.name}-${String(++n).padStart(2, "0")}-${name}.png`), opts);
    const watch = new ErrorWatch(page, log);
    await signIn(page, KEY_ID, SECRET);

    // ---- from the environment's storage resource to its files
    await page.goto(`${ENDPOINT}/console/#/apps/${APP}/envs/dev`);
    const card = page.getByRole("article", { name: "photos" });
    await card.waitFor();
    await card.getByRole("link", { name: "Browse files of photos" }).click();
    await page.getByRole("heading", { name: "Files of photos", level: 1 }).waitFor();
    await page.getByText(BUCKET, { exact: true }).waitFor();
    assert.equal(await page.getByLabel("Access level").inputValue(), "public");
    const rows = page.locator("table.objects tbody tr");
    await page.getByRole("button", { name: `${vp.name}/`, exact: true }).click();
    const notesRow = page.locator(`tr[data-key="${P}notes.txt"]`);
    await notesRow.waitFor();
    assert.deepEqual(
      await rows.evaluateAll((trs) => trs.map((tr) => tr.dataset.folder || tr.dataset.key)),
      [`${P}fail/`, `${P}many/`, `${P}old/`, `${P}notes.txt`, `${P}pic.png`],
      "folders first, then files, by name",
    );
    assert.match(await notesRow.textContent(), /notes\.txt.*B.*text\/plain/);

    // ---- a thumbnail in the list, the image larger on click
    const picRow = page.locator(`tr[data-key="${P}pic.png"]`);
    await picRow.scrollIntoViewIfNeeded(); // thumbnails are signed once their row is in view
    await page.waitForFunction((key) => {
      const img = document.querySelector(`tr[data-key="${key}"] img.thumb`);
      return img?.complete && img.naturalWidth > 0;
    }, `${P}pic.png`);
    assert.ok((await picRow.locator("img.thumb").getAttribute("src")).startsWith(`${S3}/${BUCKET}/${P}pic.png?`), "thumbnail from a presigned URL");
    await checkScreen(page, "files");
    await shot("files");
    await page.getByRole("button", { name: "Preview pic.png" }).click();
    const sheet = page.getByRole("dialog", { name: "Preview of pic.png" });
    const big = sheet.getByRole("img", { name: "pic.png, full size" });
    await big.waitFor();
    await page.waitForFunction((el) => el.complete && el.naturalWidth === 64, await big.elementHandle());
    await checkScreen(page, "image preview");
    await shot("preview-image", { fullPage: false });
    await page.keyboard.press("Escape");
    await sheet.waitFor({ state: "hidden" });

    // ---- a small text file's contents
    await notesRow.getByRole("button", { name: "notes.txt", exact: true }).click();
    const textSheet = page.getByRole("dialog", { name: "Preview of notes.txt" });
    const pre = textSheet.getByLabel("Contents of notes.txt");
    await pre.waitFor();
    assert.equal(await pre.textContent(), NOTE);
    await page.keyboard.press("Escape");
    await textSheet.waitFor({ state: "hidden" });

    // ---- pages of 50 with S3's continuation token, sorting, a prefix filter
    await page.getByRole("button", { name: "many/", exact: true }).click();
    await page.locator(`tr[data-key="${P}many/item-000.txt"]`).waitFor();
    await page.getByLabel("Per page").selectOption("50");
    const info = page.locator(".page-info");
    await page.getByText("Page 1 · 50 items, more on the next page").waitFor();
    assert.equal(await page.locator("tr[data-key]").count(), 50);
    await page.getByRole("button", { name: "Next page" }).click();
    await page.getByText("Page 2 · 10 items").waitFor();
    await page.locator(`tr[data-key="${P}many/item-059.txt"]`).waitFor();
    assert.equal(await page.getByRole("button", { name: "Next page" }).isDisabled(), true, "the last page has no next");
    await checkScreen(page, "page 2");
    await shot("page-2");
    await page.getByRole("button", { name: "Previous page" }).click();
    await page.getByText("Page 1 · 50 items, more on the next page").waitFor();
    await page.locator(`tr[data-key="${P}many/item-000.txt"]`).waitFor();
    await page.getByRole("button", { name: "Name" }).click();
    assert.equal(await page.locator("th[aria-sort]").getAttribute("aria-sort"), "descending");
    assert.equal(await page.locator("tr[data-key]").first().getAttribute("data-key"), `${P}many/item-049.txt`, "sorted by name, descending");
    await page.getByLabel("Filter by name prefix").fill("item-05");
    await page.getByLabel("Filter by name prefix").press("Enter");
    await page.getByText("Page 1 · 10 items", { exact: true }).waitFor();
    assert.equal(await page.locator("tr[data-key]").count(), 10);
    log(`${vp.name}: paging, sorting and filtering ok (${await info.textContent()})`);
    await page.getByRole("navigation", { name: "Folder" }).getByRole("button", { name: vp.name }).click();
    await notesRow.waitFor();

    // ---- upload a small file and a 20 MiB one (multipart) at once; the
    //      first PUT of part 2 fails, part 3 is held until progress shows
    const bigBody = randomBytes(20 * MiB);
    const small = "small file\n";
    const partTries = new Map();
    let releasePart3;
    const part3Released = new Promise((r) => (releasePart3 = r));
    let part3Arrived;
    const part3Held = new Promise((r) => (part3Arrived = r));
    const held = []; // routes of the cancelled upload, aborted at the end
    await page.route(
      (url) => url.origin === new URL(S3).origin,
      async (route) => {
        const req = route.request();
        const u = new URL(req.url());
        const part = u.searchParams.get("partNumber");
        if (req.method() !== "PUT" || !part) return route.continue();
        const key = decodeURIComponent(u.pathname.slice(BUCKET.length + 2));
        const tag = `${key}#${part}`;
        partTries.set(tag, (partTries.get(tag) || 0) + 1);
        if (key === `${P}big.bin` && part === "2" && partTries.get(tag) === 1) return route.abort("failed");
        if (key === `${P}big.bin` && part === "3") {
          part3Arrived();
          await part3Released;
        }
        if (key === `${P}cancel-me.bin` && part !== "1") {
          held.push(route);
          return;
        }
        return route.continue();
      },
    );
    watch.expectNetworkFailure(/partNumber=2/);
    const [chooser] = await Promise.all([page.waitForEvent("filechooser"), page.getByRole("button", { name: "Upload files…" }).click()]);
    await chooser.setFiles([
      { name: "small.txt", mimeType: "text/plain", buffer: Buffer.from(small) },
      { name: "big.bin", mimeType: "application/octet-stream", buffer: bigBody },
    ]);
    await waitUpload(page, `${P}small.txt`, "done");
    await part3Held;
    await page.waitForFunction(
      (key) => {
        const li = document.querySelector(`li.upload[data-key="${key}"]`);
        return li?.dataset.state === "uploading" && li.querySelector("progress").value >= 16 * 1024 * 1024;
      },
      `${P}big.bin`,
    );
    const mid = await progressOf(page, `${P}big.bin`);
    log(`${vp.name}: mid-upload progress ${mid.value}/${mid.max}: ${mid.text}`);
    assert.equal(mid.max, 20 * MiB);
    assert.match(mid.text, /of 20 MiB \(\d+%\) · multipart, 3 parts/);
    await checkScreen(page, "uploading");
    await shot("uploading");
    releasePart3();
    await waitUpload(page, `${P}big.bin`, "done");
    const done = await progressOf(page, `${P}big.bin`);
    assert.equal(done.value, 20 * MiB);
    assert.equal(done.text, "Uploaded, 20 MiB in 3 parts.");
    assert.equal(partTries.get(`${P}big.bin#2`), 2, "the failed part was tried again");
    assert.equal(partTries.get(`${P}big.bin#1`), 1);
    const got = await s3("GET", `${P}big.bin`);
    assert.equal(got.body.length, 20 * MiB);
    assert.equal(sha(got.body), sha(bigBody), "the parts joined in order");
    assert.equal((await s3("GET", `${P}small.txt`)).body.toString(), small);
    await page.locator(`tr[data-key="${P}big.bin"]`).waitFor();
    await page.locator(`tr[data-key="${P}small.txt"]`).waitFor();
    await shot("uploaded");

    // ---- drag and drop a 20 MiB file; cancel it mid-way: the multipart
    //      upload is aborted, none is left in the bucket
    const cancelKey = `${P}cancel-me.bin`;
    const dt = await page.evaluateHandle(() => {
      const d = new DataTransfer();
      d.items.add(new File([new Uint8Array(20 * 1024 * 1024).fill(7)], "cancel-me.bin", { type: "application/octet-stream" }));
      return d;
    });
    await page.dispatchEvent("section.files", "dragenter", { dataTransfer: dt });
    await page.dispatchEvent("section.files", "dragover", { dataTransfer: dt });
    assert.equal(await page.locator("section.files.dragging").count(), 1, "the drop zone shows");
    await shot("drop", { fullPage: false });
    await page.dispatchEvent("section.files", "drop", { dataTransfer: dt });
    await page.waitForFunction(
      (key) => document.querySelector(`li.upload[data-key="${key}"] progress`)?.value >= 8 * 1024 * 1024,
      cancelKey,
    );
    assert.deepEqual(await uploadsUnder(P), [cancelKey], "the multipart upload exists while it runs");
    await page.getByRole("button", { name: "Cancel upload of cancel-me.bin" }).click();
    await waitUpload(page, cancelKey, "cancelled");
    assert.equal((await progressOf(page, cancelKey)).text, "Cancelled: the upload was aborted, nothing is left in the bucket.");
    for (const r of held) await r.abort().catch(() => {});
    assert.deepEqual(await uploadsUnder(P), [], "no incomplete multipart upload is left");
    assert.equal((await s3("HEAD", cancelKey)).status, 404, "no object either");
    await page.unroute((url) => url.origin === new URL(S3).origin).catch(() => {});
    await page.unrouteAll({ behavior: "ignoreErrors" });
    log(`${vp.name}: uploads ok`);

    // ---- share: a presigned GET for a day, copied, fetched without credentials
    await notesRow.getByRole("button", { name: "Share notes.txt" }).click();
    const share = page.getByRole("dialog", { name: "Share notes.txt" });
    await share.getByLabel("Link expires after").selectOption("86400");
    await share.getByRole("button", { name: "Create link" }).click();
    await share.getByText("Copied to the clipboard.").waitFor();
    const link = await share.getByLabel("Share link").inputValue();
    assert.ok(link.startsWith(`${S3}/${BUCKET}/${P}notes.txt?`), link);
    assert.match(link, /X-Amz-Expires=86400/);
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), link, "the link is on the clipboard");
    const anon = await fetch(link);
    assert.equal(anon.status, 200);
    assert.equal(await anon.text(), NOTE);
    await checkScreen(page, "share");
    await shot("share", { fullPage: false });
    await page.keyboard.press("Escape");

    // ---- download
    const [download] = await Promise.all([page.waitForEvent("download"), notesRow.getByRole("button", { name: "Download notes.txt" }).click()]);
    assert.equal(download.suggestedFilename(), "notes.txt");
    assert.equal(await readFile(await download.path(), "utf8"), NOTE);

    // ---- delete a file, then a folder (typed confirmation)
    await notesRow.getByRole("button", { name: "Delete notes.txt" }).click();
    const confirm = page.locator("dialog#confirm");
    await confirm.getByRole("button", { name: "Delete", exact: true }).click();
    await notesRow.waitFor({ state: "detached" });
    await page.locator(".notice").getByText("Deleted notes.txt: 1 object deleted.").waitFor();
    assert.equal((await s3("HEAD", `${P}notes.txt`)).status, 404);

    await page.getByRole("button", { name: "Delete folder old/" }).click();
    const confirmFolder = confirm.getByRole("button", { name: "Delete folder" });
    assert.equal(await confirmFolder.isDisabled(), true, "a folder delete needs the typed name");
    await confirm.getByLabel(/^Type .* to confirm$/).fill("old");
    await checkScreen(page, "delete folder");
    await shot("delete-folder", { fullPage: false });
    await confirmFolder.click();
    await page.locator(".notice").getByText("Folder old/: 3 objects deleted.").waitFor();
    await page.locator(`tr[data-folder="${P}old/"]`).waitFor({ state: "detached" });
    assert.deepEqual(await keysUnder(`${P}old/`), []);

    // A key the target refuses to delete is reported by name: the answer
    // of the real delete gets one refusal added, which no gateway gives on
    // demand for its root key.
    await page.route(`${ENDPOINT}/console-api/**/objects/delete`, async (route) => {
      const resp = await route.fetch();
      const body = await resp.json();
      body.deleted -= 1;
      body.errors.push({ key: `${P}fail/y.txt`, code: "AccessDenied", message: "Access Denied" });
      await route.fulfill({ response: resp, json: body });
    });
    await page.getByRole("button", { name: "Delete folder fail/" }).click();
    await confirm.getByLabel(/^Type .* to confirm$/).fill("fail");
    await confirm.getByRole("button", { name: "Delete folder" }).click();
    await page.locator(".notice").getByText("Folder fail/: 1 object deleted, 1 not deleted.").waitFor();
    const failures = page.locator("ul.delete-failures li");
    assert.deepEqual(await failures.allTextContents(), [`${P}fail/y.txt: AccessDenied: Access Denied`]);
    await checkScreen(page, "delete failure");
    await shot("delete-failure");
    await page.unrouteAll({ behavior: "ignoreErrors" });

    // ---- signing out mid-upload aborts the multipart upload first, while
    //      the key still signs: nothing is left in the bucket
    const leaveKey = `${P}leave-me.bin`;
    const leftHeld = [];
    await page.route(
      (url) => url.origin === new URL(S3).origin,
      (route) => {
        const u = new URL(route.request().url());
        const part = u.searchParams.get("partNumber");
        if (route.request().method() === "PUT" && part && part !== "1") {
          leftHeld.push(route);
          return;
        }
        return route.continue();
      },
    );
    const [leaveChooser] = await Promise.all([page.waitForEvent("filechooser"), page.getByRole("button", { name: "Upload files…" }).click()]);
    await leaveChooser.setFiles([{ name: "leave-me.bin", mimeType: "application/octet-stream", buffer: Buffer.alloc(20 * MiB, 5) }]);
    await page.waitForFunction(
      (key) => document.querySelector(`li.upload[data-key="${key}"] progress`)?.value >= 8 * 1024 * 1024,
      leaveKey,
    );
    assert.deepEqual(await uploadsUnder(P), [leaveKey], "the multipart upload exists while it runs");
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByRole("heading", { name: "Sign in", exact: true }).waitFor();
    for (const r of leftHeld) await r.abort().catch(() => {});
    assert.deepEqual(await uploadsUnder(P), [], "signing out aborted the upload under way");
    await page.unrouteAll({ behavior: "ignoreErrors" });

    // ---- a key that may browse and download but neither upload nor delete
    await signIn(page, READER_KEY_ID, READER_SECRET);
    await page.goto(`${ENDPOINT}/console/#/apps/${APP}/envs/dev/storage/photos/files`);
    await page.getByRole("heading", { name: "Files of photos", level: 1 }).waitFor();
    await page.getByRole("button", { name: `${vp.name}/`, exact: true }).click();
    const bigRow = page.locator(`tr[data-key="${P}big.bin"]`);
    await bigRow.waitFor();
    // Marked as the rest of the console marks what a key may not do.
    const mayNotUpload = notAllowed("PresignConsoleObjectUpload", "environment");
    const mayNotDelete = notAllowed("DeleteConsoleObjects", "environment");
    await disabledWithReason(page.getByRole("button", { name: "Upload files…" }), mayNotUpload);
    assert.equal(await page.locator(".drop-hint").textContent(), mayNotUpload, "the drop zone says why too");
    const del = bigRow.getByRole("button", { name: "Delete big.bin" });
    await disabledWithReason(del, mayNotDelete);
    await disabledWithReason(page.getByRole("button", { name: "Delete folder many/" }), mayNotDelete);
    assert.equal(await bigRow.getByRole("button", { name: "Download big.bin" }).getAttribute("aria-disabled"), null);
    // It stays focusable, so a keyboard user learns why it does nothing.
    await del.focus();
    await page.keyboard.press("Enter");
    await page.locator(".notice").getByText(mayNotDelete, { exact: true }).waitFor();
    assert.equal(await page.locator("dialog#confirm[open]").count(), 0, "nothing to confirm");
    await checkScreen(page, "reader");
    await shot("reader");

    watch.check(`at ${vp.name}`);
    log(`${vp.name}: ok`);
  });
}

await runViewports("files.test", ARTIFACTS, scenario);
