/*
 * upload.c: uploads a file to Microsoft Graph (or the project's emulator) with libcurl,
 * driven by the upload-session core through its C ABI.
 *
 *   upload --base URL [--token T] [--state PATH] [--chunk N] [--force-session]
 *          [--stop-after N] [-v] TARGET FILE
 *   TARGET: todo LIST TASK | mail MESSAGE | event EVENT | drive PATH | print PRINTER JOB DOC
 *
 * The token comes from --token or GRAPH_TOKEN and goes only on requests that need it. With
 * --state the upload's state is written to PATH before a request that may create the result
 * and after every answer; a run that finds PATH resumes from it. --stop-after N kills the
 * process with SIGKILL right after the Nth request was sent, before its answer is read.
 * Prints "done id=... size=... requests=..." and exits 0; exits 1 on failure, 2 on bad usage.
 */
#define _POSIX_C_SOURCE 200809L

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "upload_session.h"

#define MAX_ANSWER (4u * 1024u * 1024u)
#define MAX_HEADERS 64

static int verbose;

static void fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("upload: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

/* Exits with the library's message when a call fails. */
static void check(us_result r, const char *what) {
    if (r != US_RESULT_OK) {
        char msg[1024];
        size_t n = 0;
        if (us_last_error(msg, sizeof msg, &n) != US_RESULT_OK) {
            msg[0] = '\0';
        }
        fail("%s: %s (%s)", what, msg, us_result_text(r));
    }
}

static uint64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_until(uint64_t until) {
    uint64_t now = now_ms();
    if (until <= now) {
        return;
    }
    uint64_t ms = until - now;
    struct timespec ts = {(time_t)(ms / 1000u), (long)(ms % 1000u) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Reads exactly bytes [start, end) of the file. */
static unsigned char *read_range(int fd, uint64_t start, uint64_t end) {
    size_t len = (size_t)(end - start);
    unsigned char *buf = malloc(len ? len : 1);
    if (!buf) {
        fail("out of memory");
    }
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(fd, buf + done, len - done, (off_t)(start + done));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            fail("cannot read the file at offset %llu", (unsigned long long)(start + done));
        }
        done += (size_t)n;
    }
    return buf;
}

/* Writes the state durably: a temporary file, fsync, rename. */
static void save_state(const us_upload *up, const char *path) {
    if (!path) {
        return;
    }
    size_t len = 0, written = 0;
    check(us_upload_save_len(up, &len), "us_upload_save_len");
    char *state = malloc(len + 1);
    if (!state) {
        fail("out of memory");
    }
    check(us_upload_save(up, state, len + 1, &written), "us_upload_save");
    /* A new file of an unpredictable name (owner-only, never through a planted link),
     * synced, then renamed over the old state. */
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.XXXXXX", path);
    int fd = mkstemp(tmp);
    size_t done = 0;
    while (fd >= 0 && done < written) {
        ssize_t n = write(fd, state + done, written - done);
        if (n <= 0) {
            break;
        }
        done += (size_t)n;
    }
    if (fd < 0 || done != written || fsync(fd) != 0 || close(fd) != 0 ||
        rename(tmp, path) != 0) {
        int e = errno;
        if (fd >= 0) {
            unlink(tmp);
        }
        fail("cannot write the state file %s: %s", path, strerror(e));
    }
    free(state);
}

/* Reads the whole state file; NULL when there is none. */
static char *load_state(const char *path, size_t *len) {
    FILE *f = path ? fopen(path, "rb") : NULL;
    if (!f) {
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
    }
    if (!buf || ferror(f)) {
        fail("cannot read the state file %s", path);
    }
    fclose(f);
    *len = n;
    return buf;
}

/* One answer as curl delivers it. */
struct answer {
    char *names[MAX_HEADERS];
    char *values[MAX_HEADERS];
    size_t count;
    unsigned char *body;
    size_t body_len;
};

static void answer_clear_headers(struct answer *a) {
    for (size_t i = 0; i < a->count; i++) {
        free(a->names[i]);
        free(a->values[i]);
    }
    a->count = 0;
}

static size_t on_header(char *line, size_t size, size_t n, void *data) {
    struct answer *a = data;
    size_t len = size * n;
    if (len >= 5 && strncmp(line, "HTTP/", 5) == 0) {
        answer_clear_headers(a); /* a new response (after 100 Continue, say) */
        return len;
    }
    char *colon = memchr(line, ':', len);
    if (!colon || a->count == MAX_HEADERS) {
        return len;
    }
    size_t name_len = (size_t)(colon - line);
    const char *v = colon + 1;
    size_t v_len = len - name_len - 1;
    while (v_len && (*v == ' ' || *v == '\t')) {
        v++;
        v_len--;
    }
    while (v_len && (v[v_len - 1] == '\r' || v[v_len - 1] == '\n' || v[v_len - 1] == ' ')) {
        v_len--;
    }
    a->names[a->count] = strndup(line, name_len);
    a->values[a->count] = strndup(v, v_len);
    if (!a->names[a->count] || !a->values[a->count]) {
        return 0;
    }
    a->count++;
    return len;
}

static size_t on_body(char *data, size_t size, size_t n, void *user) {
    struct answer *a = user;
    size_t len = size * n;
    if (a->body_len + len > MAX_ANSWER) {
        return 0; /* too long for any Graph answer: abort the transfer */
    }
    unsigned char *grown = realloc(a->body, a->body_len + len);
    if (!grown) {
        return 0;
    }
    a->body = grown;
    memcpy(a->body + a->body_len, data, len);
    a->body_len += len;
    return len;
}

/* The body the request describes, read from the file where it names a range. */
static unsigned char *build_body(const us_request *req, int fd, size_t *len) {
    us_body_kind kind;
    check(us_request_body_kind(req, &kind), "us_request_body_kind");
    uint64_t start = 0, end = 0;
    *len = 0;
    switch (kind) {
    case US_BODY_KIND_NONE:
        return NULL;
    case US_BODY_KIND_JSON: {
        const char *json;
        check(us_request_body_json(req, &json, len), "us_request_body_json");
        unsigned char *copy = malloc(*len ? *len : 1);
        if (!copy) {
            fail("out of memory");
        }
        memcpy(copy, json, *len);
        return copy;
    }
    case US_BODY_KIND_FILE_RANGE:
        check(us_request_body_range(req, &start, &end), "us_request_body_range");
        *len = (size_t)(end - start);
        return read_range(fd, start, end);
    case US_BODY_KIND_JSON_BASE64_FILE: {
        const char *prefix, *suffix;
        size_t prefix_len, suffix_len;
        check(us_request_body_base64_json(req, &prefix, &prefix_len, &suffix, &suffix_len),
              "us_request_body_base64_json");
        us_result r = us_request_body_range(req, &start, &end);
        if (r == US_RESULT_ABSENT) {
            start = end = 0; /* an empty file: nothing to encode */
        } else {
            check(r, "us_request_body_range");
        }
        size_t text_len = (size_t)us_base64_len(end - start);
        unsigned char *body = malloc(prefix_len + text_len + suffix_len + 1);
        if (!body) {
            fail("out of memory");
        }
        memcpy(body, prefix, prefix_len);
        size_t at = prefix_len;
        /* In pieces of a multiple of 3 bytes, so that their base64 concatenates. */
        const uint64_t piece = 3u * 65536u;
        for (uint64_t off = start; off < end; off += piece) {
            uint64_t stop = off + piece < end ? off + piece : end;
            unsigned char *bytes = read_range(fd, off, stop);
            size_t n = 0;
            check(us_base64_encode(bytes, (size_t)(stop - off), (char *)body + at,
                                   text_len - (at - prefix_len), &n),
                  "us_base64_encode");
            at += n;
            free(bytes);
        }
        memcpy(body + at, suffix, suffix_len);
        *len = at + suffix_len;
        return body;
    }
    }
    fail("a body kind this example does not know: %u", (unsigned)kind);
    return NULL;
}

struct run {
    CURL *curl;
    const char *token;
    const char *state_path;
    int fd;
    long stop_after;
    long sent;
    const char *path;
    struct stat opened;
};

/* Whether the file at the path is still the one opened: same size and modification time. */
static bool unchanged(const struct run *run) {
    struct stat now;
    return stat(run->path, &now) == 0 && now.st_size == run->opened.st_size &&
           now.st_mtim.tv_sec == run->opened.st_mtim.tv_sec &&
           now.st_mtim.tv_nsec == run->opened.st_mtim.tv_nsec;
}

/* Sends one request and feeds its answer (or its failure) back to the machine. */
static void exchange(struct run *run, us_upload *up, const us_request *req) {
    uint64_t id;
    const char *method, *url;
    size_t url_len, count;
    bool needs_token, save_first;
    check(us_request_id(req, &id), "us_request_id");
    check(us_request_method(req, &method), "us_request_method");
    check(us_request_url(req, &url, &url_len), "us_request_url");
    check(us_request_header_count(req, &count), "us_request_header_count");
    check(us_request_needs_token(req, &needs_token), "us_request_needs_token");
    check(us_request_save_before_sending(req, &save_first), "us_request_save_before_sending");

    /* Bytes of a file that changed would mix two versions: none are sent. The machine
     * hears the request was not sent, and the state keeps that. */
    us_body_kind body_kind;
    check(us_request_body_kind(req, &body_kind), "us_request_body_kind");
    if (body_kind != US_BODY_KIND_NONE && body_kind != US_BODY_KIND_JSON && !unchanged(run)) {
        check(us_upload_handle_transport_error(up, now_ms(), id, US_TRANSPORT_ERROR_CONNECT),
              "us_upload_handle_transport_error");
        save_state(up, run->state_path);
        fail("%s changed during the upload: nothing more of it is sent", run->path);
    }

    if (save_first) {
        save_state(up, run->state_path);
    }

    struct curl_slist *headers = NULL;
    bool typed = false;
    for (size_t i = 0; i < count; i++) {
        const char *name, *value;
        check(us_request_header(req, i, &name, &value), "us_request_header");
        char line[256];
        snprintf(line, sizeof line, "%s: %s", name, value);
        headers = curl_slist_append(headers, line);
        typed = typed || strcasecmp(name, "Content-Type") == 0;
    }
    /* A body the request gives no type (a commit's empty POST): none, not curl's form type. */
    if (!typed) {
        headers = curl_slist_append(headers, "Content-Type:");
    }
    headers = curl_slist_append(headers, "Expect:");
    char *auth = NULL;
    if (needs_token) {
        size_t n = strlen(run->token) + 32;
        auth = malloc(n);
        if (!auth) {
            fail("out of memory");
        }
        snprintf(auth, n, "Authorization: Bearer %s", run->token);
        headers = curl_slist_append(headers, auth);
    }

    size_t body_len;
    unsigned char *body = build_body(req, run->fd, &body_len);
    uint64_t content_length = 0;
    bool has_body = us_request_content_length(req, &content_length) == US_RESULT_OK;
    if (has_body && content_length != body_len) {
        fail("built %zu body bytes, the request says %llu", body_len,
             (unsigned long long)content_length);
    }

    if (verbose) {
        const char *query = memchr(url, '?', url_len);
        int shown = query ? (int)(query - url) : (int)url_len;
        fprintf(stderr, "-> #%llu %s %.*s%s token=%s body=%zu\n", (unsigned long long)id,
                method, shown, url, query ? "?<redacted>" : "", needs_token ? "yes" : "no",
                body_len);
    }

    struct answer a = {0};
    CURL *c = run->curl;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    if (has_body) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? (const char *)body : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    } else {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    }
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &a);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &a);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 300L);
    CURLcode rc = curl_easy_perform(c);

    run->sent++;
    if (run->stop_after > 0 && run->sent == run->stop_after) {
        fprintf(stderr, "upload: stopping abruptly after request %ld, as asked\n", run->sent);
        raise(SIGKILL);
    }

    uint64_t now = now_ms();
    if (rc == CURLE_OK) {
        long status = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        if (verbose) {
            fprintf(stderr, "<- #%llu %ld\n", (unsigned long long)id, status);
        }
        us_result r = us_upload_handle_response(
            up, now, id, (uint16_t)status, (const char *const *)a.names,
            (const char *const *)a.values, a.count, a.body, a.body_len);
        if (r == US_RESULT_INVALID_UTF8) {
            /* A header that is not UTF-8: drop every header but the three the core reads. */
            size_t kept = 0;
            for (size_t i = 0; i < a.count; i++) {
                if (strcasecmp(a.names[i], "location") == 0 ||
                    strcasecmp(a.names[i], "retry-after") == 0 ||
                    strcasecmp(a.names[i], "date") == 0) {
                    a.names[kept] = a.names[i];
                    a.values[kept++] = a.values[i];
                } else {
                    free(a.names[i]);
                    free(a.values[i]);
                }
            }
            a.count = kept;
            r = us_upload_handle_response(up, now, id, (uint16_t)status,
                                          (const char *const *)a.names,
                                          (const char *const *)a.values, a.count, a.body,
                                          a.body_len);
        }
        check(r, "us_upload_handle_response");
    } else {
        uint32_t kind = US_TRANSPORT_ERROR_INTERRUPTED;
        if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
            rc == CURLE_SSL_CONNECT_ERROR) {
            kind = US_TRANSPORT_ERROR_CONNECT;
        } else if (rc == CURLE_OPERATION_TIMEDOUT) {
            kind = US_TRANSPORT_ERROR_TIMEOUT;
        }
        if (verbose) {
            fprintf(stderr, "<- #%llu no answer: %s\n", (unsigned long long)id,
                    curl_easy_strerror(rc));
        }
        check(us_upload_handle_transport_error(up, now, id, kind),
              "us_upload_handle_transport_error");
    }
    save_state(up, run->state_path);

    answer_clear_headers(&a);
    free(a.body);
    free(body);
    free(auth);
    curl_slist_free_all(headers);
}

static void usage(void) {
    fputs("usage: upload --base URL [--token T] [--state PATH] [--chunk N] [--force-session]\n"
          "              [--stop-after N] [-v] TARGET FILE\n"
          "TARGET: todo LIST TASK | mail MESSAGE | event EVENT | drive PATH |"
          " print PRINTER JOB DOC\n",
          stderr);
    exit(2);
}

int main(int argc, char **argv) {
    const char *base = NULL, *token = getenv("GRAPH_TOKEN"), *state_path = NULL;
    unsigned long long chunk = 0;
    bool force_session = false;
    long stop_after = 0;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *flag = argv[i];
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(flag, "-v") == 0) {
            verbose = 1;
        } else if (strcmp(flag, "--force-session") == 0) {
            force_session = true;
        } else if (!value) {
            usage();
        } else if (strcmp(flag, "--base") == 0) {
            base = value, i++;
        } else if (strcmp(flag, "--token") == 0) {
            token = value, i++;
        } else if (strcmp(flag, "--state") == 0) {
            state_path = value, i++;
        } else if (strcmp(flag, "--chunk") == 0) {
            chunk = strtoull(value, NULL, 10), i++;
        } else if (strcmp(flag, "--stop-after") == 0) {
            stop_after = strtol(value, NULL, 10), i++;
        } else {
            usage();
        }
    }
    if (!base || i >= argc) {
        usage();
    }
    if (!token) {
        token = "";
    }

    /* The target, from the words after the flags; the file is the last argument. */
    const char *kind = argv[i++];
    int left = argc - i;
    const char *path = argv[argc - 1];
    us_target *target = NULL;
    us_result r;
    if (strcmp(kind, "todo") == 0 && left == 3) {
        r = us_target_todo_task(base, NULL, argv[i], argv[i + 1], &target);
    } else if ((strcmp(kind, "mail") == 0 || strcmp(kind, "event") == 0) && left == 2) {
        uint32_t item = kind[0] == 'm' ? US_OUTLOOK_ITEM_MESSAGE : US_OUTLOOK_ITEM_EVENT;
        r = us_target_outlook_attachment(base, NULL, item, argv[i], &target);
    } else if (strcmp(kind, "drive") == 0 && left == 2) {
        r = us_target_drive_item_path(base, US_DRIVE_ME, NULL, argv[i], US_CONFLICT_REPLACE,
                                      &target);
    } else if (strcmp(kind, "print") == 0 && left == 4) {
        r = us_target_print_document(base, argv[i], argv[i + 1], argv[i + 2], &target);
    } else {
        usage();
        return 2;
    }
    if (r == US_RESULT_CONFIG_ERROR || r == US_RESULT_INVALID_UTF8) {
        char msg[512];
        size_t n;
        us_last_error(msg, sizeof msg, &n);
        fprintf(stderr, "upload: %s\n", msg);
        return 2;
    }
    check(r, "target");

    int fd = open(path, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        fail("cannot open %s: %s", path, strerror(errno));
    }
    const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    char fingerprint[64];
    snprintf(fingerprint, sizeof fingerprint, "%lld:%lld.%09ld", (long long)st.st_size,
             (long long)st.st_mtim.tv_sec, (long)st.st_mtim.tv_nsec);
    us_file *file = NULL;
    us_options *options = NULL;
    check(us_file_new(name, (uint64_t)st.st_size, &file), "us_file_new");
    check(us_file_set_fingerprint(file, fingerprint), "us_file_set_fingerprint");
    if (strcmp(kind, "drive") == 0) {
        /* OneDrive reports the item's QuickXorHash: the core checks it against the file's. */
        us_quick_xor_hash *hash = NULL;
        check(us_quick_xor_hash_new(&hash), "us_quick_xor_hash_new");
        for (uint64_t off = 0; off < (uint64_t)st.st_size; off += 1u << 20) {
            uint64_t stop = off + (1u << 20) < (uint64_t)st.st_size ? off + (1u << 20)
                                                                   : (uint64_t)st.st_size;
            unsigned char *bytes = read_range(fd, off, stop);
            check(us_quick_xor_hash_update(hash, bytes, (size_t)(stop - off)),
                  "us_quick_xor_hash_update");
            free(bytes);
        }
        char text[64];
        size_t n = 0;
        check(us_quick_xor_hash_base64(hash, text, sizeof text, &n), "us_quick_xor_hash_base64");
        check(us_file_set_quick_xor_hash(file, text), "us_file_set_quick_xor_hash");
        us_quick_xor_hash_free(hash);
    }
    check(us_options_new(&options), "us_options_new");
    check(us_options_set_chunk_size(options, chunk), "us_options_set_chunk_size");
    check(us_options_set_force_session(options, force_session), "us_options_set_force_session");

    us_upload *up = NULL;
    size_t state_len = 0;
    char *state = load_state(state_path, &state_len);
    if (state) {
        check(us_upload_restore((const uint8_t *)state, state_len, target, file, options, &up),
              "resuming from the state file");
        if (verbose) {
            fprintf(stderr, ".. resuming from %s\n", state_path);
        }
        free(state);
    } else {
        check(us_upload_new(target, file, options, &up), "us_upload_new");
    }
    us_target_free(target);
    us_file_free(file);
    us_options_free(options);

    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct run run = {curl_easy_init(), token, state_path, fd, stop_after, 0, path, st};
    if (!run.curl) {
        fail("cannot start libcurl");
    }
    int status = 1;
    for (;;) {
        const us_action *action;
        us_action_kind what;
        check(us_upload_poll(up, now_ms(), &action), "us_upload_poll");
        check(us_action_get_kind(action, &what), "us_action_get_kind");
        if (what == US_ACTION_KIND_SEND) {
            const us_request *req;
            check(us_action_request(action, &req), "us_action_request");
            exchange(&run, up, req);
        } else if (what == US_ACTION_KIND_WAIT) {
            uint64_t until;
            us_wait_reason reason;
            check(us_action_wait(action, &until, &reason), "us_action_wait");
            if (verbose) {
                fprintf(stderr, ".. waiting %llu ms (%s)\n",
                        (unsigned long long)(until > now_ms() ? until - now_ms() : 0),
                        reason == US_WAIT_REASON_RETRY_AFTER ? "Retry-After" : "backoff");
            }
            sleep_until(until);
        } else if (what == US_ACTION_KIND_REFRESH_TOKEN) {
            /* The token is fixed: try it once more; a second 401 ends the upload. */
            check(us_upload_token_refreshed(up, now_ms()), "us_upload_token_refreshed");
        } else if (what == US_ACTION_KIND_DONE) {
            const char *id;
            uint64_t size, requests;
            bool found;
            check(us_action_done_id(action, &id, NULL), "us_action_done_id");
            check(us_action_done_size(action, &size), "us_action_done_size");
            check(us_action_done_found_by_lookup(action, &found), "us_action_done_found");
            check(us_upload_requests(up, &requests), "us_upload_requests");
            printf("done id=%s size=%llu requests=%llu found_by_lookup=%d", id,
                   (unsigned long long)size, (unsigned long long)requests, found ? 1 : 0);
            const char *hash;
            if (us_action_done_quick_xor_hash(action, &hash, NULL) == US_RESULT_OK) {
                printf(" quick_xor_hash=%s", hash);
            }
            putchar('\n');
            status = 0;
            break;
        } else if (what == US_ACTION_KIND_FAILED) {
            const char *message;
            us_failure_category category;
            check(us_action_failure_message(action, &message, NULL), "failure message");
            check(us_action_failure_category(action, &category), "failure category");
            fprintf(stderr, "upload: failed (category %u): %s\n", (unsigned)category, message);
            break;
        } else {
            fprintf(stderr, "upload: cancelled\n");
            break;
        }
    }
    if (status == 0 && state_path && unlink(state_path) != 0 && errno != ENOENT) {
        fail("cannot remove the state file %s: %s", state_path, strerror(errno));
    }
    us_upload_free(up);
    curl_easy_cleanup(run.curl);
    curl_global_cleanup();
    close(fd);
    return status;
}
