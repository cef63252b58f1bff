/* span.c - helpers over span views (am/span.h). */
#include "am/span.h"

const struct am_anyval *am_attrs_get(const struct am_attrs *attrs, struct am_str key)
{
    for (size_t i = 0; i < attrs->count; i++) {
        if (am_str_eq(attrs->items[i].key, key)) {
            return &attrs->items[i].val;
        }
    }
    return NULL;
}
