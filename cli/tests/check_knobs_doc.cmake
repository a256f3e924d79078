# Fails when docs/knobs.md differs from `knnx info --knobs-markdown`.
# Variables: KNNX (the executable), DOC (docs/knobs.md), GENERATED (where to write the output).
execute_process(COMMAND ${KNNX} info --knobs-markdown RESULT_VARIABLE rc OUTPUT_FILE ${GENERATED}
                ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "knnx info --knobs-markdown failed (${rc}): ${err}")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files ${GENERATED} ${DOC} RESULT_VARIABLE diff)
if(NOT diff EQUAL 0)
  message(FATAL_ERROR
    "${DOC} is out of date with the knobs this build knows (generated: ${GENERATED}).\n"
    "Regenerate it from the project root with:\n"
    "  <build>/cli/knnx info --knobs-markdown > docs/knobs.md")
endif()
