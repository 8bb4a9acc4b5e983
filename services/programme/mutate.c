/* Shared by the handlers. */
#include <stdio.h>

#include "programd.h"

void programd_mutate(ovop_call_t *call, programd_t *p, const char *function, const ovop_arg_t *args,
                     size_t n_args, const ProtobufCMessage *output)
{
    ovop_mutate(call, &p->mutator, function, args, n_args, output);
}

char *programd_num(ovop_call_t *call, int64_t v)
{
    return ovop_call_printf(call, "%lld", (long long)v);
}
