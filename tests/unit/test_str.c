/* test_str.c - string-view helpers: trimming and list splitting (am/str.h). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "am/str.h"

static void assert_str(struct am_str got, const char *want)
{
    assert_int_equal(got.len, strlen(want));
    assert_memory_equal(got.ptr, want, got.len);
}

static void test_str_trim_strips_spaces_and_tabs_only(void **st)
{
    (void)st;
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"", ""},
        {" ", ""},
        {"\t \t", ""},
        {"a", "a"},
        {" a ", "a"},
        {"\ta b\t", "a b"},
        {"\na\r", "\na\r"}, /* only OWS: CR and LF stay */
        {"  gzip;q=0.5 ", "gzip;q=0.5"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_str(am_str_trim(am_str_from(cases[i].in)), cases[i].want);
    }
}

static void test_str_cut_walks_a_list_and_ends_empty(void **st)
{
    (void)st;
    struct am_str s = AM_STR("a;;bc;");
    assert_str(am_str_cut(&s, ';'), "a");
    assert_str(s, ";bc;");
    assert_str(am_str_cut(&s, ';'), "");
    assert_str(am_str_cut(&s, ';'), "bc");
    assert_str(s, "");
    assert_str(am_str_cut(&s, ';'), ""); /* the empty item after the last ';' */
    assert_int_equal(s.len, 0);

    struct am_str none = AM_STR("th:8");
    assert_str(am_str_cut(&none, ','), "th:8");
    assert_int_equal(none.len, 0);

    struct am_str empty = AM_STR_NULL;
    assert_int_equal(am_str_cut(&empty, ',').len, 0);
    assert_int_equal(empty.len, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_str_trim_strips_spaces_and_tabs_only),
        cmocka_unit_test(test_str_cut_walks_a_list_and_ends_empty),
    };
    return cmocka_run_group_tests_name("str", tests, NULL, NULL);
}
