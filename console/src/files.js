// The file browser of one storage resource: its bucket by access level,
// folder by folder, a page at a time; uploads by picker or drag-and-drop,
// each with a progress bar, large files as multipart uploads; downloads,
// share links, previews and deletes.
//
// The browser never holds S3 credentials: every S3 request goes to a URL
// the server presigned through the signed /console-api/…/objects/ routes
// (see the README's "File browser"). Bytes go straight between the browser
// and S3; XMLHttpRequest carries them because fetch reports no upload
// progress.

import * as api from "./api.js";
import { allowIf, formatTime, h, notAllowed, pruneReasons, replace, srOnly, uid } from "./dom.js";

const MiB = 1024 * 1024;
/** Files larger than this go through a multipart upload. */
export const MULTIPART_THRESHOLD = 8 * MiB;
// Parts of 8 MiB, more when a file would need over 10,000 (S3's limit);
// four at once keep a link busy without starving the page's other calls
// (browsers open six connections per host).
const PART_SIZE = 8 * MiB;
const MAX_PARTS = 10000;
const PART_CONCURRENCY = 4;
// A part is tried this many times, each with a fresh URL, before the
// upload fails (and is aborted).
const PART_ATTEMPTS = 3;
const FILE_CONCURRENCY = 3;
// Larger text files are downloaded, not previewed; larger images get no
// thumbnail (a thumbnail is the whole image).
const TEXT_PREVIEW_MAX = 256 * 1024;
const THUMBNAIL_MAX = 10 * MiB;
const PREVIEW_URL_LIFE = 3600;

const LEVELS = [
  ["public", "Public", "public/"],
  ["protected", "Protected", "protected/"],
  ["private", "Private", "private/"],
  ["uploads", "Uploads", "uploads/"],
  ["all", "All (whole bucket)", ""],
];
const PAGE_SIZES = [50, 100, 250, 1000];
const SHARE_LIVES = [
  [900, "15 minutes"],
  [3600, "1 hour"],
  [86400, "1 day"],
  [604800, "7 days"],
];
const TEXT_TYPES = new Set(["application/json", "application/xml", "application/yaml"]);
const UPLOAD_OPS = [
  "PresignConsoleObjectUpload",
  "CreateConsoleMultipartUpload",
  "PresignConsoleUploadParts",
  "CompleteConsoleMultipartUpload",
  "AbortConsoleMultipartUpload",
];

/** filesHash is the route of a storage resource's file browser. */
export const filesHash = (appId, env, resource) =>
  `#/apps/${encodeURIComponent(appId)}/envs/${encodeURIComponent(env)}/storage/${encodeURIComponent(resource)}/files`;

/** formatSize shows a byte count the way file managers do (1024-based). */
export function formatSize(n) {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

/**
 * partPlan is how a file of size bytes is cut for a multipart upload: the
 * part size and count, within S3's 10,000 parts.
 */
export function partPlan(size) {
  const partSize = Math.max(PART_SIZE, Math.ceil(size / MAX_PARTS));
  return { partSize, count: Math.max(1, Math.ceil(size / partSize)) };
}

const isImage = (o) => o.contentType.startsWith("image/");
const isText = (o) => o.contentType.startsWith("text/") || TEXT_TYPES.has(o.contentType);
const previewable = (o) => (isImage(o) && o.size <= THUMBNAIL_MAX) || (isText(o) && o.size <= TEXT_PREVIEW_MAX);
// Icons are drawn by the stylesheet: no icon font or emoji font is needed.
const icon = (kind) => h("span", { class: `icon icon-${kind}`, "aria-hidden": "true" });
const baseName = (key) => key.slice(key.lastIndexOf("/", key.length - 2) + 1);

/**
 * filesScreen renders the file browser of one storage resource into main.
 * ui holds the shell's shared pieces: announce, focusTitle, confirmDialog,
 * errorBox and envHash. It returns { dispose() }, which cancels the
 * uploads under way (aborting multipart ones, so nothing is left behind):
 * an upload nobody can see could neither be followed nor cancelled.
 */
export function filesScreen({ appId, env, resource, main, ui }) {
  const base = `/console-api/apps/${api.esc(appId)}/environments/${api.esc(env)}/storage/${api.esc(resource)}/objects/`;
  const st = {
    alive: true,
    level: "public",
    folder: "public/",
    filter: "",
    pageSize: 100,
    tokens: [undefined], // tokens[i] lists page i; S3's tokens only go forward
    page: 0,
    next: undefined,
    folders: [],
    objects: [],
    sort: { by: "name", dir: 1 },
    bucket: "",
    allowed: null, // Set of operations the key may take here; null: unknown, the server decides
    loadSeq: 0,
    urls: new Map(), // key -> Promise of a presigned GET URL, for thumbnails and previews
    filterTimer: null,
  };

  // -------------------------------------------------------------- layout

  const title = h("h1", { tabindex: "-1" }, h("span", { class: "muted" }, "Files of "), resource);
  const crumbs = h(
    "nav",
    { "aria-label": "Breadcrumb", class: "crumbs" },
    h(
      "ol",
      {},
      h("li", {}, h("a", { href: "#/" }, "Apps")),
      h("li", {}, appId),
      h("li", {}, h("a", { href: ui.envHash(appId, env) }, env)),
      h("li", {}, resource),
      h("li", { "aria-current": "page" }, "Files"),
    ),
  );
  const bucketLine = h("p", { class: "muted break" });

  const levelSelect = h(
    "select",
    { id: uid("f"), name: "accessLevel" },
    LEVELS.map(([v, label]) => h("option", { value: v }, label)),
  );
  const filterInput = h("input", {
    id: uid("f"),
    type: "search",
    name: "filter",
    autocomplete: "off",
    spellcheck: "false",
    autocapitalize: "off",
  });
  const sizeSelect = h(
    "select",
    { id: uid("f"), name: "pageSize" },
    PAGE_SIZES.map((n) => h("option", { value: String(n), selected: n === st.pageSize }, String(n))),
  );
  const picker = h("input", { type: "file", multiple: true, hidden: true, tabindex: "-1", "aria-hidden": "true" });
  const uploadBtn = h("button", { type: "button" }, "Upload files…");
  const refreshBtn = h("button", { type: "button", class: "secondary" }, "Refresh");
  const folderNav = h("nav", { class: "folder-path", "aria-label": "Folder" });
  const notice = h("div", { class: "notice", role: "status", "aria-live": "polite" });
  const listErr = h("div", { class: "error-slot", role: "alert" });
  // What a delete could not do stays shown while the listing reloads.
  const deleteErr = h("div", { class: "error-slot", role: "alert" });
  const listBox = h("div", { class: "table-wrap" }, h("p", { class: "muted" }, "Loading…"));
  const pager = h("div", { class: "pager" });
  const dropHint = h("p", { class: "drop-hint" }, "Drop files here to upload them to this folder.");
  const uploadsList = h("ul", { class: "uploads", "aria-label": "Uploads" });
  const clearBtn = h("button", { type: "button", class: "secondary small", hidden: true }, "Clear finished");
  const uploadsBox = h(
    "section",
    { class: "section", "aria-labelledby": "uploads-title", hidden: true },
    h("h2", { id: "uploads-title" }, "Uploads ", clearBtn),
    uploadsList,
  );
  const sheet = h("dialog", { class: "sheet", "aria-labelledby": "sheet-title" });
  document.body.append(sheet);

  const label = (input, text) => h("label", { for: input.id }, text);
  const browser = h(
    "section",
    { class: "card files", "aria-labelledby": "files-title" },
    h("h2", { id: "files-title", class: "sr-only" }, "Objects"),
    h(
      "div",
      { class: "files-toolbar" },
      h("div", { class: "field" }, label(levelSelect, "Access level"), levelSelect),
      h("div", { class: "field grow" }, label(filterInput, "Filter by name prefix"), filterInput),
      h("div", { class: "field" }, label(sizeSelect, "Per page"), sizeSelect),
      h("div", { class: "actions" }, uploadBtn, refreshBtn, picker),
    ),
    folderNav,
    dropHint,
    notice,
    deleteErr,
    listErr,
    listBox,
    pager,
  );

  replace(main, crumbs, title, bucketLine, browser, uploadsBox);
  ui.focusTitle(title);

  // -------------------------------------------------------------- what the key may do

  /** denied says why the key may not take one of ops here, or "" when it may. */
  function denied(ops) {
    if (!st.allowed) return "";
    const missing = ops.find((op) => !st.allowed.has(op));
    return missing ? notAllowed(missing, "environment") : "";
  }

  /**
   * guard marks a control the key may not use as the rest of the console
   * does (allowIf: aria-disabled, the reason as title and description) and
   * answers the reason, "" when it may.
   */
  function guard(btn, ops) {
    const why = denied(ops);
    allowIf(btn, !why, why);
    return why;
  }

  // A click on a refused control does nothing (refuseDisabledClicks) but
  // say why here, where its result would have shown: a touch screen has
  // no hover to show the title.
  browser.addEventListener("refused", (e) => showNotice(e.detail.reason, "refused"));

  // -------------------------------------------------------------- listing

  const levelPrefix = () => LEVELS.find(([v]) => v === st.level)[2];

  async function load({ focus } = {}) {
    const seq = ++st.loadSeq;
    replace(listErr);
    renderFolderNav();
    const why = denied(["ListConsoleObjects"]);
    if (why) {
      replace(listBox, h("p", { class: "muted" }, why));
      replace(pager);
      return;
    }
    listBox.setAttribute("aria-busy", "true");
    try {
      const r = await api.consolePost(base + "list", {
        accessLevel: st.level,
        prefix: st.folder + st.filter,
        delimiter: "/",
        maxKeys: st.pageSize,
        continuationToken: st.tokens[st.page],
      });
      if (!st.alive || seq !== st.loadSeq) return;
      st.bucket = r.bucketName;
      replace(bucketLine, "Bucket ", h("code", {}, r.bucketName));
      st.folders = r.folders || [];
      // A folder's own marker object ("photos/" of size 0) is the folder, not a file in it.
      st.objects = (r.objects || []).filter((o) => o.key !== st.folder);
      st.next = r.nextContinuationToken;
      renderList();
      if (focus === "list") listBox.querySelector("caption")?.focus();
    } catch (e) {
      if (!st.alive || seq !== st.loadSeq) return;
      replace(listErr, ui.errorBox(e));
      replace(listBox);
      replace(pager);
      pruneReasons();
    } finally {
      if (seq === st.loadSeq) listBox.removeAttribute("aria-busy");
    }
  }

  function reset() {
    st.tokens = [undefined];
    st.page = 0;
    st.urls.clear();
  }

  function openFolder(prefix) {
    st.folder = prefix;
    st.filter = "";
    filterInput.value = "";
    reset();
    load({ focus: "list" });
    ui.announce(`Folder ${prefix || "/"}`);
  }

  function renderFolderNav() {
    const root = levelPrefix();
    const rel = st.folder.slice(root.length);
    const segs = rel ? rel.slice(0, -1).split("/") : [];
    const items = [[root, root ? root.slice(0, -1) : "(bucket root)"]];
    let p = root;
    for (const s of segs) {
      p += `${s}/`;
      items.push([p, s]);
    }
    replace(
      folderNav,
      h(
        "ol",
        {},
        items.map(([prefix, name], i) =>
          h(
            "li",
            {},
            i === items.length - 1
              ? h("span", { "aria-current": "location", class: "break" }, name)
              : h("button", { type: "button", class: "link", onclick: () => openFolder(prefix) }, name),
          ),
        ),
      ),
    );
  }

  const columns = [
    ["name", "Name"],
    ["size", "Size"],
    ["lastModified", "Last modified"],
    ["contentType", "Type"],
  ];

  function sorted(objects) {
    const { by, dir } = st.sort;
    const key = (o) => (by === "name" ? o.key : o[by]);
    return [...objects].sort((a, b) => {
      const x = key(a);
      const y = key(b);
      return (x < y ? -1 : x > y ? 1 : 0) * dir || (a.key < b.key ? -1 : 1);
    });
  }

  function renderList() {
    st.observer?.disconnect();
    st.observer = new IntersectionObserver(showThumbnails, { rootMargin: "200px" });
    const folders = [...st.folders].sort((a, b) => (a < b ? -1 : 1) * (st.sort.by === "name" ? st.sort.dir : 1));
    const objects = sorted(st.objects);
    if (folders.length === 0 && objects.length === 0) {
      replace(
        listBox,
        h("p", { class: "muted empty" }, st.filter ? `Nothing here starts with “${st.filter}”.` : "This folder is empty."),
      );
    } else {
      const head = h(
        "tr",
        {},
        h("th", { scope: "col", class: "thumb-col" }, srOnly("Preview")),
        columns.map(([by, text]) => {
          const current = st.sort.by === by;
          return h(
            "th",
            { scope: "col", "aria-sort": current ? (st.sort.dir > 0 ? "ascending" : "descending") : null },
            h(
              "button",
              {
                type: "button",
                class: "sort",
                onclick: () => {
                  st.sort = { by, dir: current ? -st.sort.dir : 1 };
                  renderList();
                  listBox.querySelector(`th[aria-sort] button`)?.focus();
                },
              },
              text,
              h("span", { "aria-hidden": "true" }, current ? (st.sort.dir > 0 ? " ▲" : " ▼") : ""),
            ),
          );
        }),
        h("th", { scope: "col", class: "actions-col" }, "Actions"),
      );
      replace(
        listBox,
        h(
          "table",
          { class: "list objects" },
          h(
            "caption",
            { class: "sr-only", tabindex: "-1" },
            `Folder ${st.folder || "/"}${st.filter ? `, names starting “${st.filter}”` : ""}, page ${st.page + 1}`,
          ),
          h("thead", {}, head),
          h("tbody", {}, folders.map(folderRow), objects.map(objectRow)),
        ),
      );
    }
    const count = folders.length + objects.length;
    const prev = h("button", { type: "button", class: "secondary", disabled: st.page === 0 }, "Previous page");
    const next = h("button", { type: "button", class: "secondary", disabled: !st.next }, "Next page");
    prev.addEventListener("click", () => {
      st.page--;
      load({ focus: "list" });
    });
    next.addEventListener("click", () => {
      st.tokens[st.page + 1] = st.next;
      st.page++;
      load({ focus: "list" });
    });
    replace(
      pager,
      prev,
      h("span", { class: "page-info" }, `Page ${st.page + 1} · ${count} ${count === 1 ? "item" : "items"}${st.next ? ", more on the next page" : ""}`),
      next,
    );
    pruneReasons();
  }

  function folderRow(prefix) {
    const name = prefix.slice(st.folder.length);
    const del = h(
      "button",
      { type: "button", class: "danger small", "aria-label": `Delete folder ${name}`, onclick: () => deleteFolder(prefix, name) },
      "Delete…",
    );
    guard(del, ["DeleteConsoleObjects"]);
    return h(
      "tr",
      { "data-folder": prefix },
      h("td", { class: "thumb-col" }, icon("folder")),
      h(
        "td",
        { "data-label": "Name", class: "name" },
        h("button", { type: "button", class: "link break", onclick: () => openFolder(prefix) }, name),
      ),
      h("td", { "data-label": "Size" }, "—"),
      h("td", { "data-label": "Last modified" }, "—"),
      h("td", { "data-label": "Type" }, "Folder"),
      h("td", { "data-label": "Actions", class: "row-actions" }, del),
    );
  }

  function objectRow(o) {
    const name = o.key.slice(st.folder.length);
    const canRead = !denied(["PresignConsoleObjectDownload"]);
    const small = (text, aria, ops, fn, cls = "secondary small") => {
      const b = h("button", { type: "button", class: cls, "aria-label": aria, onclick: fn }, text);
      guard(b, ops);
      return b;
    };
    let thumb = icon(isImage(o) ? "image" : isText(o) ? "text" : "file");
    if (canRead && isImage(o) && o.size <= THUMBNAIL_MAX) {
      const img = h("img", { alt: "", class: "thumb", width: "40", height: "40", "data-key": o.key });
      st.observer.observe(img);
      thumb = h("button", { type: "button", class: "thumb-btn", "aria-label": `Preview ${name}`, onclick: () => preview(o) }, img);
    }
    const nameEl =
      canRead && previewable(o)
        ? h("button", { type: "button", class: "link break", onclick: () => preview(o) }, name)
        : h("span", { class: "break" }, name);
    return h(
      "tr",
      { "data-key": o.key },
      h("td", { class: "thumb-col" }, thumb),
      h("td", { "data-label": "Name", class: "name" }, nameEl),
      h("td", { "data-label": "Size", title: `${o.size} bytes` }, formatSize(o.size)),
      h("td", { "data-label": "Last modified" }, formatTime(o.lastModified)),
      h("td", { "data-label": "Type" }, o.contentType),
      h(
        "td",
        { "data-label": "Actions", class: "row-actions" },
        small("Download", `Download ${name}`, ["PresignConsoleObjectDownload"], () => download(o)),
        small("Share…", `Share ${name}`, ["PresignConsoleObjectDownload"], () => share(o)),
        small("Delete…", `Delete ${name}`, ["DeleteConsoleObjects"], () => deleteObject(o, name), "danger small"),
      ),
    );
  }

  // -------------------------------------------------------------- reading objects

  function presignGet(key, { expiresIn = PREVIEW_URL_LIFE, attachment = false } = {}) {
    return api.consolePost(base + "download", { accessLevel: st.level, key, expiresIn, attachment });
  }

  /** previewURL is a presigned GET URL for key, one per key while the page is shown. */
  function previewURL(key) {
    if (!st.urls.has(key)) {
      const p = presignGet(key).then((r) => r.url);
      p.catch(() => st.urls.delete(key)); // asked again next time
      st.urls.set(key, p);
    }
    return st.urls.get(key);
  }

  // Thumbnails are signed only when their row scrolls into view, so a page
  // of 1,000 images costs a call per image seen, not per image listed.
  function showThumbnails(entries) {
    for (const e of entries) {
      if (!e.isIntersecting) continue;
      st.observer.unobserve(e.target);
      const img = e.target;
      previewURL(img.dataset.key).then(
        (url) => {
          if (st.alive) img.src = url;
        },
        () => img.replaceWith(icon("image")),
      );
    }
  }

  function openSheet(heading, ...body) {
    const close = h("button", { type: "button", class: "secondary", onclick: () => sheet.close() }, "Close");
    replace(sheet, h("h2", { id: "sheet-title", class: "break" }, heading), ...body, h("div", { class: "actions end" }, close));
    const opener = document.activeElement;
    sheet.addEventListener("close", () => opener?.isConnected && opener.focus(), { once: true });
    sheet.showModal();
    return close;
  }

  async function preview(o) {
    const name = baseName(o.key);
    const body = h("div", { class: "preview-body" }, h("p", { class: "muted" }, "Loading…"));
    const dl = h("button", { type: "button", class: "secondary", onclick: () => download(o) }, "Download");
    const facts = h("p", { class: "muted" }, `${formatSize(o.size)} · ${o.contentType} · `, formatTime(o.lastModified));
    const close = openSheet(`Preview of ${name}`, facts, body, h("div", { class: "actions" }, dl));
    close.focus();
    try {
      const url = await previewURL(o.key);
      if (isImage(o)) {
        replace(body, h("img", { src: url, alt: `${name}, full size`, class: "preview-image" }));
      } else {
        const resp = await fetch(url, { credentials: "omit", cache: "no-store" });
        if (!resp.ok) throw new Error(`S3 answered ${resp.status} ${resp.statusText}`);
        replace(body, h("pre", { class: "preview-text", tabindex: "0", "aria-label": `Contents of ${name}` }, await resp.text()));
      }
    } catch (e) {
      replace(body, ui.errorBox(e));
    }
  }

  async function download(o) {
    try {
      const r = await presignGet(o.key, { expiresIn: 300, attachment: true });
      // The answer says Content-Disposition: attachment, so following the
      // link saves the file and the page stays.
      const a = h("a", { href: r.url, hidden: true, rel: "noopener" });
      document.body.append(a);
      a.click();
      a.remove();
      ui.announce(`Downloading ${baseName(o.key)}.`);
    } catch (e) {
      replace(listErr, ui.errorBox(e));
    }
  }

  function share(o) {
    const name = baseName(o.key);
    const life = h(
      "select",
      { id: uid("f"), name: "expiresIn" },
      SHARE_LIVES.map(([s, text]) => h("option", { value: String(s), selected: s === 3600 }, text)),
    );
    const out = h("div", {});
    const err = h("div", { class: "error-slot", role: "alert" });
    const create = h("button", { type: "submit" }, "Create link");
    const form = h(
      "form",
      {
        onsubmit: async (e) => {
          e.preventDefault();
          replace(err);
          create.disabled = true;
          try {
            const r = await presignGet(o.key, { expiresIn: Number(life.value) });
            const link = h("input", { id: uid("f"), readonly: true, value: r.url, class: "share-link", spellcheck: "false" });
            const status = h("p", { class: "hint", role: "status" });
            const copy = async () => {
              try {
                await navigator.clipboard.writeText(r.url);
                status.textContent = "Copied to the clipboard. ";
              } catch {
                link.select();
                status.textContent = "The clipboard is not available here: the link is selected, copy it with Ctrl+C. ";
              }
              status.append("Anyone with the link can download the file until ", formatTime(r.expiresAt), ".");
            };
            replace(
              out,
              h("div", { class: "field" }, label(link, "Share link"), link),
              h("div", { class: "actions" }, h("button", { type: "button", class: "secondary", onclick: copy }, "Copy again")),
              status,
            );
            await copy();
            link.focus();
            link.select();
          } catch (e2) {
            replace(err, ui.errorBox(e2));
          } finally {
            create.disabled = false;
          }
        },
      },
      h("div", { class: "field" }, label(life, "Link expires after"), life),
      h("div", { class: "actions" }, create),
    );
    openSheet(`Share ${name}`, h("p", { class: "hint" }, "A presigned link: it works without signing in, for anyone who has it, until it expires."), form, err, out);
    life.focus();
  }

  // -------------------------------------------------------------- deleting

  // notice is a live region itself: what it shows is read out once.
  function showNotice(text, kind = "done") {
    replace(notice, h("p", { class: kind }, text));
  }

  async function runDelete(body, what) {
    replace(listErr);
    replace(deleteErr);
    try {
      const r = await api.consolePost(base + "delete", { accessLevel: st.level, ...body });
      const failed = r.errors || [];
      const text = `${what}: ${r.deleted} ${r.deleted === 1 ? "object" : "objects"} deleted${failed.length ? `, ${failed.length} not deleted` : ""}.`;
      showNotice(text, failed.length ? "refused" : "done");
      if (failed.length) {
        replace(
          deleteErr,
          h(
            "div",
            { class: "error" },
            h("p", {}, `${failed.length} ${failed.length === 1 ? "object was" : "objects were"} not deleted:`),
            h("ul", { class: "delete-failures" }, failed.map((f) => h("li", { class: "break" }, h("code", {}, f.key), `: ${f.code}: ${f.message}`))),
          ),
        );
      }
      load({ focus: "list" });
    } catch (e) {
      replace(listErr, ui.errorBox(e));
    }
  }

  async function deleteObject(o, name) {
    const ok = await ui.confirmDialog({
      title: `Delete ${name}?`,
      text: `The object ${o.key} is deleted from the bucket ${st.bucket}. This cannot be undone.`,
      confirmLabel: "Delete",
    });
    if (ok && st.alive) runDelete({ key: o.key }, `Deleted ${name}`);
  }

  async function deleteFolder(prefix, name) {
    const folder = name.replace(/\/$/, "");
    const ok = await ui.confirmDialog({
      title: `Delete the folder ${name}?`,
      text: `Every object under ${prefix} is deleted from the bucket ${st.bucket}, with any folders inside it. This cannot be undone.`,
      confirmLabel: "Delete folder",
      typed: folder,
    });
    if (ok && st.alive) runDelete({ prefix }, `Folder ${name}`);
  }

  // -------------------------------------------------------------- uploads

  const queue = [];
  const active = new Set();
  let running = 0;
  // Closing the tab mid-upload would leave a multipart upload behind (the
  // lifecycle rule sweeps it a day later): the browser asks first.
  const holdTab = (e) => {
    e.preventDefault();
    e.returnValue = "";
  };

  function addFiles(files) {
    const why = denied(UPLOAD_OPS);
    if (why) {
      showNotice(why, "refused");
      return;
    }
    const list = [...files];
    if (list.length === 0) return;
    uploadsBox.hidden = false;
    for (const file of list) {
      const up = newUpload(file, st.level, st.folder + file.name);
      uploadsList.prepend(up.el);
      queue.push(up);
    }
    ui.announce(`${list.length} ${list.length === 1 ? "upload" : "uploads"} queued.`);
    pump();
  }

  function pump() {
    while (running < FILE_CONCURRENCY && queue.length > 0) {
      const up = queue.shift();
      if (up.state === "cancelled") continue;
      running++;
      active.add(up);
      if (active.size === 1) window.addEventListener("beforeunload", holdTab);
      up.done = runUpload(up).finally(() => {
        running--;
        active.delete(up);
        if (active.size === 0) window.removeEventListener("beforeunload", holdTab);
        pump();
      });
    }
  }

  function newUpload(file, level, key) {
    const multipart = file.size > MULTIPART_THRESHOLD;
    const bar = h("progress", { max: String(file.size || 1), value: "0", "aria-label": `Upload of ${file.name}` });
    const status = h("span", { class: "upload-status" }, "Queued");
    const cancel = h("button", { type: "button", class: "danger small", "aria-label": `Cancel upload of ${file.name}` }, "Cancel");
    const up = {
      file,
      level,
      key,
      multipart,
      state: "queued",
      xhrs: new Set(),
      loaded: 0,
      el: h(
        "li",
        { class: "upload", "data-key": key, "data-state": "queued" },
        h("div", { class: "upload-head" }, h("span", { class: "break upload-name" }, key), cancel),
        bar,
        status,
      ),
    };
    up.setState = (state, text) => {
      up.state = state;
      up.el.dataset.state = state;
      status.textContent = text;
      if (state !== "queued" && state !== "uploading") {
        cancel.remove();
        clearBtn.hidden = false;
      }
    };
    up.progress = (loaded) => {
      up.loaded = loaded;
      bar.value = loaded;
      const pct = file.size ? Math.floor((loaded / file.size) * 100) : 100;
      status.textContent = `${formatSize(loaded)} of ${formatSize(file.size)} (${pct}%)${multipart ? ` · multipart, ${up.parts} parts` : ""}`;
    };
    cancel.addEventListener("click", () => {
      if (up.state === "queued") {
        up.setState("cancelled", "Cancelled before it started.");
        return;
      }
      up.cancel();
    });
    up.cancel = () => {
      up.cancelled = true;
      for (const x of up.xhrs) x.abort();
      up.onCancel?.();
      status.textContent = "Cancelling…";
    };
    return up;
  }

  async function runUpload(up) {
    const contentType = up.file.type || "application/octet-stream";
    const body = { accessLevel: up.level, key: up.key };
    up.setState("uploading", "Starting…");
    try {
      if (up.multipart) await multipartUpload(up, body, contentType);
      else await singleUpload(up, body, contentType);
      up.progress(up.file.size);
      up.setState("done", `Uploaded, ${formatSize(up.file.size)}${up.multipart ? ` in ${up.parts} parts` : ""}.`);
      ui.announce(`${up.file.name} uploaded.`);
      if (st.alive && up.level === st.level && up.key.startsWith(st.folder)) load();
    } catch (e) {
      if (up.cancelled) {
        up.setState("cancelled", up.multipart ? "Cancelled: the upload was aborted, nothing is left in the bucket." : "Cancelled.");
        ui.announce(`Upload of ${up.file.name} cancelled.`);
      } else {
        up.setState("failed", `Failed: ${api.errorText(e)}`);
        ui.announce(`Upload of ${up.file.name} failed.`);
      }
    }
  }

  async function singleUpload(up, body, contentType) {
    const r = await api.consolePost(base + "upload", { ...body, contentType });
    if (up.cancelled) throw new Error("cancelled");
    await put(up, r.url, r.headers || [], up.file, (n) => up.progress(n));
  }

  async function multipartUpload(up, body, contentType) {
    const { partSize, count } = partPlan(up.file.size);
    up.parts = count;
    const created = await api.consolePost(base + "multipart", { ...body, contentType });
    const ref = { ...body, uploadId: created.uploadId };
    up.uploadId = created.uploadId;
    up.el.dataset.uploadId = created.uploadId;
    const loaded = new Array(count).fill(0);
    const etags = new Array(count);
    const report = () => up.progress(loaded.reduce((a, b) => a + b, 0));
    let nextPart = 0;
    let failure = null;
    const worker = async () => {
      while (!failure && !up.cancelled && nextPart < count) {
        const i = nextPart++;
        const blob = up.file.slice(i * partSize, Math.min(up.file.size, (i + 1) * partSize));
        for (let attempt = 1; ; attempt++) {
          try {
            // A fresh URL for every attempt: the old one may be what failed
            // (expired after a long stall, say).
            const urls = await api.consolePost(base + "multipart/parts", { ...ref, partNumbers: [i + 1] });
            etags[i] = await put(up, urls.parts[0].url, [], blob, (n) => {
              loaded[i] = n;
              report();
            });
            loaded[i] = blob.size;
            report();
            break;
          } catch (e) {
            loaded[i] = 0;
            report();
            if (up.cancelled || failure) return;
            if (attempt >= PART_ATTEMPTS) {
              failure = new Error(`part ${i + 1} failed ${attempt} times: ${api.errorText(e)}`);
              return;
            }
            await pause(250 * 4 ** (attempt - 1), up);
          }
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(PART_CONCURRENCY, count) }, worker));
    if (failure || up.cancelled) {
      for (const x of up.xhrs) x.abort();
      // Abort so no part is left behind in the bucket; when even that
      // fails, the bucket's lifecycle rule removes the upload after a day.
      try {
        await api.consolePost(base + "multipart/abort", ref);
      } catch (e) {
        throw new Error(`${failure ? failure.message : "cancelled"}; aborting the upload failed too (${api.errorText(e)})`);
      }
      throw failure || new Error("cancelled");
    }
    await api.consolePost(base + "multipart/complete", {
      ...ref,
      parts: etags.map((eTag, i) => ({ partNumber: i + 1, eTag })),
    });
  }

  /** pause waits ms before a retry, cut short by a cancel. */
  function pause(ms, up) {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      up.onCancel = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }

  /**
   * put sends body to a presigned URL and resolves with the answer's ETag.
   * S3's refusals come as XML: its Code and Message become the error.
   */
  function put(up, url, headers, body, onProgress) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      up.xhrs.add(xhr);
      xhr.open("PUT", url);
      for (const { name, value } of headers) xhr.setRequestHeader(name, value);
      xhr.upload.onprogress = (e) => onProgress(e.loaded);
      const done = (err) => {
        up.xhrs.delete(xhr);
        if (err) reject(err);
        else resolve(xhr.getResponseHeader("ETag") || "");
      };
      xhr.onload = () => {
        if (xhr.status >= 200 && xhr.status < 300) {
          if (!xhr.getResponseHeader("ETag")) {
            done(new Error("S3 answered no ETag the page may read: the bucket's CORS rules must expose ETag (see the README's File browser)"));
          } else {
            done();
          }
          return;
        }
        const xml = xhr.responseText || "";
        const code = xml.match(/<Code>([^<]*)<\/Code>/)?.[1];
        const msg = xml.match(/<Message>([^<]*)<\/Message>/)?.[1];
        done(Object.assign(new Error(msg || `S3 answered ${xhr.status}`), { name: code || `HTTP${xhr.status}` }));
      };
      xhr.onerror = () => done(Object.assign(new Error("the S3 endpoint could not be reached, or its CORS rules refused this page"), { name: "NetworkError" }));
      xhr.onabort = () => done(Object.assign(new Error("aborted"), { name: "AbortError" }));
      xhr.send(body);
    });
  }

  // -------------------------------------------------------------- wiring

  levelSelect.addEventListener("change", () => {
    st.level = levelSelect.value;
    openFolder(levelPrefix());
  });
  filterInput.addEventListener("input", () => {
    clearTimeout(st.filterTimer);
    st.filterTimer = setTimeout(() => {
      st.filter = filterInput.value;
      reset();
      load();
    }, 250);
  });
  filterInput.addEventListener("keydown", (e) => {
    if (e.key !== "Enter") return;
    e.preventDefault();
    clearTimeout(st.filterTimer);
    st.filter = filterInput.value;
    reset();
    load();
  });
  sizeSelect.addEventListener("change", () => {
    st.pageSize = Number(sizeSelect.value);
    reset();
    load();
  });
  refreshBtn.addEventListener("click", () => {
    reset();
    load();
  });
  uploadBtn.addEventListener("click", () => picker.click());
  picker.addEventListener("change", () => {
    addFiles(picker.files);
    picker.value = "";
  });
  clearBtn.addEventListener("click", () => {
    for (const li of [...uploadsList.children]) if (!["queued", "uploading"].includes(li.dataset.state)) li.remove();
    clearBtn.hidden = true;
    if (uploadsList.children.length === 0) uploadsBox.hidden = true;
  });
  let dragDepth = 0;
  browser.addEventListener("dragenter", (e) => {
    if (!e.dataTransfer?.types.includes("Files")) return;
    e.preventDefault();
    dragDepth++;
    browser.classList.add("dragging");
  });
  browser.addEventListener("dragover", (e) => {
    if (e.dataTransfer?.types.includes("Files")) e.preventDefault();
  });
  browser.addEventListener("dragleave", () => {
    if (--dragDepth <= 0) {
      dragDepth = 0;
      browser.classList.remove("dragging");
    }
  });
  browser.addEventListener("drop", (e) => {
    e.preventDefault();
    dragDepth = 0;
    browser.classList.remove("dragging");
    addFiles(e.dataTransfer?.files || []);
  });

  // What the key may do decides which controls work; without the list
  // (or without this environment in it) the server alone decides.
  api.consoleGet("/console-api/apps").then(
    (r) => {
      if (!st.alive) return;
      const acts = (r.apps || []).find((a) => a.appId === appId)?.environmentAllowedActions?.[env];
      if (acts) st.allowed = new Set(acts);
      if (guard(uploadBtn, UPLOAD_OPS)) dropHint.textContent = denied(UPLOAD_OPS);
      load();
    },
    () => st.alive && load(),
  );

  return {
    /**
     * dispose stops the screen; the promise it answers settles once every
     * upload under way has stopped, a multipart one aborted. Signing out
     * waits for it: the abort is a signed call, and made after the
     * credentials are gone it would fail and leave the parts in the bucket.
     */
    dispose() {
      st.alive = false;
      for (const up of queue) up.state = "cancelled";
      const stopping = [...active].map((up) => up.done);
      for (const up of active) up.cancel();
      window.removeEventListener("beforeunload", holdTab);
      st.observer?.disconnect();
      clearTimeout(st.filterTimer);
      sheet.remove();
      return Promise.allSettled(stopping);
    },
  };
}
