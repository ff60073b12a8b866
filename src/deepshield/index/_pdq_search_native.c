/*
 * The base search of `deepshield.index.pdq_multi_index` (multi-index hashing over 12 chunks of 21
 * bits), in C: the same probes, the same candidates and the same answer as the numpy code beside
 * it (`_Base.search_numpy`), without its two dozen array operations per query.
 *
 * `search(codes, ids, order, starts, alive, query, threshold)` returns a list of `(item id,
 * distance)` pairs, one per live stored hash within `threshold` bits of `query` (inclusive),
 * ordered by row (ascending item id), each row once however many tables reached it.
 *
 * - `codes`: n x 32 bytes, the hashes as 4 native uint64 words each (numpy's (n, 4) uint64);
 * - `ids`: n item ids, uint32 or int64 (told apart by the buffer's length);
 * - `order`: 12 x n uint32, or empty for a base without tables (then every row is checked);
 * - `starts`: 12 x (2^21 + 1) uint32, or empty with `order`;
 * - `alive`: n bytes, zero for a removed row;
 * - `query`: 32 bytes, 4 native uint64 words.
 *
 * Every argument is any object exporting a C-contiguous buffer (numpy arrays, memory-mapped ones
 * included). Sizes are checked against each other, and every bucket bound and row read from the
 * tables is checked against n, so a damaged snapshot raises ValueError instead of reading outside
 * the arrays. The GIL is released while searching.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CHUNKS 12
#define CHUNK_BITS 21
#define KEYS (1u << CHUNK_BITS)
#define WORDS 4
/* Chunk radii above this (thresholds over 47) scan every row, as the numpy code does. */
#define MAX_RADIUS 3

#if defined(_MSC_VER)
#include <intrin.h>
static inline int popcount64(uint64_t value) { return (int)__popcnt64(value); }
#else
static inline int popcount64(uint64_t value) { return __builtin_popcountll(value); }
#endif

typedef struct {
    int64_t row;
    int distance;
} Hit;

typedef struct {
    Hit *items;
    size_t count;
    size_t capacity;
    int failed; /* out of memory */
} Hits;

static void hits_push(Hits *hits, int64_t row, int distance) {
    if (hits->failed) {
        return;
    }
    if (hits->count == hits->capacity) {
        size_t capacity = hits->capacity ? hits->capacity * 2 : 64;
        Hit *grown = realloc(hits->items, capacity * sizeof(Hit));
        if (grown == NULL) {
            hits->failed = 1;
            return;
        }
        hits->items = grown;
        hits->capacity = capacity;
    }
    hits->items[hits->count].row = row;
    hits->items[hits->count].distance = distance;
    hits->count++;
}

static int by_row(const void *a, const void *b) {
    int64_t left = ((const Hit *)a)->row, right = ((const Hit *)b)->row;
    return (left > right) - (left < right);
}

static inline int distance_to(const uint64_t *codes, int64_t row, const uint64_t *query) {
    const uint64_t *code = codes + row * WORDS;
    return popcount64(code[0] ^ query[0]) + popcount64(code[1] ^ query[1]) +
           popcount64(code[2] ^ query[2]) + popcount64(code[3] ^ query[3]);
}

/* Chunk `chunk`: bits 21k .. 21k+20 of the hash read as one 256-bit little-endian number. */
static uint32_t chunk_key(const uint64_t *words, int chunk) {
    int bit = chunk * CHUNK_BITS, word = bit / 64, offset = bit % 64;
    uint64_t value = words[word] >> offset;
    if (offset + CHUNK_BITS > 64) {
        value |= words[word + 1] << (64 - offset);
    }
    return (uint32_t)(value & (KEYS - 1));
}

/* Every mask of CHUNK_BITS bits with at most `radius` bits set, in the numpy code's order. */
static size_t probe_masks(int radius, uint32_t *masks) {
    size_t count = 0;
    masks[count++] = 0;
    if (radius >= 1) {
        for (int a = 0; a < CHUNK_BITS; a++) {
            masks[count++] = 1u << a;
        }
    }
    if (radius >= 2) {
        for (int a = 0; a < CHUNK_BITS; a++) {
            for (int b = a + 1; b < CHUNK_BITS; b++) {
                masks[count++] = (1u << a) | (1u << b);
            }
        }
    }
    if (radius >= 3) {
        for (int a = 0; a < CHUNK_BITS; a++) {
            for (int b = a + 1; b < CHUNK_BITS; b++) {
                for (int c = b + 1; c < CHUNK_BITS; c++) {
                    masks[count++] = (1u << a) | (1u << b) | (1u << c);
                }
            }
        }
    }
    return count;
}

/* 1 + 21 + 210 + 1330 masks at radius 3. */
#define MAX_MASKS 1562

typedef struct {
    const uint64_t *codes;
    const uint32_t *order;
    const uint32_t *starts;
    const uint8_t *alive;
    Py_ssize_t count;
    int tabled;
} Base;

#if defined(__GNUC__) || defined(__clang__)
#define PREFETCH(address) __builtin_prefetch(address)
#else
#define PREFETCH(address) ((void)0)
#endif
/* How many loads ahead each phase prefetches. */
#define AHEAD 32
/* Candidates gathered before their distances are taken (about 2,800 at a million hashes). */
#define BATCH 4096

/* Returns 0; -1 when a table names a row or bucket bound outside the base; -2 out of memory.
 *
 * At a million hashes or more, nearly every probe misses the CPU caches three times (its bucket
 * bounds, the bucket's rows, each row's hash), and a loop that follows one probe to its end waits
 * for each miss in turn. So the search runs in three phases, each a flat loop of independent loads
 * with the loads some steps ahead prefetched: all bucket bounds; then, a batch of candidates at a
 * time, their rows and their distances. The memory a search takes is the probes' bounds, one batch,
 * and the hits (each live hash within the threshold, once per table that reached it). */
static int search_base(const Base *base, const uint64_t *query, int threshold, Hits *hits) {
    int radius = threshold / CHUNKS;
    if (!base->tabled || radius > MAX_RADIUS) {
        for (Py_ssize_t row = 0; row < base->count; row++) {
            if (base->alive[row]) {
                int distance = distance_to(base->codes, row, query);
                if (distance <= threshold) {
                    hits_push(hits, row, distance);
                }
            }
        }
        return 0;
    }
    uint32_t masks[MAX_MASKS];
    size_t mask_count = probe_masks(radius, masks);
    size_t probes = mask_count * CHUNKS;
    uint64_t count = (uint64_t)base->count;
    int status = 0;
    /* Phase 1: where each probed bucket's rows lie in the flattened (tables x n) order array. */
    const uint32_t **bounds = malloc(probes * sizeof(*bounds));
    uint64_t *firsts = malloc(probes * sizeof(*firsts));
    uint32_t *lengths = malloc(probes * sizeof(*lengths));
    uint64_t *rows = NULL;
    if (bounds == NULL || firsts == NULL || lengths == NULL) {
        status = -2;
        goto done;
    }
    for (int table = 0; table < CHUNKS; table++) {
        uint32_t key = chunk_key(query, table);
        const uint32_t *starts = base->starts + (size_t)table * (KEYS + 1);
        for (size_t probe = 0; probe < mask_count; probe++) {
            bounds[table * mask_count + probe] = starts + (key ^ masks[probe]);
        }
    }
    size_t buckets = 0;
    for (size_t probe = 0; probe < probes; probe++) {
        if (probe + AHEAD < probes) {
            PREFETCH(bounds[probe + AHEAD]);
        }
        uint64_t low = bounds[probe][0], high = bounds[probe][1];
        if (high < low || high > count) {
            status = -1;
            goto done;
        }
        if (high > low) {
            firsts[buckets] = (uint64_t)(probe / mask_count) * count + low;
            lengths[buckets] = (uint32_t)(high - low);
            buckets++;
        }
    }
    /* Phases 2 and 3, a batch of candidates at a time (however full the buckets, the candidates
     * take one batch of memory): the candidate rows, then their distances. */
    rows = malloc(BATCH * sizeof(*rows));
    if (rows == NULL) {
        status = -2;
        goto done;
    }
    size_t bucket = 0;
    uint32_t taken = 0; /* rows of `bucket` already in an earlier batch */
    while (bucket < buckets) {
        size_t filled = 0;
        while (bucket < buckets && filled < BATCH) {
            if (taken == 0 && bucket + AHEAD < buckets) {
                PREFETCH(base->order + firsts[bucket + AHEAD]);
            }
            const uint32_t *from = base->order + firsts[bucket];
            while (taken < lengths[bucket] && filled < BATCH) {
                uint64_t row = from[taken++];
                if (row >= count) {
                    status = -1;
                    goto done;
                }
                rows[filled++] = row;
            }
            if (taken == lengths[bucket]) {
                bucket++;
                taken = 0;
            }
        }
        for (size_t k = 0; k < filled; k++) {
            if (k + AHEAD < filled) {
                PREFETCH(base->codes + rows[k + AHEAD] * WORDS);
            }
            int distance = distance_to(base->codes, (int64_t)rows[k], query);
            if (distance <= threshold && base->alive[rows[k]]) {
                hits_push(hits, (int64_t)rows[k], distance);
            }
        }
    }
done:
    free(bounds);
    free(firsts);
    free(lengths);
    free(rows);
    return status;
}

static PyObject *search(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *objects[6];
    int threshold;
    if (!PyArg_ParseTuple(args, "OOOOOOi:search", &objects[0], &objects[1], &objects[2], &objects[3],
                          &objects[4], &objects[5], &threshold)) {
        return NULL;
    }
    static const char *names[6] = {"codes", "ids", "order", "starts", "alive", "query"};
    Py_buffer views[6];
    int held = 0;
    PyObject *result = NULL;
    Hits hits = {NULL, 0, 0, 0};
    for (; held < 6; held++) {
        if (PyObject_GetBuffer(objects[held], &views[held], PyBUF_C_CONTIGUOUS) < 0) {
            PyErr_Format(PyExc_TypeError, "%s must export a C-contiguous buffer", names[held]);
            goto done;
        }
    }
    if (threshold < 0 || threshold > 255) {
        PyErr_SetString(PyExc_ValueError, "threshold must be within 0..255");
        goto done;
    }
    Py_ssize_t count = views[0].len / (WORDS * 8);
    Py_ssize_t id_width = count ? views[1].len / count : 0;
    int tabled = views[2].len > 0;
    if (views[0].len != count * WORDS * 8 || views[4].len != count || views[5].len != WORDS * 8 ||
        (count && (id_width != 4 && id_width != 8)) || (count && views[1].len != count * id_width) ||
        (tabled && (views[2].len != (Py_ssize_t)CHUNKS * count * 4 ||
                    views[3].len != (Py_ssize_t)CHUNKS * (KEYS + 1) * 4)) ||
        (!tabled && views[3].len != 0) || count > (Py_ssize_t)UINT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "the PDQ index arrays do not agree with each other");
        goto done;
    }
    uint64_t query[WORDS];
    memcpy(query, views[5].buf, sizeof(query));
    Base base = {views[0].buf, views[2].buf, views[3].buf, views[4].buf, count, tabled};
    int status;
    Py_BEGIN_ALLOW_THREADS
    status = search_base(&base, query, threshold, &hits);
    if (status == 0 && !hits.failed && hits.count > 1) {
        qsort(hits.items, hits.count, sizeof(Hit), by_row);
    }
    Py_END_ALLOW_THREADS
    if (status == -1) {
        PyErr_SetString(PyExc_ValueError, "the PDQ index tables point outside the index: it is damaged");
        goto done;
    }
    if (status == -2 || hits.failed) {
        PyErr_NoMemory();
        goto done;
    }
    result = PyList_New(0);
    if (result == NULL) {
        goto done;
    }
    for (size_t k = 0; k < hits.count; k++) {
        int64_t row = hits.items[k].row;
        if (k && row == hits.items[k - 1].row) {
            continue; /* reached through another table */
        }
        long long item_id = id_width == 4 ? (long long)((const uint32_t *)views[1].buf)[row]
                                          : (long long)((const int64_t *)views[1].buf)[row];
        PyObject *pair = Py_BuildValue("(Li)", item_id, hits.items[k].distance);
        if (pair == NULL || PyList_Append(result, pair) < 0) {
            Py_XDECREF(pair);
            Py_CLEAR(result);
            goto done;
        }
        Py_DECREF(pair);
    }
done:
    free(hits.items);
    for (int k = 0; k < held; k++) {
        PyBuffer_Release(&views[k]);
    }
    return result;
}

static PyMethodDef methods[] = {
    {"search", search, METH_VARARGS,
     "search(codes, ids, order, starts, alive, query, threshold) -> [(item id, distance), ...]: "
     "every live stored hash within threshold bits of query, by ascending row."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_pdq_search_native",
    "Multi-index PDQ range search over a base's arrays (see pdq_multi_index.py).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__pdq_search_native(void) { return PyModule_Create(&module); }
