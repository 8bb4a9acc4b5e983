/* Order allocation (see alloc.h). Implementation in progress: the solver lands in the next
 * commit; until then match_solve refuses every problem with -ENOSYS. */
#include "alloc.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define EARTH_KM 6371.0088

double match_km(double lat1, double lon1, double lat2, double lon2)
{
    const double rad = M_PI / 180.0;
    double dlat = (lat2 - lat1) * rad, dlon = (lon2 - lon1) * rad;
    double a = sin(dlat / 2) * sin(dlat / 2) +
               cos(lat1 * rad) * cos(lat2 * rad) * sin(dlon / 2) * sin(dlon / 2);
    return 2.0 * EARTH_KM * asin(fmin(1.0, sqrt(a)));
}

int match_solve(const match_problem_t *p, match_solution_t *out)
{
    if (out)
        memset(out, 0, sizeof(*out));
    return -ENOSYS;
}

void match_solution_free(match_solution_t *s)
{
    if (!s)
        return;
    free(s->lines);
    memset(s, 0, sizeof(*s));
}
