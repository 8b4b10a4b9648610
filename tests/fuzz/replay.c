/*
 * Replay driver for the fuzz targets: a main() that feeds inputs to
 * LLVMFuzzerTestOneInput without libFuzzer, so every target runs its corpus
 * (and deterministic mutations of it) in the ordinary `meson test`, under
 * the sanitizer build too.
 *
 * usage: replay [-m MUTATIONS] PATH...
 *   PATH        a corpus file, or a directory whose regular files are all
 *               replayed in name order (subdirectories are not entered)
 *   -m N        also run N seeded mutations of each input (bit flips, byte
 *               overwrites, truncation, duplication); default 0
 * Exits 0 when every input ran (a failed check aborts the process), 1 on a
 * usage error or when no input was found.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* scandir */
#endif

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "testutil.h" /* test_rng: the tests' seeded PRNG */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t n_inputs, n_runs;
static unsigned long mutations;

static void run(const uint8_t *data, size_t size)
{
    /* A private copy, exactly `size` bytes, so ASan sees any over-read. */
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy) {
        fprintf(stderr, "replay: out of memory\n");
        exit(1);
    }
    if (size)
        memcpy(copy, data, size);
    LLVMFuzzerTestOneInput(copy, size);
    free(copy);
    n_runs++;
}

static void run_mutations(const uint8_t *data, size_t size, test_rng *rng)
{
    size_t cap = 2 * size + 16;
    uint8_t *buf = malloc(cap);
    if (!buf) {
        fprintf(stderr, "replay: out of memory\n");
        exit(1);
    }
    for (unsigned long k = 0; k < mutations; k++) {
        size_t len = size;
        if (size)
            memcpy(buf, data, size);
        unsigned edits = 1 + (unsigned)(test_rng_next(rng) % 4);
        for (unsigned e = 0; e < edits; e++) {
            uint64_t r = test_rng_next(rng);
            switch (r % 4) {
            case 0: /* flip a bit */
                if (len)
                    buf[(r >> 8) % len] ^= (uint8_t)(1u << ((r >> 4) % 8));
                break;
            case 1: /* overwrite a byte with an interesting value */
                if (len) {
                    static const uint8_t v[] = {0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff};
                    buf[(r >> 8) % len] = v[(r >> 4) % sizeof v];
                }
                break;
            case 2: /* truncate */
                if (len)
                    len = (size_t)((r >> 8) % len);
                break;
            default: /* append a copy of a chunk */
                if (len && len < cap / 2) {
                    size_t from = (size_t)((r >> 8) % len), n = len - from;
                    memcpy(buf + len, buf + from, n);
                    len += n;
                }
                break;
            }
        }
        run(buf, len);
    }
    free(buf);
}

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t cap = 4096, size = 0;
    uint8_t *data = malloc(cap);
    for (;;) {
        if (!data) {
            fprintf(stderr, "replay: out of memory\n");
            exit(1);
        }
        size += fread(data + size, 1, cap - size, f);
        if (size < cap)
            break;
        uint8_t *grown = realloc(data, cap *= 2);
        if (!grown)
            free(data);
        data = grown;
    }
    int err = ferror(f);
    fclose(f);
    if (err) {
        fprintf(stderr, "replay: %s: read error\n", path);
        free(data);
        return -1;
    }
    run(data, size);
    test_rng rng = {UINT64_C(0xcbf29ce484222325)}; /* per-file seed: FNV-1a of the name */
    for (const char *c = strrchr(path, '/') ? strrchr(path, '/') + 1 : path; *c; c++)
        rng.s = (rng.s ^ (uint8_t)*c) * UINT64_C(0x100000001b3);
    run_mutations(data, size, &rng);
    free(data);
    n_inputs++;
    return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static int replay_path(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode))
        return replay_file(path);
    struct dirent **names;
    int n = scandir(path, &names, NULL, by_name);
    if (n < 0) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < n; i++) {
        char file[4096];
        if (names[i]->d_name[0] != '.' &&
            snprintf(file, sizeof file, "%s/%s", path, names[i]->d_name) < (int)sizeof file &&
            stat(file, &st) == 0 && S_ISREG(st.st_mode) && replay_file(file) != 0)
            rc = -1;
        free(names[i]);
    }
    free(names);
    return rc;
}

int main(int argc, char **argv)
{
    int i = 1;
    if (i + 1 < argc && strcmp(argv[i], "-m") == 0) {
        mutations = strtoul(argv[i + 1], NULL, 10);
        i += 2;
    }
    if (i >= argc) {
        fprintf(stderr, "usage: %s [-m MUTATIONS] CORPUS_DIR_OR_FILE...\n", argv[0]);
        return 1;
    }
    int rc = 0;
    for (; i < argc; i++)
        if (replay_path(argv[i]) != 0)
            rc = 1;
    if (n_inputs == 0) {
        fprintf(stderr, "replay: no input found\n");
        return 1;
    }
    printf("replayed %zu inputs, %zu runs with mutations\n", n_inputs, n_runs);
    return rc;
}
