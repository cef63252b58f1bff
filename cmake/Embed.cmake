# cmake -DIN=file -DOUT=file.c -P Embed.cmake: writes IN as a C string constant.
file(READ ${IN} content HEX)
string(LENGTH "${content}" hexlen)
math(EXPR nbytes "${hexlen} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${content}")
file(WRITE ${OUT} "/* Generated from ${IN}; do not edit. */\n#include <stddef.h>\n"
     "const char am_builtin_pricing_yaml[] = {${bytes} 0x00};\n"
     "const size_t am_builtin_pricing_yaml_len = ${nbytes};\n")
