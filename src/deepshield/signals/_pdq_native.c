/*
 * PDQ (Meta's perceptual image hash), bit-identical to the `pdqhash` 0.2.8 binding of Meta's C++
 * reference (ThreatExchange pdq/cpp), but several times faster on large images.
 *
 * What callers may rely on:
 * - `compute(pixels)` returns `(hash, quality)` exactly as `pdqhash.compute(pixels)` gives them: `hash`
 *   is 32 bytes, the 256 bits most significant first (the order `np.packbits` gives `pdqhash`'s bit
 *   vector, i.e. python-threatexchange's hex), and `quality` an int 0-100.
 * - `compute_dihedral(pixels)` returns `(hashes, quality)` with the 8 hashes in `pdqhash`'s order
 *   (original, rotate90, rotate180, rotate270, flip x, flip y, flip +1, flip -1).
 * - `compute_float(pixels)` returns `(coefficients, quality)`: the 256 float32 DCT coefficients the
 *   bits are thresholded from, as `pdqhash.compute_float` gives them (there in reverse order); the
 *   tests compare these floats bit for bit, a stricter check than the hash bits.
 * - `pixels` is any object exporting a C-contiguous buffer of unsigned bytes shaped (H, W, 3), RGB;
 *   H and W must be at least 1. The GIL is released while hashing.
 * - Sides under 5 give the all-zero hash and quality 0, as the reference does; a 64x64 image is hashed
 *   without the blur by `compute` but with it by `compute_dihedral`, as the reference does.
 *
 * How bit-identity is kept: every float32 value the reference computes for an output element gets
 * the same IEEE operations in the same order here (only the order ACROSS elements changes), so the
 * results are identical bit for bit. In particular:
 * - luma is numpy's `R*0.299 + G*0.587 + B*0.114` in doubles, rounded once to float (`pdqhash` forms
 *   it with numpy before calling the C++);
 * - each 1-D box filter keeps the reference's running float sum (`box1DFloat`): the same additions and
 *   subtractions, in the same order, divided by the same window count;
 * - no FMA contraction and no fast-math: setup.py compiles with -ffp-contract=off (and the pragma
 *   below says the same to compilers that read it), and the build fails (so the Python fallback to
 *   `pdqhash` is used) where floats would be evaluated in extended precision.
 *
 * Why it is faster: the reference blurs the whole image four times through two full-size float
 * buffers, and its row filter is one long chain of dependent additions per row. Here the image is
 * streamed top to bottom in strips of LANES rows: a strip is transposed so that the row filter runs
 * on LANES rows at once (one vector lane a row, same per-row operations); the column filters keep one
 * running sum per column and a ring of recent rows, vectorised across columns; the second row filter
 * divides (and keeps) only at the 64 columns the decimation samples, and the second column filter
 * only runs on those 64 columns. Memory beyond the caller's pixels is O(width x window).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <float.h>
#include <stddef.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* No fused multiply-add: setup.py passes -ffp-contract=off; these say the same to compilers that
 * read a pragma instead (GCC warns on the standard one, so it gets the flag only). */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(_MSC_VER)
#pragma fp_contract(off)
#endif

#if defined(FLT_EVAL_METHOD) && FLT_EVAL_METHOD != 0 && FLT_EVAL_METHOD != -1
/* x87-style extended precision would round differently from the reference's build. */
#error "PDQ bit-identity needs float and double evaluated in their own precision (FLT_EVAL_METHOD 0)"
#endif
#if defined(__FAST_MATH__)
#error "PDQ bit-identity needs IEEE float semantics: do not compile with -ffast-math"
#endif

#if defined(_MSC_VER) && !defined(__clang__) && !defined(restrict)
#define restrict __restrict
#endif

#define SIDE 64              /* the decimated image is SIDE x SIDE */
#define DCT_SIDE 16          /* the hash keeps DCT_SIDE x DCT_SIDE coefficients */
#define LANES 8              /* rows a row filter handles at once (one vector lane each) */
#define MIN_HASHABLE_SIDE 5  /* smaller images get the all-zero hash, as in the reference */
#define HASH_BYTES 32
#define NUM_DIHEDRAL 8

/* The reference's 16x64 DCT matrix, filled at import exactly as its static initialiser does. */
static float dct_matrix[DCT_SIDE][SIDE];

static void init_dct_matrix(void) {
    /* The C++ computes the scale in double, stores it as float, then multiplies that float by a
     * double cosine and stores the double product as float: the same steps here. The argument is
     * ((pi / 2 / 64) * (i + 1)) * (2j + 1), in doubles, in that order. */
    const double pi = 3.14159265358979323846;
    const float scale = (float)sqrt(2.0 / 64.0);
    for (int i = 0; i < DCT_SIDE; i++) {
        for (int j = 0; j < SIDE; j++) {
            double angle = (pi / 2.0 / 64.0) * (double)(i + 1) * (double)(2 * j + 1);
            dct_matrix[i][j] = (float)((double)scale * cos(angle));
        }
    }
}

/* ------------------------------------------------------------------------------------------------
 * Luma and transposes
 */

/* The luma products numpy forms for a uint8 channel, `level * coefficient` in doubles; a lookup is
 * the same IEEE product, and about twice as fast as converting and multiplying each byte. */
static double luma_r[256], luma_g[256], luma_b[256];

static void init_luma_tables(void) {
    for (int level = 0; level < 256; level++) {
        luma_r[level] = (double)level * 0.299;
        luma_g[level] = (double)level * 0.587;
        luma_b[level] = (double)level * 0.114;
    }
}

/* One row of float luma from RGB bytes, pixel j at out[j * stride]: numpy's float64
 * `R*0.299 + G*0.587 + B*0.114` (summed left to right), then cast to float32, as pdqhash computes
 * it before calling the C++. The stride lets the blur write a row straight into its lane. */
static void luma_row(const uint8_t *restrict rgb, float *restrict out, size_t width, size_t stride) {
    for (size_t j = 0; j < width; j++) {
        const double y = (luma_r[rgb[3 * j]] + luma_g[rgb[3 * j + 1]]) + luma_b[rgb[3 * j + 2]];
        out[j * stride] = (float)y;
    }
}

/* Transposes between LANES rows (row s at rows[s]) and "lanes" (lanes[j * LANES + s] = rows[s][j]).
 * They only move floats, so the SSE2 path and the plain one give the same bits; SSE2 is merely
 * faster (4x4 blocks transposed in registers). */
#if (defined(__SSE2__) || defined(_M_X64) || (defined(_M_IX86_FP) && _M_IX86_FP >= 2)) \
    && !defined(PDQ_NATIVE_PORTABLE)
#include <emmintrin.h>
#define PDQ_SSE2 1
#endif

/* rows[s][j] into lanes for s < count; lanes count..LANES-1 get zeros, so the filter never sums
 * stale or odd values in lanes nobody reads. */
static void rows_to_lanes(const float *const *rows, size_t count, float *restrict lanes, size_t width) {
    size_t j = 0;
#if defined(PDQ_SSE2) && LANES == 8
    if (count == LANES) {
        for (; j + 4 <= width; j += 4) {
            for (size_t half = 0; half < 2; half++) {
                const float *const *r = rows + 4 * half;
                __m128 a = _mm_loadu_ps(r[0] + j), b = _mm_loadu_ps(r[1] + j);
                __m128 c = _mm_loadu_ps(r[2] + j), d = _mm_loadu_ps(r[3] + j);
                _MM_TRANSPOSE4_PS(a, b, c, d);
                float *out = lanes + j * LANES + 4 * half;
                _mm_storeu_ps(out, a);
                _mm_storeu_ps(out + LANES, b);
                _mm_storeu_ps(out + 2 * LANES, c);
                _mm_storeu_ps(out + 3 * LANES, d);
            }
        }
    }
#endif
    for (; j < width; j++) {
        for (size_t s = 0; s < LANES; s++) lanes[j * LANES + s] = s < count ? rows[s][j] : 0.0f;
    }
}

/* The inverse, for the first `count` lanes. */
static void lanes_to_rows(const float *restrict lanes, float *const *rows, size_t count, size_t width) {
    size_t j = 0;
#if defined(PDQ_SSE2) && LANES == 8
    if (count == LANES) {
        for (; j + 4 <= width; j += 4) {
            for (size_t half = 0; half < 2; half++) {
                const float *in = lanes + j * LANES + 4 * half;
                __m128 a = _mm_loadu_ps(in), b = _mm_loadu_ps(in + LANES);
                __m128 c = _mm_loadu_ps(in + 2 * LANES), d = _mm_loadu_ps(in + 3 * LANES);
                _MM_TRANSPOSE4_PS(a, b, c, d);
                float *const *r = rows + 4 * half;
                _mm_storeu_ps(r[0] + j, a);
                _mm_storeu_ps(r[1] + j, b);
                _mm_storeu_ps(r[2] + j, c);
                _mm_storeu_ps(r[3] + j, d);
            }
        }
    }
#endif
    for (; j < width; j++) {
        for (size_t s = 0; s < count; s++) rows[s][j] = lanes[j * LANES + s];
    }
}

/* LANES floats, one per row, operated on lane by lane: every operation is the plain IEEE float
 * operation on each lane, so vectorising changes no bit. GCC and Clang get a vector type (SSE2 on
 * x86-64, NEON on ARM); other compilers a plain array. (-DPDQ_NATIVE_PORTABLE builds the plain
 * paths everywhere, to check them against pdqhash on a machine that would not use them.) */
#if (defined(__GNUC__) || defined(__clang__)) && LANES == 8 && !defined(PDQ_NATIVE_PORTABLE)
/* Two 16-byte vectors rather than one 32-byte one: without AVX, GCC lowers 32-byte vector types
 * through memory, which made the filter a third slower. */
typedef float v4f __attribute__((vector_size(16)));
typedef struct { v4f lo, hi; } vlanes;
static inline vlanes v_load(const float *p) { vlanes v; memcpy(&v.lo, p, 16); memcpy(&v.hi, p + 4, 16); return v; }
static inline void v_store(float *p, vlanes v) { memcpy(p, &v.lo, 16); memcpy(p + 4, &v.hi, 16); }
static inline vlanes v_zero(void) { vlanes v = {{0}, {0}}; return v; }
static inline vlanes v_add(vlanes a, vlanes b) { a.lo += b.lo; a.hi += b.hi; return a; }
static inline vlanes v_sub(vlanes a, vlanes b) { a.lo -= b.lo; a.hi -= b.hi; return a; }
static inline vlanes v_div(vlanes a, float d) { a.lo /= d; a.hi /= d; return a; }
#else
typedef struct { float v[LANES]; } vlanes;
static inline vlanes v_load(const float *p) { vlanes v; memcpy(v.v, p, sizeof v.v); return v; }
static inline void v_store(float *p, vlanes v) { memcpy(p, v.v, sizeof v.v); }
static inline vlanes v_zero(void) { vlanes v = {{0}}; return v; }
static inline vlanes v_add(vlanes a, vlanes b) { for (int s = 0; s < LANES; s++) a.v[s] += b.v[s]; return a; }
static inline vlanes v_sub(vlanes a, vlanes b) { for (int s = 0; s < LANES; s++) a.v[s] -= b.v[s]; return a; }
static inline vlanes v_div(vlanes a, float d) { for (int s = 0; s < LANES; s++) a.v[s] /= d; return a; }
#endif

/* ------------------------------------------------------------------------------------------------
 * Box filters
 *
 * The reference's box1DFloat over a vector of length n with window w, written by output index:
 * half = (w + 2) / 2 and lead = half - 1; the sum first takes in[0 .. lead-1]; output o then
 *   - adds in[o + lead] (o < n - half + 1),
 *   - subtracts in[o + lead - w] (o >= w - half + 1), after the addition,
 *   - and is sum / count, count being the number of inputs in the window at that point.
 */

typedef struct {
    size_t half, lead, phase2_end, phase3_end;
} BoxPhases;

static BoxPhases box_phases(size_t n, size_t window) {
    BoxPhases p;
    p.half = (window + 2) / 2;
    p.lead = p.half - 1;
    p.phase2_end = window - p.half + 1;
    p.phase3_end = n - p.half + 1;
    return p;
}

/* Number of inputs in the window of output `o`. */
static size_t box_count(const BoxPhases *p, size_t window, size_t o) {
    if (o < p->phase2_end) return o + p->half;
    if (o < p->phase3_end) return window;
    return window - 1 - (o - p->phase3_end);
}

/* Row filter on LANES rows at once: in and out are [n][LANES] (lane s = one row); each lane gets
 * exactly box1DFloat's steps. Every output is stored. */
static void box_lanes_full(const float *restrict in, float *restrict out, size_t n, size_t window) {
    const BoxPhases p = box_phases(n, window);
    vlanes sum = v_zero();
    size_t o = 0;
    for (size_t i = 0; i < p.lead; i++) sum = v_add(sum, v_load(in + i * LANES));
    for (; o < p.phase2_end; o++) {
        sum = v_add(sum, v_load(in + (o + p.lead) * LANES));
        v_store(out + o * LANES, v_div(sum, (float)(o + p.half)));
    }
    const float full = (float)window;
    for (; o < p.phase3_end; o++) {
        const float *add = in + (o + p.lead) * LANES;
        sum = v_add(sum, v_load(add));
        sum = v_sub(sum, v_load(add - window * LANES));
        v_store(out + o * LANES, v_div(sum, full));
    }
    for (; o < n; o++) {
        sum = v_sub(sum, v_load(in + (o + p.lead - window) * LANES));
        v_store(out + o * LANES, v_div(sum, (float)(window - 1 - (o - p.phase3_end))));
    }
}

/* The same filter, but only the outputs at `picks` (SIDE sorted indices, repeats allowed) are
 * divided and stored, at out[k][LANES] for pick k: the running sums still take every step, since
 * their rounding depends on all of them. */
static void box_lanes_picked(const float *restrict in, float *restrict out, size_t n, size_t window,
                             const size_t *picks) {
    const BoxPhases p = box_phases(n, window);
    vlanes sum = v_zero();
    size_t o = 0, k = 0;
    for (size_t i = 0; i < p.lead; i++) sum = v_add(sum, v_load(in + i * LANES));
    while (k < SIDE) {
        const size_t target = picks[k];
        size_t end = target < p.phase2_end ? target + 1 : p.phase2_end;
        for (; o < end; o++) sum = v_add(sum, v_load(in + (o + p.lead) * LANES));
        end = target < p.phase3_end ? target + 1 : p.phase3_end;
        for (; o < end; o++) {
            const float *add = in + (o + p.lead) * LANES;
            sum = v_add(sum, v_load(add));
            sum = v_sub(sum, v_load(add - window * LANES));
        }
        for (; o <= target; o++) sum = v_sub(sum, v_load(in + (o + p.lead - window) * LANES));
        const vlanes value = v_div(sum, (float)box_count(&p, window, target));
        do {
            v_store(out + k * LANES, value);
            k++;
        } while (k < SIDE && picks[k] == target);
    }
}

/* A column filter fed one input row at a time (rows 0, 1, 2, ... in order): one running sum per
 * column, so each column gets box1DFloat's steps with stride `width`, in the same order. The input
 * row r must stay readable until row r + window has been pushed (`ring_row` finds it). */
typedef struct {
    size_t width, height, window;
    BoxPhases p;
    float *sums;        /* width running sums */
    size_t next_row;    /* the next input row to push */
} ColumnBox;

static void column_box_init(ColumnBox *box, size_t width, size_t height, size_t window, float *sums) {
    box->width = width;
    box->height = height;
    box->window = window;
    box->p = box_phases(height, window);
    box->sums = sums;
    box->next_row = 0;
    memset(sums, 0, width * sizeof(float));
}

/* Push input row `in` (row next_row); `old` is input row next_row - window when that exists (else
 * ignored). Returns the index of the output row written to `out`, or -1 when none is due yet. */
static ptrdiff_t column_box_push(ColumnBox *box, const float *restrict in, const float *restrict old,
                                 float *restrict out) {
    const size_t row = box->next_row++;
    const size_t width = box->width;
    float *restrict sums = box->sums;
    if (row < box->p.lead) {  /* phase 1: add only */
        for (size_t c = 0; c < width; c++) sums[c] += in[c];
        return -1;
    }
    const size_t o = row - box->p.lead;
    const float count = (float)box_count(&box->p, box->window, o);
    if (row < box->window) {  /* phase 2: add, no subtraction yet */
        for (size_t c = 0; c < width; c++) {
            sums[c] += in[c];
            out[c] = sums[c] / count;
        }
    } else {  /* phase 3: add, then subtract the row leaving the window */
        for (size_t c = 0; c < width; c++) {
            float s = sums[c] + in[c];
            s -= old[c];
            sums[c] = s;
            out[c] = s / count;
        }
    }
    return (ptrdiff_t)o;
}

/* Phase 4 step t (0 <= t < half - 1), after every row was pushed: `old` is input row
 * height - window + t. Writes output row height - half + 1 + t, which it returns. */
static size_t column_box_tail(ColumnBox *box, size_t t, const float *restrict old, float *restrict out) {
    const size_t o = box->p.phase3_end + t;
    const float count = (float)box_count(&box->p, box->window, o);
    float *restrict sums = box->sums;
    for (size_t c = 0; c < box->width; c++) {
        sums[c] -= old[c];
        out[c] = sums[c] / count;
    }
    return o;
}

/* ------------------------------------------------------------------------------------------------
 * Blur and decimation: the reference's jaroszFilterFloat (2 passes of rows then columns) followed
 * by decimateFloat to 64x64, streamed.
 */

typedef struct {
    size_t height, width, row_window, col_window;
    size_t ring_rows;         /* rows in ring1: col_window + LANES */
    float *lanes_in;          /* [width][LANES] */
    float *lanes_out;         /* [width][LANES] */
    float *ring1;             /* [ring_rows][width]: first row pass output, row r at r % ring_rows */
    float *strip;             /* [LANES][width]: first column pass output awaiting the second row pass */
    size_t strip_rows;        /* rows gathered in strip */
    float *picked;            /* [SIDE][LANES]: second row pass output at the sampled columns */
    float *ring2;             /* [col_window][SIDE]: second row pass output rows, row r at r % col_window */
    float *out_row;           /* [SIDE] */
    ColumnBox cols1, cols2;
    size_t sample_cols[SIDE], sample_rows[SIDE];
    size_t next_sample;
    float (*out64)[SIDE];
} Blur;

/* `(int)(((i + 0.5) * n) / 64)` in doubles, as decimateFloat. */
static void decimation_indices(size_t n, size_t *indices) {
    for (int i = 0; i < SIDE; i++) indices[i] = (size_t)(((i + 0.5) * (double)n) / SIDE);
}

static size_t jarosz_window(size_t n) { return (n + 2 * SIDE - 1) / (2 * SIDE); }

static void emit_final_row(Blur *b, size_t row, const float *values) {
    while (b->next_sample < SIDE && b->sample_rows[b->next_sample] == row) {
        memcpy(b->out64[b->next_sample], values, SIDE * sizeof(float));
        b->next_sample++;
    }
}

/* Second column pass, on the SIDE sampled columns only: push one row of picked values. */
static void cols2_push(Blur *b, const float *values) {
    const size_t row = b->cols2.next_row;
    float *slot = b->ring2 + (row % b->col_window) * SIDE;
    ptrdiff_t o = column_box_push(&b->cols2, values, slot, b->out_row);
    memcpy(slot, values, SIDE * sizeof(float));  /* after the push read the row leaving the window */
    if (o >= 0) emit_final_row(b, (size_t)o, b->out_row);
}

/* Second row pass on the rows gathered in `strip`, then each row on to the second column pass. */
static void flush_strip(Blur *b) {
    if (b->strip_rows == 0) return;
    const float *rows[LANES];
    for (size_t s = 0; s < LANES; s++) rows[s] = b->strip + s * b->width;
    rows_to_lanes(rows, b->strip_rows, b->lanes_in, b->width);
    box_lanes_picked(b->lanes_in, b->picked, b->width, b->row_window, b->sample_cols);
    float values[SIDE];
    for (size_t s = 0; s < b->strip_rows; s++) {
        for (size_t k = 0; k < SIDE; k++) values[k] = b->picked[k * LANES + s];
        cols2_push(b, values);
    }
    b->strip_rows = 0;
}

static float *strip_slot(Blur *b) { return b->strip + b->strip_rows * b->width; }

static void strip_commit(Blur *b) {
    if (++b->strip_rows == LANES) flush_strip(b);
}

static float *ring1_row(Blur *b, size_t row) { return b->ring1 + (row % b->ring_rows) * b->width; }

/* Runs the whole blur; returns 0, or -1 when memory ran out. */
static int blur_and_decimate(const uint8_t *rgb, size_t height, size_t width, float out64[SIDE][SIDE]) {
    Blur b;
    memset(&b, 0, sizeof b);
    b.height = height;
    b.width = width;
    b.row_window = jarosz_window(width);
    b.col_window = jarosz_window(height);
    b.ring_rows = b.col_window + LANES;
    b.out64 = out64;
    decimation_indices(width, b.sample_cols);
    decimation_indices(height, b.sample_rows);

    /* Per column: two lane buffers, the ring, the strip and a running sum. The caller's pixels
     * (3 bytes each) already fill memory, so this only overflows for absurdly wide, short images. */
    const size_t per_column = 2 * LANES + b.ring_rows + LANES + 1;
    if (width > (SIZE_MAX / sizeof(float) - 4096 - b.col_window * SIDE) / per_column) return -1;
    size_t floats = 2 * width * LANES + b.ring_rows * width + LANES * width + SIDE * LANES
                    + b.col_window * SIDE + SIDE + width + SIDE;
    float *memory = (float *)malloc(floats * sizeof(float));
    if (memory == NULL) return -1;
    float *next = memory;
    b.lanes_in = next; next += width * LANES;
    b.lanes_out = next; next += width * LANES;
    b.ring1 = next; next += b.ring_rows * width;
    b.strip = next; next += LANES * width;
    b.picked = next; next += SIDE * LANES;
    b.ring2 = next; next += b.col_window * SIDE;
    b.out_row = next; next += SIDE;
    float *sums1 = next; next += width;
    float *sums2 = next; next += SIDE;
    column_box_init(&b.cols1, width, height, b.col_window, sums1);
    column_box_init(&b.cols2, SIDE, height, b.col_window, sums2);

    float *rows[LANES];
    for (size_t r0 = 0; r0 < height; r0 += LANES) {
        const size_t count = height - r0 < LANES ? height - r0 : LANES;
        /* Luma of the strip straight into lanes (unused lanes: zeros, so the filter never sums
         * stale values); the filtered rows go to their ring1 slots, free since the rows they held
         * have left the column window. */
        for (size_t s = 0; s < LANES; s++) {
            if (s < count) {
                luma_row(rgb + (r0 + s) * width * 3, b.lanes_in + s, width, LANES);
                rows[s] = ring1_row(&b, r0 + s);
            } else {
                for (size_t j = 0; j < width; j++) b.lanes_in[j * LANES + s] = 0.0f;
            }
        }
        box_lanes_full(b.lanes_in, b.lanes_out, width, b.row_window);
        lanes_to_rows(b.lanes_out, rows, count, width);
        for (size_t s = 0; s < count; s++) {
            const size_t row = r0 + s;
            const float *old = row >= b.col_window ? ring1_row(&b, row - b.col_window) : NULL;
            ptrdiff_t o = column_box_push(&b.cols1, rows[s], old, strip_slot(&b));
            if (o >= 0) strip_commit(&b);
        }
    }
    for (size_t t = 0; t + 1 < b.cols1.p.half; t++) {
        column_box_tail(&b.cols1, t, ring1_row(&b, height - b.col_window + t), strip_slot(&b));
        strip_commit(&b);
    }
    flush_strip(&b);
    for (size_t t = 0; t + 1 < b.cols2.p.half; t++) {
        const size_t old_row = height - b.col_window + t;
        size_t o = column_box_tail(&b.cols2, t, b.ring2 + (old_row % b.col_window) * SIDE, b.out_row);
        emit_final_row(&b, o, b.out_row);
    }
    free(memory);
    return 0;
}

/* ------------------------------------------------------------------------------------------------
 * The 64x64 stages: quality, DCT, median, bits, dihedral variants (plain ports, same order).
 */

static int quality_metric(float a[SIDE][SIDE]) {
    int gradient_sum = 0;
    for (int i = 0; i < SIDE - 1; i++) {
        for (int j = 0; j < SIDE; j++) {
            float u = a[i][j], v = a[i + 1][j];
            int d = (int)(((u - v) * 100.0f) / 255.0f);
            gradient_sum += abs(d);
        }
    }
    for (int i = 0; i < SIDE; i++) {
        for (int j = 0; j < SIDE - 1; j++) {
            float u = a[i][j], v = a[i][j + 1];
            int d = (int)(((u - v) * 100.0f) / 255.0f);
            gradient_sum += abs(d);
        }
    }
    int quality = gradient_sum / 90;
    return quality > 100 ? 100 : quality;
}

/* B = D A D^T, each sum from 0.0f over k = 0..63 in order (dct64To16). */
static void dct64_to_16(float a[SIDE][SIDE], float out[DCT_SIDE][DCT_SIDE]) {
    float t[DCT_SIDE][SIDE];
    for (int i = 0; i < DCT_SIDE; i++) {
        for (int j = 0; j < SIDE; j++) t[i][j] = 0.0f;
        for (int k = 0; k < SIDE; k++) {
            const float d = dct_matrix[i][k];
            for (int j = 0; j < SIDE; j++) t[i][j] += d * a[k][j];
        }
    }
    for (int i = 0; i < DCT_SIDE; i++) {
        for (int j = 0; j < DCT_SIDE; j++) {
            float sum = 0.0f;
            for (int k = 0; k < SIDE; k++) sum += t[i][k] * dct_matrix[j][k];
            out[i][j] = sum;
        }
    }
}

/* Torben Mogensen's median, as the reference's torben(). */
static float torben_median(const float *m, int n) {
    float min = m[0], max = m[0];
    for (int i = 1; i < n; i++) {
        if (m[i] < min) min = m[i];
        if (m[i] > max) max = m[i];
    }
    int less, greater, equal;
    float guess, max_lt_guess, min_gt_guess;
    for (;;) {
        guess = (min + max) / 2.0f;
        less = greater = equal = 0;
        max_lt_guess = min;
        min_gt_guess = max;
        for (int i = 0; i < n; i++) {
            if (m[i] < guess) {
                less++;
                if (m[i] > max_lt_guess) max_lt_guess = m[i];
            } else if (m[i] > guess) {
                greater++;
                if (m[i] < min_gt_guess) min_gt_guess = m[i];
            } else {
                equal++;
            }
        }
        if (less <= (n + 1) / 2 && greater <= (n + 1) / 2) break;
        if (less > greater) max = max_lt_guess;
        else min = min_gt_guess;
    }
    if (less >= (n + 1) / 2) return max_lt_guess;
    if (less + equal >= (n + 1) / 2) return guess;
    return min_gt_guess;
}

/* Bit k = i*16 + j is set when coefficient (i, j) exceeds the median; the 16-bit words are written
 * most significant first, so the 32 bytes read as the reference's hex. */
static void coefficients_to_hash(float c[DCT_SIDE][DCT_SIDE], uint8_t out[HASH_BYTES]) {
    const float median = torben_median(&c[0][0], DCT_SIDE * DCT_SIDE);
    uint16_t words[16] = {0};
    for (int i = 0; i < DCT_SIDE; i++) {
        for (int j = 0; j < DCT_SIDE; j++) {
            if (c[i][j] > median) {
                int k = i * DCT_SIDE + j;
                words[k >> 4] |= (uint16_t)(1u << (k & 15));
            }
        }
    }
    for (int w = 15; w >= 0; w--) {
        out[2 * (15 - w)] = (uint8_t)(words[w] >> 8);
        out[2 * (15 - w) + 1] = (uint8_t)(words[w] & 0xff);
    }
}

/* The dihedral variant `which` (pdqhash's order) of the coefficients: sign flips and transposes. */
static void dihedral_variant(int which, float a[DCT_SIDE][DCT_SIDE], float b[DCT_SIDE][DCT_SIDE]) {
    for (int i = 0; i < DCT_SIDE; i++) {
        for (int j = 0; j < DCT_SIDE; j++) {
            const float v = a[i][j];
            switch (which) {
            case 0: b[i][j] = v; break;                              /* original */
            case 1: b[j][i] = (j & 1) ? v : -v; break;               /* rotate 90 */
            case 2: b[i][j] = ((i + j) & 1) ? -v : v; break;         /* rotate 180 */
            case 3: b[j][i] = (i & 1) ? v : -v; break;               /* rotate 270 */
            case 4: b[i][j] = (i & 1) ? v : -v; break;               /* flip x */
            case 5: b[i][j] = (j & 1) ? v : -v; break;               /* flip y */
            case 6: b[j][i] = v; break;                              /* flip +1 */
            default: b[j][i] = ((i + j) & 1) ? -v : v; break;        /* flip -1 */
            }
        }
    }
}

/* The 16x16 DCT coefficients and quality, as the reference's pdqFloat256FromFloatLuma leaves them
 * (no minimum size). `skip_blur_at_64`: the reference's single-hash path takes a 64x64 image as
 * already downscaled; its dihedral path blurs it all the same. Returns 0, or -1 out of memory. */
static int pdq_coefficients(const uint8_t *rgb, size_t height, size_t width, int skip_blur_at_64,
                            float coefficients[DCT_SIDE][DCT_SIDE], int *quality) {
    float buffer64[SIDE][SIDE];
    if (skip_blur_at_64 && height == SIDE && width == SIDE) {
        for (size_t i = 0; i < SIDE; i++) luma_row(rgb + i * SIDE * 3, buffer64[i], SIDE, 1);
    } else if (blur_and_decimate(rgb, height, width, buffer64) != 0) {
        return -1;
    }
    *quality = quality_metric(buffer64);
    dct64_to_16(buffer64, coefficients);
    return 0;
}

/* Hashes `count` variants (1: the plain hash; 8: all, in pdqhash's order) and the quality. */
static int pdq_hash_rgb(const uint8_t *rgb, size_t height, size_t width, int count, int skip_blur_at_64,
                        uint8_t hashes[][HASH_BYTES], int *quality) {
    if (height < MIN_HASHABLE_SIDE || width < MIN_HASHABLE_SIDE) {
        memset(hashes, 0, (size_t)count * HASH_BYTES);
        *quality = 0;
        return 0;
    }
    float coefficients[DCT_SIDE][DCT_SIDE], variant[DCT_SIDE][DCT_SIDE];
    if (pdq_coefficients(rgb, height, width, skip_blur_at_64, coefficients, quality) != 0) return -1;
    for (int which = 0; which < count; which++) {
        dihedral_variant(which, coefficients, variant);
        coefficients_to_hash(variant, hashes[which]);
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------------
 * Python bindings
 */

/* Gets an (H, W, 3) C-contiguous unsigned-byte buffer from `obj`; 0 on success, -1 with an error. */
static int get_pixels(PyObject *obj, Py_buffer *view) {
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) != 0) return -1;
    const char *format = view->format == NULL ? "B" : view->format;
    if (format[0] == '=' || format[0] == '<' || format[0] == '>' || format[0] == '@' || format[0] == '!') {
        format++;
    }
    if (view->ndim != 3 || view->shape[2] != 3 || view->itemsize != 1 || strcmp(format, "B") != 0) {
        PyErr_SetString(PyExc_ValueError, "PDQ takes an H\xc3\x97W\xc3\x97" "3 uint8 RGB array");
        PyBuffer_Release(view);
        return -1;
    }
    if (view->shape[0] < 1 || view->shape[1] < 1) {
        PyErr_SetString(PyExc_ValueError, "PDQ takes a non-empty image");
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

static PyObject *hash_pixels(PyObject *obj, int count, int skip_blur_at_64) {
    Py_buffer view;
    if (get_pixels(obj, &view) != 0) return NULL;
    uint8_t hashes[NUM_DIHEDRAL][HASH_BYTES];
    int quality = 0, status;
    const size_t height = (size_t)view.shape[0], width = (size_t)view.shape[1];
    Py_BEGIN_ALLOW_THREADS
    status = pdq_hash_rgb((const uint8_t *)view.buf, height, width, count, skip_blur_at_64, hashes, &quality);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    if (status != 0) return PyErr_NoMemory();
    if (count == 1) {
        return Py_BuildValue("(y#i)", (const char *)hashes[0], (Py_ssize_t)HASH_BYTES, quality);
    }
    PyObject *list = PyList_New(count);
    if (list == NULL) return NULL;
    for (int i = 0; i < count; i++) {
        PyObject *item = PyBytes_FromStringAndSize((const char *)hashes[i], HASH_BYTES);
        if (item == NULL) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, i, item);
    }
    return Py_BuildValue("(Ni)", list, quality);
}

static PyObject *py_compute_float(PyObject *self, PyObject *pixels) {
    (void)self;
    Py_buffer view;
    if (get_pixels(pixels, &view) != 0) return NULL;
    float coefficients[DCT_SIDE][DCT_SIDE];
    int quality = 0, status;
    const size_t height = (size_t)view.shape[0], width = (size_t)view.shape[1];
    Py_BEGIN_ALLOW_THREADS
    status = pdq_coefficients((const uint8_t *)view.buf, height, width, 1, coefficients, &quality);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    if (status != 0) return PyErr_NoMemory();
    return Py_BuildValue("(y#i)", (const char *)coefficients, (Py_ssize_t)sizeof coefficients, quality);
}

static PyObject *py_compute(PyObject *self, PyObject *pixels) {
    (void)self;
    return hash_pixels(pixels, 1, 1);
}

static PyObject *py_compute_dihedral(PyObject *self, PyObject *pixels) {
    (void)self;
    return hash_pixels(pixels, NUM_DIHEDRAL, 0);
}

static PyMethodDef methods[] = {
    {"compute", py_compute, METH_O,
     "compute(pixels) -> (hash: bytes, quality: int)\n\n"
     "PDQ of an (H, W, 3) C-contiguous uint8 RGB buffer, bit-identical to pdqhash.compute:\n"
     "the 256 bits as 32 bytes, most significant first, and the quality 0-100."},
    {"compute_float", py_compute_float, METH_O,
     "compute_float(pixels) -> (coefficients: bytes, quality: int)\n\n"
     "The 16x16 DCT coefficients before thresholding, as 256 native-endian float32 in row-major\n"
     "order, and the quality: bit-identical to pdqhash.compute_float, which returns the same\n"
     "floats in reverse order. No minimum size (the reference's float function has none)."},
    {"compute_dihedral", py_compute_dihedral, METH_O,
     "compute_dihedral(pixels) -> (hashes: list[bytes], quality: int)\n\n"
     "The 8 dihedral PDQ hashes in pdqhash.compute_dihedral's order, bit-identical to it."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_pdq_native",
    "PDQ bit-identical to pdqhash 0.2.8 (Meta's C++ reference), streamed and vectorised.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__pdq_native(void) {
    init_dct_matrix();
    init_luma_tables();
    return PyModule_Create(&module);
}
