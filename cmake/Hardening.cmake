# Hardening.cmake - the flags Debian's dpkg-buildflags gives with
# hardening=+all, for every build (-DAM_HARDEN=OFF to leave them out):
# stack protector and stack clash protection, _FORTIFY_SOURCE=2 where the
# optimizer runs (it needs -O), full RELRO with immediate binding. PIE is the
# compilers' default on Debian. lintian checks the packaged binaries for them.
option(AM_HARDEN "Build with the Debian hardening flags" ON)
if(AM_HARDEN)
    add_compile_options(-fstack-protector-strong -fstack-clash-protection
                        "$<$<NOT:$<CONFIG:Debug>>:-U_FORTIFY_SOURCE;-D_FORTIFY_SOURCE=2>")
    if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|amd64|AMD64")
        add_compile_options(-fcf-protection)
    endif()
    add_link_options(-Wl,-z,relro -Wl,-z,now)
endif()
