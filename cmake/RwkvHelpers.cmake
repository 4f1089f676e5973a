# Shared helpers: warnings, test registration.
function(rwkv_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wno-unused-parameter)
  if(RWKV_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

# rwkv_add_test(NAME name SOURCES ... LIBS ... LABELS ...)
