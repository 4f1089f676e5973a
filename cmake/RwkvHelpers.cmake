# Shared helpers: warnings, test registration.
function(rwkv_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wno-unused-parameter)
endfunction()

# rwkv_add_test(NAME name SOURCES ... LIBS ... LABELS ...)
