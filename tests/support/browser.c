#include "browser.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "util.h"

bool browser_available(void)
{
    return system("command -v chromium >/dev/null 2>&1") == 0;
}

char *browser_run(const char *profile, const char *flags, const char *url)
{
    char *cmd = xasprintf("timeout 60 chromium --headless --no-sandbox --disable-gpu "
                          "--hide-scrollbars --user-data-dir=%s/%s %s '%s' 2>>%s/chromium.log",
                          harness_tmpdir(), profile, flags, url, harness_tmpdir());
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    ovop_buf_t b;
    ovop_buf_init(&b);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), p)) > 0)
        ovop_buf_append(&b, buf, n);
    assert_int_equal(pclose(p), 0);
    ovop_buf_puts(&b, "");
    free(cmd);
    return b.data;
}

void browser_expect_dom(const char *dom, const char *fragment, const char *url)
{
    if (!strstr(dom, fragment))
        fail_msg("the DOM of %s lacks \"%s\":\n%.4000s", url, fragment, dom);
}

void browser_expect_png(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    unsigned char magic[8] = {0};
    assert_int_equal(fread(magic, 1, 8, f), 8);
    assert_memory_equal(magic, "\x89PNG\r\n\x1a\n", 8);
    fclose(f);
}
