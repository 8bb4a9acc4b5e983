/* Named contracts between SQL and C: database rows and JSON decoded into protobuf messages by
 * name, driven by the message descriptors, and enum values to and from the text the
 * database stores, derived from the enum descriptors.
 *
 * A column (or JSON member) named like a field of the message fills that field; "a.b" fills
 * field b of the message field a. So a query says `p.legal_name, p.phone AS "contact.phone"`
 * and adding a column can never shift another. Conversions from the text form:
 *   strings as they are; integers and floating point from their digits; bool from t/f or
 *   true/false; enums from their text (see ovop_enum_text); bytes from bytea hex text;
 *   a message or repeated field from JSON (an object, or an array of objects / scalars,
 *   whose members are named like the fields, recursively).
 * Columns that name no field (paging keys, helpers) are ignored, NULL leaves the default.
 * Everything decoded is allocated in the arena. */
#pragma once

#include <jansson.h>
#include <libpq-fe.h>
#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>

#include "arena.h"

/* The text an enum value is stored as: its name without the enum's prefix, in lower case
 * (PRODUCER_KIND_FAMILY_GROUP of ProducerKind is "family_group"); "" for the zero value
 * and for values the enum does not have. Static storage. */
const char *ovop_enum_text(const ProtobufCEnumDescriptor *desc, int value);
/* The value whose text (as ovop_enum_text) or full name is text; -1 when there is none. The
 * zero value is never matched by text: "" or "unspecified" give -1. */
int ovop_enum_value(const ProtobufCEnumDescriptor *desc, const char *text);

/* Which field each column of a result fills, resolved once per result. */
typedef struct ovop_rowmap ovop_rowmap_t;

/* Maps the columns of res to the fields of desc. A column whose dotted path names a field
 * that is not a message ("a.b" where a is a string) is a programming error: asserted. */
ovop_rowmap_t *ovop_rowmap_new(ovop_arena_t *a, const ProtobufCMessageDescriptor *desc,
                               const PGresult *res);
/* Decodes row i into a new message (in the map's arena). Returns NULL, with *ret_why naming
 * the column, when a value cannot be converted (a bug in a query, or bad stored data). */
ProtobufCMessage *ovop_rowmap_decode(const ovop_rowmap_t *m, const PGresult *res, int row,
                                     const char **ret_why);

/* Decodes a JSON object into a new message of type desc in a; NULL with *ret_why when a
 * member has the wrong type. Members naming no field are ignored. The reference that
 * ovop_pb_from_json_text is held to (tests/fuzz/fuzz-pbrow.c). */
ProtobufCMessage *ovop_pb_from_json(ovop_arena_t *a, const ProtobufCMessageDescriptor *desc,
                                    json_t *obj, const char **ret_why);
/* The same from JSON text, decoded as it is read (no document is built): what
 * ovop_pb_from_json(json_loads(text, JSON_DECODE_ANY)) gives, failures included, but that
 * every value of a member named twice must convert (the last one counts). Row columns of
 * JSON decode this way. */
ProtobufCMessage *ovop_pb_from_json_text(ovop_arena_t *a, const ProtobufCMessageDescriptor *desc,
                                         const char *text, const char **ret_why);
