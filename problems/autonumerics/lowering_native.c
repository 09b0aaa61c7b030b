/* lowering.lower for a whole population in C: the same pruning, folding and register
 * allocation, instruction for instruction (tests compare the two streams bit for bit).
 * lowering.py keeps the Python version as the reference and the fallback; this one is
 * called through ctypes (no Python headers), on genomes flattened by lowering.flatten.
 *
 * Folding follows graph.fold exactly: float64 folds +, -, *, / in double and fma in long
 * double (numpy.longdouble, x87 80-bit here); float32 folds in float, with fma as
 * float(double(a) * b + c). Built with -ffp-contract=off, so nothing is fused. */

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

enum { K_X, K_C, K_ADD, K_SUB, K_MUL, K_DIV, K_FMA };        /* flattened vertex kinds */
enum { OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_FMA, OP_COPY };  /* lowering.py's opcodes */
enum { REG_X = -1, REG_OUT = -2 };

static double fold(int kind, const double *v, int f32) {
    if (f32) {
        float a = (float)v[0], b = (float)v[1];
        switch (kind) {
        case K_ADD: return (double)(a + b);
        case K_SUB: return (double)(a - b);
        case K_MUL: return (double)(a * b);
        case K_DIV: return (double)(a / b);
        default: return (double)(float)((double)a * (double)b + (double)(float)v[2]);
        }
    }
    switch (kind) {
    case K_ADD: return v[0] + v[1];
    case K_SUB: return v[0] - v[1];
    case K_MUL: return v[0] * v[1];
    case K_DIV: return v[0] / v[1];
    default: return (double)((long double)v[0] * (long double)v[1] + (long double)v[2]);
    }
}

/* Scratch per program, sized for the largest one. */
typedef struct {
    int32_t *uses, *reg, *free;
    double *value;
    unsigned char *known; /* value[i] holds vertex i's constant */
} work_t;

/* One program: kind/args/value of its nv vertices, output vertex out. Writes its
 * instructions (8 ints, 3 values each) and returns how many, or -1 for a malformed genome;
 * *used = scratch rows. */
static long lower_one(const int8_t *kind, const int32_t *args, const double *value, long nv,
                      long out, int f32, work_t *w, int32_t *ints, double *vals, int32_t *used) {
    if (out < 0 || out >= nv) return -1;
    long size = out + 1;
    for (long i = 0; i < size; i++) w->uses[i] = 0, w->known[i] = 0, w->reg[i] = REG_X;
    w->uses[out] = 1;
    for (long i = out; i > 0; i--) {
        if (!w->uses[i] || kind[i] < K_ADD) continue;
        int arity = kind[i] == K_FMA ? 3 : 2;
        for (int j = 0; j < arity; j++) {
            int32_t a = args[3 * i + j];
            if (a < 0 || a >= i) return -1;
            w->uses[a]++;
        }
    }
    long nfree = 0, count = 0;
    int32_t next = 0;
    for (long i = 1; i < size; i++) {
        if (!w->uses[i]) continue;
        int k = kind[i];
        if (k == K_C) {
            w->value[i] = f32 ? (double)(float)value[i] : value[i];
            w->known[i] = 1;
            continue;
        }
        if (k < K_ADD || k > K_FMA) return -1;
        int arity = k == K_FMA ? 3 : 2;
        const int32_t *src = args + 3 * i;
        int all_known = 1;
        for (int j = 0; j < arity; j++) all_known &= w->known[src[j]];
        if (all_known) {
            double v[3] = {0.0, 0.0, 0.0};
            for (int j = 0; j < arity; j++) v[j] = w->value[src[j]];
            w->value[i] = fold(k, v, f32);
            w->known[i] = 1;
            continue;
        }
        int32_t *ins = ints + 8 * count;
        double *cv = vals + 3 * count;
        for (int j = 0; j < 3; j++) {
            if (j < arity && !w->known[src[j]]) {
                int32_t a = src[j], r = w->reg[a];
                ins[2 + j] = r, ins[5 + j] = 0, cv[j] = 0.0;
                if (--w->uses[a] == 0 && r >= 0) w->free[nfree++] = r; /* read for the last time */
            } else {
                ins[2 + j] = REG_X, ins[5 + j] = 1;
                cv[j] = j < arity ? w->value[src[j]] : 0.0;
            }
        }
        int32_t dst;
        if (i == out) dst = REG_OUT;
        else dst = w->reg[i] = nfree ? w->free[--nfree] : next++;
        ins[0] = k - K_ADD, ins[1] = dst;
        count++;
    }
    if (out == 0 || w->known[out]) { /* the program returns x or a constant */
        int32_t *ins = ints + 8 * count;
        double *cv = vals + 3 * count;
        double v = out != 0 ? w->value[out] : 0.0;
        ins[0] = OP_COPY, ins[1] = REG_OUT, ins[2] = ins[3] = ins[4] = REG_X;
        ins[5] = out != 0, ins[6] = ins[7] = 1;
        cv[0] = v != 0.0 ? v : 0.0, cv[1] = cv[2] = 0.0; /* as Python's `value or 0.0` */
        count++;
    }
    *used = next;
    return count;
}

/* The population: genome g's vertices are [start[g], start[g + 1]) of kind/args/value,
 * its output vertex out[g]. ints/vals have room for one instruction per vertex plus one
 * per genome; program g's instructions start at first[g], number count[g], and use
 * used[g] scratch rows. Returns 0, -1 out of memory, or 1 + g for a malformed genome g. */
long evoforge_an_lower(const int8_t *kind, const int32_t *args, const double *value,
                       const int64_t *start, const int32_t *out, long genomes, int f32,
                       int32_t *ints, double *vals, int64_t *first, int32_t *count,
                       int32_t *used) {
    long largest = 1;
    for (long g = 0; g < genomes; g++)
        if (start[g + 1] - start[g] > largest) largest = start[g + 1] - start[g];
    work_t w = {malloc(sizeof(int32_t) * largest), malloc(sizeof(int32_t) * largest),
                malloc(sizeof(int32_t) * largest), malloc(sizeof(double) * largest),
                malloc(largest)};
    long status = 0, at = 0;
    if (!w.uses || !w.reg || !w.free || !w.value || !w.known) status = -1;
    for (long g = 0; g < genomes && status == 0; g++) {
        long s = start[g];
        long n = lower_one(kind + s, args + 3 * s, value + s, start[g + 1] - s, out[g], f32, &w,
                           ints + 8 * at, vals + 3 * at, used + g);
        if (n < 0) status = 1 + g;
        first[g] = at, count[g] = (int32_t)n;
        at += n;
    }
    free(w.uses), free(w.reg), free(w.free), free(w.value), free(w.known);
    return status;
}
