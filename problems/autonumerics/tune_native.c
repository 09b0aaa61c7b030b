/* tune_programs.py's evaluators in C: in float64 the program's values on the points, and its
 * values with their derivatives in every constant (forward mode), for Levenberg-Marquardt;
 * in float32 the ULP errors of the evolution strategy's candidate constant sets.
 * NumPy spent most of a tuning step on call overhead (a dozen small array operations per
 * vertex on 1,000 points); this does the same operations in the same order, each rounded
 * once (built with -ffp-contract=off), so the results are bit-identical to
 * tune_programs.eval_values, tune_programs.eval_dual and tune_programs.ulp_error_rows,
 * which the tests check. Called through ctypes on a genome flattened by lowering.flatten. */

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

enum { K_X, K_C, K_ADD, K_SUB, K_MUL, K_DIV, K_FMA };

/* One row of a vertex: `stride` 1 over the points, or 0 for a value shared by all. */
typedef struct {
    const double *p;
    long stride;
} row_t;

static const double ZERO = 0.0, ONE = 1.0;

/* Row r (0: values, 1 + k: derivative in constant k) of vertex v. */
static row_t row_of(int kind, long v, long r, const long *cidx, const double *c, const double *x,
                    double *const *full, long n) {
    row_t out = {&ZERO, 0};
    if (kind == K_X) {
        if (r == 0) out.p = x, out.stride = 1;
    } else if (kind == K_C) {
        if (r == 0) out.p = c + cidx[v];
        else if (r == 1 + cidx[v]) out.p = &ONE;
    } else {
        out.p = full[v] + r * n, out.stride = 1;
    }
    return out;
}

#define AT(R, I) ((R).p[(I) * (R).stride])

/* Whether a denominator takes both signs, or 0 or NaN, on the points: the pole of
 * tune_programs.eval_values (NumPy's min and max propagate NaN, and then neither comparison
 * holds). */
static int crosses_zero(row_t d, long n) {
    double lo = AT(d, 0), hi = lo;
    int nan = 0;
    for (long i = 0; i < n; i++) {
        double v = AT(d, i);
        nan |= v != v;
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    return nan || !(lo > 0 || hi < 0);
}

/* Values and derivatives of a program with k constants on n points: result (1 + k, n).
 * kind/args: its nv vertices (lowering.flatten); out: the output vertex; c: the constants
 * in the order of the constant vertices. With derivs == 0 only row 0 is computed (and
 * result needs only n). *pole: whether some denominator crosses 0 on the points. Returns
 * 0, -1 out of memory, -2 a malformed program. */
long evoforge_an_eval_dual(const int8_t *kind, const int32_t *args, long nv, long out,
                           const double *c, long k, const double *x, long n, int derivs,
                           double *result, int32_t *pole) {
    long rows = derivs ? 1 + k : 1;
    long *cidx = calloc(nv > 0 ? nv : 1, sizeof(long));
    double **full = calloc(nv > 0 ? nv : 1, sizeof(double *));
    long status = cidx && full ? 0 : -1;
    long j = 0;
    *pole = 0;
    for (long v = 0; v < nv && status == 0; v++) {
        int kd = kind[v];
        if (kd == K_C) {
            if (j >= k) status = -2;
            cidx[v] = j++;
            continue;
        }
        if (kd == K_X) continue;
        if (kd < K_ADD || kd > K_FMA) {
            status = -2;
            break;
        }
        int arity = kd == K_FMA ? 3 : 2;
        const int32_t *a = args + 3 * v;
        for (int i = 0; i < arity; i++)
            if (a[i] < 0 || a[i] >= v) status = -2;
        if (status) break;
        full[v] = malloc(sizeof(double) * rows * n);
        if (full[v] == NULL) {
            status = -1;
            break;
        }
        row_t a0 = row_of(kind[a[0]], a[0], 0, cidx, c, x, full, n);
        row_t b0 = row_of(kind[a[1]], a[1], 0, cidx, c, x, full, n);
        double *d0 = full[v];
        if (kd == K_DIV && n > 0 && crosses_zero(b0, n)) *pole = 1;
        /* the values, as tune_programs.eval_dual: fma is a * b, then + c (two roundings) */
        switch (kd) {
        case K_ADD: for (long i = 0; i < n; i++) d0[i] = AT(a0, i) + AT(b0, i); break;
        case K_SUB: for (long i = 0; i < n; i++) d0[i] = AT(a0, i) - AT(b0, i); break;
        case K_DIV: for (long i = 0; i < n; i++) d0[i] = AT(a0, i) / AT(b0, i); break;
        default: for (long i = 0; i < n; i++) d0[i] = AT(a0, i) * AT(b0, i);
        }
        if (kd == K_FMA) {
            row_t e0 = row_of(kind[a[2]], a[2], 0, cidx, c, x, full, n);
            for (long i = 0; i < n; i++) d0[i] = d0[i] + AT(e0, i);
        }
        for (long r = 1; r < rows; r++) {
            row_t ar = row_of(kind[a[0]], a[0], r, cidx, c, x, full, n);
            row_t br = row_of(kind[a[1]], a[1], r, cidx, c, x, full, n);
            double *dr = full[v] + r * n;
            switch (kd) {
            case K_ADD: for (long i = 0; i < n; i++) dr[i] = AT(ar, i) + AT(br, i); break;
            case K_SUB: for (long i = 0; i < n; i++) dr[i] = AT(ar, i) - AT(br, i); break;
            case K_DIV: /* (a' - q b') / b, q = a / b */
                for (long i = 0; i < n; i++)
                    dr[i] = (AT(ar, i) - d0[i] * AT(br, i)) / AT(b0, i);
                break;
            default: /* a b' + a' b, then + c' for fma */
                for (long i = 0; i < n; i++) dr[i] = AT(a0, i) * AT(br, i) + AT(ar, i) * AT(b0, i);
                if (kd == K_FMA) {
                    row_t er = row_of(kind[a[2]], a[2], r, cidx, c, x, full, n);
                    for (long i = 0; i < n; i++) dr[i] = dr[i] + AT(er, i);
                }
            }
        }
    }
    if (status == 0 && (out < 0 || out >= nv || j != k)) status = -2;
    if (status == 0)
        for (long r = 0; r < rows; r++) {
            row_t o = row_of(kind[out], out, r, cidx, c, x, full, n);
            for (long i = 0; i < n; i++) result[r * n + i] = AT(o, i);
        }
    for (long v = 0; v < nv && full; v++) free(full[v]);
    free(full), free(cidx);
    return status;
}

/* -- float32: the evolution strategy's candidates ----------------------------------------- */

/* tune_programs.ulp_error_rows for float32 constant sets: rows (s, n) of |y - ref| * inv_ulp
 * with y the program evaluated in float32 (each operation rounded once; fma as
 * tune_programs._fma32, float(double(a) * b + c)), inf where that is not finite, and a whole
 * row inf where a denominator takes both signs, 0 or NaN on the points (a pole: the NaN row
 * of tune_programs.eval_values).
 * cands (s, k) float32 in the order of the constant vertices. Returns 0, -1 out of
 * memory, -2 a malformed program. */
long evoforge_an_ulp_rows_f32(const int8_t *kind, const int32_t *args, long nv, long out,
                              const float *cands, long s, long k, const float *x, long n,
                              const double *ref, const double *inv_ulp, double *rows) {
    long *cidx = calloc(nv > 0 ? nv : 1, sizeof(long));
    float *vals = malloc(sizeof(float) * (nv > 0 ? nv : 1) * (n > 0 ? n : 1));
    long status = cidx && vals ? 0 : -1;
    long j = 0;
    for (long v = 0; v < nv && status == 0; v++) {
        int kd = kind[v];
        if (kd == K_C) {
            cidx[v] = j++;
        } else if (kd >= K_ADD && kd <= K_FMA) {
            int arity = kd == K_FMA ? 3 : 2;
            for (int i = 0; i < arity; i++)
                if (args[3 * v + i] < 0 || args[3 * v + i] >= v) status = -2;
        } else if (kd != K_X) {
            status = -2;
        }
    }
    if (status == 0 && (j != k || out < 0 || out >= nv)) status = -2;
    for (long r = 0; r < s && status == 0; r++) {
        const float *c = cands + r * k;
        int pole = 0;
        /* each vertex's values: x and constants are read in place (stride 0 for a constant) */
        for (long v = 0; v < nv; v++) {
            int kd = kind[v];
            if (kd < K_ADD) continue;
            const int32_t *a = args + 3 * v;
            const float *p[3];
            long st[3];
            int arity = kd == K_FMA ? 3 : 2;
            for (int i = 0; i < arity; i++) {
                int ki = kind[a[i]];
                if (ki == K_X) p[i] = x, st[i] = 1;
                else if (ki == K_C) p[i] = c + cidx[a[i]], st[i] = 0;
                else p[i] = vals + a[i] * n, st[i] = 1;
            }
            float *d = vals + v * n;
#define ARG(J) p[J][i * st[J]]
            switch (kd) {
            case K_ADD: for (long i = 0; i < n; i++) d[i] = ARG(0) + ARG(1); break;
            case K_SUB: for (long i = 0; i < n; i++) d[i] = ARG(0) - ARG(1); break;
            case K_MUL: for (long i = 0; i < n; i++) d[i] = ARG(0) * ARG(1); break;
            case K_DIV: {
                float lo = p[1][0], hi = lo;
                int nan = 0;
                for (long i = 0; i < n; i++) {
                    float b = ARG(1);
                    nan |= b != b;
                    lo = b < lo ? b : lo;
                    hi = b > hi ? b : hi;
                    d[i] = ARG(0) / b;
                }
                if (n > 0 && (nan || !(lo > 0 || hi < 0))) pole = 1;
                break;
            }
            default:
                for (long i = 0; i < n; i++)
                    d[i] = (float)((double)ARG(0) * (double)ARG(1) + (double)ARG(2));
            }
#undef ARG
        }
        double *row = rows + r * n;
        int ko = kind[out];
        for (long i = 0; i < n; i++) {
            float y = ko == K_X ? x[i] : ko == K_C ? c[cidx[out]] : vals[out * n + i];
            double e = fabs((double)y - ref[i]) * inv_ulp[i];
            row[i] = pole || !isfinite(e) ? INFINITY : e;
        }
    }
    free(cidx), free(vals);
    return status;
}
