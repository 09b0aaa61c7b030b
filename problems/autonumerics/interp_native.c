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
 * Built by native.py with the system C compiler against the FFI C header that jaxlib
 * ships (xla/ffi/api/c_api.h); no C++ and no Python headers. */

#include <math.h>
#include <stdint.h>
#include <stdio.h>
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

/* Compiled twice (AVX2 + FMA, and baseline x86-64), chosen when the library loads. */
__attribute__((target_clones("arch=haswell", "default")))
static void run_tile(const int32_t *ints, const double *vals, long count, double *regs,
                     long n, long t0, int m) {
    for (long i = 0; i < count; i++) {
        const int32_t *ins = ints + 8 * i; /* op, dst, src * 3, is-constant * 3 */
        const double *cv = vals + 3 * i;
        double *d = regs + ins[1] * n + t0;
        const double *a = regs + ins[2] * n + t0, *b = regs + ins[3] * n + t0;
        const double *c = regs + ins[4] * n + t0;
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
    }
}

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

/* args: ints (T, 8) int32, vals (T, 3) f64, meta (2,) int32 = instruction count and
 * nout (the row of x), x (n,) f64, the register file (1, rows, n) f64; one result, the
 * register file, aliased to the last argument (written in place). The file keeps the
 * shard's leading 1: dropping it in the XLA program made XLA copy the file in and out. */
XLA_FFI_Error *evoforge_an_interp_f64(XLA_FFI_CallFrame *frame) {
    XLA_FFI_Extension_Base *ext = frame->extension_start;
    if (ext != NULL && ext->type == XLA_FFI_Extension_Metadata) { /* the version handshake */
        XLA_FFI_Metadata *meta = ((XLA_FFI_Metadata_Extension *)ext)->metadata;
        meta->api_version.struct_size = XLA_FFI_Api_Version_STRUCT_SIZE;
        meta->api_version.extension_start = NULL;
        meta->api_version.major_version = XLA_FFI_API_MAJOR;
        meta->api_version.minor_version = XLA_FFI_API_MINOR;
        meta->traits = 0;
        return NULL;
    }
    if (frame->stage != XLA_FFI_ExecutionStage_EXECUTE) return NULL;
    if (frame->args.size != 5 || frame->rets.size != 1) return fail(frame, "expected 5 arguments");
    XLA_FFI_Buffer **args = (XLA_FFI_Buffer **)frame->args.args;
    XLA_FFI_Buffer *out = (XLA_FFI_Buffer *)frame->rets.rets[0];
    if (args[0]->rank != 2 || args[0]->dims[1] != 8 || args[2]->dims[0] != 2 || out->rank != 3)
        return fail(frame, "unexpected argument shapes");
    const int32_t *ints = args[0]->data, *meta = args[2]->data;
    const double *vals = args[1]->data, *x = args[3]->data;
    double *regs = out->data;
    long rows = out->dims[1], n = out->dims[2];
    if (args[3]->dims[0] != n) return fail(frame, "x and the register file differ in length");
    const char *bad = check(ints, meta[0], args[0]->dims[0], rows, meta[1]);
    if (bad != NULL) return fail(frame, bad);
    memcpy(regs + (long)meta[1] * n, x, sizeof(double) * n);
    for (long t0 = 0; t0 < n; t0 += TILE) {
        int m = (int)(n - t0 < TILE ? n - t0 : TILE);
        run_tile(ints, vals, meta[0], regs, n, t0, m);
    }
    return NULL;
}
