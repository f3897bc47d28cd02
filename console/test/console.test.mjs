// Drives the amplifybackendd console in Debian's Chromium with playwright-core,
// at a desktop (1280×800) and a phone (390×844) viewport. Run by
// TestConsoleInBrowser (console_test.go), which starts the server and passes:
//
//   AB_ENDPOINT    the API's base URL (the console is AB_ENDPOINT/console/)
//   AB_KEY_ID      an access key the server accepts, and AB_SECRET its secret
//   AB_CONTROL     a URL with /pause and /resume, stalling the server's S3/IAM target
//   AB_RUN         a short lowercase prefix for app ids and bucket names
//   AB_ARTIFACTS   the folder for screenshots
//   CHROMIUM       the browser binary (/usr/bin/chromium)
//
// Every step asserts; the first failure ends the run with a non-zero exit.
// Console errors and page errors fail the run, except the browser's own
// network log line for the two refusals the test provokes on purpose (a
// wrong secret, a bad bucket name), which must appear exactly as expected.

import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { ErrorWatch, checkScreen, launch, logger, runViewports, shot as saveShot } from "./browser.mjs";

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`environment variable ${name} is not set`);
  return v;
};
const ENDPOINT = env("AB_ENDPOINT").replace(/\/+$/, "");
const KEY_ID = env("AB_KEY_ID");
const SECRET = env("AB_SECRET");
const CONTROL = env("AB_CONTROL").replace(/\/+$/, "");
const RUN = env("AB_RUN");
const ARTIFACTS = env("AB_ARTIFACTS");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";

const JOB_TIMEOUT = 60_000;

const log = logger("console.test");

async function control(action) {
  const r = await fetch(`${CONTROL}/${action}`);
  assert.equal(r.status, 200, `control ${action}`);
}

async function shot(page, vp, n, name, opts) {
  await saveShot(page, join(ARTIFACTS, `${vp.name}-${String(n).padStart(2, "0")}-${name}.png`), opts);
}

/** waitJob waits until the newest job of operation reaches a final status and returns it. */
async function waitJob(page, operation, want = "COMPLETED") {
  const row = page.locator(`tr[data-operation="${operation}"]`).first();
  await row.waitFor({ timeout: JOB_TIMEOUT });
  const handle = await page.waitForFunction(
    (op) => {
      const tr = document.querySelector(`tr[data-operation="${op}"]`);
      const st = tr?.dataset.status;
      return st && st !== "RUNNING" ? { status: st, details: tr.querySelector("td.details")?.textContent || "" } : null;
    },
    operation,
    { timeout: JOB_TIMEOUT, polling: 100 },
  );
  const got = await handle.jsonValue();
  assert.equal(got.status, want, `${operation} job: ${got.status} ${got.details}`);
  return got;
}

async function scenario(vp) {
  const app = `${RUN}-${vp.name}`;
  const envName = "dev";
  const bucket = `${RUN}-${vp.name}-photos`;
  const browser = await launch(CHROMIUM, vp);
  const page = browser.page;
  try {
    const watch = new ErrorWatch(page, log);
    let n = 0;

    // ---- sign-in: nothing prefilled, a wrong secret shows the API's error and stores nothing
    await page.goto(`${ENDPOINT}/console/`);
    await page.getByRole("heading", { name: "Sign in" }).waitFor();
    const keyField = page.getByLabel("Access key ID");
    const secretField = page.getByLabel("Secret access key");
    assert.equal(await keyField.inputValue(), "", "access key is not prefilled");
    assert.equal(await secretField.inputValue(), "", "secret is not prefilled");
    assert.equal(await secretField.getAttribute("type"), "password");
    await checkScreen(page, "sign-in");
    await shot(page, vp, ++n, "sign-in");

    await keyField.fill(KEY_ID);
    await secretField.fill(`wrong${SECRET}`);
    watch.expect(403, "/s3Buckets");
    await page.getByRole("button", { name: "Sign in" }).click();
    const alert = page.locator(".signin [role=alert] .error");
    await alert.waitFor();
    const alertText = await alert.textContent();
    assert.match(alertText, /^InvalidSignatureException: The request signature we calculated does not match/, alertText);
    assert.equal(await page.evaluate(() => sessionStorage.length), 0, "a refused key is not stored");
    assert.equal(await page.getByRole("heading", { name: "Sign in" }).count(), 1, "still on the sign-in screen");
    await shot(page, vp, ++n, "sign-in-wrong-key");

    // ---- sign in with the keyboard only
    await keyField.fill("");
    await secretField.fill("");
    await keyField.focus();
    await page.keyboard.type(KEY_ID);
    await page.keyboard.press("Tab");
    assert.equal(await page.evaluate(() => document.activeElement?.name), "secretAccessKey", "Tab moves to the secret");
    await page.keyboard.type(SECRET);
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { name: "Apps and environments" }).waitFor();
    const stored = await page.evaluate(() => Object.keys(sessionStorage));
    assert.deepEqual(stored, ["amplifybackendd.console.credentials"], "the key is kept in sessionStorage");
    assert.equal(await page.evaluate(() => localStorage.length), 0, "nothing in localStorage");
    const bucketsSection = page.getByRole("region", { name: "S3 buckets" });
    await bucketsSection.getByText(/see no bucket|Created/).first().waitFor();
    await page.getByRole("region", { name: "Apps" }).getByText(/No apps yet|Last job/).first().waitFor();
    await checkScreen(page, "overview");
    await shot(page, vp, ++n, "overview");

    // ---- the System page: the target this server provisions on, its jobs
    await page.getByRole("link", { name: "System" }).click();
    await page.getByRole("heading", { name: "System", level: 1 }).waitFor();
    const target = page.getByRole("table", { name: "Target" });
    await target.getByText("external").waitFor(); // the test server's target is the gateway behind proxies
    assert.match(await target.textContent(), /S3 endpoint\s*http:\/\/127\.0\.0\.1:\d+/);
    assert.match(await page.locator(".jobs-running").textContent(), /^\d+ RUNNING$/);
    assert.match(await page.getByRole("table", { name: "Server" }).textContent(), /Version.+Started.+Uptime/);
    await checkScreen(page, "system");
    await shot(page, vp, ++n, "system");
    await page.getByRole("link", { name: /amplifybackendd/ }).click();
    await page.getByRole("heading", { name: "Apps and environments" }).waitFor();

    // ---- open a new environment
    await page.getByLabel("App ID").fill(app);
    await page.getByLabel("Environment", { exact: true }).fill(envName);
    await page.getByLabel("Environment", { exact: true }).press("Enter");
    await page.getByRole("heading", { name: `${app} / ${envName}` }).waitFor();
    await page.getByText("Nothing has run in this environment yet").waitFor();
    await checkScreen(page, "new environment");

    // ---- a bad bucket name shows the API's message
    const create = page.getByRole("form", { name: "Create storage" });
    await create.getByLabel("Resource name").fill("photos");
    await create.getByLabel("Bucket name (optional)").fill("Bad_Bucket");
    watch.expect(400, `/backend/${app}/storage`);
    await create.getByRole("button", { name: "Create" }).click();
    const createErr = create.locator("[role=alert] .error");
    await createErr.waitFor();
    assert.equal(
      await createErr.textContent(),
      'BadRequestException: Invalid bucketName "Bad_Bucket": may contain only lowercase letters, digits, hyphens (-) and periods (.).',
    );
    await shot(page, vp, ++n, "create-bad-bucket");

    // ---- create with guest READ and watch the job complete
    await create.getByLabel("Bucket name (optional)").fill(bucket);
    await create.getByLabel("Guests: Read").check();
    await create.getByRole("button", { name: "Create" }).click();
    await page.locator('tr[data-operation="CreateBackendStorage"]').first().waitFor();
    await waitJob(page, "CreateBackendStorage");
    const card = page.getByRole("article", { name: "photos" });
    await card.waitFor();
    await card.getByText(bucket).waitFor();
    assert.equal(await card.getByLabel("Guests: Read").isChecked(), true);
    assert.equal(await card.getByLabel("Guests: Create and update").isChecked(), false);
    assert.equal(await card.getByLabel("Authenticated users: Delete").isChecked(), true);
    assert.match(await page.locator(".job-status").textContent(), /CreateBackendStorage job \w+: COMPLETED/);
    assert.equal(await page.locator(".job-status").getAttribute("aria-live"), "polite");
    // This target has no default encryption: the completed job's warnings
    // (a member beyond the service model, read past the SDK) fold away
    // under "Warnings"; the job carries no error.
    const createRow = page.locator('tr[data-operation="CreateBackendStorage"]').first();
    await createRow.locator("details.warning-text summary", { hasText: "Warnings" }).waitFor();
    assert.match(await createRow.locator("details.warning-text").textContent(), /default encryption/);
    assert.equal(await createRow.locator(".error-text").count(), 0);
    await checkScreen(page, "created");
    await shot(page, vp, ++n, "created");

    // ---- flip a permission in the grid, with the keyboard; the second job completes
    await card.getByLabel("Guests: Create and update").focus();
    await page.keyboard.press("Space");
    assert.equal(await card.getByLabel("Guests: Create and update").isChecked(), true);
    await page.keyboard.press("Tab"); // Guests: Delete
    await page.keyboard.press("Tab"); // Apply permissions, enabled by the change
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), "Apply permissions");
    await page.keyboard.press("Enter");
    await waitJob(page, "UpdateBackendStorage");
    assert.equal(await page.locator("tr[data-job-id]").count(), 2, "two jobs listed");
    // A reload keeps the session (sessionStorage) and shows what the server holds.
    await page.reload();
    await page.getByRole("heading", { name: `${app} / ${envName}` }).waitFor();
    await card.waitFor();
    assert.equal(await card.getByLabel("Guests: Create and update").isChecked(), true, "the grid shows the applied permission");
    assert.equal(await card.getByLabel("Guests: Read").isChecked(), true);
    assert.equal(await card.getByLabel("Guests: Delete").isChecked(), false);
    await page.locator('tr[data-operation="UpdateBackendStorage"][data-status="COMPLETED"]').waitFor();
    await shot(page, vp, ++n, "updated");

    // ---- effective policies
    await card.getByText("Effective policies").click();
    const unauthDoc = card.getByLabel("Unauthenticated role policy document", { exact: true });
    await unauthDoc.waitFor();
    const unauth = JSON.parse(await unauthDoc.textContent());
    const unauthActions = unauth.Statement.flatMap((s) => s.Action);
    assert.ok(unauthActions.includes("s3:PutObject") && unauthActions.includes("s3:GetObject"), JSON.stringify(unauth));
    assert.ok(unauth.Statement.some((s) => s.Resource.includes(`arn:aws:s3:::${bucket}/uploads/*`)), "guests may upload");
    await card.getByText(`amplify-${app}-${envName}-unauthRole`).waitFor();
    await card.getByLabel("Authenticated role policy document", { exact: true }).waitFor();
    await card.getByLabel("Bucket policy statements").waitFor();
    await checkScreen(page, "policies");
    await shot(page, vp, ++n, "policies");

    // ---- download amplify_outputs.json and check its paths
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.getByRole("button", { name: "Download amplify_outputs.json" }).click(),
    ]);
    assert.equal(download.suggestedFilename(), "amplify_outputs.json");
    const outputs = JSON.parse(await readFile(await download.path(), "utf8"));
    assert.equal(outputs.version, "1.3");
    assert.equal(outputs.storage.bucket_name, bucket);
    assert.equal(outputs.storage.aws_region, "us-east-1");
    assert.equal(outputs.storage.buckets.length, 1);
    const b = outputs.storage.buckets[0];
    assert.equal(b.name, "photos");
    assert.equal(b.bucket_name, bucket);
    assert.deepEqual(b.paths, {
      "public/*": { guest: ["get", "list", "write"], authenticated: ["get", "list", "write", "delete"] },
      "protected/{entity_id}/*": {
        guest: ["get", "list"],
        authenticated: ["get", "list"],
        entityidentity: ["get", "list", "write", "delete"],
      },
      "private/{entity_id}/*": { entityidentity: ["get", "list", "write", "delete"] },
      "uploads/*": { guest: ["write"], authenticated: ["write"] },
    });
    log("amplify_outputs.json paths as expected");

    // ---- cancel a running job (the target is stalled so the job stays RUNNING)
    await control("pause");
    try {
      await create.getByLabel("Resource name").fill("stuck");
      await create.getByLabel("Bucket name (optional)").fill(`${bucket}-stuck`);
      await create.getByRole("button", { name: "Create" }).click();
      const running = page.locator('tr[data-operation="CreateBackendStorage"][data-status="RUNNING"]');
      await running.waitFor();
      await running.getByRole("button", { name: /^Cancel job/ }).click();
      const dlg = page.getByRole("dialog");
      await dlg.waitFor();
      await shot(page, vp, ++n, "cancel-confirm", { fullPage: false });
      await dlg.getByRole("button", { name: "Cancel job" }).click();
      await page.locator('tr[data-operation="CreateBackendStorage"][data-status="CANCELLED"]').waitFor({ timeout: JOB_TIMEOUT });
    } finally {
      await control("resume");
    }

    // ---- delete: Escape backs out, a typed confirmation deletes
    await card.getByRole("button", { name: "Delete photos" }).click();
    const dialog = page.getByRole("dialog");
    await dialog.waitFor();
    await page.keyboard.press("Escape");
    await dialog.waitFor({ state: "hidden" });
    assert.equal(await page.locator("tr[data-operation=DeleteBackendStorage]").count(), 0, "Escape deletes nothing");
    await card.getByRole("button", { name: "Delete photos" }).click();
    await dialog.waitFor();
    const confirmBtn = dialog.getByRole("button", { name: "Delete", exact: true });
    assert.equal(await confirmBtn.isDisabled(), true, "delete needs the typed name");
    await dialog.getByLabel(/^Type .* to confirm$/).fill("photos");
    await checkScreen(page, "delete dialog");
    await shot(page, vp, ++n, "delete-confirm", { fullPage: false });
    await confirmBtn.click();
    await waitJob(page, "DeleteBackendStorage");
    await page.locator('[data-resource="photos"]').waitFor({ state: "detached", timeout: JOB_TIMEOUT });
    await page.getByText("No storage resources in this environment.").waitFor();
    await shot(page, vp, ++n, "deleted");

    // ---- back to the overview: the app, its environment and the kept bucket
    await page.getByRole("link", { name: "Apps", exact: true }).click();
    await page.getByRole("heading", { name: "Apps and environments" }).waitFor();
    const appCard = page.locator(".app", { has: page.getByRole("heading", { name: app }) });
    await appCard.getByRole("link", { name: envName }).waitFor();
    await page.getByRole("cell", { name: bucket, exact: true }).waitFor();
    await checkScreen(page, "overview after");
    await shot(page, vp, ++n, "overview-after");

    // ---- sign out clears the key
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByRole("heading", { name: "Sign in" }).waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.length), 0, "sign-out forgets the key");

    assert.deepEqual(watch.allowed, [], "the provoked refusals were logged as expected");
    watch.check(`at ${vp.name}`);
    log(`${vp.name}: ok`);
  } catch (err) {
    await page.screenshot({ path: join(ARTIFACTS, `${vp.name}-failure.png`), fullPage: true }).catch(() => {});
    throw err;
  } finally {
    await browser.close();
  }
}

await runViewports("console.test", ARTIFACTS, scenario);
