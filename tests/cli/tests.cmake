# SPDX-License-Identifier: MIT
# ctest cases of `mmu trace` and `mmu maps` (tests/cli/run.sh; expected
# outputs beside it). They need sh, diff and xz, not Criterion.
foreach(name
    trace_text trace_json trace_fits trace_ram_limited trace_huge
    trace_stdin trace_bad_line trace_missing_file trace_bad_option
    trace_out_of_memory trace_help
    maps_script maps_stdin maps_bad_script maps_bad_pid maps_missing_file
    maps_help)
  add_test(NAME cli_${name}
    COMMAND sh ${MMU_SRC}/tests/cli/run.sh $<TARGET_FILE:mmu_cli> ${name})
  set_tests_properties(cli_${name} PROPERTIES TIMEOUT 120)
endforeach()
