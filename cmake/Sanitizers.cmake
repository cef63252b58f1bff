# -DAM_SANITIZE=ON: AddressSanitizer + UndefinedBehaviorSanitizer, abort on the first report.
if(AM_SANITIZE)
    add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=all
                        -fno-omit-frame-pointer -g)
    add_link_options(-fsanitize=address,undefined)
endif()
if(AM_FUZZ)
    if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
        message(FATAL_ERROR "AM_FUZZ needs clang")
    endif()
    add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -g -DAM_FUZZING=1)
    add_link_options(-fsanitize=address,undefined)
endif()
