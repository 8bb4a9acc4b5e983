/* Headless Chromium (Debian's `chromium`) for the browser tests: load a page, read its DOM,
 * take a screenshot. Every function fails the running cmocka test on error. */
#pragma once

#include <stdbool.h>

/* True when a `chromium` binary is on PATH (the browser tests skip, exit 77, otherwise). */
bool browser_available(void);

/* Runs headless Chromium on url with flags (e.g. "--dump-dom", "--screenshot=P
 * --window-size=W,H") and the profile directory <tmpdir>/<profile> (cookies persist in it
 * between runs); its stderr goes to <tmpdir>/chromium.log. Returns its stdout (the DOM with
 * --dump-dom), malloc'd. */
char *browser_run(const char *profile, const char *flags, const char *url);

/* Fails the test, showing the start of the DOM, when dom lacks fragment. */
void browser_expect_dom(const char *dom, const char *fragment, const char *url);

/* Fails the test unless path is a PNG file (its 8-byte signature). */
void browser_expect_png(const char *path);
