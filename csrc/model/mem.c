/**
 * @file mem.c
 * @brief Memory for the model's big arrays: the record store's chunks, the
 * records and the replica logs, tens of megabytes in a large run, touched
 * once each as records arrive.
 *
 * Fresh memory costs a page fault per 4 KiB page: a million-record run
 * spent about a quarter of its time in the kernel, faulting pages in and
 * clearing them.  On Linux an array of 4 MiB or more is mapped by itself,
 * 2 MiB-aligned and advised onto transparent huge pages (one fault per
 * 2 MiB, when the system's THP setting is "madvise" or "always"), and grows
 * by mremap, which moves pages where realloc on the heap would copy bytes.
 * Smaller arrays, and every array under the sanitizers (which check
 * malloc'd memory only), use malloc.  The caller passes each array's size
 * back: mem.c keeps no table.
 */
#define _GNU_SOURCE /* mremap */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

#if defined(__linux__) && !INSYNC_ASAN
#define MAPPED 1
#include <sys/mman.h>

#define BIG ((size_t)4 << 20) /* mapped from here on */
#define HUGE_PAGE ((uintptr_t)2 << 20)

/* n bytes (a multiple of 2 MiB), 2 MiB-aligned, advised huge. */
static void *map(size_t n) {
        char *p = mmap(NULL, n + HUGE_PAGE, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
                return NULL;
        char *a = (char *)(((uintptr_t)p + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1));
        if (a > p)
                munmap(p, (size_t)(a - p));
        munmap(a + n, (size_t)(p + HUGE_PAGE - a));
#ifdef MADV_HUGEPAGE
        (void)madvise(a, n, MADV_HUGEPAGE); /* a hint: no error matters */
#endif
        return a;
}

/* A mapping's length: whole 2 MiB pages, so that every address and length
 * is page-aligned whatever the base page size. */
static size_t pages(size_t n) { return (n + HUGE_PAGE - 1) & ~(size_t)(HUGE_PAGE - 1); }
#else
#define MAPPED 0
#endif

void *insync_mem_grow(void *p, size_t old, size_t n) {
#if MAPPED
        if (old >= BIG) {
                void *q = mremap(p, pages(old), pages(n), MREMAP_MAYMOVE);
                return q == MAP_FAILED ? NULL : q;
        }
        if (n >= BIG) { /* outgrows malloc: moved once */
                void *q = map(pages(n));
                if (q && p) {
                        memcpy(q, p, old);
                        free(p);
                }
                return q;
        }
#else
        (void)old;
#endif
        return realloc(p, n);
}

void insync_mem_free(void *p, size_t n) {
#if MAPPED
        if (p && n >= BIG) {
                munmap(p, pages(n));
                return;
        }
#else
        (void)n;
#endif
        free(p);
}
