// Locations tests need: the reference data folder, the built binaries, a scratch folder.
#pragma once

#include <string>

namespace rwkv::testing {

// $RWKV_REFERENCE_DIR, else ../shared/reference beside the repository root.
std::string ReferenceDir();
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
