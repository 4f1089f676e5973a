#include "support/test_paths.h"

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "gtest/gtest.h"

namespace rwkv::testing {

std::string FixtureDir() { return std::string(RWKV_SOURCE_DIR) + "/tests/data"; }

std::string ReferenceDir() {
  if (const char* env = std::getenv("RWKV_REFERENCE_DIR"); env != nullptr && *env != '\0') {
    return env;
  }
  return std::string(RWKV_SOURCE_DIR) + "/../shared/reference";
}

std::string DataPath(std::string_view rel) {
  const std::string shipped = FixtureDir() + "/" + std::string(rel);
  if (std::filesystem::exists(shipped)) return shipped;
  return ReferenceDir() + "/" + std::string(rel);
}

std::string TestBackend() {
  if (const char* env = std::getenv("RWKV_TEST_BACKEND"); env != nullptr && *env != '\0') {
    return env;
  }
  return "cpu";
}

std::string BinDir() { return std::string(RWKV_BINARY_DIR) + "/bin"; }

std::string MakeTempDir(const std::string& tag) {
  static std::atomic<int> counter{0};
  const std::string dir = std::string(RWKV_BINARY_DIR) + "/test-tmp/" + tag + "-" +
                          std::to_string(getpid()) + "-" + std::to_string(counter++);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

std::string ReadFileOrDie(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int RunCommand(const std::string& command, std::string* output) {
  const std::string full = command + " 2>&1";
  FILE* pipe = popen(full.c_str(), "r");
  if (pipe == nullptr) return -1;
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) out.append(buf, n);
  const int status = pclose(pipe);
  if (output != nullptr) *output = out;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace rwkv::testing
