/* run.c: opening a training run directory (see run.h). */
#include "models/run.h"

#include "core/alloc.h"
#include "core/rng.h"
#include "core/status.h"
#include "data/pairing.h"
#include "data/perturb_h5ad.h"
#include "io/checkpoint.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

cw_status cw_run_read_config(const char *path, json_t *j, cw_train_opts *o,
                             cw_strings *controls) {
    cw_train_opts_default(o);
    const char *need[] = {"model", "data", "perturbation_key", "control_labels", "separators",
                          "split", "seed", "epochs", "batch_size", "latent_dim", "hidden", "lr",
                          "alpha", "beta", "temp", "lambda", "grad_clamp", "test_cells",
                          "val_cells", "test_fraction", "val_fraction"};
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++)
        if (!json_object_get(j, need[i]))
            return cw_fail(CW_EFORMAT, "%s: missing key '%s'", path, need[i]);
    o->model = json_string_value(json_object_get(j, "model"));
    o->data_path = json_string_value(json_object_get(j, "data"));
    o->perturbation_key = json_string_value(json_object_get(j, "perturbation_key"));
    o->separators = json_string_value(json_object_get(j, "separators"));
    const char *split = json_string_value(json_object_get(j, "split"));
    if (!split || cw_split_kind_parse(split, &o->split_kind))
        return cw_fail(CW_EFORMAT, "%s: split: unknown kind", path);
    const char *seed = json_string_value(json_object_get(j, "seed"));
    if (!seed) return cw_fail(CW_EFORMAT, "%s: seed must be a string", path);
    o->seed = strtoull(seed, NULL, 10);
    o->epochs = json_integer_value(json_object_get(j, "epochs"));
    o->batch = json_integer_value(json_object_get(j, "batch_size"));
    o->latent = json_integer_value(json_object_get(j, "latent_dim"));
    o->hidden = json_integer_value(json_object_get(j, "hidden"));
    o->lr = json_number_value(json_object_get(j, "lr"));
    o->alpha = json_number_value(json_object_get(j, "alpha"));
    o->beta = json_number_value(json_object_get(j, "beta"));
    o->temp = json_number_value(json_object_get(j, "temp"));
    o->lambda = json_number_value(json_object_get(j, "lambda"));
    o->grad_clamp = json_number_value(json_object_get(j, "grad_clamp"));
    o->test_cells = json_integer_value(json_object_get(j, "test_cells"));
    o->val_cells = json_integer_value(json_object_get(j, "val_cells"));
    o->test_fraction = json_number_value(json_object_get(j, "test_fraction"));
    o->val_fraction = json_number_value(json_object_get(j, "val_fraction"));
    /* the family's options (absent in runs made before issue #4: the cmvae defaults) */
    json_t *v;
    if ((v = json_object_get(j, "gnn")) && json_is_string(v)) o->gnn = json_string_value(v);
    if ((v = json_object_get(j, "gnn_layers")) && json_is_integer(v))
        o->gnn_layers = (int)json_integer_value(v);
    if ((v = json_object_get(j, "gnn_widths")) && json_is_array(v))
        for (size_t l = 0; l < json_array_size(v) && l < 7; l++)
            o->gnn_widths[l] = json_integer_value(json_array_get(v, l));
    if ((v = json_object_get(j, "gnn_heads")) && json_is_integer(v))
        o->gnn_heads = json_integer_value(v);
    if ((v = json_object_get(j, "interv_encoder")) && json_is_string(v))
        o->interv_encoder = json_string_value(v);
    if ((v = json_object_get(j, "interv_dropout")) && json_is_number(v))
        o->interv_dropout = json_number_value(v);
    if ((v = json_object_get(j, "lambda_laplacian")) && json_is_number(v))
        o->lambda_laplacian = json_number_value(v);
    if ((v = json_object_get(j, "extra_input_obsm")) && json_is_string(v))
        o->extra_obsm = json_string_value(v);
    if ((v = json_object_get(j, "sena_free_units")) && json_is_integer(v))
        o->sena_free_units = json_integer_value(v);
    if ((v = json_object_get(j, "sena_lambda")) && json_is_number(v))
        o->sena_lambda = json_number_value(v);
    if ((v = json_object_get(j, "sena_min_genes")) && json_is_integer(v))
        o->sena_min_genes = json_integer_value(v);
    json_t *gf = json_object_get(j, "graph_files");
    if (json_is_object(gf)) {
        o->graph.gmt = json_string_value(json_object_get(gf, "gmt"));
        o->graph.relations = json_string_value(json_object_get(gf, "relations"));
        o->graph.ppi = json_string_value(json_object_get(gf, "ppi"));
        o->graph.gene_column = json_string_value(json_object_get(gf, "gene_column"));
        o->graph.levels = json_string_value(json_object_get(gf, "levels"));
        o->graph.involved_only = json_is_true(json_object_get(gf, "involved_only"));
        o->graph.corrupt_fraction = json_number_value(json_object_get(gf, "corrupt"));
        const char *gs = json_string_value(json_object_get(gf, "seed"));
        if (gs) {
            o->graph.seed = strtoull(gs, NULL, 10);
            o->graph_seed_set = 1;
        }
    }
    json_t *cl = json_object_get(j, "control_labels");
    size_t i;
    if (json_is_array(cl)) {
        json_array_foreach(cl, i, v) {
            if (!json_is_string(v))
                return cw_fail(CW_EFORMAT, "%s: control_labels must be strings", path);
            CW_TRY(cw_strings_push(controls, json_string_value(v)));
        }
        o->controls = controls;
    }
    if (!o->model || !o->data_path || !o->perturbation_key || !o->separators)
        return cw_fail(CW_EFORMAT, "%s: model, data, perturbation_key and separators must be "
                                   "strings", path);
    return CW_OK;
}

const float *cw_run_gather_extra(const cw_run *r, const int64_t *cells, int64_t n, float *out) {
    if (r->mi.extra_dim == 0) return NULL;
    cw_model_gather_extra(&r->mi, cells, n, out);
    return out;
}

void cw_run_close(cw_run *r) {
    cw_xstore_close(&r->x);
    if (r->h) cw_h5ad_close(r->h);
    cw_split_free(&r->split);
    cw_perturb_design_free(&r->d);
    cw_free(r->pair);
    cw_cmvae_free(&r->model);
    cw_model_inputs_free(&r->mi);
    cw_strings_free(&r->controls);
    json_decref(r->config);
    cw_free(r->dir);
    memset(r, 0, sizeof *r);
}

/* The design must be the one the model was trained on: same targets, same gene count. */
static cw_status check_design(const cw_run *r, const char *cpath) {
    json_t *c = r->config;
    json_t *genes = json_object_get(c, "genes"), *names = json_object_get(c, "target_names");
    if (json_is_integer(genes) && json_integer_value(genes) != r->x.ncols)
        return cw_fail(CW_EFORMAT, "%s: %lld genes, but the run %s was trained on %lld",
                       r->opts.data_path, (long long)r->x.ncols, cpath,
                       (long long)json_integer_value(genes));
    if (json_is_array(names)) {
        if ((int64_t)json_array_size(names) != r->d.n_targets)
            return cw_fail(CW_EFORMAT, "%s: %lld targets, but the run %s was trained on %lld",
                           r->opts.data_path, (long long)r->d.n_targets, cpath,
                           (long long)json_array_size(names));
        for (int64_t t = 0; t < r->d.n_targets; t++) {
            const char *s = json_string_value(json_array_get(names, (size_t)t));
            if (!s || strcmp(s, r->d.targets.s[t]) != 0)
                return cw_fail(CW_EFORMAT, "%s: target %lld is '%s', the run %s has '%s'",
                               r->opts.data_path, (long long)t, r->d.targets.s[t], cpath,
                               s ? s : "(not a string)");
        }
    }
    return CW_OK;
}

static cw_status open_run(cw_run *r, const char *dir, const char *data_override,
                          int64_t memory_cap) {
    char path[4200];
    r->dir = cw_strdup(dir);
    if (!r->dir) return cw_fail(CW_ENOMEM, "out of memory");
    snprintf(path, sizeof path, "%s/config.json", dir);
    json_error_t err;
    r->config = json_load_file(path, 0, &err);
    if (!r->config) return cw_fail(CW_EIO, "%s: cannot read the run's config (%s)", path, err.text);
    CW_TRY(cw_run_read_config(path, r->config, &r->opts, &r->controls));
    r->opts.out_dir = r->dir;
    if (data_override) r->opts.data_path = data_override;
    if (cw_model_kind_parse(r->opts.model) < 0)
        return cw_fail(CW_EFORMAT, "%s: model '%s' is not a model of this version (cmvae, grace, "
                       "vgae, multihot, sena)", path, r->opts.model);
    if (r->opts.batch < 1 || r->opts.hidden < 1 || r->opts.latent < 0)
        return cw_fail(CW_EFORMAT, "%s: batch_size, hidden and latent_dim out of range", path);
    /* data and design, as trainer.c builds them */
    CW_TRY(cw_h5ad_open(r->opts.data_path, &r->h));
    CW_TRY(cw_h5ad_check_x_finite(r->h));
    cw_perturb_opts po;
    cw_perturb_opts_default(&po);
    po.controls = r->opts.controls;
    po.separators = r->opts.separators;
    const char *key = r->opts.perturbation_key[0] ? r->opts.perturbation_key : NULL;
    CW_TRY(cw_perturb_design_from_h5ad(&r->d, r->h, key, &po));
    CW_TRY(cw_xstore_open(&r->x, r->h, memory_cap));
    CW_TRY(check_design(r, path));
    /* split and pairing */
    snprintf(path, sizeof path, "%s/split.json", dir);
    CW_TRY(cw_split_load(&r->split, &r->d, path));
    r->pair = cw_malloc_array((size_t)r->d.n_cells, sizeof(int64_t));
    if (!r->pair) return cw_fail(CW_ENOMEM, "out of memory");
    CW_TRY(cw_pair_controls(&r->d, r->opts.seed, r->pair));
    /* model: the trainer's configuration; initial values are overwritten by the checkpoint */
    const int64_t G = r->x.ncols, C = r->d.n_targets;
    cw_cmvae_config mc;
    CW_TRY(cw_model_setup(&r->mi, &mc, &r->opts, r->h, &r->d, G,
                          r->opts.latent > 0 ? r->opts.latent : C));
    snprintf(path, sizeof path, "%s/config.json", dir);
    CW_TRY(cw_model_inputs_check(&r->mi, r->config, path));
    cw_rng init;
    cw_rng_seed(&init, r->opts.seed);
    CW_TRY(cw_cmvae_init(&r->model, &mc, &init));
    snprintf(path, sizeof path, "%s/checkpoint.ckpt", dir);
    cw_ckpt_meta meta;
    memset(&meta, 0, sizeof meta);
    CW_TRY(cw_checkpoint_load(path, &r->model.table, &meta));
    r->epoch = meta.epoch;
    r->step = meta.step;
    r->model.t = meta.step;
    cw_status st = CW_OK;
    if (!meta.model || strcmp(meta.model, r->opts.model) != 0)
        st = cw_fail(CW_EFORMAT, "%s: model '%s', the run's config says %s", path,
                     meta.model ? meta.model : "", r->opts.model);
    cw_ckpt_meta_free(&meta);
    return st;
}

cw_status cw_run_open(cw_run *r, const char *dir, const char *data_override) {
    return cw_run_open_capped(r, dir, data_override, 0);
}

cw_status cw_run_open_capped(cw_run *r, const char *dir, const char *data_override,
                             int64_t memory_cap) {
    memset(r, 0, sizeof *r);
    cw_status st = open_run(r, dir, data_override, memory_cap);
    if (st) cw_run_close(r);
    return st;
}

cw_status cw_run_write_json(const char *path, json_t *j) {
    char tmp[4400];
    snprintf(tmp, sizeof tmp, "%s.tmp-%ld", path, (long)getpid());
    if (json_dump_file(j, tmp, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17))) {
        remove(tmp);
        return cw_fail(CW_EIO, "%s: cannot write", path);
    }
    if (rename(tmp, path) != 0) {
        remove(tmp);
        return cw_fail(CW_EIO, "%s: cannot rename into place: %s", path, strerror(errno));
    }
    return CW_OK;
}
