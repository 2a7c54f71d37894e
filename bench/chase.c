/* Independent pointer-chase reference for skubench's mem.latency.
 *
 * A ring of 64-byte nodes in random cyclic order (Sattolo's algorithm,
 * every node once per lap), chased with dependent loads; prints the median
 * ns per load over several timed rounds. Written separately from the Rust
 * code (own RNG, own timing) so the two can check each other.
 *
 * usage: chase SIZE_BYTES [ROUNDS] [HUGE: default|off|thp] [CPU]
 * build: gcc -O2 -o chase chase.c
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

static uint64_t rng = 88172645463325252ull;
static uint64_t xorshift(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static double now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s SIZE_BYTES [SECONDS] [default|off|thp] [CPU]\n", argv[0]);
        return 2;
    }
    size_t size = strtoull(argv[1], 0, 10);
    double seconds = argc > 2 ? atof(argv[2]) : 3.0;
    const char *huge = argc > 3 ? argv[3] : "default";
    if (argc > 4) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(atoi(argv[4]), &set);
        if (sched_setaffinity(0, sizeof set, &set)) { perror("sched_setaffinity"); return 1; }
    }
    if (!(seconds > 0 && seconds <= 600)) seconds = 3.0;
    size_t n = size / 64;
    if (n < 2) { fprintf(stderr, "size too small\n"); return 2; }
    size_t align = 2u << 20, len = n * 64;
    char *raw = mmap(0, len + align, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) { perror("mmap"); return 1; }
    char *base = (char *)(((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1));
    if (!strcmp(huge, "thp")) madvise(base, len, MADV_HUGEPAGE);
    else if (!strcmp(huge, "off")) madvise(base, len, MADV_NOHUGEPAGE);

    /* Sattolo: perm is one n-cycle; node i points at node perm[i]. */
    uint32_t *perm = malloc(n * sizeof *perm);
    if (!perm) { perror("malloc"); return 1; }
    for (size_t i = 0; i < n; i++) perm[i] = (uint32_t)i;
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = xorshift() % i;
        uint32_t t = perm[i]; perm[i] = perm[j]; perm[j] = t;
    }
    for (size_t i = 0; i < n; i++) *(void **)(base + i * 64) = base + (size_t)perm[i] * 64;
    free(perm);

    /* Warm-up: one lap (at least 2^20 loads), untimed. */
    size_t warm = n > (1u << 20) ? n : (1u << 20);
    void **p = (void **)base;
    for (size_t i = 0; i < warm; i++) p = (void **)*p;

    enum { BATCH = 16384, MAX_BATCHES = 1 << 22 };
    double *ns = malloc(MAX_BATCHES * sizeof *ns);
    if (!ns) { perror("malloc"); return 1; }
    size_t nb = 0;
    double start = now_ns(), sum = 0;
    while (nb < MAX_BATCHES && now_ns() - start < seconds * 1e9) {
        double t0 = now_ns();
        for (int i = 0; i < BATCH; i += 16) {
#define L p = (void **)*p;
            L L L L L L L L L L L L L L L L
        }
        ns[nb] = (now_ns() - t0) / BATCH;
        sum += ns[nb++];
    }
    qsort(ns, nb, sizeof *ns, cmp);
    printf("%zu %.3f %.3f %p\n", size, ns[nb / 2], sum / nb, (void *)p);
    return 0;
}
