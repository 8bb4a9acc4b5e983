/* What territory changes decide on, shared by territory_admin.c (single changes) and
 * territory_import.c (the statistics committee's list): the latest version of some codes,
 * read with registry.territory_state(), and the rules of where a territory may lie. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "registry.h"

#define TERRITORY_MAX_NAME 200 /* bytes, for each of name_ru, name_ky, name_en */

/* The latest version of one code. Strings borrow the read's result. */
typedef struct territory_state {
    const char *code, *kind, *parent_code, *name_ru, *name_ky, *name_en;
    const char *valid_from;    /* of the latest version */
    const char *valid_to;      /* "" while current; else the date it was retired */
    const char *superseded_by; /* "" when none */
    const char *first_from;    /* the first date any version was valid */
    bool has_loc;
    double lat, lon;
    int version;             /* max(version) over the code's rows: any change raises it */
    uint32_t children;       /* versions valid today whose parent is this code */
    uint32_t children_after; /* codes under it with a version reaching past the read date */
} territory_state_t;

typedef struct territory_states {
    const char *on; /* the date read for: the one asked, or the database's today */
    territory_state_t *items;
    size_t n;
    bool replay; /* the request id has a stored reply: the mutation will answer with it */
} territory_states_t;

/* Gets the states read; they are valid only during the call of this function. */
typedef void (*territory_state_fn)(const territory_states_t *states, void *userdata);

/* Reads the latest version of each of codes (checked SOATE codes; those without rows are
 * absent from the result) as of date `on` (YYYY-MM-DD, or NULL or "" for the database's
 * today), and whether call's request id has a stored reply, under the call's deadline. cb
 * runs once with them; on a database error the call fails instead and cb never runs. */
void territory_read_state(registry_t *r, ovop_call_t *call, const char *const *codes, size_t n,
                          const char *on, territory_state_fn cb, void *userdata);
/* The state of code, or NULL when it has no rows. */
const territory_state_t *territory_state_find(const territory_states_t *s, const char *code);
/* A Territory message of a state, in the call's arena; its strings are borrowed. */
Ovop__V1__Territory *territory_message(ovop_call_t *call, const territory_state_t *t);

/* The kinds a client may create or import, for messages. */
extern const char *const territory_kind_list;
/* True for the nine kinds of registry.territories (the republic included). */
bool territory_kind_known(const char *kind);

/* Why a territory coded `code` of kind `kind` cannot lie under the territory parent_code of
 * kind parent_kind (a kind that may not hold it, or a code outside the parent's branch of
 * the classifier), written into buf; NULL when it can. `move`: an existing territory moves
 * there, and the message says what to do instead. */
const char *territory_placement_problem(const char *code, const char *kind, const char *parent_code,
                                        const char *parent_kind, bool move, char *buf, size_t size);
/* Why the territory `code`, whose state is p (NULL: no rows), cannot be a parent or
 * successor from date `on` (unknown, retired, or not valid yet), written into buf; NULL when
 * it can. */
const char *territory_parent_problem(const territory_state_t *p, const char *code, const char *on,
                                     char *buf, size_t size);

/* The ImportTerritories handler (territory_import.c). */
void territory_import(ovop_call_t *call, const ProtobufCMessage *input, void *userdata);
