/* ovopctl whoami and principal: who this key is, and the administration of the principals
 * of the bus (operators, agencies, services), their roles and their CurveZMQ keys, through
 * ovop.iam, which the broker answers itself. Changes need the role iam.admin. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "keys.h"
#include "ovop/v1/iam.pb-c.h"

#define SERVICE  "ovop.iam"
#define STATUSES (&ovop__v1__principal_status__descriptor)
#define RECORD   (&ovop__v1__principal_record__descriptor)

/* The default overlap of a rotation: a day for every process holding the old key to move. */
#define DEFAULT_OVERLAP "24h"

/* A verb on one principal, its ID before or after the flags. */
#define ID_VERB(prog_, usage_, summary_)                                                           \
    {                                                                                              \
        .prog = (prog_), .usage = (usage_), .summary = (summary_), .n_args = 1,                    \
        .flags_anywhere = true                                                                     \
    }

static const char *or_dash(const char *s)
{
    return s && s[0] ? s : "-";
}

/* Prints roles separated by blanks, "-" for none. */
static void print_roles(char **roles, size_t n)
{
    if (n == 0)
        fputs("-", stdout);
    for (size_t i = 0; i < n; i++)
        printf("%s%s", i ? " " : "", roles[i]);
}

static void print_principal(const ProtobufCMessage *m)
{
    const Ovop__V1__Principal *p = (const Ovop__V1__Principal *)m;
    printf("principal      %s\n", p->id);
    printf("kind           %s\n", p->kind);
    printf("name           %s\n", p->display_name);
    printf("roles          ");
    print_roles(p->roles, p->n_roles);
    printf("\n");
    printf("territory      %s\n", p->territory[0] ? p->territory : "- (the whole country)");
    printf("agency         %s\n", or_dash(p->agency));
}

/* What a key is for the broker now: current, expired (a rotation's overlap ended) or revoked. */
static const char *key_state(const Ovop__V1__PrincipalKey *k)
{
    if (k->revoked_at[0])
        return "revoked";
    return k->current ? "current" : "expired";
}

static const ctl_column_t key_columns[] = {
    {"PUBLIC KEY", 40}, {"STATE", 8}, {"ADDED", 20}, {"EXPIRES", 20}, {"REVOKED", 0},
};

static void print_record(const ProtobufCMessage *m)
{
    const Ovop__V1__PrincipalRecord *r = (const Ovop__V1__PrincipalRecord *)m;
    if (r->principal)
        print_principal(&r->principal->base);
    printf("status         %s\n", ctl_enum_name(STATUSES, (int)r->status));
    printf("created        %s\n", r->created_at);
    printf("updated        %s\n", r->updated_at);
    printf("version        %lld\n", (long long)r->version);
    printf("keys\n");
    ctl_print_header(key_columns, OVOP_ARRAY_SIZE(key_columns));
    for (size_t i = 0; i < r->n_keys; i++) {
        const Ovop__V1__PrincipalKey *k = r->keys[i];
        ctl_print_cell(k->public_key, 40);
        ctl_print_cell(key_state(k), 8);
        ctl_print_cell(k->added_at, 20);
        ctl_print_cell(or_dash(k->expires_at), 20);
        printf("%s\n", or_dash(k->revoked_at));
    }
}

/* A public key given as 40 Z85 characters or as a .key (or .secret) file, into pub. Returns
 * 0, or CTL_EXIT_USAGE after saying what is wrong. */
static int load_key(const char *arg, char pub[static OVOP_KEY_LEN + 1])
{
    char *err = NULL;
    if (ovop_key_load_public(arg, pub, &err) == 0)
        return 0;
    fprintf(stderr, "ovopctl: %s\n", err);
    free(err);
    return CTL_EXIT_USAGE;
}

/* --- whoami, roles --- */

int ctl_whoami(ctl_t *c, int argc, char **argv)
{
    static const ctl_verb_t verb = {.prog = "ovopctl whoami",
                                    .usage = "",
                                    .summary = "Shows the principal the broker takes this key "
                                               "for: id, kind, roles, territory, agency.",
                                    .unexpected = true};
    int argi;
    int r = ctl_verb_parse(&verb, NULL, 0, &argc, argv, &argi);
    if (r != 0)
        return r < 0 ? CTL_EXIT_OK : r;
    Ovop__V1__WhoAmIRequest in = OVOP__V1__WHO_AM_IREQUEST__INIT;
    return ctl_call_show(c, SERVICE, "WhoAmI", &in.base, &ovop__v1__principal__descriptor,
                         print_principal);
}

static void print_roles_list(const ProtobufCMessage *m)
{
    const Ovop__V1__ListRolesResponse *l = (const Ovop__V1__ListRolesResponse *)m;
    static const ctl_column_t cols[] = {{"ROLE", 24}, {"DESCRIPTION", 0}};
    ctl_print_header(cols, OVOP_ARRAY_SIZE(cols));
    for (size_t i = 0; i < l->n_roles; i++) {
        ctl_print_cell(l->roles[i]->name, 24);
        printf("%s\n", l->roles[i]->description);
    }
}

static int principal_roles(ctl_t *c, int argc, char **argv)
{
    static const ctl_verb_t verb = {.prog = "ovopctl principal roles",
                                    .usage = "",
                                    .summary = "Lists the roles a principal may hold, and what "
                                               "each allows.",
                                    .unexpected = true};
    int argi;
    int r = ctl_verb_parse(&verb, NULL, 0, &argc, argv, &argi);
    if (r != 0)
        return r < 0 ? CTL_EXIT_OK : r;
    Ovop__V1__ListRolesRequest in = OVOP__V1__LIST_ROLES_REQUEST__INIT;
    return ctl_call_show(c, SERVICE, "ListRoles", &in.base,
                         &ovop__v1__list_roles_response__descriptor, print_roles_list);
}

/* --- add --- */

/* The roles of --role flags, each of which may name several separated by commas or blanks
 * (malloc'd array of strings in *buf, also malloc'd). */
static void split_roles(char **flags, size_t n_flags, char ***ret, size_t *ret_n, char **buf)
{
    size_t total = 0, n = 0;
    for (size_t i = 0; i < n_flags; i++)
        total += strlen(flags[i]) + 1;
    char *all = *buf = xmalloc(total + 1);
    all[0] = '\0';
    for (size_t i = 0; i < n_flags; i++) {
        strcat(all, flags[i]);
        strcat(all, ",");
    }
    char **roles = xcalloc(total + 1, sizeof(*roles));
    char *save = NULL;
    for (char *t = strtok_r(all, ", \t", &save); t; t = strtok_r(NULL, ", \t", &save))
        roles[n++] = t;
    *ret = roles;
    *ret_n = n;
}

static int principal_add(ctl_t *c, int argc, char **argv)
{
    static const ctl_verb_t verb = ID_VERB(
        "ovopctl principal add",
        "ID --kind operator|agency|service --name NAME --key PUBLIC_KEY_OR_FILE [--role R]... "
        "[--territory CODE] [--agency CODE]",
        "Adds a principal with its public key (the .key file `ovopctl keygen` wrote, or its 40 "
        "Z85 characters; the secret never leaves its owner). --role may be given several times.");
    char *kind = NULL, *name = NULL, *key = NULL, *territory = NULL, *agency = NULL;
    const ovop_opt_t opts[] = {
        {"kind", OVOP_OPT_STRING, NULL, 0, 0, "operator, agency or service", &kind},
        {"name", OVOP_OPT_STRING, NULL, 0, 0, "display name", &name},
        {"key", OVOP_OPT_STRING, NULL, 0, 0, "its public key: Z85 or a .key file", &key},
        {"territory", OVOP_OPT_STRING, NULL, 0, 0,
         "SOATE code it may act in (default: the whole country)", &territory},
        {"agency", OVOP_OPT_STRING, NULL, 0, 0,
         "the agency it acts for (an agency's id for its officers)", &agency},
    };
    size_t n_opts = OVOP_ARRAY_SIZE(opts);
    char **role_flags = NULL, *roles_buf = NULL;
    size_t n_role_flags = 0;
    char pub[OVOP_KEY_LEN + 1];
    int argi;
    Ovop__V1__AddPrincipalRequest in = OVOP__V1__ADD_PRINCIPAL_REQUEST__INIT;

    int r = ctl_take_repeated(&argc, argv, "role", &role_flags, &n_role_flags);
    if (r == 0)
        r = ctl_verb_parse(&verb, opts, n_opts, &argc, argv, &argi);
    if (r == 0 && (!kind || !name || !key)) {
        fprintf(stderr, "ovopctl: principal add needs --kind, --name and --key\n");
        r = CTL_EXIT_USAGE;
    }
    if (r == 0)
        r = load_key(key, pub);
    if (r == 0) {
        split_roles(role_flags, n_role_flags, &in.roles, &in.n_roles, &roles_buf);
        in.id = argv[argi];
        in.kind = kind;
        in.display_name = name;
        in.territory = territory ? territory : "";
        in.agency = agency ? agency : "";
        in.public_key = pub;
        r = ctl_call_show(c, SERVICE, "AddPrincipal", &in.base, RECORD, print_record);
    }
    free(in.roles);
    free(roles_buf);
    free(role_flags);
    ovop_config_free(opts, n_opts);
    return r < 0 ? CTL_EXIT_OK : r;
}

/* --- list, show, history --- */

static void print_record_row(const ProtobufCMessage *m)
{
    const Ovop__V1__PrincipalRecord *r = (const Ovop__V1__PrincipalRecord *)m;
    const Ovop__V1__Principal *p = r->principal;
    size_t current = 0;
    for (size_t i = 0; i < r->n_keys; i++)
        current += r->keys[i]->current;
    ctl_print_cell(p ? p->id : "?", 20);
    ctl_print_cell(p ? p->kind : "?", 8);
    ctl_print_cell(ctl_enum_name(STATUSES, (int)r->status), 8);
    ctl_print_int_cell((long long)current, 4);
    ctl_print_cell(p ? or_dash(p->territory) : "?", 14);
    ctl_print_cell(p ? p->display_name : "?", 30);
    if (p)
        print_roles(p->roles, p->n_roles);
    printf("\n");
}

static const ctl_column_t record_columns[] = {
    {"ID", 20},        {"KIND", 8},  {"STATUS", 8}, {"KEYS", 4},
    {"TERRITORY", 14}, {"NAME", 30}, {"ROLES", 0},
};

static int parse_status(const char *s, int64_t *ret)
{
    int st = ctl_enum_index(STATUSES, s);
    if (st < 0) {
        fprintf(stderr, "ovopctl: --status must be active or disabled, got \"%s\"\n", s);
        return CTL_EXIT_USAGE;
    }
    *ret = st;
    return 0;
}

static const ctl_filter_t principal_filters[] = {
    CTL_FILTER("kind", "operator, agency or service", "kind"),
    {.name = "status",
     .type = OVOP_OPT_STRING,
     .help = "active or disabled",
     .field = "status",
     .parse = parse_status},
    CTL_FILTER("role", "only principals holding this role", "role"),
};

static const ctl_list_verb_t principal_list = {
    .verb = {.prog = "ovopctl principal list",
             .usage = "[--kind K] [--status active|disabled] [--role R] [--page-size N] "
                      "[--page-token T] [--all]",
             .summary = "Lists the principals (KEYS: how many of its keys the broker accepts "
                        "now).",
             .unexpected = true},
    .filters = principal_filters,
    .n_filters = OVOP_ARRAY_SIZE(principal_filters),
    .page_size_help = "rows per page (0: the server's default, 100)",
    .request = &ovop__v1__list_principals_request__descriptor,
    .list = {.service = SERVICE,
             .method = "ListPrincipals",
             .response = &ovop__v1__list_principals_response__descriptor,
             .rows = "principals",
             .columns = record_columns,
             .n_columns = OVOP_ARRAY_SIZE(record_columns),
             .print_row = print_record_row,
             .one = "principal",
             .many = "principals"},
};

static int principal_show(ctl_t *c, int argc, char **argv)
{
    static const ctl_verb_t verb =
        ID_VERB("ovopctl principal show", "ID",
                "Shows a principal with its keys, each current, expired or revoked.");
    int argi;
    int r = ctl_verb_parse(&verb, NULL, 0, &argc, argv, &argi);
    if (r != 0)
        return r < 0 ? CTL_EXIT_OK : r;
    Ovop__V1__GetPrincipalRequest in = OVOP__V1__GET_PRINCIPAL_REQUEST__INIT;
    in.id = argv[argi];
    return ctl_call_show(c, SERVICE, "GetPrincipal", &in.base, RECORD, print_record);
}

static void print_history(const ProtobufCMessage *m)
{
    const Ovop__V1__PrincipalHistoryResponse *h = (const Ovop__V1__PrincipalHistoryResponse *)m;
    static const ctl_column_t cols[] = {
        {"SEQ", 6}, {"AT", 20}, {"CHANGE", 11}, {"BY", 20}, {"DETAIL", 0},
    };
    ctl_print_header(cols, OVOP_ARRAY_SIZE(cols));
    for (size_t i = 0; i < h->n_changes; i++) {
        const Ovop__V1__PrincipalChange *ch = h->changes[i];
        ctl_print_int_cell((long long)ch->seq, 6);
        ctl_print_cell(ch->at, 20);
        ctl_print_cell(ch->change, 11);
        ctl_print_cell(ch->by, 20);
        printf("%s\n", ch->detail);
    }
}

static int principal_history(ctl_t *c, int argc, char **argv)
{
    static const ctl_verb_t verb = ID_VERB("ovopctl principal history", "ID",
                                           "Every change of a principal, when and by whom.");
    int argi;
    int r = ctl_verb_parse(&verb, NULL, 0, &argc, argv, &argi);
    if (r != 0)
        return r < 0 ? CTL_EXIT_OK : r;
    Ovop__V1__PrincipalHistoryRequest in = OVOP__V1__PRINCIPAL_HISTORY_REQUEST__INIT;
    in.id = argv[argi];
    return ctl_call_show(c, SERVICE, "GetPrincipalHistory", &in.base,
                         &ovop__v1__principal_history_response__descriptor, print_history);
}

/* --- disable, enable, grant, revoke --- */

/* disable (cmd->value PRINCIPAL_STATUS_DISABLED) or enable ID [--reason R] */
static int principal_status(ctl_t *c, const ctl_cmd_t *cmd, int argc, char **argv)
{
    char prog[64];
    snprintf(prog, sizeof(prog), "ovopctl principal %s", cmd->name);
    const ctl_verb_t verb =
        ID_VERB(prog, "ID [--reason R]",
                "Disables a principal (the broker refuses its keys within seconds, open "
                "connections included) or enables it again.");
    char *reason = NULL;
    const ovop_opt_t opts[] = {
        {"reason", OVOP_OPT_STRING, NULL, 0, 0, "why; kept in the principal's history", &reason},
    };
    int argi;
    int r = ctl_verb_parse(&verb, opts, OVOP_ARRAY_SIZE(opts), &argc, argv, &argi);
    if (r == 0) {
        Ovop__V1__SetPrincipalStatusRequest in = OVOP__V1__SET_PRINCIPAL_STATUS_REQUEST__INIT;
        in.id = argv[argi];
        in.status = (Ovop__V1__PrincipalStatus)cmd->value;
        in.reason = reason ? reason : "";
        r = ctl_call_show(c, SERVICE, "SetPrincipalStatus", &in.base, RECORD, print_record);
    }
    ovop_config_free(opts, OVOP_ARRAY_SIZE(opts));
    return r < 0 ? CTL_EXIT_OK : r;
}

/* grant or revoke ID ROLE...: cmd->method is the rpc. */
static int principal_roles_change(ctl_t *c, const ctl_cmd_t *cmd, int argc, char **argv)
{
    char prog[64];
    snprintf(prog, sizeof(prog), "ovopctl principal %s", cmd->name);
    const ctl_verb_t verb = {.prog = prog,
                             .usage = "ID ROLE...",
                             .summary = "Grants roles to a principal or revokes them (ovopctl "
                                        "principal roles lists them).",
                             .n_args = CTL_ARGS_SOME,
                             .flags_anywhere = true};
    int argi;
    int r = ctl_verb_parse(&verb, NULL, 0, &argc, argv, &argi);
    if (r == 0 && argc - argi < 2)
        r = ctl_misuse(&verb);
    if (r != 0)
        return r < 0 ? CTL_EXIT_OK : r;
    Ovop__V1__ChangeRolesRequest in = OVOP__V1__CHANGE_ROLES_REQUEST__INIT;
    in.id = argv[argi];
    in.roles = argv + argi + 1;
    in.n_roles = (size_t)(argc - argi - 1);
    return ctl_call_show(c, SERVICE, cmd->method, &in.base, RECORD, print_record);
}

/* --- keys --- */

/* A duration such as 90s, 30m, 24h, 7d or a number of seconds, into *ret. Returns 0, or
 * CTL_EXIT_USAGE after saying what is wrong. */
static int parse_duration(const char *flag, const char *s, uint32_t *ret)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = s[0] >= '0' && s[0] <= '9' ? strtoull(s, &end, 10) : 0;
    unsigned long long unit = 0;
    if (end && end != s && errno == 0) {
        if (strcmp(end, "") == 0 || strcmp(end, "s") == 0)
            unit = 1;
        else if (strcmp(end, "m") == 0)
            unit = 60;
        else if (strcmp(end, "h") == 0)
            unit = 3600;
        else if (strcmp(end, "d") == 0)
            unit = 86400;
    }
    if (unit == 0 || v > UINT32_MAX / unit) {
        fprintf(stderr,
                "ovopctl: %s must be a duration such as 90s, 30m, 24h or 0 (at most 30 days), "
                "got \"%s\"\n",
                flag, s);
        return CTL_EXIT_USAGE;
    }
    *ret = (uint32_t)(v * unit);
    return 0;
}

/* Writes a fresh key pair at out.key and out.secret (never over an existing secret), its
 * public key into pub. Returns 0 or an exit code after saying why. */
static int new_key_pair(const char *out, const char *id, char pub[static OVOP_KEY_LEN + 1])
{
    char sec[OVOP_KEY_LEN + 1];
    char *err = NULL;
    if (ovop_key_generate(pub, sec) < 0) {
        fprintf(stderr, "ovopctl: could not generate a key pair (is libzmq built with CURVE?)\n");
        return CTL_EXIT_FAILURE;
    }
    int r = ovop_key_write(out, id, pub, sec, false, &err);
    explicit_bzero(sec, sizeof(sec));
    if (r < 0) {
        fprintf(stderr, "ovopctl: %s%s\n", err,
                r == -EEXIST ? " (a secret is never overwritten: choose another --out)" : "");
        free(err);
        return CTL_EXIT_FAILURE;
    }
    return 0;
}

static int principal_rotate(ctl_t *c, int argc, char **argv)
{
    static const ctl_verb_t verb = ID_VERB(
        "ovopctl principal rotate-key",
        "ID (--key NEW_PUBLIC_KEY_OR_FILE | --out PATH) [--overlap DURATION]",
        "Adds a new key to a principal; its other keys stay accepted for --overlap "
        "(default " DEFAULT_OVERLAP
        ", 0: refused at once). --out writes a fresh pair at PATH.key and PATH.secret (0600) "
        "and registers it: hand PATH.secret to the principal's owner over a safe channel.");
    char *key = NULL, *out = NULL, *overlap = NULL;
    const ovop_opt_t opts[] = {
        {"key", OVOP_OPT_STRING, NULL, 0, 0, "the new public key: Z85 or a .key file", &key},
        {"out", OVOP_OPT_STRING, NULL, 0, 0, "generate the new pair at PATH.key and PATH.secret",
         &out},
        {"overlap", OVOP_OPT_STRING, DEFAULT_OVERLAP, 0, 0,
         "how long the old keys stay accepted: 90s, 30m, 24h, 7d; 0 refuses them now", &overlap},
    };
    size_t n_opts = OVOP_ARRAY_SIZE(opts);
    char pub[OVOP_KEY_LEN + 1];
    int argi;
    Ovop__V1__AddKeyRequest in = OVOP__V1__ADD_KEY_REQUEST__INIT;
    int r = ctl_verb_parse(&verb, opts, n_opts, &argc, argv, &argi);
    if (r == 0 && !key == !out) {
        fprintf(stderr, "ovopctl: principal rotate-key needs exactly one of --key (a public key "
                        "its owner made) and --out (a pair made here)\n");
        r = CTL_EXIT_USAGE;
    }
    if (r == 0)
        r = parse_duration("--overlap", overlap, &in.overlap_seconds);
    if (r == 0)
        r = key ? load_key(key, pub) : new_key_pair(out, argv[argi], pub);
    if (r == 0) {
        in.id = argv[argi];
        in.public_key = pub;
        r = ctl_call_show(c, SERVICE, "AddKey", &in.base, RECORD, print_record);
        if (out && r == CTL_EXIT_OK && !c->json)
            printf("new key pair: %s.key (public), %s.secret (secret, for --key)\n", out, out);
        else if (out && r != CTL_EXIT_OK)
            fprintf(stderr,
                    "ovopctl: the new pair stays in %s.key and %s.secret; once the broker is "
                    "back, `ovopctl principal show %s` tells whether it was registered, and "
                    "`principal rotate-key %s --key %s.key` registers it otherwise\n",
                    out, out, argv[argi], argv[argi], out);
    }
    ovop_config_free(opts, n_opts);
    return r < 0 ? CTL_EXIT_OK : r;
}

static int principal_revoke_key(ctl_t *c, int argc, char **argv)
{
    static const ctl_verb_t verb = {.prog = "ovopctl principal revoke-key",
                                    .usage = "ID KEY",
                                    .summary = "Revokes one key of a principal (Z85 or its .key "
                                               "file) at once: the broker refuses it within "
                                               "seconds, open connections included.",
                                    .n_args = 2,
                                    .flags_anywhere = true};
    int argi;
    char pub[OVOP_KEY_LEN + 1];
    int r = ctl_verb_parse(&verb, NULL, 0, &argc, argv, &argi);
    if (r == 0)
        r = load_key(argv[argi + 1], pub);
    if (r != 0)
        return r < 0 ? CTL_EXIT_OK : r;
    Ovop__V1__RevokeKeyRequest in = OVOP__V1__REVOKE_KEY_REQUEST__INIT;
    in.id = argv[argi];
    in.public_key = pub;
    return ctl_call_show(c, SERVICE, "RevokeKey", &in.base, RECORD, print_record);
}

int ctl_principal(ctl_t *c, int argc, char **argv)
{
    static const ctl_cmd_t cmds[] = {
        {.name = "add", .run = principal_add},
        {.name = "list", .run_with = ctl_list_cmd, .list = &principal_list},
        {.name = "show", .run = principal_show},
        {.name = "history", .run = principal_history},
        {.name = "disable",
         .run_with = principal_status,
         .value = OVOP__V1__PRINCIPAL_STATUS__PRINCIPAL_STATUS_DISABLED},
        {.name = "enable",
         .run_with = principal_status,
         .value = OVOP__V1__PRINCIPAL_STATUS__PRINCIPAL_STATUS_ACTIVE},
        {.name = "grant", .run_with = principal_roles_change, .method = "GrantRoles"},
        {.name = "revoke", .run_with = principal_roles_change, .method = "RevokeRoles"},
        {.name = "rotate-key", .run = principal_rotate},
        {.name = "revoke-key", .run = principal_revoke_key},
        {.name = "roles", .run = principal_roles},
    };
    return ctl_run(c, cmds, OVOP_ARRAY_SIZE(cmds), argc - 1, argv + 1,
                   "ovopctl principal add|list|show|history|disable|enable|grant|revoke|"
                   "rotate-key|revoke-key|roles ... (ovopctl principal VERB --help)");
}
