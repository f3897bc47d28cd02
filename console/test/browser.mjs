// What the console's browser scenarios share: the viewports, launching
// Debian's Chromium through playwright-core, the watch on console errors,
// signing in with a key, the screen check (no sideways scrolling, every
// control labelled), the check of an action disabled with its reason, and
// screenshots.

import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

export const VIEWPORTS = [
  { name: "desktop", width: 1280, height: 800 },
  { name: "phone", width: 390, height: 844 },
];

/** env is a required environment variable's value. */
export function env(name) {
  const v = process.env[name];
  if (!v) throw new Error(`environment variable ${name} is not set`);
  return v;
}

/** logger prints lines the Go test copies into its log, tagged with the scenario. */
export const logger =
  (tag) =>
  (...a) =>
    console.log(`[${tag}] ${a.join(" ")}`);

/**
 * launch starts Chromium with a fresh profile at the viewport; close()
 * ends it and removes the profile.
 */
export async function launch(executablePath, vp, { permissions = [] } = {}) {
  const userDataDir = await mkdtemp(join(tmpdir(), "console-chromium-"));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
    viewport: { width: vp.width, height: vp.height },
    acceptDownloads: true,
    permissions,
  });
  const page = context.pages()[0] || (await context.newPage());
  return {
    context,
    page,
    async close() {
      await context.close();
      await rm(userDataDir, { recursive: true, force: true });
    },
  };
}

/** A page's console errors, and the refusals the test provokes on purpose. */
export class ErrorWatch {
  constructor(page, log) {
    this.errors = [];
    this.allowed = []; // predicates the next browser log lines may match, in order
    page.on("pageerror", (err) => this.errors.push(`pageerror: ${err.message}`));
    page.on("console", (msg) => {
      if (msg.type() !== "error") return;
      const text = msg.text();
      const url = msg.location()?.url || "";
      if (this.allowed.length > 0 && this.allowed[0](text, url)) {
        this.allowed.shift();
        log(`expected browser network log: ${text} (${url})`);
        return;
      }
      this.errors.push(`console.error: ${text} ${url}`);
    });
  }
  /** expect allows one network log line for a refusal (status, path) the next action provokes. */
  expect(status, path) {
    this.allowed.push((text, url) => {
      const m = text.match(/^Failed to load resource: the server responded with a status of (\d+)/);
      return m !== null && Number(m[1]) === status && new URL(url).pathname === path;
    });
  }
  /** expectNetworkFailure allows one log line for a request the test made fail, to a URL matching re. */
  expectNetworkFailure(re) {
    this.allowed.push((text, url) => /^Failed to load resource: net::/.test(text) && re.test(url));
  }
  check(where) {
    assert.deepEqual(this.errors, [], `console errors ${where}`);
  }
}

/** shot saves a screenshot of page to file. */
export async function shot(page, file, { fullPage = true } = {}) {
  await page.screenshot({ path: file, fullPage });
  console.log(`screenshot ${file}`);
}

/** checkScreen: no horizontal scrolling, and every control has a label. */
export async function checkScreen(page, where) {
  const problems = await page.evaluate(() => {
    const out = [];
    const doc = document.documentElement;
    if (doc.scrollWidth > window.innerWidth + 1) out.push(`page is ${doc.scrollWidth}px wide in a ${window.innerWidth}px viewport`);
    for (const el of document.querySelectorAll("input, select, textarea, button, summary, a[href]")) {
      if (el.closest("[hidden]") || el.type === "hidden") continue;
      const named =
        el.getAttribute("aria-label") ||
        el.getAttribute("aria-labelledby") ||
        (el.labels && el.labels.length > 0) ||
        (["BUTTON", "SUMMARY", "A"].includes(el.tagName) && el.textContent.trim());
      if (!named) out.push(`unlabelled ${el.tagName.toLowerCase()} ${el.outerHTML.slice(0, 80)}`);
    }
    return out;
  });
  assert.deepEqual(problems, [], `screen check ${where}`);
}

/**
 * signInWithKey fills the sign-in page's access key form and submits it;
 * the caller waits for what should follow (the overview, or a refusal in
 * the form's alert). The page has a second form, for an invitation, so the
 * fields and the button are looked up within this one.
 */
export async function signInWithKey(page, keyId, secret) {
  const form = page.getByRole("form", { name: "With an access key" });
  await form.getByLabel("Access key ID").fill(keyId);
  await form.getByLabel("Secret access key").fill(secret);
  await form.getByRole("button", { name: "Sign in", exact: true }).click();
}

/** notAllowed is the reason the console gives on an action the key may not take (src/dom.js). */
export const notAllowed = (operation, where) => `Your key may not amplifybackend:${operation} on this ${where}.`;

/**
 * disabledWithReason checks that the control el is an action the key may
 * not take, marked the console's way: aria-disabled (so it stays
 * focusable), the reason as its title and as its accessible description.
 */
export async function disabledWithReason(el, reason) {
  assert.equal(await el.getAttribute("aria-disabled"), "true", `disabled: ${reason}`);
  assert.equal(await el.getAttribute("title"), reason, "the reason on hover");
  const described = await el.evaluate((b) =>
    (b.getAttribute("aria-describedby") || "").split(" ").map((id) => document.getElementById(id)?.textContent).join(" "),
  );
  assert.ok(described.includes(reason), `the reason as the description (${described})`);
}

/**
 * inBrowser launches Chromium at vp, runs fn(page, context), saves a
 * screenshot of page to failureFile when it throws, and closes the browser
 * in any case. context opens more tabs, each with its own sessionStorage.
 */
export async function inBrowser(executablePath, vp, options, failureFile, fn) {
  const browser = await launch(executablePath, vp, options);
  try {
    await fn(browser.page, browser.context);
  } catch (err) {
    await browser.page.screenshot({ path: failureFile, fullPage: true }).catch(() => {});
    throw err;
  } finally {
    await browser.close();
  }
}

/**
 * runViewports runs scenario at every viewport, each to its end whatever
 * the other did, prints the closing "N passed, N failed" line and exits
 * non-zero when one failed.
 */
export async function runViewports(tag, artifacts, scenario) {
  await mkdir(artifacts, { recursive: true });
  let failed = 0;
  for (const vp of VIEWPORTS) {
    try {
      await scenario(vp);
    } catch (err) {
      failed++;
      console.error(`[${tag}] ${vp.name} FAILED: ${err.stack || err}`);
    }
  }
  console.log(`${VIEWPORTS.length - failed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}
