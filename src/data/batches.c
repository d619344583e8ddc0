/* batches.c: one-perturbation-per-batch sampler and evaluation iterator (spec §2.5; the
 * epoch procedure and its rng draw order are documented in batches.h). */
#include "data/batches.h"

#include "core/alloc.h"
#include "core/status.h"

#include <string.h>

/* Eligible cells grouped by perturbation id (file order inside a group). */
static cw_status group_cells(const cw_perturb_design *d, const int8_t *role, int want_role,
                             cw_pert_filter filter, int64_t *n_groups, int64_t **group_pert,
                             int64_t **group_off, int64_t *n_cells, int64_t **cells) {
    *group_pert = *group_off = *cells = NULL;
    *n_groups = *n_cells = 0;
    if (role && want_role != CW_ROLE_TRAIN && want_role != CW_ROLE_VAL && want_role != CW_ROLE_TEST)
        return cw_fail(CW_EINVAL, "batches: role %d is not train, val or test", want_role);
    if (filter != CW_PERTS_ALL && filter != CW_PERTS_SINGLES && filter != CW_PERTS_COMBOS)
        return cw_fail(CW_EINVAL, "batches: unknown perturbation filter %d", (int)filter);
    int64_t p0 = filter == CW_PERTS_COMBOS ? d->n_singles : 0;
    int64_t p1 = filter == CW_PERTS_SINGLES ? d->n_singles : d->n_perts;
    int64_t ng = 0, nc = 0;
    for (int64_t p = p0; p < p1; p++) {
        const int64_t *c = cw_perturb_cells(d, p);
        int64_t k = 0;
        for (int64_t j = 0; j < cw_perturb_n_cells(d, p); j++)
            k += !role || role[c[j]] == want_role;
        ng += k > 0;
        nc += k;
    }
    int64_t *gp = cw_malloc_array((size_t)(ng > 0 ? ng : 1), sizeof *gp);
    int64_t *go = cw_malloc_array((size_t)ng + 1, sizeof *go);
    int64_t *cs = cw_malloc_array((size_t)(nc > 0 ? nc : 1), sizeof *cs);
    if (!gp || !go || !cs) {
        cw_free(gp);
        cw_free(go);
        cw_free(cs);
        return cw_fail(CW_ENOMEM, "batches: out of memory grouping %lld cells", (long long)nc);
    }
    int64_t g = 0, m = 0;
    go[0] = 0;
    for (int64_t p = p0; p < p1; p++) {
        const int64_t *c = cw_perturb_cells(d, p);
        int64_t m0 = m;
        for (int64_t j = 0; j < cw_perturb_n_cells(d, p); j++)
            if (!role || role[c[j]] == want_role) cs[m++] = c[j];
        if (m > m0) {
            gp[g] = p;
            go[++g] = m;
        }
    }
    *n_groups = ng;
    *group_pert = gp;
    *group_off = go;
    *n_cells = nc;
    *cells = cs;
    return CW_OK;
}

void cw_sampler_free(cw_sampler *s) {
    cw_free(s->group_pert);
    cw_free(s->group_off);
    cw_free(s->cells_file);
    cw_free(s->cells_work);
    cw_free(s->chunk_start);
    cw_free(s->chunk_pert);
    cw_free(s->order);
    cw_free(s->batch_cells);
    cw_free(s->batch_pert);
    memset(s, 0, sizeof *s);
}

cw_status cw_sampler_init(cw_sampler *s, const cw_perturb_design *d, const int8_t *role,
                          int want_role, cw_pert_filter filter, int64_t batch_size) {
    memset(s, 0, sizeof *s);
    if (batch_size < 1)
        return cw_fail(CW_EINVAL, "batches: batch size %lld must be positive",
                       (long long)batch_size);
    CW_TRY(group_cells(d, role, want_role, filter, &s->n_groups, &s->group_pert, &s->group_off,
                       &s->n_cells, &s->cells_file));
    s->batch_size = batch_size;
    int64_t nb = 0;
    for (int64_t g = 0; g < s->n_groups; g++)
        nb += (s->group_off[g + 1] - s->group_off[g]) / batch_size;
    s->n_batches = nb;
    size_t nb1 = (size_t)(nb > 0 ? nb : 1);
    s->cells_work = cw_malloc_array((size_t)(s->n_cells > 0 ? s->n_cells : 1), sizeof(int64_t));
    s->chunk_start = cw_malloc_array(nb1, sizeof(int64_t));
    s->chunk_pert = cw_malloc_array(nb1, sizeof(int64_t));
    s->order = cw_malloc_array(nb1, sizeof(int64_t));
    s->batch_cells = cw_malloc_array(nb1, (size_t)batch_size * sizeof(int64_t));
    s->batch_pert = cw_malloc_array(nb1, sizeof(int64_t));
    if (!s->cells_work || !s->chunk_start || !s->chunk_pert || !s->order || !s->batch_cells ||
        !s->batch_pert) {
        cw_sampler_free(s);
        return cw_fail(CW_ENOMEM, "batches: out of memory for %lld batches of %lld", (long long)nb,
                       (long long)batch_size);
    }
    int64_t k = 0;
    for (int64_t g = 0; g < s->n_groups; g++)
        for (int64_t j = 0; j + batch_size <= s->group_off[g + 1] - s->group_off[g];
             j += batch_size) {
            s->chunk_start[k] = s->group_off[g] + j;
            s->chunk_pert[k] = s->group_pert[g];
            k++;
        }
    CW_ASSERT(k == nb);
    return CW_OK;
}

void cw_sampler_epoch(cw_sampler *s, cw_rng *rng) {
    const int64_t B = s->batch_size;
    memcpy(s->cells_work, s->cells_file, (size_t)s->n_cells * sizeof(int64_t));
    for (int64_t g = 0; g < s->n_groups; g++)
        cw_rng_shuffle_i64(rng, s->cells_work + s->group_off[g],
                           s->group_off[g + 1] - s->group_off[g]);
    for (int64_t k = 0; k < s->n_batches; k++) s->order[k] = k;
    cw_rng_shuffle_i64(rng, s->order, s->n_batches);
    for (int64_t b = 0; b < s->n_batches; b++) {
        int64_t k = s->order[b];
        memcpy(s->batch_cells + b * B, s->cells_work + s->chunk_start[k],
               (size_t)B * sizeof(int64_t));
        s->batch_pert[b] = s->chunk_pert[k];
    }
    s->epochs++;
}

void cw_sampler_epoch_rng(cw_rng *r, uint64_t seed, int role, int64_t epoch) {
    cw_rng_substream(r, seed, CW_RNG_STREAM_BATCHES + ((uint64_t)role << 48) + (uint64_t)epoch);
}

cw_status cw_eval_iter_init(cw_eval_iter *it, const cw_perturb_design *d, const int8_t *role,
                            int want_role, cw_pert_filter filter) {
    memset(it, 0, sizeof *it);
    return group_cells(d, role, want_role, filter, &it->n_groups, &it->group_pert, &it->group_off,
                       &it->n_cells, &it->cells);
}

int cw_eval_iter_next(cw_eval_iter *it, int64_t *pert, const int64_t **cells, int64_t *n) {
    if (it->next >= it->n_groups) return 0;
    int64_t g = it->next++;
    *pert = it->group_pert[g];
    *cells = it->cells + it->group_off[g];
    *n = it->group_off[g + 1] - it->group_off[g];
    return 1;
}

void cw_eval_iter_reset(cw_eval_iter *it) { it->next = 0; }

void cw_eval_iter_free(cw_eval_iter *it) {
    cw_free(it->group_pert);
    cw_free(it->group_off);
    cw_free(it->cells);
    memset(it, 0, sizeof *it);
}
