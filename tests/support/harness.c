#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client.h"

extern char **environ;

static char tmpdir[256];

const char *harness_tmpdir(void)
{
    if (tmpdir[0])
        return tmpdir;
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof(tmpdir), "%s/ovop-test-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) {
        fprintf(stderr, "could not create a temporary directory %s: %s\n", tmpdir, strerror(errno));
        abort();
    }
    return tmpdir;
}

char *harness_bin(const char *name)
{
    return xasprintf("%s/%s", OVOP_BIN_DIR, name);
}

void harness_sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

int harness_spawn(pid_t *ret_pid, const char *bin, const char *const *args, const char *const *env,
                  const char *log_name)
{
    size_t n_args = 0, n_env = 0, n_extra = 0;
    posix_spawn_file_actions_t fa;
    int r;

    while (args && args[n_args])
        n_args++;
    while (environ[n_env])
        n_env++;
    while (env && env[n_extra])
        n_extra++;
    char **argv = xcalloc(n_args + 2, sizeof(char *));
    argv[0] = (char *)bin;
    for (size_t i = 0; i < n_args; i++)
        argv[i + 1] = (char *)args[i];
    char **envp = xcalloc(n_env + n_extra + 1, sizeof(char *));
    memcpy(envp, environ, n_env * sizeof(char *));
    for (size_t i = 0; i < n_extra; i++)
        envp[n_env + i] = (char *)env[i];

    char *log = xasprintf("%s/%s.log", harness_tmpdir(), log_name);
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    pid_t pid;
    r = -posix_spawn(&pid, bin, &fa, NULL, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    if (r == 0)
        *ret_pid = pid;
    free(log);
    free(envp);
    free(argv);
    return r;
}

int harness_kill(pid_t pid, int sig)
{
    return kill(pid, sig) < 0 ? -errno : 0;
}

int harness_wait_exit(pid_t pid, unsigned timeout_ms, int *ret_status)
{
    int64_t deadline = ovop_mono_us() + (int64_t)timeout_ms * 1000;
    for (;;) {
        int status;
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r < 0)
            return -errno;
        if (r == pid) {
            if (ret_status)
                *ret_status = status;
            return 0;
        }
        if (ovop_mono_us() >= deadline)
            return -ETIMEDOUT;
        harness_sleep_ms(10);
    }
}

void harness_stop(pid_t pid)
{
    if (pid <= 0)
        return;
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

int harness_free_port(uint16_t *ret_port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int r = 0;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -errno;
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
        r = -errno;
    close(fd);
    if (r == 0)
        *ret_port = ntohs(sa.sin_port);
    return r;
}

int harness_wait_service(const char *endpoint, const char *service, unsigned timeout_ms,
                         const ovop_security_t *sec)
{
    int64_t deadline = ovop_mono_us() + (int64_t)timeout_ms * 1000;
    ovop_client_options_t o = {
        .brokers = endpoint, .timeout_ms = 200, .retries = 0, .max_msg = 1 << 20, .security = sec};
    ovop_client_t *c = NULL;
    int r = ovop_client_new(&c, NULL, &o);
    if (r < 0)
        return r;
    for (;;) {
        r = ovop_client_mmi_service(c, service);
        if (r == 0 || ovop_mono_us() >= deadline)
            break;
        harness_sleep_ms(50);
    }
    ovop_client_destroy(&c);
    return r == 0 ? 0 : -ETIMEDOUT;
}

int harness_http(uint16_t port, const char *method, const char *path, const char *host,
                 const char *extra, harness_http_reply_t *ret)
{
    struct sockaddr_in sa = {
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    memset(ret, 0, sizeof(*ret));
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -errno;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int r = -errno;
        close(fd);
        return r;
    }
    char *req = xasprintf("%s %s HTTP/1.0\r\nHost: %s\r\n%s\r\n", method, path,
                          host ? host : "127.0.0.1", extra ? extra : "");
    size_t n = strlen(req);
    bool sent = write(fd, req, n) == (ssize_t)n;
    free(req);
    if (!sent) {
        close(fd);
        return -EIO;
    }
    ovop_buf_t resp;
    ovop_buf_init(&resp);
    char buf[8192];
    for (;;) {
        ssize_t got = read(fd, buf, sizeof(buf));
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        ovop_buf_append(&resp, buf, (size_t)got);
    }
    close(fd);
    int status = 0;
    char *sep = resp.data ? strstr(resp.data, "\r\n\r\n") : NULL;
    if (!sep || sscanf(resp.data, "HTTP/%*s %d", &status) != 1) {
        ovop_buf_free(&resp);
        return -EBADMSG;
    }
    ret->status = status;
    ret->headers = xasprintf("%.*s\r\n", (int)(sep - resp.data), resp.data);
    ret->body = xstrdup(sep + 4);
    ovop_buf_free(&resp);
    return status;
}

void harness_http_reply_free(harness_http_reply_t *r)
{
    free(r->headers);
    free(r->body);
    memset(r, 0, sizeof(*r));
}

int harness_http_get(uint16_t port, const char *path, ovop_buf_t *body)
{
    harness_http_reply_t r;
    int status = harness_http(port, "GET", path, NULL, NULL, &r);
    if (status > 0)
        ovop_buf_puts(body, r.body);
    harness_http_reply_free(&r);
    return status;
}

double harness_metric(const char *page, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = page; p && *p;) {
        if (strncmp(p, series, n) == 0 && p[n] == ' ')
            return strtod(p + n + 1, NULL);
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return -1;
}

double harness_port_metric(uint16_t port, const char *series)
{
    ovop_buf_t page;
    ovop_buf_init(&page);
    double v = harness_http_get(port, "/metrics", &page) == 200 && page.data
                   ? harness_metric(page.data, series)
                   : -1;
    ovop_buf_free(&page);
    return v;
}
