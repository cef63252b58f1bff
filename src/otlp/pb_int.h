/*
 * pb_int.h - the one place otlp includes nanopb. Debian's libprotobuf-nanopb.a
 * is built with the default 16-bit pb_size_t, so PB_FIELD_32BIT (set on the
 * am_otlp target) must not reach pb.h here or the descriptor layout would
 * not match the library; cmake/Proto.cmake does the same for generated code.
 */
#ifndef AM_PB_INT_H
#define AM_PB_INT_H

#undef PB_FIELD_32BIT
#include <pb.h>
#include <pb_decode.h>
#include <pb_encode.h>

_Static_assert(sizeof(pb_size_t) == 2, "pb_size_t must match libprotobuf-nanopb.a");

#endif
