/* graph.c: biological context graph (spec grace_cmvae.md §3.1-3.6); conventions in graph.h.
 *
 * Implementation notes: symbols are interned with an open-addressing string map (FNV-1a), edges
 * are undirected pairs a < b packed into one uint64 (a << 32 | b), sorted and deduplicated; the
 * CSR is filled from the sorted pair list in one pass (rows come out sorted, see adj_from_pairs).
 */
#include "data/graph.h"

#include "core/alloc.h"
#include "core/rng.h"
#include "core/status.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- small containers ------------------------------------------------------------------- */

typedef struct {
    int64_t n, cap;
    char **s;
} strvec;

static cw_status strvec_push_owned(strvec *v, char *s) {
    if (v->n == v->cap) {
        int64_t nc = v->cap ? 2 * v->cap : 64;
        char **ns = cw_realloc(v->s, (size_t)nc * sizeof(char *));
        if (!ns) return cw_fail(CW_ENOMEM, "out of memory growing a string list");
        v->s = ns;
        v->cap = nc;
    }
    v->s[v->n++] = s;
    return CW_OK;
}

static void strvec_free(strvec *v) {
    for (int64_t i = 0; i < v->n; i++) cw_free(v->s[i]);
    cw_free(v->s);
    memset(v, 0, sizeof *v);
}

/* Moves the contents into a cw_strings (v is left empty). */
static void strvec_take(strvec *v, cw_strings *out) {
    out->n = v->n;
    out->s = v->s;
    memset(v, 0, sizeof *v);
}

typedef struct {
    int64_t n, cap;
    uint64_t *v;
} u64vec;

static cw_status u64vec_push(u64vec *v, uint64_t x) {
    if (v->n == v->cap) {
        int64_t nc = v->cap ? 2 * v->cap : 1024;
        uint64_t *nv = cw_realloc(v->v, (size_t)nc * sizeof(uint64_t));
        if (!nv) return cw_fail(CW_ENOMEM, "out of memory growing an edge list");
        v->v = nv;
        v->cap = nc;
    }
    v->v[v->n++] = x;
    return CW_OK;
}

typedef struct {
    int64_t n, cap;
    int32_t *v;
} i32vec;

static cw_status i32vec_push(i32vec *v, int32_t x) {
    if (v->n == v->cap) {
        int64_t nc = v->cap ? 2 * v->cap : 1024;
        int32_t *nv = cw_realloc(v->v, (size_t)nc * sizeof(int32_t));
        if (!nv) return cw_fail(CW_ENOMEM, "out of memory growing an index list");
        v->v = nv;
        v->cap = nc;
    }
    v->v[v->n++] = x;
    return CW_OK;
}

/* String -> int64 map; keys are borrowed pointers (owned by a strvec or the caller). */
typedef struct {
    int64_t cap, n; /* cap a power of two */
    const char **keys;
    int64_t *vals;
} smap;

static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static void smap_free(smap *m) {
    cw_free(m->keys);
    cw_free(m->vals);
    memset(m, 0, sizeof *m);
}

static cw_status smap_init(smap *m, int64_t expect) {
    memset(m, 0, sizeof *m);
    int64_t cap = 64;
    while (cap < 2 * expect + 16) cap *= 2;
    m->keys = cw_calloc((size_t)cap, sizeof(char *));
    m->vals = cw_malloc_array((size_t)cap, sizeof(int64_t));
    if (!m->keys || !m->vals) {
        smap_free(m);
        return cw_fail(CW_ENOMEM, "out of memory for a symbol map");
    }
    m->cap = cap;
    return CW_OK;
}

static int64_t smap_slot(const smap *m, const char *k) {
    uint64_t mask = (uint64_t)m->cap - 1, i = hash_str(k) & mask;
    while (m->keys[i] && strcmp(m->keys[i], k) != 0) i = (i + 1) & mask;
    return (int64_t)i;
}

static int64_t smap_get(const smap *m, const char *k) {
    if (!k) return -1;
    int64_t i = smap_slot(m, k);
    return m->keys[i] ? m->vals[i] : -1;
}

/* Inserts k -> v unless k is present; *old = the present value or -1. */
static cw_status smap_put(smap *m, const char *k, int64_t v, int64_t *old) {
    int64_t i = smap_slot(m, k);
    if (m->keys[i]) {
        *old = m->vals[i];
        return CW_OK;
    }
    *old = -1;
    if (2 * (m->n + 1) > m->cap) {
        smap big;
        CW_TRY(smap_init(&big, m->n + 1));
        for (int64_t j = 0; j < m->cap; j++)
            if (m->keys[j]) {
                int64_t s = smap_slot(&big, m->keys[j]);
                big.keys[s] = m->keys[j];
                big.vals[s] = m->vals[j];
            }
        big.n = m->n;
        smap_free(m);
        *m = big;
        i = smap_slot(m, k);
    }
    m->keys[i] = k;
    m->vals[i] = v;
    m->n++;
    return CW_OK;
}

/* Index of s in (map, vec), adding a copy when new. */
static cw_status intern(smap *m, strvec *v, const char *s, int32_t *idx) {
    int64_t got = smap_get(m, s);
    if (got >= 0) {
        *idx = (int32_t)got;
        return CW_OK;
    }
    if (v->n >= INT32_MAX) return cw_fail(CW_EINVAL, "more than 2^31 distinct symbols");
    char *c = cw_strdup(s);
    if (!c) return cw_fail(CW_ENOMEM, "out of memory copying a symbol");
    cw_status st = strvec_push_owned(v, c);
    if (st != CW_OK) {
        cw_free(c);
        return st;
    }
    int64_t old;
    CW_TRY(smap_put(m, c, v->n - 1, &old));
    *idx = (int32_t)(v->n - 1);
    return CW_OK;
}

/* ---- line reading ------------------------------------------------------------------------- */

typedef cw_status (*line_fn)(void *ctx, char *line, const char *path, int64_t lineno);

/* Calls fn on every non-empty line (CR/LF stripped). */
static cw_status for_each_line(const char *path, line_fn fn, void *ctx) {
    FILE *f = fopen(path, "r");
    if (!f) return cw_fail(CW_EIO, "%s: cannot open: %s", path, strerror(errno));
    char *buf = NULL;
    size_t cap = 0;
    ssize_t len;
    int64_t lineno = 0;
    cw_status st = CW_OK;
    errno = 0;
    while ((len = getline(&buf, &cap, f)) >= 0) {
        lineno++;
        while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r')) buf[--len] = '\0';
        if (len == 0) continue;
        st = fn(ctx, buf, path, lineno);
        if (st != CW_OK) break;
    }
    if (st == CW_OK && ferror(f)) st = cw_fail(CW_EIO, "%s: read error: %s", path, strerror(errno));
    free(buf); /* getline allocates with malloc */
    fclose(f);
    return st;
}

/* Splits line in place at sep; returns the number of fields (up to cap stored). */
static int split_tabs(char *line, char **fields, int cap) {
    int n = 0;
    char *p = line;
    for (;;) {
        char *t = strchr(p, '\t');
        if (n < cap) fields[n] = p;
        n++;
        if (!t) break;
        *t = '\0';
        p = t + 1;
    }
    return n;
}

/* ---- GMT ---------------------------------------------------------------------------------- */

typedef struct {
    strvec names, ids, symbols;
    smap id_map, sym_map;
    i32vec mp, ms;
    int64_t n_lines;
} gmt_ctx;

static cw_status gmt_line(void *vctx, char *line, const char *path, int64_t lineno) {
    gmt_ctx *c = vctx;
    c->n_lines++;
    /* name, id, then genes: walk the tabs ourselves (a GMT line may have thousands of genes) */
    char *f[2];
    char *tab = strchr(line, '\t');
    if (!tab)
        return cw_fail(CW_EFORMAT,
                       "%s:%lld: expected at least 2 tab-separated fields (name, stable id), "
                       "found 1",
                       path, (long long)lineno);
    *tab = '\0';
    f[0] = line;
    f[1] = tab + 1;
    char *rest = strchr(f[1], '\t');
    if (rest) *rest++ = '\0';
    if (!f[1][0])
        return cw_fail(CW_EFORMAT, "%s:%lld: expected a stable id in field 2, found an empty field",
                       path, (long long)lineno);
    int32_t pid;
    int64_t before = c->ids.n;
    CW_TRY(intern(&c->id_map, &c->ids, f[1], &pid));
    if (c->ids.n > before) {
        char *nm = cw_strdup(f[0]);
        if (!nm) return cw_fail(CW_ENOMEM, "out of memory copying a pathway name");
        cw_status st = strvec_push_owned(&c->names, nm);
        if (st != CW_OK) {
            cw_free(nm);
            return st;
        }
    }
    while (rest) {
        char *g = rest;
        rest = strchr(rest, '\t');
        if (rest) *rest++ = '\0';
        if (!g[0]) continue; /* tolerate empty fields (trailing tabs) */
        int32_t sid;
        CW_TRY(intern(&c->sym_map, &c->symbols, g, &sid));
        CW_TRY(i32vec_push(&c->mp, pid));
        CW_TRY(i32vec_push(&c->ms, sid));
    }
    return CW_OK;
}

cw_status cw_gmt_read(const char *path, cw_gmt *out) {
    memset(out, 0, sizeof *out);
    gmt_ctx c;
    memset(&c, 0, sizeof c);
    cw_status st = smap_init(&c.id_map, 1024);
    if (st == CW_OK) st = smap_init(&c.sym_map, 4096);
    if (st == CW_OK) st = for_each_line(path, gmt_line, &c);
    if (st == CW_OK) {
        out->n_pathways = c.ids.n;
        out->n_members = c.mp.n;
        out->member_pathway = c.mp.v;
        out->member_symbol = c.ms.v;
        out->n_lines = c.n_lines;
        strvec_take(&c.names, &out->names);
        strvec_take(&c.ids, &out->ids);
        strvec_take(&c.symbols, &out->symbols);
        c.mp.v = c.ms.v = NULL;
    }
    smap_free(&c.id_map);
    smap_free(&c.sym_map);
    strvec_free(&c.names);
    strvec_free(&c.ids);
    strvec_free(&c.symbols);
    cw_free(c.mp.v);
    cw_free(c.ms.v);
    return st;
}

void cw_gmt_free(cw_gmt *g) {
    cw_strings_free(&g->names);
    cw_strings_free(&g->ids);
    cw_strings_free(&g->symbols);
    cw_free(g->member_pathway);
    cw_free(g->member_symbol);
    memset(g, 0, sizeof *g);
}

/* ---- relations ---------------------------------------------------------------------------- */

typedef struct {
    strvec parent, child;
} rel_ctx;

static cw_status rel_line(void *vctx, char *line, const char *path, int64_t lineno) {
    rel_ctx *c = vctx;
    char *f[2];
    int n = split_tabs(line, f, 2);
    if (n != 2)
        return cw_fail(CW_EFORMAT,
                       "%s:%lld: expected 2 tab-separated fields (parent id, child id), found %d",
                       path, (long long)lineno, n);
    if (!f[0][0] || !f[1][0])
        return cw_fail(CW_EFORMAT, "%s:%lld: expected 2 non-empty pathway ids, found an empty field",
                       path, (long long)lineno);
    char *p = cw_strdup(f[0]);
    if (!p) return cw_fail(CW_ENOMEM, "out of memory copying a pathway id");
    cw_status st = strvec_push_owned(&c->parent, p);
    if (st != CW_OK) {
        cw_free(p);
        return st;
    }
    char *q = cw_strdup(f[1]);
    if (!q) return cw_fail(CW_ENOMEM, "out of memory copying a pathway id");
    st = strvec_push_owned(&c->child, q);
    if (st != CW_OK) cw_free(q);
    return st;
}

cw_status cw_relations_read(const char *path, cw_relations *out) {
    memset(out, 0, sizeof *out);
    rel_ctx c;
    memset(&c, 0, sizeof c);
    cw_status st = for_each_line(path, rel_line, &c);
    if (st == CW_OK && c.parent.n != c.child.n) st = cw_fail(CW_ENOMEM, "out of memory");
    if (st == CW_OK) {
        out->n = c.parent.n;
        strvec_take(&c.parent, &out->parent);
        strvec_take(&c.child, &out->child);
    }
    strvec_free(&c.parent);
    strvec_free(&c.child);
    return st;
}

void cw_relations_free(cw_relations *r) {
    cw_strings_free(&r->parent);
    cw_strings_free(&r->child);
    memset(r, 0, sizeof *r);
}

/* ---- PPI ---------------------------------------------------------------------------------- */

typedef struct {
    strvec symbols;
    smap map;
    i32vec a, b;
    int64_t n_self;
} ppi_ctx;

static cw_status ppi_line(void *vctx, char *line, const char *path, int64_t lineno) {
    ppi_ctx *c = vctx;
    char *tok[2];
    int n = 0;
    char *p = line;
    for (;;) {
        while (*p == ' ' || *p == '\t') p++;
        if (!*p) break;
        if (n < 2) tok[n] = p;
        n++;
        while (*p && *p != ' ' && *p != '\t') p++;
        if (!*p) break;
        *p++ = '\0';
    }
    if (n != 2)
        return cw_fail(CW_EFORMAT,
                       "%s:%lld: expected 2 gene symbols separated by a space or tab, found %d "
                       "fields",
                       path, (long long)lineno, n);
    /* a symbol seen only in self pairs is still a symbol of the file (it counts as matched) */
    int32_t ia, ib;
    CW_TRY(intern(&c->map, &c->symbols, tok[0], &ia));
    if (strcmp(tok[0], tok[1]) == 0) {
        c->n_self++;
        return CW_OK;
    }
    CW_TRY(intern(&c->map, &c->symbols, tok[1], &ib));
    CW_TRY(i32vec_push(&c->a, ia));
    return i32vec_push(&c->b, ib);
}

cw_status cw_ppi_read(const char *path, cw_ppi *out) {
    memset(out, 0, sizeof *out);
    ppi_ctx c;
    memset(&c, 0, sizeof c);
    cw_status st = smap_init(&c.map, 16384);
    if (st == CW_OK) st = for_each_line(path, ppi_line, &c);
    if (st == CW_OK && c.a.n != c.b.n) st = cw_fail(CW_ENOMEM, "out of memory");
    if (st == CW_OK) {
        strvec_take(&c.symbols, &out->symbols);
        out->n_pairs = c.a.n;
        out->a = c.a.v;
        out->b = c.b.v;
        out->n_self_dropped = c.n_self;
        c.a.v = c.b.v = NULL;
    }
    smap_free(&c.map);
    strvec_free(&c.symbols);
    cw_free(c.a.v);
    cw_free(c.b.v);
    return st;
}

void cw_ppi_free(cw_ppi *p) {
    cw_strings_free(&p->symbols);
    cw_free(p->a);
    cw_free(p->b);
    memset(p, 0, sizeof *p);
}

/* ---- adjacency ---------------------------------------------------------------------------- */

static uint64_t pair_key(int64_t a, int64_t b) {
    if (a > b) {
        int64_t t = a;
        a = b;
        b = t;
    }
    return ((uint64_t)a << 32) | (uint64_t)b;
}

static int cmp_u64(const void *x, const void *y) {
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return (a > b) - (a < b);
}

/* Sorts and removes duplicates. */
static void sort_unique(u64vec *e) {
    if (e->n < 2) return;
    qsort(e->v, (size_t)e->n, sizeof(uint64_t), cmp_u64);
    int64_t w = 1;
    for (int64_t i = 1; i < e->n; i++)
        if (e->v[i] != e->v[w - 1]) e->v[w++] = e->v[i];
    e->n = w;
}

/* Symmetric CSR from sorted unique pairs a < b. Row r receives its smaller neighbours (from pairs
 * (a, r), met in increasing a) before its larger ones (pairs (r, b), increasing b), so every row
 * is sorted without a further sort. */
static cw_status adj_from_pairs(cw_adj *out, int64_t n, const uint64_t *pairs, int64_t e) {
    memset(out, 0, sizeof *out);
    out->n = n;
    out->nnz = 2 * e;
    out->indptr = cw_calloc((size_t)n + 1, sizeof(int64_t));
    out->indices = cw_malloc_array((size_t)(2 * e > 0 ? 2 * e : 1), sizeof(int32_t));
    int64_t *pos = cw_malloc_array((size_t)(n > 0 ? n : 1), sizeof(int64_t));
    if (!out->indptr || !out->indices || !pos) {
        cw_free(pos);
        cw_adj_free(out);
        return cw_fail(CW_ENOMEM, "out of memory for a %lld-node adjacency", (long long)n);
    }
    for (int64_t k = 0; k < e; k++) {
        out->indptr[(pairs[k] >> 32) + 1]++;
        out->indptr[(pairs[k] & 0xffffffffu) + 1]++;
    }
    for (int64_t i = 0; i < n; i++) out->indptr[i + 1] += out->indptr[i];
    memcpy(pos, out->indptr, (size_t)n * sizeof(int64_t));
    for (int64_t k = 0; k < e; k++) {
        int64_t a = (int64_t)(pairs[k] >> 32), b = (int64_t)(pairs[k] & 0xffffffffu);
        out->indices[pos[a]++] = (int32_t)b;
        out->indices[pos[b]++] = (int32_t)a;
    }
    cw_free(pos);
    return CW_OK;
}

void cw_adj_free(cw_adj *a) {
    cw_free(a->indptr);
    cw_free(a->indices);
    memset(a, 0, sizeof *a);
}

int cw_adj_has_edge(const cw_adj *a, int64_t i, int64_t j) {
    if (i < 0 || i >= a->n) return 0;
    int64_t lo = a->indptr[i], hi = a->indptr[i + 1];
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (a->indices[mid] < j) lo = mid + 1;
        else hi = mid;
    }
    return lo < a->indptr[i + 1] && a->indices[lo] == j;
}

/* ---- builders ----------------------------------------------------------------------------- */

/* Map symbol -> first position in genes (NULL entries skipped); counts later duplicates. */
static cw_status gene_map(smap *m, const cw_strings *genes, int64_t *dups) {
    CW_TRY(smap_init(m, genes->n));
    *dups = 0;
    for (int64_t i = 0; i < genes->n; i++) {
        if (!genes->s[i]) continue;
        int64_t old;
        cw_status st = smap_put(m, genes->s[i], i, &old);
        if (st != CW_OK) {
            smap_free(m);
            return st;
        }
        if (old >= 0) (*dups)++;
    }
    return CW_OK;
}

/* PPI pairs among mapped genes; marks in_ppi[g] for genes whose symbol occurs in the file. */
static cw_status ppi_pairs(u64vec *e, const smap *gm, const cw_ppi *ppi, char *in_ppi) {
    int64_t ns = ppi->symbols.n;
    int64_t *s2g = cw_malloc_array((size_t)(ns > 0 ? ns : 1), sizeof(int64_t));
    if (!s2g) return cw_fail(CW_ENOMEM, "out of memory mapping PPI symbols");
    for (int64_t s = 0; s < ns; s++) {
        s2g[s] = smap_get(gm, ppi->symbols.s[s]);
        if (s2g[s] >= 0 && in_ppi) in_ppi[s2g[s]] = 1;
    }
    cw_status st = CW_OK;
    for (int64_t k = 0; k < ppi->n_pairs && st == CW_OK; k++) {
        int64_t a = s2g[ppi->a[k]], b = s2g[ppi->b[k]];
        if (a >= 0 && b >= 0 && a != b) st = u64vec_push(e, pair_key(a, b));
    }
    cw_free(s2g);
    return st;
}

static void count_types(cw_graph_counts *c, const uint64_t *p, int64_t e, int64_t g) {
    c->gg_edges = c->pg_edges = c->pp_edges = 0;
    for (int64_t k = 0; k < e; k++) {
        int64_t a = (int64_t)(p[k] >> 32), b = (int64_t)(p[k] & 0xffffffffu);
        if (b < g) c->gg_edges++;
        else if (a < g) c->pg_edges++;
        else c->pp_edges++;
    }
    c->edges = e;
}

/* u64 hash set for the corruption step (UINT64_MAX = empty; keys are < 2^63). */
typedef struct {
    int64_t cap;
    uint64_t *k;
} u64set;

static uint64_t mix64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ (x >> 33);
}

/* Returns 1 if inserted, 0 if present. */
static int u64set_insert(u64set *s, uint64_t key) {
    uint64_t mask = (uint64_t)s->cap - 1, i = mix64(key) & mask;
    while (s->k[i] != UINT64_MAX) {
        if (s->k[i] == key) return 0;
        i = (i + 1) & mask;
    }
    s->k[i] = key;
    return 1;
}

/* §3.5 on sorted unique pairs e (replaced by the corrupted sorted pairs). */
static cw_status corrupt(u64vec *e, int64_t n_nodes, double f, uint64_t seed,
                         cw_graph_counts *c) {
    int64_t m = e->n;
    /* round half to even, as Python's round() */
    int64_t keep = (int64_t)nearbyint((1.0 - f) * (double)m);
    if (keep > m) keep = m;
    if (keep < 0) keep = 0;
    double possible = (double)n_nodes * (double)(n_nodes - 1) / 2.0;
    if (possible - (double)m < (double)(m - keep))
        return cw_fail(CW_EINVAL,
                       "corrupt_fraction %g: a %lld-node graph has too few non-edges to replace "
                       "%lld of its %lld edges",
                       f, (long long)n_nodes, (long long)(m - keep), (long long)m);
    u64set set = {0, NULL};
    set.cap = 64;
    while (set.cap < 4 * m + 64) set.cap *= 2;
    set.k = cw_malloc_array((size_t)set.cap, sizeof(uint64_t));
    uint64_t *out = cw_malloc_array((size_t)(m > 0 ? m : 1), sizeof(uint64_t));
    if (!set.k || !out) {
        cw_free(set.k);
        cw_free(out);
        return cw_fail(CW_ENOMEM, "out of memory corrupting a %lld-edge graph", (long long)m);
    }
    memset(set.k, 0xff, (size_t)set.cap * sizeof(uint64_t));
    for (int64_t k = 0; k < m; k++) u64set_insert(&set, e->v[k]);
    cw_rng r;
    cw_rng_substream(&r, seed, CW_RNG_STREAM_GRAPH);
    /* partial Fisher-Yates on the sorted pairs: the first `keep` are a uniform sample */
    for (int64_t k = 0; k < keep; k++) {
        int64_t j = k + cw_rng_below(&r, m - k);
        uint64_t t = e->v[k];
        e->v[k] = e->v[j];
        e->v[j] = t;
        out[k] = e->v[k];
    }
    int64_t n = keep;
    while (n < m) {
        int64_t a = cw_rng_below(&r, n_nodes), b = cw_rng_below(&r, n_nodes);
        if (a == b) continue;
        uint64_t key = pair_key(a, b);
        if (u64set_insert(&set, key)) out[n++] = key;
    }
    cw_free(set.k);
    memcpy(e->v, out, (size_t)m * sizeof(uint64_t));
    cw_free(out);
    qsort(e->v, (size_t)m, sizeof(uint64_t), cmp_u64);
    c->kept_edges = keep;
    c->random_edges = m - keep;
    return CW_OK;
}

cw_status cw_graph_build(cw_graph *out, const cw_strings *genes, const cw_gmt *gmt,
                         const cw_relations *rel, const cw_ppi *ppi, const cw_graph_opts *opts) {
    memset(out, 0, sizeof *out);
    if (!genes || !opts) return cw_fail(CW_EINVAL, "graph: genes and options are required");
    if (opts->levels < CW_GRAPH_GG || opts->levels > CW_GRAPH_GG_PG_PP)
        return cw_fail(CW_EINVAL, "graph: unknown levels %d", (int)opts->levels);
    if (opts->levels >= CW_GRAPH_GG_PG && !gmt)
        return cw_fail(CW_EINVAL, "graph: pathway levels need a GMT");
    if (!(opts->corrupt_fraction >= 0.0 && opts->corrupt_fraction <= 1.0))
        return cw_fail(CW_EINVAL, "graph: corrupt_fraction %g outside [0, 1]",
                       opts->corrupt_fraction);
    int64_t g = genes->n;
    int64_t pf = gmt ? gmt->n_pathways : 0;
    if (g + pf >= INT32_MAX) return cw_fail(CW_EINVAL, "graph: more than 2^31 nodes");

    cw_status st = CW_OK;
    smap gm = {0}, idm = {0};
    u64vec e = {0, 0, NULL};
    char *in_ppi = cw_calloc((size_t)(g > 0 ? g : 1), 1);
    char *in_gmt = cw_calloc((size_t)(g > 0 ? g : 1), 1);
    int64_t *path_node = cw_malloc_array((size_t)(pf > 0 ? pf : 1), sizeof(int64_t));
    int64_t *sym_gene = NULL;
    if (!in_ppi || !in_gmt || !path_node) {
        st = cw_fail(CW_ENOMEM, "graph: out of memory");
        goto done;
    }
    cw_graph_counts *c = &out->counts;
    st = gene_map(&gm, genes, &c->duplicate_genes);
    if (st != CW_OK) goto done;
    if (ppi) st = ppi_pairs(&e, &gm, ppi, in_ppi);
    if (st != CW_OK) goto done;

    int64_t np = 0;
    if (gmt) {
        c->pathways_in_file = pf;
        int64_t ns = gmt->symbols.n;
        sym_gene = cw_malloc_array((size_t)(ns > 0 ? ns : 1), sizeof(int64_t));
        if (!sym_gene) {
            st = cw_fail(CW_ENOMEM, "graph: out of memory");
            goto done;
        }
        for (int64_t s = 0; s < ns; s++) {
            sym_gene[s] = smap_get(&gm, gmt->symbols.s[s]);
            if (sym_gene[s] >= 0) in_gmt[sym_gene[s]] = 1;
        }
        /* pathway selection: all, or involved ones; nodes in GMT order */
        for (int64_t p = 0; p < pf; p++) path_node[p] = opts->involved_only ? -1 : 0;
        if (opts->involved_only)
            for (int64_t k = 0; k < gmt->n_members; k++)
                if (sym_gene[gmt->member_symbol[k]] >= 0) path_node[gmt->member_pathway[k]] = 0;
        if (opts->levels >= CW_GRAPH_GG_PG) {
            for (int64_t p = 0; p < pf; p++)
                if (path_node[p] == 0) path_node[p] = g + np++;
            for (int64_t k = 0; k < gmt->n_members && st == CW_OK; k++) {
                int64_t gi = sym_gene[gmt->member_symbol[k]];
                int64_t pn = path_node[gmt->member_pathway[k]];
                if (gi >= 0 && pn >= 0) st = u64vec_push(&e, pair_key(gi, pn));
            }
            if (st != CW_OK) goto done;
        }
        if (opts->levels == CW_GRAPH_GG_PG_PP && rel) {
            st = smap_init(&idm, pf);
            for (int64_t p = 0; p < pf && st == CW_OK; p++) {
                int64_t old;
                st = smap_put(&idm, gmt->ids.s[p], p, &old);
            }
            for (int64_t k = 0; k < rel->n && st == CW_OK; k++) {
                int64_t a = smap_get(&idm, rel->parent.s[k]), b = smap_get(&idm, rel->child.s[k]);
                if (a < 0 || b < 0) continue;
                a = path_node[a];
                b = path_node[b];
                if (a >= 0 && b >= 0 && a != b) st = u64vec_push(&e, pair_key(a, b));
            }
            if (st != CW_OK) goto done;
        }
    }
    out->n_genes = g;
    out->n_pathways = np;
    out->n_nodes = g + np;
    out->pathway_index = cw_malloc_array((size_t)(np > 0 ? np : 1), sizeof(int32_t));
    if (!out->pathway_index) {
        st = cw_fail(CW_ENOMEM, "graph: out of memory");
        goto done;
    }
    for (int64_t p = 0, k = 0; p < pf && opts->levels >= CW_GRAPH_GG_PG; p++)
        if (path_node[p] >= 0) out->pathway_index[k++] = (int32_t)p;

    sort_unique(&e);
    c->gene_nodes = g;
    c->pathway_nodes = np;
    c->original_edges = e.n;
    c->kept_edges = e.n;
    for (int64_t i = 0; i < g; i++) {
        c->genes_in_ppi += in_ppi[i];
        c->genes_in_gmt += in_gmt[i];
        c->genes_missing += !in_ppi[i] && !in_gmt[i];
    }
    if (opts->corrupt_fraction > 0.0) {
        st = corrupt(&e, out->n_nodes, opts->corrupt_fraction, opts->graph_seed, c);
        if (st != CW_OK) goto done;
    }
    count_types(c, e.v, e.n, g);
    st = adj_from_pairs(&out->adj, out->n_nodes, e.v, e.n);

done:
    smap_free(&gm);
    smap_free(&idm);
    cw_free(e.v);
    cw_free(in_ppi);
    cw_free(in_gmt);
    cw_free(path_node);
    cw_free(sym_gene);
    if (st != CW_OK) cw_graph_free(out);
    return st;
}

void cw_graph_free(cw_graph *g) {
    cw_free(g->pathway_index);
    cw_adj_free(&g->adj);
    memset(g, 0, sizeof *g);
}

void cw_graph_counts_print(const cw_graph_counts *c, FILE *f) {
    fprintf(f,
            "nodes %lld (%lld genes, %lld pathways of %lld in file), edges %lld (gg %lld, pg "
            "%lld, pp %lld; %lld original kept, %lld random), dataset genes: %lld in PPI, %lld "
            "in GMT, %lld in neither, %lld duplicates\n",
            (long long)(c->gene_nodes + c->pathway_nodes), (long long)c->gene_nodes,
            (long long)c->pathway_nodes, (long long)c->pathways_in_file, (long long)c->edges,
            (long long)c->gg_edges, (long long)c->pg_edges, (long long)c->pp_edges,
            (long long)c->kept_edges, (long long)c->random_edges, (long long)c->genes_in_ppi,
            (long long)c->genes_in_gmt, (long long)c->genes_missing,
            (long long)c->duplicate_genes);
}

/* ---- gene-union graph and 1-hop subgraph (§3.6) ------------------------------------------- */

cw_status cw_union_graph_build(cw_union_graph *out, const cw_strings *genes,
                               const cw_strings *targets, const cw_ppi *ppi) {
    memset(out, 0, sizeof *out);
    if (!genes || !targets || !ppi) return cw_fail(CW_EINVAL, "union graph: missing argument");
    for (int64_t j = 0; j < targets->n; j++)
        if (!targets->s[j]) return cw_fail(CW_EINVAL, "union graph: target %lld is missing", (long long)j);
    smap m = {0};
    u64vec e = {0, 0, NULL};
    int64_t dups;
    cw_status st = cw_strings_alloc(&out->nodes, genes->n);
    for (int64_t i = 0; i < genes->n && st == CW_OK; i++)
        st = cw_strings_set(&out->nodes, i, genes->s[i]);
    if (st != CW_OK) goto done;
    out->n_genes = genes->n;
    out->n_targets = targets->n;
    out->ptb_to_node = cw_malloc_array((size_t)(targets->n > 0 ? targets->n : 1), sizeof(int64_t));
    if (!out->ptb_to_node) {
        st = cw_fail(CW_ENOMEM, "union graph: out of memory");
        goto done;
    }
    st = gene_map(&m, &out->nodes, &dups);
    if (st != CW_OK) goto done;
    for (int64_t j = 0; j < targets->n; j++) {
        int64_t id = smap_get(&m, targets->s[j]);
        if (id < 0) {
            id = out->nodes.n;
            st = cw_strings_push(&out->nodes, targets->s[j]);
            if (st != CW_OK) goto done;
            /* the map borrows the key: a push moves the pointer array, never the strings */
            int64_t old;
            st = smap_put(&m, out->nodes.s[id], id, &old);
            if (st != CW_OK) goto done;
        }
        out->ptb_to_node[j] = id;
    }
    if (out->nodes.n >= INT32_MAX) {
        st = cw_fail(CW_EINVAL, "union graph: more than 2^31 nodes");
        goto done;
    }
    st = ppi_pairs(&e, &m, ppi, NULL);
    if (st != CW_OK) goto done;
    sort_unique(&e);
    st = adj_from_pairs(&out->adj, out->nodes.n, e.v, e.n);
done:
    smap_free(&m);
    cw_free(e.v);
    if (st != CW_OK) cw_union_graph_free(out);
    return st;
}

void cw_union_graph_free(cw_union_graph *u) {
    cw_strings_free(&u->nodes);
    cw_free(u->ptb_to_node);
    cw_adj_free(&u->adj);
    memset(u, 0, sizeof *u);
}

cw_status cw_subgraph_1hop(cw_subgraph *out, const cw_adj *g, const int64_t *seeds,
                           int64_t n_seeds) {
    memset(out, 0, sizeof *out);
    for (int64_t k = 0; k < n_seeds; k++)
        if (seeds[k] < 0 || seeds[k] >= g->n)
            return cw_fail(CW_EINVAL, "subgraph: seed %lld is not a node of a %lld-node graph",
                           (long long)seeds[k], (long long)g->n);
    int64_t *local = cw_malloc_array((size_t)(g->n > 0 ? g->n : 1), sizeof(int64_t));
    if (!local) return cw_fail(CW_ENOMEM, "subgraph: out of memory");
    for (int64_t i = 0; i < g->n; i++) local[i] = -1;
    for (int64_t k = 0; k < n_seeds; k++) {
        int64_t s = seeds[k];
        local[s] = 0;
        for (int64_t q = g->indptr[s]; q < g->indptr[s + 1]; q++) local[g->indices[q]] = 0;
    }
    int64_t n = 0;
    for (int64_t i = 0; i < g->n; i++)
        if (local[i] == 0) local[i] = n++;
    out->n = n;
    out->global = cw_malloc_array((size_t)(n > 0 ? n : 1), sizeof(int64_t));
    out->adj.n = n;
    out->adj.indptr = cw_calloc((size_t)n + 1, sizeof(int64_t));
    if (!out->global || !out->adj.indptr) goto oom;
    for (int64_t i = 0; i < g->n; i++)
        if (local[i] >= 0) {
            int64_t li = local[i], d = 0;
            out->global[li] = i;
            for (int64_t q = g->indptr[i]; q < g->indptr[i + 1]; q++) d += local[g->indices[q]] >= 0;
            out->adj.indptr[li + 1] = out->adj.indptr[li] + d;
        }
    out->adj.nnz = out->adj.indptr[n];
    out->adj.indices = cw_malloc_array((size_t)(out->adj.nnz > 0 ? out->adj.nnz : 1), sizeof(int32_t));
    if (!out->adj.indices) goto oom;
    for (int64_t li = 0, w = 0; li < n; li++) {
        int64_t i = out->global[li];
        for (int64_t q = g->indptr[i]; q < g->indptr[i + 1]; q++)
            if (local[g->indices[q]] >= 0) out->adj.indices[w++] = (int32_t)local[g->indices[q]];
    }
    cw_free(local);
    return CW_OK;
oom:
    cw_free(local);
    cw_subgraph_free(out);
    return cw_fail(CW_ENOMEM, "subgraph: out of memory");
}

void cw_subgraph_free(cw_subgraph *s) {
    cw_free(s->global);
    cw_adj_free(&s->adj);
    memset(s, 0, sizeof *s);
}
