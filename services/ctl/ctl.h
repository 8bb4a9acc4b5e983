/* ovopctl: the operators' command-line client. Shared state and helpers of the verbs.
 *
 * A verb is declared, then run by the shared frame: a row in its family's ctl_cmd_t table
 * (ctl_run), a ctl_verb_t saying how it is called (ctl_verb_parse), and a printer for what the
 * service answers (ctl_call_show). A list verb is only data: a ctl_list_verb_t of filter flags
 * naming the request fields they fill, and a row printer (ctl_list_verb). */
#pragma once

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stdint.h>

#include "client.h"
#include "config.h"
#include "util.h"

/* Exit codes, a contract with scripts. A service's status code N exits as 10 + N. */
enum {
    CTL_EXIT_OK = 0,
    CTL_EXIT_FAILURE = 1,
    CTL_EXIT_USAGE = 2,
    CTL_EXIT_UNREACHABLE = 3,
    CTL_EXIT_STATUS_BASE = 10,
};

/* Returned by the parsers when --help was printed: the verb then exits CTL_EXIT_OK. */
#define CTL_HELP (-1)

typedef struct ctl {
    char *broker;
    char *database_url;
    char *caller; /* ignored: who calls is the key's principal */
    char *key;
    char *broker_key;
    bool insecure_plaintext;
    char *request_id; /* --request-id: NULL for a fresh UUID per call */
    bool json;
    int64_t timeout_ms;
    int64_t retries;
    ovop_client_t *client;
} ctl_t;

/* Prints a message for people: the human form of a call's output. */
typedef void (*ctl_print_fn)(const ProtobufCMessage *m);

/* --- calls (call.c) --- */

/* Calls method on service; prints errors (as JSON on stdout with --json, else on stderr)
 * and returns an exit code. On CTL_EXIT_OK *ret_out holds the decoded output. */
int ctl_call(ctl_t *c, const char *service, const char *method, const ProtobufCMessage *in,
             const ProtobufCMessageDescriptor *out_desc, ProtobufCMessage **ret_out);
/* ctl_call(), then ctl_show() of what it answers. Returns ctl_call()'s exit code. */
int ctl_call_show(ctl_t *c, const char *service, const char *method, const ProtobufCMessage *in,
                  const ProtobufCMessageDescriptor *out_desc, ctl_print_fn human);
/* Prints out (owned: freed here) as JSON with --json, else with human. */
void ctl_show(ctl_t *c, ProtobufCMessage *out, ctl_print_fn human);
/* ping SERVICE: asks the broker whether SERVICE has workers (mmi.service). */
int ctl_ping(ctl_t *c, int argc, char **argv);

/* keygen PATH; db bootstrap ID ... (keys.c) */
int ctl_keygen(ctl_t *c, int argc, char **argv);
int ctl_db_bootstrap(ctl_t *c, int argc, char **argv);

/* --- verbs (verb.c) --- */

/* Positional arguments of a verb: one or more; or any number, the verb counts them. */
enum { CTL_ARGS_SOME = -1, CTL_ARGS_ANY = -2 };

/* How a verb is called: its --help, its positional arguments, and what it prints when called
 * wrongly. That is, in this order: "ovopctl: <needs>" when needs is set; `ovopctl: unexpected
 * argument "ARG"` for a stray argument when unexpected is; else its usage line "ovopctl:
 * usage: <usage_prog or prog> <usage>". */
typedef struct ctl_verb {
    const char *prog;       /* "ovopctl coop capacity" */
    const char *usage;      /* what follows prog in --help ("COOP_ID --hs CODE") */
    const char *summary;    /* --help's description */
    int n_args;             /* exactly this many positional arguments, or CTL_ARGS_* */
    bool flags_anywhere;    /* options may follow the positional arguments */
    const char *usage_prog; /* the usage line's prog when usage starts with the verb */
    const char *needs;      /* its own line instead ("coop create needs --name, ...") */
    bool unexpected;        /* takes no arguments, and names a stray one */
} ctl_verb_t;

/* Parses v's options opts (n of them; argv[0] is the verb) and checks its positional
 * arguments, the first of which is argv[*ret_argi]. Returns 0, CTL_HELP, or CTL_EXIT_USAGE
 * after printing the problem. With flags_anywhere, reorders argv (see ctl_flags_first). */
int ctl_verb_parse(const ctl_verb_t *v, const ovop_opt_t *opts, size_t n, int *argc, char **argv,
                   int *ret_argi);
/* Checks the positional arguments argv[argi..argc) against v->n_args, as ctl_verb_parse. */
int ctl_verb_args(const ctl_verb_t *v, int argc, char **argv, int argi);
/* Prints what v says when called wrongly (its needs or usage line); returns CTL_EXIT_USAGE. */
int ctl_misuse(const ctl_verb_t *v);
/* Parses a verb's own flags (argv[0] is the verb) without looking at its positional
 * arguments. Returns 0, CTL_HELP, or CTL_EXIT_USAGE after printing the problem. */
int ctl_parse_flags(const char *prog, const char *usage, const char *summary,
                    const ovop_opt_t *opts, size_t n, int argc, char **argv, int *ret_argi);

/* A command of a family ("coop join"): its name and its handler, which is given argv with the
 * name in argv[0]. run_with is a handler serving several commands, told by the row which one
 * it runs (value, method) or which listing (list). */
typedef struct ctl_cmd ctl_cmd_t;
struct ctl_list_verb;
struct ctl_cmd {
    const char *name;
    int (*run)(ctl_t *c, int argc, char **argv);
    int (*run_with)(ctl_t *c, const ctl_cmd_t *cmd, int argc, char **argv);
    int value;          /* e.g. the status the command sets */
    const char *method; /* e.g. the rpc the command calls */
    const struct ctl_list_verb *list;
};

/* Runs the command of cmds (n of them) named argv[0]; a row without a name takes any name
 * the rows before it do not. Without one (or without argv[0]), prints "ovopctl: usage:
 * <usage>" and returns CTL_EXIT_USAGE. */
int ctl_run(ctl_t *c, const ctl_cmd_t *cmds, size_t n, int argc, char **argv, const char *usage);

/* --- output (print.c) --- */

/* Prints m as one JSON document on stdout. */
void ctl_print_json(const ProtobufCMessage *m);
/* Prints s left-aligned in a column `width` characters wide (UTF-8 aware), then a space. */
void ctl_print_cell(const char *s, int width);
/* Prints v as a cell `width` characters wide. */
void ctl_print_int_cell(long long v, int width);

/* A column of a table: its title and width. The last column takes the rest of the line. */
typedef struct ctl_column {
    const char *title;
    int width;
} ctl_column_t;

/* Prints the header line of a table of columns cols (n of them). */
void ctl_print_header(const ctl_column_t *cols, size_t n);
/* v with at most 3 decimals and no trailing zeros, into out. */
const char *ctl_amount(double v, char out[static 32]);
/* The text of enum value v as the services store it (ovop_enum_text), "-" for the zero value,
 * "?" for a value the enum does not have. */
const char *ctl_enum_name(const ProtobufCEnumDescriptor *desc, int v);
/* The value whose text (or full name) is s; -1 when there is none (the zero value never). */
int ctl_enum_index(const ProtobufCEnumDescriptor *desc, const char *s);

/* --- lists (list.c) --- */

/* What a list method answers and how to show it. */
typedef struct ctl_list {
    const char *service;
    const char *method;
    const ProtobufCMessageDescriptor *response; /* has `rows` and next_page_token */
    const char *rows;                           /* the response's repeated field of rows */
    const ctl_column_t *columns;                /* the table's header */
    size_t n_columns;
    ctl_print_fn print_row;
    const char *one, *many; /* the summary's noun: "(1 <one>" or "(N <many>"; NULL: none */
} ctl_list_t;

/* Calls list->method with request (filled in but for page_token) page by page, from
 * page_token (NULL: from the start) to the end when all, else for one page: with --json
 * prints each response as JSON, else the header, the rows and "(N things; more with
 * --page-token T or --all)". Returns CTL_EXIT_OK or the failed call's exit code (its error
 * printed, no summary). */
int ctl_list_pages(ctl_t *c, const ctl_list_t *list, ProtobufCMessage *request,
                   const char *page_token, bool all);

/* A filter flag of a list verb and the request field it fills, by name. Unset, a flag leaves
 * its field empty (0, false). A STRING flag fills a string field with its text, a number or
 * enum field with what parse makes of the text, a message field through parse_message; an INT
 * flag (0..max) a number field; a BOOL flag a bool field, or an enum field with when_set. */
typedef struct ctl_filter {
    const char *name;
    ovop_opt_type_t type;
    int64_t max;
    const char *help;
    const char *field;
    /* Return 0, or CTL_EXIT_USAGE after saying what is wrong with s. */
    int (*parse)(const char *s, int64_t *ret);
    int (*parse_message)(const char *s, ProtobufCMessage *ret);
    int when_set;
} ctl_filter_t;

/* A STRING filter filling a string field. */
#define CTL_FILTER(flag, help_, field_)                                                            \
    {                                                                                              \
        .name = (flag), .type = OVOP_OPT_STRING, .help = (help_), .field = (field_)                \
    }

/* A list verb: its frame (no positional arguments), its filters, then --page-size (help
 * page_size_help), --page-token and --all; the request it fills and the listing. */
typedef struct ctl_list_verb {
    ctl_verb_t verb;
    const ctl_filter_t *filters;
    size_t n_filters;
    bool filters_first; /* judge the filters' values before stray arguments */
    const char *page_size_help;
    const ProtobufCMessageDescriptor *request; /* has page_size and page_token */
    ctl_list_t list;
} ctl_list_verb_t;

/* Runs list verb v: parses argv into its request and lists. Returns the exit code. */
int ctl_list_verb(ctl_t *c, const ctl_list_verb_t *v, int argc, char **argv);
/* A ctl_cmd_t handler running cmd->list. */
int ctl_list_cmd(ctl_t *c, const ctl_cmd_t *cmd, int argc, char **argv);

#define CTL_PAGE_SIZE_HELP         "rows per page"
#define CTL_PAGE_SIZE_DEFAULT_HELP "rows per page (0: the server's default)"

/* --- the verb families --- */

int ctl_db(ctl_t *c, int argc, char **argv);
int ctl_territory(ctl_t *c, int argc, char **argv);
/* territory create|rename|reparent|retire|import (territory_admin.c); argv[0] is the verb. */
int ctl_territory_admin(ctl_t *c, int argc, char **argv);
/* Prints a Territory as the get verb does. */
void ctl_print_territory(const ProtobufCMessage *m);
int ctl_spec(ctl_t *c, int argc, char **argv);
int ctl_producer(ctl_t *c, int argc, char **argv);
int ctl_product(ctl_t *c, int argc, char **argv);
int ctl_search(ctl_t *c, int argc, char **argv);
int ctl_coop(ctl_t *c, int argc, char **argv);
/* cert.c: brand certification. */
int ctl_rubric(ctl_t *c, int argc, char **argv);
int ctl_application(ctl_t *c, int argc, char **argv);
int ctl_cert(ctl_t *c, int argc, char **argv);
/* export.c: export shipments, documents, compliance, statistics. */
int ctl_export(ctl_t *c, int argc, char **argv);
/* principal.c: whoami, and the principals of the bus, their roles and keys (ovop.iam). */
int ctl_whoami(ctl_t *c, int argc, char **argv);
int ctl_principal(ctl_t *c, int argc, char **argv);
/* notify.c: agencies' scopes and endpoints, subscriptions, the stream listener (listen.c),
 * notifyd's secrets key (ovop.notify). */
int ctl_agency(ctl_t *c, int argc, char **argv);
int ctl_subscription(ctl_t *c, int argc, char **argv);
int ctl_notify_keygen(ctl_t *c, int argc, char **argv);

/* --- argument values (args.c) --- */

/* Moves every --name V and --name=V out of argv (argc updated, argv[argc] = NULL) into
 * *values (grown with xrealloc; the strings stay argv's). Returns 0, or CTL_EXIT_USAGE after
 * printing when the last --name has no value. For flags that may be given several times. */
int ctl_take_repeated(int *argc, char **argv, const char *name, char ***values, size_t *n);
/* The frame of the update verbs, "VERB ID --version V [detail flags]": parses argv with the
 * verb's detail opts and --version (flags may follow the ID) into *ret_id and *ret_version,
 * which must be positive. Returns 0, or an exit code as ctl_parse_flags() does. */
int ctl_parse_update(const char *prog, const char *summary, const ovop_opt_t *opts, size_t n,
                     int argc, char **argv, int64_t *ret_id, int32_t *ret_version);

/* A detail flag of an update verb and the update_mask path of its field. */
typedef struct ctl_mask_flag {
    const void *given; /* the flag's value, NULL when not given */
    char *path;
} ctl_mask_flag_t;

/* Fills mask with the paths of the flags given, kept in paths (room for n): the update then
 * changes exactly what the operator named. With none given prints "<prog>: give at least one
 * detail to change" and returns CTL_EXIT_USAGE. */
struct Ovop__V1__FieldMask;
int ctl_update_mask(const char *prog, const ctl_mask_flag_t *flags, size_t n, char **paths,
                    struct Ovop__V1__FieldMask *mask);

/* Reorders argv[1..] so that options (with their values, as opts tells) come before the
 * positional arguments, so that `coop join 5 7 --version 2` parses; "--" ends the options. */
void ctl_flags_first(int *argc, char **argv, const ovop_opt_t *opts, size_t n);
/* A positive id; prints "<what> must be a positive number" and returns CTL_EXIT_USAGE. */
int ctl_parse_id(const char *what, const char *s, int64_t *ret);
/* An amount of money written in decimal units (dollars, som) as minor units (cents, tyiyn),
 * exactly; prints "<flag> must be an amount ..." and returns CTL_EXIT_USAGE otherwise. */
int ctl_parse_money(const char *flag, const char *s, int64_t *ret);

/* order.c: export orders (ovop.matching), and coop propose (argv[0] is "propose"). */
int ctl_order(ctl_t *c, int argc, char **argv);
int ctl_coop_propose(ctl_t *c, int argc, char **argv);
/* Prints an Order with its allocation lines and what is missing. */
void ctl_print_order(const ProtobufCMessage *m);

/* status.c: the whole system at a glance (exit codes Nagios's: 0 OK, 1 WARNING, 2 CRITICAL,
 * 3 UNKNOWN, not the ones above). */
int ctl_status(ctl_t *c, int argc, char **argv);
/* programme.c, sales.c: the support programme's stakeholders, programmes, participants, sales
 * channels and monthly sales reports, and the programme office's queries (ovop.programme). */
int ctl_stakeholder(ctl_t *c, int argc, char **argv);
int ctl_programme(ctl_t *c, int argc, char **argv);
int ctl_channel(ctl_t *c, int argc, char **argv);
int ctl_sales(ctl_t *c, int argc, char **argv);
/* An enum flag's value (0 when s is NULL), or CTL_EXIT_USAGE after naming the values. */
int ctl_programme_enum(const ProtobufCEnumDescriptor *d, const char *flag, const char *s, int *ret);

/* web.c: the programme dashboard's sign-in approval (ovop.web). */
int ctl_web(ctl_t *c, int argc, char **argv);
