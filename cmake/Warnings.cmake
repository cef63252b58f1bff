# STYLE.md 5.8: the warning set every translation unit is held to.
set(AM_WARNINGS -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2
    -Wno-unused-parameter)
if(AM_WERROR)
    list(APPEND AM_WARNINGS -Werror)
endif()
add_compile_options("$<$<COMPILE_LANGUAGE:C>:${AM_WARNINGS}>")
