/* Full-resolution 8-bit output, fused: ab upsampling + Lab -> sRGB, and RGB -> L by table lookups.

   The Python wrappers live in lab.py and images.py; they pass every table and matrix in, so the constants
   keep their single home there. Only the CIE Lab formulas themselves (116, 16, 500, 200, 6/29) are
   written here again, as in lab.py's lab_to_rgb. Rows are split over pthreads, without the GIL. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pthread.h>
#include <string.h>

#define MAX_THREADS 64

/* fmaf(a, b, c) without FMA hardware: a * b is exact in a double (ties of the double rounding aside).
   torch's CPU kernels are compiled with FMA contraction; this reproduces F.interpolate bit for bit. */
static inline float fused(float a, float b, float c) { return (float)((double)a * b + c); }

typedef struct { Py_ssize_t i0, i1; float w0, w1; } Tap;  /* two source samples and their weights */

/* F.interpolate(mode="bilinear", align_corners=False) along one axis: half-pixel centres, source
   coordinate clamped at 0, last sample repeated at the far edge; identity when the sizes agree. */
static void bilinear_taps(Tap *taps, Py_ssize_t in, Py_ssize_t out) {
    float scale = (float)in / (float)out;
    for (Py_ssize_t d = 0; d < out; d++) {
        if (in == out) { taps[d] = (Tap){d, d, 1.0f, 0.0f}; continue; }
        float src = fused(scale, (float)d + 0.5f, -0.5f);
        if (src < 0.0f) src = 0.0f;
        Py_ssize_t i = (Py_ssize_t)src;
        if (i > in - 1) i = in - 1;
        float w1 = src - (float)i;
        w1 = w1 < 0.0f ? 0.0f : (w1 > 1.0f ? 1.0f : w1);
        taps[d] = (Tap){i, i + (i < in - 1), 1.0f - w1, w1};
    }
}

typedef struct {
    const float *lightness, *ab, *matrix;  /* (H, W); (2, h, w); (3, 3) linear RGB from XYZ / white */
    const unsigned char *table;            /* linear light in [0, 1] -> sRGB code, `steps` entries */
    unsigned char *out;                    /* (H, W, 3) */
    Py_ssize_t W, h, w, steps;
    const Tap *rows, *cols;
    int small;
} Upsample;

static inline float f_inv(float f) {
    const float delta = 6.0f / 29.0f;
    return f > delta ? f * f * f : (f - 4.0f / 29.0f) * (3.0f * delta * delta);
}

/* ab (2, W) of output row y. rows (4, W): the a and b of source rows i0 and i1 interpolated along x,
   kept while the next output row reads the same source rows. */
static void ab_row(const Upsample *u, Py_ssize_t y, float *rows, Py_ssize_t *cached, float *ab) {
    Tap ty = u->rows[y];
    Py_ssize_t W = u->W, plane = u->h * u->w;
    const float *src[4] = {u->ab + ty.i0 * u->w, u->ab + ty.i1 * u->w, u->ab + plane + ty.i0 * u->w,
                           u->ab + plane + ty.i1 * u->w};
    if (u->small) {  /* torch's channels-last kernel, its choice for H + W <= 128: another summation order */
        for (int c = 0; c < 2; c++)
            for (Py_ssize_t x = 0; x < W; x++) {
                Tap tx = u->cols[x];
                float v = ty.w0 * tx.w1 * src[2 * c][tx.i1];
                v = fused(ty.w0 * tx.w0, src[2 * c][tx.i0], v);
                v = fused(ty.w1 * tx.w0, src[2 * c + 1][tx.i0], v);
                ab[c * W + x] = fused(ty.w1 * tx.w1, src[2 * c + 1][tx.i1], v);
            }
        return;
    }
    if (*cached != ty.i0 * u->h + ty.i1) {
        for (int k = 0; k < 4; k++)
            for (Py_ssize_t x = 0; x < W; x++)
                rows[k * W + x] = fused(src[k][u->cols[x].i0], u->cols[x].w0, src[k][u->cols[x].i1] * u->cols[x].w1);
        *cached = ty.i0 * u->h + ty.i1;
    }
    for (int c = 0; c < 2; c++)
        for (Py_ssize_t x = 0; x < W; x++)
            ab[c * W + x] = fused(rows[2 * c * W + x], ty.w0, rows[(2 * c + 1) * W + x] * ty.w1);
}

/* L (W) + ab (2, W) -> linear RGB (3, W) and luminance Y clamped to [0, 1] (W), in `lin` (4, W) */
static void linear_row(const Upsample *u, const float *restrict L, const float *restrict ab, float *restrict lin) {
    Py_ssize_t W = u->W;
    float m[9];
    memcpy(m, u->matrix, sizeof m);
    for (Py_ssize_t x = 0; x < W; x++) {
        float fy = (L[x] + 16.0f) / 116.0f, fz = fy - ab[W + x] / 200.0f;
        float X = f_inv(fy + ab[x] / 500.0f), Y = f_inv(fy), Z = f_inv(fz > 0.0f ? fz : 0.0f);
        lin[x] = m[0] * X + m[1] * Y + m[2] * Z;
        lin[W + x] = m[3] * X + m[4] * Y + m[5] * Z;
        lin[2 * W + x] = m[6] * X + m[7] * Y + m[8] * Z;
        lin[3 * W + x] = Y < 0.0f ? 0.0f : (Y > 1.0f ? 1.0f : Y);
    }
}

/* An out-of-gamut colour moves towards the grey of its luminance Y, in linear light, just far enough to
   fit (lab.py: lab_to_srgb8). lin (4, W) as from linear_row, fitted in place; branch-free, so vectorised. */
static inline float room(float v, float y) {  /* largest k <= 1 with y + (v - y) * k in [0, 1] */
    float k = (v > 1.0f ? 1.0f - y : -y) / (v - y);  /* computed for every v: no branch */
    return v > 1.0f || v < 0.0f ? k : 1.0f;
}

static void fit_row(Py_ssize_t W, float *restrict r, float *restrict g, float *restrict b, const float *restrict lum) {
    for (Py_ssize_t x = 0; x < W; x++) {
        float y = lum[x], k = room(r[x], y), kg = room(g[x], y), kb = room(b[x], y);
        k = kg < k ? kg : k;
        k = (kb < k ? kb : k) - 1.0f;  /* 0 in the gamut: colour unchanged, exactly */
        k = k > -1.0f ? k : -1.0f;
        r[x] += (r[x] - y) * k;
        g[x] += (g[x] - y) * k;
        b[x] += (b[x] - y) * k;
    }
}

/* linear light (3, W) -> sRGB codes (W, 3) through the table (NaN -> entry 0); lin is overwritten */
static void encode_row(const Upsample *u, float *lin, unsigned char *out) {
    Py_ssize_t W = u->W;
    float top = (float)(u->steps - 1);
    for (Py_ssize_t i = 0; i < 3 * W; i++) {  /* table positions, vectorised */
        float v = lin[i] * top + 0.5f;
        v = v > 0.0f ? v : 0.0f;
        lin[i] = v < top ? v : top;
    }
    for (Py_ssize_t x = 0; x < W; x++)
        for (int c = 0; c < 3; c++) out[3 * x + c] = u->table[(Py_ssize_t)lin[c * W + x]];
}

/* scratch: 10 * W floats per thread (see ab_row, linear_row) */
static void upsample_rows(const void *context, Py_ssize_t y0, Py_ssize_t y1, float *scratch) {
    const Upsample *u = context;
    Py_ssize_t W = u->W, cached = -1;
    for (Py_ssize_t y = y0; y < y1; y++) {
        ab_row(u, y, scratch, &cached, scratch + 4 * W);
        linear_row(u, u->lightness + y * W, scratch + 4 * W, scratch + 6 * W);
        fit_row(W, scratch + 6 * W, scratch + 7 * W, scratch + 8 * W, scratch + 9 * W);
        encode_row(u, scratch + 6 * W, u->out + 3 * y * W);
    }
}

typedef struct {
    const unsigned char *rgb;  /* (H, W, 3) */
    const int *y_codes;        /* (3, 256): each channel's share of Y, fixed point */
    const float *l_of_y;       /* L of each Y code */
    float *out;                /* (H, W) */
    Py_ssize_t W;
} Lightness;

static void lightness_rows(const void *context, Py_ssize_t y0, Py_ssize_t y1, float *scratch) {
    const Lightness *l = context;
    (void)scratch;
    for (Py_ssize_t i = y0 * l->W; i < y1 * l->W; i++) {
        const unsigned char *p = l->rgb + 3 * i;
        l->out[i] = l->l_of_y[(Py_ssize_t)l->y_codes[p[0]] + l->y_codes[256 + p[1]] + l->y_codes[512 + p[2]]];
    }
}

typedef void (*RowsFn)(const void *, Py_ssize_t, Py_ssize_t, float *);
typedef struct { RowsFn fn; const void *context; Py_ssize_t y0, y1; float *scratch; } Part;

static void *run_part(void *arg) {
    Part *p = arg;
    p->fn(p->context, p->y0, p->y1, p->scratch);
    return NULL;
}

/* Rows [0, rows) in `threads` bands; a band whose thread cannot start runs here. Call without the GIL. */
static void split_rows(RowsFn fn, const void *context, Py_ssize_t rows, int threads, float *scratch, Py_ssize_t per) {
    Part parts[MAX_THREADS];
    pthread_t ids[MAX_THREADS];
    int started[MAX_THREADS] = {0};
    for (int i = 0; i < threads; i++)
        parts[i] = (Part){fn, context, rows * i / threads, rows * (i + 1) / threads, scratch ? scratch + i * per : NULL};
    for (int i = 1; i < threads; i++)
        if (!(started[i] = pthread_create(&ids[i], NULL, run_part, &parts[i]) == 0)) run_part(&parts[i]);
    run_part(&parts[0]);
    for (int i = 1; i < threads; i++)
        if (started[i]) pthread_join(ids[i], NULL);
}

typedef struct { const char *name, *format; int ndim, writable; } Spec;

/* A C-contiguous buffer as `spec` says (struct format, ndim, writable); a Python exception otherwise. */
static int get_array(PyObject *obj, Py_buffer *view, Spec spec) {
    if (PyObject_GetBuffer(obj, view, PyBUF_RECORDS_RO) < 0) return -1;
    const char *f = view->format;
    if (*f == '@' || *f == '=' || *f == '<') f++;  /* native or little-endian: this machine's order */
    if (strcmp(f, spec.format) != 0)
        PyErr_Format(PyExc_TypeError, "%s: expected struct format '%s' (np.float32 'f', np.uint8 'B', np.int32 'i'), "
                     "got '%s'", spec.name, spec.format, view->format);
    else if (view->ndim != spec.ndim)
        PyErr_Format(PyExc_ValueError, "%s: expected %d dimensions, got %d", spec.name, spec.ndim, view->ndim);
    else if (!PyBuffer_IsContiguous(view, 'C'))
        PyErr_Format(PyExc_ValueError, "%s: must be C-contiguous", spec.name);
    else if (spec.writable && view->readonly)
        PyErr_Format(PyExc_ValueError, "%s: must be writable", spec.name);
    else
        return 0;
    PyBuffer_Release(view);
    return -1;
}

/* args = (n arrays as in spec..., threads) -> views v[0..n) and threads clamped to [1, min(64, rows)] */
static int parse(PyObject *args, const Spec *spec, int n, Py_buffer *v, int *threads) {
    if (PyTuple_GET_SIZE(args) != n + 1) {
        PyErr_Format(PyExc_TypeError, "expected %d arguments, got %zd", n + 1, PyTuple_GET_SIZE(args));
        return -1;
    }
    long count = PyLong_AsLong(PyTuple_GET_ITEM(args, n));
    if (count == -1 && PyErr_Occurred()) return -1;
    for (int i = 0; i < n; i++)
        if (get_array(PyTuple_GET_ITEM(args, i), &v[i], spec[i]) < 0) {
            while (i > 0) PyBuffer_Release(&v[--i]);
            return -1;
        }
    Py_ssize_t rows = v[0].shape[0];
    *threads = (int)(count < 1 ? 1 : count > MAX_THREADS ? MAX_THREADS : count);
    *threads = *threads > rows && rows > 0 ? (int)rows : *threads;
    return 0;
}

static PyObject *release(Py_buffer *v, int n, PyObject *result) {
    while (n > 0) PyBuffer_Release(&v[--n]);
    return result;
}

static PyObject *upsample_lab_to_srgb8(PyObject *self, PyObject *args) {
    static const Spec spec[5] = {{"lightness", "f", 2, 0}, {"ab", "f", 3, 0}, {"matrix", "f", 2, 0},
                                 {"table", "B", 1, 0}, {"out", "B", 3, 1}};
    Py_buffer v[5];
    int threads;
    if (parse(args, spec, 5, v, &threads) < 0) return NULL;
    Py_ssize_t H = v[0].shape[0], W = v[0].shape[1], h = v[1].shape[1], w = v[1].shape[2];
    if (v[1].shape[0] != 2 || v[2].shape[0] != 3 || v[2].shape[1] != 3 || v[3].shape[0] < 2 ||
        v[3].shape[0] > (1 << 24) || v[4].shape[0] != H || v[4].shape[1] != W || v[4].shape[2] != 3 ||
        (H * W > 0 && h * w == 0)) {
        PyErr_SetString(PyExc_ValueError, "expected lightness (H, W), ab (2, h, w) with h, w >= 1, matrix (3, 3), "
                                          "table (n,) with 2 <= n <= 2^24, out (H, W, 3)");
        return release(v, 5, NULL);
    }
    if (H * W == 0) return release(v, 5, Py_NewRef(Py_None));
    Tap *taps = PyMem_RawMalloc((H + W) * sizeof(Tap));
    float *scratch = PyMem_RawMalloc(10 * W * threads * sizeof(float));
    if (taps && scratch) {
        bilinear_taps(taps, h, H);
        bilinear_taps(taps + H, w, W);
        Upsample u = {v[0].buf, v[1].buf, v[2].buf, v[3].buf, v[4].buf, W, h, w, v[3].shape[0], taps, taps + H,
                      H + W <= 128};
        Py_BEGIN_ALLOW_THREADS
        split_rows(upsample_rows, &u, H, threads, scratch, 10 * W);
        Py_END_ALLOW_THREADS
    }
    PyObject *result = taps && scratch ? Py_NewRef(Py_None) : PyErr_NoMemory();
    PyMem_RawFree(taps);
    PyMem_RawFree(scratch);
    return release(v, 5, result);
}

static PyObject *rgb_lightness(PyObject *self, PyObject *args) {
    static const Spec spec[4] = {{"rgb", "B", 3, 0}, {"y_codes", "i", 2, 0}, {"l_of_y", "f", 1, 0}, {"out", "f", 2, 1}};
    Py_buffer v[4];
    int threads;
    if (parse(args, spec, 4, v, &threads) < 0) return NULL;
    if (v[0].shape[2] != 3 || v[1].shape[0] != 3 || v[1].shape[1] != 256 || v[3].shape[0] != v[0].shape[0] ||
        v[3].shape[1] != v[0].shape[1]) {
        PyErr_SetString(PyExc_ValueError, "expected rgb (H, W, 3), y_codes (3, 256), l_of_y (n,), out (H, W)");
        return release(v, 4, NULL);
    }
    const int *codes = v[1].buf;
    Py_ssize_t reach = 0;  /* the largest sum of three codes must index l_of_y */
    int negative = 0;
    for (int c = 0; c < 3; c++) {
        int top = 0;
        for (int i = 0; i < 256; i++) {
            negative |= codes[256 * c + i] < 0;
            top = codes[256 * c + i] > top ? codes[256 * c + i] : top;
        }
        reach += top;
    }
    if (negative || reach >= v[2].shape[0]) {
        PyErr_Format(PyExc_ValueError, "y_codes must be >= 0 and their sums < %zd, the length of l_of_y", v[2].shape[0]);
        return release(v, 4, NULL);
    }
    Lightness l = {v[0].buf, codes, v[2].buf, v[3].buf, v[0].shape[1]};
    Py_BEGIN_ALLOW_THREADS
    split_rows(lightness_rows, &l, v[0].shape[0], threads, NULL, 0);
    Py_END_ALLOW_THREADS
    return release(v, 4, Py_NewRef(Py_None));
}

static PyMethodDef methods[] = {
    {"upsample_lab_to_srgb8", upsample_lab_to_srgb8, METH_VARARGS,
     "upsample_lab_to_srgb8(lightness, ab, matrix, table, out, threads): L (H, W) float32 + ab (2, h, w) float32 "
     "-> out (H, W, 3) uint8; ab upsampled as F.interpolate(mode='bilinear', align_corners=False)."},
    {"rgb_lightness", rgb_lightness, METH_VARARGS,
     "rgb_lightness(rgb, y_codes, l_of_y, out, threads): uint8 RGB (H, W, 3) -> out (H, W) float32 "
     "= l_of_y[y_codes[0][R] + y_codes[1][G] + y_codes[2][B]]."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, .m_name = "_srgb8", .m_doc = "Fused 8-bit sRGB kernels (see lab.py).",
                                    .m_size = -1, .m_methods = methods};

PyMODINIT_FUNC PyInit__srgb8(void) { return PyModule_Create(&module); }
