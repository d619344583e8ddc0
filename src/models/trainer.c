/* trainer.c: the training driver (see trainer.h).
 *
 * Data parallel (issue #6 item 4; `mpirun -np R causeway train ...`, core/dist.h): every process
 * reads the data, builds the same model from the same seed (then takes rank 0's parameters and
 * Adam moments, one broadcast) and draws the same batches in the same order; of every global
 * batch of --batch-size cells it encodes and decodes its cw_dist_shard rows, and the model sums
 * the gradient over the group once per step (cw_cmvae_set_shard), so every process takes the
 * same Adam step as one process on the whole batch. Only rank 0 prints and writes the run
 * directory; after each of its writes the group agrees (cw_dist_agree) so that all continue or
 * all stop. The data file (and, to resume, the run directory) must be readable by every process. */
#include "models/trainer.h"

#include "core/alloc.h"
#include "core/dist.h"
#include "core/rng.h"
#include "core/status.h"
#include "core/timer.h"
#include "data/batches.h"
#include "data/pairing.h"
#include "data/perturb_h5ad.h"
#include "io/checkpoint.h"
#include "io/h5ad.h"
#include "io/xstore.h"
#include "la/blas_info.h"
#include "nn/gemm_small.h"
#include "models/cmvae.h"
#include "models/model_setup.h"
#include "models/run.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CW_RNG_STREAM_MODEL 0x4D4F44454Cull /* "MODEL" */
#define CW_RNG_STREAM_TRAIN 0x545241494Eull /* "TRAIN" */

void openblas_set_num_threads(int);

void cw_train_opts_default(cw_train_opts *o) {
    memset(o, 0, sizeof *o);
    o->model = "cmvae";
    o->split_kind = CW_SPLIT_REFERENCE;
    o->test_cells = o->val_cells = -1;
    o->test_fraction = o->val_fraction = -1;
    o->epochs = 100;
    o->batch = 32;
    o->hidden = 128;
    o->lr = 1e-3;
    o->alpha = 8; /* GraCE code defaults, spec §5.5 */
    o->beta = 2;
    o->temp = 4;
    o->lambda = 1e-4;
    o->gnn = "sage";
    o->gnn_layers = 1;
    o->interv_encoder = "mlp";
    o->interv_dropout = -1;
    o->lambda_laplacian = -1;
    o->sena_free_units = 8;
    o->sena_lambda = 0;
    o->sena_min_genes = 5;
}

/* ---- config.json -------------------------------------------------------------------------- */

static json_t *str_or_null(const char *s) { return s ? json_string(s) : json_null(); }

static json_t *config_json(const cw_train_opts *o, const cw_perturb_design *d, int64_t genes,
                           int64_t latent, const cw_cmvae *model, const cw_model_inputs *mi) {
    const cw_cmvae_config *mc = &model->cfg;
    char seed[32];
    snprintf(seed, sizeof seed, "%" PRIu64, o->seed);
    json_t *c = json_object();
    json_object_set_new(c, "model", json_string(o->model));
    json_object_set_new(c, "data", json_string(o->data_path));
    json_object_set_new(c, "perturbation_key", json_string(d->key));
    /* the labels the user named (null: the defaults); the design's list is reported by info */
    json_t *cl = json_null();
    if (o->controls) {
        cl = json_array();
        for (int64_t i = 0; i < o->controls->n; i++)
            json_array_append_new(cl, json_string(o->controls->s[i]));
    }
    json_object_set_new(c, "control_labels", cl);
    json_object_set_new(c, "separators", json_string(d->separators));
    json_object_set_new(c, "split", json_string(cw_split_kind_name(o->split_kind)));
    json_object_set_new(c, "test_cells", json_integer(o->test_cells));
    json_object_set_new(c, "val_cells", json_integer(o->val_cells));
    json_object_set_new(c, "test_fraction", json_real(o->test_fraction));
    json_object_set_new(c, "val_fraction", json_real(o->val_fraction));
    json_object_set_new(c, "seed", json_string(seed));
    json_object_set_new(c, "epochs", json_integer(o->epochs));
    json_object_set_new(c, "batch_size", json_integer(o->batch));
    json_object_set_new(c, "genes", json_integer(genes));
    json_object_set_new(c, "latent_dim", json_integer(latent));
    json_object_set_new(c, "targets", json_integer(d->n_targets));
    json_object_set_new(c, "hidden", json_integer(o->hidden));
    json_object_set_new(c, "lr", json_real(o->lr));
    json_object_set_new(c, "alpha", json_real(o->alpha));
    json_object_set_new(c, "beta", json_real(o->beta));
    json_object_set_new(c, "temp", json_real(o->temp));
    json_object_set_new(c, "lambda", json_real(o->lambda));
    json_object_set_new(c, "grad_clamp", json_real(o->grad_clamp));
    /* the family's options (issue #4), as in effect */
    json_object_set_new(c, "gnn", json_string(cw_gnn_kind_name(mc->gnn.kind)));
    json_object_set_new(c, "gnn_layers", json_integer(mc->gnn.layers));
    json_t *wd = json_array();
    for (int l = 0; l + 1 < mc->gnn.layers; l++) json_array_append_new(wd, json_integer(mc->gnn.widths[l]));
    json_object_set_new(c, "gnn_widths", wd);
    json_object_set_new(c, "gnn_heads", json_integer(mc->gnn.heads));
    json_object_set_new(c, "interv_encoder", json_string(cw_interv_kind_name(mc->interv)));
    json_object_set_new(c, "interv_dropout", json_real(o->interv_dropout));
    json_object_set_new(c, "lambda_laplacian", json_real(mc->lambda_laplacian));
    json_object_set_new(c, "extra_input_obsm", str_or_null(o->extra_obsm));
    json_object_set_new(c, "extra_inputs", json_integer(mc->extra_inputs));
    json_object_set_new(c, "sena_free_units", json_integer(o->sena_free_units));
    json_object_set_new(c, "sena_lambda", json_real(o->sena_lambda));
    json_object_set_new(c, "sena_min_genes", json_integer(o->sena_min_genes));
    json_t *gf = json_object();
    json_object_set_new(gf, "gmt", str_or_null(o->graph.gmt));
    json_object_set_new(gf, "relations", str_or_null(o->graph.relations));
    json_object_set_new(gf, "ppi", str_or_null(o->graph.ppi));
    json_object_set_new(gf, "gene_column", str_or_null(o->graph.gene_column));
    json_object_set_new(gf, "levels", str_or_null(o->graph.levels));
    json_object_set_new(gf, "involved_only", json_boolean(o->graph.involved_only));
    json_object_set_new(gf, "corrupt", json_real(o->graph.corrupt_fraction));
    char gseed[32];
    snprintf(gseed, sizeof gseed, "%" PRIu64, o->graph_seed_set ? o->graph.seed : o->seed);
    json_object_set_new(gf, "seed", json_string(gseed));
    json_object_set_new(c, "graph_files", gf);
    json_t *g = cw_model_inputs_json(mi);
    json_object_set_new(c, "graph", g ? g : json_null());
    json_object_set_new(c, "parameters", json_integer(cw_cmvae_n_params(model)));
    json_t *t = json_array();
    for (int64_t i = 0; i < d->n_targets; i++) json_array_append_new(t, json_string(d->targets.s[i]));
    json_object_set_new(c, "target_names", t);
    json_object_set_new(c, "causeway_version", json_string(CW_VERSION));
    return c;
}

/* ---- the loop ------------------------------------------------------------------------------ */

typedef struct {
    cw_h5ad *h;
    cw_xstore x;
    cw_perturb_design d;
    cw_split split;
    int64_t *pair;
    cw_sampler sampler;
    cw_cmvae model;
    cw_model_inputs mi;
    float *xb, *yb, *eb;
    int64_t *ctrl_cells;
    int64_t *window; /* rows of the batches loaded together when X streams */
    cw_csr xcsr;     /* the controls as CSR, for models whose fc1 reads sparse x */
    int64_t xcsr_rows, xcsr_nnz;
    FILE *log;
    json_t *config;
} train_state;

static void state_free(train_state *s) {
    cw_xstore_close(&s->x);
    if (s->h) cw_h5ad_close(s->h);
    cw_split_free(&s->split);
    cw_perturb_design_free(&s->d);
    cw_free(s->pair);
    cw_sampler_free(&s->sampler);
    cw_cmvae_free(&s->model);
    cw_model_inputs_free(&s->mi);
    cw_free(s->xb);
    cw_free(s->yb);
    cw_free(s->eb);
    cw_free(s->ctrl_cells);
    cw_free(s->window);
    cw_csr_free(&s->xcsr);
    if (s->log) fclose(s->log);
    json_decref(s->config);
    memset(s, 0, sizeof *s);
}

static void progress_bar(int64_t epoch, int64_t epochs, int64_t b, int64_t nb, double loss,
                         double rate, double eta) {
    fprintf(stderr, "\repoch %lld/%lld [%3lld%%] loss %.4f  %.0f cells/s  ETA %.0fs   ",
            (long long)epoch + 1, (long long)epochs, (long long)(100 * (b + 1) / (nb ? nb : 1)),
            loss, rate, eta);
    fflush(stderr);
}

/* Streaming X: loads the rows of batches b, b + 1, ... (the rows this process reads: all cells
 * of a batch, the paired controls of its shard) as long as they fit the window, so each window
 * is one sorted pass over the file. The batches' order and contents do not change. */
static cw_status load_window(train_state *s, int64_t b, int64_t batch, int64_t row0, int64_t rows) {
    int64_t n = 0, bytes = 0; /* s->window holds 2 * batch rows per batch: rows <= batch */
    for (int64_t k = b; k < s->sampler.n_batches; k++) {
        const int64_t *cells = cw_sampler_batch(&s->sampler, k);
        int64_t add = 0;
        for (int64_t i = 0; i < batch; i++) add += cw_xstore_row_bytes(&s->x, cells[i]);
        for (int64_t i = 0; i < rows; i++)
            add += cw_xstore_row_bytes(&s->x, s->pair[cells[row0 + i]]);
        if (k > b && bytes + add > s->x.window_bytes) break;
        for (int64_t i = 0; i < batch; i++) s->window[n++] = cells[i];
        for (int64_t i = 0; i < rows; i++) s->window[n++] = s->pair[cells[row0 + i]];
        bytes += add;
    }
    return cw_xstore_load(&s->x, s->window, n);
}

static cw_status run(const cw_train_opts *o, int resume) {
    train_state s;
    memset(&s, 0, sizeof s);
    cw_status st = CW_OK;
    char path[4096];
    CW_TRY(cw_dist_init());
    const int rank = cw_dist_rank(), nproc = cw_dist_size(), lead = rank == 0;
    const int quiet = o->quiet || !lead, progress_tty = o->progress_tty && lead;
    if (o->threads > 0) {
        omp_set_num_threads(o->threads);
        openblas_set_num_threads(o->threads);
    }
    if (cw_model_kind_parse(o->model) < 0)
        return cw_fail(CW_EINVAL, "--model: '%s' is not a model (cmvae, grace, vgae, multihot, "
                       "sena)", o->model);
    /* data */
    if ((st = cw_h5ad_open(o->data_path, &s.h))) goto done;
    if ((st = cw_h5ad_check_x_finite(s.h))) goto done;
    {
        cw_perturb_opts po;
        cw_perturb_opts_default(&po);
        po.controls = o->controls;
        po.separators = o->separators;
        if ((st = cw_perturb_design_from_h5ad(&s.d, s.h, o->perturbation_key, &po))) goto done;
    }
    if ((st = cw_xstore_open(&s.x, s.h, o->memory_cap))) goto done;
    const int64_t G = s.x.ncols, C = s.d.n_targets;
    const int64_t Z = o->latent > 0 ? o->latent : C;
    if (C == 0) {
        st = cw_fail(CW_EFORMAT, "%s: no perturbed cells to train on", o->data_path);
        goto done;
    }
    /* the model's graphs and extra inputs first: a bad option or graph file writes nothing */
    cw_cmvae_config mc;
    if ((st = cw_model_setup(&s.mi, &mc, o, s.h, &s.d, G, Z))) goto done;
    cw_rng init_rng, rng;
    cw_rng_substream(&init_rng, o->seed, CW_RNG_STREAM_MODEL);
    cw_rng_substream(&rng, o->seed, CW_RNG_STREAM_TRAIN);
    if ((st = cw_cmvae_init(&s.model, &mc, &init_rng))) goto done;
    if ((st = cw_cmvae_set_shard(&s.model, rank, nproc))) goto done;
    if (lead && !resume && mkdir(o->out_dir, 0777) != 0 && errno != EEXIST)
        st = cw_fail(CW_EIO, "%s: cannot create the run directory: %s", o->out_dir,
                     strerror(errno));
    if ((st = cw_dist_agree(st))) goto done;
    /* split: a fresh run makes (or loads) it and saves it; a resumed run loads its own */
    snprintf(path, sizeof path, "%s/split.json", o->out_dir);
    if (resume || o->split_file) {
        if ((st = cw_split_load(&s.split, &s.d, resume ? path : o->split_file))) goto done;
    } else {
        cw_split_opts so;
        cw_split_opts_default(&so, o->split_kind);
        so.seed = o->seed;
        so.batch_size = o->batch;
        if (o->test_cells >= 0) so.test_cells = o->test_cells;
        if (o->val_cells >= 0) so.val_cells = o->val_cells;
        if (o->test_fraction >= 0) so.test_fraction = o->test_fraction;
        if (o->val_fraction >= 0) so.val_fraction = o->val_fraction;
        if ((st = cw_split_make(&s.split, &s.d, &so))) {
            cw_fail_prefix(st, "%s", o->data_path);
            goto done;
        }
    }
    if (lead && !resume) st = cw_split_save(&s.split, &s.d, path);
    if ((st = cw_dist_agree(st))) goto done;
    s.pair = cw_malloc_array((size_t)s.d.n_cells, sizeof(int64_t));
    if (!s.pair) {
        st = cw_fail(CW_ENOMEM, "out of memory");
        goto done;
    }
    if ((st = cw_pair_controls(&s.d, o->seed, s.pair))) goto done;
    if ((st = cw_sampler_init(&s.sampler, &s.d, s.split.role, CW_ROLE_TRAIN, CW_PERTS_SINGLES,
                              o->batch)))
        goto done;
    if (s.sampler.n_batches == 0) {
        st = cw_fail(CW_EINVAL,
                     "%s: no training batch: no single perturbation has %lld training cells; "
                     "lower --batch-size or change the split",
                     o->data_path, (long long)o->batch);
        goto done;
    }
    /* model */
    s.config = config_json(o, &s.d, G, Z, &s.model, &s.mi);
    if (resume) {
        snprintf(path, sizeof path, "%s/config.json", o->out_dir);
        json_t *saved = json_load_file(path, 0, NULL);
        st = saved ? cw_model_inputs_check(&s.mi, saved, path) : CW_OK;
        json_decref(saved);
        if (st) goto done;
    }
    char *cfg_txt = json_dumps(s.config, JSON_PRESERVE_ORDER | JSON_COMPACT | JSON_REAL_PRECISION(17));
    int64_t epoch0 = 0;
    snprintf(path, sizeof path, "%s/checkpoint.ckpt", o->out_dir);
    if (resume) {
        cw_ckpt_meta meta;
        if ((st = cw_checkpoint_load(path, &s.model.table, &meta))) {
            free(cfg_txt);
            goto done;
        }
        epoch0 = meta.epoch;
        s.model.t = meta.step;
        rng = meta.rng;
        cw_ckpt_meta_free(&meta);
    } else if (lead) {
        char cpath[4200];
        snprintf(cpath, sizeof cpath, "%s/config.json", o->out_dir);
        st = cw_run_write_json(cpath, s.config);
    }
    char lpath[4200];
    snprintf(lpath, sizeof lpath, "%s/train_log.jsonl", o->out_dir);
    if (st == CW_OK && lead && !(s.log = fopen(lpath, resume ? "a" : "w")))
        st = cw_fail(CW_EIO, "%s: cannot write: %s", lpath, strerror(errno));
    s.xb = cw_malloc_array((size_t)(o->batch * G), sizeof(float));
    s.yb = cw_malloc_array((size_t)(o->batch * G), sizeof(float));
    s.eb = cw_malloc_array((size_t)(o->batch * (s.mi.extra_dim + 1)), sizeof(float));
    s.ctrl_cells = cw_malloc_array((size_t)o->batch, sizeof(int64_t));
    if (s.x.streaming)
        s.window = cw_malloc_array((size_t)(s.sampler.n_batches * 2 * o->batch), sizeof(int64_t));
    if (st == CW_OK && (!s.xb || !s.yb || !s.eb || !s.ctrl_cells || (s.x.streaming && !s.window)))
        st = cw_fail(CW_ENOMEM, "out of memory");
    if ((st = cw_dist_agree(st))) {
        free(cfg_txt);
        goto done;
    }
    /* the same start on every process: rank 0's parameters and Adam moments */
    if (nproc > 1) {
        const int64_t bytes = s.model.table.total * (int64_t)sizeof(float);
        if ((st = cw_dist_bcast(s.model.table.params, bytes, 0)) ||
            (st = cw_dist_bcast(s.model.table.m, bytes, 0)) ||
            (st = cw_dist_bcast(s.model.table.v, bytes, 0))) {
            free(cfg_txt);
            goto done;
        }
    }
    if (!quiet && !resume)
        printf("training %s on %s: %lld train batches/epoch of %lld cells, %lld genes, %lld "
               "targets, latent %lld, %lld parameters, %lld epochs, seed %" PRIu64 "\n",
               o->model, o->data_path, (long long)s.sampler.n_batches, (long long)o->batch,
               (long long)G, (long long)C, (long long)Z, (long long)cw_cmvae_n_params(&s.model),
               (long long)o->epochs, o->seed);
    if (!quiet && nproc > 1)
        printf("data parallel over %d processes: %lld to %lld cells of each batch per process\n",
               nproc, (long long)(o->batch / nproc), (long long)((o->batch + nproc - 1) / nproc));
    /* fc1 reads the batch as CSR when X is sparse enough for that to pay (a property of the data,
     * so a resumed or streamed run takes the same path) */
    const double stored = cw_xstore_stored_fraction(&s.x);
    const int fc1_csr = cw_cmvae_csr_input_pays(&s.model, stored);
    if (!quiet && cw_cmvae_takes_x_csr(&s.model))
        printf("fc1 input: %s (X stores %.1f %% of its values; CSR below %.0f %%)\n",
               fc1_csr ? "CSR" : "dense", 100.0 * stored, 100.0 * CW_CMVAE_CSR_MAX_FRACTION);
    const int64_t row0 = s.model.shard_row0, rows = s.model.shard_rows;
    int64_t end = o->epochs;
    if (o->stop_after > 0 && o->stop_after < end) end = o->stop_after;
    double t_run = cw_now();
    for (int64_t e = epoch0; e < end && st == CW_OK; e++) {
        cw_cmvae_sched w = cw_cmvae_schedule(e, o->epochs, o->alpha, o->beta, o->temp);
        cw_rng erng;
        cw_sampler_epoch_rng(&erng, o->seed, CW_ROLE_TRAIN, e);
        cw_sampler_epoch(&s.sampler, &erng);
        double sum[6] = {0, 0, 0, 0, 0, 0}, t0 = cw_now(), read0 = s.x.read_seconds;
        const char *blas_core = cw_blas_core(); /* OpenBLAS names: letters and digits */
        for (int64_t b = 0; b < s.sampler.n_batches; b++) {
            const int64_t *cells = cw_sampler_batch(&s.sampler, b);
            int64_t p = s.sampler.batch_pert[b];
            /* this process's controls (rows [row0, row0 + rows)), all the batch's real cells */
            for (int64_t i = 0; i < rows; i++) s.ctrl_cells[i] = s.pair[cells[row0 + i]];
            if (s.x.streaming && (!cw_xstore_resident(&s.x, cells, o->batch) ||
                                  !cw_xstore_resident(&s.x, s.ctrl_cells, rows)))
                st = load_window(&s, b, o->batch, row0, rows);
            if (st == CW_OK) st = cw_xstore_gather(&s.x, s.ctrl_cells, rows, s.xb);
            if (st == CW_OK) st = cw_xstore_gather(&s.x, cells, o->batch, s.yb);
            if (st == CW_OK && fc1_csr) { /* fc1 visits the stored entries */
                st = cw_xstore_gather_csr(&s.x, s.ctrl_cells, rows, &s.xcsr, &s.xcsr_rows,
                                          &s.xcsr_nnz);
                if (st == CW_OK) st = cw_cmvae_set_x_csr(&s.model, &s.xcsr);
            }
            if (st) {
                cw_fail_prefix(st, "epoch %lld, batch %lld", (long long)e, (long long)b);
                break;
            }
            cw_model_gather_extra(&s.mi, s.ctrl_cells, rows, s.eb);
            int64_t k = cw_perturb_targets_of(&s.d, p)[0];
            cw_cmvae_losses L;
            st = cw_cmvae_train_step(&s.model, s.xb, s.mi.extra_dim ? s.eb : NULL, s.yb, k, -1,
                                     NULL, &rng, w, &L);
            if (st) {
                cw_fail_prefix(st, "epoch %lld, step %lld, batch %lld (perturbation %s)",
                               (long long)e, (long long)s.model.t + 1, (long long)b,
                               s.d.labels.s[p]);
                break;
            }
            sum[0] += L.total, sum[1] += L.mmd, sum[2] += L.mse, sum[3] += L.kl, sum[4] += L.l1;
            sum[5] += L.lap;
            if (progress_tty && (b % 16 == 0 || b + 1 == s.sampler.n_batches)) {
                double el = cw_now() - t0, rate = (double)((b + 1) * o->batch) / (el > 0 ? el : 1e-9);
                double eta = el / (double)(b + 1) *
                             (double)((end - e) * s.sampler.n_batches - b - 1);
                progress_bar(e, o->epochs, b, s.sampler.n_batches, sum[0] / (double)(b + 1), rate, eta);
            }
        }
        if (st) break;
        double sec = cw_now() - t0, nb = (double)s.sampler.n_batches;
        double rate = nb * (double)o->batch / (sec > 0 ? sec : 1e-9);
        if (s.log) {
            fprintf(s.log,
                    "{\"epoch\": %lld, \"alpha\": %.9g, \"beta\": %.9g, \"tau\": %.9g, "
                    "\"loss\": %.9g, \"mmd\": %.9g, \"mse\": %.9g, \"kl\": %.9g, "
                    "\"l1\": %.9g, \"laplacian\": %.9g, \"batches\": %lld, "
                    "\"seconds\": %.4f, \"cells_per_s\": %.1f, \"x_read_seconds\": %.3f, "
                    "\"peak_rss_mb\": %.1f, \"threads\": %d, \"blas_core\": \"%s\", "
                    "\"blas_core_forced\": %s, \"gemm_small\": %s}\n",
                    (long long)e, w.alpha, w.beta, w.tau, sum[0] / nb, sum[1] / nb, sum[2] / nb,
                    sum[3] / nb, sum[4] / nb, sum[5] / nb, (long long)s.sampler.n_batches, sec,
                    rate, s.x.read_seconds - read0, (double)cw_peak_rss_bytes() / 1048576.0,
                    omp_get_max_threads(), blas_core, cw_blas_core_forced() ? "true" : "false",
                    cw_gemm_small_available() ? "true" : "false");
            fflush(s.log);
        }
        if (progress_tty) fputc('\n', stderr);
        if (!quiet && !progress_tty)
            printf("epoch %lld/%lld loss %.4f mmd %.4f mse %.4f kl %.4f l1 %.4f (%.0f cells/s)\n",
                   (long long)e + 1, (long long)o->epochs, sum[0] / nb, sum[1] / nb, sum[2] / nb,
                   sum[3] / nb, sum[4] / nb, rate);
        cw_ckpt_meta meta = {(char *)o->model, cfg_txt, o->seed, e + 1, s.model.t, rng};
        if (lead) st = cw_checkpoint_save(path, &s.model.table, &meta);
        st = cw_dist_agree(st);
    }
    free(cfg_txt);
    if (st == CW_OK && !quiet)
        printf("%s after %lld of %lld epochs (%.1f s, peak RSS %.0f MB); checkpoint %s\n",
               end < o->epochs ? "stopped" : "finished", (long long)end, (long long)o->epochs,
               cw_now() - t_run, (double)cw_peak_rss_bytes() / 1048576.0, path);
    if (st == CW_OK && !quiet && s.x.streaming)
        printf("X streamed under --memory-cap %.0f MB: %lld loads, %lld rows, %.1f s reading\n",
               (double)o->memory_cap / 1048576.0, (long long)s.x.loads, (long long)s.x.rows_read,
               s.x.read_seconds);
done:
    state_free(&s);
    return st;
}

cw_status cw_train(const cw_train_opts *o) {
    if (!o->data_path || !o->out_dir) return cw_fail(CW_EINVAL, "train: data and --out are required");
    if (o->epochs < 1 || o->batch < 2 || o->hidden < 1 || o->latent < 0 || !(o->lr > 0))
        return cw_fail(CW_EINVAL, "train: --epochs >= 1, --batch-size >= 2, --lr > 0 required");
    return run(o, 0);
}

cw_status cw_train_resume(const char *dir, int64_t stop_after, int progress_tty, int quiet,
                          int64_t memory_cap) {
    char path[4200];
    snprintf(path, sizeof path, "%s/config.json", dir);
    json_error_t err;
    json_t *j = json_load_file(path, 0, &err);
    if (!j) return cw_fail(CW_EIO, "%s: cannot read the run's config (%s)", path, err.text);
    cw_train_opts o;
    cw_strings controls = {0, NULL};
    cw_status st = cw_run_read_config(path, j, &o, &controls);
    if (st == CW_OK) {
        o.out_dir = dir;
        o.stop_after = stop_after;
        o.progress_tty = progress_tty;
        o.quiet = quiet;
        o.memory_cap = memory_cap;
        st = run(&o, 1);
    }
    cw_strings_free(&controls);
    json_decref(j);
    return st;
}
