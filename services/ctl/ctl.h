/* ovopctl: the operators' command-line client. Shared state and helpers of the verbs. */
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

typedef struct ctl {
    char *broker;
    char *database_url;
    char *caller;
    char *request_id; /* --request-id: NULL for a fresh UUID per call */
    bool json;
    int64_t timeout_ms;
    int64_t retries;
    ovop_client_t *client;
} ctl_t;

/* Calls method on service; prints errors (as JSON on stdout with --json, else on stderr)
 * and returns an exit code. On CTL_EXIT_OK *ret_out holds the decoded output. */
int ctl_call(ctl_t *c, const char *service, const char *method, const ProtobufCMessage *in,
             const ProtobufCMessageDescriptor *out_desc, ProtobufCMessage **ret_out);

/* Parses a verb's own flags (argv[0] is the verb). Returns 0, or an exit code to return
 * (CTL_EXIT_USAGE after printing the problem, or -1 meaning --help was printed). */
int ctl_parse_flags(const char *prog, const char *usage, const char *summary,
                    const ovop_opt_t *opts, size_t n, int argc, char **argv, int *ret_argi);

/* A list verb's paging: the request to send again and again with only its page_token
 * changed, and how to show the response's rows. */
typedef struct ctl_list {
    const char *service;
    const char *method;
    ProtobufCMessage *request;                  /* filled in but for page_token */
    const ProtobufCMessageDescriptor *response; /* has `rows` and next_page_token */
    const char *rows;                           /* the response's repeated field of rows */
    const char *page_token;                     /* --page-token; NULL: from the start */
    bool all;                                   /* --all: follow next_page_token to the end */
    void (*print_header)(void);                 /* the table's header line */
    void (*print_row)(const ProtobufCMessage *row);
    const char *one, *many; /* the summary's noun: "(1 <one>" or "(N <many>" */
} ctl_list_t;

/* Calls spec->method page by page (one page unless spec->all): with --json prints each
 * response as JSON, else a header, the rows and "(N things; more with --page-token T or
 * --all)". Returns CTL_EXIT_OK or the failed call's exit code (its error printed, no
 * summary). */
int ctl_list_pages(ctl_t *c, const ctl_list_t *spec);

/* Prints m as one JSON document on stdout. */
void ctl_print_json(const ProtobufCMessage *m);
/* Prints s left-aligned in a column `width` characters wide (UTF-8 aware), then a space. */
void ctl_print_cell(const char *s, int width);

int ctl_db(ctl_t *c, int argc, char **argv);
int ctl_territory(ctl_t *c, int argc, char **argv);
/* territory create|rename|reparent|retire|import (territory_admin.c); argv[0] is the verb. */
int ctl_territory_admin(ctl_t *c, int argc, char **argv);
/* Prints a territory as the get verb does. */
struct Ovop__V1__Territory;
void ctl_print_territory(const struct Ovop__V1__Territory *t);
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

/* --- argument helpers (args.c, product.c) --- */

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
/* v with at most 3 decimals and no trailing zeros, into out. */
const char *ctl_amount(double v, char out[static 32]);
