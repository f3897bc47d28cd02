// Drives the amplifybackendd console in Debian's Chromium with playwright-core,
// at a desktop (1280×800) and a phone (390×844) viewport. Run by
// TestConsoleInBrowser (console_test.go), which starts the server and passes:
//
//   AB_ENDPOINT    the API's base URL (the console is AB_ENDPOINT/console/)
//   AB_KEY_ID      an access key the server accepts, and AB_SECRET its secret
//   AB_CONTROL     a URL with /pause and /resume, stalling the server's S3/IAM target
//   AB_RUN         a short lowercase prefix for app ids and bucket names
//   AB_READERS     JSON {viewport: {accessKeyId, secretAccessKey}}: a read-only key
//                  for each viewport's app (AB_RUN-desktop, AB_RUN-phone)
//   AB_ARTIFACTS   the folder for screenshots
//   CHROMIUM       the browser binary (/usr/bin/chromium)
//
// Every step asserts; the first failure ends the run with a non-zero exit.
// Console errors and page errors fail the run, except the browser's own
// network log line for the refusals the test provokes on purpose (a wrong
// secret, a bad bucket name, a spent invitation, a call outside a session's
// app), which must appear exactly as expected.

import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
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
const CONTROL = env("AB_CONTROL").replace(/\/+$/, "");
const RUN = env("AB_RUN");
const READERS = JSON.parse(env("AB_READERS"));
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
  await inBrowser(CHROMIUM, vp, {}, join(ARTIFACTS, `${vp.name}-failure.png`), async (page, context) => {
    const watch = new ErrorWatch(page, log);
    let n = 0;

    // ---- sign-in: nothing prefilled, a wrong secret shows the API's error and stores nothing
    await page.goto(`${ENDPOINT}/console/`);
    await page.getByRole("heading", { name: "Sign in", exact: true }).waitFor();
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
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    const alert = page.locator(".signin-key [role=alert] .error");
    await alert.waitFor();
    const alertText = await alert.textContent();
    assert.match(alertText, /^InvalidSignatureException: The request signature we calculated does not match/, alertText);
    assert.equal(await page.evaluate(() => sessionStorage.length), 0, "a refused key is not stored");
    assert.equal(await page.getByRole("heading", { name: "Sign in", exact: true }).count(), 1, "still on the sign-in screen");
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
    // GET /console-api/caller names the key in the header.
    await page.locator("#session .who", { hasText: "Signed in as default (administrator)" }).waitFor();
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

    // ---- open a new environment: nothing there yet
    const openForm = page.getByRole("form", { name: "Open an environment" });
    await openForm.getByLabel("App ID").fill(app);
    await openForm.getByLabel("Environment", { exact: true }).fill(envName);
    await openForm.getByLabel("Environment", { exact: true }).press("Enter");
    await page.getByRole("heading", { name: `${app} / ${envName}` }).waitFor();
    await page.getByText("Nothing has run in this environment yet").waitFor();
    await checkScreen(page, "new environment");

    // ---- create the app and its environment with CreateBackend, and a second app
    const createEnv = async (appId, appName) => {
      await page.getByRole("link", { name: /amplifybackendd/ }).click();
      const form = page.getByRole("form", { name: "Create an app or environment" });
      await form.getByLabel("App ID").fill(appId);
      await form.getByLabel("App name").fill(appName);
      await form.getByLabel("Environment", { exact: true }).fill(envName);
      await form.getByRole("button", { name: "Create environment" }).click();
      await page.getByRole("heading", { name: `${appId} / ${envName}` }).waitFor();
      await waitJob(page, "CreateBackend");
    };
    await createEnv(`${app}-other`, "Other app");
    await createEnv(app, "Photos app");
    await page.getByText("No storage resources in this environment.").waitFor();
    await checkScreen(page, "created environment");
    await shot(page, vp, ++n, "environment-created");

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
    assert.equal(await page.locator("tr[data-job-id]").count(), 3, "three jobs listed (CreateBackend, CreateBackendStorage, UpdateBackendStorage)");
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

    // ---- clone dev into staging: the job's progress, then a link to the result
    const cloneForm = page.getByRole("form", { name: "Clone this environment" });
    await cloneForm.getByLabel("Target environment").fill("staging");
    await cloneForm.getByRole("button", { name: "Clone" }).click();
    await page.locator('tr[data-operation="CloneBackend"]').first().waitFor();
    await waitJob(page, "CloneBackend");
    await cloneForm.getByRole("link", { name: "staging" }).waitFor();
    assert.match(await cloneForm.locator(".app-status").textContent(), /^Cloned dev into staging\.$/);
    await shot(page, vp, ++n, "cloned");
    await cloneForm.getByRole("link", { name: "staging" }).click();
    await page.getByRole("heading", { name: `${app} / staging` }).waitFor();
    const clonedCard = page.getByRole("article", { name: "photos" });
    await clonedCard.waitFor();
    const clonedBucket = (await clonedCard.locator("dd.break").first().textContent()).trim();
    assert.notEqual(clonedBucket, bucket, "the clone has a bucket of its own");
    assert.equal(await clonedCard.getByLabel("Guests: Create and update").isChecked(), true, "same permissions");

    // ---- delete the staging environment: typed confirmation
    await page.getByRole("button", { name: "Delete environment staging" }).click();
    const envDialog = page.getByRole("dialog");
    await envDialog.waitFor();
    const envConfirm = envDialog.getByRole("button", { name: "Delete environment", exact: true });
    assert.equal(await envConfirm.isDisabled(), true, "deleting an environment needs its typed name");
    await envDialog.getByLabel(/^Type .* to confirm$/).fill("staging");
    await shot(page, vp, ++n, "delete-environment-confirm", { fullPage: false });
    await envConfirm.click();
    await waitJob(page, "DeleteBackend");
    await page.getByRole("navigation", { name: "Breadcrumb" }).getByRole("link", { name: "Apps" }).click();
    await page.locator(".app", { has: page.getByRole("heading", { name: app, exact: true }) }).getByRole("link", { name: envName }).click();
    await page.getByRole("heading", { name: `${app} / ${envName}` }).waitFor();
    await card.waitFor();

    // ---- cancel a running job (the target is stalled so the job stays RUNNING).
    // After the clone and the environment's delete: the job reads CANCELLED
    // at once but holds its resource, and so the environment, until its
    // undo has run, and CloneBackend would be refused meanwhile.
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
    const appCard = page.locator(".app", { has: page.getByRole("heading", { name: app, exact: true }) });
    await appCard.getByRole("link", { name: envName }).waitFor();
    await page.getByRole("cell", { name: bucket, exact: true }).waitFor();
    await checkScreen(page, "overview after");
    await shot(page, vp, ++n, "overview-after");

    // ---- invite to the app: CreateToken's challenge and the ready-made link
    await appCard.getByRole("button", { name: `Invite to ${app}` }).click();
    const invitation = appCard.getByRole("region", { name: `Invitation to ${app}` });
    await invitation.waitFor();
    const link = await invitation.getByLabel("Sign-in link").inputValue();
    const sessionId = await invitation.locator('[data-field="sessionId"]').textContent();
    const challengeCode = await invitation.locator('[data-field="challengeCode"]').textContent();
    assert.equal(
      link,
      `${ENDPOINT}/console/#/sign-in?appId=${app}&sessionId=${encodeURIComponent(sessionId)}&challengeCode=${encodeURIComponent(challengeCode)}`,
    );
    assert.match(await invitation.textContent(), /Expires\s*\d\d:\d\d \(in 15 min\)/);
    await invitation.getByRole("button", { name: "Copy link" }).click();
    await invitation.getByText("Copied.").waitFor();
    await checkScreen(page, "invitation");
    await shot(page, vp, ++n, "invite");

    // ---- the link in a new tab (storage of its own): signed in to that app only
    const invited = await context.newPage();
    const invitedWatch = new ErrorWatch(invited, log);
    await invited.goto(link);
    await invited.getByRole("heading", { name: "Apps and environments" }).waitFor();
    assert.equal(new URL(invited.url()).hash, "#/", "the spent challenge leaves the address bar");
    const who = invited.locator("#session .who");
    assert.match(await who.textContent(), new RegExp(`^Signed in to app ${app} until \\d\\d:\\d\\d \\((7 h 59|8 h 0) min left\\)$`));
    const kept = await invited.evaluate(() => JSON.parse(sessionStorage.getItem("amplifybackendd.console.credentials")));
    assert.match(kept.accessKeyId, /^ASIA[A-Z2-7]{16}$/);
    assert.equal(kept.invitation.appId, app);
    assert.equal(await invited.evaluate(() => localStorage.length), 0, "nothing in localStorage");
    const invitedApps = invited.getByRole("region", { name: "Apps" });
    await invitedApps.locator(".app").first().waitFor();
    assert.deepEqual(await invitedApps.locator(".app h3").allTextContents(), [app], "only the invitation's app is listed");
    await checkScreen(invited, "invited overview");
    await shot(invited, vp, ++n, "invited-overview");
    // A call outside the app is refused, and the page says so.
    invitedWatch.expect(403, "/console-api/system");
    await invited.getByRole("link", { name: "System" }).click();
    const refused = invited.locator("main .error");
    await refused.waitFor();
    assert.match(
      await refused.textContent(),
      /^AccessDeniedException: User: ASIA[A-Z2-7]{16} is not authorized to perform: amplifybackend:GetConsoleSystem on resource: \*$/,
    );
    await shot(invited, vp, ++n, "invited-refused");

    // ---- the same link again, in another new tab: the challenge is spent
    const again = await context.newPage();
    const againWatch = new ErrorWatch(again, log);
    againWatch.expect(403, "/console-api/sign-in");
    await again.goto(link);
    const spent = again.locator(".signin-invite [role=alert] .error");
    await spent.waitFor();
    assert.match(await spent.textContent(), /^AccessDeniedException: .*used/, "a used challenge is refused saying so");
    assert.equal(await again.evaluate(() => sessionStorage.length), 0, "a refused invitation stores nothing");
    assert.equal(await again.getByLabel("Challenge code").inputValue(), challengeCode, "the link filled the form");
    await checkScreen(again, "spent invitation");
    await shot(again, vp, ++n, "invitation-spent");
    assert.deepEqual(againWatch.allowed, [], "the spent invitation's refusal was logged");
    againWatch.check(`spent invitation at ${vp.name}`);
    await again.close();

    // ---- when the credentials expire, the tab returns to sign-in and says why
    await invited.evaluate(() => {
      const k = "amplifybackendd.console.credentials";
      const c = JSON.parse(sessionStorage.getItem(k));
      c.invitation.expiration = new Date(Date.now() - 60_000).toISOString();
      sessionStorage.setItem(k, JSON.stringify(c));
    });
    await invited.reload();
    await invited.getByRole("heading", { name: "Sign in", exact: true }).waitFor();
    assert.match(await invited.locator(".notice").textContent(), new RegExp(`^Your sign-in to app ${app} expired at \\d\\d:\\d\\d\\.`));
    assert.equal(await invited.evaluate(() => sessionStorage.length), 0, "expired credentials are forgotten");
    await shot(invited, vp, ++n, "invitation-expired");
    assert.deepEqual(invitedWatch.allowed, [], "the session's refusal was logged");
    invitedWatch.check(`invited tab at ${vp.name}`);
    await invited.close();

    // ---- a read-only key for the app: only its app, every write disabled with the reason
    const reader = await context.newPage();
    const readerWatch = new ErrorWatch(reader, log);
    await reader.goto(`${ENDPOINT}/console/`);
    await signInWithKey(reader, READERS[vp.name].accessKeyId, READERS[vp.name].secretAccessKey);
    await reader.locator("#session .who", { hasText: `Signed in as reader-${vp.name}` }).waitFor();
    const readerApps = reader.getByRole("region", { name: "Apps" });
    await readerApps.locator(".app").first().waitFor();
    assert.deepEqual(await readerApps.locator(".app h3").allTextContents(), [app], "the reader sees only its app");
    await disabledWithReason(reader.getByRole("button", { name: `Invite to ${app}` }), notAllowed("CreateToken", "app"));
    await disabledWithReason(reader.getByRole("button", { name: `Remove app ${app}` }), notAllowed("RemoveAllBackends", "app"));
    await reader.getByRole("button", { name: `Remove app ${app}` }).click({ force: true });
    assert.equal(await reader.getByRole("dialog").count(), 0, "a disabled action does nothing");
    await checkScreen(reader, "reader overview");
    await shot(reader, vp, ++n, "read-only-overview");
    await reader.getByRole("link", { name: envName, exact: true }).click();
    await reader.getByRole("heading", { name: `${app} / ${envName}` }).waitFor();
    await reader.locator('tr[data-operation="DeleteBackendStorage"]').first().waitFor();
    await disabledWithReason(reader.getByRole("form", { name: "Create storage" }).getByRole("button", { name: "Create" }), notAllowed("CreateBackendStorage", "environment"));
    await disabledWithReason(reader.getByRole("button", { name: "Import" }), notAllowed("ImportBackendStorage", "environment"));
    await disabledWithReason(reader.getByRole("button", { name: "Clone" }), notAllowed("CloneBackend", "environment"));
    await disabledWithReason(reader.getByRole("button", { name: `Delete environment ${envName}` }), notAllowed("DeleteBackend", "environment"));
    assert.equal(
      await reader.getByRole("note").filter({ hasText: "Your key may not" }).textContent(),
      "Your key may not take these actions on this environment, so they are disabled: " +
        "CreateBackendStorage, ImportBackendStorage, UpdateBackendStorage, DeleteBackendStorage, UpdateBackendJob, CloneBackend, DeleteBackend.",
    );
    await reader.getByRole("button", { name: `Delete environment ${envName}` }).hover();
    await checkScreen(reader, "reader environment");
    await shot(reader, vp, ++n, "read-only-environment");
    assert.deepEqual(readerWatch.allowed, [], "no refusal expected for the reader");
    readerWatch.check(`reader tab at ${vp.name}`);
    await reader.close();

    // ---- remove the other app: typed confirmation, the job to its end
    const otherCard = page.locator(".app", { has: page.getByRole("heading", { name: `${app}-other`, exact: true }) });
    await otherCard.getByRole("button", { name: `Remove app ${app}-other` }).click();
    const removeDialog = page.getByRole("dialog");
    await removeDialog.waitFor();
    const removeConfirm = removeDialog.getByRole("button", { name: "Remove app", exact: true });
    assert.equal(await removeConfirm.isDisabled(), true, "removing an app needs its typed id");
    await removeDialog.getByLabel(/^Type .* to confirm$/).fill(`${app}-other`);
    await shot(page, vp, ++n, "remove-app-confirm", { fullPage: false });
    await removeConfirm.click();
    await page.locator(".app-status", { hasText: new RegExp(`^RemoveAllBackends job \\w+ for ${app}-other: COMPLETED$`) }).waitFor({ timeout: JOB_TIMEOUT });
    await shot(page, vp, ++n, "app-removed");

    // ---- two more invitations: one to sign out of, one for a tab that stays open until it expires
    const invite = async (previous) => {
      await appCard.getByRole("button", { name: `Invite to ${app}` }).click();
      const input = invitation.getByLabel("Sign-in link");
      await input.waitFor();
      await page.waitForFunction(
        ([sel, prev]) => document.querySelector(sel)?.value !== prev,
        [`.app[data-app="${app}"] .invitation input`, previous],
      );
      return input.inputValue();
    };
    const signOutLink = await invite(link);
    const secondLink = await invite(signOutLink);
    assert.ok(new Set([link, signOutLink, secondLink]).size === 3, "each invitation is new");

    // ---- a link opened in a tab that is signed in does not sign in by itself:
    // it would swap the key for whoever sent the link, and spend the challenge
    await page.goto(signOutLink);
    const replaces = page.locator('[data-field="replaces"]');
    await replaces.waitFor();
    assert.match(await replaces.textContent(), new RegExp(`^This tab is signed in as .+\\. Signing in with this invitation to app ${app} ends that; go back to keep it\\.$`));
    await page.waitForTimeout(1000); // time enough for a submit that should not happen
    assert.equal(await page.locator(".signin-invite [role=alert] .error").count(), 0, "nothing was submitted");
    assert.equal(await page.evaluate(() => JSON.parse(sessionStorage.getItem("amplifybackendd.console.credentials")).accessKeyId), KEY_ID, "the key is kept");
    await checkScreen(page, "sign-in link while signed in");
    await replaces.getByRole("link", { name: "go back" }).click();
    await page.getByRole("heading", { name: "Apps and environments" }).waitFor();
    await page.locator("#session .who", { hasText: KEY_ID }).waitFor();

    // ---- sign out clears the key
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByRole("heading", { name: "Sign in", exact: true }).waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.length), 0, "sign-out forgets the key");

    // ---- signing out of an invitation ends its credentials on the server (DeleteToken)
    const out = await context.newPage();
    const outWatch = new ErrorWatch(out, log);
    await out.goto(signOutLink);
    await out.getByRole("heading", { name: "Apps and environments" }).waitFor();
    const ended = await out.evaluate(() => JSON.parse(sessionStorage.getItem("amplifybackendd.console.credentials")));
    await out.getByRole("button", { name: "Sign out" }).click();
    await out.getByRole("heading", { name: "Sign in", exact: true }).waitFor();
    assert.equal(await out.evaluate(() => sessionStorage.length), 0, "sign-out forgets the credentials");
    // The same credentials, typed into the key form, are refused now.
    outWatch.expect(403, "/s3Buckets");
    await signInWithKey(out, ended.accessKeyId, ended.secretAccessKey);
    const endedErr = out.locator(".signin-key [role=alert] .error");
    await endedErr.waitFor();
    assert.match(await endedErr.textContent(), /^UnrecognizedClientException: /, "ended credentials are refused");
    assert.deepEqual(outWatch.allowed, [], "the ended credentials' refusal was logged");
    outWatch.check(`signed-out tab at ${vp.name}`);
    await out.close();

    // ---- the live tab's own timer signs it out when the credentials expire. The
    // browser's clock (the whole context's, so this comes last) is moved past
    // the expiration; no call is made after that.
    const live = await context.newPage();
    const liveWatch = new ErrorWatch(live, log);
    await live.clock.install();
    await live.goto(secondLink);
    await live.getByRole("heading", { name: "Apps and environments" }).waitFor();
    await live.getByRole("region", { name: "Apps" }).locator(".app").first().waitFor();
    await live.getByRole("region", { name: "S3 buckets" }).getByText(/^No bucket of a storage resource your key may read\.$|Created/).first().waitFor();
    await live.clock.fastForward("08:00:30");
    await live.getByRole("heading", { name: "Sign in", exact: true }).waitFor();
    assert.match(await live.locator(".notice").textContent(), new RegExp(`^Your sign-in to app ${app} expired at \\d\\d:\\d\\d\\.`));
    assert.equal(await live.evaluate(() => sessionStorage.length), 0, "expired credentials are forgotten");
    liveWatch.check(`live tab at ${vp.name}`);
    await live.close();

    assert.deepEqual(watch.allowed, [], "the provoked refusals were logged as expected");
    watch.check(`at ${vp.name}`);
    log(`${vp.name}: ok`);
  });
}

await runViewports("console.test", ARTIFACTS, scenario);
