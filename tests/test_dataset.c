/* test_dataset.c: the perturbation dataset model (src/data): label parsing and the design
 * (spec §2.3), splits and their JSON files (§2.4), control pairing and the one-perturbation
 * batch sampler (§2.5), and, when the shared devel file and the h5ad reader are present, the
 * design of norman19_gracestyle.h5ad. */
#include "test_util.h"

#include "core/alloc.h"
#include "core/rng.h"
#include "core/status.h"
#include "core/strings.h"
#include "data/batches.h"
#include "data/pairing.h"
#include "data/perturb.h"
#include "data/perturb_h5ad.h"
#include "data/split.h"

#include <jansson.h>
#include <math.h>

/* ---- helpers ------------------------------------------------------------------------------- */

static void strings_of(cw_strings *out, const char *const *v, int64_t n) {
    assert_int_equal(cw_strings_alloc(out, n), CW_OK);
    for (int64_t i = 0; i < n; i++) assert_int_equal(cw_strings_set(out, i, v[i]), CW_OK);
}

static cw_status build(cw_perturb_design *d, const char *const *v, int64_t n,
                       const cw_perturb_opts *o) {
    cw_strings l;
    strings_of(&l, v, n);
    cw_status st = cw_perturb_design_build(d, &l, o);
    cw_strings_free(&l);
    return st;
}

static void assert_contains(const char *hay, const char *needle) {
    if (!strstr(hay, needle)) fail_msg("'%s' not found in message: %s", needle, hay);
}

typedef struct {
    const char *label;
    int64_t n;
} lab_count;

/* Labels with the given counts, shuffled into a fixed pseudo-random file order. */
static void synth_labels(cw_strings *out, const lab_count *spec, int n_spec, uint64_t seed) {
    int64_t total = 0;
    for (int k = 0; k < n_spec; k++) total += spec[k].n;
    int64_t *who = malloc((size_t)total * sizeof *who);
    assert_non_null(who);
    for (int k = 0, m = 0; k < n_spec; k++)
        for (int64_t j = 0; j < spec[k].n; j++) who[m++] = k;
    cw_rng r;
    cw_rng_seed(&r, seed);
    cw_rng_shuffle_i64(&r, who, total);
    assert_int_equal(cw_strings_alloc(out, total), CW_OK);
    for (int64_t i = 0; i < total; i++)
        assert_int_equal(cw_strings_set(out, i, spec[who[i]].label), CW_OK);
    free(who);
}

static void synth_design(cw_perturb_design *d, const lab_count *spec, int n_spec, uint64_t seed) {
    cw_strings l;
    synth_labels(&l, spec, n_spec, seed);
    assert_int_equal(cw_perturb_design_build(d, &l, NULL), CW_OK);
    cw_strings_free(&l);
}

/* Spec names (KLF1, BAK1, SET qualify for the default reference rule; CEBPE has 160 < 161
 * cells), other targets, combinations (one with a target that is never a single), controls. */
static const lab_count spec_mix[] = {
    {"", 120},        {"non-targeting", 10}, {"KLF1", 300},   {"BAK1", 200},   {"SET", 161},
    {"CEBPE", 160},   {"G01", 40},           {"G02", 53},     {"G03", 66},     {"G04", 79},
    {"G05", 92},      {"G06", 105},          {"G07", 118},    {"G08", 131},    {"KLF1,G01", 40},
    {"G02+BAK1", 35}, {"G03,ONLYCOMBO", 20}, {"G04,G05", 33}, {"SET+G06", 50}, {"G07,G08", 12},
    {"G01+G02", 9},   {"G05,G04", 7}};
#define N_SPEC_MIX ((int)(sizeof spec_mix / sizeof spec_mix[0]))

/* ---- labels and the design ------------------------------------------------------------------ */

static void test_label_parsing(void **state) {
    (void)state;
    const char *v[] = {"",        "A",   "B,A",           "A+B",     "A+ctrl",
                       "ctrl",    "B",   "non-targeting", "control", "ctrl+ctrl",
                       " C , A ", "A,A", "A,,B",          "ctrl,A"};
    cw_perturb_design d;
    assert_int_equal(build(&d, v, 14, NULL), CW_OK);
    assert_int_equal(d.n_cells, 14);
    assert_int_equal(d.n_targets, 3);
    assert_string_equal(d.targets.s[0], "A");
    assert_string_equal(d.targets.s[1], "B");
    assert_string_equal(d.targets.s[2], "C");
    assert_int_equal(d.n_perts, 4);
    assert_int_equal(d.n_singles, 2);
    assert_string_equal(d.labels.s[0], "A");
    assert_string_equal(d.labels.s[1], "B");
    assert_string_equal(d.labels.s[2], "A,B");
    assert_string_equal(d.labels.s[3], "A,C");
    const int64_t want[] = {-1, 0, 2, 2, 0, -1, 1, -1, -1, -1, 3, 0, 2, 0};
    for (int i = 0; i < 14; i++) assert_int_equal(d.cell_pert[i], want[i]);
    assert_int_equal(d.n_controls, 5);
    const int64_t ctrl[] = {0, 5, 7, 8, 9};
    for (int k = 0; k < 5; k++) assert_int_equal(d.control_cells[k], ctrl[k]);
    /* cells per perturbation in file order */
    assert_int_equal(cw_perturb_n_cells(&d, 0), 4);
    const int64_t a_cells[] = {1, 4, 11, 13};
    for (int k = 0; k < 4; k++) assert_int_equal(cw_perturb_cells(&d, 0)[k], a_cells[k]);
    assert_int_equal(cw_perturb_n_cells(&d, 2), 3);
    assert_int_equal(cw_perturb_cells(&d, 2)[0], 2);
    assert_int_equal(cw_perturb_cells(&d, 2)[2], 12);
    assert_int_equal(d.single_of_target[0], 0);
    assert_int_equal(d.single_of_target[1], 1);
    assert_int_equal(d.single_of_target[2], -1); /* C only in a combination */
    assert_int_equal(d.max_order, 2);
    /* lookups in any spelling */
    assert_int_equal(cw_perturb_find(&d, "A"), 0);
    assert_int_equal(cw_perturb_find(&d, "A+ctrl"), 0);
    assert_int_equal(cw_perturb_find(&d, "A,A"), 0);
    assert_int_equal(cw_perturb_find(&d, "B+A"), 2);
    assert_int_equal(cw_perturb_find(&d, " A , B "), 2);
    assert_int_equal(cw_perturb_find(&d, "C+A"), 3);
    assert_int_equal(cw_perturb_find(&d, "A,B,ctrl"), 2);
    assert_int_equal(cw_perturb_find(&d, "ctrl"), -1);
    assert_int_equal(cw_perturb_find(&d, ""), -1);
    assert_int_equal(cw_perturb_find(&d, "C"), -1); /* never a single */
    assert_int_equal(cw_perturb_find(&d, "B,C"), -1);
    assert_int_equal(cw_perturb_find(&d, "A,D"), -1);
    assert_int_equal(cw_perturb_find(&d, "D"), -1);
    assert_int_equal(cw_perturb_find(&d, ","), -1);
    assert_true(cw_perturb_label_is_control(&d, "ctrl+ctrl"));
    assert_true(cw_perturb_label_is_control(&d, "non-targeting"));
    assert_true(cw_perturb_label_is_control(&d, ""));
    assert_false(cw_perturb_label_is_control(&d, "A+ctrl"));
    assert_false(cw_perturb_label_is_control(&d, "Ctrl")); /* case-sensitive */
    assert_int_equal(cw_perturb_target(&d, "C"), 2);
    assert_int_equal(cw_perturb_target(&d, "c"), -1);
    assert_int_equal(cw_perturb_target(&d, "A,B"), -1);
    /* recorded options */
    assert_string_equal(d.separators, ",+");
    assert_int_equal(d.control_labels.n, 4);
    assert_string_equal(d.control_labels.s[3], "non-targeting");
    cw_perturb_design_free(&d);
}

static void test_target_sorting_and_perturbation_order(void **state) {
    (void)state;
    const char *v[] = {"zeta", "TP53", "ABL1+zeta", "ABL1,TP53,B2M", "Zeta",     "B2M,ABL1",
                       "ctrl", "ABL1", "B2M",       "TP53+ABL1",     "zeta+Zeta"};
    const int n = 11;
    cw_perturb_design d;
    assert_int_equal(build(&d, v, n, NULL), CW_OK);
    const char *tg[] = {"ABL1", "B2M", "TP53", "Zeta", "zeta"}; /* strcmp: upper before lower */
    assert_int_equal(d.n_targets, 5);
    for (int k = 0; k < 5; k++) assert_string_equal(d.targets.s[k], tg[k]);
    /* singles by target index, then combinations by sorted index tuple:
     * (0,1) < (0,1,2) < (0,2) < (0,4) < (3,4) */
    const char *pl[] = {"ABL1",     "B2M",           "TP53",      "Zeta",      "zeta",
                        "ABL1,B2M", "ABL1,B2M,TP53", "ABL1,TP53", "ABL1,zeta", "Zeta,zeta"};
    assert_int_equal(d.n_perts, 10);
    assert_int_equal(d.n_singles, 5);
    for (int k = 0; k < 10; k++) assert_string_equal(d.labels.s[k], pl[k]);
    assert_int_equal(cw_perturb_order(&d, 6), 3);
    assert_int_equal(d.max_order, 3);
    /* file order does not change targets or perturbation order */
    const char *rev[11];
    for (int i = 0; i < n; i++) rev[i] = v[n - 1 - i];
    cw_perturb_design e;
    assert_int_equal(build(&e, rev, n, NULL), CW_OK);
    assert_int_equal(e.n_perts, d.n_perts);
    for (int k = 0; k < 10; k++) assert_string_equal(e.labels.s[k], d.labels.s[k]);
    for (int i = 0; i < n; i++) assert_int_equal(e.cell_pert[i], d.cell_pert[n - 1 - i]);
    cw_perturb_design_free(&e);
    cw_perturb_design_free(&d);
}

static void test_intervention_vectors(void **state) {
    (void)state;
    const char *v[] = {"", "B", "A", "C+A", "A,B,C"};
    cw_perturb_design d;
    assert_int_equal(build(&d, v, 5, NULL), CW_OK);
    float c[3];
    /* order: A, B, then (0,1,2) before (0,2) lexicographically */
    const float want[][3] = {{1, 0, 0}, {0, 1, 0}, {1, 1, 1}, {1, 0, 1}};
    for (int64_t p = 0; p < d.n_perts; p++) {
        cw_perturb_intervention(&d, p, c);
        for (int t = 0; t < 3; t++) assert_true(c[t] == want[p][t]);
    }
    cw_perturb_intervention(&d, -1, c);
    for (int t = 0; t < 3; t++) assert_true(c[t] == 0.0f);
    /* per cell: the cell's perturbation */
    cw_perturb_intervention(&d, d.cell_pert[3], c);
    assert_true(c[0] == 1.0f && c[1] == 0.0f && c[2] == 1.0f);
    cw_perturb_design_free(&d);
}

static void test_user_controls_and_separators(void **state) {
    (void)state;
    const char *ctl[] = {"NT", "safe-harbor"};
    cw_strings controls;
    strings_of(&controls, ctl, 2);
    cw_perturb_opts o;
    cw_perturb_opts_default(&o);
    o.controls = &controls;
    o.separators = ";";
    const char *v[] = {"NT", "A;B", "B", "A,B", "safe-harbor", "A ; NT", "B;A", "ctrl"};
    cw_perturb_design d;
    assert_int_equal(build(&d, v, 8, &o), CW_OK);
    /* ',' is not a separator here: "A,B" is one target */
    assert_int_equal(d.n_targets, 3);
    assert_string_equal(d.targets.s[0], "A");
    assert_string_equal(d.targets.s[1], "A,B");
    assert_string_equal(d.targets.s[2], "B");
    assert_int_equal(d.n_controls, 3); /* NT, safe-harbor, and the GEARS "ctrl" token */
    assert_int_equal(d.cell_pert[5], cw_perturb_find(&d, "A")); /* "A ; NT" -> A */
    assert_int_equal(d.cell_pert[1], d.cell_pert[6]);           /* "A;B" == "B;A" */
    assert_string_equal(d.labels.s[d.cell_pert[1]], "A,B");     /* canonical joins with ',' */
    assert_int_equal(d.control_labels.n, 2);
    assert_string_equal(d.separators, ";");
    cw_perturb_design_free(&d);

    /* "" is not a control under --control NT: an error naming the cell */
    const char *w[] = {"NT", "A", ""};
    o.controls = &controls;
    o.separators = NULL;
    o.source = "data.h5ad";
    o.key = "gene";
    const char *onlynt[] = {"NT"};
    cw_strings c1;
    strings_of(&c1, onlynt, 1);
    o.controls = &c1;
    assert_int_equal(build(&d, w, 3, &o), CW_EFORMAT);
    assert_contains(cw_errmsg(), "data.h5ad: /obs/gene: cell 2");
    assert_contains(cw_errmsg(), "label '' names no target and is not a control label");
    assert_contains(cw_errmsg(), "--control");
    /* a mistyped --control is reported before the labels it leaves unexplained */
    cw_strings_free(&c1);
    const char *typo[] = {"NTC"};
    strings_of(&c1, typo, 1);
    assert_int_equal(build(&d, w, 3, &o), CW_EINVAL);
    assert_contains(cw_errmsg(), "unknown control label 'NTC'; labels present include: 'NT', "
                                 "'A', ''");
    cw_strings_free(&c1);

    /* separators "" never split */
    cw_perturb_opts_default(&o);
    o.separators = "";
    const char *x[] = {"", "A+B", "A"};
    assert_int_equal(build(&d, x, 3, &o), CW_OK);
    assert_int_equal(d.n_targets, 2);
    assert_int_equal(d.n_singles, 2);
    assert_string_equal(d.labels.s[1], "A+B");
    cw_perturb_design_free(&d);
    cw_strings_free(&controls);
}

static void test_design_errors(void **state) {
    (void)state;
    cw_perturb_design d;
    cw_perturb_opts o;
    cw_perturb_opts_default(&o);
    o.source = "data.h5ad";
    o.field = "/obs/guide_ids";
    o.key = "guide_ids";

    /* missing label: names the cell (and its obs name when given) */
    cw_strings l;
    const char *v1[] = {"", "A", NULL, "B"};
    strings_of(&l, v1, 4);
    const char *nm[] = {"c0", "c1", "AAACCTG-1", "c3"};
    cw_strings names;
    strings_of(&names, nm, 4);
    o.cell_names = &names;
    assert_int_equal(cw_perturb_design_build(&d, &l, &o), CW_EFORMAT);
    assert_contains(cw_errmsg(), "data.h5ad: /obs/guide_ids: cell 2 ('AAACCTG-1') has no label");
    assert_null(d.cell_pert); /* zeroed on failure */
    o.cell_names = NULL;
    cw_strings_free(&names);
    cw_strings_free(&l);

    /* no control cells: list the labels seen, suggest --control */
    const char *v2[] = {"NTC", "A", "B", "A", "A,B", "NTC"};
    assert_int_equal(build(&d, v2, 6, &o), CW_EFORMAT);
    assert_contains(cw_errmsg(), "data.h5ad: /obs/guide_ids: no control cells");
    assert_contains(cw_errmsg(), "labels present include: 'NTC', 'A', 'B', 'A,B'");
    assert_contains(cw_errmsg(), "--control");

    /* --control label that no cell carries */
    const char *cf[] = {"NTC", "foo"};
    cw_strings controls;
    strings_of(&controls, cf, 2);
    o.controls = &controls;
    assert_int_equal(build(&d, v2, 6, &o), CW_EINVAL);
    assert_contains(cw_errmsg(), "data.h5ad: /obs/guide_ids: unknown control label 'foo'; "
                                 "labels present include: 'NTC', 'A'");
    cw_strings_free(&controls);
    o.controls = NULL;

    /* a declared (categorical) label that no cell uses */
    const char *v3[] = {"", "A", "B", "A,B", "ctrl"};
    const char *cats[] = {"", "A", "A,B", "B", "B+A", "C", "ctrl", "non-targeting"};
    cw_strings declared;
    strings_of(&declared, cats, 8);
    o.declared = &declared;
    assert_int_equal(build(&d, v3, 5, &o), CW_EFORMAT);
    assert_contains(cw_errmsg(), "data.h5ad: /obs/guide_ids: perturbation 'C' has zero cells "
                                 "(unused category); drop it with "
                                 "adata.obs['guide_ids'].cat.remove_unused_categories()");
    /* respelled used categories and unused control categories are fine */
    assert_int_equal(cw_strings_set(&declared, 5, "A+ctrl"), CW_OK);
    assert_int_equal(build(&d, v3, 5, &o), CW_OK);
    cw_perturb_design_free(&d);
    /* a declared combination of known targets that no cell carries */
    assert_int_equal(cw_strings_set(&declared, 5, "B+C"), CW_OK);
    const char *v4[] = {"", "A", "B", "C", "A,B"};
    assert_int_equal(build(&d, v4, 5, &o), CW_EFORMAT);
    assert_contains(cw_errmsg(), "perturbation 'B+C' has zero cells (unused category)");
    cw_strings_free(&declared);
    o.declared = NULL;

    /* empty list of control labels */
    cw_strings empty;
    assert_int_equal(cw_strings_alloc(&empty, 0), CW_OK);
    o.controls = &empty;
    assert_int_equal(build(&d, v3, 5, &o), CW_EINVAL);
    cw_strings_free(&empty);
}

static void test_choose_key(void **state) {
    (void)state;
    const char *c1[] = {"cell_type", "condition", "gene", "n_counts"};
    cw_strings cols;
    strings_of(&cols, c1, 4);
    const char *key = NULL;
    assert_int_equal(cw_perturb_choose_key(&cols, NULL, "data.h5ad", &key), CW_OK);
    assert_string_equal(key, "condition");
    assert_int_equal(cw_perturb_choose_key(&cols, "gene", "data.h5ad", &key), CW_OK);
    assert_string_equal(key, "gene");
    assert_int_equal(cw_perturb_choose_key(&cols, "guide", "data.h5ad", &key), CW_ENOTFOUND);
    assert_null(key);
    assert_contains(cw_errmsg(), "data.h5ad: /obs: no column 'guide'");
    assert_contains(cw_errmsg(), "'cell_type', 'condition'");
    cw_strings_free(&cols);
    const char *c2[] = {"perturbation", "guide_ids"};
    strings_of(&cols, c2, 2);
    assert_int_equal(cw_perturb_choose_key(&cols, NULL, NULL, &key), CW_OK);
    assert_string_equal(key, "guide_ids"); /* guide_ids first regardless of column order */
    cw_strings_free(&cols);
    const char *c3[] = {"batch", "n_genes"};
    strings_of(&cols, c3, 2);
    assert_int_equal(cw_perturb_choose_key(&cols, NULL, "x.h5ad", &key), CW_ENOTFOUND);
    assert_contains(cw_errmsg(), "x.h5ad: /obs: no perturbation column");
    assert_contains(cw_errmsg(), "--perturbation-key");
    cw_strings_free(&cols);
}

static void test_design_alloc_failures(void **state) {
    (void)state;
    cw_strings l;
    synth_labels(&l, spec_mix, N_SPEC_MIX, 1);
    const char *cats[] = {"", "KLF1", "G04,G05"};
    cw_strings declared;
    strings_of(&declared, cats, 3);
    cw_perturb_opts o;
    cw_perturb_opts_default(&o);
    o.declared = &declared;
    int ok = 0;
    for (int64_t budget = 0; budget < 10000 && !ok; budget++) {
        cw_perturb_design d;
        cw_alloc_fail_after(budget);
        cw_status st = cw_perturb_design_build(&d, &l, &o);
        cw_alloc_fail_after(-1);
        if (st == CW_OK) {
            ok = 1;
            assert_int_equal(d.n_targets, 13);
            cw_perturb_design_free(&d);
        } else {
            assert_int_equal(st, CW_ENOMEM);
            assert_null(d.labels.s);
        }
    }
    assert_true(ok);
    cw_strings_free(&declared);
    cw_strings_free(&l);
}

/* ---- splits --------------------------------------------------------------------------------- */

static void check_split_basics(const cw_split *s, const cw_perturb_design *d) {
    int64_t counts[CW_N_ROLES] = {0};
    for (int64_t i = 0; i < d->n_cells; i++) {
        int r = s->role[i];
        assert_true(r >= 0 && r < CW_N_ROLES);
        assert_int_equal(r == CW_ROLE_CONTROL, d->cell_pert[i] < 0);
        counts[r]++;
    }
    int64_t total = 0;
    for (int r = 0; r < CW_N_ROLES; r++) {
        assert_int_equal(counts[r], s->summary.cells[r]);
        assert_int_equal(s->summary.single_cells[r] + s->summary.combo_cells[r],
                         r == CW_ROLE_CONTROL ? 0 : s->summary.cells[r]);
        assert_int_equal(cw_split_role_cells(s, r, NULL), counts[r]);
        total += counts[r];
    }
    assert_int_equal(total, d->n_cells);
    assert_int_equal(counts[CW_ROLE_CONTROL], d->n_controls);
}

static void test_split_reference(void **state) {
    (void)state;
    cw_perturb_design d;
    synth_design(&d, spec_mix, N_SPEC_MIX, 7);
    cw_split_opts o;
    cw_split_opts_default(&o, CW_SPLIT_REFERENCE);
    cw_split s;
    assert_int_equal(cw_split_make(&s, &d, &o), CW_OK);
    check_split_basics(&s, &d);
    /* default held-out: the spec names present as singles with >= 96 + 64 + 1 cells */
    assert_int_equal(s.heldout.n, 3);
    assert_string_equal(s.heldout.s[0], "BAK1");
    assert_string_equal(s.heldout.s[1], "KLF1");
    assert_string_equal(s.heldout.s[2], "SET");
    assert_int_equal(s.opts.test_cells, 96);
    assert_int_equal(s.opts.val_cells, 64);
    /* exact rule: per held-out target first 96 cells in file order test, next 64 val */
    int64_t seen_t[3] = {0};
    for (int64_t i = 0; i < d.n_cells; i++) {
        int64_t p = d.cell_pert[i];
        if (p < 0) continue;
        if (p >= d.n_singles) {
            assert_int_equal(s.role[i], CW_ROLE_TEST); /* combinations: test only */
            continue;
        }
        int h = -1;
        for (int k = 0; k < 3; k++)
            if (strcmp(d.labels.s[p], s.heldout.s[k]) == 0) h = k;
        if (h < 0) {
            assert_int_equal(s.role[i], CW_ROLE_TRAIN);
            continue;
        }
        int64_t j = seen_t[h]++;
        assert_int_equal(s.role[i], j < 96 ? CW_ROLE_TEST : j < 160 ? CW_ROLE_VAL : CW_ROLE_TRAIN);
    }
    assert_int_equal(s.summary.single_cells[CW_ROLE_TEST], 3 * 96);
    assert_int_equal(s.summary.cells[CW_ROLE_VAL], 3 * 64);
    assert_int_equal(s.summary.single_cells[CW_ROLE_TRAIN],
                     (300 + 200 + 161 - 3 * 160) + 160 +
                         (40 + 53 + 66 + 79 + 92 + 105 + 118 + 131));
    assert_int_equal(s.summary.combo_cells[CW_ROLE_TEST], 40 + 35 + 20 + 33 + 50 + 12 + 9 + 7);
    assert_int_equal(s.summary.combo_cells[CW_ROLE_TRAIN], 0);
    /* all singles stay seen (held-out targets keep training cells); ONLYCOMBO never a single */
    int64_t pc = cw_perturb_find(&d, "ONLYCOMBO+G03");
    assert_true(pc >= d.n_singles);
    assert_int_equal(s.pert_seen[pc], 1);
    assert_int_equal(s.pert_seen[cw_perturb_find(&d, "G04,G05")], 2);
    assert_int_equal(s.summary.test_combos_by_seen[0], 0);
    assert_int_equal(s.summary.test_combos_by_seen[1], 1);
    assert_int_equal(s.summary.test_combos_by_seen[2], 6);
    char line[400];
    cw_split_describe(&s, line, sizeof line);
    assert_contains(line, "reference split (seed 0): train ");
    cw_split_free(&s);

    /* rounding down to whole batches; too small for one batch */
    o.test_cells = 100;
    o.val_cells = 70;
    assert_int_equal(cw_split_make(&s, &d, &o), CW_OK);
    assert_int_equal(s.opts.test_cells, 96);
    assert_int_equal(s.opts.val_cells, 64);
    cw_split_free(&s);
    o.test_cells = 20;
    assert_int_equal(cw_split_make(&s, &d, &o), CW_EINVAL);
    assert_contains(cw_errmsg(), "less than one batch");
    assert_null(s.role);

    /* a user list: dedup, target order; CEBPE too small; combination-only and unknown names */
    cw_split_opts_default(&o, CW_SPLIT_REFERENCE);
    o.test_cells = 32;
    o.val_cells = 32;
    /* more names than targets (repeats) must not overflow anything */
    const char *h1[] = {"G08", "CEBPE", "G08", "G08", "G08", "G08", "G08", "G08", "G08", "G08",
                        "G08", "G08",   "G08", "G08", "G08", "G08", "G08", "G08", "G08", "G08",
                        "G08", "G08",   "G08", "G08", "G08", "G08", "G08", "G08", "G08", "G08"};
    cw_strings held;
    strings_of(&held, h1, 30);
    o.heldout = &held;
    assert_int_equal(cw_split_make(&s, &d, &o), CW_OK);
    assert_int_equal(s.heldout.n, 2);
    assert_string_equal(s.heldout.s[0], "CEBPE");
    assert_string_equal(s.heldout.s[1], "G08");
    assert_int_equal(s.summary.single_cells[CW_ROLE_TEST], 64);
    assert_int_equal(s.summary.cells[CW_ROLE_VAL], 64);
    cw_split_free(&s);
    cw_strings_free(&held);
    const char *h2[] = {"G01"}; /* 40 cells < 32 + 32 + 1 */
    strings_of(&held, h2, 1);
    assert_int_equal(cw_split_make(&s, &d, &o), CW_EINVAL);
    assert_contains(cw_errmsg(), "held-out target 'G01' has 40 cells; it needs at least "
                                 "test_cells + val_cells + 1 = 65");
    cw_strings_free(&held);
    const char *h3[] = {"ONLYCOMBO"};
    strings_of(&held, h3, 1);
    assert_int_equal(cw_split_make(&s, &d, &o), CW_EINVAL);
    assert_contains(cw_errmsg(), "'ONLYCOMBO' is not a single perturbation of the data (it "
                                 "occurs only in combinations)");
    cw_strings_free(&held);
    const char *h4[] = {"NOPE"};
    strings_of(&held, h4, 1);
    assert_int_equal(cw_split_make(&s, &d, &o), CW_EINVAL);
    assert_contains(cw_errmsg(), "'NOPE' is not a single perturbation");
    cw_strings_free(&held);
    cw_perturb_design_free(&d);
}

static void test_split_reference_fallback(void **state) {
    (void)state;
    /* no spec name: up to 14 largest singles with >= 161 cells, ties by target order */
    lab_count spec[23];
    char names[22][16];
    int64_t cnt[22];
    for (int k = 0; k < 21; k++) {
        snprintf(names[k], sizeof names[k], "T%02d", k + 1);
        cnt[k] = 161 + ((k * 7) % 5) * 20;
        spec[k] = (lab_count){names[k], cnt[k]};
    }
    cnt[4] = 160; /* one just too small */
    spec[4].n = 160;
    spec[21] = (lab_count){"T01,T02", 30};
    spec[22] = (lab_count){"ctrl", 50};
    cw_perturb_design d;
    synth_design(&d, spec, 23, 3);
    /* independent expected list: repeatedly take the largest remaining (first on ties) */
    int taken[21] = {0}, n_exp = 0;
    for (int r = 0; r < 14; r++) {
        int best = -1;
        for (int k = 0; k < 21; k++)
            if (!taken[k] && cnt[k] >= 161 && (best < 0 || cnt[k] > cnt[best])) best = k;
        if (best < 0) break;
        taken[best] = 1;
        n_exp++;
    }
    assert_int_equal(n_exp, 14);
    cw_split_opts o;
    cw_split_opts_default(&o, CW_SPLIT_REFERENCE);
    cw_split s;
    assert_int_equal(cw_split_make(&s, &d, &o), CW_OK);
    check_split_basics(&s, &d);
    assert_int_equal(s.heldout.n, 14);
    for (int k = 0; k < 21; k++) {
        int in = cw_strings_find(&s.heldout, names[k]) >= 0;
        assert_int_equal(in, taken[k]);
    }
    for (int k = 1; k < 14; k++) assert_true(strcmp(s.heldout.s[k - 1], s.heldout.s[k]) < 0);
    assert_int_equal(s.summary.single_cells[CW_ROLE_TEST], 14 * 96);
    cw_split_free(&s);
    /* nothing large enough: a clear error */
    o.test_cells = 320;
    assert_int_equal(cw_split_make(&s, &d, &o), CW_EINVAL);
    assert_contains(cw_errmsg(), "no single perturbation has the 385 cells");
    assert_contains(cw_errmsg(), "the largest has 241");
    cw_perturb_design_free(&d);
}

static int same_roles(const cw_split *a, const cw_split *b) {
    return a->n_cells == b->n_cells &&
           memcmp(a->role, b->role, (size_t)a->n_cells * sizeof *a->role) == 0;
}

static void test_split_random(void **state) {
    (void)state;
    cw_perturb_design d;
    synth_design(&d, spec_mix, N_SPEC_MIX, 11);
    cw_split_opts o;
    cw_split_opts_default(&o, CW_SPLIT_RANDOM);
    o.seed = 5;
    cw_split s, t, u;
    assert_int_equal(cw_split_make(&s, &d, &o), CW_OK);
    check_split_basics(&s, &d);
    for (int64_t p = 0; p < d.n_perts; p++) {
        int64_t n = cw_perturb_n_cells(&d, p), c[CW_N_ROLES] = {0};
        for (int64_t j = 0; j < n; j++) c[s.role[cw_perturb_cells(&d, p)[j]]]++;
        if (p < d.n_singles) {
            int64_t want = (int64_t)(0.1 * (double)n + 0.5);
            assert_int_equal(c[CW_ROLE_TEST], want);
            assert_int_equal(c[CW_ROLE_VAL], want);
            assert_int_equal(c[CW_ROLE_TRAIN], n - 2 * want);
        } else {
            assert_int_equal(c[CW_ROLE_TEST], n);
        }
    }
    assert_int_equal(cw_split_make(&t, &d, &o), CW_OK);
    assert_true(same_roles(&s, &t));
    o.seed = 6;
    assert_int_equal(cw_split_make(&u, &d, &o), CW_OK);
    assert_false(same_roles(&s, &u));
    /* the test cells are not simply the first ones in file order */
    int64_t p0 = cw_perturb_find(&d, "KLF1"), first_test = 0;
    for (int j = 0; j < 30; j++) first_test += s.role[cw_perturb_cells(&d, p0)[j]] == CW_ROLE_TEST;
    assert_true(first_test < 30);
    cw_split_free(&s);
    cw_split_free(&t);
    cw_split_free(&u);
    o.test_fraction = 0.7;
    o.val_fraction = 0.4;
    assert_int_equal(cw_split_make(&s, &d, &o), CW_EINVAL);
    o.test_fraction = -0.1;
    assert_int_equal(cw_split_make(&s, &d, &o), CW_EINVAL);
    assert_contains(cw_errmsg(), "not in [0, 1]");
    cw_perturb_design_free(&d);
}

static void test_split_unseen_targets(void **state) {
    (void)state;
    cw_perturb_design d;
    synth_design(&d, spec_mix, N_SPEC_MIX, 13);
    cw_split_opts o;
    cw_split_opts_default(&o, CW_SPLIT_UNSEEN_TARGETS);
    o.seed = 1;
    cw_split s, t;
    assert_int_equal(cw_split_make(&s, &d, &o), CW_OK);
    check_split_basics(&s, &d);
    /* 12 targets have singles (ONLYCOMBO does not): round(0.2*12) = 2 test, round(0.1*12) = 1 */
    assert_int_equal(s.test_targets.n, 2);
    assert_int_equal(s.val_targets.n, 1);
    for (int64_t p = 0; p < d.n_singles; p++) {
        const char *lab = d.labels.s[p];
        int want = cw_strings_find(&s.test_targets, lab) >= 0  ? CW_ROLE_TEST
                   : cw_strings_find(&s.val_targets, lab) >= 0 ? CW_ROLE_VAL
                                                               : CW_ROLE_TRAIN;
        for (int64_t j = 0; j < cw_perturb_n_cells(&d, p); j++)
            assert_int_equal(s.role[cw_perturb_cells(&d, p)[j]], want);
    }
    /* combinations test only; seen counts agree with the held-out targets */
    int64_t by_seen[3] = {0};
    for (int64_t p = d.n_singles; p < d.n_perts; p++) {
        for (int64_t j = 0; j < cw_perturb_n_cells(&d, p); j++)
            assert_int_equal(s.role[cw_perturb_cells(&d, p)[j]], CW_ROLE_TEST);
        int64_t seen = 0;
        for (int64_t k = 0; k < cw_perturb_order(&d, p); k++) {
            const char *tn = d.targets.s[cw_perturb_targets_of(&d, p)[k]];
            seen += strcmp(tn, "ONLYCOMBO") != 0 && cw_strings_find(&s.test_targets, tn) < 0 &&
                    cw_strings_find(&s.val_targets, tn) < 0;
        }
        assert_int_equal(s.pert_seen[p], seen);
        by_seen[seen]++;
    }
    for (int k = 0; k < 3; k++) assert_int_equal(s.summary.test_combos_by_seen[k], by_seen[k]);
    /* determinism and seed dependence */
    assert_int_equal(cw_split_make(&t, &d, &o), CW_OK);
    assert_true(same_roles(&s, &t));
    cw_split_free(&t);
    int differs = 0;
    for (uint64_t seed = 2; seed < 6 && !differs; seed++) {
        o.seed = seed;
        assert_int_equal(cw_split_make(&t, &d, &o), CW_OK);
        differs = !same_roles(&s, &t);
        cw_split_free(&t);
    }
    assert_true(differs);
    cw_split_free(&s);
    /* at least one target held out even for a tiny fraction; none left -> error */
    o.test_fraction = 0.01;
    o.val_fraction = 0.0;
    assert_int_equal(cw_split_make(&s, &d, &o), CW_OK);
    assert_int_equal(s.test_targets.n, 1);
    assert_int_equal(s.val_targets.n, 0);
    assert_int_equal(s.summary.cells[CW_ROLE_VAL], 0);
    cw_split_free(&s);
    o.test_fraction = 0.95;
    o.val_fraction = 0.05;
    assert_int_equal(cw_split_make(&s, &d, &o), CW_EINVAL);
    assert_contains(cw_errmsg(), "leaves none of the 12 targets");
    cw_perturb_design_free(&d);
}

static void test_split_unseen_combinations(void **state) {
    (void)state;
    cw_perturb_design d;
    synth_design(&d, spec_mix, N_SPEC_MIX, 17);
    cw_split_opts o;
    cw_split_opts_default(&o, CW_SPLIT_UNSEEN_COMBINATIONS);
    o.seed = 3;
    cw_split s, t;
    assert_int_equal(cw_split_make(&s, &d, &o), CW_OK);
    check_split_basics(&s, &d);
    /* 7 combinations ("G05,G04" is "G04,G05"): max(1, round(0.5 * 7)) = 4 test */
    int64_t n_combo = d.n_perts - d.n_singles;
    assert_int_equal(n_combo, 7);
    assert_int_equal(s.test_combos.n, 4);
    for (int64_t p = d.n_singles; p < d.n_perts; p++) {
        int test = cw_strings_find(&s.test_combos, d.labels.s[p]) >= 0;
        for (int64_t j = 0; j < cw_perturb_n_cells(&d, p); j++)
            assert_int_equal(s.role[cw_perturb_cells(&d, p)[j]],
                             test ? CW_ROLE_TEST : CW_ROLE_TRAIN);
    }
    for (int64_t p = 0; p < d.n_singles; p++) {
        int64_t n = cw_perturb_n_cells(&d, p), c[CW_N_ROLES] = {0};
        for (int64_t j = 0; j < n; j++) c[s.role[cw_perturb_cells(&d, p)[j]]]++;
        assert_int_equal(c[CW_ROLE_VAL], (int64_t)(0.1 * (double)n + 0.5));
        assert_int_equal(c[CW_ROLE_TEST], 0);
    }
    assert_int_equal(s.summary.combo_perts[CW_ROLE_TEST], 4);
    assert_int_equal(s.summary.combo_perts[CW_ROLE_TRAIN], 3);
    assert_int_equal(cw_split_make(&t, &d, &o), CW_OK);
    assert_true(same_roles(&s, &t));
    cw_split_free(&t);
    o.seed = 4;
    assert_int_equal(cw_split_make(&t, &d, &o), CW_OK);
    assert_false(same_roles(&s, &t));
    cw_split_free(&t);
    cw_split_free(&s);
    /* no combinations: error */
    const lab_count only_singles[] = {{"", 10}, {"A", 10}, {"B", 10}};
    cw_perturb_design e;
    synth_design(&e, only_singles, 3, 1);
    assert_int_equal(cw_split_make(&s, &e, &o), CW_EINVAL);
    assert_contains(cw_errmsg(), "no combination perturbations");
    cw_perturb_design_free(&e);
    cw_perturb_design_free(&d);
}

static void assert_splits_equal(const cw_split *a, const cw_split *b) {
    assert_true(same_roles(a, b));
    assert_int_equal(a->opts.kind, b->opts.kind);
    assert_true(a->opts.seed == b->opts.seed);
    assert_int_equal(a->opts.batch_size, b->opts.batch_size);
    assert_int_equal(a->opts.test_cells, b->opts.test_cells);
    assert_int_equal(a->opts.val_cells, b->opts.val_cells);
    assert_true(a->opts.test_fraction == b->opts.test_fraction);
    assert_true(a->opts.val_fraction == b->opts.val_fraction);
    const cw_strings *la[] = {&a->heldout, &a->test_targets, &a->val_targets, &a->test_combos};
    const cw_strings *lb[] = {&b->heldout, &b->test_targets, &b->val_targets, &b->test_combos};
    for (int k = 0; k < 4; k++) {
        assert_int_equal(la[k]->n, lb[k]->n);
        for (int64_t j = 0; j < la[k]->n; j++) assert_string_equal(la[k]->s[j], lb[k]->s[j]);
    }
    assert_memory_equal(&a->summary, &b->summary, sizeof a->summary);
    assert_memory_equal(a->pert_seen, b->pert_seen, (size_t)a->n_perts * sizeof(int64_t));
}

static void test_split_json_round_trip(void **state) {
    (void)state;
    cw_perturb_design d;
    synth_design(&d, spec_mix, N_SPEC_MIX, 19);
    char path[512];
    cwt_path(path, sizeof path, "split.json");
    for (int k = 0; k < 4; k++) {
        cw_split_opts o;
        cw_split_opts_default(&o, (cw_split_kind)k);
        o.seed = k == 1 ? UINT64_MAX - 3 : 42 + (uint64_t)k; /* a seed beyond int64 too */
        cw_split s, t, r;
        assert_int_equal(cw_split_make(&s, &d, &o), CW_OK);
        assert_int_equal(cw_split_save(&s, &d, path), CW_OK);
        assert_int_equal(cw_split_load(&t, &d, path), CW_OK);
        assert_splits_equal(&s, &t);
        /* the recorded kind, seed and options reproduce the same split */
        cw_split_opts o2 = t.opts;
        assert_int_equal(cw_split_make(&r, &d, &o2), CW_OK);
        assert_true(same_roles(&s, &r));
        cw_split_free(&r);
        cw_split_free(&s);
        cw_split_free(&t);
    }
    /* the file is JSON with the documented fields */
    json_error_t err;
    json_t *root = json_load_file(path, 0, &err);
    assert_non_null(root);
    assert_string_equal(json_string_value(json_object_get(root, "format")), "causeway-split");
    assert_string_equal(json_string_value(json_object_get(root, "kind")), "unseen-combinations");
    json_t *des = json_object_get(root, "design");
    assert_int_equal(json_integer_value(json_object_get(des, "n_cells")), d.n_cells);
    assert_int_equal(json_array_size(json_object_get(des, "targets")), (size_t)d.n_targets);
    /* unseen-combinations: every single trains, so each test combination has 2 seen targets
     * except the one with ONLYCOMBO, when it is a test combination */
    json_t *which = json_object_get(json_object_get(root, "summary"), "test_combinations_seen");
    assert_int_equal(json_array_size(json_object_get(which, "0")), 0);
    assert_int_equal(json_array_size(json_object_get(which, "1")) +
                         json_array_size(json_object_get(which, "2")),
                     4);
    json_t *cells = json_object_get(root, "cells");
    assert_int_equal(json_array_size(json_object_get(cells, "control")), (size_t)d.n_controls);
    json_decref(root);
    cw_perturb_design_free(&d);
}

static void edit_json(const char *path, const char *role, int64_t cell) {
    json_error_t err;
    json_t *root = json_load_file(path, 0, &err);
    assert_non_null(root);
    json_t *a = json_object_get(json_object_get(root, "cells"), role);
    assert_int_equal(json_array_append_new(a, json_integer(cell)), 0);
    assert_int_equal(json_dump_file(root, path, 0), 0);
    json_decref(root);
}

static void test_split_load_rejects_mismatch(void **state) {
    (void)state;
    cw_strings l;
    synth_labels(&l, spec_mix, N_SPEC_MIX, 23);
    cw_perturb_design d, e;
    assert_int_equal(cw_perturb_design_build(&d, &l, NULL), CW_OK);
    cw_split_opts o;
    cw_split_opts_default(&o, CW_SPLIT_RANDOM);
    cw_split s, t;
    assert_int_equal(cw_split_make(&s, &d, &o), CW_OK);
    char path[512], bad[512];
    cwt_path(path, sizeof path, "split-mismatch.json");
    cwt_path(bad, sizeof bad, "split-bad.json");
    assert_int_equal(cw_split_save(&s, &d, path), CW_OK);

    /* one cell fewer */
    cw_strings m = l;
    m.n = l.n - 1;
    assert_int_equal(cw_perturb_design_build(&e, &m, NULL), CW_OK);
    assert_int_equal(cw_split_load(&t, &e, path), CW_EFORMAT);
    assert_contains(cw_errmsg(), "the split was made for 1841 cells; this data has 1840");
    assert_null(t.role);
    cw_perturb_design_free(&e);

    /* same labels, two cells of different perturbations swapped: the fingerprint catches it */
    int64_t i0 = d.pert_cells[0], i1 = i0 + 1;
    while (d.cell_pert[i1] < 0 || d.cell_pert[i1] == d.cell_pert[i0]) i1++;
    char *tmp = l.s[i0];
    l.s[i0] = l.s[i1];
    l.s[i1] = tmp;
    assert_int_equal(cw_perturb_design_build(&e, &l, NULL), CW_OK);
    assert_int_equal(cw_split_load(&t, &e, path), CW_EFORMAT);
    assert_contains(cw_errmsg(), "cells' perturbations differ from this data");
    cw_perturb_design_free(&e);
    l.s[i1] = l.s[i0];
    l.s[i0] = tmp;

    /* a target renamed everywhere (same counts) */
    int64_t g08 = 0;
    for (int64_t i = 0; i < l.n; i++) {
        if (strcmp(l.s[i], "G08") == 0)
            l.s[i][0] = 'H', g08++;
        else if (strcmp(l.s[i], "G07,G08") == 0)
            l.s[i][4] = 'H';
    }
    assert_int_equal(g08, 131);
    assert_int_equal(cw_perturb_design_build(&e, &l, NULL), CW_OK);
    assert_int_equal(cw_split_load(&t, &e, path), CW_EFORMAT);
    assert_contains(cw_errmsg(), "target 9 is 'G08' in the split but 'H08' in this data");
    cw_perturb_design_free(&e);
    for (int64_t i = 0; i < l.n; i++) {
        if (strcmp(l.s[i], "H08") == 0)
            l.s[i][0] = 'G';
        else if (strcmp(l.s[i], "G07,H08") == 0)
            l.s[i][4] = 'G';
    }
    /* other control labels: control counts differ */
    const char *nt[] = {""};
    cw_strings ctl;
    strings_of(&ctl, nt, 1);
    cw_perturb_opts po;
    cw_perturb_opts_default(&po);
    po.controls = &ctl;
    assert_int_equal(cw_perturb_design_build(&e, &l, &po), CW_OK);
    assert_int_equal(cw_split_load(&t, &e, path), CW_EFORMAT);
    assert_contains(cw_errmsg(), "130 control cells; this data has 120");
    cw_perturb_design_free(&e);
    cw_strings_free(&ctl);

    /* hand edits: a control listed as train; a cell listed twice; a cell missing */
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", path, bad);
    assert_int_equal(system(cmd), 0);
    edit_json(bad, "train", d.control_cells[0]);
    assert_int_equal(cw_split_load(&t, &d, bad), CW_EFORMAT);
    assert_contains(cw_errmsg(), "is a control in this data but listed as train");
    assert_int_equal(system(cmd), 0);
    int64_t pc = d.pert_cells[0];
    edit_json(bad, s.role[pc] == CW_ROLE_TEST ? "val" : "test", pc);
    assert_int_equal(cw_split_load(&t, &d, bad), CW_EFORMAT);
    assert_contains(cw_errmsg(), "is listed twice");
    /* not JSON, not a split, missing file */
    FILE *f = fopen(bad, "w");
    assert_non_null(f);
    fputs("{\"format\": \"causeway-split\", ", f);
    fclose(f);
    assert_int_equal(cw_split_load(&t, &d, bad), CW_EFORMAT);
    assert_contains(cw_errmsg(), "not valid JSON");
    f = fopen(bad, "w");
    fputs("{\"format\": \"other\"}", f);
    fclose(f);
    assert_int_equal(cw_split_load(&t, &d, bad), CW_EFORMAT);
    assert_contains(cw_errmsg(), "not a causeway split file");
    remove(bad);
    assert_int_equal(cw_split_load(&t, &d, bad), CW_EIO);
    assert_contains(cw_errmsg(), "cannot open the split file");

    /* loading succeeds on the original design; allocation failures fail cleanly */
    int ok = 0;
    for (int64_t budget = 0; budget < 10000 && !ok; budget++) {
        cw_alloc_fail_after(budget);
        cw_status st = cw_split_load(&t, &d, path);
        cw_alloc_fail_after(-1);
        if (st == CW_OK)
            ok = 1;
        else
            assert_int_equal(st, CW_ENOMEM);
    }
    assert_true(ok);
    assert_splits_equal(&s, &t);
    cw_split_free(&t);
    cw_split_free(&s);
    cw_perturb_design_free(&d);
    cw_strings_free(&l);
}

static void test_split_alloc_failures(void **state) {
    (void)state;
    cw_perturb_design d;
    synth_design(&d, spec_mix, N_SPEC_MIX, 29);
    for (int k = 0; k < 4; k++) {
        cw_split_opts o;
        cw_split_opts_default(&o, (cw_split_kind)k);
        int ok = 0;
        for (int64_t budget = 0; budget < 1000 && !ok; budget++) {
            cw_split s;
            cw_alloc_fail_after(budget);
            cw_status st = cw_split_make(&s, &d, &o);
            cw_alloc_fail_after(-1);
            if (st == CW_OK) {
                ok = 1;
                cw_split_free(&s);
            } else {
                assert_int_equal(st, CW_ENOMEM);
            }
        }
        assert_true(ok);
    }
    cw_perturb_design_free(&d);
}

/* ---- control pairing --------------------------------------------------------------------------
 */

static void test_pairing(void **state) {
    (void)state;
    const lab_count spec[] = {{"ctrl", 10}, {"A", 12000}, {"B", 8000}, {"A+B", 100}};
    cw_perturb_design d;
    synth_design(&d, spec, 4, 31);
    int64_t *p1 = malloc((size_t)d.n_cells * sizeof *p1), *p2 = malloc((size_t)d.n_cells * 8);
    int64_t *p3 = malloc((size_t)d.n_cells * sizeof *p3);
    assert_int_equal(cw_pair_controls(&d, 9, p1), CW_OK);
    assert_int_equal(cw_pair_controls(&d, 9, p2), CW_OK);
    assert_int_equal(cw_pair_controls(&d, 10, p3), CW_OK);
    assert_memory_equal(p1, p2, (size_t)d.n_cells * sizeof *p1);
    int64_t diff = 0, counts[20200] = {0};
    for (int64_t i = 0; i < d.n_cells; i++) {
        if (d.cell_pert[i] < 0) {
            assert_int_equal(p1[i], -1);
            continue;
        }
        assert_true(p1[i] >= 0 && p1[i] < d.n_cells);
        assert_true(d.cell_pert[p1[i]] < 0); /* only controls are chosen */
        counts[p1[i]]++;
        diff += p1[i] != p3[i];
    }
    assert_true(diff > (d.n_cells - 10) * 8 / 10); /* another seed: mostly other controls */
    /* roughly uniform: 20100 draws over 10 controls, expected 2010 each (sd ~ 42) */
    double chi2 = 0;
    for (int64_t k = 0; k < d.n_controls; k++) {
        double c = (double)counts[d.control_cells[k]], e = 20100.0 / 10.0;
        assert_true(fabs(c - e) < 0.1 * e);
        chi2 += (c - e) * (c - e) / e;
    }
    assert_true(chi2 < 27.9); /* chi2(9) at p = 0.001 */
    free(p1);
    free(p2);
    free(p3);
    cw_perturb_design_free(&d);
    const char *v[] = {"A", "B"};
    cw_perturb_opts o;
    cw_perturb_opts_default(&o);
    const char *cl[] = {"B"};
    cw_strings c;
    strings_of(&c, cl, 1);
    o.controls = &c;
    assert_int_equal(build(&d, v, 2, &o), CW_OK);
    int64_t pr[2];
    assert_int_equal(cw_pair_controls(&d, 1, pr), CW_OK);
    assert_int_equal(pr[0], 1);
    assert_int_equal(pr[1], -1);
    cw_perturb_design_free(&d);
    cw_strings_free(&c);
}

/* ---- batches ------------------------------------------------------------------------------------
 */

/* Checks one epoch: every batch one perturbation, cells eligible and distinct. */
static void check_epoch(const cw_sampler *s, const cw_perturb_design *d, const int8_t *role,
                        int want, unsigned char *used) {
    memset(used, 0, (size_t)d->n_cells);
    for (int64_t b = 0; b < s->n_batches; b++) {
        const int64_t *c = cw_sampler_batch(s, b);
        for (int64_t j = 0; j < s->batch_size; j++) {
            assert_int_equal(d->cell_pert[c[j]], s->batch_pert[b]);
            if (role) assert_int_equal(role[c[j]], want);
            assert_int_equal(used[c[j]], 0);
            used[c[j]] = 1;
        }
    }
}

static void test_sampler_permutation(void **state) {
    (void)state;
    /* group sizes are multiples of B: each epoch is a permutation of all eligible cells */
    const lab_count spec[] = {{"", 20}, {"A", 24}, {"B", 16}, {"C", 8}, {"A,B", 16}};
    cw_perturb_design d;
    synth_design(&d, spec, 5, 37);
    cw_sampler s;
    assert_int_equal(cw_sampler_init(&s, &d, NULL, CW_ROLE_TRAIN, CW_PERTS_ALL, 8), CW_OK);
    assert_int_equal(s.n_batches, 3 + 2 + 1 + 2);
    assert_int_equal(s.n_cells, 64);
    assert_int_equal(s.n_groups, 4);
    unsigned char used[84];
    int64_t *prev = malloc(64 * sizeof *prev);
    cw_rng r;
    for (int64_t e = 0; e < 5; e++) {
        cw_sampler_epoch_rng(&r, 1, CW_ROLE_TRAIN, e);
        cw_sampler_epoch(&s, &r);
        check_epoch(&s, &d, NULL, 0, used);
        int64_t n_used = 0;
        for (int i = 0; i < 84; i++) {
            n_used += used[i];
            assert_int_equal(used[i], d.cell_pert[i] >= 0);
        }
        assert_int_equal(n_used, 64);
        if (e > 0) assert_memory_not_equal(prev, s.batch_cells, 64 * sizeof *prev);
        memcpy(prev, s.batch_cells, 64 * sizeof *prev);
    }
    assert_int_equal(s.epochs, 5);
    /* epoch k depends only on its rng: replaying epoch 4 alone gives the same batches */
    cw_sampler s2;
    assert_int_equal(cw_sampler_init(&s2, &d, NULL, CW_ROLE_TRAIN, CW_PERTS_ALL, 8), CW_OK);
    cw_sampler_epoch_rng(&r, 1, CW_ROLE_TRAIN, 4);
    cw_sampler_epoch(&s2, &r);
    assert_memory_equal(prev, s2.batch_cells, 64 * sizeof *prev);
    assert_memory_equal(s.batch_pert, s2.batch_pert, (size_t)s.n_batches * sizeof *s.batch_pert);
    cw_sampler_free(&s2);
    /* batch order is shuffled, not grouped: over several epochs some batch 0 is not group 0 */
    int moved = 0;
    for (int64_t e = 0; e < 10; e++) {
        cw_sampler_epoch_rng(&r, 2, CW_ROLE_TRAIN, e);
        cw_sampler_epoch(&s, &r);
        moved += s.batch_pert[0] != 0;
    }
    assert_true(moved > 0);
    free(prev);
    cw_sampler_free(&s);
    cw_perturb_design_free(&d);
}

static void test_sampler_drop_last_and_roles(void **state) {
    (void)state;
    cw_perturb_design d;
    synth_design(&d, spec_mix, N_SPEC_MIX, 41);
    cw_split_opts o;
    cw_split_opts_default(&o, CW_SPLIT_REFERENCE);
    cw_split sp;
    assert_int_equal(cw_split_make(&sp, &d, &o), CW_OK);
    const int64_t B = 32;
    unsigned char *used = malloc((size_t)d.n_cells);
    const int roles[] = {CW_ROLE_TRAIN, CW_ROLE_VAL, CW_ROLE_TEST};
    const cw_pert_filter filters[] = {CW_PERTS_ALL, CW_PERTS_SINGLES, CW_PERTS_COMBOS};
    for (int ri = 0; ri < 3; ri++)
        for (int fi = 0; fi < 3; fi++) {
            cw_sampler s;
            assert_int_equal(cw_sampler_init(&s, &d, sp.role, roles[ri], filters[fi], B), CW_OK);
            /* n_batches = sum over groups of floor(n_g / B), groups in id order */
            int64_t want = 0, n_elig = 0, last = -1;
            for (int64_t p = 0; p < d.n_perts; p++) {
                if (filters[fi] == CW_PERTS_SINGLES && p >= d.n_singles) continue;
                if (filters[fi] == CW_PERTS_COMBOS && p < d.n_singles) continue;
                int64_t ng = 0;
                for (int64_t j = 0; j < cw_perturb_n_cells(&d, p); j++)
                    ng += sp.role[cw_perturb_cells(&d, p)[j]] == roles[ri];
                want += ng / B;
                n_elig += ng;
            }
            for (int64_t g = 0; g < s.n_groups; g++) {
                assert_true(s.group_pert[g] > last);
                last = s.group_pert[g];
            }
            assert_int_equal(s.n_batches, want);
            assert_int_equal(s.n_cells, n_elig);
            cw_rng r;
            cw_sampler_epoch_rng(&r, 3, roles[ri], 0);
            cw_sampler_epoch(&s, &r);
            check_epoch(&s, &d, sp.role, roles[ri], used);
            cw_sampler_free(&s);
        }
    /* reference numbers: 3 held-out targets -> test singles 3*3 batches, val 3*2 batches */
    cw_sampler s;
    assert_int_equal(cw_sampler_init(&s, &d, sp.role, CW_ROLE_TEST, CW_PERTS_SINGLES, B), CW_OK);
    assert_int_equal(s.n_batches, 9);
    cw_sampler_free(&s);
    assert_int_equal(cw_sampler_init(&s, &d, sp.role, CW_ROLE_VAL, CW_PERTS_ALL, B), CW_OK);
    assert_int_equal(s.n_batches, 6);
    cw_sampler_free(&s);
    /* invalid arguments */
    assert_int_equal(cw_sampler_init(&s, &d, sp.role, CW_ROLE_CONTROL, CW_PERTS_ALL, B), CW_EINVAL);
    assert_int_equal(cw_sampler_init(&s, &d, sp.role, CW_ROLE_TRAIN, CW_PERTS_ALL, 0), CW_EINVAL);
    free(used);
    cw_split_free(&sp);
    cw_perturb_design_free(&d);
}

static void test_sampler_no_allocation_per_epoch(void **state) {
    (void)state;
    cw_perturb_design d;
    synth_design(&d, spec_mix, N_SPEC_MIX, 43);
    cw_sampler s;
    assert_int_equal(cw_sampler_init(&s, &d, NULL, CW_ROLE_TRAIN, CW_PERTS_ALL, 16), CW_OK);
    /* every allocation after init fails by injection: epochs must not need any */
    cw_alloc_fail_after(0);
    cw_rng r;
    for (int64_t e = 0; e < 20; e++) {
        cw_sampler_epoch_rng(&r, 5, CW_ROLE_TRAIN, e);
        cw_sampler_epoch(&s, &r);
    }
    int64_t failures = cw_alloc_injected_failures();
    cw_alloc_fail_after(-1);
    assert_int_equal(failures, 0);
    cw_sampler_free(&s);
    /* init itself fails cleanly at every allocation */
    int ok = 0;
    for (int64_t budget = 0; budget < 100 && !ok; budget++) {
        cw_alloc_fail_after(budget);
        cw_status st = cw_sampler_init(&s, &d, NULL, CW_ROLE_TRAIN, CW_PERTS_ALL, 16);
        cw_alloc_fail_after(-1);
        if (st == CW_OK)
            ok = 1;
        else
            assert_int_equal(st, CW_ENOMEM);
    }
    assert_true(ok);
    cw_sampler_free(&s);
    cw_perturb_design_free(&d);
}

static void test_eval_iterator(void **state) {
    (void)state;
    cw_perturb_design d;
    synth_design(&d, spec_mix, N_SPEC_MIX, 47);
    cw_split_opts o;
    cw_split_opts_default(&o, CW_SPLIT_REFERENCE);
    cw_split sp;
    assert_int_equal(cw_split_make(&sp, &d, &o), CW_OK);
    cw_eval_iter it;
    assert_int_equal(cw_eval_iter_init(&it, &d, sp.role, CW_ROLE_TEST, CW_PERTS_ALL), CW_OK);
    int64_t pert, n, total = 0, groups = 0, last = -1;
    const int64_t *cells;
    while (cw_eval_iter_next(&it, &pert, &cells, &n)) {
        assert_true(pert > last); /* perturbation id order */
        last = pert;
        groups++;
        for (int64_t j = 0; j < n; j++) {
            assert_int_equal(d.cell_pert[cells[j]], pert);
            assert_int_equal(sp.role[cells[j]], CW_ROLE_TEST);
            if (j) assert_true(cells[j] > cells[j - 1]); /* file order */
        }
        total += n;
    }
    assert_int_equal(total, sp.summary.cells[CW_ROLE_TEST]); /* nothing dropped */
    assert_int_equal(groups, 3 + (d.n_perts - d.n_singles));
    cw_eval_iter_reset(&it);
    assert_int_equal(cw_eval_iter_next(&it, &pert, &cells, &n), 1);
    assert_int_equal(n, 96); /* first held-out single (BAK1): 96 test cells */
    assert_string_equal(d.labels.s[pert], "BAK1");
    cw_eval_iter_free(&it);
    /* combinations only, no role filter: the 9-cell combination is kept whole, and the two
     * spellings "G04,G05" (33) and "G05,G04" (7) form one group of 40 */
    assert_int_equal(cw_eval_iter_init(&it, &d, NULL, 0, CW_PERTS_COMBOS), CW_OK);
    int64_t found9 = 0, found40 = 0;
    while (cw_eval_iter_next(&it, &pert, &cells, &n)) {
        found9 += n == 9 && strcmp(d.labels.s[pert], "G01,G02") == 0;
        found40 += n == 40 && strcmp(d.labels.s[pert], "G04,G05") == 0;
    }
    assert_int_equal(found9, 1);
    assert_int_equal(found40, 1);
    cw_eval_iter_free(&it);
    cw_split_free(&sp);
    cw_perturb_design_free(&d);
}

/* ---- real data (shared devel file) ------------------------------------------------------------
 */

static void test_norman19_devel(void **state) {
    (void)state;
    char path[600];
    if (!cwt_shared_data(path, sizeof path, "perturb/perturbench_devel/norman19_gracestyle.h5ad")) {
        skip();
        return;
    }
    cw_h5ad *h = NULL;
    assert_int_equal(cw_h5ad_open(path, &h), CW_OK);
    cw_perturb_design d;
    cw_status st = cw_perturb_design_from_h5ad(&d, h, NULL, NULL);
    if (st != CW_OK) fail_msg("%s", cw_errmsg());
    /* numbers checked with anndata: obs['guide_ids'] has 34 categories */
    assert_int_equal(d.n_cells, 3375);
    assert_string_equal(d.key, "guide_ids");
    assert_int_equal(d.n_controls, 100);
    assert_int_equal(d.n_targets, 31);
    assert_int_equal(d.n_singles, 18);
    assert_int_equal(d.n_perts - d.n_singles, 15);
    int64_t p = cw_perturb_find(&d, "SET,KLF1");
    assert_true(p >= d.n_singles);
    assert_string_equal(d.labels.s[p], "KLF1,SET");
    assert_int_equal(cw_perturb_n_cells(&d, p), 100);
    assert_int_equal(cw_perturb_n_cells(&d, cw_perturb_find(&d, "FOXL2+HOXB9")), 80);
    assert_int_equal(cw_perturb_n_cells(&d, cw_perturb_find(&d, "PLK4")), 95);
    /* the spec's reference split needs 161 cells per held-out target; this file has 100 */
    cw_split_opts o;
    cw_split_opts_default(&o, CW_SPLIT_REFERENCE);
    cw_split s;
    assert_int_equal(cw_split_make(&s, &d, &o), CW_EINVAL);
    assert_contains(cw_errmsg(), "the largest has 100");
    /* with one batch each, the spec names present as singles are held out: KLF1, MAP2K6 */
    o.test_cells = 32;
    o.val_cells = 32;
    assert_int_equal(cw_split_make(&s, &d, &o), CW_OK);
    assert_int_equal(s.heldout.n, 2);
    assert_string_equal(s.heldout.s[0], "KLF1");
    assert_string_equal(s.heldout.s[1], "MAP2K6");
    assert_int_equal(s.summary.combo_cells[CW_ROLE_TEST], 15 * 100 - 20);
    cw_split_free(&s);
    /* an explicit wrong key is reported with the file name */
    cw_perturb_design e;
    assert_int_equal(cw_perturb_design_from_h5ad(&e, h, "guides", NULL), CW_ENOTFOUND);
    assert_contains(cw_errmsg(), "no column 'guides'");
    assert_int_equal(cw_perturb_design_from_h5ad(&e, h, "ncounts", NULL), CW_EFORMAT);
    assert_contains(cw_errmsg(), "/obs/ncounts: expected strings or categorical");
    /* 'condition' uses GEARS-like "A+B" spellings and "ctrl": the same design */
    assert_int_equal(cw_perturb_design_from_h5ad(&e, h, "condition", NULL), CW_OK);
    assert_int_equal(e.n_perts, d.n_perts);
    assert_int_equal(e.n_controls, d.n_controls);
    assert_memory_equal(e.cell_pert, d.cell_pert, (size_t)d.n_cells * sizeof *d.cell_pert);
    cw_perturb_design_free(&e);
    cw_perturb_design_free(&d);
    cw_h5ad_close(h);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_label_parsing),
        cmocka_unit_test(test_target_sorting_and_perturbation_order),
        cmocka_unit_test(test_intervention_vectors),
        cmocka_unit_test(test_user_controls_and_separators),
        cmocka_unit_test(test_design_errors),
        cmocka_unit_test(test_choose_key),
        cmocka_unit_test(test_design_alloc_failures),
        cmocka_unit_test(test_split_reference),
        cmocka_unit_test(test_split_reference_fallback),
        cmocka_unit_test(test_split_random),
        cmocka_unit_test(test_split_unseen_targets),
        cmocka_unit_test(test_split_unseen_combinations),
        cmocka_unit_test(test_split_json_round_trip),
        cmocka_unit_test(test_split_load_rejects_mismatch),
        cmocka_unit_test(test_split_alloc_failures),
        cmocka_unit_test(test_pairing),
        cmocka_unit_test(test_sampler_permutation),
        cmocka_unit_test(test_sampler_drop_last_and_roles),
        cmocka_unit_test(test_sampler_no_allocation_per_epoch),
        cmocka_unit_test(test_eval_iterator),
        cmocka_unit_test(test_norman19_devel),
    };
    int rc = cmocka_run_group_tests_name("dataset", tests, NULL, NULL);
    cwt_rm_tmpdir();
    return rc;
}
