// Package console is the admin web console of amplifybackendd: a small
// single-page app that signs every call with the AWS SDK for JavaScript, as
// any other client does, and is served by the server itself under /console/.
//
// The sources live in src/ and are bundled by build.mjs (esbuild, versions
// pinned by package-lock.json) into dist/, which is committed and embedded
// here, so the binary serves the console without Node.js on the machine.
// TestBuildIsFresh rebuilds into a temporary folder and fails when dist/ is
// stale; TestConsoleInBrowser and TestFileBrowserInBrowser drive the
// console in Chromium.
package console

import (
	"embed"
	"io/fs"
)

//go:embed dist
var dist embed.FS

// Assets returns the built console: index.html and the files it loads.
func Assets() fs.FS {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		panic(err) // "dist" is a valid path; fs.Sub cannot fail on it
	}
	return sub
}
