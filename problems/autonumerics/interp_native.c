/* The register machine of interp_switch.py as one XLA FFI handler, for float64 on CPU.
 *
 * XLA runs interp_switch's loop one instruction at a time over whole rows of points:
 * 5 passes over memory per instruction, since XLA cannot fuse a read of the register file
 * into its in-place update. Here the points go in tiles of TILE: every instruction of the
 * stream runs on one tile while its rows sit in the L1/L2 cache, then the next tile.
 * Same instruction stream (lowering.py), same operations in the same order, each rounded
 * once (fma with one rounding, as XLA contracts a * b + c): results are bit-identical to
 * the XLA machine, which the tests check.
 *
 * Two handlers: evoforge_an_interp_f64 writes every program's outputs into the register
 * file (interp_switch.py); evoforge_an_score_f64 keeps no outputs and returns each
 * program's max error against a reference (scoring.py), what reals mode scores.
 *
 * Built by native.py with the system C compiler against the FFI C header that jaxlib
 * ships (xla/ffi/api/c_api.h); no C++ and no Python headers. */

#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xla/ffi/api/c_api.h"

#define TILE 512 /* points per tile: a few rows of 4 KB stay in L1 */

/* One binary operation over a tile, with each operand a row or a constant. */
#define BINARY(EXPR)                                                                \
    do {                                                                            \
        if (!ca && !cb) {                                                           \
            for (int k = 0; k < m; k++) { double A = a[k], B = b[k]; d[k] = (EXPR); } \
        } else if (!ca) {                                                           \
            double B = vb;                                                          \
            for (int k = 0; k < m; k++) { double A = a[k]; d[k] = (EXPR); }         \
        } else if (!cb) {                                                           \
            double A = va;                                                          \
            for (int k = 0; k < m; k++) { double B = b[k]; d[k] = (EXPR); }         \
        } else {                                                                    \
            double A = va, B = vb;                                                  \
            for (int k = 0; k < m; k++) d[k] = (EXPR);                              \
        }                                                                           \
    } while (0)

/* Eight doubles as one value: GCC's vector extension, one AVX-512 register, two AVX2
 * ones or four SSE2 ones in the variant compiled for each. */
typedef double v8d __attribute__((vector_size(64)));
typedef long long v8l __attribute__((vector_size(64)));

/* The running maximum of |y - ref| * w over a tile into *err, and whether any was NaN
 * (numpy's max propagates NaN; a plain running max would drop it). A single running
 * maximum is a chain the compiler will not vectorise (without -ffast-math it does not
 * reassociate a max), and for programs of a few instructions it cost as much as running
 * them: eight maxima over interleaved points are one vector, and a max of maxima is the
 * same max (a NaN never enters one: e > top is false for it). fabs is the sign bit
 * cleared, as fabs does. */
static inline void reduce_error(const double *y, const double *ref, const double *w, int m,
                                double *err, unsigned char *nan) {
    const v8l magnitude = (v8l){0} + 0x7fffffffffffffffLL;
    v8d lane = (v8d){0} + *err;
    v8l bad_lane = {0};
    int k = 0;
    for (; k + 8 <= m; k += 8) {
        v8d yk, rk, wk;
        memcpy(&yk, y + k, sizeof yk), memcpy(&rk, ref + k, sizeof rk);
        memcpy(&wk, w + k, sizeof wk);
        v8d e = (v8d)((v8l)(yk - rk) & magnitude) * wk;
        v8l above = e > lane;
        bad_lane |= e != e;
        lane = (v8d)(((v8l)e & above) | ((v8l)lane & ~above));
    }
    double top = *err;
    long long bad = 0;
    for (int j = 0; j < 8; j++) {
        top = lane[j] > top ? lane[j] : top;
        bad |= bad_lane[j];
    }
    for (; k < m; k++) {
        double e = fabs(y[k] - ref[k]) * w[k];
        bad |= e != e;
        top = e > top ? e : top;
    }
    *err = top;
    *nan |= (unsigned char)(bad != 0);
}

/* Every instruction of the stream over one tile. row[r] is where register r's values for
 * this tile start. When err is not NULL (scoring), an instruction writing a row below
 * nout has just produced a program's output: its error is reduced at once, while hot. */
static inline __attribute__((always_inline)) void run_tile_body(
    const int32_t *ints, const double *vals, long count, double *const *row, int m, long nout,
    const double *ref, const double *w, double *err, unsigned char *nan) {
    for (long i = 0; i < count; i++) {
        const int32_t *ins = ints + 8 * i; /* op, dst, src * 3, is-constant * 3 */
        const double *cv = vals + 3 * i;
        double *d = row[ins[1]];
        const double *a = row[ins[2]], *b = row[ins[3]], *c = row[ins[4]];
        int ca = ins[5], cb = ins[6], cc = ins[7];
        double va = cv[0], vb = cv[1], vc = cv[2];
        switch (ins[0]) {
        case 0: BINARY(A + B); break;
        case 1: BINARY(A - B); break;
        case 2: BINARY(A * B); break;
        case 3: BINARY(A / B); break;
        case 4:
            for (int k = 0; k < m; k++)
                d[k] = fma(ca ? va : a[k], cb ? vb : b[k], cc ? vc : c[k]);
            break;
        default: /* 5: copy */
            if (ca)
                for (int k = 0; k < m; k++) d[k] = va;
            else if (d != a)
                memmove(d, a, sizeof(double) * m);
        }
        if (err != NULL && ins[1] < nout)
            reduce_error(d, ref, w, m, err + ins[1], nan + ins[1]);
    }
}

#define TILE_ARGS                                                                         \
    const int32_t *ints, const double *vals, long count, double *const *row, int m, long nout, \
        const double *ref, const double *w, double *err, unsigned char *nan
#define TILE_CALL run_tile_body(ints, vals, count, row, m, nout, ref, w, err, nan)

/* The same loop compiled for AVX-512, for AVX2 + FMA and for the baseline, picked by the
 * CPU's features when the library loads (x86-64; elsewhere the baseline runs). (GCC's
 * target_clones("arch=haswell") was tried first: its resolver asks whether the CPU *is* a
 * Haswell, so every later CPU got the baseline clone, SSE2 and fma() through libm,
 * 1.3-1.6x slower.) */
static void run_tile_baseline(TILE_ARGS) { TILE_CALL; }

typedef void (*tile_fn)(TILE_ARGS);
static tile_fn run_tile = run_tile_baseline;
static const char *isa = "baseline";

#if defined(__x86_64__)
__attribute__((target("avx512f,avx512vl,avx2,fma"))) static void run_tile_avx512(TILE_ARGS) {
    TILE_CALL;
}
__attribute__((target("avx2,fma"))) static void run_tile_avx2(TILE_ARGS) { TILE_CALL; }

/* The widest the CPU has; EVOFORGE_NATIVE_ISA=avx2 or baseline caps it (the tests check
 * that every variant gives the same bits). */
__attribute__((constructor)) static void pick_run_tile(void) {
    __builtin_cpu_init();
    const char *cap = getenv("EVOFORGE_NATIVE_ISA");
    int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    int avx512 = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl");
    if (cap != NULL && strcmp(cap, "baseline") == 0) avx2 = avx512 = 0;
    if (cap != NULL && strcmp(cap, "avx2") == 0) avx512 = 0;
    if (avx512) run_tile = run_tile_avx512, isa = "avx512";
    else if (avx2) run_tile = run_tile_avx2, isa = "avx2";
}
#endif

/* Which variant runs (for the tests and the benches). */
const char *evoforge_an_isa(void) { return isa; }

static XLA_FFI_Error *fail(const XLA_FFI_CallFrame *frame, const char *message) {
    XLA_FFI_Error_Create_Args args = {XLA_FFI_Error_Create_Args_STRUCT_SIZE, NULL, message,
                                      XLA_FFI_Error_Code_INVALID_ARGUMENT};
    return frame->api->XLA_FFI_Error_Create(&args);
}

/* A stream from lowering.py is valid by construction; checked anyway (once per call,
 * not per tile), so that a bad one is an error and never a write out of bounds. */
static const char *check(const int32_t *ints, long count, long length, long rows, long nout) {
    if (count < 0 || count > length) return "instruction count out of range";
    if (nout < 0 || nout >= rows) return "output row count out of range";
    for (long i = 0; i < count; i++) {
        const int32_t *ins = ints + 8 * i;
        if (ins[0] < 0 || ins[0] > 5) return "unknown opcode";
        for (int j = 1; j < 5; j++)
            if (ins[j] < 0 || ins[j] >= rows) return "register out of range";
    }
    return NULL;
}

/* Whether this call is not one to execute: the version handshake (answered here) or
 * another stage. The handler then returns NULL. */
static int not_executing(XLA_FFI_CallFrame *frame) {
    XLA_FFI_Extension_Base *ext = frame->extension_start;
    if (ext != NULL && ext->type == XLA_FFI_Extension_Metadata) {
        XLA_FFI_Metadata *meta = ((XLA_FFI_Metadata_Extension *)ext)->metadata;
        meta->api_version.struct_size = XLA_FFI_Api_Version_STRUCT_SIZE;
        meta->api_version.extension_start = NULL;
        meta->api_version.major_version = XLA_FFI_API_MAJOR;
        meta->api_version.minor_version = XLA_FFI_API_MINOR;
        meta->traits = 0;
        return 1;
    }
    return frame->stage != XLA_FFI_ExecutionStage_EXECUTE;
}

/* -- the tiles of one call, shared by the calling thread and helper threads ----------- */

/* A call's tiles go to whichever thread takes them next: the calling thread and one
 * helper thread per further CPU this process may run on, started for the call and joined
 * before it returns (a few tens of microseconds; no pool survives the call, so a fork
 * finds no threads to miss). XLA's own pool was tried first (XLA_FFI_ThreadPool_Schedule):
 * for a call XLA runs inline, as it does this one, its tasks ran in the calling thread
 * one after the other, no faster. Each worker gets a slot (its row pointers, and when
 * scoring its one-tile register file and errors), merged by the caller. */
typedef struct {
    const int32_t *ints;
    const double *vals, *x, *ref, *w; /* ref and w: scoring */
    double *regs;                     /* the (rows, n) register file; NULL: scoring */
    long count, nout, rows, n, ntiles, slot_bytes;
    unsigned int mxcsr; /* the caller's SSE modes (flush to zero): every worker uses them */
    long next, slots;   /* atomics: the next tile to take, slots handed out */
    double *err;        /* threads * nout errors (scoring) */
    unsigned char *nan; /* threads * nout */
    char *slot_memory;
} job_t;

#if defined(__x86_64__)
static unsigned int get_mxcsr(void) { return __builtin_ia32_stmxcsr(); }
static void set_mxcsr(unsigned int v) { __builtin_ia32_ldmxcsr(v); }
#else
static unsigned int get_mxcsr(void) { return 0; }
static void set_mxcsr(unsigned int v) { (void)v; }
#endif

static void *work(void *data) {
    job_t *job = data;
    long t = __atomic_fetch_add(&job->next, 1, __ATOMIC_ACQ_REL);
    if (t >= job->ntiles) return NULL; /* all taken: no slot needed */
    long slot = __atomic_fetch_add(&job->slots, 1, __ATOMIC_ACQ_REL);
    char *mem = job->slot_memory + slot * job->slot_bytes;
    double **row = (double **)mem;
    double *file = (double *)(mem + sizeof(double *) * job->rows);
    double *err = job->err ? job->err + slot * job->nout : NULL;
    unsigned char *nan = job->nan ? job->nan + slot * job->nout : NULL;
    long local = job->rows - job->nout; /* scoring: x, the scratch rows, the output row */
    if (job->regs == NULL)
        for (long r = 0; r < job->rows; r++)
            row[r] = file + TILE * (r < job->nout ? local : r - job->nout);
    unsigned int saved = get_mxcsr();
    set_mxcsr(job->mxcsr);
    for (; t < job->ntiles; t = __atomic_fetch_add(&job->next, 1, __ATOMIC_ACQ_REL)) {
        long t0 = t * TILE;
        int m = (int)(job->n - t0 < TILE ? job->n - t0 : TILE);
        if (job->regs != NULL) {
            for (long r = 0; r < job->rows; r++) row[r] = job->regs + r * job->n + t0;
            run_tile(job->ints, job->vals, job->count, row, m, 0, NULL, NULL, NULL, NULL);
        } else {
            memcpy(row[job->nout], job->x + t0, sizeof(double) * m);
            run_tile(job->ints, job->vals, job->count, row, m, job->nout, job->ref + t0,
                     job->w + t0, err, nan);
        }
    }
    set_mxcsr(saved);
    return NULL;
}

/* Threads for a call: one per CPU this process may use, at most one per tile, none extra
 * for a call too small to pay for starting one (under about a million instruction-
 * points, a fraction of a millisecond), capped by EVOFORGE_NATIVE_THREADS (which the local
 * executor sets to each worker's share of the CPUs), else by OMP_NUM_THREADS (which Ray
 * sets to a task's num_cpus). */
static long threads_for(long ntiles, long count, long n) {
    cpu_set_t cpus;
    long threads = sched_getaffinity(0, sizeof(cpus), &cpus) == 0 ? CPU_COUNT(&cpus) : 1;
    const char *cap = getenv("EVOFORGE_NATIVE_THREADS");
    if (cap == NULL || atol(cap) <= 0) cap = getenv("OMP_NUM_THREADS");
    if (cap != NULL && atol(cap) > 0 && atol(cap) < threads) threads = atol(cap);
    if (count * n < (1L << 20)) threads = 1;
    if (threads > ntiles) threads = ntiles;
    return threads < 1 ? 1 : threads;
}

static void free_job(job_t *job) {
    free(job->err), free(job->nan), free(job->slot_memory), free(job);
}

/* Run every tile of the job; 0, or -1 out of memory. */
static int run_job(job_t *job) {
    job->ntiles = (job->n + TILE - 1) / TILE;
    long threads = threads_for(job->ntiles, job->count, job->n);
    job->slot_bytes = sizeof(double *) * job->rows;
    if (job->regs == NULL) job->slot_bytes += sizeof(double) * TILE * (job->rows - job->nout + 1);
    job->slot_memory = malloc(job->slot_bytes * threads);
    if (job->regs == NULL) {
        job->err = calloc(threads * (job->nout > 0 ? job->nout : 1), sizeof(double));
        job->nan = calloc(threads * (job->nout > 0 ? job->nout : 1), 1);
    }
    if (job->slot_memory == NULL || (job->regs == NULL && (!job->err || !job->nan))) return -1;
    job->mxcsr = get_mxcsr();
    pthread_t helpers[threads];
    long started = 0;
    for (; started < threads - 1; started++) /* a thread that fails to start: fewer */
        if (pthread_create(&helpers[started], NULL, work, job) != 0) break;
    work(job);
    for (long k = 0; k < started; k++) pthread_join(helpers[k], NULL);
    return 0;
}

/* args: ints (T, 8) int32, vals (T, 3) f64, meta (2,) int32 = instruction count and
 * nout (the row of x), x (n,) f64, the register file (1, rows, n) f64; one result, the
 * register file, aliased to the last argument (written in place). The file keeps the
 * shard's leading 1: dropping it in the XLA program made XLA copy the file in and out. */
XLA_FFI_Error *evoforge_an_interp_f64(XLA_FFI_CallFrame *frame) {
    if (not_executing(frame)) return NULL;
    if (frame->args.size != 5 || frame->rets.size != 1) return fail(frame, "expected 5 arguments");
    XLA_FFI_Buffer **args = (XLA_FFI_Buffer **)frame->args.args;
    XLA_FFI_Buffer *out = (XLA_FFI_Buffer *)frame->rets.rets[0];
    if (args[0]->rank != 2 || args[0]->dims[1] != 8 || args[2]->dims[0] != 2 || out->rank != 3)
        return fail(frame, "unexpected argument shapes");
    const int32_t *ints = args[0]->data, *meta = args[2]->data;
    long rows = out->dims[1], n = out->dims[2];
    if (args[3]->dims[0] != n) return fail(frame, "x and the register file differ in length");
    const char *bad = check(ints, meta[0], args[0]->dims[0], rows, meta[1]);
    if (bad != NULL) return fail(frame, bad);
    job_t *job = calloc(1, sizeof(job_t));
    if (job == NULL) return fail(frame, "out of memory");
    job->ints = ints, job->vals = args[1]->data, job->regs = out->data;
    job->count = meta[0], job->rows = rows, job->n = n;
    memcpy(job->regs + (long)meta[1] * n, args[3]->data, sizeof(double) * n);
    int status = run_job(job);
    free_job(job);
    return status == 0 ? NULL : fail(frame, "out of memory");
}

/* Scoring without the outputs: args ints, vals, meta (3,) = instruction count, nout and
 * rows = nout + 1 + nscratch, then x, ref and w (n,) f64; one result (1, N >= nout) f64,
 * each program's max over the points of |y - ref| * w (NaN if any is NaN), the error the
 * problem scores, and NaN in the N - nout rows past them. Counts travel in meta, not in
 * shapes, so that one executable serves every population its padded shapes fit. The register file is one tile long and lives here: the outputs all share one
 * row, reduced as soon as they are written, so nothing of size (programs, n) exists and
 * the tile's rows stay in L1. */
XLA_FFI_Error *evoforge_an_score_f64(XLA_FFI_CallFrame *frame) {
    if (not_executing(frame)) return NULL;
    if (frame->args.size != 6 || frame->rets.size != 1) return fail(frame, "expected 6 arguments");
    XLA_FFI_Buffer **args = (XLA_FFI_Buffer **)frame->args.args;
    XLA_FFI_Buffer *out = (XLA_FFI_Buffer *)frame->rets.rets[0];
    if (args[0]->rank != 2 || args[0]->dims[1] != 8 || args[2]->dims[0] != 3 || out->rank != 2)
        return fail(frame, "unexpected argument shapes");
    const int32_t *ints = args[0]->data, *meta = args[2]->data;
    double *err = out->data;
    long n = args[3]->dims[0], nout = out->dims[1], rows = meta[2];
    if (args[4]->dims[0] != n || args[5]->dims[0] != n)
        return fail(frame, "x, ref and w differ in length");
    if (meta[1] < 1 || meta[1] > nout || rows <= meta[1])
        return fail(frame, "output row count out of range");
    const char *bad = check(ints, meta[0], args[0]->dims[0], rows, meta[1]);
    if (bad != NULL) return fail(frame, bad);
    job_t *job = calloc(1, sizeof(job_t));
    if (job == NULL) return fail(frame, "out of memory");
    job->ints = ints, job->vals = args[1]->data, job->x = args[3]->data;
    job->ref = args[4]->data, job->w = args[5]->data;
    job->count = meta[0], job->nout = meta[1], job->rows = rows, job->n = n;
    int status = run_job(job);
    if (status == 0) {
        long used = __atomic_load_n(&job->slots, __ATOMIC_ACQUIRE);
        for (long p = meta[1]; p < nout; p++) err[p] = NAN; /* rows past the programs */
        nout = meta[1];
        for (long p = 0; p < nout; p++) {
            double top = 0.0;
            int bad_point = 0;
            for (long k = 0; k < used; k++) {
                double e = job->err[k * nout + p];
                top = e > top ? e : top;
                bad_point |= job->nan[k * nout + p];
            }
            err[p] = bad_point ? NAN : top;
        }
    }
    free_job(job);
    return status == 0 ? NULL : fail(frame, "out of memory");
}
