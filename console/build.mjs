// Builds the console into dist/ (or the folder given as the first argument):
//
//   index.html    copied from src/
//   app.js        src/main.js and the AWS SDK, bundled and minified by esbuild
//   app.css       src/app.css, minified
//   licenses.txt  the licenses of the npm packages bundled into app.js
//
// The output is a pure function of src/ and the versions pinned in
// package-lock.json: no timestamps, no absolute paths, no source maps.
// TestBuildIsFresh (build_test.go) runs this into a temporary folder and
// compares it byte for byte with the committed dist/.
//
//   npm ci && npm run build      # from console/

import { build } from "esbuild";
import { mkdir, readFile, readdir, rm, writeFile, copyFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = resolve(process.argv[2] || join(here, "dist"));
const src = join(here, "src");

await rm(out, { recursive: true, force: true });
await mkdir(out, { recursive: true });

const js = await build({
  absWorkingDir: here,
  entryPoints: [join(src, "main.js")],
  outfile: join(out, "app.js"),
  bundle: true,
  minify: true,
  format: "esm",
  platform: "browser",
  target: ["es2022", "chrome110", "firefox115", "safari16"],
  legalComments: "none", // licenses.txt carries them
  charset: "utf8",
  sourcemap: false,
  metafile: true,
  logLevel: "warning",
  define: { "process.env.NODE_ENV": '"production"' },
});

await build({
  absWorkingDir: here,
  entryPoints: [join(src, "app.css")],
  outfile: join(out, "app.css"),
  bundle: true,
  minify: true,
  charset: "utf8",
  logLevel: "warning",
});

await copyFile(join(src, "index.html"), join(out, "index.html"));

// licenses.txt: every npm package with code in app.js, with its license
// text; identical texts (the AWS SDK's many Apache-2.0 copies) once.
const packages = new Map();
for (const input of Object.keys(js.metafile.inputs)) {
  const m = input.match(/node_modules\/((?:@[^/]+\/)?[^/]+)\//);
  if (m) packages.set(m[1], join(here, "node_modules", m[1]));
}
const texts = new Map(); // license text -> [package@version]
for (const [name, dir] of [...packages].sort(([a], [b]) => (a < b ? -1 : 1))) {
  const pkg = JSON.parse(await readFile(join(dir, "package.json"), "utf8"));
  const file = (await readdir(dir)).sort().find((f) => /^(licen[cs]e|copying)(\.|$)/i.test(f));
  const text = file ? (await readFile(join(dir, file), "utf8")).replace(/\r\n/g, "\n").trim() : `License: ${pkg.license}`;
  if (!texts.has(text)) texts.set(text, []);
  texts.get(text).push(`${name}@${pkg.version} (${pkg.license})`);
}
let licenses = "Third-party software bundled into app.js of the amplifybackendd console.\n";
for (const [text, names] of texts) {
  licenses += `\n${"=".repeat(78)}\n${names.join("\n")}\n${"-".repeat(78)}\n\n${text}\n`;
}
await writeFile(join(out, "licenses.txt"), licenses);

const size = (await readFile(join(out, "app.js"))).length;
console.error(`console: built ${out} (app.js ${(size / 1024).toFixed(0)} KiB, ${packages.size} packages)`);
