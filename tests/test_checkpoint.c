/* test_checkpoint.c: the flat parameter table and versioned checkpoints: layout, bit-exact
 * round trip of params/m/v and the RNG state, and every rejection (layout mismatch, bad
 * magic, truncation, corruption), atomic writes, allocation failures. */
#include "test_util.h"

#include "core/alloc.h"
#include "core/status.h"
#include "io/checkpoint.h"
#include "models/params.h"

static const cw_param_spec specs[] = {{"fc1.weight", 4, 3}, {"fc1.bias", 4, 1}, {"G", 2, 2}};

static void fill(cw_param_table *t, float base) {
    for (int64_t i = 0; i < t->total; i++) {
        t->params[i] = base + 0.1f * (float)i;
        t->m[i] = -0.01f * (float)i;
        t->v[i] = 1e-7f * (float)(i + 1);
        t->grads[i] = 99.0f;
    }
}

static void test_param_layout(void **state) {
    (void)state;
    cw_param_table t;
    assert_int_equal(cw_params_init(&t, specs, 3), CW_OK);
    assert_int_equal(t.total, 12 + 4 + 4);
    assert_int_equal(t.offset[1], 12);
    assert_int_equal(t.offset[2], 16);
    assert_ptr_equal(t.grads, t.params + t.total);
    assert_ptr_equal(t.v, t.params + 3 * t.total);
    assert_int_equal(cw_params_find(&t, "G"), 2);
    assert_int_equal(cw_params_find(&t, "nope"), -1);
    fill(&t, 1.0f);
    cw_params_zero_grad(&t);
    for (int64_t i = 0; i < t.total; i++) assert_true(t.grads[i] == 0.0f);
    assert_true(cw_param(&t, 2)[0] == t.params[16]);
    cw_params_free(&t);
    const cw_param_spec dup[] = {{"a", 1, 1}, {"a", 2, 1}};
    assert_int_equal(cw_params_init(&t, dup, 2), CW_EINVAL);
    assert_non_null(strstr(cw_errmsg(), "declared twice"));
    const cw_param_spec zero[] = {{"a", 0, 1}};
    assert_int_equal(cw_params_init(&t, zero, 1), CW_EINVAL);
}

static cw_ckpt_meta meta_of(void) {
    cw_ckpt_meta m;
    memset(&m, 0, sizeof m);
    m.model = "cmvae";
    m.config_json = "{\"lr\":0.001,\"latent_dim\":2}";
    m.seed = 18446744073709551615ull; /* survives JSON as a string */
    m.epoch = 7;
    m.step = 1234;
    cw_rng_seed(&m.rng, 5);
    (void)cw_rng_normal(&m.rng); /* leaves a spare normal in the state */
    return m;
}

static void test_round_trip(void **state) {
    (void)state;
    char path[512];
    cwt_path(path, sizeof path, "a.ckpt");
    cw_param_table a, b;
    assert_int_equal(cw_params_init(&a, specs, 3), CW_OK);
    assert_int_equal(cw_params_init(&b, specs, 3), CW_OK);
    fill(&a, 1.0f);
    cw_ckpt_meta m = meta_of();
    assert_int_equal(cw_checkpoint_save(path, &a, &m), CW_OK);
    cw_ckpt_meta got;
    assert_int_equal(cw_checkpoint_peek(path, &got), CW_OK);
    assert_string_equal(got.model, "cmvae");
    assert_int_equal(got.epoch, 7);
    cw_ckpt_meta_free(&got);
    assert_int_equal(cw_checkpoint_load(path, &b, &got), CW_OK);
    assert_memory_equal(a.params, b.params, (size_t)a.total * sizeof(float));
    assert_memory_equal(a.m, b.m, (size_t)a.total * sizeof(float));
    assert_memory_equal(a.v, b.v, (size_t)a.total * sizeof(float));
    assert_true(got.seed == m.seed);
    assert_int_equal(got.step, 1234);
    assert_non_null(strstr(got.config_json, "latent_dim"));
    /* the RNG continues exactly where it was */
    for (int i = 0; i < 5; i++) assert_true(cw_rng_normal(&got.rng) == cw_rng_normal(&m.rng));
    cw_ckpt_meta_free(&got);
    cw_params_free(&a);
    cw_params_free(&b);
}

static void test_rejections(void **state) {
    (void)state;
    char path[512], bad[512];
    cwt_path(path, sizeof path, "r.ckpt");
    cwt_path(bad, sizeof bad, "bad.ckpt");
    cw_param_table a, other;
    assert_int_equal(cw_params_init(&a, specs, 3), CW_OK);
    fill(&a, 2.0f);
    cw_ckpt_meta m = meta_of();
    assert_int_equal(cw_checkpoint_save(path, &a, &m), CW_OK);
    /* another layout */
    const cw_param_spec o[] = {{"fc1.weight", 4, 3}, {"fc1.bias", 5, 1}, {"G", 2, 2}};
    assert_int_equal(cw_params_init(&other, o, 3), CW_OK);
    assert_int_equal(cw_checkpoint_load(path, &other, NULL), CW_EFORMAT);
    assert_non_null(strstr(cw_errmsg(), "fc1.bias"));
    cw_params_free(&other);
    /* truncated: every cut is an error */
    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fclose(f);
    for (long cut = 0; cut < size; cut += 37) {
        assert_int_equal(cwt_run(NULL, 0, "head -c %ld '%s' > '%s'", cut, path, bad), 0);
        assert_int_not_equal(cw_checkpoint_load(bad, &a, NULL), CW_OK);
        assert_non_null(strstr(cw_errmsg(), bad));
    }
    /* one flipped byte in a parameter block */
    assert_int_equal(cwt_run(NULL, 0, "cp '%s' '%s'", path, bad), 0);
    f = fopen(bad, "r+b");
    fseek(f, size - 20, SEEK_SET);
    int ch = fgetc(f);
    fseek(f, size - 20, SEEK_SET);
    fputc(ch ^ 0x40, f);
    fclose(f);
    assert_int_equal(cw_checkpoint_load(bad, &a, NULL), CW_EFORMAT);
    assert_non_null(strstr(cw_errmsg(), "checksum"));
    /* not a checkpoint */
    f = fopen(bad, "wb");
    fputs("hello world, not a checkpoint", f);
    fclose(f);
    assert_int_equal(cw_checkpoint_load(bad, &a, NULL), CW_EFORMAT);
    assert_non_null(strstr(cw_errmsg(), "magic"));
    cw_ckpt_meta none;
    assert_int_equal(cw_checkpoint_peek("/nonexistent/x.ckpt", &none), CW_EIO);
    /* unwritable destination: error, nothing left */
    assert_int_equal(cw_checkpoint_save("/nonexistent/dir/x.ckpt", &a, &m), CW_EIO);
    cw_params_free(&a);
}

static void test_alloc_failures(void **state) {
    (void)state;
    char path[512];
    cwt_path(path, sizeof path, "alloc.ckpt");
    cw_param_table a;
    assert_int_equal(cw_params_init(&a, specs, 3), CW_OK);
    fill(&a, 3.0f);
    cw_ckpt_meta m = meta_of();
    assert_int_equal(cw_checkpoint_save(path, &a, &m), CW_OK);
    int ok = 0;
    for (int64_t k = 0; k < 50 && !ok; k++) {
        cw_param_table t;
        cw_ckpt_meta got;
        cw_alloc_fail_after(k);
        cw_status st = cw_params_init(&t, specs, 3);
        if (st == CW_OK) {
            st = cw_checkpoint_load(path, &t, &got);
            if (st == CW_OK) {
                ok = 1;
                cw_ckpt_meta_free(&got);
            }
            cw_params_free(&t);
        }
        cw_alloc_fail_after(-1);
        if (!ok) assert_int_equal(st, CW_ENOMEM);
    }
    assert_true(ok);
    cw_params_free(&a);
}


int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_param_layout),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_rejections),
        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests_name("checkpoint", tests, NULL, cwt_teardown);
}
