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
        fprintf(stderr, "usage: %s SIZE_BYTES [ROUNDS] [default|off|thp] [CPU]\n", argv[0]);
        return 2;
    }
    size_t size = strtoull(argv[1], 0, 10);
    int rounds = argc > 2 ? atoi(argv[2]) : 15;
    const char *huge = argc > 3 ? argv[3] : "default";
    if (argc > 4) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(atoi(argv[4]), &set);
        if (sched_setaffinity(0, sizeof set, &set)) { perror("sched_setaffinity"); return 1; }
    }
    if (rounds < 1 || rounds > 1000) rounds = 15;
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

    /* Each round: at least 2^20 loads and at least one lap. */
    size_t loads = n > (1u << 20) ? n : (1u << 20);
    loads = (loads + 15) / 16 * 16;
    void **p = (void **)base;
    for (size_t i = 0; i < loads; i++) p = (void **)*p; /* warm-up lap */
    double *ns = malloc(rounds * sizeof *ns);
    for (int r = 0; r < rounds; r++) {
        double t0 = now_ns();
        for (size_t i = 0; i < loads; i += 16) {
#define L p = (void **)*p;
            L L L L L L L L L L L L L L L L
        }
        ns[r] = (now_ns() - t0) / loads;
    }
    qsort(ns, rounds, sizeof *ns, cmp);
    printf("%zu %.3f %p\n", size, ns[rounds / 2], (void *)p);
    return 0;
}
