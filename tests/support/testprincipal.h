/* A serialized ovop.v1.Principal for unit tests and fuzz targets that hand requests to a
 * dispatcher directly: id "test", kind operator, the role "*" (every role). */
#pragma once

static const char test_principal[] = "\x0a\x04"
                                     "test"
                                     "\x12\x08"
                                     "operator"
                                     "\x1a\x01"
                                     "*";
