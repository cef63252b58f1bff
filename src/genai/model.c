/* model.c - the model id rule of SPEC.md 3 (response model, else request model). */
#include "am/classify.h"

struct am_str am_facts_model_id(const struct am_span_facts *f)
{
    if (f->response_model.len > 0) {
        return f->response_model;
    }
    if (f->request_model.len > 0) {
        return f->request_model;
    }
    return AM_STR("unknown");
}
