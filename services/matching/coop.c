/* Cooperative proposals (see coop.h). Implementation in progress: lands in a later commit;
 * until then coop_propose refuses with -ENOSYS. */
#include "coop.h"

#include <errno.h>
#include <stdlib.h>

int coop_propose(const coop_point_t *pts, size_t n, const coop_params_t *p, coop_group_t **ret,
                 size_t *ret_n)
{
    if (ret)
        *ret = NULL;
    if (ret_n)
        *ret_n = 0;
    return -ENOSYS;
}

void coop_groups_free(coop_group_t *g, size_t n)
{
    for (size_t i = 0; g && i < n; i++)
        free(g[i].members);
    free(g);
}
