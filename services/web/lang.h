/* The languages of the public pages and their texts. Texts are data (lang.c, one row per
 * message with its five translations), so adding a language is adding a column. */
#pragma once

#include <stddef.h>

typedef enum web_lang {
    WEB_LANG_EN,
    WEB_LANG_KY,
    WEB_LANG_RU,
    WEB_LANG_JA,
    WEB_LANG_ZH,
    WEB_LANG_COUNT,
} web_lang_t;

/* "en", "ky", ... */
const char *web_lang_tag(web_lang_t l);
/* The language named by tag ("ru", "ru-RU", "zh-Hans-CN", any case), or -1. */
int web_lang_from_tag(const char *tag);
/* The best of our languages for an Accept-Language header (RFC 9110 12.5.4: the highest
 * q; on a tie the first listed; q=0 refuses; "*" means any, our default), or WEB_LANG_EN
 * when none matches or header is NULL. */
web_lang_t web_lang_negotiate(const char *header);

/* The text of message key in l (English when missing); "" for an unknown key. */
const char *web_text(web_lang_t l, const char *key);
