/* simulate.h: ground-truth Perturb-seq simulator: a latent structural causal model over gene
 * programs with soft interventions, decoded to counts, normalised like scanpy, written as an
 * .h5ad (spec grace_cmvae.md §2.1 fields, §2.3 guide labels, §2.2 DEG table) plus a context
 * graph in the §3.1 formats (GMT, PPI edge list, pathway relations). The model family is the
 * one CMVAE/GraCE assume (§4.0-4.1): latent linear (or nonlinear) SCM on a DAG, interventions
 * shifting exogenous noise, a decoder to gene expression. doc/simulator.md has the long form.
 *
 * Generative model (Z programs, G genes, T targets, C double combinations):
 *  1. DAG: random topological order pi; edge pi[r] -> pi[s] (r < s) with probability
 *     edge_prob, weight +-U(weight_min, weight_max). Then, in topological order, the incoming
 *     weights of node j are scaled by sqrt(1/v_j) when the variance v_j of its parental term
 *     (Monte Carlo, 4096 control draws) exceeds 1, so every latent variance stays in [1, 2].
 *  2. Cell c: exogenous e ~ N(0, I_Z); for each target t of the cell, e[k(t)] += delta_t.
 *     linear:    u_j = e_j + sum_i A_ij u_i
 *     nonlinear: u_j = e_j + sum_i A_ij tanh(u_i)
 *     (A_ij = dag[i*Z + j]; evaluated in topological order.)
 *  3. Targets: T distinct genes; program k(t) assigned round-robin over random permutations of
 *     the programs (every program gets a target when T >= Z), the gene drawn from k(t)'s module
 *     (genes whose primary program is k(t); any unused gene when the module is exhausted).
 *     delta_t = +-U(shift_min, shift_max). Targets are kept sorted by symbol; doubles are C
 *     distinct random pairs of targets, label "A,B" with A < B. Doubles add both shifts.
 *  4. Decoder: each gene g has a primary program p(g) (balanced random assignment) with loading
 *     +-U(0.5, 1.0) and each other program independently with probability
 *     secondary_prob / (Z - 1) a secondary loading +-U(0.05, 0.25) (at most 2), giving the
 *     sparse loading matrix W (Z x G). Base log-rate b_g ~ N(0, base_sd^2) (clipped at +-40,
 *     never active under the validated base_sd <= 5).
 *     eta_g = b_g + phi((u W)_g) + gene_noise_sd * n_cg - gene_noise_sd^2 / 2, with the smooth
 *     saturating phi(x) = 2 artanh(tanh(1) tanh(coth(1) x / 2)) (odd, slope 1 at 0, range +-2;
 *     exp(phi) is a Moebius function of exp(coth(1) x), so it costs one exp); n_cg a
 *     per-cell-gene standard noise (Irwin-Hall of four 8-bit uniforms, centred and scaled); u is
 *     clipped at +-40 before decoding, which keeps the float exp in range and never happens at
 *     sane settings.
 *  5. Counts: library L_c = library_size * exp(library_sd * N(0,1) - library_sd^2 / 2);
 *     x_cg ~ Poisson(L_c exp(eta_g) / S0) where S0 = E_control[sum_g exp(b_g + phi(...))]
 *     (Monte Carlo over 256 control draws at creation), so L is the mean library size of
 *     control cells and a perturbation changes the total counts of a cell (genes of unaffected
 *     programs keep their count distribution). nb_theta > 0 adds gamma(theta)/theta
 *     overdispersion (negative binomial; slower). Poisson by inversion (float CDF, 8 terms,
 *     branch-free) for lambda < 10 and counts < 8, a double sequential search for the rarer
 *     larger counts, PTRS (the algorithm of cw_rng_poisson) for lambda >= 10.
 *  6. Stored X: log1p(x * 1e4 / sum_g x) (scanpy normalize_total(target_sum=1e4) + log1p),
 *     float32 CSR; a cell with zero counts stays all-zero. n_counts = sum_g x.
 * Cells are ordered: controls, singles by target (sorted), doubles by combination (sorted), not
 * shuffled. Cell c draws only from cw_rng_substream(seed, c); the truth, the Monte Carlo and the
 * graph draw from their own substreams: output is bit-identical for any thread count.
 * The exp in the per-gene loop is a vectorisable float exp (Cody-Waite + degree-6
 * polynomial, relative error < 1e-7); the model above is what that computes.
 *
 * Output file (.h5ad): obs index "cell000001" (zero-padded, width >= 5), obs columns guide_ids
 * (categorical: '' control, 'A', 'A,B'), n_counts (numeric), perturbation_type (categorical
 * control/single/double); var index "SIMG00001", var column gene_symbols "G00001" (fixed width,
 * so no symbol is a substring of another); obsm/X_truth_latent (cells x Z latent programs u);
 * uns/rank_genes_groups (Welch t-test, reference '' controls, deg_top_n rows, eval/deg.h);
 * uns/causeway_truth/{dag, topological_order, target_names, target_program, target_shift,
 * loadings, gene_bias, gene_program, mechanism, combinations, pathway_ids, pathway_program};
 * uns/causeway/{command, version, seed, config (JSON of the options)}.
 * Context graph (spec §3.1 formats; noise = graph_noise_fraction):
 *   GMT: pathways_per_program pathways per program, each a random subset of the genes loading
 *     most on it plus noise * size random other genes, and round(noise * Z * ppp) (>= 1 when
 *     noise > 0) pure-noise pathways; lines "<name>\t<R-SIM-000001>\t<symbols...>", pathways in
 *     random order (ids follow file order, names "SIM_PATHWAY_0001").
 *   PPI: "<sym> <sym>" lines: within each module every pair with probability
 *     ppi_degree / (module size - 1), each target linked to max(1, ceil(ppi_degree)) genes of its
 *     program's module, plus round(noise * that count) random pairs; deduplicated, sorted.
 *   relations: "<parent id>\t<child id>" for every DAG edge i -> j and every pathway pair of
 *     (i, j), plus round(noise * that count) random pathway pairs; deduplicated, sorted.
 *
 * Validation messages name the CLI flag of the field: field `n_combinations` is
 * `--n-combinations` (underscores become dashes), except deg_top_n (`--deg-top`),
 * graph_noise_fraction (`--graph-noise`) and gzip_level (`--gzip`), as `causeway simulate` names
 * them.
 */
#ifndef CW_SIMULATE_H
#define CW_SIMULATE_H

#include "causeway.h"
#include "core/strings.h"
#include "la/matrix.h"

#include <stdint.h>

typedef enum { CW_SIM_LINEAR = 0, CW_SIM_NONLINEAR = 1 } cw_sim_mechanism;

typedef struct {
    /* design (defaults: 1000 + 16*200 + 10*200 = 6200 cells x 500 genes) */
    int64_t n_controls;             /* 1000 */
    int64_t cells_per_perturbation; /* 200, for every single target and every double */
    int64_t n_genes;                /* 500 */
    int64_t n_programs;             /* 8: latent dimension Z */
    int64_t n_targets;              /* 16 */
    int64_t n_combinations;         /* 10 double perturbations (<= n_targets choose 2) */
    uint64_t seed;                  /* 0 */
    /* latent SCM */
    cw_sim_mechanism mechanism;    /* CW_SIM_NONLINEAR */
    double edge_prob;              /* 0.4 */
    double weight_min, weight_max; /* 0.5, 1.5: |edge weight| before variance scaling */
    double shift_min, shift_max;   /* 1.5, 3.0: |delta_t| */
    /* decoder and counts */
    double secondary_prob; /* 0.5: expected secondary loadings per gene (<= 2 kept) */
    double base_sd;        /* 1.25: sd of the base log-rate b_g */
    double gene_noise_sd;  /* 0.25: per cell-gene log-rate noise */
    double library_size;   /* 0 = auto: 2 * n_genes (mean counts of a control cell) */
    double library_sd;     /* 0.3: sd of log library size */
    double nb_theta;       /* 0 = Poisson; > 0: negative binomial, dispersion 1/theta */
    /* outputs */
    int64_t deg_top_n;            /* 20 rows of the DEG table (clipped to n_genes) */
    double graph_noise_fraction;  /* 0.2 */
    int64_t pathways_per_program; /* 3 */
    double ppi_degree;            /* 4.0: expected within-module PPI degree */
    int write_graph;              /* 1: write the three graph files */
    const char *gmt_path;         /* NULL: <out stem>.gmt */
    const char *ppi_path;         /* NULL: <out stem>.ppi.txt */
    const char *relations_path;   /* NULL: <out stem>.relations.txt */
    int gzip_level;               /* 0 (fastest); 0-9 */
    int64_t block_rows;           /* 0 = auto (about 2^21 matrix entries per block) */
    int threads;                  /* 0 = OpenMP default */
} cw_sim_options;

void cw_sim_options_default(cw_sim_options *o);
/* CW_EINVAL with a message naming the flag ("--n-combinations: 50 exceeds the 45 pairs of 10
 * targets"). */
cw_status cw_sim_options_validate(const cw_sim_options *o);
const char *cw_sim_mechanism_name(cw_sim_mechanism m); /* "linear" / "nonlinear" */
cw_status cw_sim_mechanism_parse(const char *s, cw_sim_mechanism *out);
/* The options as a JSON object (allocated with cw_malloc; cw_free it). */
cw_status cw_sim_options_json(const cw_sim_options *o, char **out);
/* Graph file paths: the explicit option, else derived from out_path ("x/d.h5ad" -> "x/d.gmt",
 * "x/d.ppi.txt", "x/d.relations.txt"). Strings allocated with cw_malloc. */
cw_status cw_sim_graph_paths(const cw_sim_options *o, const char *out_path, char **gmt, char **ppi,
                             char **relations);

/* The truth and everything needed to generate cells. Read-only after cw_sim_create. */
typedef struct {
    cw_sim_options opts; /* validated copy: library_size resolved, path fields NULL */
    int64_t n_cells, n_genes, n_programs, n_targets, n_combinations, n_groups;
    /* latent SCM */
    double *dag;         /* Z x Z, dag[i*Z + j] = weight of edge i -> j (0: no edge) */
    int64_t *topo_order; /* Z: programs in topological order */
    /* targets (sorted by symbol) and combinations */
    int64_t *target_gene;    /* T: gene index */
    int64_t *target_program; /* T: k(t) */
    double *target_shift;    /* T: delta_t */
    int64_t *combination;    /* C x 2: target indices, first < second, sorted */
    /* decoder */
    double *loadings;      /* Z x G */
    double *gene_bias;     /* G: b_g */
    int64_t *gene_program; /* G: primary program p(g) */
    double rate_norm;      /* S0 */
    /* names */
    cw_strings gene_names;   /* var index "SIMG00001" */
    cw_strings gene_symbols; /* "G00001" */
    cw_strings target_names; /* T symbols, sorted */
    /* groups: 0 = control (''), 1..T singles, T+1..T+C doubles; labels as guide_ids */
    cw_strings group_labels;
    int64_t *group_target;     /* n_groups x 2 target indices (-1 = none) */
    int64_t *group_first_cell; /* n_groups + 1: cells of group g are [first[g], first[g+1]) */
    /* context graph */
    cw_strings pathway_ids, pathway_names;
    int64_t n_pathways;
    int64_t *pathway_program; /* n_pathways: program, -1 = noise pathway */
    int64_t *pathway_ptr;     /* n_pathways + 1 into pathway_genes */
    int64_t *pathway_genes;   /* member gene indices, ascending within a pathway */
    int64_t n_ppi;
    int64_t *ppi; /* n_ppi x 2 gene indices, first < second, sorted */
    int64_t n_relations;
    int64_t *relations; /* n_relations x 2 pathway indices (parent, child), sorted */
    /* private: generation tables */
    int64_t *parent_ptr, *parent_idx; /* parents of each program (CSC of dag) */
    double *parent_w;
    int32_t *slot_prog; /* 3 x G loading slots (primary + up to 2 secondary) */
    float *slot_w;
    float *ebias_f;            /* G: exp(b_g) */
    double *logfact;           /* 1024: log k! */
    float *noise_tab;          /* 1021: exp(gene_noise_sd * n - gene_noise_sd^2 / 2) per byte sum */
} cw_sim;

/* Validates o, draws the truth and the context graph. */
cw_status cw_sim_create(const cw_sim_options *o, cw_sim **out);
void cw_sim_free(cw_sim *s);
/* Group of a cell (0 control, 1..T singles, T+1.. doubles). */
int64_t cw_sim_cell_group(const cw_sim *s, int64_t cell);

/* Cells [row0, row0 + nrows) as log1p-normalised CSR (allocated into out). n_counts (nrows,
 * may be NULL): total counts per cell; latent (nrows x Z, may be NULL): the programs u.
 * Parallel over cells (opts.threads); bit-identical for any thread count. */
cw_status cw_sim_generate_csr(const cw_sim *s, int64_t row0, int64_t nrows, cw_csr *out,
                              double *n_counts, double *latent);
/* The same cells dense (nrows x G floats): normalized = 1 for the stored log1p values, 0 for
 * raw counts. */
cw_status cw_sim_generate_dense(const cw_sim *s, int64_t row0, int64_t nrows, int normalized,
                                float *out, double *n_counts, double *latent);

/* Writes the context graph to the three paths (each via "<path>.tmp-<pid>" and rename). */
cw_status cw_sim_write_graph(const cw_sim *s, const char *gmt, const char *ppi,
                             const char *relations);

typedef void (*cw_sim_progress_fn)(int64_t cells_done, int64_t n_cells, void *ctx);

typedef struct {
    int64_t n_cells, n_genes, n_groups, nnz;
    double zero_fraction; /* 1 - nnz / (cells * genes) */
    double seconds;       /* wall time of the whole call */
    double cells_per_second;
} cw_sim_report;

/* The whole dataset: out_path (.h5ad, written through a temporary file and renamed) plus the
 * graph files (unless opts.write_graph == 0). Generates rows in blocks and streams them to the
 * writer; DEG statistics are accumulated on the way, so memory is O(block + groups x genes).
 * On failure nothing is left behind (writer aborted, temporary graph files removed).
 * Blocks are generated by an OpenMP team (opts.threads) in which one thread first appends the
 * previous block, so the serial HDF5 write overlaps generation. Memory beyond the two blocks:
 * n_cells x (n_programs + 1) doubles (obsm/X_truth_latent, obs/n_counts) and the DEG sums
 * (2 x n_groups x n_genes doubles). progress (may be NULL) is called after every block, from the
 * calling thread; report may be NULL. */
cw_status cw_simulate_write(const cw_sim_options *o, const char *out_path,
                            cw_sim_progress_fn progress, void *progress_ctx, cw_sim_report *report);

#endif
