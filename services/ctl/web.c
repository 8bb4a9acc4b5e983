/* ovopctl web: the programme dashboard of ovop-webd (ovop.web). `web approve CODE` signs in
 * the browser that shows CODE on the dashboard's sign-in page, as the principal whose key
 * this ovopctl uses: the broker authenticates the approval, so the dashboard has no
 * passwords. */
#include <stdio.h>
#include <time.h>

#include "ctl.h"
#include "ovop/v1/web.pb-c.h"

static void print_approved(const ProtobufCMessage *m)
{
    const Ovop__V1__ApproveSignInResponse *a = (const Ovop__V1__ApproveSignInResponse *)m;
    time_t t = (time_t)(a->expires_at_us / 1000000);
    struct tm tm;
    char when[32] = "?";
    if (gmtime_r(&t, &tm))
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    printf("signed in    %s\n", a->principal_id);
    printf("until        %s (at the latest)\n", when);
}

static int web_approve(ctl_t *c, int argc, char **argv)
{
    static const ctl_verb_t verb = {
        .prog = "ovopctl web approve",
        .usage = "CODE",
        .summary = "Signs in the dashboard page that shows CODE (XXXX-XXXX), as yourself.",
        .n_args = 1};
    int argi;
    int r = ctl_verb_parse(&verb, NULL, 0, &argc, argv, &argi);
    if (r == 0) {
        Ovop__V1__ApproveSignInRequest in = OVOP__V1__APPROVE_SIGN_IN_REQUEST__INIT;
        in.code = argv[argi];
        r = ctl_call_show(c, "ovop.web", "ApproveSignIn", &in.base,
                          &ovop__v1__approve_sign_in_response__descriptor, print_approved);
    }
    return r < 0 ? CTL_EXIT_OK : r;
}

int ctl_web(ctl_t *c, int argc, char **argv)
{
    static const ctl_cmd_t cmds[] = {
        {.name = "approve", .run = web_approve},
    };
    return ctl_run(c, cmds, OVOP_ARRAY_SIZE(cmds), argc - 1, argv + 1, "ovopctl web approve ...");
}
