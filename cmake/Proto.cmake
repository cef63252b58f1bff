# Runs the nanopb generator over proto/ at build time. Outputs land in
# ${AM_PROTO_INCLUDE_DIR} with the same relative paths as the .proto files;
# each .proto's limits sit next to it in a .options file.
set(AM_PROTO_DIR ${CMAKE_CURRENT_SOURCE_DIR}/proto)
set(AM_PROTO_INCLUDE_DIR ${CMAKE_BINARY_DIR}/proto-gen)
file(GLOB_RECURSE AM_PROTO_FILES CONFIGURE_DEPENDS ${AM_PROTO_DIR}/*.proto)
set(AM_PROTO_SRCS)
foreach(proto ${AM_PROTO_FILES})
    file(RELATIVE_PATH rel ${AM_PROTO_DIR} ${proto})
    string(REGEX REPLACE "\\.proto$" "" base ${rel})
    set(opts ${AM_PROTO_DIR}/${base}.options)
    set(deps ${proto})
    if(EXISTS ${opts})
        list(APPEND deps ${opts})
    endif()
    add_custom_command(
        OUTPUT ${AM_PROTO_INCLUDE_DIR}/${base}.pb.c ${AM_PROTO_INCLUDE_DIR}/${base}.pb.h
        COMMAND ${CMAKE_COMMAND} -E make_directory ${AM_PROTO_INCLUDE_DIR}
        COMMAND ${NANOPB_GENERATOR} -q -I ${AM_PROTO_DIR} -D ${AM_PROTO_INCLUDE_DIR}
                -L "#include <%s>" ${rel}
        WORKING_DIRECTORY ${AM_PROTO_DIR}
        DEPENDS ${deps}
        COMMENT "nanopb ${rel}"
        VERBATIM)
    list(APPEND AM_PROTO_SRCS ${AM_PROTO_INCLUDE_DIR}/${base}.pb.c)
endforeach()
set_source_files_properties(${AM_PROTO_SRCS} PROPERTIES GENERATED TRUE
    COMPILE_OPTIONS "-Wno-missing-prototypes")
