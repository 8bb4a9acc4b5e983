#include "lang.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const tags[WEB_LANG_COUNT] = {"en", "ky", "ru", "ja", "zh"};

const char *web_lang_tag(web_lang_t l)
{
    return (unsigned)l < WEB_LANG_COUNT ? tags[l] : "en";
}

int web_lang_from_tag(const char *tag)
{
    size_t n = strcspn(tag, "-_;, \t");
    for (int i = 0; i < WEB_LANG_COUNT; i++)
        if (n == strlen(tags[i]) && strncasecmp(tag, tags[i], n) == 0)
            return i;
    /* Kirghiz is also tagged "kir" (ISO 639-2). */
    if (n == 3 && strncasecmp(tag, "kir", 3) == 0)
        return WEB_LANG_KY;
    return -1;
}

/* The q of one range's parameters (";q=0.5"), 1 when absent, -1 when malformed. */
static double range_q(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    if (p == end)
        return 1;
    if (*p != ';')
        return -1;
    p++;
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    if (end - p < 2 || (p[0] != 'q' && p[0] != 'Q') || p[1] != '=')
        return -1;
    char buf[16];
    size_t n = (size_t)(end - p - 2);
    if (n == 0 || n >= sizeof(buf))
        return -1;
    memcpy(buf, p + 2, n);
    buf[n] = '\0';
    char *e;
    double q = strtod(buf, &e);
    while (*e == ' ' || *e == '\t')
        e++;
    return *e || q < 0 || q > 1 ? -1 : q;
}

web_lang_t web_lang_negotiate(const char *header)
{
    if (!header)
        return WEB_LANG_EN;
    int best = WEB_LANG_EN;
    double best_q = 0;
    const char *p = header;
    for (int ranges = 0; *p && ranges < 32; ranges++) {
        const char *end = strchr(p, ',');
        if (!end)
            end = p + strlen(p);
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        const char *tag_end = p;
        while (tag_end < end && *tag_end != ';' && *tag_end != ' ' && *tag_end != '\t')
            tag_end++;
        double q = range_q(tag_end, end);
        int l = (tag_end - p == 1 && *p == '*') ? WEB_LANG_EN : web_lang_from_tag(p);
        if (l >= 0 && q > best_q) {
            best = l;
            best_q = q;
        }
        p = *end ? end + 1 : end;
    }
    return (web_lang_t)best;
}

/* One message in every language: en, ky, ru, ja, zh. */
typedef struct text_row {
    const char *key;
    const char *t[WEB_LANG_COUNT];
} text_row_t;

static const text_row_t texts[] = {
    {"title",
     {"Made in Kyrgyzstan: certificate check", "Кыргызстанда жасалган: сертификатты текшерүү",
      "Сделано в Кыргызстане: проверка сертификата", "メイド・イン・キルギス：認証の確認",
      "吉尔吉斯斯坦制造：证书验证"}},
    {"brand",
     {"Made in Kyrgyzstan", "Кыргызстанда жасалган", "Сделано в Кыргызстане",
      "メイド・イン・キルギス", "吉尔吉斯斯坦制造"}},
    {"status_active",
     {"Valid certificate", "Жарактуу сертификат", "Действующий сертификат", "有効な認証",
      "有效证书"}},
    {"status_suspended",
     {"Certificate suspended", "Сертификаттын күчү токтотулган",
      "Действие сертификата приостановлено", "認証は一時停止中です", "证书已暂停"}},
    {"status_revoked",
     {"Certificate revoked", "Сертификат жокко чыгарылган", "Сертификат отозван",
      "認証は取り消されました", "证书已撤销"}},
    {"status_expired",
     {"Certificate expired", "Сертификаттын мөөнөтү бүткөн", "Срок действия сертификата истёк",
      "認証の有効期限が切れています", "证书已过期"}},
    {"status_note_active",
     {"This product carries the national brand.", "Бул продукция улуттук брендге ээ.",
      "Этот продукт имеет право на национальный бренд.",
      "この製品は国家ブランドの認証を受けています。", "该产品获得国家品牌认证。"}},
    {"status_note_bad",
     {"This certificate does not currently attest the national brand.",
      "Бул сертификат азыркы учурда улуттук брендди тастыктабайт.",
      "Этот сертификат сейчас не подтверждает национальный бренд.",
      "この認証は現在、国家ブランドを証明していません。", "该证书目前不能证明国家品牌。"}},
    {"product", {"Product", "Продукция", "Продукт", "製品", "产品"}},
    {"hs_code", {"HS code", "ТН ВЭД коду", "Код ТН ВЭД", "HSコード", "HS编码"}},
    {"producer", {"Producer", "Өндүрүүчү", "Производитель", "生産者", "生产者"}},
    {"producer_private",
     {"Individual producer", "Жеке өндүрүүчү", "Индивидуальный производитель", "個人生産者",
      "个体生产者"}},
    {"origin", {"Origin", "Келип чыгышы", "Происхождение", "産地", "产地"}},
    {"village", {"Village", "Айыл", "Село", "村", "村"}},
    {"district", {"District", "Район", "Район", "地区", "区"}},
    {"region", {"Region", "Облус", "Область", "州", "州"}},
    {"specialization",
     {"Region's specialization", "Аймактын адистешүүсү", "Специализация региона", "地域の特産",
      "地区特色产业"}},
    {"stars", {"Stars", "Жылдыздар", "Звёзды", "星の数", "星级"}},
    {"issued", {"Issued", "Берилген күнү", "Выдан", "発行日", "签发日期"}},
    {"valid_until", {"Valid until", "Жарактуу мөөнөтү", "Действителен до", "有効期限", "有效期至"}},
    {"number",
     {"Certificate number", "Сертификаттын номери", "Номер сертификата", "認証番号", "证书编号"}},
    {"code", {"Verification code", "Текшерүү коду", "Код проверки", "確認コード", "验证码"}},
    {"stale",
     {"The registry cannot be reached right now: this is the last known state.",
      "Реестр азыр жеткиликсиз: бул акыркы белгилүү абал.",
      "Реестр сейчас недоступен: показано последнее известное состояние.",
      "現在登録簿に接続できません。最後に確認された状態です。",
      "目前无法访问登记簿：显示的是最后已知状态。"}},
    {"notfound_title",
     {"Certificate not found", "Сертификат табылган жок", "Сертификат не найден",
      "認証が見つかりません", "未找到证书"}},
    {"notfound_text",
     {"No certificate of the national brand has this code. Check the code on the package; "
      "a product without a valid certificate must not carry the brand.",
      "Бул код менен улуттук бренддин сертификаты жок. Таңгактагы кодду текшериңиз; жарактуу "
      "сертификаты жок продукция брендди колдоно албайт.",
      "Сертификата национального бренда с этим кодом нет. Проверьте код на упаковке; продукт "
      "без действующего сертификата не вправе нести бренд.",
      "このコードの国家ブランド認証はありません。包装のコードを確認してください。有効な認証のない製"
      "品はブランドを表示できません。",
      "没有使用此代码的国家品牌证书。请核对包装上的代码；没有有效证书的产品不得使用该品牌。"}},
    {"malformed_title",
     {"This is not a valid code", "Бул жарактуу код эмес", "Это неверный код",
      "有効なコードではありません", "这不是有效的代码"}},
    {"malformed_text",
     {"The code is mistyped: it has 14 letters and digits, the last one a check character. "
      "Type it again or scan the QR code.",
      "Код туура эмес терилген: ал 14 тамга жана сандан турат, акыркысы текшерүү белгиси. Кайра "
      "териңиз же QR кодду сканерлеңиз.",
      "Код введён с ошибкой: в нём 14 букв и цифр, последняя — контрольная. Введите его снова "
      "или отсканируйте QR-код.",
      "コードが正しくありません。14文字の英数字で、最後の文字はチェック文字です。もう一度入力するか"
      "QRコードを読み取ってください。",
      "代码输入有误：它由14个字母和数字组成，最后一位是校验字符。请重新输入或扫描二维码。"}},
    {"unavailable_title",
     {"Temporarily unavailable", "Убактылуу жеткиликсиз", "Временно недоступно",
      "一時的に利用できません", "暂时无法使用"}},
    {"unavailable_text",
     {"The registry cannot be reached right now. Please try again in a minute.",
      "Реестр азыр жеткиликсиз. Бир мүнөттөн кийин кайра аракет кылыңыз.",
      "Реестр сейчас недоступен. Попробуйте ещё раз через минуту.",
      "現在登録簿に接続できません。1分後にもう一度お試しください。",
      "目前无法访问登记簿。请一分钟后重试。"}},
    {"too_many_title",
     {"Too many requests", "Өтө көп суроо", "Слишком много запросов", "リクエストが多すぎます",
      "请求过多"}},
    {"too_many_text",
     {"Please wait a moment and try again.", "Бир аз күтүп, кайра аракет кылыңыз.",
      "Подождите немного и попробуйте снова.", "しばらく待ってからもう一度お試しください。",
      "请稍候再试。"}},
    {"qr", {"QR code", "QR код", "QR-код", "QRコード", "二维码"}},
    /* The programme dashboard: en, ky, ru; ja and zh fall back to English. */
    {"dash_title", {"Programme dashboard", "Программанын панели", "Панель программы", "", ""}},
    {"dash_signout", {"Sign out", "Чыгуу", "Выйти", "", ""}},
    {"dash_asof", {"Data as of", "Маалымат убактысы", "Данные на", "", ""}},
    {"dash_map",
     {"Specialization coverage of villages", "Айылдардын адистешүү менен камтылышы",
      "Охват сёл специализацией", "", ""}},
    {"dash_exports",
     {"Exports by region and destination", "Облустар жана багыттар боюнча экспорт",
      "Экспорт по областям и направлениям", "", ""}},
    {"dash_certs",
     {"Brand certificates by stars", "Жылдыздар боюнча бренд сертификаттары",
      "Сертификаты бренда по звёздам", "", ""}},
    {"dash_programmes",
     {"Programme participation", "Программаларга катышуу", "Участие в программах", "", ""}},
    {"dash_villages_specialized",
     {"villages with a specialization", "адистешкен айыл", "сёл со специализацией", "", ""}},
    {"dash_approximate",
     {" (position approximate)", " (жайгашуусу болжолдуу)", " (положение приблизительное)", "",
      ""}},
    {"dash_coverage",
     {"Coverage by region and district", "Облустар жана райондор боюнча камтуу",
      "Охват по областям и районам", "", ""}},
    {"dash_events", {"Last events", "Акыркы окуялар", "Последние события", "", ""}},
    {"dash_time", {"Time (UTC)", "Убакыт (UTC)", "Время (UTC)", "", ""}},
    {"dash_event", {"Event", "Окуя", "Событие", "", ""}},
    {"dash_subject", {"Subject", "Объект", "Объект", "", ""}},
    {"dash_valid", {"Valid", "Жарактуу", "Действует", "", ""}},
    {"dash_suspended", {"Suspended", "Токтотулган", "Приостановлен", "", ""}},
    {"dash_revoked", {"Revoked", "Жокко чыгарылган", "Отозван", "", ""}},
    {"dash_expired", {"Expired", "Мөөнөтү бүткөн", "Истёк", "", ""}},
    {"dash_no_villages", {"no villages", "айыл жок", "нет сёл", "", ""}},
    {"dash_coverage_note",
     {"Share of villages with a declared specialization (their own, their district's or their "
      "region's).",
      "Адистешүүсү жарыяланган айылдардын үлүшү (өзүнүн, районунун же облусунун).",
      "Доля сёл с объявленной специализацией (своей, района или области).", "", ""}},
    {"dash_territory", {"Territory", "Аймак", "Территория", "", ""}},
    {"dash_level", {"Level", "Деңгээл", "Уровень", "", ""}},
    {"dash_villages", {"Villages", "Айылдар", "Сёла", "", ""}},
    {"dash_specialized", {"Specialized", "Адистешкен", "Со специализацией", "", ""}},
    {"dash_tonnes", {"Tonnes", "Тонна", "Тонн", "", ""}},
    {"dash_usd", {"USD", "АКШ доллары", "USD", "", ""}},
    {"dash_shipments", {"Shipments", "Жөнөтүүлөр", "Отгрузки", "", ""}},
    {"dash_destinations", {"Destinations", "Багыттар", "Направления", "", ""}},
    {"dash_none", {"None yet", "Азырынча жок", "Пока нет", "", ""}},
    {"dash_total", {"Total", "Бардыгы", "Всего", "", ""}},
    {"dash_kind", {"Kind", "Түрү", "Вид", "", ""}},
    {"dash_training", {"Trainings", "Окутуулар", "Обучение", "", ""}},
    {"dash_mentoring", {"Mentoring", "Насаатчылык", "Наставничество", "", ""}},
    {"dash_grant", {"Grants", "Гранттар", "Гранты", "", ""}},
    {"dash_fair", {"Fairs", "Жарманкелер", "Ярмарки", "", ""}},
    {"dash_mission", {"Export missions", "Экспорттук миссиялар", "Экспортные миссии", "", ""}},
    {"dash_planned", {"Planned", "Пландалган", "Запланировано", "", ""}},
    {"dash_running", {"Running", "Жүрүүдө", "Идёт", "", ""}},
    {"dash_finished", {"Finished", "Аяктады", "Завершено", "", ""}},
    {"dash_cancelled", {"Cancelled", "Жокко чыгарылды", "Отменено", "", ""}},
    {"dash_participants", {"Participants", "Катышуучулар", "Участники", "", ""}},
    {"dash_funds", {"Funds disbursed", "Бөлүнгөн каражаттар", "Выплаченные средства", "", ""}},
    {"dash_stakeholder", {"Stakeholder", "Катышуучу уюм", "Участник-организация", "", ""}},
    {"dash_grants", {"Grants paid", "Төлөнгөн гранттар", "Выплачено грантов", "", ""}},
    {"dash_som", {"Som", "Сом", "Сом", "", ""}},
    {"dash_signin_title", {"Sign in to the dashboard", "Панелге кирүү", "Вход в панель", "", ""}},
    {"dash_signin_text",
     {"Approve this code with your own key in a terminal:",
      "Бул кодду терминалда өз ачкычыңыз менен ырастаңыз:",
      "Подтвердите этот код своим ключом в терминале:", "", ""}},
    {"dash_signin_wait",
     {"This page signs you in once the code is approved; the code is valid once, for",
      "Код ырасталганда бул барак сизди киргизет; код бир жолу жарактуу, мөөнөтү",
      "Страница выполнит вход, как только код будет подтверждён; код одноразовый, действует", "",
      ""}},
    {"dash_unavailable",
     {"The services cannot be reached right now; this page retries.",
      "Кызматтар азыр жеткиликсиз; барак кайра аракет кылат.",
      "Службы сейчас недоступны; страница повторит попытку.", "", ""}},
};

const char *web_text(web_lang_t l, const char *key)
{
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
        if (strcmp(texts[i].key, key) == 0) {
            const char *t = (unsigned)l < WEB_LANG_COUNT ? texts[i].t[l] : NULL;
            return t && t[0] ? t : texts[i].t[WEB_LANG_EN];
        }
    return "";
}
