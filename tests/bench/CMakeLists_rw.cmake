# remote_write encode + snappy benchmark (DESIGN.md 5: >= 2,000,000 samples per
# CPU-second). Not a ctest: run build/bench_rw by hand on a quiet machine.
add_executable(bench_rw ${CMAKE_CURRENT_LIST_DIR}/bench_rw.c)
target_link_libraries(bench_rw PRIVATE am_metrics)
