/* Protobuf (protobuf-c) messages to JSON (jansson), driven by the message descriptors, the
 * way proto3's JSON mapping writes them: field names as in the .proto, enums by name, 64-bit
 * integers as strings, bytes as base64. Default values are included so that scripts see
 * every field. */
#pragma once

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

/* Returns a new JSON object (never NULL). */
json_t *ovop_pb_to_json(const ProtobufCMessage *m);

/* The size of one element of a repeated field of f's type in a protobuf-c message. */
size_t ovop_pb_elem_size(const ProtobufCFieldDescriptor *f);
