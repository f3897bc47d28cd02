// The amplifybackendd admin console: a sign-in screen (an invitation or an
// access key), an overview of apps, environments and S3 buckets (create an
// environment, invite to an app, remove an app), and one screen per
// environment with its storage resources (permission grids, effective
// policies, delete), the create and import forms, clone and delete of the
// environment, the amplify_outputs.json download and the job list, polled
// while a job runs. What the key's policy does not allow is disabled, with
// the reason. Plain DOM; hash routes:
//
//   #/                          overview
//   #/apps/{appId}/envs/{env}   one environment
//   #/apps/{appId}/envs/{env}/storage/{resource}/files   a resource's files (files.js)
//   #/system                    the server, its target and its RUNNING jobs
//   #/sign-in?appId=&sessionId=&challengeCode=
//                               an invitation's link: signs in with it

import {
  CloneBackendCommand,
  CreateBackendCommand,
  CreateBackendStorageCommand,
  CreateTokenCommand,
  DeleteBackendCommand,
  DeleteBackendStorageCommand,
  GetBackendCommand,
  GetBackendJobCommand,
  GetBackendStorageCommand,
  ImportBackendStorageCommand,
  ListBackendJobsCommand,
  ListS3BucketsCommand,
  RemoveAllBackendsCommand,
  UpdateBackendJobCommand,
  UpdateBackendStorageCommand,
} from "@aws-sdk/client-amplifybackend";

import * as api from "./api.js";
import { allowIf, clearReasons, formatTime, h, notAllowed, pruneReasons, refuseDisabledClicks, replace, srOnly, uid } from "./dom.js";
import { amplifyOutputs } from "./outputs.js";
import { filesHash, filesScreen } from "./files.js";

const main = document.getElementById("main");
const sessionBox = document.getElementById("session");
const announcer = document.getElementById("announcer");
const dialog = document.getElementById("confirm");

const POLL_MS = 1000;

let view = null; // the screen on display: { dispose() }
let firstRender = true;
let who = null; // GET /console-api/caller for the signed-in key, once known
let notice = ""; // why the sign-in screen is showing (an invitation's credentials expired)
let clock = null; // the header's expiry countdown

// ---------------------------------------------------------------- routing

function parseHash() {
  try {
    const [path, query = ""] = window.location.hash.replace(/^#\/?/, "").split("?", 2);
    if (path === "sign-in") {
      const q = new URLSearchParams(query);
      return { screen: "sign-in", appId: q.get("appId") || "", sessionId: q.get("sessionId") || "", challengeCode: q.get("challengeCode") || "" };
    }
    const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
    if (parts.length === 4 && parts[0] === "apps" && parts[2] === "envs") {
      return { screen: "env", appId: parts[1], env: parts[3] };
    }
    if (parts.length === 1 && parts[0] === "system") return { screen: "system" };
    if (parts.length === 7 && parts[0] === "apps" && parts[2] === "envs" && parts[4] === "storage" && parts[6] === "files") {
      return { screen: "files", appId: parts[1], env: parts[3], resource: parts[5] };
    }
  } catch {
    // a malformed escape: show the overview
  }
  return { screen: "overview" };
}

const envHash = (appId, env) => `#/apps/${encodeURIComponent(appId)}/envs/${encodeURIComponent(env)}`;

function render() {
  view?.dispose();
  view = null;
  clearReasons();
  renderSession();
  const r = parseHash();
  if (!api.signedIn() || r.screen === "sign-in") {
    view = signInScreen(r.screen === "sign-in" ? r : null);
    firstRender = false;
    return;
  }
  if (r.screen === "files") {
    const ui = { announce, focusTitle, confirmDialog, errorBox, envHash };
    view = filesScreen({ appId: r.appId, env: r.env, resource: r.resource, main, ui });
  } else {
    view = r.screen === "env" ? envScreen(r.appId, r.env) : r.screen === "system" ? systemScreen() : overviewScreen();
  }
  firstRender = false;
}

// The header says who is signed in: the key's name from GET
// /console-api/caller, or, for an invitation, its app and until when, with
// the time left; at the expiration the tab signs out.
function renderSession() {
  clearInterval(clock);
  if (!api.signedIn()) {
    replace(sessionBox);
    return;
  }
  const inv = api.invitation();
  let whoEl;
  if (inv) {
    const left = h("span", { class: "expiry" });
    const tick = () => {
      const ms = new Date(inv.expiration).getTime() - Date.now();
      if (ms <= 0) return expired(inv);
      const min = Math.ceil(ms / 60000);
      left.textContent = min >= 60 ? `(${Math.floor(min / 60)} h ${min % 60} min left)` : `(${min} min left)`;
    };
    whoEl = h(
      "span",
      { class: "who" },
      "Signed in to app ",
      h("strong", {}, inv.appId),
      " until ",
      h("time", { datetime: inv.expiration }, clockTime(inv.expiration)),
      " ",
      left,
    );
    tick();
    clock = setInterval(tick, 15_000);
  } else {
    whoEl = h(
      "span",
      { class: "who" },
      who?.name ? ["Signed in as ", h("strong", {}, who.name), who.administrator ? " (administrator)" : "", " · key "] : "Key ",
      h("code", {}, api.accessKeyId()),
    );
  }
  replace(
    sessionBox,
    h("a", { href: "#/system", class: "system-link" }, "System"),
    whoEl,
    h("button", { type: "button", class: "secondary", onclick: () => signOut() }, "Sign out"),
  );
}

const clockTime = (t) => new Date(t).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });

// How long signing out waits for the screen to stop (uploads aborted)
// before it forgets the credentials anyway.
const STOP_WAIT_MS = 10_000;

async function signOut(opts) {
  who = null;
  // The screen stops first, while the credentials still sign: the file
  // browser aborts its multipart uploads under way (a signed call). Expired
  // credentials could not sign the abort, so then there is no waiting.
  const v = view;
  view = null;
  const stopping = v?.dispose();
  if (opts?.end !== false && stopping) await Promise.race([stopping, new Promise((r) => setTimeout(r, STOP_WAIT_MS))]);
  await api.signOut(opts);
  if (parseHash().screen === "sign-in") history.replaceState(null, "", "#/");
  render();
}

/** expired signs the tab out when an invitation's credentials end, saying so on the sign-in screen. */
function expired(inv) {
  if (!api.signedIn()) return;
  notice = `Your sign-in to app ${inv.appId} expired at ${clockTime(inv.expiration)}. Ask for a new invitation, or sign in with an access key.`;
  signOut({ end: false });
}
api.onExpired(() => {
  const inv = api.invitation();
  if (inv) expired(inv);
});

/** loadCaller asks the server who the key is, for the header. */
async function loadCaller() {
  try {
    who = await api.consoleGet("/console-api/caller");
  } catch {
    who = null; // the header falls back to the key id
  }
  renderSession();
}

// ---------------------------------------------------------------- helpers

function announce(text) {
  announcer.textContent = text;
}

function focusTitle(el) {
  // Move focus to the new screen's heading so keyboard and screen reader
  // users start there; not on first load, where the page itself has focus.
  if (!firstRender) el.focus();
}

function field(label, input, hint) {
  input.id ||= uid("f");
  let hintEl = null;
  if (hint) {
    hintEl = h("p", { id: uid("hint"), class: "hint" }, hint);
    input.setAttribute("aria-describedby", hintEl.id);
  }
  return h("div", { class: "field" }, h("label", { for: input.id }, label), input, hintEl);
}

const errorBox = (err) => h("p", { class: "error", role: "alert" }, api.errorText(err));
const loading = () => h("p", { class: "muted" }, "Loading…");

function section(title, ...children) {
  const id = uid("sec");
  return h("section", { class: "section", "aria-labelledby": id }, h("h2", { id }, title), ...children);
}

const shortId = (id) => (id || "").slice(0, 8);

// EVERY_RESOURCE stands for all of an environment's resources being deleted (DeleteBackend).
const EVERY_RESOURCE = Symbol("every resource");

// GUARDED are the operations an environment's screen offers that change it.
const GUARDED = ["CreateBackendStorage", "ImportBackendStorage", "UpdateBackendStorage", "DeleteBackendStorage", "UpdateBackendJob", "CloneBackend", "DeleteBackend"];

/** inviteLink is the console's sign-in link for a CreateToken answer. */
function inviteLink(t) {
  const q = new URLSearchParams({ appId: t.AppId, sessionId: t.SessionId, challengeCode: t.ChallengeCode });
  return `${window.location.origin}${window.location.pathname}#/sign-in?${q}`;
}

/**
 * watchJob polls GetBackendJob until the job leaves RUNNING, calling
 * onStatus with each answer; it stops when alive() turns false.
 */
async function watchJob(scope, jobId, alive, onStatus) {
  for (;;) {
    let j;
    try {
      j = await api.send(new GetBackendJobCommand({ ...scope, JobId: jobId }));
    } catch (e) {
      if (alive()) onStatus(null, e);
      return;
    }
    if (!alive()) return;
    onStatus(j);
    if (j.Status !== "RUNNING") return;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

// ---------------------------------------------------------------- permission grid

const WHO = [
  ["authenticated", "Authenticated users"],
  ["unAuthenticated", "Guests"],
];
const WHAT = [
  ["READ", "Read"],
  ["CREATE_AND_UPDATE", "Create and update"],
  ["DELETE", "Delete"],
];

function normalizePermissions(p) {
  return {
    authenticated: [...new Set(p?.authenticated ?? [])].sort(),
    unAuthenticated: [...new Set(p?.unAuthenticated ?? [])].sort(),
  };
}

// The SDK names members in PascalCase (its model's names); the console works
// with the API's JSON names and converts at the SDK boundary.
const fromSdkPermissions = (p) => normalizePermissions({ authenticated: p?.Authenticated, unAuthenticated: p?.UnAuthenticated });
const toSdkPermissions = (p) => ({ Authenticated: p.authenticated, UnAuthenticated: p.unAuthenticated });
// fromSdkJob takes a job as the SDK gives it, plus the same job as the
// server sent it (raw), for its warnings: a member beyond the service model.
const fromSdkJob = (j, raw) => ({
  jobId: j.JobId,
  operation: j.Operation,
  status: j.Status,
  error: j.Error,
  warnings: raw?.jobId === j.JobId && Array.isArray(raw.warnings) ? raw.warnings : [],
  createTime: j.CreateTime,
  updateTime: j.UpdateTime,
});

/** permissionGrid is the Authenticated/Guests × Read/Create and update/Delete table of checkboxes. */
function permissionGrid(initial, caption) {
  const start = normalizePermissions(initial);
  const boxes = [];
  const rows = WHO.map(([who, whoLabel]) =>
    h(
      "tr",
      {},
      h("th", { scope: "row" }, whoLabel),
      WHAT.map(([perm, permLabel]) => {
        const cb = h("input", { type: "checkbox", id: uid("perm"), "data-focus-key": `perm-${who}-${perm}` });
        cb.checked = cb.defaultChecked = start[who].includes(perm);
        boxes.push({ who, perm, cb });
        return h("td", {}, h("label", { for: cb.id, class: "cell" }, cb, srOnly(`${whoLabel}: ${permLabel}`)));
      }),
    ),
  );
  const table = h(
    "table",
    { class: "grid" },
    h("caption", {}, caption),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, srOnly("Users")), WHAT.map(([, l]) => h("th", { scope: "col" }, l)))),
    h("tbody", {}, rows),
  );
  const value = () => {
    const out = { authenticated: [], unAuthenticated: [] };
    for (const { who, perm, cb } of boxes) if (cb.checked) out[who].push(perm);
    return normalizePermissions(out);
  };
  const startKey = JSON.stringify(start);
  return {
    el: table,
    value,
    dirty: () => JSON.stringify(value()) !== startKey,
    setDisabled: (d) => boxes.forEach(({ cb }) => (cb.disabled = d)),
  };
}

// ---------------------------------------------------------------- confirm dialog

/**
 * confirmDialog asks before a destructive action. With `typed`, the
 * confirm button stays disabled until that text is typed exactly.
 */
function confirmDialog({ title, text, confirmLabel, dismissLabel = "Cancel", typed }) {
  return new Promise((resolve) => {
    const confirmBtn = h("button", { type: "submit", value: "confirm", class: "danger" }, confirmLabel);
    const cancelBtn = h("button", { type: "submit", value: "cancel", class: "secondary", formnovalidate: true }, dismissLabel);
    let input = null;
    if (typed) {
      input = h("input", { autocomplete: "off", spellcheck: "false", autocapitalize: "off" });
      confirmBtn.disabled = true;
      input.addEventListener("input", () => (confirmBtn.disabled = input.value !== typed));
    }
    replace(
      dialog,
      h(
        "form",
        { method: "dialog" },
        h("h2", { id: "confirm-title" }, title),
        h("p", { id: "confirm-text" }, text),
        input && field(`Type “${typed}” to confirm`, input),
        h("div", { class: "actions" }, cancelBtn, confirmBtn),
      ),
    );
    const opener = document.activeElement;
    dialog.returnValue = "";
    dialog.addEventListener(
      "close",
      () => {
        resolve(dialog.returnValue === "confirm");
        if (opener && opener.isConnected) opener.focus();
      },
      { once: true },
    );
    dialog.showModal();
    (input || cancelBtn).focus();
  });
}

// ---------------------------------------------------------------- sign-in

// signInScreen offers the two ways in: an invitation (the three values
// CreateToken answered, typed or carried by a #/sign-in?... link, which
// submits itself) and, for administrators, an access key.
function signInScreen(link) {
  const page = h("div", { class: "signin-page" }, h("h1", { id: "signin-title", tabindex: "-1" }, "Sign in"));
  if (notice) page.append(h("p", { class: "notice", role: "status" }, notice));

  const text = (name) => h("input", { name, autocomplete: "off", spellcheck: "false", autocapitalize: "off", required: true });
  const inviteApp = text("appId");
  const inviteSession = text("sessionId");
  const inviteCode = text("challengeCode");
  const inviteForm = signInForm({
    kind: "invite",
    title: "With an invitation",
    hint:
      "An administrator's invitation (amplifybackend create-token, or Invite in this console) signs you in to one app, once. " +
      "Its temporary credentials stay in this tab and end when they expire.",
    fields: [field("App ID", inviteApp), field("Session ID", inviteSession), field("Challenge code", inviteCode)],
    label: "Sign in with invitation",
    signIn: () => api.redeem(inviteApp.value.trim(), inviteSession.value.trim(), inviteCode.value.trim()),
  });

  const key = text("accessKeyId");
  const secret = h("input", { name: "secretAccessKey", type: "password", autocomplete: "off", required: true });
  const keyForm = signInForm({
    kind: "key",
    title: "With an access key",
    hint:
      "For administrators: an access key this server accepts (a profile of its data/credentials file). " +
      "The key stays in this tab's session storage; only signatures leave the browser.",
    fields: [field("Access key ID", key), field("Secret access key", secret)],
    label: "Sign in",
    signIn: () => api.signIn(key.value.trim(), secret.value),
    refused: () => secret.focus(),
  });
  page.append(inviteForm, keyForm);
  replace(main, page);

  if (link) {
    inviteApp.value = link.appId;
    inviteSession.value = link.sessionId;
    inviteCode.value = link.challengeCode;
    if (api.signedIn()) {
      // A link opened in a tab that is signed in does not submit itself:
      // anyone can send a link, and one that signed in on its own would
      // swap this tab's key for the sender's invitation, and spend it,
      // without a word. The person chooses, knowing what it replaces.
      const inv = api.invitation();
      const current = inv ? `to app ${inv.appId}` : who?.name ? `as ${who.name}` : `with key ${api.accessKeyId()}`;
      inviteForm.before(
        h(
          "p",
          { class: "notice", role: "status", "data-field": "replaces" },
          `This tab is signed in ${current}. Signing in with this invitation to app ${link.appId || "(none named)"} ends that; `,
          h("a", { href: "#/" }, "go back"),
          " to keep it.",
        ),
      );
      inviteForm.querySelector("button[type=submit]").focus();
    } else if (link.appId && link.sessionId && link.challengeCode) inviteForm.requestSubmit();
    else inviteApp.focus();
  } else {
    key.focus();
  }
  return { dispose() {} };
}

/**
 * signInForm is one way in: its fields, and signIn, which keeps the
 * credentials or throws the API's refusal, shown in the form's alert.
 */
function signInForm({ kind, title, hint, fields, label, signIn, refused }) {
  const err = h("div", { class: "error-slot", role: "alert" });
  const submit = h("button", { type: "submit" }, label);
  const titleId = `${kind}-title`;
  return h(
    "form",
    {
      class: `card signin signin-${kind}`,
      "aria-labelledby": titleId,
      onsubmit: async (e) => {
        e.preventDefault();
        err.replaceChildren();
        submit.disabled = true;
        submit.textContent = "Signing in…";
        try {
          await signIn();
          notice = "";
          // A link's challenge is spent: keep it out of the address bar and history.
          if (parseHash().screen === "sign-in") history.replaceState(null, "", "#/");
          render();
          loadCaller();
        } catch (e2) {
          err.append(h("p", { class: "error" }, api.errorText(e2)));
          submit.disabled = false;
          submit.textContent = label;
          refused?.();
        }
      },
    },
    h("h2", { id: titleId }, title),
    h("p", { class: "hint" }, hint),
    fields,
    h("div", { class: "actions" }, submit),
    err,
  );
}

// ---------------------------------------------------------------- overview

function overviewScreen() {
  let alive = true;
  const title = h("h1", { tabindex: "-1" }, "Apps and environments");
  const appsBox = h("div", {}, loading());
  // What an app's job (RemoveAllBackends) came to: outside the list, which
  // is drawn anew when the job ends.
  const appsStatus = h("p", { class: "app-status", "aria-live": "polite", "aria-atomic": "true" });
  const bucketsBox = h("div", {}, loading());

  const appInput = h("input", { name: "appId", autocomplete: "off", spellcheck: "false", required: true });
  const envInput = h("input", { name: "env", autocomplete: "off", spellcheck: "false", required: true });
  const openForm = h(
    "form",
    {
      class: "card inline-form",
      "aria-label": "Open an environment",
      onsubmit: (e) => {
        e.preventDefault();
        window.location.hash = envHash(appInput.value.trim(), envInput.value.trim());
      },
    },
    field("App ID", appInput),
    field("Environment", envInput),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Open")),
  );

  const newApp = h("input", { name: "appId", autocomplete: "off", spellcheck: "false", autocapitalize: "off" });
  const newName = h("input", { name: "appName", autocomplete: "off", spellcheck: "false" });
  const newEnv = h("input", { name: "backendEnvironmentName", autocomplete: "off", spellcheck: "false", autocapitalize: "off" });
  if (api.invitation()) newApp.value = api.invitation().appId;
  const createErr = h("div", { class: "error-slot", role: "alert" });
  const createBtn = h("button", { type: "submit" }, "Create environment");
  // CreateBackend records the app's name and the environment as a job; the
  // environment's screen then shows that job to its end. The API's own
  // messages say what is wrong with a field.
  const createForm = h(
    "form",
    {
      class: "card inline-form",
      "aria-label": "Create an app or environment",
      novalidate: true,
      onsubmit: async (e) => {
        e.preventDefault();
        createErr.replaceChildren();
        createBtn.disabled = true;
        const appId = newApp.value.trim();
        const env = newEnv.value.trim();
        try {
          await api.send(new CreateBackendCommand({ AppId: appId, AppName: newName.value.trim(), BackendEnvironmentName: env }));
          announce(`CreateBackend started for ${appId} / ${env}.`);
          window.location.hash = envHash(appId, env);
        } catch (e2) {
          if (alive) createErr.append(errorBox(e2));
        } finally {
          createBtn.disabled = false;
        }
      },
    },
    field("App ID", newApp),
    field("App name", newName),
    field("Environment", newEnv),
    h("div", { class: "actions" }, createBtn),
    createErr,
  );

  replace(
    main,
    title,
    section("Apps", appsStatus, appsBox),
    section(
      "Create an app or environment",
      h("p", { class: "hint" }, "CreateBackend: a new app (with its name) or a new environment of an app, with no resources yet."),
      createForm,
    ),
    section(
      "Open an environment",
      h("p", { class: "hint" }, "An app or environment exists once a job ran in it. Open a new one to create its first storage resource."),
      openForm,
    ),
    section("S3 buckets", bucketsBox),
  );
  focusTitle(title);

  const loadApps = () =>
    api.consoleGet("/console-api/apps").then(
      (r) => alive && renderApps(appsBox, r.apps || [], { alive: () => alive, reload: loadApps, status: appsStatus }),
      (e) => alive && replace(appsBox, errorBox(e)),
    );
  loadApps();
  loadBuckets().then(
    (buckets) => alive && replace(bucketsBox, bucketsTable(buckets)),
    (e) => alive && replace(bucketsBox, errorBox(e)),
  );
  return { dispose: () => (alive = false) };
}

// systemScreen shows GET /console-api/system: the target and what it can
// do, the version and uptime, the RUNNING jobs (the oldest linked to its
// environment) and the gaps known at start-up.
function systemScreen() {
  let alive = true;
  const title = h("h1", { tabindex: "-1" }, "System");
  const box = h("div", {}, loading());
  replace(main, title, box);
  focusTitle(title);
  const row = (label, value) => h("tr", {}, h("th", { scope: "row" }, label), h("td", {}, value));
  api.consoleGet("/console-api/system").then(
    (sys) => {
      if (!alive) return;
      const t = sys.target || {};
      const oldest = sys.oldestRunning;
      replace(
        box,
        section(
          "Target",
          h(
            "table",
            { class: "facts", "aria-label": "Target" },
            h(
              "tbody",
              {},
              row("Kind", t.kind === "embedded" ? "embedded S3/IAM gateway" : "external"),
              row("S3 endpoint", t.s3Endpoint || "AWS"),
              row("IAM endpoint", t.iam ? t.iamEndpoint || "AWS" : "none: role policies are not written"),
              row("Guest access in bucket policies", t.publicGuestAccess ? "on" : "off"),
            ),
          ),
          sys.warnings?.length
            ? h("ul", { class: "warning", role: "note", "aria-label": "Known gaps" }, sys.warnings.map((w) => h("li", {}, w)))
            : h("p", { class: "muted" }, "No gaps known at start-up."),
        ),
        section(
          "Server",
          h(
            "table",
            { class: "facts", "aria-label": "Server" },
            h(
              "tbody",
              {},
              row("Version", sys.version || "unknown"),
              row("Started", sys.started ? formatTime(sys.started) : "unknown"),
              row("Uptime", `${Math.floor((sys.uptimeSeconds || 0) / 3600)} h ${Math.floor(((sys.uptimeSeconds || 0) % 3600) / 60)} min`),
            ),
          ),
        ),
        section(
          "Jobs",
          h("p", { class: "jobs-running" }, `${sys.jobsRunning || 0} RUNNING`),
          oldest &&
            h(
              "p",
              { class: "oldest-running" },
              "Oldest: ",
              h("a", { href: envHash(oldest.appId, oldest.backendEnvironmentName) }, `${oldest.appId} / ${oldest.backendEnvironmentName}`),
              ` ${oldest.operation} job ${shortId(oldest.jobId)}, created ${formatTime(oldest.createTime)}`,
            ),
        ),
      );
    },
    (e) => alive && replace(box, errorBox(e)),
  );
  return { dispose: () => (alive = false) };
}

function renderApps(box, apps, screen) {
  if (apps.length === 0) {
    replace(box, h("p", { class: "muted" }, "No apps yet. Create one below, or open an environment to create its first storage resource."));
    return;
  }
  replace(box, h("ul", { class: "app-list" }, apps.map((a) => appCard(a, screen))));
}

// appCard is one app: its environments, and Invite (CreateToken) and Remove
// app (RemoveAllBackends) where the key may take them.
function appCard(a, screen) {
  const allowed = new Set(a.allowedActions || []);
  const status = screen.status;
  const err = h("div", { class: "error-slot", role: "alert" });
  const panel = h("div", {});
  const envs = a.environments || [];

  const invite = h("button", { type: "button", class: "secondary", "aria-label": `Invite to ${a.appId}` }, "Invite…");
  invite.addEventListener("click", async () => {
    err.replaceChildren();
    invite.disabled = true;
    try {
      const t = await api.send(new CreateTokenCommand({ AppId: a.appId }));
      if (screen.alive()) replace(panel, invitationPanel(t));
    } catch (e) {
      if (screen.alive()) err.append(errorBox(e));
    } finally {
      invite.disabled = false;
    }
  });
  allowIf(invite, allowed.has("CreateToken"), notAllowed("CreateToken", "app"));

  const remove = h("button", { type: "button", class: "danger", "aria-label": `Remove app ${a.appId}` }, "Remove app…");
  remove.addEventListener("click", async () => {
    const ok = await confirmDialog({
      title: `Remove app ${a.appId}?`,
      text:
        `This deletes every environment of ${a.appId} (${envs.join(", ") || "none listed"}) and their storage resources, ` +
        "as DeleteBackend does, and the app's name. Buckets are kept unless the server deletes buckets.",
      confirmLabel: "Remove app",
      typed: a.appId,
    });
    if (!ok || !screen.alive()) return;
    err.replaceChildren();
    try {
      const r = await api.send(new RemoveAllBackendsCommand({ AppId: a.appId, CleanAmplifyApp: true }));
      status.textContent = `RemoveAllBackends job ${shortId(r.JobId)} for ${a.appId}: ${r.Status || "RUNNING"}`;
      // The job belongs to the app; GetBackendJob finds it under any of its environment names.
      watchJob({ AppId: a.appId, BackendEnvironmentName: envs[0] || "-" }, r.JobId, screen.alive, (j, e) => {
        if (e) return err.append(errorBox(e));
        status.textContent =
          `RemoveAllBackends job ${shortId(r.JobId)} for ${a.appId}: ${j.Status}` + (j.Status === "FAILED" && j.Error ? `: ${j.Error}` : "");
        if (j.Status !== "RUNNING") screen.reload();
      });
    } catch (e) {
      err.append(errorBox(e));
    }
  });
  allowIf(remove, allowed.has("RemoveAllBackends"), notAllowed("RemoveAllBackends", "app"));

  return h(
    "li",
    { class: "card app", "data-app": a.appId },
    h("h3", {}, a.appId),
    a.lastActivity && h("p", { class: "muted" }, "Last job ", formatTime(a.lastActivity)),
    h(
      "ul",
      { class: "env-links", "aria-label": `Environments of ${a.appId}` },
      envs.map((env) => h("li", {}, h("a", { href: envHash(a.appId, env) }, env))),
    ),
    h("div", { class: "app-actions" }, invite, remove),
    err,
    panel,
  );
}

/** invitationPanel shows a CreateToken answer and its ready-made sign-in link. */
function invitationPanel(t) {
  const link = inviteLink(t);
  const expires = new Date(Date.now() + Number(t.Ttl || 0) * 1000);
  const linkInput = h("input", { readonly: true, value: link, spellcheck: "false", class: "break" });
  const copied = h("span", { class: "muted", "aria-live": "polite" });
  const copy = h(
    "button",
    {
      type: "button",
      class: "secondary",
      onclick: async () => {
        try {
          await navigator.clipboard.writeText(link);
        } catch {
          // No clipboard permission: copy the selected text the old way.
          linkInput.select();
          document.execCommand("copy");
        }
        copied.textContent = "Copied.";
      },
    },
    "Copy link",
  );
  const titleId = uid("inv");
  return h(
    "section",
    { class: "invitation", "aria-labelledby": titleId },
    h("h4", { id: titleId }, `Invitation to ${t.AppId}`),
    h(
      "dl",
      { class: "facts" },
      h("dt", {}, "Session ID"),
      h("dd", { class: "break" }, h("code", { "data-field": "sessionId" }, t.SessionId)),
      h("dt", {}, "Challenge code"),
      h("dd", { class: "break" }, h("code", { "data-field": "challengeCode" }, t.ChallengeCode)),
      h("dt", {}, "Expires"),
      h("dd", {}, h("time", { datetime: expires.toISOString() }, clockTime(expires)), ` (in ${Math.round(Number(t.Ttl || 0) / 60)} min)`),
    ),
    field("Sign-in link", linkInput, "Valid once, until it expires. Send it privately: whoever opens it first signs in to this app."),
    h("div", { class: "link-row" }, copy, copied),
  );
}

async function loadBuckets() {
  const out = [];
  let nextToken;
  do {
    const r = await api.send(new ListS3BucketsCommand({ NextToken: nextToken }));
    out.push(...(r.Buckets || []).map((b) => ({ name: b.Name, creationDate: b.CreationDate })));
    nextToken = r.NextToken;
  } while (nextToken);
  return out;
}

function bucketsTable(buckets) {
  if (buckets.length === 0) {
    // ListS3Buckets shows a key without ListS3Buckets on "*" only the buckets of resources it may read.
    return h("p", { class: "muted" }, api.invitation() || (who && !who.administrator) ? "No bucket of a storage resource your key may read." : "The target's credentials see no bucket.");
  }
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { class: "list" },
      h("caption", { class: "sr-only" }, "Buckets visible to the server's S3 credentials"),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Name"), h("th", { scope: "col" }, "Created"))),
      h(
        "tbody",
        {},
        buckets.map((b) => h("tr", {}, h("td", { class: "break" }, b.name), h("td", {}, b.creationDate ? formatTime(b.creationDate) : "—"))),
      ),
    ),
  );
}

// ---------------------------------------------------------------- one environment

function envScreen(appId, env) {
  const ctx = {
    alive: true,
    resources: [], // [{name, bucketName, region, imported, permissions}]
    cards: new Map(), // name -> card
    jobs: [], // first page, newest first
    older: [], // pages loaded with "Show older jobs"
    nextToken: undefined,
    // exists: the environment has jobs. Until it does, its API reads would
    // be 404s, so the screen shows the empty state without asking.
    exists: false,
    deleting: new Map(), // jobId -> resource name, or EVERY_RESOURCE for DeleteBackend, for deletes started here
    loadSeq: 0, // the newest loadResources call; older answers are dropped
    timer: null,
    polling: false,
    pollAgain: false,
    // allowed: the operations ListConsoleApps says the key may take here;
    // undefined until it answers; null for an environment it does not list
    // (one being opened to create its first resource), where the API
    // decides alone.
    allowed: undefined,
    guards: [], // [element, operation] made while allowed was unknown, decided once it is
    clones: new Map(), // jobId -> target environment, for clones started here
  };
  const scope = { AppId: appId, BackendEnvironmentName: env };
  /** deletingNow answers whether a delete started here is removing a resource. */
  const deletingNow = () => {
    const names = new Set(ctx.deleting.values());
    return { has: (name) => names.has(name) || names.has(EVERY_RESOURCE) };
  };
  const can = (op) => !ctx.allowed || ctx.allowed.has(op);
  /** guard disables el, with the reason, when the key may not take op here. */
  function guard(el, op) {
    if (ctx.allowed === undefined) ctx.guards.push([el, op]);
    allowIf(el, can(op), notAllowed(op, "environment"));
    return el;
  }

  const title = h("h1", { tabindex: "-1" }, h("span", { class: "muted" }, "Environment "), `${appId} / ${env}`);
  const crumbs = h(
    "nav",
    { "aria-label": "Breadcrumb", class: "crumbs" },
    h("ol", {}, h("li", {}, h("a", { href: "#/" }, "Apps")), h("li", {}, appId), h("li", { "aria-current": "page" }, env)),
  );
  const siblings = h("div", {});
  const accessNote = h("div", {});
  const warnings = h("div", {});
  const resBox = h("div", { class: "resources" }, loading());
  const downloadBtn = h("button", { type: "button", disabled: true, onclick: () => downloadOutputs() }, "Download amplify_outputs.json");
  const outputsPre = h("pre", { tabindex: "0", "aria-label": "amplify_outputs.json preview" });
  const jobStatus = h("p", { class: "job-status", "aria-live": "polite", "aria-atomic": "true" });
  const jobsErr = h("div", {});
  const jobsBox = h("div", {}, loading());
  const bucketList = h("datalist", { id: uid("buckets") });
  const cloneResult = h("p", { class: "app-status", "aria-live": "polite" });

  replace(
    main,
    crumbs,
    title,
    siblings,
    accessNote,
    warnings,
    section(
      "Storage resources",
      h(
        "div",
        { class: "toolbar" },
        downloadBtn,
        h("button", { type: "button", class: "secondary", onclick: () => { loadResources(); pollJobs(); } }, "Refresh"),
      ),
      resBox,
      h(
        "details",
        { class: "outputs" },
        h("summary", {}, "amplify_outputs.json preview"),
        h(
          "p",
          { class: "hint" },
          "The storage section of Amplify Gen2's client configuration for this environment; pass it to Amplify.configure. " +
            "READ maps to get and list, CREATE_AND_UPDATE to write, DELETE to delete; entityidentity is the owner of protected/ and private/ paths.",
        ),
        outputsPre,
      ),
    ),
    section("Add storage", h("div", { class: "two-up" }, createForm(), importForm())),
    section("Jobs", jobStatus, jobsErr, jobsBox),
    section("Environment", h("div", { class: "two-up" }, cloneForm(), deleteEnvCard())),
    bucketList,
  );
  focusTitle(title);

  // -------------------------------------------------------------- resources

  async function loadResources() {
    if (!ctx.exists) {
      ctx.resources = [];
      renderResources("Nothing has run in this environment yet. Create or import a storage resource below: the app and environment come into being with its job.");
      return;
    }
    const seq = ++ctx.loadSeq;
    const current = () => ctx.alive && seq === ctx.loadSeq;
    let be;
    try {
      be = await api.send(new GetBackendCommand(scope));
    } catch (e) {
      if (!current()) return;
      if (e.name === "NotFoundException") {
        ctx.resources = [];
        renderResources("Nothing has run in this environment yet. Create or import a storage resource below: the app and environment come into being with its job.");
      } else {
        replace(resBox, errorBox(e));
      }
      return;
    }
    let storage = {};
    try {
      storage = JSON.parse(be.AmplifyMetaConfig || "{}").storage || {};
    } catch {
      storage = {};
    }
    const names = Object.keys(storage).sort();
    const deleting = deletingNow();
    const results = await Promise.all(
      names.map((name) =>
        // A resource whose delete runs may vanish at any moment: show it as
        // being deleted rather than read it (the read could be a 404).
        deleting.has(name)
          ? { name, bucketName: storage[name]?.output?.BucketName || "", region: storage[name]?.output?.Region || "", deleting: true }
          : api.send(new GetBackendStorageCommand({ ...scope, ResourceName: name })).then(
          (r) => ({
            name,
            bucketName: r.ResourceConfig?.BucketName || storage[name]?.output?.BucketName || "",
            region: storage[name]?.output?.Region || "",
            imported: r.ResourceConfig?.Imported === true,
            permissions: fromSdkPermissions(r.ResourceConfig?.Permissions),
          }),
          (e) => (e.name === "NotFoundException" ? null : { name, error: e }), // removed meanwhile
        ),
      ),
    );
    if (!current()) return;
    const beWarnings = Array.isArray(be.$raw?.warnings) ? be.$raw.warnings : [];
    replace(warnings, beWarnings.length ? h("p", { class: "warning", role: "note" }, "Warnings: ", beWarnings.join("; ")) : null);
    ctx.resources = results.filter(Boolean);
    renderResources();
  }

  function renderResources(emptyText) {
    const active = document.activeElement;
    const focusKey = resBox.contains(active) ? active.dataset?.focusKey : undefined;
    const focusCard = focusKey ? active.closest("[data-resource]")?.dataset.resource : undefined;

    const deleting = deletingNow();
    const next = new Map();
    for (const r of ctx.resources) {
      const old = ctx.cards.get(r.name);
      if (deleting.has(r.name)) r.deleting = true;
      // Keep a card whose permissions the operator is editing.
      next.set(r.name, old && old.isDirty() && !r.deleting ? old : resourceCard(r, old));
    }
    ctx.cards = next;
    replace(
      resBox,
      next.size ? [...next.values()].map((c) => c.el) : h("p", { class: "muted" }, emptyText || "No storage resources in this environment."),
    );
    pruneReasons();
    const ok = ctx.resources.filter((r) => !r.error && !r.deleting);
    downloadBtn.disabled = ok.length === 0;
    outputsPre.textContent = JSON.stringify(amplifyOutputs(ok, api.SIGNING_REGION), null, 2);

    if (focusCard !== undefined && next.has(focusCard)) {
      const card = next.get(focusCard).el;
      const target = card.querySelector(`[data-focus-key="${CSS.escape(focusKey)}"]`);
      if (target && !target.disabled) target.focus();
      else card.querySelector("h3").focus();
    }
  }

  function resourceCard(r, old) {
    const titleId = uid("res");
    const el = h("article", { class: "card resource", "aria-labelledby": titleId, "data-resource": r.name });
    const heading = h("h3", { id: titleId, tabindex: "-1" }, r.name);
    if (r.error || r.deleting) {
      el.append(
        heading,
        r.error ? errorBox(r.error) : h("p", { class: "muted" }, "Being deleted: its policies are being removed; the bucket ", h("span", { class: "break" }, r.bucketName), " is kept."),
      );
      return { el, isDirty: () => false, policiesOpen: () => false };
    }
    const grid = permissionGrid(r.permissions, `Permissions of ${r.name}`);
    if (!can("UpdateBackendStorage")) grid.setDisabled(true);
    const apply = guard(h("button", { type: "submit", disabled: true, "data-focus-key": "apply" }, "Apply permissions"), "UpdateBackendStorage");
    const err = h("div", { class: "error-slot", role: "alert" });
    const form = h(
      "form",
      {
        "aria-label": `Permissions of ${r.name}`,
        onchange: () => (apply.disabled = !grid.dirty()),
        onsubmit: async (e) => {
          e.preventDefault();
          err.replaceChildren();
          apply.disabled = true;
          try {
            const resp = await api.send(
              new UpdateBackendStorageCommand({
                ...scope,
                ResourceName: r.name,
                ResourceConfig: { ServiceName: "S3", Permissions: toSdkPermissions(grid.value()) },
              }),
            );
            jobAccepted(resp, "UpdateBackendStorage", r.name);
          } catch (e2) {
            err.append(errorBox(e2));
            apply.disabled = !grid.dirty();
          }
        },
      },
      grid.el,
      h("div", { class: "actions" }, apply),
      err,
    );

    const policiesBody = h("div", {});
    let loaded = false;
    const details = h(
      "details",
      {
        class: "policies",
        ontoggle: () => {
          if (details.open && !loaded) {
            loaded = true;
            loadPolicies(r, policiesBody);
          }
        },
      },
      h("summary", { "data-focus-key": "policies" }, "Effective policies"),
      policiesBody,
    );
    if (old?.policiesOpen()) details.open = true; // the toggle event loads them

    const del = guard(
      h(
        "button",
        {
          type: "button",
          class: "danger",
          "aria-label": `Delete ${r.name}`,
          "data-focus-key": "delete",
          onclick: () => deleteResource(r, err),
        },
        "Delete…",
      ),
      "DeleteBackendStorage",
    );

    el.append(
      heading,
      h(
        "dl",
        { class: "facts" },
        h("dt", {}, "Bucket"),
        h("dd", { class: "break" }, r.bucketName),
        h("dt", {}, "Imported"),
        h("dd", {}, r.imported ? "yes" : "no"),
        h("dt", {}, "Region"),
        h("dd", {}, r.region || "—"),
      ),
      form,
      details,
      h(
        "div",
        { class: "actions end" },
        h("a", { class: "button secondary", href: filesHash(appId, env, r.name), "aria-label": `Browse files of ${r.name}` }, "Browse files"),
        del,
      ),
    );
    return { el, isDirty: () => grid.dirty(), policiesOpen: () => details.open };
  }

  async function loadPolicies(r, body) {
    replace(body, loading());
    try {
      const p = await api.consoleGet(
        `/console-api/apps/${api.esc(appId)}/environments/${api.esc(env)}/storage/${api.esc(r.name)}/policies`,
      );
      const parts = [
        h("p", { class: "hint" }, "What the jobs write for this resource's permissions (policy.Translate on the server)."),
      ];
      if (!p.authRole && !p.unauthRole && !p.bucketPolicyStatements) {
        parts.push(h("p", {}, "Nothing is granted, so no policy is written."));
      }
      for (const [label, role] of [
        ["Authenticated role", p.authRole],
        ["Unauthenticated role", p.unauthRole],
      ]) {
        if (!role) continue;
        parts.push(
          h("h4", {}, `${label} `, h("code", { class: "break" }, role.roleName)),
          h("p", { class: "muted" }, "Inline policy ", h("code", { class: "break" }, role.policyName)),
          h("pre", { tabindex: "0", "aria-label": `${label} policy document` }, role.policyDocument),
        );
      }
      if (p.bucketPolicyStatements) {
        parts.push(
          h("h4", {}, "Bucket policy of ", h("code", { class: "break" }, p.bucketName)),
          h("p", { class: "muted" }, "Our statements (Sid prefix ", h("code", {}, p.sidPrefix), "); statements written by others are kept."),
          h("pre", { tabindex: "0", "aria-label": "Bucket policy statements" }, p.bucketPolicyStatements),
        );
      }
      replace(body, parts);
    } catch (e) {
      replace(body, errorBox(e));
    }
  }

  async function deleteResource(r, err) {
    const ok = await confirmDialog({
      title: `Delete ${r.name}?`,
      text:
        `This removes every policy statement and role policy written for ${r.name}. ` +
        `The bucket ${r.bucketName} and its objects are kept${r.imported ? " (it was imported)" : ""}.`,
      confirmLabel: "Delete",
      typed: r.name,
    });
    if (!ok || !ctx.alive) return;
    err.replaceChildren();
    try {
      const resp = await api.send(new DeleteBackendStorageCommand({ ...scope, ResourceName: r.name, ServiceName: "S3" }));
      jobAccepted(resp, "DeleteBackendStorage", r.name);
    } catch (e) {
      err.append(errorBox(e));
    }
  }

  function downloadOutputs() {
    const doc = amplifyOutputs(
      ctx.resources.filter((r) => !r.error && !r.deleting),
      api.SIGNING_REGION,
    );
    const blob = new Blob([JSON.stringify(doc, null, 2) + "\n"], { type: "application/json" });
    const url = URL.createObjectURL(blob);
    const a = h("a", { href: url, download: "amplify_outputs.json", hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
    announce("amplify_outputs.json downloaded.");
  }

  // -------------------------------------------------------------- forms

  /**
   * jobForm is a card form that starts one job: start() sends the command
   * and answers { resp, name } (what the job is about); the accepted job
   * joins the list. The operation is disabled where the key may not take
   * it. No client-side rules: the API's BadRequestException message is the
   * one the operator sees, so the two can never disagree.
   */
  function jobForm({ title, operation, label, body, start, after }) {
    const err = h("div", { class: "error-slot", role: "alert" });
    const submit = guard(h("button", { type: "submit" }, label), operation);
    const titleId = uid("h");
    const form = h(
      "form",
      {
        class: "card",
        "aria-labelledby": titleId,
        novalidate: true,
        onsubmit: async (e) => {
          e.preventDefault();
          err.replaceChildren();
          submit.disabled = true;
          try {
            const { resp, name } = await start();
            form.reset();
            jobAccepted(resp, operation, name);
          } catch (e2) {
            err.append(errorBox(e2));
          } finally {
            submit.disabled = false;
          }
        },
      },
      h("h3", { id: titleId }, title),
      body,
      h("div", { class: "actions" }, submit),
      after,
      err,
    );
    return form;
  }

  function createForm() {
    const name = h("input", { name: "resourceName", autocomplete: "off", spellcheck: "false", autocapitalize: "off", "aria-required": "true" });
    const bucket = h("input", { name: "bucketName", autocomplete: "off", spellcheck: "false", autocapitalize: "off" });
    const grid = permissionGrid({ authenticated: ["READ", "CREATE_AND_UPDATE", "DELETE"], unAuthenticated: [] }, "Permissions");
    return jobForm({
      title: "Create storage",
      operation: "CreateBackendStorage",
      label: "Create",
      body: [
        field("Resource name", name),
        field("Bucket name (optional)", bucket, "Used verbatim. Leave empty to have a valid, unique name derived from the resource, app and environment."),
        grid.el,
      ],
      start: async () => {
        const resourceName = name.value.trim();
        const resp = await api.send(
          new CreateBackendStorageCommand({
            ...scope,
            ResourceName: resourceName,
            ResourceConfig: {
              ServiceName: "S3",
              BucketName: bucket.value.trim() || undefined,
              Permissions: toSdkPermissions(grid.value()),
            },
          }),
        );
        return { resp, name: resourceName };
      },
    });
  }

  function importForm() {
    const bucket = h("input", { name: "bucketName", list: bucketList.id, autocomplete: "off", spellcheck: "false", autocapitalize: "off", "aria-required": "true" });
    return jobForm({
      title: "Import an existing bucket",
      operation: "ImportBackendStorage",
      label: "Import",
      body: field("Bucket name", bucket, "The resource is named after the bucket and starts with no permissions; the bucket is never deleted by this service."),
      start: async () => {
        const bucketName = bucket.value.trim();
        const resp = await api.send(new ImportBackendStorageCommand({ ...scope, BucketName: bucketName, ServiceName: "S3" }));
        return { resp, name: bucketName };
      },
    });
  }

  // -------------------------------------------------------------- the environment as a whole

  function cloneForm() {
    const target = h("input", { name: "targetEnvironmentName", autocomplete: "off", spellcheck: "false", autocapitalize: "off", "aria-required": "true" });
    return jobForm({
      title: "Clone this environment",
      operation: "CloneBackend",
      label: "Clone",
      body: field(
        "Target environment",
        target,
        "A new environment with every storage resource of this one and the same permissions; buckets this service created get new names, imported ones are imported again.",
      ),
      after: cloneResult,
      start: async () => {
        cloneResult.replaceChildren();
        const name = target.value.trim();
        const resp = await api.send(new CloneBackendCommand({ ...scope, TargetEnvironmentName: name }));
        ctx.clones.set(resp.JobId, name);
        cloneResult.textContent = `Cloning ${env} into ${name}: the CloneBackend job runs (see Jobs).`;
        return { resp, name };
      },
    });
  }

  function cloneSettled(j, targetEnv) {
    if (j.status === "COMPLETED") {
      replace(cloneResult, `Cloned ${env} into `, h("a", { href: envHash(appId, targetEnv) }, targetEnv), ".");
    } else {
      replace(cloneResult, h("span", { class: "error-text" }, `The clone into ${targetEnv} ended ${j.status}${j.error ? `: ${j.error}` : ""}. ${targetEnv} was not created.`));
    }
  }

  function deleteEnvCard() {
    const err = h("div", { class: "error-slot", role: "alert" });
    const titleId = uid("h");
    const del = guard(
      h(
        "button",
        {
          type: "button",
          class: "danger",
          "aria-label": `Delete environment ${env}`,
          onclick: async () => {
            const ok = await confirmDialog({
              title: `Delete environment ${env}?`,
              text:
                `This deletes every storage resource of ${appId} / ${env} as DeleteBackendStorage does, then the environment's ` +
                "role policies and the roles this service created. Buckets are kept unless the server deletes buckets.",
              confirmLabel: "Delete environment",
              typed: env,
            });
            if (!ok || !ctx.alive) return;
            err.replaceChildren();
            try {
              const resp = await api.send(new DeleteBackendCommand(scope));
              jobAccepted(resp, "DeleteBackend", env);
            } catch (e) {
              err.append(errorBox(e));
            }
          },
        },
        "Delete environment…",
      ),
      "DeleteBackend",
    );
    return h(
      "div",
      { class: "card", role: "group", "aria-labelledby": titleId },
      h("h3", { id: titleId }, "Delete this environment"),
      h("p", { class: "hint" }, "DeleteBackend, as one job. Removing the whole app is on the overview."),
      h("div", { class: "actions" }, del),
      err,
    );
  }

  // -------------------------------------------------------------- jobs

  function jobAccepted(resp, operation, resourceName) {
    const job = {
      jobId: resp.JobId,
      operation,
      status: resp.Status || "RUNNING",
      warnings: [],
      createTime: new Date().toISOString(),
    };
    if (!ctx.jobs.some((j) => j.jobId === job.jobId)) ctx.jobs.unshift(job);
    jobStatus.textContent = `${operation} job ${shortId(job.jobId)} for ${resourceName}: ${job.status}`;
    ctx.exists = true;
    if (operation === "DeleteBackendStorage" || operation === "DeleteBackend") {
      // Its resources may vanish at any moment: show them as being deleted
      // rather than read them.
      ctx.deleting.set(job.jobId, operation === "DeleteBackend" ? EVERY_RESOURCE : resourceName);
      renderResources();
    } else {
      loadResources();
    }
    renderJobs();
    pollJobs();
  }

  async function pollJobs() {
    if (!ctx.exists) {
      ctx.jobs = [];
      renderJobs();
      return;
    }
    if (ctx.polling) {
      ctx.pollAgain = true;
      return;
    }
    clearTimeout(ctx.timer);
    ctx.polling = true;
    try {
      const before = new Map(ctx.jobs.map((j) => [j.jobId, j.status]));
      const r = await api.send(new ListBackendJobsCommand({ ...scope, MaxResults: 25 }));
      if (!ctx.alive) return;
      replace(jobsErr);
      ctx.jobs = (r.Jobs || []).map((j, i) => fromSdkJob(j, r.$raw?.jobs?.[i]));
      if (ctx.older.length === 0) ctx.nextToken = r.NextToken;
      let settled = false;
      for (const [id] of ctx.deleting) {
        if (ctx.jobs.find((j) => j.jobId === id)?.status !== "RUNNING") {
          ctx.deleting.delete(id);
          settled = true;
        }
      }
      for (const j of ctx.jobs) {
        if (before.get(j.jobId) === "RUNNING" && j.status !== "RUNNING") {
          settled = true;
          jobStatus.textContent =
            `${j.operation} job ${shortId(j.jobId)}: ${j.status}` +
            (j.status === "FAILED" && j.error ? `: ${j.error}` : j.warnings.length ? " (with warnings)" : "");
        }
      }
      // A clone started here ends with a link to its target, however the
      // polls interleaved with its start.
      for (const [id, targetEnv] of ctx.clones) {
        const j = ctx.jobs.find((x) => x.jobId === id);
        if (j && j.status !== "RUNNING") {
          ctx.clones.delete(id);
          cloneSettled(j, targetEnv);
        }
      }
      renderJobs();
      if (settled) loadResources();
    } catch (e) {
      if (!ctx.alive) return;
      if (e.name === "NotFoundException") {
        ctx.jobs = [];
        renderJobs();
      } else {
        replace(jobsErr, errorBox(e));
      }
    } finally {
      ctx.polling = false;
    }
    if (!ctx.alive) return;
    if (ctx.pollAgain) {
      ctx.pollAgain = false;
      pollJobs();
    } else if (ctx.jobs.some((j) => j.status === "RUNNING")) {
      ctx.timer = setTimeout(pollJobs, POLL_MS);
    }
  }

  async function loadOlder() {
    try {
      const r = await api.send(new ListBackendJobsCommand({ ...scope, MaxResults: 25, NextToken: ctx.nextToken }));
      if (!ctx.alive) return;
      ctx.older.push(...(r.Jobs || []).map((j, i) => fromSdkJob(j, r.$raw?.jobs?.[i])));
      ctx.nextToken = r.NextToken;
      renderJobs();
    } catch (e) {
      replace(jobsErr, errorBox(e));
    }
  }

  function renderJobs() {
    const seen = new Set();
    const all = [...ctx.jobs, ...ctx.older].filter((j) => !seen.has(j.jobId) && seen.add(j.jobId));
    if (all.length === 0) {
      replace(jobsBox, h("p", { class: "muted" }, "No jobs yet."));
      return;
    }
    replace(
      jobsBox,
      h(
        "div",
        { class: "table-wrap" },
        h(
          "table",
          { class: "list jobs" },
          h("caption", { class: "sr-only" }, "Jobs of this environment, newest first"),
          h(
            "thead",
            {},
            h("tr", {}, ["Operation", "Status", "Started", "Updated", "Details", "Job"].map((c) => h("th", { scope: "col" }, c))),
          ),
          h("tbody", {}, all.map(jobRow)),
        ),
      ),
      ctx.nextToken && h("div", { class: "actions" }, h("button", { type: "button", class: "secondary", onclick: loadOlder }, "Show older jobs")),
    );
    pruneReasons();
  }

  function jobRow(j) {
    const status = j.status || "";
    // A failure's error is shown whole; a completed job's warnings (optional
    // settings the target lacks) fold away.
    let details = "—";
    if (j.warnings.length && !j.error) {
      details = h("details", { class: "warning-text" }, h("summary", {}, "Warnings"), j.warnings.join("; "));
    } else if (j.error) {
      details = h("span", { class: status === "FAILED" ? "error-text" : "warning-text" }, j.error);
    }
    return h(
      "tr",
      { "data-job-id": j.jobId, "data-operation": j.operation || "", "data-status": status },
      h("td", { "data-label": "Operation" }, j.operation || "—"),
      h("td", { "data-label": "Status" }, h("span", { class: `status status-${status.toLowerCase()}` }, status)),
      h("td", { "data-label": "Started" }, formatTime(j.createTime) || "—"),
      h("td", { "data-label": "Updated" }, formatTime(j.updateTime) || "—"),
      h("td", { "data-label": "Details", class: "details" }, details),
      h(
        "td",
        { "data-label": "Job" },
        h("code", { title: j.jobId }, shortId(j.jobId)),
        status === "RUNNING" &&
          guard(
            h(
              "button",
              { type: "button", class: "danger small", "aria-label": `Cancel job ${shortId(j.jobId)}`, onclick: () => cancelJob(j) },
              "Cancel…",
            ),
            "UpdateBackendJob",
          ),
      ),
    );
  }

  async function cancelJob(j) {
    const ok = await confirmDialog({
      title: `Cancel job ${shortId(j.jobId)}?`,
      text: `The ${j.operation} job stops and the partial change is undone.`,
      confirmLabel: "Cancel job",
      dismissLabel: "Keep it running",
    });
    if (!ok || !ctx.alive) return;
    try {
      const r = await api.send(
        new UpdateBackendJobCommand({ ...scope, JobId: j.jobId, Operation: j.operation, Status: "CANCELLED" }),
      );
      jobStatus.textContent = `${r.Operation || j.operation} job ${shortId(j.jobId)}: ${r.Status}`;
      loadResources();
      pollJobs();
    } catch (e) {
      replace(jobsErr, errorBox(e));
    }
  }

  // -------------------------------------------------------------- start: does it exist? other environments, bucket names

  api.consoleGet("/console-api/apps").then(
    (r) => {
      if (!ctx.alive) return;
      const app = (r.apps || []).find((a) => a.appId === appId);
      const envs = app?.environments || [];
      ctx.exists ||= envs.includes(env);
      ctx.allowed = envs.includes(env) ? new Set(app.environmentAllowedActions?.[env] || []) : null;
      for (const [el, op] of ctx.guards) allowIf(el, can(op), notAllowed(op, "environment"));
      ctx.guards = [];
      // Said once in view too: a touch screen has no hover to show a reason.
      const denied = GUARDED.filter((op) => !can(op));
      if (denied.length) {
        replace(
          accessNote,
          h("p", { class: "notice", role: "note" }, `Your key may not take these actions on this environment, so they are disabled: ${denied.join(", ")}.`),
        );
      }
      loadResources();
      pollJobs();
      if (envs.length > 1 || (envs.length === 1 && envs[0] !== env)) {
        replace(
          siblings,
          h(
            "nav",
            { class: "env-links", "aria-label": `Environments of ${appId}` },
            h("span", { class: "muted" }, "Environments: "),
            h(
              "ul",
              {},
              envs.map((e) =>
                h("li", {}, e === env ? h("a", { href: envHash(appId, e), "aria-current": "page" }, e) : h("a", { href: envHash(appId, e) }, e)),
              ),
            ),
          ),
        );
      }
    },
    () => {
      if (!ctx.alive) return;
      // Without the list, ask the API itself (a new environment is a 404).
      ctx.exists = true;
      ctx.allowed = null;
      ctx.guards = [];
      loadResources();
      pollJobs();
    },
  );
  loadBuckets().then(
    (bs) => ctx.alive && replace(bucketList, bs.map((b) => h("option", { value: b.name }))),
    () => {},
  );

  return {
    dispose() {
      ctx.alive = false;
      clearTimeout(ctx.timer);
    },
  };
}

// ---------------------------------------------------------------- start

document.querySelector(".skip-link").addEventListener("click", (e) => {
  e.preventDefault();
  main.focus();
});
window.addEventListener("hashchange", render);
refuseDisabledClicks();
const gone = api.restore();
if (gone) notice = `Your sign-in to app ${gone.appId} expired at ${clockTime(gone.expiration)}. Ask for a new invitation, or sign in with an access key.`;
render();
if (api.signedIn()) loadCaller();
