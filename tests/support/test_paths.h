// Locations tests need: the shipped fixtures, the reference data folder, the built binaries,
// a scratch folder.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "gtest/gtest.h"

namespace rwkv::testing {

// tests/data in the source tree: the small fixtures shipped with the repository.
std::string FixtureDir();
// $RWKV_REFERENCE_DIR, else ../shared/reference beside the repository root: the larger
// reference set, which a plain clone does not have.
std::string ReferenceDir();
// `rel` (a file or folder named as in the reference set) in tests/data when it is shipped
// there, else in ReferenceDir().
std::string DataPath(std::string_view rel);
// build/bin (where rwkv, rwkv-worker, ... land).
std::string BinDir();
// A fresh empty directory under the build tree, unique per call.
std::string MakeTempDir(const std::string& tag);
// Reads a whole file; fails the current test if it cannot.
std::string ReadFileOrDie(const std::string& path);
// $RWKV_TEST_BACKEND, else "cpu": the backend the model-level compat tests run on (the GPU
// check bundle sets it to "cuda").
std::string TestBackend();
// Runs a shell command, returns its exit status; stdout/stderr captured into *output.
int RunCommand(const std::string& command, std::string* output);

}  // namespace rwkv::testing

// Skips the current test, with the reason, when a data file or folder is absent (the larger
// reference set is not part of a plain clone).
#define RWKV_SKIP_WITHOUT_DATA(path)                                                     \
  do {                                                                                   \
    const std::string rwkv_data_path_ = (path);                                          \
    if (!std::filesystem::exists(rwkv_data_path_)) {                                     \
      GTEST_SKIP() << "reference data missing: " << rwkv_data_path_                      \
                   << " (set RWKV_REFERENCE_DIR to the reference set to run this test)"; \
    }                                                                                    \
  } while (0)
